// Motorola MC146818A real-time clock with its CMOS RAM, as on the PC/AT: index port 0x70
// (bit 7 masks NMI), data port 0x71, IRQ 8.
//
// Reference: MC146818A datasheet (Motorola), "Address Map", "Time, Calendar and Alarm
// Locations" (table 2: binary/BCD and 12/24-hour formats), "Update Cycle" (UIP set 244 µs
// before the update), "Interrupts" (periodic, alarm, update-ended; table 3 periodic rates),
// "Register A" (UIP, DV2-DV0, RS3-RS0), "Register B" (SET, PIE, AIE, UIE, SQWE, DM, 24/12,
// DSE), "Register C" (IRQF, PF, AF, UF; cleared by reading), "Register D" (VRT), "RESET".
// CMOS layout (0x0E-0x7F) is the IBM PC/AT convention: IBM PC/AT Technical Reference,
// "CMOS RAM Address Map", plus the de-facto extensions SeaBIOS reads (0x34/0x35 memory above
// 16 MiB in 64 KiB units, 0x5B-0x5D memory above 4 GiB in 64 KiB units).
//
// How time is kept: the calendar is a count of seconds (read as UTC) at a second boundary of
// the divider chain on the virtual clock; the time registers are computed from it on every
// read, in the format register B asks for now. While SET is 1 or the divider is stopped the
// registers hold whatever was written, and counting resumes from them. The century byte 0x32
// is kept with the time (as chipsets that implement the ACPI century register do).
// Interrupt flags are evaluated lazily on each access; a timer runs only while an enabled
// interrupt is waiting to happen.
//
// Not modelled: daylight-saving adjustment (DSE is stored only), the square-wave output pin
// (SQWE stored only), time bases other than 32.768 kHz (DV other than 010 stops the clock),
// the 1984 µs length of the update cycle (the new time and UF appear at the second boundary;
// UIP covers the 244 µs before it), and the battery (VRT always reads 1). A format change in
// register B converts the running time at once; the real chip leaves the old digits.

import type { DeviceContext, DeviceModel, Inspection, IrqLine, PropValue, RegisterView, Timer } from '../../common/device.js';
import { UsageError } from '../../common/errors.js';
import type { IoRegion, MappedRegion } from '../../common/io.js';
import type { DeviceState, StateDesc } from '../../common/vmstate.js';
import { loadState, saveState } from '../../common/vmstate.js';

/** Offsets in the 0x70-0x71 range. */
export const enum RtcPort {
  /** Index register (write only); bit 7 = NMI disable. */
  INDEX = 0,
  /** Data register: the CMOS location the index selects. */
  DATA = 1,
}

