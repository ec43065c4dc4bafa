// NE2000-compatible ISA network card: a National Semiconductor DP8390 network interface
// controller with 16 KiB of buffer RAM and a station-address PROM, reached through 32 ports.
//
// Reference: National Semiconductor DP8390D/NS32490D "NIC Network Interface Controller"
// datasheet: "Register Descriptions" (CR, ISR, IMR, DCR, TCR, TSR, RCR, RSR, page 0/1/2 maps),
// "Packet Reception" (buffer ring, PSTART/PSTOP/BNRY/CURR, the 4-byte receive header, buffer
// overflow), "Packet Transmission" (TPSR/TBCR, TXP), "Remote DMA" (RSAR/RBCR, remote read,
// remote write, send packet, RDC), "Address matching" (physical, broadcast, multicast hash over
// the CRC's upper 6 bits into MAR0-7, promiscuous), "Tally counters" (CNTR0-2, cleared when
// read, CNT interrupt at bit 7). NE2000 board conventions (Novell NE2000 / Linux ne.c): ports
// base+00h-0Fh are the DP8390, base+10h the remote DMA data port, base+1Fh the reset port
// (reading it resets the card); buffer RAM at 4000h-7FFFh of the NIC's address space; the
// 16-byte PROM at 0000h appears with every byte doubled (the word-wide board), MAC in bytes
// 0-5 and 57h 57h ("WW") in bytes 14-15.
//
// NOT modelled: the FIFO, DMA burst modes and the local DMA's timing (frames land in the ring
// at once), collisions, CRC generation and checking (the backend carries frames without FCS,
// so received frames are stored without it and the header's byte count is frame length + 4,
// as QEMU's ne2k_isa does; CNTR0/CNTR1 never count), the DCR byte-order bit (always 80x86
// order), 8-bit DMA width subtleties of the board (an access moves as many bytes as it is
// wide), send-packet beyond the header's length, and the 8019/8029 ID registers (page 0
// 0Ah/0Bh read as open bus). Frames shorter than 60 bytes are padded to 60 on receive, as a
// sender's MAC would have done on the wire. While ISR.OVW is set, incoming frames are dropped
// and tallied in CNTR2 until the driver clears it (its overflow recovery).
//
// Constructor (uniform across hvmon models): new Ne2000(id, props, ctx, backends), where
//   props    = { iobase = 0x300, irq = 9, mac = '52:54:00:12:34:56' }
//   backends = { net?: NetBackend | null }

import type { DeviceContext, DeviceModel, Inspection, IrqLine, NetBackend, PropValue, RegisterView } from '../../common/device.js';
import { BackendError, errorMessage } from '../../common/errors.js';
import type { MappedRegion } from '../../common/io.js';
import type { AccessSize } from '../../common/types.js';
import { type DeviceState, type FieldDecl, type StateDesc, loadState, saveState } from '../../common/vmstate.js';

/** Register offsets (the same offset means different registers per page and direction). */
const enum Reg {
  /** CR: command register (all pages). */
  CR = 0x00,
  /** Page 0 write PSTART / page 1 PAR0 / page 0 read CLDA0. */
  PSTART = 0x01,
  /** Page 0 write PSTOP / page 0 read CLDA1. */
  PSTOP = 0x02,
  /** BNRY: boundary pointer (page 0). */
  BNRY = 0x03,
  /** Page 0 write TPSR / read TSR. */
  TPSR = 0x04,
  /** Page 0 write TBCR0 / read NCR. */
  TBCR0 = 0x05,
  /** Page 0 write TBCR1 / read FIFO. */
  TBCR1 = 0x06,
  /** ISR: interrupt status (page 0); CURR on page 1. */
  ISR = 0x07,
  /** Page 0 write RSAR0 / read CRDA0. */
  RSAR0 = 0x08,
  /** Page 0 write RSAR1 / read CRDA1. */
  RSAR1 = 0x09,
  /** Page 0 write RBCR0. */
  RBCR0 = 0x0a,
  /** Page 0 write RBCR1. */
  RBCR1 = 0x0b,
  /** Page 0 write RCR / read RSR. */
  RCR = 0x0c,
  /** Page 0 write TCR / read CNTR0. */
  TCR = 0x0d,
  /** Page 0 write DCR / read CNTR1. */
  DCR = 0x0e,
  /** Page 0 write IMR / read CNTR2. */
  IMR = 0x0f,
  /** NE2000 remote DMA data port. */
  DATA = 0x10,
  /** NE2000 reset port. */
  RESET = 0x1f,
}

