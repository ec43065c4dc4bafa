// ATA/IDE channel: one task-file register block (8 ports), the control block (Alternate
// Status / Device Control), one interrupt line, and up to two ATA disks (master, slave).
//
// Reference: T13 1410D "AT Attachment with Packet Interface - 6" (ATA/ATAPI-6), clauses
// "Register descriptions" (Status, Error, Device, Device Control, Alternate Status),
// "Command descriptions" (EXECUTE DEVICE DIAGNOSTIC, FLUSH CACHE, IDENTIFY DEVICE (and its
// word table), INITIALIZE DEVICE PARAMETERS, READ/WRITE MULTIPLE, READ/WRITE SECTORS, READ
// VERIFY SECTORS, SET FEATURES, SET MULTIPLE MODE) and "Protocol" (PIO data-in, PIO data-out,
// non-data, software reset). Channel ports as on the PC/AT and the PIIX3 in compatibility mode
// (82371SB datasheet, "IDE interface"): primary 1F0-1F7h + 3F6h on IRQ 14, secondary
// 170-177h + 376h on IRQ 15.
//
// Behaviour that drivers rely on, as modelled:
//  - INTRQ is asserted at the end of each PIO data-in block becoming ready, after each PIO
//    data-out block was taken (including the last), and at the end of non-data commands; it is
//    cleared by reading Status or writing Command, not by reading Alternate Status; nIEN masks it.
//  - An absent device 1 reads Status/Alternate Status/Error as 00h and ignores commands; with
//    no device on the channel every task-file register reads 00h (SeaBIOS's and Linux's probes
//    depend on this, and it is how QEMU's ide presents an empty slot).
//  - SRST (Device Control bit 2) holds both devices BSY; its release puts the ATA signature in
//    the task file (count 1, LBA 1/0/0, device 0), Error 01h, and raises no interrupt.
//  - A backend write error fails the command with ERR + ABRT and emits BLOCK_IO_ERROR; a read
//    error fails it with ERR + UNC. Read-only disks abort write commands.
//
// NOT modelled: ATAPI (packet devices), DMA (no READ/WRITE DMA; the PIIX3 bus-master BAR
// reads 0, see pci.ts), LBA48 commands, security/SMART/HPA/power timers, command timing (every
// command completes within the access that started it: BSY is never seen after a command), and
// the floppy's share of port 3F7h (Drive Address register).
//
// Constructor (uniform across hvmon models): new Ide(id, props, ctx, backends), where
//   props    = { iobase = 0x1f0, iobase2 = 0x3f6, irq = 14 }
//   backends = { master?: BlockBackend | null, slave?: BlockBackend | null }

import type { BlockBackend, DeviceContext, DeviceModel, Inspection, IrqLine, PropValue, RegisterView } from '../../common/device.js';
import { BackendError, errorMessage } from '../../common/errors.js';
import type { IoRegion, MappedRegion } from '../../common/io.js';
import type { AccessSize } from '../../common/types.js';
import { type DeviceState, type StateDesc, loadState, saveState } from '../../common/vmstate.js';

/** Command block register offsets (ATA-6 "I/O register descriptions"). */
const enum AtaReg {
  /** Data register (16-bit; 32-bit accesses on the PIIX). */
  DATA = 0,
  /** Error register (read) / Features register (write). */
  ERROR = 1,
  /** Sector Count register. */
  NSECTOR = 2,
  /** LBA Low / Sector Number register. */
  SECTOR = 3,
  /** LBA Mid / Cylinder Low register. */
  LCYL = 4,
  /** LBA High / Cylinder High register. */
  HCYL = 5,
  /** Device/Head register. */
  SELECT = 6,
  /** Status register (read) / Command register (write). */
  STATUS = 7,
}

/** Status register bits. */
const enum AtaStatus {
  /** BSY: busy. */
  BSY = 0x80,
  /** DRDY: device ready. */
  DRDY = 0x40,
  /** DF: device fault. */
  DF = 0x20,
  /** DSC: device seek complete (obsolete in ATA-6, still set by disks). */
  DSC = 0x10,
  /** DRQ: data request. */
  DRQ = 0x08,
  /** CORR: corrected data (obsolete). */
  CORR = 0x04,
  /** IDX: index (obsolete). */
  IDX = 0x02,
  /** ERR: error; details in the Error register. */
  ERR = 0x01,
}

/** Error register bits. */
const enum AtaError {
  /** ICRC/BBK: interface CRC error / bad block (obsolete). */
  ICRC = 0x80,
  /** UNC: uncorrectable data error. */
  UNC = 0x40,
  /** MC: media changed. */
  MC = 0x20,
  /** IDNF: ID not found (address out of range). */
  IDNF = 0x10,
  /** MCR: media change request. */
  MCR = 0x08,
  /** ABRT: command aborted. */
  ABRT = 0x04,
  /** TK0NF: track 0 not found (obsolete). */
  TK0NF = 0x02,
  /** AMNF: address mark not found (obsolete); also "device 0 passed" after diagnostics. */
  AMNF = 0x01,
}

/** Device/Head register bits. */
const enum AtaSelect {
  /** LBA: the address is an LBA, not CHS. */
  LBA = 0x40,
  /** DEV: device 1 (slave) selected. */
  DEV = 0x10,
  /** HS3-HS0: head number / LBA bits 27:24. */
  HEAD = 0x0f,
}

/** Device Control register bits (control block, write). */
const enum AtaDevCtl {
  /** HOB: high order byte (LBA48 read-back; no effect here). */
  HOB = 0x80,
  /** SRST: software reset of both devices. */
  SRST = 0x04,
  /** nIEN: interrupts disabled (INTRQ released). */
  NIEN = 0x02,
}