/** CMOS locations. 0x00-0x0D are the clock's registers; the rest is the PC/AT layout. */
export const enum Cmos {
  /** Seconds. */
  SECONDS = 0x00,
  /** Seconds alarm. */
  SECONDS_ALARM = 0x01,
  /** Minutes. */
  MINUTES = 0x02,
  /** Minutes alarm. */
  MINUTES_ALARM = 0x03,
  /** Hours. */
  HOURS = 0x04,
  /** Hours alarm. */
  HOURS_ALARM = 0x05,
  /** Day of week (1 = Sunday). */
  DAY_OF_WEEK = 0x06,
  /** Date of month. */
  DAY_OF_MONTH = 0x07,
  /** Month. */
  MONTH = 0x08,
  /** Year (two digits). */
  YEAR = 0x09,
  /** Register A. */
  REG_A = 0x0a,
  /** Register B. */
  REG_B = 0x0b,
  /** Register C. */
  REG_C = 0x0c,
  /** Register D. */
  REG_D = 0x0d,
  /** Diagnostic status byte. */
  DIAGNOSTIC = 0x0e,
  /** Shutdown status byte (reset reason for the BIOS). */
  SHUTDOWN = 0x0f,
  /** Diskette drive types (high nibble A:, low nibble B:). */
  FLOPPY_TYPES = 0x10,
  /** Fixed disk types (high nibble drive 0, low nibble drive 1). */
  DISK_TYPES = 0x12,
  /** Equipment byte. */
  EQUIPMENT = 0x14,
  /** Base memory in KiB, low byte. */
  BASE_MEM_LO = 0x15,
  /** Base memory in KiB, high byte. */
  BASE_MEM_HI = 0x16,
  /** Extended memory (above 1 MiB) in KiB, low byte. */
  EXT_MEM_LO = 0x17,
  /** Extended memory in KiB, high byte. */
  EXT_MEM_HI = 0x18,
  /** Checksum of 0x10-0x2D, high byte. */
  CHECKSUM_HI = 0x2e,
  /** Checksum, low byte. */
  CHECKSUM_LO = 0x2f,
  /** Extended memory in KiB as POST found it, low byte. */
  EXT_MEM2_LO = 0x30,
  /** Extended memory as POST found it, high byte. */
  EXT_MEM2_HI = 0x31,
  /** Century (BCD like the other time registers). */
  CENTURY = 0x32,
  /** Memory above 16 MiB in 64 KiB units, low byte. */
  MEM_ABOVE_16M_LO = 0x34,
  /** Memory above 16 MiB in 64 KiB units, high byte. */
  MEM_ABOVE_16M_HI = 0x35,
  /** Memory above 4 GiB in 64 KiB units, bytes 0x5B (low) to 0x5D (high). */
  MEM_ABOVE_4G = 0x5b,
}

/** Register A bits. */
export const enum RegA {
  /** UIP: update in progress (read only). */
  UIP = 0x80,
  /** DV2-DV0: divider control. */
  DV_MASK = 0x70,
  /** DV = 010: 32.768 kHz time base, counting. */
  DV_32K = 0x20,
  /** RS3-RS0: rate selection. */
  RS_MASK = 0x0f,
}

/** Register B bits. */
export const enum RegB {
  /** SET: stops the update cycle so the time can be set. */
  SET = 0x80,
  /** PIE: periodic interrupt enable. */
  PIE = 0x40,
  /** AIE: alarm interrupt enable. */
  AIE = 0x20,
  /** UIE: update-ended interrupt enable. */
  UIE = 0x10,
  /** SQWE: square-wave enable. */
  SQWE = 0x08,
  /** DM: data mode, 1 = binary, 0 = BCD. */
  DM = 0x04,
  /** 24/12: 1 = 24-hour mode. */
  H24 = 0x02,
  /** DSE: daylight savings enable. */
  DSE = 0x01,
}

/** Register C bits. */
export const enum RegC {
  /** IRQF: interrupt request flag. */
  IRQF = 0x80,
  /** PF: periodic interrupt flag. */
  PF = 0x40,
  /** AF: alarm interrupt flag. */
  AF = 0x20,
  /** UF: update-ended interrupt flag. */
  UF = 0x10,
}

/** Register D bits. */
export const enum RegD {
  /** VRT: valid RAM and time. */
  VRT = 0x80,
}

/** The checksummed range 0x10-0x2D (PC/AT CMOS map). */
const CHECKSUM_FIRST = 0x10;
const CHECKSUM_LAST = 0x2d;
const SEC = 1_000_000_000;
/** UIP rises this long before the update. */
export const UIP_LEAD_NS = 244_000;
/** Time-keeping CMOS locations (the century byte goes with them). */
const TIME_REGS = new Set<number>([0, 2, 4, 6, 7, 8, 9, Cmos.CENTURY]);

