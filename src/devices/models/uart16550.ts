// National Semiconductor PC16550D UART with FIFOs (the "16550A" of PC serial ports).
//
// Reference: PC16550D datasheet (National Semiconductor, 1995), section 8 "Registers":
// 8.1 LCR, 8.2 programmable baud generator (DLL/DLM), 8.3 LSR, 8.4 FIFO operation, 8.5 IIR,
// 8.6 IER, 8.7 MCR (including loopback), 8.8 MSR, 8.9 scratchpad, 8.10 FCR; table IV
// "Interrupt Control Functions" (priorities and reset conditions); the IBM PC serial adapter
// convention that MCR OUT2 enables the interrupt driver onto the ISA IRQ line.
//
// Interrupt sources in priority order (IIR): receiver line status (OE/PE/FE/BI) > received
// data available (trigger level reached) = character timeout (FIFO mode: data waiting, none
// received or read for 4 character times) > THR empty > modem status. The THRE interrupt is
// reset by reading IIR (when it is the source shown) or by writing THR, and it is raised
// again when the transmitter empties or when IER is written with ETBEI set while THR is empty
// (Linux's 8250 driver probes exactly this).
//
// Timing, on the device-model clock:
//  - receive: bytes from the backend travel "on the wire": one arrives per character time
//    at the programmed baud rate and frame (start + data + parity + stop bits). While the
//    receive FIFO (RBR in 16450 mode) is full the wire holds its next byte back until the
//    guest reads one, as QEMU's serial device asks its chardev for no more than it has room
//    for: host input is never lost because the guest ran slowly or was paused in the debugger.
//    (Overruns still happen in loopback, where the guest itself outpaces its reads.) The wire
//    holds up to 64 KiB; beyond that host input is dropped and counted.
//  - transmit: each byte goes to the backend when written; the transmitter then stays busy
//    for TX_CHAR_NS (1 µs, not the baud rate, so output is not throttled). THRE and TEMT are
//    clear while it is busy and the THRE interrupt comes when it empties, so THRE is a real
//    edge on the IRQ line.
//
// Not modelled: parity, framing and break errors on received bytes (PE/FE/BI and LSR bit 7
// stay 0 unless a test injects them), transmitting a break (LCR bit 6 is stored only), the
// separate TEMT delay of the transmit shift register (THRE and TEMT change together), DMA
// mode signalling (FCR bit 3 stored only), flow control (RTS/CTS do not pace the wire), the
// baud rate's effect on transmit time, and the RCLK/BAUDOUT pins.

import type { CharBackend, DeviceContext, DeviceModel, Inspection, IrqLine, PropValue, RegisterView, Timer } from '../../common/device.js';
import type { IoRegion, MappedRegion } from '../../common/io.js';
import type { DeviceState, StateDesc } from '../../common/vmstate.js';
import { loadState, saveState } from '../../common/vmstate.js';

/** Register offsets (A2-A0); which register answers depends on DLAB and direction. */
export const enum UartReg {
  /** RBR Receiver Buffer (read), THR Transmitter Holding (write), DLL Divisor Latch LSB (DLAB = 1). */
  RBR_THR = 0,
  /** IER Interrupt Enable, DLM Divisor Latch MSB (DLAB = 1). */
  IER = 1,
  /** IIR Interrupt Identification (read), FCR FIFO Control (write). */
  IIR_FCR = 2,
  /** LCR Line Control. */
  LCR = 3,
  /** MCR Modem Control. */
  MCR = 4,
  /** LSR Line Status. */
  LSR = 5,
  /** MSR Modem Status. */
  MSR = 6,
  /** SCR Scratch. */
  SCR = 7,
}

/** IER bits. */
export const enum Ier {
  /** ERBFI: Enable Received Data Available Interrupt (and character timeout). */
  ERBFI = 0x01,
  /** ETBEI: Enable Transmitter Holding Register Empty Interrupt. */
  ETBEI = 0x02,
  /** ELSI: Enable Receiver Line Status Interrupt. */
  ELSI = 0x04,
  /** EDSSI: Enable Modem Status Interrupt. */
  EDSSI = 0x08,
}