/** Command opcodes (ATA-6 "Command descriptions"). */
const enum AtaCmd {
  /** NOP: always aborts. */
  NOP = 0x00,
  /** RECALIBRATE (obsolete, 10h-1Fh). */
  RECALIBRATE = 0x10,
  /** READ SECTORS (with retries). */
  READ_SECTORS = 0x20,
  /** READ SECTORS without retries (obsolete). */
  READ_SECTORS_NR = 0x21,
  /** WRITE SECTORS (with retries). */
  WRITE_SECTORS = 0x30,
  /** WRITE SECTORS without retries (obsolete). */
  WRITE_SECTORS_NR = 0x31,
  /** READ VERIFY SECTORS. */
  READ_VERIFY = 0x40,
  /** READ VERIFY SECTORS without retries (obsolete). */
  READ_VERIFY_NR = 0x41,
  /** SEEK (obsolete 70h-7Fh). */
  SEEK = 0x70,
  /** EXECUTE DEVICE DIAGNOSTIC. */
  EXECUTE_DIAGNOSTIC = 0x90,
  /** INITIALIZE DEVICE PARAMETERS (obsolete in ATA-6, used by BIOSes). */
  INITIALIZE_PARAMS = 0x91,
  /** IDENTIFY PACKET DEVICE: ATA devices abort it. */
  IDENTIFY_PACKET = 0xa1,
  /** READ MULTIPLE. */
  READ_MULTIPLE = 0xc4,
  /** WRITE MULTIPLE. */
  WRITE_MULTIPLE = 0xc5,
  /** SET MULTIPLE MODE. */
  SET_MULTIPLE = 0xc6,
  /** STANDBY IMMEDIATE. */
  STANDBY_IMMEDIATE = 0xe0,
  /** IDLE IMMEDIATE. */
  IDLE_IMMEDIATE = 0xe1,
  /** STANDBY. */
  STANDBY = 0xe2,
  /** IDLE. */
  IDLE = 0xe3,
  /** CHECK POWER MODE. */
  CHECK_POWER_MODE = 0xe5,
  /** FLUSH CACHE. */
  FLUSH_CACHE = 0xe7,
  /** IDENTIFY DEVICE. */
  IDENTIFY = 0xec,
  /** SET FEATURES. */
  SET_FEATURES = 0xef,
}

/** SET FEATURES subcommands (Features register). */
const enum AtaFeature {
  /** Enable volatile write cache. */
  WCACHE_ON = 0x02,
  /** Set transfer mode from the Sector Count register. */
  XFER_MODE = 0x03,
  /** Disable reverting to power-on defaults. */
  REVERT_OFF = 0x66,
  /** Disable volatile write cache. */
  WCACHE_OFF = 0x82,
  /** Disable read look-ahead. */
  LOOKAHEAD_OFF = 0x55,
  /** Enable read look-ahead. */
  LOOKAHEAD_ON = 0xaa,
  /** Enable reverting to power-on defaults. */
  REVERT_ON = 0xcc,
}

const SECTOR = 512;
/** Largest READ/WRITE MULTIPLE block (IDENTIFY word 47). */
const MAX_MULT = 16;
const LBA28_MAX = 0x0fffffff;

/** The data transfer in progress. */
const enum Xfer {
  NONE = 0,
  /** PIO data-in: the host reads the buffer. */
  IN = 1,
  /** PIO data-out: the host fills the buffer. */
  OUT = 2,
}

/** Everything mutable, in one object, so that STATE covers all of it. */
interface IdeState {
  feature: number;
  nsector: number;
  sector: number;
  lcyl: number;
  hcyl: number;
  select: number;
  devctl: number;
  /** Per device (0 master, 1 slave): Status, Error, multiple block size (0 = off), logical geometry, write cache. */
  status: Uint8Array;
  error: Uint8Array;
  multiple: Uint8Array;
  lheads: Uint8Array;
  lsectors: Uint8Array;
  wcache: Uint8Array;
  /** Interrupt pending in the selected device (INTRQ before nIEN). */
  irqPending: boolean;
  /** Command whose data phase is in progress (0 = none), direction, device. */
  cmd: number;
  xfer: number;
  xferDev: number;
  buf: Uint8Array;
  bufPos: number;
  bufEnd: number;
  /** Next sector to transfer and sectors still to go (including the buffered block). */
  lba: number;
  remaining: number;
  blockSectors: number;
  commands: number;
  sectorsRead: number;
  sectorsWritten: number;
  errors: number;
  flushes: number;
  interrupts: number;
}

const STATE: StateDesc = {
  name: 'ide',
  version: 1,
  fields: [
    { name: 'feature', type: 'u8' }, { name: 'nsector', type: 'u8' }, { name: 'sector', type: 'u8' },
    { name: 'lcyl', type: 'u8' }, { name: 'hcyl', type: 'u8' }, { name: 'select', type: 'u8' },
    { name: 'devctl', type: 'u8' },
    { name: 'status', type: 'u8[]' }, { name: 'error', type: 'u8[]' }, { name: 'multiple', type: 'u8[]' },
    { name: 'lheads', type: 'u8[]' }, { name: 'lsectors', type: 'u8[]' }, { name: 'wcache', type: 'u8[]' },
    { name: 'irqPending', type: 'bool' },
    { name: 'cmd', type: 'u8' }, { name: 'xfer', type: 'u8' }, { name: 'xferDev', type: 'u8' },
    { name: 'buf', type: 'bytes' }, { name: 'bufPos', type: 'u32' }, { name: 'bufEnd', type: 'u32' },
    { name: 'lba', type: 'u32' }, { name: 'remaining', type: 'u32' }, { name: 'blockSectors', type: 'u8' },
    { name: 'commands', type: 'f64' }, { name: 'sectorsRead', type: 'f64' }, { name: 'sectorsWritten', type: 'f64' },
    { name: 'errors', type: 'u32' }, { name: 'flushes', type: 'u32' }, { name: 'interrupts', type: 'u32' },
  ],
};