interface RtcState {
  /** The 128 bytes: clock registers, then RAM. Time registers are live only while stopped. */
  cmos: Uint8Array;
  /** Index register (bits 6-0). */
  index: number;
  /** Index register bit 7: NMI masked. */
  nmiDisabled: boolean;
  /** Calendar seconds (read as UTC) at the divider boundary `secondAt`. */
  epoch: number;
  /** Clock time of a second boundary of the divider chain; updates happen every second after. */
  secondAt: number;
  /** Day-of-week register minus the computed weekday, mod 7 (the guest may set it freely). */
  dowOffset: number;
  /** Clock times up to which update/alarm and periodic flags have been evaluated. */
  updChecked: number;
  pfChecked: number;
  interrupts: number;
}

const STATE_DESC: StateDesc = {
  name: 'mc146818',
  version: 1,
  fields: [
    { name: 'cmos', type: 'bytes' }, { name: 'index', type: 'u8' }, { name: 'nmiDisabled', type: 'bool' },
    { name: 'epoch', type: 'f64' }, { name: 'secondAt', type: 'f64' }, { name: 'dowOffset', type: 'u8' },
    { name: 'updChecked', type: 'f64' }, { name: 'pfChecked', type: 'f64' }, { name: 'interrupts', type: 'u32' },
  ],
};

const toBcd = (v: number): number => ((Math.floor(v / 10) % 10) << 4) | v % 10;
const fromBcd = (v: number): number => (v >> 4) * 10 + (v & 0x0f);

/** Number of 32.768 kHz divider ticks in dt ns (exact for large dt). */
function ticks32k(dt: number): number {
  if (dt <= 0) return 0;
  const q = Math.floor(dt / SEC);
  return q * 32768 + Math.floor(((dt - q * SEC) * 32768) / SEC);
}

/** The smallest ns offset with ticks32k() >= n. */
function nsOf32k(n: number): number {
  const q = Math.floor(n / 32768);
  return q * SEC + Math.ceil(((n - q * 32768) * SEC) / 32768);
}

/** Periodic interrupt period in 32.768 kHz ticks for RS3-RS0 (table 3), 0 = none. */
function periodTicks(rs: number): number {
  if (rs === 0) return 0;
  if (rs <= 2) return 64 << rs; // 0001: 3.90625 ms, 0010: 7.8125 ms
  return 1 << (rs - 1);
}

function parseBase(base: PropValue | undefined): number {
  const now = Date.now();
  if (base === undefined || base === 'utc') return Math.floor(now / 1000);
  if (base === 'localtime') return Math.floor(now / 1000) - new Date(now).getTimezoneOffset() * 60;
  if (typeof base === 'string') {
    const t = Date.parse(base);
    if (Number.isNaN(t)) {
      throw new UsageError(`rtc base "${base}" is not 'utc', 'localtime' or an ISO date such as 2024-01-31T12:00:00`);
    }
    return Math.floor(t / 1000);
  }
  throw new UsageError(`rtc base must be 'utc', 'localtime' or an ISO date string`);
}

interface Calendar {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** 1 = Sunday. */
  dow: number;
}

function calendarOf(epoch: number): Calendar {
  const d = new Date(epoch * 1000);
  return {
    year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(),
    hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(), dow: d.getUTCDay() + 1,
  };
}

const num = (p: PropValue | undefined, dflt: number): number => (typeof p === 'number' ? p : dflt);

/**
 * The RTC and CMOS.
 *
 * `new Mc146818(id, props, ctx)`; props: `iobase` (0x70), `irq` (8), `base` ('utc',
 * 'localtime' or an ISO date: the time at power-on, which then advances with the virtual
 * clock). The board fills the BIOS bytes with setCmos() (e.g. FLOPPY_TYPES, DISK_TYPES,
 * EQUIPMENT, boot order) and setMemorySize(); both keep the 0x2E/0x2F checksum right.
 */
export class Mc146818 implements DeviceModel {
  readonly kind = 'mc146818';
  readonly props: Readonly<Record<string, PropValue>>;

  private _s: RtcState;
  private readonly _irq: IrqLine;
  private readonly _timer: Timer;
  private readonly _regions: MappedRegion[];