/** CR bits. */
const enum Cr {
  /** STP: stop. */
  STP = 0x01,
  /** STA: start. */
  STA = 0x02,
  /** TXP: transmit packet. */
  TXP = 0x04,
  /** RD2-RD0: remote DMA command. */
  RD = 0x38,
  /** RD = 001: remote read. */
  RD_READ = 0x08,
  /** RD = 010: remote write. */
  RD_WRITE = 0x10,
  /** RD = 011: send packet. */
  RD_SEND = 0x18,
  /** RD = 1xx: abort/complete remote DMA. */
  RD_ABORT = 0x20,
  /** PS1-PS0: register page select. */
  PS = 0xc0,
}

/** ISR / IMR bits. */
const enum Isr {
  /** PRX: packet received. */
  PRX = 0x01,
  /** PTX: packet transmitted. */
  PTX = 0x02,
  /** RXE: receive error. */
  RXE = 0x04,
  /** TXE: transmit error. */
  TXE = 0x08,
  /** OVW: receive buffer ring overwrite warning. */
  OVW = 0x10,
  /** CNT: a tally counter's MSB is set. */
  CNT = 0x20,
  /** RDC: remote DMA complete. */
  RDC = 0x40,
  /** RST: reset status (not an interrupt). */
  RST = 0x80,
}

/** RCR bits. */
const enum Rcr {
  /** SEP: save errored packets. */
  SEP = 0x01,
  /** AR: accept runt packets. */
  AR = 0x02,
  /** AB: accept broadcast. */
  AB = 0x04,
  /** AM: accept multicast (hashed through MAR0-7). */
  AM = 0x08,
  /** PRO: promiscuous physical. */
  PRO = 0x10,
  /** MON: monitor mode (check, count, do not buffer). */
  MON = 0x20,
}

/** RSR bits. */
const enum Rsr {
  /** PRX: packet received intact. */
  PRX = 0x01,
  /** CRC: CRC error. */
  CRC = 0x02,
  /** FAE: frame alignment error. */
  FAE = 0x04,
  /** FO: FIFO overrun. */
  FO = 0x08,
  /** MPA: missed packet. */
  MPA = 0x10,
  /** PHY: physical (0) or multicast/broadcast (1) address. */
  PHY = 0x20,
  /** DIS: receiver disabled (monitor mode). */
  DIS = 0x40,
  /** DFR: deferring. */
  DFR = 0x80,
}

/** TSR bits. */
const enum Tsr {
  /** PTX: packet transmitted. */
  PTX = 0x01,
  /** COL: transmit collided. */
  COL = 0x04,
  /** ABT: transmit aborted. */
  ABT = 0x08,
  /** CRS: carrier sense lost. */
  CRS = 0x10,
  /** FU: FIFO underrun. */
  FU = 0x20,
  /** CDH: CD heartbeat. */
  CDH = 0x40,
  /** OWC: out of window collision. */
  OWC = 0x80,
}

/** DCR bits. */
const enum Dcr {
  /** WTS: word transfer select. */
  WTS = 0x01,
  /** BOS: byte order select. */
  BOS = 0x02,
  /** LAS: long address select. */
  LAS = 0x04,
  /** LS: loopback select (0 = loopback, 1 = normal). */
  LS = 0x08,
  /** ARM: auto-initialize remote. */
  ARM = 0x10,
  /** FT1-FT0: FIFO threshold. */
  FT = 0x60,
}

/** TCR bits. */
const enum Tcr {
  /** CRC: inhibit CRC. */
  CRC = 0x01,
  /** LB1-LB0: loopback mode. */
  LB = 0x06,
  /** ATD: auto transmit disable. */
  ATD = 0x08,
  /** OFST: collision offset enable. */
  OFST = 0x10,
}

const RAM_START = 0x4000;
const RAM_SIZE = 0x4000;
const PROM_SIZE = 32;
const MIN_FRAME = 60;

interface Ne2kState {
  cr: number;
  isr: number;
  imr: number;
  dcr: number;
  tcr: number;
  rcr: number;
  rsr: number;
  tsr: number;
  ncr: number;
  pstart: number;
  pstop: number;
  bnry: number;
  curr: number;
  tpsr: number;
  tbcr: number;
  rsar: number;
  rbcr: number;
  clda: number;
  rnpp: number;
  lnpp: number;
  ac: number;
  par: Uint8Array;
  mar: Uint8Array;
  cntr: Uint8Array;
  ram: Uint8Array;
  txFrames: number;
  txBytes: number;
  txErrors: number;
  rxFrames: number;
  rxBytes: number;
  rxFiltered: number;
  rxMissed: number;
  rxOverflows: number;
}

const u8 = (name: string): FieldDecl => ({ name, type: 'u8' });
const u16 = (name: string): FieldDecl => ({ name, type: 'u16' });
const u32 = (name: string): FieldDecl => ({ name, type: 'u32' });