export interface IdeBackends {
  master?: BlockBackend | null;
  slave?: BlockBackend | null;
}

/** Default CHS geometry of a disk, as BIOSes and QEMU guess it: 16 heads, 63 sectors. */
export function ataGeometry(sectors: number): { cyls: number; heads: number; secs: number } {
  const heads = 16;
  const secs = 63;
  const cyls = Math.max(1, Math.min(16383, Math.floor(sectors / (heads * secs))));
  return { cyls, heads, secs };
}

function numProp(props: Readonly<Record<string, PropValue>>, name: string, def: number): number {
  const v = props[name];
  return typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : def;
}

function bitList(v: number, names: [string, number][]): { name: string; value: number }[] {
  return names.map(([name, mask]) => ({ name, value: (v & mask) !== 0 ? 1 : 0 }));
}

const STATUS_BITS: [string, number][] = [
  ['BSY', AtaStatus.BSY], ['DRDY', AtaStatus.DRDY], ['DF', AtaStatus.DF], ['DSC', AtaStatus.DSC],
  ['DRQ', AtaStatus.DRQ], ['CORR', AtaStatus.CORR], ['IDX', AtaStatus.IDX], ['ERR', AtaStatus.ERR],
];
const ERROR_BITS: [string, number][] = [
  ['ICRC', AtaError.ICRC], ['UNC', AtaError.UNC], ['MC', AtaError.MC], ['IDNF', AtaError.IDNF],
  ['MCR', AtaError.MCR], ['ABRT', AtaError.ABRT], ['TK0NF', AtaError.TK0NF], ['AMNF', AtaError.AMNF],
];

const READ_NAMES = ['Data', 'Error', 'Sector Count', 'LBA Low', 'LBA Mid', 'LBA High', 'Device', 'Status'];
const WRITE_NAMES = ['Data', 'Features', 'Sector Count', 'LBA Low', 'LBA Mid', 'LBA High', 'Device', 'Command'];

const COMMAND_NAMES: Record<number, string> = {
  [AtaCmd.READ_SECTORS]: 'READ SECTORS', [AtaCmd.READ_SECTORS_NR]: 'READ SECTORS',
  [AtaCmd.WRITE_SECTORS]: 'WRITE SECTORS', [AtaCmd.WRITE_SECTORS_NR]: 'WRITE SECTORS',
  [AtaCmd.READ_MULTIPLE]: 'READ MULTIPLE', [AtaCmd.WRITE_MULTIPLE]: 'WRITE MULTIPLE',
  [AtaCmd.IDENTIFY]: 'IDENTIFY DEVICE',
};

export class Ide implements DeviceModel {
  readonly kind = 'ide';
  private readonly _s: IdeState;
  private readonly _drives: (BlockBackend | null)[];
  private readonly _sectors: number[];
  private readonly _geometry: { cyls: number; heads: number; secs: number }[];
  private readonly _iobase: number;
  private readonly _iobase2: number;
  private readonly _irqNum: number;
  private readonly _irq: IrqLine;
  private readonly _regions: MappedRegion[];

  constructor(
    readonly id: string,
    readonly props: Readonly<Record<string, PropValue>>,
    private readonly _ctx: DeviceContext,
    backends: IdeBackends = {},
  ) {
    this._iobase = numProp(props, 'iobase', 0x1f0);
    this._iobase2 = numProp(props, 'iobase2', 0x3f6);
    this._irqNum = numProp(props, 'irq', 14);
    this._irq = _ctx.irq(this._irqNum);
    this._drives = [backends.master ?? null, backends.slave ?? null];
    this._sectors = this._drives.map((d) => (d ? Math.floor(d.size / SECTOR) : 0));
    this._geometry = this._sectors.map((n) => ataGeometry(n));
    this._s = {
      feature: 0, nsector: 0, sector: 0, lcyl: 0, hcyl: 0, select: 0, devctl: 0,
      status: new Uint8Array(2), error: new Uint8Array(2), multiple: new Uint8Array(2),
      lheads: new Uint8Array(2), lsectors: new Uint8Array(2), wcache: new Uint8Array(2),
      irqPending: false, cmd: 0, xfer: Xfer.NONE, xferDev: 0,
      buf: new Uint8Array(MAX_MULT * SECTOR), bufPos: 0, bufEnd: 0,
      lba: 0, remaining: 0, blockSectors: 1,
      commands: 0, sectorsRead: 0, sectorsWritten: 0, errors: 0, flushes: 0, interrupts: 0,
    };
    this._regions = [
      { region: this._commandRegion(), base: this._iobase },
      { region: this._controlRegion(), base: this._iobase2 },
    ];
    this.reset();
  }

  regions(): MappedRegion[] {
    return this._regions;
  }