  constructor(
    readonly id: string,
    props: Readonly<Record<string, PropValue>>,
    private readonly _ctx: DeviceContext,
  ) {
    this.props = { iobase: num(props.iobase, 0x70), irq: num(props.irq, 8), base: props.base ?? 'utc' };
    this._irq = _ctx.irq(this.props.irq as number);
    this._timer = _ctx.createTimer(() => this._sync());
    this._regions = [{ region: this._region(), base: this.props.iobase as number }];
    // Power-on: the battery-backed state a fresh board would have.
    const now = _ctx.now();
    const cmos = new Uint8Array(128);
    cmos[Cmos.REG_A] = RegA.DV_32K | 0x06; // 32.768 kHz, 1024 Hz periodic rate
    cmos[Cmos.REG_B] = RegB.H24; // BCD, 24-hour
    cmos[Cmos.REG_D] = RegD.VRT;
    this._s = {
      cmos, index: 0, nmiDisabled: false, epoch: parseBase(this.props.base), secondAt: now,
      dowOffset: 0, updChecked: now, pfChecked: now, interrupts: 0,
    };
    this._storeTime(this._s.epoch);
    this._updateChecksum();
    this._sync();
  }

  regions(): MappedRegion[] {
    return this._regions;
  }

  // ---- the board's side ---------------------------------------------------------------

  /** Sets a CMOS byte as the board's firmware setup would, keeping the checksum right. */
  setCmos(index: number, value: number): void {
    index &= 0x7f;
    this._catchUp();
    if (index <= Cmos.REG_D || TIME_REGS.has(index)) this._writeReg(index, value & 0xff);
    else this._s.cmos[index] = value & 0xff;
    if (index >= CHECKSUM_FIRST && index <= CHECKSUM_LAST) this._updateChecksum();
    this._sync();
  }

  /** A CMOS byte as the guest would read it, without side effects (register C is not cleared). */
  getCmos(index: number): number {
    this._catchUp();
    return this._peek(index & 0x7f);
  }

  /**
   * Fills the memory-size bytes a BIOS reads: `below4g` bytes of RAM from address 0, and
   * `above4g` bytes from 4 GiB.
   */
  setMemorySize(below4g: number, above4g = 0): void {
    const c = this._s.cmos;
    const kib = Math.floor(below4g / 1024);
    const base = Math.min(640, kib);
    c[Cmos.BASE_MEM_LO] = base & 0xff;
    c[Cmos.BASE_MEM_HI] = base >> 8;
    const ext = Math.min(0xffff, Math.max(0, kib - 1024));
    c[Cmos.EXT_MEM_LO] = c[Cmos.EXT_MEM2_LO] = ext & 0xff;
    c[Cmos.EXT_MEM_HI] = c[Cmos.EXT_MEM2_HI] = ext >> 8;
    const above16 = Math.min(0xffff, Math.max(0, Math.floor((below4g - 16 * 1024 * 1024) / 65536)));
    c[Cmos.MEM_ABOVE_16M_LO] = above16 & 0xff;
    c[Cmos.MEM_ABOVE_16M_HI] = above16 >> 8;
    const high = Math.min(0xffffff, Math.floor(above4g / 65536));
    c[Cmos.MEM_ABOVE_4G] = high & 0xff;
    c[Cmos.MEM_ABOVE_4G + 1] = (high >> 8) & 0xff;
    c[Cmos.MEM_ABOVE_4G + 2] = high >> 16;
    this._updateChecksum();
  }

  /** The current RTC time as an ISO string (the calendar is kept as UTC). */
  get time(): string {
    this._catchUp();
    return new Date(this._currentEpoch() * 1000).toISOString();
  }

  // ---- DeviceModel ----------------------------------------------------------------------

