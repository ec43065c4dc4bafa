// Intel 8254 Programmable Interval Timer, as wired on the PC: three counters clocked at
// 1.193182 MHz; OUT0 drives IRQ 0, GATE0/GATE1 are tied high, GATE2 and OUT2 belong to port
// 0x61 (port61.ts), OUT1 was the DRAM refresh request.
//
// Reference: Intel 8254 datasheet (order 231164): "Control Word Format", "Write Operations",
// "Read Operations" (counter latch command, read-back command, status byte), "Mode
// Definitions" (modes 0-5 with their GATE and OUT behaviour), "Operation Common to All
// Modes" (the count is loaded on the CLK pulse after it is written; 0 means 2^16 in binary
// and 10^4 in BCD).
//
// The counters are not ticked: every counter value and OUT level is computed from the
// virtual clock (DeviceContext.now()) and the CLK pulse at which the count was written. CLK
// is one free-running clock for the three counters: pulse k happens at pitNs(k) on the
// virtual clock, so writes, gate edges and reads fall between two pulses as on the chip. Only OUT0 has a
// consumer that must hear about transitions, so only counter 0 keeps a timer, set at its
// next OUT transition.
//
// Not modelled:
//  - counts of 1 in mode 2 and of 1 in mode 3 are illegal per the datasheet; here they give a
//    constant OUT (low in mode 2, high in mode 3) instead of whatever a given chip does;
//  - in mode 3 with an odd count, the counter value read back is approximated (it steps by
//    two as the datasheet says, but the extra clock of the high half reads as 2);
//  - the undefined counter contents after a control word: the old value is held;
//  - GATE0/GATE1 inputs (tied high on the PC, as here) and CLK inputs other than 1.193182 MHz.

import type { DeviceContext, DeviceModel, Inspection, IrqLine, PropValue, RegisterView, Timer } from '../../common/device.js';
import type { IoRegion, MappedRegion } from '../../common/io.js';
import type { DeviceState, StateDesc } from '../../common/vmstate.js';
import { loadState, saveState } from '../../common/vmstate.js';

/** Input clock of every counter, Hz. */
export const PIT_HZ = 1_193_182;
const NS_PER_S = 1_000_000_000;

/** Offsets in the PIT's range (A1, A0). */
export const enum PitReg {
  /** Counter 0. */
  COUNTER0 = 0,
  /** Counter 1. */
  COUNTER1 = 1,
  /** Counter 2. */
  COUNTER2 = 2,
  /** Control Word Register (write only). */
  CONTROL = 3,
}

/** Control word fields. */
export const enum Cw {
  /** BCD: binary coded decimal counter. */
  BCD = 0x01,
  /** M2-M0: mode. */
  MODE_MASK = 0x0e,
  /** RW1-RW0: 00 counter latch, 01 LSB, 10 MSB, 11 LSB then MSB. */
  RW_MASK = 0x30,
  /** SC1-SC0: counter select; 11 is the read-back command. */
  SC_MASK = 0xc0,
}

/** Read-back command bits (SC1 = SC0 = 1). */
export const enum ReadBack {
  /** CNT0. */
  CNT0 = 0x02,
  /** CNT1. */
  CNT1 = 0x04,
  /** CNT2. */
  CNT2 = 0x08,
  /** STATUS#: 0 latches the status of the selected counters. */
  STATUS_N = 0x10,
  /** COUNT#: 0 latches the count of the selected counters. */
  COUNT_N = 0x20,
}

/** Status byte bits (read-back). */
export const enum Status {
  /** OUTPUT: the OUT pin. */
  OUTPUT = 0x80,
  /** NULL COUNT: the last count written has not been loaded into the counting element. */
  NULL_COUNT = 0x40,
}

const enum Rw {
  LATCH = 0,
  LSB = 1,
  MSB = 2,
  WORD = 3,
}

/** Whole CLK pulses in `dt` ns. Exact for any dt a double holds (no 2^53 overflow). */
export function pitTicks(dt: number): number {
  if (dt <= 0) return 0;
  const q = Math.floor(dt / NS_PER_S);
  const r = dt - q * NS_PER_S;
  return q * PIT_HZ + Math.floor((r * PIT_HZ) / NS_PER_S);
}

