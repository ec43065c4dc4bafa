// QEMU's isa-debugcon: a write-only console on one I/O port (0xE9 by default, Bochs's "port
// E9 hack"), used by SeaBIOS and many hobby kernels for early debug output.
//
// Reference: QEMU documentation of the isa-debugcon device ("-device isa-debugcon,iobase=,
// chardev=,readback="): every byte written goes to the character backend; a read returns the
// `readback` property (default 0xE9), which is how SeaBIOS detects the port (it reads 0x402
// and expects 0xE9 when QEMU is configured that way).
//
// Not modelled: nothing beyond the above exists. Wider accesses are not widened: a 16-bit
// OUT sends its low byte here and its high byte to the next port, as on QEMU's 1-byte region.

import type { CharBackend, DeviceContext, DeviceModel, Inspection, PropValue } from '../../common/device.js';
import type { IoRegion, MappedRegion } from '../../common/io.js';
import type { DeviceState, StateDesc } from '../../common/vmstate.js';
import { loadState, saveState } from '../../common/vmstate.js';

/** Bytes of recent output kept for `info device`. */
const TAIL = 256;

interface DebugConState {
  /** Last byte written. */
  last: number;
  /** Recent output, oldest first. */
  tail: number[];
  bytes: number;
}

const STATE_DESC: StateDesc = {
  name: 'isa-debugcon',
  version: 1,
  fields: [{ name: 'last', type: 'u8' }, { name: 'tail', type: 'u8[]' }, { name: 'bytes', type: 'u32' }],
};

const num = (p: PropValue | undefined, dflt: number): number => (typeof p === 'number' ? p : dflt);

/**
 * `new DebugCon(id, props, ctx, backend?)`; props: `iobase` (0xE9), `readback` (0xE9).
 * Without a backend the output is only kept for inspect().
 */
export class DebugCon implements DeviceModel {
  readonly kind = 'isa-debugcon';
  readonly props: Readonly<Record<string, PropValue>>;
  private _s: DebugConState = { last: 0, tail: [], bytes: 0 };
  private readonly _regions: MappedRegion[];

  constructor(
    readonly id: string,
    props: Readonly<Record<string, PropValue>>,
    _ctx: DeviceContext,
    private readonly _backend: CharBackend | null = null,
  ) {
    this.props = { iobase: num(props.iobase, 0xe9), readback: num(props.readback, 0xe9) };
    this._regions = [{ region: this._region(), base: this.props.iobase as number }];
  }

  regions(): MappedRegion[] {
    return this._regions;
  }

  reset(): void {
    // Nothing in the device changes on reset; what was printed stays printed.
  }

  snapshot(): DeviceState {
    return saveState(STATE_DESC, this._s);
  }

  restore(st: DeviceState): void {
    loadState(STATE_DESC, this._s, st);
  }

  destroy(): void {
    this._backend?.close?.();
  }

  inspect(): Inspection {
    const s = this._s;
    const text = s.tail.map((b) => (b === 10 || (b >= 32 && b < 127) ? String.fromCharCode(b) : '.')).join('');
    return {
      id: this.id,
      kind: this.kind,
      registers: [
        { name: 'data', offset: 0, value: s.last, width: 8, note: 'last byte written' },
        { name: 'readback', offset: 0, value: (this.props.readback as number) & 0xff, width: 8, note: 'what a read returns' },
      ],
      counters: { bytes: s.bytes },
      extra: { backend: this._backend ? this._backend.name : 'none', recent: text },
    };
  }

  private _region(): IoRegion {
    return {
      name: this.id,
      space: 'pio',
      size: 1,
      impl: { min: 1, max: 1 },
      // Nothing comes back from a write: post it (the buffered ring keeps the order), so a
      // firmware's debug log costs no round trip per byte.
      posted: true,
      ops: {
        read: () => (this.props.readback as number) & 0xff,
        write: (_off, _size, v) => {
          const s = this._s;
          s.last = v & 0xff;
          s.bytes++;
          s.tail.push(s.last);
          if (s.tail.length > TAIL) s.tail.shift();
          this._backend?.write(Uint8Array.of(s.last));
        },
      },
      registerName: (_off, dir) => (dir === 'write' ? 'data' : 'readback'),
    };
  }
}
