// QEMU's isa-debug-exit: a port that ends the emulator with an exit status chosen by the
// guest, used by test guests to report pass/fail.
//
// Reference: QEMU documentation of "-device isa-debug-exit,iobase=,iosize=": a write of value
// v of any width (1, 2 or 4 bytes) at any offset of the iosize-byte range exits with status
// (v << 1) | 1, so a guest can never produce status 0 (0 would be indistinguishable from a
// normal QEMU exit). Reads return 0.
//
// Here the exit is a request to the machine ({kind: 'exit', status}); the status is computed
// in 32 bits like QEMU's int argument, and the process exit code is its low 8 bits as usual.
// A write that straddles the end of the range is split by the bus into bytes, each of which
// asks for an exit with its own byte (QEMU truncates the access instead; the low byte of the
// status is the same for the first byte).
//
// Not modelled: nothing else exists.

import type { DeviceContext, DeviceModel, Inspection, PropValue } from '../../common/device.js';
import { UsageError } from '../../common/errors.js';
import type { IoRegion, MappedRegion } from '../../common/io.js';
import type { DeviceState, StateDesc } from '../../common/vmstate.js';
import { loadState, saveState } from '../../common/vmstate.js';

interface DebugExitState {
  /** The value of the last write, and the status it asked for. */
  lastValue: number;
  lastStatus: number;
  exits: number;
}

const STATE_DESC: StateDesc = {
  name: 'isa-debug-exit',
  version: 1,
  fields: [{ name: 'lastValue', type: 'u32' }, { name: 'lastStatus', type: 'u32' }, { name: 'exits', type: 'u32' }],
};

const num = (p: PropValue | undefined, dflt: number): number => (typeof p === 'number' ? p : dflt);

/** `new DebugExit(id, props, ctx)`; props: `iobase` (0x501), `iosize` (2). */
export class DebugExit implements DeviceModel {
  readonly kind = 'isa-debug-exit';
  readonly props: Readonly<Record<string, PropValue>>;
  private _s: DebugExitState = { lastValue: 0, lastStatus: 0, exits: 0 };
  private readonly _regions: MappedRegion[];

  constructor(
    readonly id: string,
    props: Readonly<Record<string, PropValue>>,
    private readonly _ctx: DeviceContext,
  ) {
    this.props = { iobase: num(props.iobase, 0x501), iosize: num(props.iosize, 2) };
    const size = this.props.iosize as number;
    if (!Number.isInteger(size) || size < 1 || size > 0x100) {
      throw new UsageError(`isa-debug-exit iosize must be an integer from 1 to 256, not ${String(props.iosize)}`);
    }
    this._regions = [{ region: this._region(size), base: this.props.iobase as number }];
  }

  regions(): MappedRegion[] {
    return this._regions;
  }

  reset(): void {
    // No state the guest can see.
  }

  snapshot(): DeviceState {
    return saveState(STATE_DESC, this._s);
  }

  restore(st: DeviceState): void {
    loadState(STATE_DESC, this._s, st);
  }

  inspect(): Inspection {
    const s = this._s;
    return {
      id: this.id,
      kind: this.kind,
      registers: [{ name: 'exit', offset: 0, value: s.lastValue, width: 32, note: `last status ${s.lastStatus}` }],
      counters: { exits: s.exits },
    };
  }

  private _region(size: number): IoRegion {
    return {
      name: this.id,
      space: 'pio',
      size,
      impl: { min: 1, max: 4 },
      ops: {
        read: () => 0,
        write: (_off, _size, v) => {
          const s = this._s;
          s.lastValue = v >>> 0;
          s.lastStatus = ((v << 1) | 1) >>> 0;
          s.exits++;
          this._ctx.request({ kind: 'exit', status: s.lastStatus });
        },
      },
      registerName: () => 'exit',
    };
  }
}