/** IIR values and bits. */
export const enum Iir {
  /** Bit 0: "0" if interrupt pending. */
  NO_INT = 0x01,
  /** Bits 3-1: interrupt ID. */
  ID_MASK = 0x0e,
  /** Modem status (priority 4). */
  MODEM_STATUS = 0x00,
  /** Transmitter holding register empty (priority 3). */
  THRE = 0x02,
  /** Received data available (priority 2). */
  RX_DATA = 0x04,
  /** Receiver line status (priority 1). */
  RX_LINE_STATUS = 0x06,
  /** Character timeout indication (priority 2). */
  CHAR_TIMEOUT = 0x0c,
  /** Bits 7-6: FIFOs enabled. */
  FIFOS_ENABLED = 0xc0,
}

/** FCR bits. */
export const enum Fcr {
  /** FIFO Enable. */
  FIFO_ENABLE = 0x01,
  /** RCVR FIFO Reset. */
  RCVR_RESET = 0x02,
  /** XMIT FIFO Reset. */
  XMIT_RESET = 0x04,
  /** DMA Mode Select. */
  DMA_MODE = 0x08,
  /** RCVR Trigger (LSB, MSB): 1, 4, 8, 14 bytes. */
  TRIGGER_MASK = 0xc0,
}

/** LCR bits. */
export const enum Lcr {
  /** WLS0-WLS1: word length select (5 + value bits). */
  WLS_MASK = 0x03,
  /** STB: number of stop bits. */
  STB = 0x04,
  /** PEN: parity enable. */
  PEN = 0x08,
  /** EPS: even parity select. */
  EPS = 0x10,
  /** Stick parity. */
  STICK = 0x20,
  /** Set break. */
  BREAK = 0x40,
  /** DLAB: divisor latch access bit. */
  DLAB = 0x80,
}

/** MCR bits. */
export const enum Mcr {
  /** DTR: data terminal ready. */
  DTR = 0x01,
  /** RTS: request to send. */
  RTS = 0x02,
  /** OUT 1. */
  OUT1 = 0x04,
  /** OUT 2: on PCs, enables the interrupt onto the IRQ line. */
  OUT2 = 0x08,
  /** LOOP: loopback. */
  LOOP = 0x10,
}

/** LSR bits. */
export const enum Lsr {
  /** DR: data ready. */
  DR = 0x01,
  /** OE: overrun error. */
  OE = 0x02,
  /** PE: parity error. */
  PE = 0x04,
  /** FE: framing error. */
  FE = 0x08,
  /** BI: break interrupt. */
  BI = 0x10,
  /** THRE: transmitter holding register empty. */
  THRE = 0x20,
  /** TEMT: transmitter empty. */
  TEMT = 0x40,
  /** Error in RCVR FIFO. */
  FIFO_ERROR = 0x80,
  /** The error bits LSR reads clear. */
  ERRORS = 0x1e,
}

/** MSR bits. */
export const enum Msr {
  /** DCTS: delta clear to send. */
  DCTS = 0x01,
  /** DDSR: delta data set ready. */
  DDSR = 0x02,
  /** TERI: trailing edge ring indicator. */
  TERI = 0x04,
  /** DDCD: delta data carrier detect. */
  DDCD = 0x08,
  /** CTS: clear to send. */
  CTS = 0x10,
  /** DSR: data set ready. */
  DSR = 0x20,
  /** RI: ring indicator. */
  RI = 0x40,
  /** DCD: data carrier detect. */
  DCD = 0x80,
}

/** Crystal 1.8432 MHz / 16: the baud rate with divisor 1. */
const BAUD_BASE = 115200;
const FIFO_SIZE = 16;
/** How long the transmitter is busy with one character (not the baud rate: see header). */
export const TX_CHAR_NS = 1000;
const WIRE_MAX = 65536;
const TRIGGER_LEVELS = [1, 4, 8, 14];