const STATE: StateDesc = {
  name: 'ne2000',
  version: 1,
  fields: [
    u8('cr'), u8('isr'), u8('imr'), u8('dcr'), u8('tcr'), u8('rcr'), u8('rsr'), u8('tsr'), u8('ncr'),
    u8('pstart'), u8('pstop'), u8('bnry'), u8('curr'), u8('tpsr'),
    u16('tbcr'), u16('rsar'), u16('rbcr'), u16('clda'), u8('rnpp'), u8('lnpp'), u16('ac'),
    { name: 'par', type: 'u8[]' }, { name: 'mar', type: 'u8[]' }, { name: 'cntr', type: 'u8[]' },
    { name: 'ram', type: 'bytes' },
    u32('txFrames'), { name: 'txBytes', type: 'f64' }, u32('txErrors'), u32('rxFrames'), { name: 'rxBytes', type: 'f64' },
    u32('rxFiltered'), u32('rxMissed'), u32('rxOverflows'),
  ],
};

function numProp(props: Readonly<Record<string, PropValue>>, name: string, def: number): number {
  const v = props[name];
  return typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : def;
}

/** "52:54:00:12:34:56" → bytes; throws on anything else. */
export function parseMac(s: string): Uint8Array {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(s.trim());
  if (!m) throw new Error(`not a MAC address: ${s} (want xx:xx:xx:xx:xx:xx)`);
  return Uint8Array.from(m.slice(1, 7), (x) => parseInt(x, 16));
}

function macString(b: ArrayLike<number>): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The DP8390's multicast hash: the upper 6 bits of the Ethernet CRC-32 of the address (MSB-first register, bits in wire order). */
export function multicastHashIndex(addr: ArrayLike<number>): number {
  let crc = 0xffffffff;
  for (let i = 0; i < 6; i++) {
    let b = addr[i];
    for (let k = 0; k < 8; k++, b >>= 1) {
      const carry = (crc >>> 31) ^ (b & 1);
      crc = (crc << 1) >>> 0;
      if (carry) crc = (crc ^ 0x04c11db7) >>> 0;
    }
  }
  return crc >>> 26;
}

function bitList(v: number, names: [string, number][]): { name: string; value: number }[] {
  return names.map(([name, mask]) => ({ name, value: (v & mask) !== 0 ? 1 : 0 }));
}

const ISR_BITS: [string, number][] = [['RST', Isr.RST], ['RDC', Isr.RDC], ['CNT', Isr.CNT], ['OVW', Isr.OVW],
  ['TXE', Isr.TXE], ['RXE', Isr.RXE], ['PTX', Isr.PTX], ['PRX', Isr.PRX]];
const RSR_BITS: [string, number][] = [['DFR', Rsr.DFR], ['DIS', Rsr.DIS], ['PHY', Rsr.PHY], ['MPA', Rsr.MPA],
  ['FO', Rsr.FO], ['FAE', Rsr.FAE], ['CRC', Rsr.CRC], ['PRX', Rsr.PRX]];
const TSR_BITS: [string, number][] = [['OWC', Tsr.OWC], ['CDH', Tsr.CDH], ['FU', Tsr.FU], ['CRS', Tsr.CRS],
  ['ABT', Tsr.ABT], ['COL', Tsr.COL], ['PTX', Tsr.PTX]];

const PAGE_NAMES: { read: string[]; write: string[] }[] = [
  {
    read: ['CR', 'CLDA0', 'CLDA1', 'BNRY', 'TSR', 'NCR', 'FIFO', 'ISR', 'CRDA0', 'CRDA1', '', '', 'RSR', 'CNTR0', 'CNTR1', 'CNTR2'],
    write: ['CR', 'PSTART', 'PSTOP', 'BNRY', 'TPSR', 'TBCR0', 'TBCR1', 'ISR', 'RSAR0', 'RSAR1', 'RBCR0', 'RBCR1', 'RCR', 'TCR', 'DCR', 'IMR'],
  },
  {
    read: ['CR', 'PAR0', 'PAR1', 'PAR2', 'PAR3', 'PAR4', 'PAR5', 'CURR', 'MAR0', 'MAR1', 'MAR2', 'MAR3', 'MAR4', 'MAR5', 'MAR6', 'MAR7'],
    write: ['CR', 'PAR0', 'PAR1', 'PAR2', 'PAR3', 'PAR4', 'PAR5', 'CURR', 'MAR0', 'MAR1', 'MAR2', 'MAR3', 'MAR4', 'MAR5', 'MAR6', 'MAR7'],
  },
  {
    read: ['CR', 'PSTART', 'PSTOP', 'RNPP', 'TPSR', 'LNPP', 'AC1', 'AC0', '', '', '', '', 'RCR', 'TCR', 'DCR', 'IMR'],
    write: ['CR', 'CLDA0', 'CLDA1', 'RNPP', '', 'LNPP', 'AC1', 'AC0', '', '', '', '', '', '', '', ''],
  },
];