  /** Power-on / hardware reset: both devices to their defaults, signature in the task file. */
  reset(): void {
    const s = this._s;
    s.devctl = 0;
    s.multiple.fill(0);
    s.wcache.fill(1);
    for (let d = 0; d < 2; d++) {
      s.lheads[d] = this._geometry[d].heads;
      s.lsectors[d] = this._geometry[d].secs;
    }
    s.commands = s.sectorsRead = s.sectorsWritten = s.errors = s.flushes = s.interrupts = 0;
    s.buf.fill(0);
    this._softReset();
    s.irqPending = false;
    this._updateIrq();
  }

  snapshot(): DeviceState {
    return saveState(STATE, this._s);
  }

  restore(st: DeviceState): void {
    loadState(STATE, this._s, st);
    this._updateIrq();
  }

  // ---- the guest's view ------------------------------------------------------------------

  private _commandRegion(): IoRegion {
    return {
      name: this.id,
      space: 'pio',
      size: 8,
      ops: {
        read: (off, size) => {
          if (off === AtaReg.DATA) return this._dataRead(size);
          let v = 0;
          for (let i = 0; i < size; i++) v |= this._readReg(off + i) << (8 * i);
          return v >>> 0;
        },
        write: (off, size, value) => {
          if (off === AtaReg.DATA) {
            this._dataWrite(size, value);
            return;
          }
          for (let i = 0; i < size; i++) this._writeReg(off + i, (value >>> (8 * i)) & 0xff);
        },
        readRep: (off, size, count, into) => {
          if (off !== AtaReg.DATA) {
            for (let i = 0; i < count * size; i++) into[i] = this._readReg(off + (i % size));
            return;
          }
          this._dataReadBytes(into.subarray(0, count * size));
        },
        writeRep: (off, size, count, from) => {
          if (off !== AtaReg.DATA) {
            for (let i = 0; i < count * size; i++) this._writeReg(off + (i % size), from[i]);
            return;
          }
          this._dataWriteBytes(from.subarray(0, count * size));
        },
      },
      registerName: (off, dir) => (dir === 'read' ? READ_NAMES : WRITE_NAMES)[off],
    };
  }

  private _controlRegion(): IoRegion {
    return {
      name: `${this.id}.ctl`,
      space: 'pio',
      size: 1,
      impl: { min: 1, max: 1 },
      ops: {
        // The guest polls Alternate Status: same bits as Status, but the interrupt stays pending.
        read: () => this._statusValue(),
        write: (_off, _size, value) => this._writeDevCtl(value),
      },
      registerName: (_off, dir) => (dir === 'read' ? 'Alternate Status' : 'Device Control'),
    };
  }

  private get _dev(): number {
    return (this._s.select & AtaSelect.DEV) !== 0 ? 1 : 0;
  }

  private _present(d: number): boolean {
    return this._drives[d] !== null;
  }

  private get _anyPresent(): boolean {
    return this._present(0) || this._present(1);
  }

  private _statusValue(): number {
    if (!this._present(this._dev)) return 0;
    return this._s.status[this._dev];
  }

  private _readReg(reg: number): number {
    const s = this._s;
    // An empty channel reads 00h everywhere: drivers take that as "nothing here" without
    // waiting for BSY to clear (an unterminated bus would float to FFh and look busy).
    if (!this._anyPresent) {
      if (reg === AtaReg.STATUS) this._clearIrq();
      return 0;
    }
    switch (reg) {
      case AtaReg.ERROR: return this._present(this._dev) ? s.error[this._dev] : 0;
      case AtaReg.NSECTOR: return s.nsector;
      case AtaReg.SECTOR: return s.sector;
      case AtaReg.LCYL: return s.lcyl;
      case AtaReg.HCYL: return s.hcyl;
      case AtaReg.SELECT: return s.select;
      case AtaReg.STATUS: {
        // Reading Status acknowledges the interrupt (Alternate Status does not).
        const v = this._statusValue();
        this._clearIrq();
        return v;
      }
    }
    return 0xff;
  }

  private _writeReg(reg: number, v: number): void {
    const s = this._s;
    // Every task-file write reaches both devices (they share the cable); only the selected
    // one acts on a command.
    switch (reg) {
      case AtaReg.ERROR: s.feature = v; break;
      case AtaReg.NSECTOR: s.nsector = v; break;
      case AtaReg.SECTOR: s.sector = v; break;
      case AtaReg.LCYL: s.lcyl = v; break;
      case AtaReg.HCYL: s.hcyl = v; break;
      case AtaReg.SELECT:
        s.select = v;
        this._updateIrq();
        break;
      case AtaReg.STATUS: this._command(v); break;
    }
  }

  private _writeDevCtl(v: number): void {
    const s = this._s;
    const was = s.devctl;
    s.devctl = v;
    if (v & AtaDevCtl.SRST) {
      // SRST asserted: both devices stop whatever they were doing and stay busy.
      s.status[0] = s.status[1] = AtaStatus.BSY;
      this._endTransfer();
      s.irqPending = false;
    } else if (was & AtaDevCtl.SRST) {
      // SRST released: the reset completes (instantly here) without an interrupt.
      this._softReset();
    }
    this._updateIrq();
  }

  /** The end of a software reset (or power-on): signature, diagnostics passed, ready. */
  private _softReset(): void {
    const s = this._s;
    this._endTransfer();
    this._signature();
    for (let d = 0; d < 2; d++) {
      s.status[d] = this._present(d) ? AtaStatus.DRDY | AtaStatus.DSC : 0;
      s.error[d] = this._present(d) ? AtaError.AMNF : 0;
    }
  }

  /** ATA device signature (ATA-6 "Signature and persistence"): count 1, LBA 01h/00h/00h, device 0. */
  private _signature(): void {
    const s = this._s;
    s.nsector = 1;
    s.sector = 1;
    s.lcyl = 0;
    s.hcyl = 0;
    s.select = 0;
    s.feature = 0;
  }