/** The smallest ns offset at which pitTicks() reaches k. */
export function pitNs(k: number): number {
  const q = Math.floor(k / PIT_HZ);
  const r = k - q * PIT_HZ;
  return q * NS_PER_S + Math.ceil((r * NS_PER_S) / PIT_HZ);
}

function fromBcd(v: number): number {
  return ((v >> 12) & 0xf) * 1000 + ((v >> 8) & 0xf) * 100 + ((v >> 4) & 0xf) * 10 + (v & 0xf);
}

function toBcd(n: number): number {
  n %= 10000;
  return ((Math.floor(n / 1000) % 10) << 12) | ((Math.floor(n / 100) % 10) << 8) | ((Math.floor(n / 10) % 10) << 4) | n % 10;
}

interface Eval {
  /** The counting element (binary magnitude). */
  ce: number;
  out: number;
}

/**
 * Counter value and OUT of a counter in mode m with count n, `e` CLK pulses after the count
 * was written (or the gate triggered). Pulse 1 loads the count; it counts from pulse 2.
 */
function timeline(m: number, n: number, e: number, modulus: number): Eval {
  if (e < 1) return { ce: n, out: m === 0 ? 0 : 1 };
  const done = e - 1;
  switch (m) {
    case 0: // interrupt on terminal count: low until the count reaches 0
      return { ce: (((n - done) % modulus) + modulus) % modulus, out: done >= n ? 1 : 0 };
    case 1: // one-shot: low from the load until terminal count
      return { ce: (((n - done) % modulus) + modulus) % modulus, out: done >= n ? 1 : 0 };
    case 2: { // rate generator: low for one pulse when the count reaches 1
      const ph = done % n;
      return { ce: n - ph, out: ph === n - 1 ? 0 : 1 };
    }
    case 3: { // square wave: high for ceil(n/2), low for floor(n/2), counting by two
      const ph = done % n;
      const h1 = (n + 1) >> 1;
      const odd = n & 1;
      if (ph < h1) return { ce: odd ? Math.max(2, n - 1 - 2 * ph) : n - 2 * ph, out: 1 };
      return { ce: odd ? n - 1 - 2 * (ph - h1) : n - 2 * (ph - h1), out: 0 };
    }
    default: // 4, 5: strobe: one low pulse when the count reaches 0
      return { ce: (((n - done) % modulus) + modulus) % modulus, out: done === n ? 0 : 1 };
  }
}

/** The first e' > e at which timeline()'s OUT differs from its OUT at e, or -1. */
function nextChange(m: number, n: number, e: number): number {
  switch (m) {
    case 0:
      return e < n + 1 ? n + 1 : -1;
    case 1:
      return e < 1 ? 1 : e < n + 1 ? n + 1 : -1;
    case 2: {
      if (e < 1) return n;
      if (n === 1) return -1;
      const ph = (e - 1) % n;
      return ph === n - 1 ? e + 1 : e + (n - 1 - ph);
    }
    case 3: {
      if (n === 1) return -1;
      const h1 = (n + 1) >> 1;
      if (e < 1) return 1 + h1;
      const ph = (e - 1) % n;
      return ph < h1 ? e + (h1 - ph) : e + (n - ph);
    }
    default:
      return e < n + 1 ? n + 1 : e === n + 1 ? n + 2 : -1;
  }
}