interface UartState {
  ier: number;
  lcr: number;
  mcr: number;
  /** LSR error bits (OE, PE, FE, BI); DR, THRE, TEMT are derived. */
  lsrErrors: number;
  /** MSR delta bits 3-0, reset by reading MSR. */
  msrDelta: number;
  /** The modem inputs from outside (CTS, DSR, RI, DCD as MSR bits 7-4). */
  modemIn: number;
  scr: number;
  dll: number;
  dlm: number;
  /** FCR as last written (FIFO enable, DMA mode, trigger); the reset bits self-clear. */
  fcr: number;
  /** RBR: the last byte read (what an empty receiver reads). */
  rbr: number;
  /** THR: the last byte written. */
  thr: number;
  /** Receive FIFO (one entry in 16450 mode), oldest first. */
  rx: number[];
  /** Bytes from the backend still on the wire, oldest first. */
  wire: number[];
  thrIpending: boolean;
  timeoutPending: boolean;
  /** Clock time the transmitter is empty again. */
  txEmptyAt: number;
  /** Pending events on the clock, or -1: THRE interrupt, next wire byte, character timeout. */
  thrEventAt: number;
  wireNextAt: number;
  timeoutAt: number;
  txBytes: number;
  rxBytes: number;
  overruns: number;
  inputDropped: number;
  txDropped: number;
}

const STATE_DESC: StateDesc = {
  name: 'uart16550',
  version: 1,
  fields: [
    { name: 'ier', type: 'u8' }, { name: 'lcr', type: 'u8' }, { name: 'mcr', type: 'u8' },
    { name: 'lsrErrors', type: 'u8' }, { name: 'msrDelta', type: 'u8' }, { name: 'modemIn', type: 'u8' },
    { name: 'scr', type: 'u8' }, { name: 'dll', type: 'u8' }, { name: 'dlm', type: 'u8' }, { name: 'fcr', type: 'u8' },
    { name: 'rbr', type: 'u8' }, { name: 'thr', type: 'u8' }, { name: 'rx', type: 'u8[]' }, { name: 'wire', type: 'u8[]' },
    { name: 'thrIpending', type: 'bool' }, { name: 'timeoutPending', type: 'bool' },
    { name: 'txEmptyAt', type: 'f64' }, { name: 'thrEventAt', type: 'f64' }, { name: 'wireNextAt', type: 'f64' },
    { name: 'timeoutAt', type: 'f64' }, { name: 'txBytes', type: 'u32' }, { name: 'rxBytes', type: 'u32' },
    { name: 'overruns', type: 'u32' }, { name: 'inputDropped', type: 'u32' }, { name: 'txDropped', type: 'u32' },
  ],
};

const IIR_NAMES: Record<number, string> = {
  0x00: 'modem status', 0x02: 'THR empty', 0x04: 'received data available',
  0x06: 'receiver line status', 0x0c: 'character timeout',
};

function bit(v: number, b: number): number {
  return v & b ? 1 : 0;
}

const num = (p: PropValue | undefined, dflt: number): number => (typeof p === 'number' ? p : dflt);

/**
 * A 16550A UART.
 *
 * `new Uart16550(id, props, ctx, backend?)`; props: `iobase` (0x3F8), `irq` (4). The backend
 * receives transmitted bytes and supplies received ones; without one, transmitted bytes are
 * discarded and the modem inputs are inactive.
 */
export class Uart16550 implements DeviceModel {
  readonly kind = 'uart16550';
  readonly props: Readonly<Record<string, PropValue>>;

  private _s!: UartState;
  private readonly _irq: IrqLine;
  private readonly _timer: Timer;
  private readonly _regions: MappedRegion[];

  constructor(
    readonly id: string,
    props: Readonly<Record<string, PropValue>>,
    private readonly _ctx: DeviceContext,
    private readonly _backend: CharBackend | null = null,
  ) {
    this.props = { iobase: num(props.iobase, 0x3f8), irq: num(props.irq, 4) };
    this._irq = _ctx.irq(this.props.irq as number);
    this._timer = _ctx.createTimer(() => this._sync());
    this._regions = [{ region: this._region(), base: this.props.iobase as number }];
    this.reset();
    this._backend?.setInputHandler((data) => this.receive(data));
  }

  regions(): MappedRegion[] {
    return this._regions;
  }

  // ---- outside world ------------------------------------------------------------------