  private _clearIrq(): void {
    if (this._s.irqPending) {
      this._s.irqPending = false;
      this._updateIrq();
    }
  }

  private _raiseIrq(): void {
    this._s.irqPending = true;
    this._s.interrupts++;
    this._updateIrq();
  }

  private _updateIrq(): void {
    const s = this._s;
    const level = s.irqPending && (s.devctl & AtaDevCtl.NIEN) === 0 && this._present(this._dev);
    this._irq.set(level);
  }

  // ---- data port -------------------------------------------------------------------------

  private _dataRead(size: AccessSize): number {
    const b = new Uint8Array(size);
    this._dataReadBytes(b);
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | b[i];
    return v >>> 0;
  }

  private _dataWrite(size: AccessSize, value: number): void {
    const b = new Uint8Array(size);
    for (let i = 0; i < size; i++) b[i] = (value >>> (8 * i)) & 0xff;
    this._dataWriteBytes(b);
  }

  /** REP INSW/INSD or single reads: drains the buffer block by block; no DRQ reads FFh. */
  private _dataReadBytes(into: Uint8Array): void {
    const s = this._s;
    let done = 0;
    while (done < into.length) {
      if (s.xfer !== Xfer.IN || s.bufPos >= s.bufEnd) {
        into.fill(0xff, done);
        return;
      }
      const n = Math.min(into.length - done, s.bufEnd - s.bufPos);
      into.set(s.buf.subarray(s.bufPos, s.bufPos + n), done);
      s.bufPos += n;
      done += n;
      if (s.bufPos >= s.bufEnd) this._inBlockDone();
    }
  }

  private _dataWriteBytes(from: Uint8Array): void {
    const s = this._s;
    let done = 0;
    while (done < from.length) {
      if (s.xfer !== Xfer.OUT || s.bufPos >= s.bufEnd) return;
      const n = Math.min(from.length - done, s.bufEnd - s.bufPos);
      s.buf.set(from.subarray(done, done + n), s.bufPos);
      s.bufPos += n;
      done += n;
      if (s.bufPos >= s.bufEnd) this._outBlockDone();
    }
  }

  // ---- commands --------------------------------------------------------------------------

  private _command(cmd: number): void {
    const s = this._s;
    const dev = this._dev;
    // Writing Command acknowledges a pending interrupt.
    s.irqPending = false;
    this._updateIrq();
    if (s.devctl & AtaDevCtl.SRST) return;
    // EXECUTE DEVICE DIAGNOSTIC is executed by every device whatever DEV says; any other
    // command addressed to an absent device is not seen by anyone.
    if (cmd === AtaCmd.EXECUTE_DIAGNOSTIC) {
      if (this._anyPresent) this._diagnostic();
      return;
    }
    if (!this._present(dev)) return;
    s.commands++;
    this._endTransfer();
    s.status[dev] = AtaStatus.DRDY | AtaStatus.DSC;
    s.error[dev] = 0;

    if ((cmd & 0xf0) === AtaCmd.RECALIBRATE) {
      s.lcyl = s.hcyl = 0;
      return this._complete();
    }
    if ((cmd & 0xf0) === AtaCmd.SEEK) {
      const lba = this._taskLba(dev);
      if (lba < 0 || lba >= this._sectors[dev]) return this._abort(AtaError.IDNF);
      return this._complete();
    }
    switch (cmd) {
      case AtaCmd.IDENTIFY:
        this._identify(dev);
        s.cmd = cmd;
        s.xfer = Xfer.IN;
        s.xferDev = dev;
        s.bufPos = 0;
        s.bufEnd = SECTOR;
        s.remaining = 1;
        s.blockSectors = 1;
        s.status[dev] = AtaStatus.DRDY | AtaStatus.DSC | AtaStatus.DRQ;
        this._raiseIrq();
        return;
      case AtaCmd.READ_SECTORS: case AtaCmd.READ_SECTORS_NR:
        return this._startRw(cmd, dev, false, 1);
      case AtaCmd.READ_MULTIPLE:
        if (s.multiple[dev] === 0) return this._abort(AtaError.ABRT);
        return this._startRw(cmd, dev, false, s.multiple[dev]);
      case AtaCmd.WRITE_SECTORS: case AtaCmd.WRITE_SECTORS_NR:
        return this._startRw(cmd, dev, true, 1);
      case AtaCmd.WRITE_MULTIPLE:
        if (s.multiple[dev] === 0) return this._abort(AtaError.ABRT);
        return this._startRw(cmd, dev, true, s.multiple[dev]);
      case AtaCmd.READ_VERIFY: case AtaCmd.READ_VERIFY_NR:
        return this._verify(dev);
      case AtaCmd.SET_MULTIPLE: {
        const n = s.nsector;
        // Block sizes are powers of two up to word 47's maximum; 0 turns multiple mode off.
        if (n > MAX_MULT || (n & (n - 1)) !== 0) return this._abort(AtaError.ABRT);
        s.multiple[dev] = n;
        return this._complete();
      }
      case AtaCmd.INITIALIZE_PARAMS:
        if (s.nsector === 0) return this._abort(AtaError.ABRT);
        s.lheads[dev] = (s.select & AtaSelect.HEAD) + 1;
        s.lsectors[dev] = s.nsector;
        return this._complete();
      case AtaCmd.SET_FEATURES:
        return this._setFeatures(dev);
      case AtaCmd.FLUSH_CACHE:
        return this._flush(dev);
      case AtaCmd.STANDBY_IMMEDIATE: case AtaCmd.IDLE_IMMEDIATE: case AtaCmd.STANDBY: case AtaCmd.IDLE:
        return this._complete();
      case AtaCmd.CHECK_POWER_MODE:
        s.nsector = 0xff; // active or idle
        return this._complete();
      case AtaCmd.IDENTIFY_PACKET: // an ATA disk is not a packet device
      case AtaCmd.NOP:
      default:
        return this._abort(AtaError.ABRT);
    }
  }