interface PitState {
  /** Per counter: mode 0-5 (6 and 7 are aliases of 2 and 3). */
  mode: Uint8Array;
  /** RW1-RW0 of the control word. */
  rw: Uint8Array;
  bcd: Uint8Array;
  /** Bits 5-0 of the last control word, as the status byte shows them. */
  control: Uint8Array;
  /** CR: the count register, as last written (raw 16 bits). */
  cr: Uint16Array;
  /** A count has been written since the control word. */
  written: Uint8Array;
  /** LSB of a two-byte count, waiting for its MSB. */
  crLow: Uint8Array;
  /** The next count write is the MSB (RW = 11). */
  writeMsb: Uint8Array;
  /** The next unlatched read is the MSB (RW = 11). */
  readMsb: Uint8Array;
  /** OL: output latch holds a count (counter latch or read-back). */
  latched: Uint8Array;
  latch: Uint16Array;
  latchMsb: Uint8Array;
  /** A status byte is latched (read-back). */
  statusLatched: Uint8Array;
  status: Uint8Array;
  gate: Uint8Array;
  nullCount: Uint8Array;
  /** The counting element runs a count (false: waiting for a count or a trigger). */
  armed: Uint8Array;
  /** Count magnitude the counting element runs with (1..65536). */
  count: Uint32Array;
  /** e = pitTicks(now) - base: CLK pulses since the count was written or triggered. */
  base: Float64Array;
  /** A new count in mode 2/3 waits for the end of the current period or half-cycle. */
  deferred: Uint8Array;
  prevCount: Uint32Array;
  /** Before switchE the previous count runs, at phase prevBase + e. */
  prevBase: Float64Array;
  switchE: Float64Array;
  /** GATE low stopped the count at e = frozenE. */
  frozen: Uint8Array;
  frozenE: Float64Array;
  /** Counter value (binary magnitude) shown while nothing is loaded. */
  hold: Uint16Array;
  /** OUT while nothing is loaded (set by the control word). */
  outIdle: Uint8Array;
}

const STATE_DESC: StateDesc = {
  name: 'i8254',
  version: 1,
  fields: [
    { name: 'mode', type: 'u8[]' }, { name: 'rw', type: 'u8[]' }, { name: 'bcd', type: 'u8[]' },
    { name: 'control', type: 'u8[]' }, { name: 'cr', type: 'u16[]' }, { name: 'written', type: 'u8[]' },
    { name: 'crLow', type: 'u8[]' }, { name: 'writeMsb', type: 'u8[]' }, { name: 'readMsb', type: 'u8[]' },
    { name: 'latched', type: 'u8[]' }, { name: 'latch', type: 'u16[]' }, { name: 'latchMsb', type: 'u8[]' },
    { name: 'statusLatched', type: 'u8[]' }, { name: 'status', type: 'u8[]' }, { name: 'gate', type: 'u8[]' },
    { name: 'nullCount', type: 'u8[]' }, { name: 'armed', type: 'u8[]' }, { name: 'count', type: 'u32[]' },
    { name: 'base', type: 'f64[]' }, { name: 'deferred', type: 'u8[]' },
    { name: 'prevCount', type: 'u32[]' }, { name: 'prevBase', type: 'f64[]' }, { name: 'switchE', type: 'f64[]' },
    { name: 'frozen', type: 'u8[]' }, { name: 'frozenE', type: 'f64[]' }, { name: 'hold', type: 'u16[]' },
    { name: 'outIdle', type: 'u8[]' },
  ],
};

function newState(): PitState {
  const u8 = (): Uint8Array => new Uint8Array(3);
  const f64 = (): Float64Array => new Float64Array(3);
  return {
    mode: u8(), rw: u8(), bcd: u8(), control: u8(), cr: new Uint16Array(3), written: u8(), crLow: u8(),
    writeMsb: u8(), readMsb: u8(), latched: u8(), latch: new Uint16Array(3), latchMsb: u8(),
    statusLatched: u8(), status: u8(), gate: u8(), nullCount: u8(), armed: u8(), count: new Uint32Array(3),
    base: f64(), deferred: u8(), prevCount: new Uint32Array(3), prevBase: f64(),
    switchE: f64(), frozen: u8(), frozenE: f64(), hold: new Uint16Array(3), outIdle: u8(),
  };
}

const MODE_NAMES = [
  'interrupt on terminal count', 'hardware retriggerable one-shot', 'rate generator',
  'square wave mode', 'software triggered strobe', 'hardware triggered strobe',
];
const RW_NAMES = ['counter latch', 'LSB only', 'MSB only', 'LSB then MSB'];

const num = (p: PropValue | undefined, dflt: number): number => (typeof p === 'number' ? p : dflt);

