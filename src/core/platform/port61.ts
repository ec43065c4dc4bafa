// Port 61h, "NMI Status and Control" (the PC/AT's "port B"), the register through which
// software gates PIT counter 2, drives the speaker and watches OUT2 and the refresh toggle.
//
// Reference: Intel 82371SB (PIIX3) datasheet, "NMI Status and Control Register (Port 061h)";
// IBM PC/AT Technical Reference, "Port B" (system board I/O port 61h).
//
// Bit 4 (REF_TOGGLE) flips on every DRAM refresh request. On the PC that request is OUT1 of
// the PIT, which the BIOS programs with a count of 18 (15.09 µs); BIOS delay loops count
// these flips, so this model toggles it every 18 PIT clocks regardless of how counter 1 is
// programmed.
//
// Not modelled: the NMI sources (bits 6 and 7 read 0: no IOCHK# and no SERR#), so the enable
// bits 2 and 3 only read back; the speaker makes no sound (bit 1 is shown in inspect()).

import type { DeviceContext, DeviceModel, Inspection, PropValue } from '../../common/device.js';
import type { IoRegion, MappedRegion } from '../../common/io.js';
import type { DeviceState, StateDesc } from '../../common/vmstate.js';
import { loadState, saveState } from '../../common/vmstate.js';
import { type I8254, pitTicks } from './i8254.js';

/** Port 61h bits. */
export const enum Port61Bit {
  /** TIM2GATE: Timer Counter 2 Enable (GATE2). */
  TIM2GATE = 0x01,
  /** SPKR_DAT_EN: Speaker Data Enable. */
  SPKR_DAT_EN = 0x02,
  /** PCI SERR# Enable (0 = SERR# may cause an NMI). */
  SERR_EN_N = 0x04,
  /** IOCHK# NMI Enable (0 = enabled). */
  IOCHK_EN_N = 0x08,
  /** REF_TOGGLE: Refresh Cycle Toggle (read only). */
  REF_TOGGLE = 0x10,
  /** TIM2OUT: Timer Counter 2 OUT Status (read only). */
  TIM2OUT = 0x20,
  /** IOCHK# NMI Source Status (read only). */
  IOCHK_STS = 0x40,
  /** SERR# NMI Source Status (read only). */
  SERR_STS = 0x80,
}

/** PIT clocks per refresh request (counter 1 programmed with 18 by every PC BIOS). */
const REFRESH_CLOCKS = 18;
const WRITABLE = 0x0f;

interface Port61State {
  /** Bits 3-0 as written. */
  control: number;
}

const STATE_DESC: StateDesc = { name: 'port61', version: 1, fields: [{ name: 'control', type: 'u8' }] };

/**
 * `new Port61(id, props, ctx, pit)`; props: `iobase` (0x61). The fourth argument is what the
 * device is wired to: the PIT whose GATE2 it drives and whose OUT2 it reads.
 */
export class Port61 implements DeviceModel {
  readonly kind = 'port61';
  readonly props: Readonly<Record<string, PropValue>>;
  private _s: Port61State = { control: 0 };
  private readonly _regions: MappedRegion[];

  constructor(
    readonly id: string,
    props: Readonly<Record<string, PropValue>>,
    private readonly _ctx: DeviceContext,
    private readonly _pit: I8254,
  ) {
    this.props = { iobase: typeof props.iobase === 'number' ? props.iobase : 0x61 };
    this._regions = [{ region: this._region(), base: this.props.iobase as number }];
    this.reset();
  }

  regions(): MappedRegion[] {
    return this._regions;
  }

  reset(): void {
    this._s = { control: 0 };
    this._pit.setGate(2, false);
  }

  snapshot(): DeviceState {
    return saveState(STATE_DESC, this._s);
  }

  restore(st: DeviceState): void {
    loadState(STATE_DESC, this._s, st);
    this._pit.setGate(2, (this._s.control & Port61Bit.TIM2GATE) !== 0);
  }

  /** The register as the guest reads it now. */
  private _read(): number {
    const refresh = Math.floor(pitTicks(this._ctx.now()) / REFRESH_CLOCKS) & 1;
    return this._s.control | (refresh ? Port61Bit.REF_TOGGLE : 0) | (this._pit.out(2) ? Port61Bit.TIM2OUT : 0);
  }

  inspect(): Inspection {
    const v = this._read();
    const c = this._s.control;
    const bit = (b: number): number => (v & b ? 1 : 0);
    return {
      id: this.id,
      kind: this.kind,
      registers: [
        {
          name: 'NMI Status and Control', offset: 0, value: v, width: 8,
          bits: [
            { name: 'SERR# NMI source', value: bit(Port61Bit.SERR_STS) },
            { name: 'IOCHK# NMI source', value: bit(Port61Bit.IOCHK_STS) },
            { name: 'TIM2OUT', value: bit(Port61Bit.TIM2OUT) },
            { name: 'REF_TOGGLE', value: bit(Port61Bit.REF_TOGGLE) },
            { name: 'IOCHK# NMI enable#', value: bit(Port61Bit.IOCHK_EN_N) },
            { name: 'SERR# enable#', value: bit(Port61Bit.SERR_EN_N) },
            { name: 'SPKR_DAT_EN', value: bit(Port61Bit.SPKR_DAT_EN) },
            { name: 'TIM2GATE', value: bit(Port61Bit.TIM2GATE) },
          ],
        },
      ],
      extra: {
        speaker: (c & 3) === 3 ? 'sounding (counter 2 output)' : c & Port61Bit.SPKR_DAT_EN ? 'driven by OUT2, gate off' : 'off',
      },
    };
  }

  private _region(): IoRegion {
    return {
      name: this.id,
      space: 'pio',
      size: 1,
      impl: { min: 1, max: 1 },
      ops: {
        read: () => this._read(),
        write: (_off, _size, v) => {
          this._s.control = v & WRITABLE;
          this._pit.setGate(2, (v & Port61Bit.TIM2GATE) !== 0);
        },
      },
      registerName: () => 'NMI Status and Control',
    };
  }
}