export class Ne2000 implements DeviceModel {
  readonly kind = 'ne2000';
  private readonly _s: Ne2kState;
  private readonly _prom = new Uint8Array(PROM_SIZE);
  private readonly _mac: Uint8Array;
  private readonly _iobase: number;
  private readonly _irqNum: number;
  private readonly _irq: IrqLine;
  private readonly _net: NetBackend | null;
  private readonly _regions: MappedRegion[];

  constructor(
    readonly id: string,
    readonly props: Readonly<Record<string, PropValue>>,
    private readonly _ctx: DeviceContext,
    backends: { net?: NetBackend | null } = {},
  ) {
    this._iobase = numProp(props, 'iobase', 0x300);
    this._irqNum = numProp(props, 'irq', 9);
    this._irq = _ctx.irq(this._irqNum);
    this._mac = parseMac(typeof props.mac === 'string' ? props.mac : '52:54:00:12:34:56');
    // The PROM: MAC, then 57h 57h at bytes 14-15; the word-wide board shows each byte twice.
    const prom16 = new Uint8Array(16);
    prom16.set(this._mac);
    prom16[14] = prom16[15] = 0x57;
    for (let i = 0; i < 16; i++) this._prom[2 * i] = this._prom[2 * i + 1] = prom16[i];
    this._s = {
      cr: 0, isr: 0, imr: 0, dcr: 0, tcr: 0, rcr: 0, rsr: 0, tsr: 0, ncr: 0,
      pstart: 0, pstop: 0, bnry: 0, curr: 0, tpsr: 0, tbcr: 0, rsar: 0, rbcr: 0, clda: 0, rnpp: 0, lnpp: 0, ac: 0,
      par: new Uint8Array(6), mar: new Uint8Array(8), cntr: new Uint8Array(3), ram: new Uint8Array(RAM_SIZE),
      txFrames: 0, txBytes: 0, txErrors: 0, rxFrames: 0, rxBytes: 0, rxFiltered: 0, rxMissed: 0, rxOverflows: 0,
    };
    this._net = backends.net ?? null;
    this._net?.setReceiveHandler((f) => this.receive(f));
    this._regions = [{
      base: this._iobase,
      region: {
        name: this.id, space: 'pio', size: 0x20,
        ops: {
          read: (o, size) => this._read(o, size),
          write: (o, size, v) => this._write(o, size, v),
          readRep: (o, size, count, into) => {
            if (o === Reg.DATA) return this._dmaRead(into.subarray(0, size * count));
            for (let i = 0; i < size * count; i++) into[i] = this._readReg(o + (i % size));
          },
          writeRep: (o, size, count, from) => {
            if (o === Reg.DATA) return this._dmaWrite(from.subarray(0, size * count));
            for (let i = 0; i < size * count; i++) this._writeReg(o + (i % size), from[i]);
          },
        },
        // Static names (hosts cache them per offset): page 0's register, then page 1's when it differs.
        registerName: (o, dir) => {
          if (o === Reg.DATA) return 'Data';
          if (o === Reg.RESET) return 'Reset';
          if (o >= 0x10) return undefined;
          const names = [PAGE_NAMES[0][dir][o], PAGE_NAMES[1][dir][o]].filter((n, i, a) => n && a.indexOf(n) === i);
          return names.length ? names.join('/') : undefined;
        },
      },
    }];
    this.reset();
  }

  regions(): MappedRegion[] {
    return this._regions;
  }

  /** Hardware reset: stopped, remote DMA aborted, RST set, everything else cleared. */
  reset(): void {
    const s = this._s;
    s.cr = Cr.STP | Cr.RD_ABORT;
    s.isr = Isr.RST;
    s.imr = s.dcr = s.tcr = s.rcr = s.rsr = s.tsr = s.ncr = 0;
    s.pstart = s.pstop = s.bnry = s.curr = s.tpsr = 0;
    s.tbcr = s.rsar = s.rbcr = s.clda = s.rnpp = s.lnpp = s.ac = 0;
    s.par.fill(0);
    s.mar.fill(0);
    s.cntr.fill(0);
    s.ram.fill(0);
    s.txFrames = s.txBytes = s.txErrors = s.rxFrames = s.rxBytes = s.rxFiltered = s.rxMissed = s.rxOverflows = 0;
    this._updateIrq();
  }