  /** Bytes arriving from the other end of the line (the backend calls this). */
  receive(data: Uint8Array): void {
    this._catchUp();
    const s = this._s;
    for (const b of data) {
      if (s.wire.length >= WIRE_MAX) s.inputDropped++;
      else s.wire.push(b);
    }
    if (s.wireNextAt < 0 && s.wire.length && !(s.mcr & Mcr.LOOP)) s.wireNextAt = this._ctx.now() + this._charNs();
    this._sync();
  }

  /** Sets the modem inputs (a null-modem cable's view of the other end). */
  setModemLines(lines: { cts?: boolean; dsr?: boolean; ri?: boolean; dcd?: boolean }): void {
    this._catchUp();
    const before = this._lines();
    let m = this._s.modemIn;
    const set = (b: number, on: boolean | undefined): void => {
      if (on !== undefined) m = on ? m | b : m & ~b;
    };
    set(Msr.CTS, lines.cts);
    set(Msr.DSR, lines.dsr);
    set(Msr.RI, lines.ri);
    set(Msr.DCD, lines.dcd);
    this._s.modemIn = m;
    this._noteLineChange(before);
    this._sync();
  }

  /** Marks received-byte errors as a line fault would (for tests and fault injection). */
  injectLineError(bits: number): void {
    this._catchUp();
    this._s.lsrErrors |= bits & Lsr.ERRORS;
    this._sync();
  }

  // ---- DeviceModel ----------------------------------------------------------------------