  reset(): void {
    // The RESET pin clears the interrupt enables and flags; time, divider and RAM survive.
    this._catchUp();
    const c = this._s.cmos;
    c[Cmos.REG_B] &= ~(RegB.PIE | RegB.AIE | RegB.UIE | RegB.SQWE);
    c[Cmos.REG_C] = 0;
    this._s.index = 0;
    this._s.nmiDisabled = false;
    this._sync();
  }

  snapshot(): DeviceState {
    this._catchUp();
    return saveState(STATE_DESC, this._s);
  }

  restore(st: DeviceState): void {
    loadState(STATE_DESC, this._s, st);
    this._sync();
  }

  inspect(): Inspection {
    this._sync();
    const s = this._s;
    const c = s.cmos;
    const a = this._peek(Cmos.REG_A);
    const b = c[Cmos.REG_B];
    const rc = c[Cmos.REG_C];
    const bit = (v: number, m: number): number => (v & m ? 1 : 0);
    const timeReg = (name: string, i: number): RegisterView => ({ name, value: this._peek(i), width: 8, note: `CMOS ${i}` });
    const rs = a & RegA.RS_MASK;
    const period = periodTicks(rs);
    const registers: RegisterView[] = [
      timeReg('Seconds', Cmos.SECONDS), timeReg('Seconds Alarm', Cmos.SECONDS_ALARM),
      timeReg('Minutes', Cmos.MINUTES), timeReg('Minutes Alarm', Cmos.MINUTES_ALARM),
      timeReg('Hours', Cmos.HOURS), timeReg('Hours Alarm', Cmos.HOURS_ALARM),
      timeReg('Day of Week', Cmos.DAY_OF_WEEK), timeReg('Date of Month', Cmos.DAY_OF_MONTH),
      timeReg('Month', Cmos.MONTH), timeReg('Year', Cmos.YEAR),
      {
        name: 'Register A', value: a, width: 8,
        bits: [
          { name: 'UIP', value: bit(a, RegA.UIP) },
          { name: 'DV2-DV0', value: (a >> 4) & 7, meaning: (a & RegA.DV_MASK) === RegA.DV_32K ? '32.768 kHz, counting' : (a & 0x60) === 0x60 ? 'divider reset' : 'stopped' },
          { name: 'RS3-RS0', value: rs, meaning: period ? `${32768 / period} Hz periodic` : 'none' },
        ],
      },
      {
        name: 'Register B', value: b, width: 8,
        bits: [
          { name: 'SET', value: bit(b, RegB.SET) }, { name: 'PIE', value: bit(b, RegB.PIE) },
          { name: 'AIE', value: bit(b, RegB.AIE) }, { name: 'UIE', value: bit(b, RegB.UIE) },
          { name: 'SQWE', value: bit(b, RegB.SQWE) },
          { name: 'DM', value: bit(b, RegB.DM), meaning: b & RegB.DM ? 'binary' : 'BCD' },
          { name: '24/12', value: bit(b, RegB.H24), meaning: b & RegB.H24 ? '24-hour' : '12-hour' },
          { name: 'DSE', value: bit(b, RegB.DSE) },
        ],
      },
      {
        name: 'Register C', value: rc, width: 8,
        bits: [
          { name: 'IRQF', value: bit(rc, RegC.IRQF) }, { name: 'PF', value: bit(rc, RegC.PF) },
          { name: 'AF', value: bit(rc, RegC.AF) }, { name: 'UF', value: bit(rc, RegC.UF) },
        ],
      },
      { name: 'Register D', value: RegD.VRT, width: 8, bits: [{ name: 'VRT', value: 1 }] },
      timeReg('Century', Cmos.CENTURY),
      {
        name: 'Index', offset: RtcPort.INDEX, value: (s.nmiDisabled ? 0x80 : 0) | s.index, width: 8,
        bits: [{ name: 'NMI disable', value: s.nmiDisabled ? 1 : 0 }, { name: 'index', value: s.index }],
      },
    ];
    let dump = '';
    for (let i = 0; i < 128; i++) dump += this._peek(i).toString(16).padStart(2, '0');
    return {
      id: this.id,
      kind: this.kind,
      registers,
      counters: { interrupts: s.interrupts },
      extra: {
        time: new Date(this._currentEpoch() * 1000).toISOString(),
        running: this._running(),
        irq8: (rc & RegC.IRQF) !== 0,
        checksumOk: this._checksum() === ((c[Cmos.CHECKSUM_HI] << 8) | c[Cmos.CHECKSUM_LO]),
        cmos: dump,
      },
    };
  }