  snapshot(): DeviceState {
    return saveState(STATE, this._s);
  }

  restore(st: DeviceState): void {
    loadState(STATE, this._s, st);
    this._updateIrq();
  }

  destroy(): void {
    this._net?.setReceiveHandler(null);
  }

  private _updateIrq(): void {
    this._irq.set((this._s.isr & this._s.imr & 0x7f) !== 0);
  }

  // ---- ports ------------------------------------------------------------------------------

  private _read(o: number, size: AccessSize): number {
    if (o === Reg.DATA) {
      const b = new Uint8Array(size);
      this._dmaRead(b);
      let v = 0;
      for (let i = size - 1; i >= 0; i--) v = (v << 8) | b[i];
      return v >>> 0;
    }
    let v = 0;
    for (let i = 0; i < size; i++) v |= this._readReg(o + i) << (8 * i);
    return v >>> 0;
  }

  private _write(o: number, size: AccessSize, v: number): void {
    if (o === Reg.DATA) {
      const b = new Uint8Array(size);
      for (let i = 0; i < size; i++) b[i] = (v >>> (8 * i)) & 0xff;
      this._dmaWrite(b);
      return;
    }
    for (let i = 0; i < size; i++) this._writeReg(o + i, (v >>> (8 * i)) & 0xff);
  }

  private _readReg(o: number): number {
    const s = this._s;
    if (o === Reg.RESET) {
      // The NE2000 reset port: reading it resets the card (drivers write the value back).
      this._boardReset();
      return 0;
    }
    if (o >= 0x10) return o === Reg.DATA ? this._read(o, 1) : 0xff;
    if (o === Reg.CR) return s.cr;
    switch ((s.cr & Cr.PS) >> 6) {
      case 0:
        switch (o) {
          case Reg.PSTART: return s.clda & 0xff;
          case Reg.PSTOP: return s.clda >> 8;
          case Reg.BNRY: return s.bnry;
          case Reg.TPSR: return s.tsr;
          case Reg.TBCR0: return s.ncr;
          case Reg.TBCR1: return 0; // FIFO: only meaningful after loopback
          case Reg.ISR: return s.isr;
          case Reg.RSAR0: return s.rsar & 0xff; // CRDA0
          case Reg.RSAR1: return s.rsar >> 8; // CRDA1
          case Reg.RCR: return s.rsr;
          case Reg.TCR: case Reg.DCR: case Reg.IMR: {
            // Tally counters are cleared by reading them.
            const i = o - Reg.TCR;
            const v = s.cntr[i];
            s.cntr[i] = 0;
            this._updateCnt();
            return v;
          }
        }
        return 0xff;
      case 1:
        if (o <= 6) return s.par[o - 1];
        if (o === Reg.ISR) return s.curr;
        return s.mar[o - 8];
      case 2:
        switch (o) {
          case Reg.PSTART: return s.pstart;
          case Reg.PSTOP: return s.pstop;
          case Reg.BNRY: return s.rnpp;
          case Reg.TPSR: return s.tpsr;
          case Reg.TBCR0: return s.lnpp;
          case Reg.TBCR1: return s.ac >> 8;
          case Reg.ISR: return s.ac & 0xff;
          case Reg.RCR: return s.rcr | 0xc0;
          case Reg.TCR: return s.tcr | 0xe0;
          case Reg.DCR: return s.dcr | 0x80;
          case Reg.IMR: return s.imr | 0x80;
        }
        return 0xff;
    }
    return 0xff;
  }