/**
 * The PC's 8254.
 *
 * `new I8254(id, props, ctx)`; props: `iobase` (0x40), `irq` (0: OUT0's line). Counter 2's
 * GATE and OUT are reached through setGate()/out(), which port61.ts uses.
 */
export class I8254 implements DeviceModel {
  readonly kind = 'i8254';
  readonly props: Readonly<Record<string, PropValue>>;

  private _s: PitState = newState();
  private readonly _irq: IrqLine;
  private readonly _timer: Timer;
  private readonly _regions: MappedRegion[];
  /** The level last driven on IRQ 0 (derived from the state, so not saved). */
  private _driven = true;

  constructor(
    readonly id: string,
    props: Readonly<Record<string, PropValue>>,
    private readonly _ctx: DeviceContext,
  ) {
    this.props = { iobase: num(props.iobase, 0x40), irq: num(props.irq, 0) };
    this._irq = _ctx.irq(this.props.irq as number);
    this._timer = _ctx.createTimer(() => this._onTimer());
    this._regions = [{ region: this._region(), base: this.props.iobase as number }];
    this.reset();
  }

  regions(): MappedRegion[] {
    return this._regions;
  }

  // ---- wiring: GATE inputs and OUT outputs ---------------------------------------------

  /** Drives the GATE input of counter `i`. */
  setGate(i: number, level: boolean): void {
    const s = this._s;
    const g = level ? 1 : 0;
    if (s.gate[i] === g) return;
    const now = this._ctx.now();
    const e = this._e(i, now);
    s.gate[i] = g;
    switch (s.mode[i]) {
      case 0:
      case 4:
        // GATE low suspends counting; high resumes where it stopped.
        if (!level) {
          if (s.armed[i] && !s.frozen[i]) {
            s.frozen[i] = 1;
            s.frozenE[i] = e;
          }
        } else if (s.frozen[i]) {
          s.frozen[i] = 0;
          s.base[i] = pitTicks(now) - s.frozenE[i];
        }
        break;
      case 2:
      case 3:
        // GATE low stops the count and forces OUT high; the rising edge reloads the count.
        if (!level) {
          if (s.armed[i] && !s.frozen[i]) {
            s.frozen[i] = 1;
            s.frozenE[i] = e;
          }
        } else if (s.armed[i]) {
          this._start(i, now);
        }
        break;
      default:
        // Modes 1 and 5: the rising edge triggers (loads the count on the next CLK).
        if (level && s.written[i]) this._start(i, now);
    }
    if (i === 0) this._updateOut0();
  }

  /** The OUT pin of counter `i`. */
  out(i: number): boolean {
    return this._eval(i, this._ctx.now()).out === 1;
  }

  // ---- DeviceModel ----------------------------------------------------------------------

  reset(): void {
    this._s = newState();
    for (let i = 0; i < 3; i++) {
      // Unprogrammed: square-wave mode, no count, OUT high, so that the BIOS's first control
      // word makes no edge on IRQ 0.
      this._s.mode[i] = 3;
      this._s.rw[i] = Rw.WORD;
      this._s.control[i] = (Rw.WORD << 4) | (3 << 1);
      this._s.outIdle[i] = 1;
      this._s.gate[i] = i === 2 ? 0 : 1;
    }
    this._updateOut0();
  }

  snapshot(): DeviceState {
    return saveState(STATE_DESC, this._s);
  }

  restore(st: DeviceState): void {
    loadState(STATE_DESC, this._s, st);
    this._updateOut0();
  }