  // ---- time keeping -----------------------------------------------------------------------

  /** The clock counts: 32.768 kHz divider running and SET clear. */
  private _running(): boolean {
    const c = this._s.cmos;
    return (c[Cmos.REG_A] & RegA.DV_MASK) === RegA.DV_32K && !(c[Cmos.REG_B] & RegB.SET);
  }

  private _currentEpoch(): number {
    const s = this._s;
    if (!this._running()) return this._decodeTime() ?? s.epoch;
    return s.epoch + Math.max(0, Math.floor((this._ctx.now() - s.secondAt) / SEC));
  }

  private _enc(v: number): number {
    return this._s.cmos[Cmos.REG_B] & RegB.DM ? v : toBcd(v);
  }

  private _dec(v: number): number {
    return this._s.cmos[Cmos.REG_B] & RegB.DM ? v : fromBcd(v);
  }

  private _encHour(h: number): number {
    if (this._s.cmos[Cmos.REG_B] & RegB.H24) return this._enc(h);
    return this._enc(h % 12 || 12) | (h >= 12 ? 0x80 : 0);
  }

  private _decHour(v: number): number {
    if (this._s.cmos[Cmos.REG_B] & RegB.H24) return this._dec(v);
    return (this._dec(v & 0x7f) % 12) + (v & 0x80 ? 12 : 0);
  }

  /** A time register's value for calendar time `epoch`, in the current format. */
  private _timeReg(i: number, epoch: number): number {
    const t = calendarOf(epoch);
    switch (i) {
      case Cmos.SECONDS: return this._enc(t.second);
      case Cmos.MINUTES: return this._enc(t.minute);
      case Cmos.HOURS: return this._encHour(t.hour);
      case Cmos.DAY_OF_WEEK: return this._enc(((t.dow - 1 + this._s.dowOffset) % 7) + 1);
      case Cmos.DAY_OF_MONTH: return this._enc(t.day);
      case Cmos.MONTH: return this._enc(t.month);
      case Cmos.YEAR: return this._enc(t.year % 100);
      default: return this._enc(Math.floor(t.year / 100) % 100); // century
    }
  }

  /** Writes the time registers for `epoch` into CMOS (they become what a stopped clock shows). */
  private _storeTime(epoch: number): void {
    for (const i of TIME_REGS) this._s.cmos[i] = this._timeReg(i, epoch);
  }

  /** The calendar time the time registers in CMOS spell, or null if they spell nothing. */
  private _decodeTime(): number | null {
    const c = this._s.cmos;
    const year = this._dec(c[Cmos.CENTURY]) * 100 + this._dec(c[Cmos.YEAR]);
    const d = new Date(0);
    d.setUTCFullYear(year, this._dec(c[Cmos.MONTH]) - 1, this._dec(c[Cmos.DAY_OF_MONTH]));
    d.setUTCHours(this._decHour(c[Cmos.HOURS]), this._dec(c[Cmos.MINUTES]), this._dec(c[Cmos.SECONDS]), 0);
    const t = d.getTime();
    return Number.isFinite(t) ? Math.floor(t / 1000) : null;
  }

  /** Takes the registers as the new time, keeping the divider's phase. */
  private _resumeFromRegisters(phaseAt: number): void {
    const s = this._s;
    const t = this._decodeTime();
    const computedDow = t === null ? 1 : calendarOf(t).dow;
    s.dowOffset = (((this._dec(s.cmos[Cmos.DAY_OF_WEEK]) - computedDow) % 7) + 7) % 7;
    if (t !== null) s.epoch = t;
    s.secondAt = phaseAt;
  }