  private _writeReg(o: number, v: number): void {
    const s = this._s;
    if (o >= 0x10) {
      if (o === Reg.DATA) this._write(o, 1, v);
      return;
    }
    if (o === Reg.CR) return this._writeCr(v);
    switch ((s.cr & Cr.PS) >> 6) {
      case 0:
        switch (o) {
          case Reg.PSTART: s.pstart = v; return;
          case Reg.PSTOP: s.pstop = v; return;
          case Reg.BNRY: s.bnry = v; return;
          case Reg.TPSR: s.tpsr = v; return;
          case Reg.TBCR0: s.tbcr = (s.tbcr & 0xff00) | v; return;
          case Reg.TBCR1: s.tbcr = (s.tbcr & 0xff) | (v << 8); return;
          case Reg.ISR:
            // Writing 1 to a bit acknowledges it.
            s.isr &= ~v;
            this._updateIrq();
            return;
          case Reg.RSAR0: s.rsar = (s.rsar & 0xff00) | v; return;
          case Reg.RSAR1: s.rsar = (s.rsar & 0xff) | (v << 8); return;
          case Reg.RBCR0: s.rbcr = (s.rbcr & 0xff00) | v; return;
          case Reg.RBCR1: s.rbcr = (s.rbcr & 0xff) | (v << 8); return;
          case Reg.RCR: s.rcr = v & 0x3f; return;
          case Reg.TCR: s.tcr = v & 0x1f; return;
          case Reg.DCR: s.dcr = v & 0x7f; return;
          case Reg.IMR:
            s.imr = v & 0x7f;
            this._updateIrq();
            return;
        }
        return;
      case 1:
        if (o <= 6) s.par[o - 1] = v;
        else if (o === Reg.ISR) s.curr = v;
        else s.mar[o - 8] = v;
        return;
      case 2:
        switch (o) {
          case Reg.PSTART: s.clda = (s.clda & 0xff00) | v; return;
          case Reg.PSTOP: s.clda = (s.clda & 0xff) | (v << 8); return;
          case Reg.BNRY: s.rnpp = v; return;
          case Reg.TBCR0: s.lnpp = v; return;
          case Reg.TBCR1: s.ac = (s.ac & 0xff) | (v << 8); return;
          case Reg.ISR: s.ac = (s.ac & 0xff00) | v; return;
        }
        return;
    }
  }

  private _writeCr(v: number): void {
    const s = this._s;
    let cr = (s.cr & (Cr.STP | Cr.STA | Cr.TXP)) | (v & (Cr.PS | Cr.RD));
    if (v & Cr.STP) {
      // Stop: the NIC goes off line and says so in ISR.RST.
      cr = (cr & ~Cr.STA) | Cr.STP;
      s.isr |= Isr.RST;
    } else if (v & Cr.STA) {
      cr = (cr & ~Cr.STP) | Cr.STA;
      s.isr &= ~Isr.RST;
    }
    s.cr = cr;
    const rd = v & Cr.RD;
    if (rd === Cr.RD_SEND) {
      // Send Packet: a remote read of the packet at BNRY, its length from the header.
      s.rsar = s.bnry << 8;
      s.rbcr = this._memRead(s.rsar + 2) | (this._memRead(s.rsar + 3) << 8);
      s.cr = (s.cr & ~Cr.RD) | Cr.RD_READ;
    }
    if ((rd === Cr.RD_READ || rd === Cr.RD_WRITE || rd === Cr.RD_SEND) && s.rbcr === 0) {
      // A remote DMA of zero bytes is complete at once.
      s.isr |= Isr.RDC;
    }
    if ((v & Cr.TXP) && (s.cr & Cr.STA)) this._transmit();
    this._updateIrq();
  }

  /** Reset port: stop, abort remote DMA, RST set, interrupts masked. */
  private _boardReset(): void {
    const s = this._s;
    s.cr = Cr.STP | Cr.RD_ABORT;
    s.isr |= Isr.RST;
    s.imr = 0;
    this._updateIrq();
  }

  // ---- buffer memory and remote DMA ---------------------------------------------------------

  private _memRead(addr: number): number {
    addr &= 0xffff;
    if (addr < PROM_SIZE) return this._prom[addr];
    if (addr >= RAM_START && addr < RAM_START + RAM_SIZE) return this._s.ram[addr - RAM_START];
    return 0xff;
  }

  private _memWrite(addr: number, v: number): void {
    addr &= 0xffff;
    if (addr >= RAM_START && addr < RAM_START + RAM_SIZE) this._s.ram[addr - RAM_START] = v;
  }

  /** Advances the remote DMA address, wrapping from PSTOP to PSTART like the ring. */
  private _dmaStep(): void {
    const s = this._s;
    s.rsar = (s.rsar + 1) & 0xffff;
    if (s.pstop > s.pstart && s.rsar === s.pstop << 8) s.rsar = s.pstart << 8;
    if (s.rbcr > 0 && --s.rbcr === 0) {
      s.isr |= Isr.RDC;
      this._updateIrq();
    }
  }

  private _dmaRead(into: Uint8Array): void {
    for (let i = 0; i < into.length; i++) {
      into[i] = this._memRead(this._s.rsar);
      this._dmaStep();
    }
  }

  private _dmaWrite(from: Uint8Array): void {
    for (let i = 0; i < from.length; i++) {
      this._memWrite(this._s.rsar, from[i]);
      this._dmaStep();
    }
  }

  // ---- transmit -----------------------------------------------------------------------------