  inspect(): Inspection {
    const s = this._s;
    const now = this._ctx.now();
    const registers: RegisterView[] = [];
    const extra: Record<string, string | number | boolean> = {};
    for (let i = 0; i < 3; i++) {
      const r = this._eval(i, now);
      const cw = (i << 6) | s.control[i];
      registers.push(
        {
          name: `counter ${i} control word`, offset: PitReg.CONTROL, value: cw, width: 8,
          bits: [
            { name: 'SC', value: i },
            { name: 'RW', value: s.rw[i], meaning: RW_NAMES[s.rw[i]] },
            { name: 'M', value: (s.control[i] >> 1) & 7, meaning: `mode ${s.mode[i]}: ${MODE_NAMES[s.mode[i]]}` },
            { name: 'BCD', value: s.bcd[i], meaning: s.bcd[i] ? 'BCD' : 'binary' },
          ],
        },
        { name: `counter ${i} CR`, offset: i, value: s.cr[i], width: 16, note: s.written[i] ? 'count register' : 'no count written' },
        { name: `counter ${i} CE`, offset: i, value: this._encode(i, r.ce), width: 16, note: 'counting element now' },
        {
          name: `counter ${i} status`, value: this._statusByte(i, now), width: 8,
          bits: [
            { name: 'OUTPUT', value: r.out },
            { name: 'NULL COUNT', value: this._nullCount(i, now) ? 1 : 0 },
          ],
        },
        {
          name: `counter ${i} OL`, offset: i, value: s.latch[i], width: 16,
          note: s.latched[i] ? `latched${s.latchMsb[i] ? ', MSB next' : ''}` : 'not latched',
        },
      );
      const n = s.bcd[i] ? fromBcd(s.cr[i]) || 10000 : s.cr[i] || 0x10000;
      extra[`counter${i}`] =
        `mode ${s.mode[i]}, gate ${s.gate[i]}, out ${r.out}` +
        (s.written[i] ? `, ${(PIT_HZ / n).toFixed(3)} Hz` : ', idle') +
        (s.frozen[i] ? ', stopped by gate' : '') + (s.statusLatched[i] ? ', status latched' : '');
    }
    return { id: this.id, kind: this.kind, registers, extra };
  }

  // ---- counter logic --------------------------------------------------------------------

  /** CLK pulses since the running count was written or triggered. */
  private _e(i: number, now: number): number {
    const s = this._s;
    if (s.frozen[i]) return s.frozenE[i];
    return pitTicks(now) - s.base[i];
  }

  private _modulus(i: number): number {
    return this._s.bcd[i] ? 10000 : 0x10000;
  }

  private _eval(i: number, now: number): Eval {
    const s = this._s;
    if (!s.armed[i]) return { ce: s.hold[i], out: s.outIdle[i] };
    const e = this._e(i, now);
    const m = s.mode[i];
    const r =
      s.deferred[i] && e < s.switchE[i]
        ? timeline(m, s.prevCount[i], s.prevBase[i] + e + 1, this._modulus(i))
        : timeline(m, s.count[i], e, this._modulus(i));
    if (s.frozen[i] && (m === 2 || m === 3)) r.out = 1;
    return r;
  }

  private _encode(i: number, ce: number): number {
    return this._s.bcd[i] ? toBcd(ce) : ce & 0xffff;
  }

  /** NULL COUNT: a count was written and has not reached the counting element yet. */
  private _nullCount(i: number, now: number): boolean {
    const s = this._s;
    if (!s.nullCount[i]) return false;
    if (!s.armed[i] || s.frozen[i]) return s.frozen[i] ? s.frozenE[i] < 1 : true;
    return this._e(i, now) < (s.deferred[i] ? s.switchE[i] : 1);
  }

  private _statusByte(i: number, now: number): number {
    return (this._eval(i, now).out << 7) | (this._nullCount(i, now) ? Status.NULL_COUNT : 0) | this._s.control[i];
  }

  /** Starts the counting element afresh with the count register: loaded on the next CLK. */
  private _start(i: number, now: number): void {
    const s = this._s;
    s.count[i] = this._countOf(i);
    s.base[i] = pitTicks(now);
    s.deferred[i] = 0;
    s.frozen[i] = 0;
    s.armed[i] = 1;
  }

  private _countOf(i: number): number {
    const s = this._s;
    if (s.bcd[i]) return fromBcd(s.cr[i]) || 10000;
    return s.cr[i] || 0x10000;
  }