  reset(): void {
    const prev = this._s;
    this._s = {
      ier: 0, lcr: 0, mcr: 0, lsrErrors: 0, msrDelta: 0,
      modemIn: this._backend ? Msr.CTS | Msr.DSR | Msr.DCD : 0,
      scr: 0, dll: 1, dlm: 0, fcr: 0, rbr: 0, thr: 0, rx: [],
      // Host input already on its way survives a guest reset.
      wire: prev ? prev.wire : [],
      thrIpending: false, timeoutPending: false,
      txEmptyAt: 0, thrEventAt: -1, wireNextAt: -1, timeoutAt: -1,
      txBytes: prev ? prev.txBytes : 0, rxBytes: prev ? prev.rxBytes : 0, overruns: prev ? prev.overruns : 0,
      inputDropped: prev ? prev.inputDropped : 0, txDropped: prev ? prev.txDropped : 0,
    };
    if (this._s.wire.length) this._s.wireNextAt = this._ctx.now() + this._charNs();
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

  destroy(): void {
    this._timer.cancel();
    this._backend?.setInputHandler(null);
    this._backend?.close?.();
  }

  inspect(): Inspection {
    this._sync();
    const s = this._s;
    const lsr = this._lsr();
    const iir = this._iir();
    const msr = this._lines() | s.msrDelta;
    const divisor = (s.dlm << 8) | s.dll;
    const wls = 5 + (s.lcr & Lcr.WLS_MASK);
    const parity = !(s.lcr & Lcr.PEN) ? 'N' : s.lcr & Lcr.STICK ? (s.lcr & Lcr.EPS ? 'S' : 'M') : s.lcr & Lcr.EPS ? 'E' : 'O';
    const stop = s.lcr & Lcr.STB ? (wls === 5 ? '1.5' : '2') : '1';
    const registers: RegisterView[] = [
      { name: 'RBR', offset: UartReg.RBR_THR, value: s.rx.length ? s.rx[0] : s.rbr, width: 8, note: 'Receiver Buffer Register (next byte)' },
      { name: 'THR', offset: UartReg.RBR_THR, value: s.thr, width: 8, note: 'Transmitter Holding Register (last written)' },
      {
        name: 'IER', offset: UartReg.IER, value: s.ier, width: 8,
        bits: [
          { name: 'EDSSI', value: bit(s.ier, Ier.EDSSI), meaning: 'modem status' },
          { name: 'ELSI', value: bit(s.ier, Ier.ELSI), meaning: 'receiver line status' },
          { name: 'ETBEI', value: bit(s.ier, Ier.ETBEI), meaning: 'THR empty' },
          { name: 'ERBFI', value: bit(s.ier, Ier.ERBFI), meaning: 'received data' },
        ],
      },
      {
        name: 'IIR', offset: UartReg.IIR_FCR, value: iir, width: 8,
        bits: [
          { name: 'FIFOs enabled', value: (iir >> 6) & 3 },
          { name: 'ID', value: (iir >> 1) & 7, meaning: iir & Iir.NO_INT ? 'none' : IIR_NAMES[iir & Iir.ID_MASK] },
          { name: 'NO_INT', value: iir & Iir.NO_INT, meaning: iir & Iir.NO_INT ? 'no interrupt pending' : 'interrupt pending' },
        ],
      },
      {
        name: 'FCR', offset: UartReg.IIR_FCR, value: s.fcr, width: 8,
        bits: [
          { name: 'RCVR trigger', value: s.fcr >> 6, meaning: `${TRIGGER_LEVELS[s.fcr >> 6]} bytes` },
          { name: 'DMA mode', value: bit(s.fcr, Fcr.DMA_MODE) },
          { name: 'FIFO enable', value: bit(s.fcr, Fcr.FIFO_ENABLE) },
        ],
      },
      {
        name: 'LCR', offset: UartReg.LCR, value: s.lcr, width: 8,
        bits: [
          { name: 'DLAB', value: bit(s.lcr, Lcr.DLAB) },
          { name: 'Set break', value: bit(s.lcr, Lcr.BREAK) },
          { name: 'Stick parity', value: bit(s.lcr, Lcr.STICK) },
          { name: 'EPS', value: bit(s.lcr, Lcr.EPS) },
          { name: 'PEN', value: bit(s.lcr, Lcr.PEN) },
          { name: 'STB', value: bit(s.lcr, Lcr.STB) },
          { name: 'WLS', value: s.lcr & Lcr.WLS_MASK, meaning: `${wls} data bits` },
        ],
      },
      {
        name: 'MCR', offset: UartReg.MCR, value: s.mcr, width: 8,
        bits: [
          { name: 'LOOP', value: bit(s.mcr, Mcr.LOOP) },
          { name: 'OUT2', value: bit(s.mcr, Mcr.OUT2), meaning: 'IRQ enable on PCs' },
          { name: 'OUT1', value: bit(s.mcr, Mcr.OUT1) },
          { name: 'RTS', value: bit(s.mcr, Mcr.RTS) },
          { name: 'DTR', value: bit(s.mcr, Mcr.DTR) },
        ],
      },
      {
        name: 'LSR', offset: UartReg.LSR, value: lsr, width: 8,
        bits: [
          { name: 'RCVR FIFO error', value: bit(lsr, Lsr.FIFO_ERROR) },
          { name: 'TEMT', value: bit(lsr, Lsr.TEMT) },
          { name: 'THRE', value: bit(lsr, Lsr.THRE) },
          { name: 'BI', value: bit(lsr, Lsr.BI) },
          { name: 'FE', value: bit(lsr, Lsr.FE) },
          { name: 'PE', value: bit(lsr, Lsr.PE) },
          { name: 'OE', value: bit(lsr, Lsr.OE) },
          { name: 'DR', value: bit(lsr, Lsr.DR) },
        ],
      },
      {
        name: 'MSR', offset: UartReg.MSR, value: msr, width: 8,
        bits: [
          { name: 'DCD', value: bit(msr, Msr.DCD) }, { name: 'RI', value: bit(msr, Msr.RI) },
          { name: 'DSR', value: bit(msr, Msr.DSR) }, { name: 'CTS', value: bit(msr, Msr.CTS) },
          { name: 'DDCD', value: bit(msr, Msr.DDCD) }, { name: 'TERI', value: bit(msr, Msr.TERI) },
          { name: 'DDSR', value: bit(msr, Msr.DDSR) }, { name: 'DCTS', value: bit(msr, Msr.DCTS) },
        ],
      },
      { name: 'SCR', offset: UartReg.SCR, value: s.scr, width: 8, note: 'Scratch Register' },
      { name: 'DLL', offset: UartReg.RBR_THR, value: s.dll, width: 8, note: 'Divisor Latch (LS)' },
      { name: 'DLM', offset: UartReg.IER, value: s.dlm, width: 8, note: 'Divisor Latch (MS)' },
    ];
    return {
      id: this.id,
      kind: this.kind,
      registers,
      queues: { rxFifo: s.rx.slice(), wire: s.wire.slice(0, 64) },
      counters: {
        txBytes: s.txBytes, rxBytes: s.rxBytes, overruns: s.overruns,
        inputDropped: s.inputDropped, txDropped: s.txDropped, wirePending: s.wire.length,
      },
      extra: {
        line: `${divisor ? Math.round(BAUD_BASE / divisor) : 0} baud ${wls}${parity}${stop}`,
        divisor,
        fifo: s.fcr & Fcr.FIFO_ENABLE ? `16550 FIFO, trigger ${TRIGGER_LEVELS[s.fcr >> 6]}` : '16450 mode (no FIFO)',
        irq: this._irqLevel(),
        backend: this._backend ? this._backend.name : 'none',
      },
    };
  }

  // ---- the chip -------------------------------------------------------------------------

  private _fifo(): boolean {
    return (this._s.fcr & Fcr.FIFO_ENABLE) !== 0;
  }

  /** Time of one character on the line with the programmed divisor and frame. */
  private _charNs(): number {
    const s = this._s;
    const divisor = ((s.dlm << 8) | s.dll) || 1;
    const dataBits = 5 + (s.lcr & Lcr.WLS_MASK);
    const bits = 1 + dataBits + (s.lcr & Lcr.PEN ? 1 : 0) + (s.lcr & Lcr.STB ? (dataBits === 5 ? 1.5 : 2) : 1);
    return Math.round((bits * divisor * 1e9) / BAUD_BASE);
  }

  /** The modem inputs as MSR bits 7-4: from outside, or from MCR in loopback. */
  private _lines(): number {
    const s = this._s;
    if (!(s.mcr & Mcr.LOOP)) return s.modemIn;
    const m = s.mcr;
    return (m & Mcr.RTS ? Msr.CTS : 0) | (m & Mcr.DTR ? Msr.DSR : 0) | (m & Mcr.OUT1 ? Msr.RI : 0) | (m & Mcr.OUT2 ? Msr.DCD : 0);
  }

  private _noteLineChange(before: number): void {
    const after = this._lines();
    const changed = before ^ after;
    let d = 0;
    if (changed & Msr.CTS) d |= Msr.DCTS;
    if (changed & Msr.DSR) d |= Msr.DDSR;
    if (changed & Msr.DCD) d |= Msr.DDCD;
    if (before & Msr.RI && !(after & Msr.RI)) d |= Msr.TERI; // trailing edge only
    this._s.msrDelta |= d;
  }

  private _lsr(): number {
    const s = this._s;
    const txEmpty = this._ctx.now() >= s.txEmptyAt;
    return s.lsrErrors | (s.rx.length ? Lsr.DR : 0) | (txEmpty ? Lsr.THRE | Lsr.TEMT : 0);
  }

  /** IIR as a read would return it now, without its side effect. */
  private _iir(): number {
    const s = this._s;
    const fifo = this._fifo() ? Iir.FIFOS_ENABLED : 0;
    const trigger = this._fifo() ? TRIGGER_LEVELS[s.fcr >> 6] : 1;
    let id: number;
    if (s.ier & Ier.ELSI && s.lsrErrors) id = Iir.RX_LINE_STATUS;
    else if (s.ier & Ier.ERBFI && s.rx.length >= trigger) id = Iir.RX_DATA;
    else if (s.ier & Ier.ERBFI && s.timeoutPending) id = Iir.CHAR_TIMEOUT;
    else if (s.ier & Ier.ETBEI && s.thrIpending) id = Iir.THRE;
    else if (s.ier & Ier.EDSSI && s.msrDelta) id = Iir.MODEM_STATUS;
    else id = Iir.NO_INT;
    return fifo | id;
  }

  /** The IRQ pin: an interrupt pending, gated by OUT2 (forced inactive in loopback). */
  private _irqLevel(): boolean {
    const s = this._s;
    return !(this._iir() & Iir.NO_INT) && (s.mcr & (Mcr.OUT2 | Mcr.LOOP)) === Mcr.OUT2;
  }

  private _pushRx(b: number): void {
    const s = this._s;
    const cap = this._fifo() ? FIFO_SIZE : 1;
    s.rxBytes++;
    if (s.rx.length < cap) {
      s.rx.push(b);
    } else {
      // FIFO mode: the byte in the shift register is lost. 16450 mode: it overwrites RBR.
      s.lsrErrors |= Lsr.OE;
      s.overruns++;
      if (!this._fifo()) s.rx[0] = b;
    }
  }

  /** When the next event (wire byte, THRE, timeout) is due, in host ns; Infinity if none is. */
  private _nextEvent(): number {
    const s = this._s;
    let t = Infinity;
    if (s.wireNextAt >= 0) t = s.wireNextAt;
    if (s.thrEventAt >= 0 && s.thrEventAt < t) t = s.thrEventAt;
    if (s.timeoutAt >= 0 && s.timeoutAt < t) t = s.timeoutAt;
    return t;
  }

  /**
   * Runs the events (wire bytes, THRE, timeout) that are due by now, in time order. With none
   * pending it does not read the clock (a clock read cost more than the rest of a register
   * access).
   */
  private _catchUp(): void {
    let t = this._nextEvent();
    if (t === Infinity) return;
    const s = this._s;
    const now = this._ctx.now();
    for (; t <= now; t = this._nextEvent()) {
      if (t === s.thrEventAt) {
        s.thrIpending = true;
        s.thrEventAt = -1;
      } else if (t === s.wireNextAt) {
        if (s.mcr & Mcr.LOOP || !s.wire.length) {
          s.wireNextAt = -1; // the receiver is cut off from the line in loopback
          continue;
        }
        if (s.rx.length >= (this._fifo() ? FIFO_SIZE : 1)) {
          // No room: the line waits; reading RBR starts it again.
          s.wireNextAt = -1;
          continue;
        }
        this._pushRx(s.wire.shift()!);
        s.wireNextAt = s.wire.length ? t + this._charNs() : -1;
        // The timeout timer restarts with each character received.
        if (this._fifo() && !s.timeoutPending) s.timeoutAt = t + 4 * this._charNs();
      } else {
        s.timeoutAt = -1;
        if (this._fifo() && s.rx.length) s.timeoutPending = true;
      }
    }
  }

  /** Catches up, drives the IRQ line and sets the timer at the next event. */
  private _sync(): void {
    this._catchUp();
    this._irq.set(this._irqLevel());
    const t = this._nextEvent();
    if (t === Infinity) this._timer.cancel();
    else this._timer.setAt(t);
  }

  private _writeThr(v: number): void {
    const s = this._s;
    const now = this._ctx.now();
    s.thr = v;
    const busy = Math.max(0, Math.ceil((s.txEmptyAt - now) / TX_CHAR_NS));
    if (busy >= (this._fifo() ? FIFO_SIZE : 1) + 1) {
      s.txDropped++; // FIFO full and the shift register busy: the byte is lost
      return;
    }
    s.txEmptyAt = Math.max(now, s.txEmptyAt) + TX_CHAR_NS;
    s.thrIpending = false;
    s.thrEventAt = s.txEmptyAt;
    s.txBytes++;
    if (s.mcr & Mcr.LOOP) {
      this._pushRx(v);
      if (this._fifo() && !s.timeoutPending) s.timeoutAt = now + 4 * this._charNs();
    } else {
      this._backend?.write(Uint8Array.of(v));
    }
  }

  private _readRbr(): number {
    const s = this._s;
    if (s.rx.length) s.rbr = s.rx.shift()!;
    // A byte held back on the wire for want of room comes one character time later.
    if (s.wire.length && s.wireNextAt < 0 && !(s.mcr & Mcr.LOOP)) s.wireNextAt = this._ctx.now() + this._charNs();
    // Reading resets the timeout indication and restarts the timer while data remains.
    s.timeoutPending = false;
    s.timeoutAt = this._fifo() && s.rx.length ? this._ctx.now() + 4 * this._charNs() : -1;
    return s.rbr;
  }

  private _writeFcr(v: number): void {
    const s = this._s;
    const enable = v & Fcr.FIFO_ENABLE;
    if (enable !== (s.fcr & Fcr.FIFO_ENABLE)) {
      // Changing the FIFO enable clears both FIFOs.
      v |= Fcr.RCVR_RESET | Fcr.XMIT_RESET;
    }
    if (v & Fcr.RCVR_RESET) {
      s.rx = [];
      s.timeoutPending = false;
      s.timeoutAt = -1;
    }
    if (v & Fcr.XMIT_RESET) {
      s.txEmptyAt = this._ctx.now();
      s.thrEventAt = -1;
      s.thrIpending = true;
    }
    // The other bits are only written with FIFO enable set.
    s.fcr = enable ? v & (Fcr.FIFO_ENABLE | Fcr.DMA_MODE | Fcr.TRIGGER_MASK) : 0;
  }

  private _read(off: number): number {
    const s = this._s;
    switch (off) {
      case UartReg.RBR_THR:
        return s.lcr & Lcr.DLAB ? s.dll : this._readRbr();
      case UartReg.IER:
        return s.lcr & Lcr.DLAB ? s.dlm : s.ier;
      case UartReg.IIR_FCR: {
        const iir = this._iir();
        // Reading IIR while it shows THRE resets the THRE interrupt.
        if ((iir & (Iir.ID_MASK | Iir.NO_INT)) === Iir.THRE) s.thrIpending = false;
        return iir;
      }
      case UartReg.LCR:
        return s.lcr;
      case UartReg.MCR:
        return s.mcr;
      case UartReg.LSR: {
        const v = this._lsr();
        s.lsrErrors = 0;
        return v;
      }
      case UartReg.MSR: {
        const v = this._lines() | s.msrDelta;
        s.msrDelta = 0;
        return v;
      }
      default:
        return s.scr;
    }
  }

  private _write(off: number, v: number): void {
    const s = this._s;
    switch (off) {
      case UartReg.RBR_THR:
        if (s.lcr & Lcr.DLAB) s.dll = v;
        else this._writeThr(v);
        break;
      case UartReg.IER:
        if (s.lcr & Lcr.DLAB) {
          s.dlm = v;
        } else {
          s.ier = v & 0x0f;
          // Enabling ETBEI with THR empty raises the THRE interrupt (again).
          s.thrIpending = (s.ier & Ier.ETBEI) !== 0 && this._ctx.now() >= s.txEmptyAt;
        }
        break;
      case UartReg.IIR_FCR:
        this._writeFcr(v);
        break;
      case UartReg.LCR:
        s.lcr = v;
        break;
      case UartReg.MCR: {
        const before = this._lines();
        const wasLoop = s.mcr & Mcr.LOOP;
        s.mcr = v & 0x1f;
        this._noteLineChange(before);
        if (wasLoop && !(s.mcr & Mcr.LOOP) && s.wire.length && s.wireNextAt < 0) {
          s.wireNextAt = this._ctx.now() + this._charNs();
        }
        break;
      }
      case UartReg.LSR:
      case UartReg.MSR:
        break; // factory test registers: writes ignored
      default:
        s.scr = v;
    }
  }

  private _region(): IoRegion {
    return {
      name: this.id,
      space: 'pio',
      size: 8,
      impl: { min: 1, max: 1 },
      ops: {
        read: (off) => {
          this._catchUp();
          const v = this._read(off);
          this._sync();
          return v;
        },
        write: (off, _size, v) => {
          this._catchUp();
          this._write(off, v & 0xff);
          this._sync();
        },
      },
      // Static names (the daemon caches them per offset when it maps the range), so the
      // DLAB-selected alternatives are named together.
      registerName: (off, dir) => {
        switch (off) {
          case UartReg.RBR_THR: return dir === 'read' ? 'RBR/DLL' : 'THR/DLL';
          case UartReg.IER: return 'IER/DLM';
          case UartReg.IIR_FCR: return dir === 'read' ? 'IIR' : 'FCR';
          default: return ['', '', '', 'LCR', 'MCR', 'LSR', 'MSR', 'SCR'][off];
        }
      },
    };
  }
}