  /** Non-data command completed: ready, seek complete, interrupt. */
  private _complete(): void {
    this._s.status[this._dev] = AtaStatus.DRDY | AtaStatus.DSC;
    this._raiseIrq();
  }

  private _abort(err: number, dev = this._dev): void {
    const s = this._s;
    this._endTransfer();
    s.status[dev] = AtaStatus.DRDY | AtaStatus.DSC | AtaStatus.ERR;
    s.error[dev] = err;
    s.errors++;
    this._raiseIrq();
  }

  private _endTransfer(): void {
    const s = this._s;
    s.cmd = 0;
    s.xfer = Xfer.NONE;
    s.bufPos = s.bufEnd = 0;
    s.remaining = 0;
  }

  private _diagnostic(): void {
    const s = this._s;
    this._endTransfer();
    this._signature();
    // Error 01h: device 0 passed, device 1 passed or absent. Device 0 is selected afterwards
    // and it raises the interrupt.
    for (let d = 0; d < 2; d++) {
      s.status[d] = this._present(d) ? AtaStatus.DRDY | AtaStatus.DSC : 0;
      s.error[d] = this._present(d) ? AtaError.AMNF : 0;
    }
    s.commands++;
    this._raiseIrq();
  }

  /** The address in the task file, LBA or CHS (with the current logical geometry); -1 if invalid. */
  private _taskLba(dev: number): number {
    const s = this._s;
    if (s.select & AtaSelect.LBA) {
      return ((s.select & AtaSelect.HEAD) * 0x1000000 + (s.hcyl << 16) + (s.lcyl << 8) + s.sector) >>> 0;
    }
    const cyl = (s.hcyl << 8) | s.lcyl;
    const head = s.select & AtaSelect.HEAD;
    const sec = s.sector;
    const heads = s.lheads[dev];
    const spt = s.lsectors[dev];
    if (sec < 1 || sec > spt || head >= heads) return -1;
    return (cyl * heads + head) * spt + sec - 1;
  }

  /** Puts an address back in the task file, in the addressing mode the command used. */
  private _setTaskLba(dev: number, lba: number): void {
    const s = this._s;
    if (s.select & AtaSelect.LBA) {
      s.sector = lba & 0xff;
      s.lcyl = (lba >>> 8) & 0xff;
      s.hcyl = (lba >>> 16) & 0xff;
      s.select = (s.select & ~AtaSelect.HEAD) | ((lba >>> 24) & AtaSelect.HEAD);
      return;
    }
    const heads = s.lheads[dev];
    const spt = s.lsectors[dev];
    const cyl = Math.floor(lba / (heads * spt));
    const rest = lba % (heads * spt);
    s.lcyl = cyl & 0xff;
    s.hcyl = (cyl >>> 8) & 0xff;
    s.select = (s.select & ~AtaSelect.HEAD) | (Math.floor(rest / spt) & AtaSelect.HEAD);
    s.sector = (rest % spt) + 1;
  }

  private _startRw(cmd: number, dev: number, write: boolean, block: number): void {
    const s = this._s;
    const drive = this._drives[dev]!;
    const count = s.nsector === 0 ? 256 : s.nsector;
    const lba = this._taskLba(dev);
    if (lba < 0 || lba + count > Math.min(this._sectors[dev], LBA28_MAX + 1)) return this._abort(AtaError.IDNF);
    if (write && drive.readOnly) return this._abort(AtaError.ABRT);
    s.cmd = cmd;
    s.xferDev = dev;
    s.lba = lba;
    s.remaining = count;
    s.blockSectors = block;
    if (write) {
      // PIO data-out: DRQ for the first block straight away, no interrupt before it.
      s.xfer = Xfer.OUT;
      s.bufPos = 0;
      s.bufEnd = Math.min(block, count) * SECTOR;
      s.status[dev] = AtaStatus.DRDY | AtaStatus.DSC | AtaStatus.DRQ;
    } else {
      s.xfer = Xfer.IN;
      this._loadInBlock();
    }
  }

  /** PIO data-in: read the next block from the disk, then DRQ and an interrupt. */
  private _loadInBlock(): void {
    const s = this._s;
    const dev = s.xferDev;
    const n = Math.min(s.blockSectors, s.remaining);
    const into = s.buf.subarray(0, n * SECTOR);
    try {
      this._drives[dev]!.read(s.lba * SECTOR, into);
    } catch (e) {
      if (!(e instanceof BackendError)) throw e;
      this._ioError(dev, 'read', s.lba, e);
      this._setTaskLba(dev, s.lba);
      return this._abort(AtaError.UNC, dev);
    }
    s.bufPos = 0;
    s.bufEnd = n * SECTOR;
    s.status[dev] = AtaStatus.DRDY | AtaStatus.DSC | AtaStatus.DRQ;
    this._raiseIrq();
  }