  private _writeControl(v: number): void {
    const s = this._s;
    const now = this._ctx.now();
    const sc = v >> 6;
    if (sc === 3) {
      // Read-back: latch count and/or status of every selected counter, unless already latched.
      for (let i = 0; i < 3; i++) {
        if (!(v & (ReadBack.CNT0 << i))) continue;
        if (!(v & ReadBack.COUNT_N)) this._latchCount(i, now);
        if (!(v & ReadBack.STATUS_N) && !s.statusLatched[i]) {
          s.status[i] = this._statusByte(i, now);
          s.statusLatched[i] = 1;
        }
      }
      return;
    }
    const i = sc;
    const rw = (v >> 4) & 3;
    if (rw === Rw.LATCH) {
      this._latchCount(i, now);
      return;
    }
    // A control word resets the counter's control logic and sets OUT to its initial state.
    s.hold[i] = this._eval(i, now).ce;
    let m = (v >> 1) & 7;
    if (m > 5) m -= 4;
    s.mode[i] = m;
    s.rw[i] = rw;
    s.bcd[i] = v & Cw.BCD;
    s.control[i] = v & 0x3f;
    s.armed[i] = 0;
    s.deferred[i] = 0;
    s.frozen[i] = 0;
    s.written[i] = 0;
    s.nullCount[i] = 1;
    s.writeMsb[i] = 0;
    s.readMsb[i] = 0;
    s.latched[i] = 0;
    s.latchMsb[i] = 0;
    s.statusLatched[i] = 0;
    s.outIdle[i] = m === 0 ? 0 : 1;
  }

  private _latchCount(i: number, now: number): void {
    const s = this._s;
    if (s.latched[i]) return; // a second latch before the first is read is ignored
    s.latch[i] = this._encode(i, this._eval(i, now).ce);
    s.latched[i] = 1;
    s.latchMsb[i] = 0;
  }

  private _writeCount(i: number, v: number): void {
    const s = this._s;
    switch (s.rw[i]) {
      case Rw.LSB:
        this._loadCount(i, v);
        break;
      case Rw.MSB:
        this._loadCount(i, v << 8);
        break;
      default:
        if (!s.writeMsb[i]) {
          s.crLow[i] = v;
          s.writeMsb[i] = 1;
          if (s.mode[i] === 0) {
            // Mode 0: writing the first byte stops the count and sets OUT low.
            s.hold[i] = this._eval(i, this._ctx.now()).ce;
            s.armed[i] = 0;
            s.outIdle[i] = 0;
          }
        } else {
          s.writeMsb[i] = 0;
          this._loadCount(i, s.crLow[i] | (v << 8));
        }
    }
  }

  private _loadCount(i: number, raw: number): void {
    const s = this._s;
    const now = this._ctx.now();
    s.cr[i] = raw;
    s.written[i] = 1;
    s.nullCount[i] = 1;
    const m = s.mode[i];
    if (m === 0 || m === 4) {
      // Loaded on the next CLK; counting waits for GATE.
      this._start(i, now);
      if (!s.gate[i]) {
        s.frozen[i] = 1;
        s.frozenE[i] = 1;
      }
    } else if (m === 2 || m === 3) {
      if (!s.armed[i]) {
        this._start(i, now);
        if (!s.gate[i]) {
          s.frozen[i] = 1;
          s.frozenE[i] = 0;
        }
      } else if (!s.frozen[i]) {
        this._deferCount(i, now);
      }
      // Armed but stopped by GATE: the rising edge will load the new count.
    } else {
      // Modes 1 and 5: a new count waits for the next trigger; until the first one the
      // counter shows the count register.
      if (!s.armed[i]) s.hold[i] = this._countOf(i);
    }
  }