  private _transmit(): void {
    const s = this._s;
    const len = s.tbcr;
    const frame = new Uint8Array(len);
    for (let i = 0; i < len; i++) frame[i] = this._memRead((s.tpsr << 8) + i);
    s.cr &= ~Cr.TXP;
    s.ncr = 0;
    if (s.tcr & Tcr.LB) {
      // Loopback: the frame never reaches the wire; the receiver sees it.
      s.tsr = Tsr.PTX;
      s.isr |= Isr.PTX;
      this._receiveFrame(frame);
      return;
    }
    try {
      this._net?.send(frame);
    } catch (e) {
      if (!(e instanceof BackendError)) throw e;
      s.tsr = Tsr.ABT;
      s.isr |= Isr.TXE;
      s.txErrors++;
      this._ctx.event('NET_TX_ERROR', { device: this.id, backend: this._net?.name ?? '', reason: errorMessage(e) });
      return;
    }
    s.tsr = Tsr.PTX;
    s.isr |= Isr.PTX;
    s.txFrames++;
    s.txBytes += len;
  }

  // ---- receive ------------------------------------------------------------------------------

  /** A frame from the wire (the NetBackend's receive handler calls this). */
  receive(frame: Uint8Array): void {
    this._receiveFrame(frame);
    this._updateIrq();
  }

  private _accepts(f: Uint8Array): boolean {
    const s = this._s;
    if (s.rcr & Rcr.PRO) return true;
    if (f[0] & 1) {
      if (f[0] === 0xff && f[1] === 0xff && f[2] === 0xff && f[3] === 0xff && f[4] === 0xff && f[5] === 0xff) {
        return (s.rcr & Rcr.AB) !== 0;
      }
      if ((s.rcr & Rcr.AM) === 0) return false;
      const h = multicastHashIndex(f);
      return ((s.mar[h >> 3] >> (h & 7)) & 1) !== 0;
    }
    for (let i = 0; i < 6; i++) if (f[i] !== s.par[i]) return false;
    return true;
  }

  private _missed(): void {
    const s = this._s;
    s.rxMissed++;
    if (s.cntr[2] < 0xff) s.cntr[2]++;
    this._updateCnt();
  }

  private _updateCnt(): void {
    const s = this._s;
    if ((s.cntr[0] | s.cntr[1] | s.cntr[2]) & 0x80) s.isr |= Isr.CNT;
    this._updateIrq();
  }

  private _receiveFrame(input: Uint8Array): void {
    const s = this._s;
    if ((s.cr & Cr.STP) || !(s.cr & Cr.STA)) return;
    let f = input;
    if (f.length < 6) return;
    if (f.length < MIN_FRAME) {
      f = new Uint8Array(MIN_FRAME);
      f.set(input);
    }
    if (!this._accepts(f)) {
      s.rxFiltered++;
      return;
    }
    const multi = (f[0] & 1) !== 0;
    if (s.rcr & Rcr.MON) {
      // Monitor mode: checked and tallied, not buffered.
      s.rsr = Rsr.PRX | Rsr.DIS | (multi ? Rsr.PHY : 0);
      this._missed();
      return;
    }
    // While the driver has not dealt with an overflow, nothing more goes into the ring.
    if (s.isr & Isr.OVW) {
      s.rsr = Rsr.MPA;
      this._missed();
      return;
    }
    const ringPages = s.pstop - s.pstart;
    if (ringPages <= 0 || s.curr < s.pstart || s.curr >= s.pstop) {
      s.rsr = Rsr.MPA;
      this._missed();
      return;
    }
    const total = f.length + 4;
    const pages = Math.ceil(total / 256);
    // The local DMA checks each new page against BNRY: running into it is an overflow.
    let overflow = pages > ringPages;
    for (let k = 1; k < pages && !overflow; k++) {
      if (s.pstart + ((s.curr - s.pstart + k) % ringPages) === s.bnry) overflow = true;
    }
    if (overflow) {
      s.isr |= Isr.OVW;
      s.rsr = Rsr.MPA;
      s.rxOverflows++;
      this._missed();
      return;
    }
    const next = s.pstart + ((s.curr - s.pstart + pages) % ringPages);
    const status = Rsr.PRX | (multi ? Rsr.PHY : 0);
    const header = [status, next, total & 0xff, total >> 8];
    let addr = s.curr << 8;
    const put = (b: number) => {
      this._memWrite(addr, b);
      addr++;
      if (addr >= s.pstop << 8) addr = s.pstart << 8;
    };
    for (const b of header) put(b);
    for (let i = 0; i < f.length; i++) put(f[i]);
    s.clda = addr;
    s.curr = next;
    s.rsr = status;
    s.isr |= Isr.PRX;
    s.rxFrames++;
    s.rxBytes += f.length;
  }

  // ---- monitor ------------------------------------------------------------------------------