  /** The last second boundary of the divider at or before now. */
  private _lastBoundary(): number {
    const s = this._s;
    const now = this._ctx.now();
    return s.secondAt + Math.floor((now - s.secondAt) / SEC) * SEC;
  }

  /** Sets the flags for everything that happened up to now: updates, alarms, periodic ticks. */
  private _catchUp(): void {
    const s = this._s;
    const c = s.cmos;
    const now = this._ctx.now();
    if (this._running()) {
      const k0 = Math.floor((Math.max(s.updChecked, s.secondAt) - s.secondAt) / SEC);
      const k1 = Math.floor((now - s.secondAt) / SEC);
      if (k1 > k0) {
        c[Cmos.REG_C] |= RegC.UF;
        if (!(c[Cmos.REG_C] & RegC.AF)) {
          // An alarm repeats at least daily, so the last day of updates is enough to check.
          for (let k = Math.max(k0 + 1, k1 - 86399); k <= k1; k++) {
            if (this._alarmMatches(s.epoch + k)) {
              c[Cmos.REG_C] |= RegC.AF;
              break;
            }
          }
        }
      }
    }
    const period = periodTicks(c[Cmos.REG_A] & RegA.RS_MASK);
    if (period && (c[Cmos.REG_A] & RegA.DV_MASK) === RegA.DV_32K) {
      const from = Math.floor(ticks32k(s.pfChecked - s.secondAt) / period);
      const to = Math.floor(ticks32k(now - s.secondAt) / period);
      if (to > from) c[Cmos.REG_C] |= RegC.PF;
    }
    s.updChecked = now;
    s.pfChecked = now;
    const b = c[Cmos.REG_B];
    const flags = c[Cmos.REG_C];
    const irqf = (flags & RegC.PF && b & RegB.PIE) || (flags & RegC.AF && b & RegB.AIE) || (flags & RegC.UF && b & RegB.UIE);
    if (irqf && !(flags & RegC.IRQF)) s.interrupts++;
    c[Cmos.REG_C] = irqf ? flags | RegC.IRQF : flags & ~RegC.IRQF;
  }

  /** The alarm registers match time `epoch` (0xC0-0xFF is "don't care"). */
  private _alarmMatches(epoch: number): boolean {
    const c = this._s.cmos;
    const sec = epoch % 60;
    const min = Math.floor(epoch / 60) % 60;
    const hour = Math.floor(epoch / 3600) % 24;
    const match = (alarm: number, v: number): boolean => (alarm & 0xc0) === 0xc0 || alarm === v;
    return (
      match(c[Cmos.SECONDS_ALARM], this._enc(sec)) &&
      match(c[Cmos.MINUTES_ALARM], this._enc(min)) &&
      match(c[Cmos.HOURS_ALARM], this._encHour(hour))
    );
  }

  /** Catches up, drives IRQ 8 from IRQF, sets the timer for the next enabled interrupt. */
  private _sync(): void {
    this._catchUp();
    const s = this._s;
    const c = s.cmos;
    const irqf = (c[Cmos.REG_C] & RegC.IRQF) !== 0;
    this._irq.set(irqf);
    const now = this._ctx.now();
    let next = Infinity;
    if (!irqf) {
      const b = c[Cmos.REG_B];
      const period = periodTicks(c[Cmos.REG_A] & RegA.RS_MASK);
      if (b & RegB.PIE && period && (c[Cmos.REG_A] & RegA.DV_MASK) === RegA.DV_32K) {
        const k = Math.floor(ticks32k(now - s.secondAt) / period) + 1;
        next = Math.min(next, s.secondAt + nsOf32k(k * period));
      }
      if (b & (RegB.UIE | RegB.AIE) && this._running()) {
        next = Math.min(next, this._lastBoundary() + SEC);
      }
    }
    if (next === Infinity) this._timer.cancel();
    else this._timer.setAt(next > now ? next : now + 1);
  }