  /**
   * Modes 2 and 3: a count written while counting takes effect at the end of the current
   * period (mode 2) or half-cycle (mode 3). The timeline is re-based so that the new count
   * starts at switchE; before it, the old count runs on.
   */
  private _deferCount(i: number, now: number): void {
    const s = this._s;
    const e = this._e(i, now);
    let oldN: number;
    let p: number;
    if (s.deferred[i] && e < s.switchE[i]) {
      oldN = s.prevCount[i];
      p = s.prevBase[i] + e;
    } else if (e < 1) {
      this._start(i, now); // the old count was not even loaded yet: the new one replaces it
      return;
    } else {
      oldN = s.count[i];
      p = (e - 1) % oldN;
    }
    const newN = this._countOf(i);
    let untilSwitch: number;
    let switchE: number;
    if (s.mode[i] === 3 && p < (oldN + 1) >> 1) {
      untilSwitch = ((oldN + 1) >> 1) - p; // end of the high half: continue in the new low half
      switchE = 1 + ((newN + 1) >> 1);
    } else {
      untilSwitch = oldN - p; // end of the period
      switchE = 1;
    }
    // New coordinates: e' = e + delta, with e' = switchE when the old period or half ends.
    const delta = switchE - (e + untilSwitch);
    s.base[i] -= delta;
    s.prevCount[i] = oldN;
    s.prevBase[i] = p - (e + delta);
    s.switchE[i] = switchE;
    s.count[i] = newN;
    s.deferred[i] = 1;
  }

  private _readCount(i: number): number {
    const s = this._s;
    if (s.statusLatched[i]) {
      s.statusLatched[i] = 0;
      return s.status[i];
    }
    let v: number;
    let rw = s.rw[i];
    if (s.latched[i]) {
      v = s.latch[i];
      if (rw === Rw.WORD) {
        const msb = s.latchMsb[i];
        s.latchMsb[i] ^= 1;
        if (msb) s.latched[i] = 0;
        return msb ? v >> 8 : v & 0xff;
      }
      s.latched[i] = 0;
    } else {
      v = this._encode(i, this._eval(i, this._ctx.now()).ce);
      if (rw === Rw.WORD) {
        rw = s.readMsb[i] ? Rw.MSB : Rw.LSB;
        s.readMsb[i] ^= 1;
      }
    }
    return rw === Rw.MSB ? v >> 8 : v & 0xff;
  }

  /**
   * OUT0's timer: the transition it was set for has passed. A host timer is always later than
   * the one-clock (838 ns) low pulse of mode 2, so OUT0 may read as it was last driven: it went
   * and came back. The PIC must still see the rising edge, or the BIOS tick never comes.
   */
  private _onTimer(): void {
    const out = this._eval(0, this._ctx.now()).out === 1;
    if (out === this._driven) this._irq.set(!out);
    this._updateOut0();
  }

  /** Drives IRQ 0 from OUT0 and sets the timer at OUT0's next transition. */
  private _updateOut0(): void {
    const s = this._s;
    const now = this._ctx.now();
    this._driven = this._eval(0, now).out === 1;
    this._irq.set(this._driven);
    if (!s.armed[0] || s.frozen[0]) {
      this._timer.cancel();
      return;
    }
    const e = this._e(0, now);
    const m = s.mode[0];
    let next: number;
    if (s.deferred[0] && e < s.switchE[0]) {
      const base = s.prevBase[0] + 1;
      const old = nextChange(m, s.prevCount[0], base + e);
      next = old >= 0 && old - base < s.switchE[0] ? old - base : -1;
      if (next < 0) {
        const outNow = this._eval(0, now).out;
        const atSwitch = timeline(m, s.count[0], s.switchE[0], this._modulus(0)).out;
        next = atSwitch !== outNow ? s.switchE[0] : nextChange(m, s.count[0], s.switchE[0]);
      }
    } else {
      next = nextChange(m, s.count[0], e);
    }
    if (next < 0) {
      this._timer.cancel();
      return;
    }
    const at = pitNs(s.base[0] + next);
    this._timer.setAt(at > now ? at : now + 1);
  }

  private _region(): IoRegion {
    return {
      name: this.id,
      space: 'pio',
      size: 4,
      impl: { min: 1, max: 1 },
      ops: {
        read: (off) => (off === PitReg.CONTROL ? 0xff : this._readCount(off)),
        write: (off, _size, v) => {
          if (off === PitReg.CONTROL) this._writeControl(v & 0xff);
          else this._writeCount(off, v & 0xff);
          this._updateOut0();
        },
      },
      registerName: (off, dir) => {
        if (off === PitReg.CONTROL) return dir === 'write' ? 'control word' : 'control (no read)';
        return `counter ${off}`;
      },
    };
  }
}
