// Port 92h, "System Control Port A" of the PS/2 and of PC chipsets: fast A20 gate and fast
// CPU reset without going through the keyboard controller.
//
// Reference: Intel 82371SB (PIIX3) datasheet, "Port 92 Register" (bit 0 FAST_INIT: a 0→1
// transition resets the CPU; bit 1 FAST_A20; bits read back as written); IBM PS/2 Hardware
// Interface Technical Reference, "System Control Port A" (bit 3 CMOS security lock, bits 6-7
// fixed-disk activity light).
//
// The A20 bit is a request to the machine ({kind: 'a20'}) when it changes; on a real chipset
// the A20M# line is the OR of this gate and the keyboard controller's, which the machine can
// keep per requesting device. Bit 3, once set, stays set until reset.
//
// Not modelled: the CMOS password area that bit 3 locks, and the activity light.

import type { DeviceContext, DeviceModel, Inspection, PropValue } from '../../common/device.js';
import type { IoRegion, MappedRegion } from '../../common/io.js';
import type { DeviceState, StateDesc } from '../../common/vmstate.js';
import { loadState, saveState } from '../../common/vmstate.js';

/** Port 92h bits. */
export const enum Port92Bit {
  /** FAST_INIT: alternate hot reset (0→1 transition). */
  FAST_INIT = 0x01,
  /** FAST_A20: alternate gate A20. */
  FAST_A20 = 0x02,
  /** Security lock (CMOS password), write once. */
  LOCK = 0x08,
  /** Fixed disk activity light (bits 7-6). */
  ACTIVITY_MASK = 0xc0,
}

const WRITABLE = Port92Bit.FAST_INIT | Port92Bit.FAST_A20 | Port92Bit.LOCK | Port92Bit.ACTIVITY_MASK;

interface Port92State {
  value: number;
  resets: number;
}

const STATE_DESC: StateDesc = {
  name: 'port92',
  version: 1,
  fields: [{ name: 'value', type: 'u8' }, { name: 'resets', type: 'u32' }],
};

/** `new Port92(id, props, ctx)`; props: `iobase` (0x92). */
export class Port92 implements DeviceModel {
  readonly kind = 'port92';
  readonly props: Readonly<Record<string, PropValue>>;
  private _s: Port92State = { value: 0, resets: 0 };
  private readonly _regions: MappedRegion[];

  constructor(
    readonly id: string,
    props: Readonly<Record<string, PropValue>>,
    private readonly _ctx: DeviceContext,
  ) {
    this.props = { iobase: typeof props.iobase === 'number' ? props.iobase : 0x92 };
    this._regions = [{ region: this._region(), base: this.props.iobase as number }];
  }

  regions(): MappedRegion[] {
    return this._regions;
  }

  reset(): void {
    this._s.value = 0;
  }

  snapshot(): DeviceState {
    return saveState(STATE_DESC, this._s);
  }

  restore(st: DeviceState): void {
    loadState(STATE_DESC, this._s, st);
  }

  inspect(): Inspection {
    const v = this._s.value;
    return {
      id: this.id,
      kind: this.kind,
      registers: [
        {
          name: 'System Control Port A', offset: 0, value: v, width: 8,
          bits: [
            { name: 'activity light', value: v >> 6 },
            { name: 'LOCK', value: (v >> 3) & 1 },
            { name: 'FAST_A20', value: (v >> 1) & 1, meaning: v & Port92Bit.FAST_A20 ? 'A20 gate open' : 'A20 not forced' },
            { name: 'FAST_INIT', value: v & 1 },
          ],
        },
      ],
      counters: { resets: this._s.resets },
    };
  }

  private _write(v: number): void {
    const s = this._s;
    const old = s.value;
    s.value = (v & WRITABLE) | (old & Port92Bit.LOCK);
    if ((old ^ s.value) & Port92Bit.FAST_A20) {
      this._ctx.request({ kind: 'a20', enabled: (s.value & Port92Bit.FAST_A20) !== 0 });
    }
    if (!(old & Port92Bit.FAST_INIT) && s.value & Port92Bit.FAST_INIT) {
      s.resets++;
      this._ctx.request({ kind: 'reset' });
    }
  }

  private _region(): IoRegion {
    return {
      name: this.id,
      space: 'pio',
      size: 1,
      impl: { min: 1, max: 1 },
      ops: {
        read: () => this._s.value,
        write: (_off, _size, v) => this._write(v & 0xff),
      },
      registerName: () => 'System Control Port A',
    };
  }
}