  private _updateChecksum(): void {
    const sum = this._checksum();
    this._s.cmos[Cmos.CHECKSUM_HI] = sum >> 8;
    this._s.cmos[Cmos.CHECKSUM_LO] = sum & 0xff;
  }

  private _checksum(): number {
    let sum = 0;
    for (let i = CHECKSUM_FIRST; i <= CHECKSUM_LAST; i++) sum += this._s.cmos[i];
    return sum & 0xffff;
  }

  // ---- register access ----------------------------------------------------------------

  /** What reading location i returns, without side effects. */
  private _peek(i: number): number {
    const s = this._s;
    const c = s.cmos;
    if (TIME_REGS.has(i)) return this._running() ? this._timeReg(i, this._currentEpoch()) : c[i];
    switch (i) {
      case Cmos.REG_A: {
        const inUpdate = this._running() && (this._ctx.now() - s.secondAt) % SEC >= SEC - UIP_LEAD_NS;
        return (c[i] & ~RegA.UIP) | (inUpdate ? RegA.UIP : 0);
      }
      case Cmos.REG_D:
        return RegD.VRT;
      default:
        return c[i];
    }
  }

  private _readData(): number {
    const s = this._s;
    const v = this._peek(s.index);
    if (s.index === Cmos.REG_C) s.cmos[Cmos.REG_C] = 0; // reading C clears every flag
    return v;
  }

  private _writeReg(i: number, v: number): void {
    const s = this._s;
    const c = s.cmos;
    if (TIME_REGS.has(i)) {
      if (this._running()) {
        // Setting one field of a running clock: the others keep their current values.
        this._storeTime(this._currentEpoch());
        c[i] = v;
        this._resumeFromRegisters(this._lastBoundary());
      } else {
        c[i] = v;
      }
      return;
    }
    switch (i) {
      case Cmos.REG_A: {
        const was = this._running();
        const wasReset = (c[i] & 0x60) === 0x60;
        if (was) this._storeTime(this._currentEpoch());
        c[i] = v & ~RegA.UIP;
        if (!was && this._running()) {
          // Out of divider reset, the first update comes half a second later.
          const now = this._ctx.now();
          this._resumeFromRegisters(wasReset ? now - SEC / 2 : this._lastBoundary());
        }
        break;
      }
      case Cmos.REG_B: {
        const was = this._running();
        if (was) this._storeTime(this._currentEpoch());
        // SET going high stops updates and clears UIE.
        c[i] = v & RegB.SET ? v & ~RegB.UIE : v;
        if (!was && this._running()) this._resumeFromRegisters(this._lastBoundary());
        break;
      }
      case Cmos.REG_C:
      case Cmos.REG_D:
        break; // read only
      default:
        c[i] = v;
    }
  }

  private _region(): IoRegion {
    return {
      name: this.id,
      space: 'pio',
      size: 2,
      impl: { min: 1, max: 1 },
      ops: {
        // The index register is write only on the PC/AT: reading it floats.
        read: (off) => {
          if (off === RtcPort.INDEX) return 0xff;
          this._catchUp();
          const v = this._readData();
          this._sync();
          return v;
        },
        write: (off, _size, v) => {
          if (off === RtcPort.INDEX) {
            this._s.index = v & 0x7f;
            this._s.nmiDisabled = (v & 0x80) !== 0;
            return;
          }
          this._catchUp();
          this._writeReg(this._s.index, v & 0xff);
          this._sync();
        },
      },
      // Static names: the daemon caches them per offset when it maps the range.
      registerName: (off) => (off === RtcPort.INDEX ? 'index (NMI mask)' : 'data (CMOS[index])'),
    };
  }
}