  inspect(): Inspection {
    const s = this._s;
    const page = (s.cr & Cr.PS) >> 6;
    const rd = (s.cr & Cr.RD) >> 3;
    const rdName = rd & 4 ? 'abort/complete' : ['not allowed', 'remote read', 'remote write', 'send packet'][rd];
    const r8 = (name: string, value: number, offset?: number, note?: string): RegisterView => ({ name, value, width: 8, offset, note });
    const used = s.pstop > s.pstart ? (s.curr - s.bnry - 1 + (s.pstop - s.pstart)) % (s.pstop - s.pstart) : 0;
    const registers: RegisterView[] = [
      {
        name: 'CR', offset: Reg.CR, value: s.cr, width: 8,
        bits: [
          { name: 'PS', value: page, meaning: `page ${page}` },
          { name: 'RD', value: rd, meaning: rdName },
          ...bitList(s.cr, [['TXP', Cr.TXP], ['STA', Cr.STA], ['STP', Cr.STP]]),
        ],
      },
      { name: 'ISR', offset: Reg.ISR, value: s.isr, width: 8, bits: bitList(s.isr, ISR_BITS) },
      { name: 'IMR', value: s.imr, width: 8, note: 'page 0 write 0Fh', bits: bitList(s.imr, ISR_BITS.slice(1)) },
      {
        name: 'DCR', value: s.dcr, width: 8, note: 'page 0 write 0Eh',
        bits: [{ name: 'FT', value: (s.dcr & Dcr.FT) >> 5 }, ...bitList(s.dcr, [['ARM', Dcr.ARM], ['LS', Dcr.LS], ['LAS', Dcr.LAS], ['BOS', Dcr.BOS], ['WTS', Dcr.WTS]])],
      },
      {
        name: 'TCR', value: s.tcr, width: 8, note: 'page 0 write 0Dh',
        bits: [...bitList(s.tcr, [['OFST', Tcr.OFST], ['ATD', Tcr.ATD]]), { name: 'LB', value: (s.tcr & Tcr.LB) >> 1, meaning: ['normal', 'internal loopback', 'external loopback', 'external loopback'][(s.tcr & Tcr.LB) >> 1] }, ...bitList(s.tcr, [['CRC', Tcr.CRC]])],
      },
      {
        name: 'RCR', value: s.rcr, width: 8, note: 'page 0 write 0Ch',
        bits: bitList(s.rcr, [['MON', Rcr.MON], ['PRO', Rcr.PRO], ['AM', Rcr.AM], ['AB', Rcr.AB], ['AR', Rcr.AR], ['SEP', Rcr.SEP]]),
      },
      { name: 'RSR', value: s.rsr, width: 8, note: 'page 0 read 0Ch', bits: bitList(s.rsr, RSR_BITS) },
      { name: 'TSR', value: s.tsr, width: 8, note: 'page 0 read 04h', bits: bitList(s.tsr, TSR_BITS) },
      r8('PSTART', s.pstart, undefined, 'page start'),
      r8('PSTOP', s.pstop, undefined, 'page stop'),
      r8('BNRY', s.bnry, Reg.BNRY, 'boundary'),
      r8('CURR', s.curr, undefined, 'current page (page 1 07h)'),
      r8('TPSR', s.tpsr, undefined, 'transmit page start'),
      { name: 'TBCR', value: s.tbcr, width: 16, note: 'transmit byte count' },
      { name: 'RSAR', value: s.rsar, width: 16, note: 'remote start address (reads back as CRDA)' },
      { name: 'RBCR', value: s.rbcr, width: 16, note: 'remote byte count' },
      { name: 'CLDA', value: s.clda, width: 16, note: 'current local DMA address' },
      r8('NCR', s.ncr),
      r8('CNTR0', s.cntr[0], undefined, 'frame alignment errors'),
      r8('CNTR1', s.cntr[1], undefined, 'CRC errors'),
      r8('CNTR2', s.cntr[2], undefined, 'missed packets'),
    ];
    for (let i = 0; i < 6; i++) registers.push(r8(`PAR${i}`, s.par[i], undefined, 'page 1'));
    for (let i = 0; i < 8; i++) registers.push(r8(`MAR${i}`, s.mar[i], undefined, 'page 1'));
    return {
      id: this.id,
      kind: this.kind,
      registers,
      counters: {
        txFrames: s.txFrames, txBytes: s.txBytes, txErrors: s.txErrors, rxFrames: s.rxFrames, rxBytes: s.rxBytes,
        rxFiltered: s.rxFiltered, rxMissed: s.rxMissed, rxOverflows: s.rxOverflows,
      },
      extra: {
        iobase: this._iobase, irq: this._irqNum,
        prom: macString(this._mac),
        par: macString(s.par),
        backend: this._net?.name ?? null,
        ringPagesInUse: used,
      },
    };
  }
}
