// POST-code sink: the diagnostic port (0x80 on the PC/AT, 0x190 on some boards) that firmware
// writes progress codes to, as a POST card would show them on its display.
//
// Reference: IBM PC/AT Technical Reference, I/O address map (0x80-0x8F: DMA page registers;
// 0x80 is the unused one that POST writes its checkpoints to, and that reads back what was
// written); the "manufacturing test port" convention that BIOS vendors document for their
// POST codes.
//
// Not modelled: the other DMA page registers (0x81-0x8F are not decoded here). A 16-bit OUT
// records its low byte here; the high byte goes to the next port, as on an 8-bit POST card.

import type { DeviceContext, DeviceModel, Inspection, PropValue } from '../../common/device.js';
import type { IoRegion, MappedRegion } from '../../common/io.js';
import type { DeviceState, StateDesc } from '../../common/vmstate.js';
import { loadState, saveState } from '../../common/vmstate.js';

/** Codes kept in the history. */
export const POST_HISTORY = 32;

interface PostState {
  /** Last code written, and on which region (0: iobase, 1: iobase2). */
  last: number;
  lastPort: number;
  /** Recent codes, oldest first. */
  history: number[];
  writes: number;
}

const STATE_DESC: StateDesc = {
  name: 'postcode',
  version: 1,
  fields: [
    { name: 'last', type: 'u8' }, { name: 'lastPort', type: 'u16' },
    { name: 'history', type: 'u8[]' }, { name: 'writes', type: 'u32' },
  ],
};

const num = (p: PropValue | undefined, dflt: number): number => (typeof p === 'number' ? p : dflt);

/**
 * `new PostCode(id, props, ctx)`; props: `iobase` (0x80) and optionally `iobase2` (a second
 * POST port, e.g. 0x190; 0 or absent = none). Both feed one history.
 */
export class PostCode implements DeviceModel {
  readonly kind = 'postcode';
  readonly props: Readonly<Record<string, PropValue>>;
  private _s: PostState = { last: 0, lastPort: 0, history: [], writes: 0 };
  private readonly _regions: MappedRegion[];

  constructor(
    readonly id: string,
    props: Readonly<Record<string, PropValue>>,
    _ctx: DeviceContext,
  ) {
    const iobase = num(props.iobase, 0x80);
    const iobase2 = num(props.iobase2, 0);
    this.props = { iobase, iobase2 };
    this._regions = [{ region: this._region(iobase, ''), base: iobase }];
    if (iobase2 > 0) this._regions.push({ region: this._region(iobase2, '.2'), base: iobase2 });
  }

  regions(): MappedRegion[] {
    return this._regions;
  }

  /** The last POST code written. */
  get code(): number {
    return this._s.last;
  }

  reset(): void {
    // A POST card keeps showing its last code across a reset; so does this history.
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
      registers: [{ name: 'POST code', offset: 0, value: s.last, width: 8, note: `last written at port 0x${s.lastPort.toString(16)}` }],
      queues: { history: s.history.slice() },
      counters: { writes: s.writes },
    };
  }

  private _region(port: number, suffix: string): IoRegion {
    return {
      name: this.id + suffix,
      space: 'pio',
      size: 1,
      impl: { min: 1, max: 1 },
      ops: {
        // Port 0x80 is a DMA page register latch: it reads back the last code.
        read: () => this._s.last,
        write: (_off, _size, v) => {
          const s = this._s;
          s.last = v & 0xff;
          s.lastPort = port;
          s.writes++;
          s.history.push(s.last);
          if (s.history.length > POST_HISTORY) s.history.shift();
        },
      },
      registerName: () => 'POST code',
    };
  }
}