  /** The host has read the whole block: next block, or the command is done (no interrupt). */
  private _inBlockDone(): void {
    const s = this._s;
    const dev = s.xferDev;
    if (s.cmd === AtaCmd.IDENTIFY) {
      s.status[dev] = AtaStatus.DRDY | AtaStatus.DSC;
      this._endTransfer();
      return;
    }
    const n = Math.min(s.blockSectors, s.remaining);
    s.sectorsRead += n;
    this._setTaskLba(dev, s.lba + n - 1);
    s.lba += n;
    s.remaining -= n;
    s.nsector = s.remaining & 0xff;
    if (s.remaining > 0) {
      this._loadInBlock();
    } else {
      s.status[dev] = AtaStatus.DRDY | AtaStatus.DSC;
      this._endTransfer();
    }
  }

  /** The host has filled a block: write it, then DRQ for the next one or done; interrupt either way. */
  private _outBlockDone(): void {
    const s = this._s;
    const dev = s.xferDev;
    const n = Math.min(s.blockSectors, s.remaining);
    try {
      this._drives[dev]!.write(s.lba * SECTOR, s.buf.subarray(0, n * SECTOR));
    } catch (e) {
      if (!(e instanceof BackendError)) throw e;
      // The guest learns of it (ERR/ABRT) and so does the monitor; nothing is silently lost.
      this._ioError(dev, 'write', s.lba, e);
      this._setTaskLba(dev, s.lba);
      return this._abort(AtaError.ABRT, dev);
    }
    s.sectorsWritten += n;
    this._setTaskLba(dev, s.lba + n - 1);
    s.lba += n;
    s.remaining -= n;
    s.nsector = s.remaining & 0xff;
    if (s.remaining > 0) {
      s.bufPos = 0;
      s.bufEnd = Math.min(s.blockSectors, s.remaining) * SECTOR;
      s.status[dev] = AtaStatus.DRDY | AtaStatus.DSC | AtaStatus.DRQ;
    } else {
      s.status[dev] = AtaStatus.DRDY | AtaStatus.DSC;
      this._endTransfer();
    }
    this._raiseIrq();
  }

  private _verify(dev: number): void {
    const s = this._s;
    const count = s.nsector === 0 ? 256 : s.nsector;
    const lba = this._taskLba(dev);
    if (lba < 0 || lba + count > this._sectors[dev]) return this._abort(AtaError.IDNF);
    // Read the sectors (and throw the data away) so that an unreadable image shows up as UNC.
    const tmp = new Uint8Array(SECTOR);
    for (let i = 0; i < count; i++) {
      try {
        this._drives[dev]!.read((lba + i) * SECTOR, tmp);
      } catch (e) {
        if (!(e instanceof BackendError)) throw e;
        this._ioError(dev, 'read', lba + i, e);
        this._setTaskLba(dev, lba + i);
        return this._abort(AtaError.UNC);
      }
    }
    this._setTaskLba(dev, lba + count - 1);
    s.nsector = 0;
    this._complete();
  }

  private _setFeatures(dev: number): void {
    const s = this._s;
    switch (s.feature) {
      case AtaFeature.WCACHE_ON: s.wcache[dev] = 1; return this._complete();
      case AtaFeature.WCACHE_OFF: s.wcache[dev] = 0; return this._complete();
      case AtaFeature.LOOKAHEAD_ON: case AtaFeature.LOOKAHEAD_OFF:
      case AtaFeature.REVERT_ON: case AtaFeature.REVERT_OFF:
        return this._complete();
      case AtaFeature.XFER_MODE: {
        // PIO default (00h/01h) or PIO flow-control mode 0-4 (08h-0Ch); no DMA modes here.
        const m = s.nsector;
        if (m <= 0x01 || (m >= 0x08 && m <= 0x0c)) return this._complete();
        return this._abort(AtaError.ABRT);
      }
    }
    this._abort(AtaError.ABRT);
  }

  private _flush(dev: number): void {
    this._s.flushes++;
    try {
      this._drives[dev]!.flush();
    } catch (e) {
      if (!(e instanceof BackendError)) throw e;
      this._ioError(dev, 'flush', 0, e);
      return this._abort(AtaError.ABRT);
    }
    this._complete();
  }

  private _ioError(dev: number, operation: string, sector: number, e: Error): void {
    this._ctx.event('BLOCK_IO_ERROR', {
      device: this.id,
      drive: dev === 0 ? 'master' : 'slave',
      node: this._drives[dev]?.name ?? '',
      operation,
      sector,
      action: 'report',
      reason: errorMessage(e),
    });
  }

  /** IDENTIFY DEVICE data (ATA-6 table "IDENTIFY DEVICE information"), into the buffer. */
  private _identify(dev: number): void {
    const s = this._s;
    const w = new Uint16Array(256);
    const g = this._geometry[dev];
    const total = Math.min(this._sectors[dev], LBA28_MAX);
    const str = (first: number, words: number, text: string): void => {
      // ATA strings: two characters a word, the first one in the high byte, space padded.
      const t = text.padEnd(words * 2, ' ').slice(0, words * 2);
      for (let i = 0; i < words; i++) w[first + i] = (t.charCodeAt(2 * i) << 8) | t.charCodeAt(2 * i + 1);
    };
    w[0] = 0x0040; // fixed (non-removable) ATA device
    w[1] = g.cyls;
    w[3] = g.heads;
    w[6] = g.secs;
    str(10, 10, `HV${this.id.toUpperCase().replace(/[^A-Z0-9]/g, '')}${dev}`.slice(0, 20));
    str(23, 4, '1.0');
    str(27, 20, 'HVMON HARDDISK');
    w[47] = 0x8000 | MAX_MULT; // READ/WRITE MULTIPLE: up to 16 sectors a block
    w[49] = 0x0200 | 0x0800; // LBA supported, IORDY supported
    w[50] = 0x4000;
    w[51] = 0x0200; // PIO timing mode 2 (obsolete field)
    w[53] = 0x0003; // words 54-58 and 64-70 valid
    const lh = s.lheads[dev];
    const ls = s.lsectors[dev];
    const lc = Math.min(65535, Math.floor(Math.min(this._sectors[dev], 16514064) / (lh * ls)));
    w[54] = lc;
    w[55] = lh;
    w[56] = ls;
    const cur = lc * lh * ls;
    w[57] = cur & 0xffff;
    w[58] = cur >>> 16;
    w[59] = s.multiple[dev] !== 0 ? 0x0100 | s.multiple[dev] : 0;
    w[60] = total & 0xffff;
    w[61] = total >>> 16;
    w[64] = 0x0003; // PIO modes 3 and 4
    w[65] = w[66] = w[67] = w[68] = 120; // cycle times, ns
    w[80] = 0x007e; // ATA-1 .. ATA-6
    w[82] = 0x0020; // volatile write cache supported
    w[83] = 0x4000 | 0x1000; // FLUSH CACHE supported
    w[84] = 0x4000;
    w[85] = s.wcache[dev] ? 0x0020 : 0;
    w[86] = 0x1000;
    w[87] = 0x4000;
    // Word 255: signature A5h and checksum, so that all 512 bytes sum to 0.
    w[255] = 0x00a5;
    let sum = 0;
    for (let i = 0; i < 255; i++) sum += (w[i] & 0xff) + (w[i] >>> 8);
    sum += 0xa5;
    w[255] |= ((-sum) & 0xff) << 8;
    for (let i = 0; i < 256; i++) {
      s.buf[2 * i] = w[i] & 0xff;
      s.buf[2 * i + 1] = w[i] >>> 8;
    }
  }

  // ---- monitor ---------------------------------------------------------------------------

  inspect(): Inspection {
    const s = this._s;
    const dev = this._dev;
    const st = this._statusValue();
    const err = this._present(dev) ? s.error[dev] : 0;
    const regs: RegisterView[] = [
      { name: 'Error', offset: AtaReg.ERROR, value: err, width: 8, bits: bitList(err, ERROR_BITS) },
      { name: 'Features', offset: AtaReg.ERROR, value: s.feature, width: 8 },
      { name: 'Sector Count', offset: AtaReg.NSECTOR, value: s.nsector, width: 8 },
      { name: 'LBA Low', offset: AtaReg.SECTOR, value: s.sector, width: 8, note: 'Sector Number in CHS mode' },
      { name: 'LBA Mid', offset: AtaReg.LCYL, value: s.lcyl, width: 8, note: 'Cylinder Low in CHS mode' },
      { name: 'LBA High', offset: AtaReg.HCYL, value: s.hcyl, width: 8, note: 'Cylinder High in CHS mode' },
      {
        name: 'Device', offset: AtaReg.SELECT, value: s.select, width: 8,
        bits: [
          { name: 'LBA', value: (s.select >> 6) & 1, meaning: s.select & AtaSelect.LBA ? 'LBA' : 'CHS' },
          { name: 'DEV', value: (s.select >> 4) & 1, meaning: dev ? 'device 1 (slave)' : 'device 0 (master)' },
          { name: 'HS3-HS0', value: s.select & AtaSelect.HEAD },
        ],
      },
      { name: 'Status', offset: AtaReg.STATUS, value: st, width: 8, bits: bitList(st, STATUS_BITS) },
      {
        name: 'Device Control', value: s.devctl, width: 8, note: 'control block',
        bits: bitList(s.devctl, [['HOB', AtaDevCtl.HOB], ['SRST', AtaDevCtl.SRST], ['nIEN', AtaDevCtl.NIEN]]),
      },
    ];
    for (let d = 0; d < 2; d++) {
      if (!this._present(d)) continue;
      regs.push({ name: `Status (device ${d})`, value: s.status[d], width: 8, bits: bitList(s.status[d], STATUS_BITS) });
      regs.push({ name: `Error (device ${d})`, value: s.error[d], width: 8, bits: bitList(s.error[d], ERROR_BITS) });
    }
    return {
      id: this.id,
      kind: this.kind,
      registers: regs,
      counters: {
        commands: s.commands, sectorsRead: s.sectorsRead, sectorsWritten: s.sectorsWritten,
        errors: s.errors, flushes: s.flushes, interrupts: s.interrupts,
      },
      extra: {
        iobase: this._iobase, iobase2: this._iobase2, irq: this._irqNum,
        intrq: s.irqPending && (s.devctl & AtaDevCtl.NIEN) === 0,
        drives: this._drives.map((d, i) => d === null ? null : {
          slot: i === 0 ? 'master' : 'slave',
          backend: d.name,
          sectors: this._sectors[i],
          chs: `${this._geometry[i].cyls}/${this._geometry[i].heads}/${this._geometry[i].secs}`,
          logicalGeometry: `${s.lheads[i]} heads, ${s.lsectors[i]} sectors/track`,
          readOnly: d.readOnly,
          multiple: s.multiple[i],
          writeCache: s.wcache[i] === 1,
        }),
        transfer: s.xfer === Xfer.NONE ? null : {
          command: COMMAND_NAMES[s.cmd] ?? `0x${s.cmd.toString(16)}`,
          direction: s.xfer === Xfer.IN ? 'in' : 'out',
          device: s.xferDev,
          bytesLeftInBlock: s.bufEnd - s.bufPos,
          nextLba: s.lba,
          sectorsLeft: s.remaining,
        },
      },
    };
  }
}
