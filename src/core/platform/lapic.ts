// Local APIC, one per vCPU, in the core (as in Xen: performance-critical platform hardware).
//
// Reference: Intel 64 and IA-32 Architectures Software Developer's Manual, Vol. 3A, chapter 10
// "Advanced Programmable Interrupt Controller (APIC)": 10.4.1 (the local APIC register map,
// table 10-1), 10.4.3 (IA32_APIC_BASE), 10.5.1 (LVT), 10.5.4 (APIC timer), 10.6.1 (ICR),
// 10.8.3.1 (TPR/PPR), 10.8.4 (IRR/ISR acceptance), 10.8.5 (EOI), 10.9 (SVR), 10.4.7.3
// (INIT and start-up IPIs).
//
// Registers are 32 bits at 16-byte strides in the 4 KiB page at FEE00000h; other access sizes
// read as zero and are ignored on write, as the SDM says software must not use them.
//
// The model keeps the interrupt state (IRR/ISR/TMR, TPR, timer) and tells its owner, through
// the `Wiring` it is built with, when an IPI leaves it or when its INTR output changes. Which
// vCPU receives an IPI, and INIT/SIPI's effect on a CPU, are the owner's (the vCPU thread's).
//
// Not modelled: the thermal and performance-counter LVTs (stored only), logical destination
// with cluster model (flat only), lowest-priority arbitration (the lowest-numbered target wins),
// SMI delivery, remote read, the x2APIC MSR interface, the APIC's error detection beyond "send
// illegal vector" and "receive illegal vector".

import type { DeviceContext, DeviceModel, Inspection, PropValue, RegisterView, Timer } from '../../common/device.js';
import type { IoRegion, MappedRegion } from '../../common/io.js';
import type { DeviceState, StateDesc } from '../../common/vmstate.js';
import { loadState, saveState } from '../../common/vmstate.js';

/** Register offsets (SDM table 10-1). */
export const enum ApicReg {
  /** Local APIC ID Register. */
  ID = 0x020,
  /** Local APIC Version Register. */
  VERSION = 0x030,
  /** Task Priority Register. */
  TPR = 0x080,
  /** Arbitration Priority Register. */
  APR = 0x090,
  /** Processor Priority Register. */
  PPR = 0x0a0,
  /** EOI Register. */
  EOI = 0x0b0,
  /** Remote Read Register. */
  RRD = 0x0c0,
  /** Logical Destination Register. */
  LDR = 0x0d0,
  /** Destination Format Register. */
  DFR = 0x0e0,
  /** Spurious Interrupt Vector Register. */
  SVR = 0x0f0,
  /** In-Service Register, bits 0-255 over 8 registers. */
  ISR = 0x100,
  /** Trigger Mode Register. */
  TMR = 0x180,
  /** Interrupt Request Register. */
  IRR = 0x200,
  /** Error Status Register. */
  ESR = 0x280,
  /** Interrupt Command Register, bits 0-31. */
  ICR_LO = 0x300,
  /** Interrupt Command Register, bits 32-63 (destination). */
  ICR_HI = 0x310,
  /** LVT Timer Register. */
  LVT_TIMER = 0x320,
  /** LVT Thermal Sensor Register. */
  LVT_THERMAL = 0x330,
  /** LVT Performance Monitoring Counters Register. */
  LVT_PERF = 0x340,
  /** LVT LINT0 Register. */
  LVT_LINT0 = 0x350,
  /** LVT LINT1 Register. */
  LVT_LINT1 = 0x360,
  /** LVT Error Register. */
  LVT_ERROR = 0x370,
  /** Initial Count Register (for the timer). */
  TIMER_INITIAL = 0x380,
  /** Current Count Register (for the timer). */
  TIMER_CURRENT = 0x390,
  /** Divide Configuration Register (for the timer). */
  TIMER_DIVIDE = 0x3e0,
}

/** Bits of the SVR, LVT entries and the ICR. */
export const enum Apic {
  /** SVR: APIC software enable. */
  SVR_ENABLE = 1 << 8,
  /** LVT: mask. */
  LVT_MASKED = 1 << 16,
  /** LVT timer: periodic mode (bits 17-18 = 01). */
  TIMER_PERIODIC = 1 << 17,
  /** ICR/LVT: delivery status (send pending). */
  DELIVERY_PENDING = 1 << 12,
  /** ICR: level assert. */
  ICR_ASSERT = 1 << 14,
  /** ICR: trigger mode level. */
  ICR_LEVEL = 1 << 15,
  /** ICR: logical destination mode. */
  ICR_LOGICAL = 1 << 11,
}

export const enum DeliveryMode {
  FIXED = 0,
  LOWEST = 1,
  SMI = 2,
  NMI = 4,
  INIT = 5,
  STARTUP = 6,
  EXTINT = 7,
}

/** Where an IPI goes (ICR bits 18-19). */
export const enum Shorthand {
  NONE = 0,
  SELF = 1,
  ALL = 2,
  OTHERS = 3,
}

export interface Ipi {
  mode: DeliveryMode;
  vector: number;
  shorthand: Shorthand;
  logical: boolean;
  dest: number;
  level: boolean;
  assert: boolean;
}

export interface LapicWiring {
  /** An IPI this APIC sends; the owner routes it. */
  sendIpi(from: Lapic, ipi: Ipi): void;
  /** INTR output changed (something deliverable now, or not). */
  kick(from: Lapic): void;
}

/** The APIC timer counts at 1 GHz before the divider, as QEMU's does. */
const TIMER_HZ = 1e9;
const DIVIDERS = [2, 4, 8, 16, 32, 64, 128, 1];

interface LapicState {
  id: number;
  tpr: number;
  ldr: number;
  dfr: number;
  svr: number;
  esr: number;
  icrLo: number;
  icrHi: number;
  lvt: number[];
  irr: Uint32Array;
  isr: Uint32Array;
  tmr: Uint32Array;
  timerInitial: number;
  timerDivide: number;
  /** Virtual time (ns) at which the current count was last loaded, or -1 when stopped. */
  timerStart: number;
  /** IA32_APIC_BASE (bits 12-31 base, 11 enable, 8 BSP). */
  base: number;
  interrupts: number;
}

const DESC: StateDesc = {
  name: 'lapic', version: 1, fields: [
    { name: 'id', type: 'u8' }, { name: 'tpr', type: 'u8' }, { name: 'ldr', type: 'u32' }, { name: 'dfr', type: 'u32' },
    { name: 'svr', type: 'u32' }, { name: 'esr', type: 'u32' }, { name: 'icrLo', type: 'u32' }, { name: 'icrHi', type: 'u32' },
    { name: 'lvt', type: 'json' }, { name: 'irr', type: 'u32[]' }, { name: 'isr', type: 'u32[]' }, { name: 'tmr', type: 'u32[]' },
    { name: 'timerInitial', type: 'u32' }, { name: 'timerDivide', type: 'u32' }, { name: 'timerStart', type: 'f64' },
    { name: 'base', type: 'u32' }, { name: 'interrupts', type: 'f64' },
  ],
};

const LVT_NAMES = ['Timer', 'Thermal', 'Perf', 'LINT0', 'LINT1', 'Error'];

function highestBit(bits: Uint32Array): number {
  for (let i = 7; i >= 0; i--) {
    const w = bits[i];
    if (w) return i * 32 + 31 - Math.clz32(w);
  }
  return -1;
}

/**
 * `new Lapic(id, props, ctx, wiring)`; props: `apicId` (the CPU's APIC ID), `bsp` (true for the
 * bootstrap processor). Region: the 4 KiB page at FEE00000h (a base that moves with
 * IA32_APIC_BASE is not modelled: the page stays at its reset address).
 */
export class Lapic implements DeviceModel {
  readonly kind = 'lapic';
  readonly props: Readonly<Record<string, PropValue>>;
  private _s: LapicState;
  private readonly _timer: Timer;
  private readonly _regions: MappedRegion[];

  constructor(
    readonly id: string,
    props: Readonly<Record<string, PropValue>>,
    private readonly _ctx: DeviceContext,
    private readonly _wiring: LapicWiring,
  ) {
    this.props = { apicId: typeof props.apicId === 'number' ? props.apicId : 0, bsp: props.bsp === true };
    this._timer = _ctx.createTimer(() => this._timerFired());
    this._s = this._powerOn();
    this._regions = [{ region: this._region(), base: 0xfee00000 }];
  }

  private _powerOn(): LapicState {
    return {
      id: this.props.apicId as number, tpr: 0, ldr: 0, dfr: 0xffffffff, svr: 0xff, esr: 0, icrLo: 0, icrHi: 0,
      lvt: new Array<number>(6).fill(Apic.LVT_MASKED), irr: new Uint32Array(8), isr: new Uint32Array(8), tmr: new Uint32Array(8),
      timerInitial: 0, timerDivide: 0, timerStart: -1,
      base: (0xfee00000 | (1 << 11) | (this.props.bsp ? 1 << 8 : 0)) >>> 0, interrupts: 0,
    };
  }

  regions(): MappedRegion[] {
    return this._regions;
  }

  /** Power-on or INIT: everything but the APIC ID and the base MSR goes back to reset values. */
  reset(): void {
    this._timer.cancel();
    const base = this._s?.base;
    this._s = this._powerOn();
    if (base !== undefined) this._s.base = base;
  }

  /** A full power-on reset (system reset), base MSR included. */
  powerOn(): void {
    this._timer.cancel();
    this._s = this._powerOn();
  }

  get apicId(): number {
    return this._s.id;
  }

  /** The APIC is on (IA32_APIC_BASE.EN) and software-enabled (SVR bit 8). */
  get enabled(): boolean {
    return (this._s.base & (1 << 11)) !== 0 && (this._s.svr & Apic.SVR_ENABLE) !== 0;
  }

  get hardwareEnabled(): boolean {
    return (this._s.base & (1 << 11)) !== 0;
  }

  /** IA32_APIC_BASE, for RDMSR/WRMSR 1Bh. */
  get baseMsr(): number {
    return this._s.base >>> 0;
  }

  set baseMsr(v: number) {
    // The base address stays at FEE00000h (a moved APIC page is not modelled); EN and BSP stick.
    this._s.base = (0xfee00000 | (v & (1 << 11)) | (this._s.base & (1 << 8))) >>> 0;
    this._wiring.kick(this);
  }

  /** Is the 8259's ExtINT allowed through (APIC off, or LINT0 programmed ExtINT and unmasked)? */
  get passesExtInt(): boolean {
    if (!this.enabled) return true;
    const l = this._s.lvt[3];
    return (l & Apic.LVT_MASKED) === 0 && ((l >> 8) & 7) === DeliveryMode.EXTINT;
  }

  // ---- acceptance and delivery (SDM 10.8) -----------------------------------------------

  /** A fixed interrupt arrives (from an IPI or the timer): it is latched in the IRR. */
  accept(vector: number, level = false): void {
    if (vector < 16) {
      this._s.esr |= 1 << 6; // received illegal vector
      return;
    }
    this._s.irr[vector >>> 5] |= 1 << (vector & 31);
    if (level) this._s.tmr[vector >>> 5] |= 1 << (vector & 31);
    else this._s.tmr[vector >>> 5] &= ~(1 << (vector & 31));
    // (Uint32Array stores are already unsigned.)
    this._wiring.kick(this);
  }

  private _ppr(): number {
    const isrv = highestBit(this._s.isr);
    const tpr = this._s.tpr;
    return (tpr >> 4) >= (isrv < 0 ? 0 : isrv >> 4) ? tpr : (isrv & 0xf0);
  }

  /** The vector the APIC would deliver now, or -1. */
  pending(): number {
    if (!this.hardwareEnabled) return -1;
    const v = highestBit(this._s.irr);
    if (v < 0) return -1;
    return (v & 0xf0) > (this._ppr() & 0xf0) ? v : -1;
  }

  /** The CPU takes the interrupt: IRR → ISR. */
  acknowledge(): number {
    const v = this.pending();
    if (v < 0) return this._s.svr & 0xff; // spurious
    this._s.irr[v >>> 5] &= ~(1 << (v & 31));
    this._s.isr[v >>> 5] |= 1 << (v & 31);
    this._s.interrupts++;
    return v;
  }

  private _eoi(): void {
    const v = highestBit(this._s.isr);
    if (v < 0) return;
    this._s.isr[v >>> 5] &= ~(1 << (v & 31));
    this._wiring.kick(this);
  }

  // ---- the timer (SDM 10.5.4) -----------------------------------------------------------

  private _divider(): number {
    const d = this._s.timerDivide;
    return DIVIDERS[((d >> 1) & 4) | (d & 3)];
  }

  private _nsPerTick(): number {
    return (1e9 / TIMER_HZ) * this._divider();
  }

  private _currentCount(): number {
    const s = this._s;
    if (s.timerStart < 0 || s.timerInitial === 0) return 0;
    const ticks = Math.floor((this._ctx.now() - s.timerStart) / this._nsPerTick());
    if (s.lvt[0] & Apic.TIMER_PERIODIC) return s.timerInitial - (ticks % s.timerInitial);
    return ticks >= s.timerInitial ? 0 : s.timerInitial - ticks;
  }

  private _armTimer(): void {
    const s = this._s;
    if (s.timerStart < 0 || s.timerInitial === 0) {
      this._timer.cancel();
      return;
    }
    const period = s.timerInitial * this._nsPerTick();
    const elapsed = this._ctx.now() - s.timerStart;
    if (s.lvt[0] & Apic.TIMER_PERIODIC) this._timer.setAt(s.timerStart + (Math.floor(elapsed / period) + 1) * period);
    else if (elapsed < period) this._timer.setAt(s.timerStart + period);
    else this._timer.cancel();
  }

  private _timerFired(): void {
    const s = this._s;
    if (!(s.lvt[0] & Apic.LVT_MASKED)) this.accept(s.lvt[0] & 0xff);
    if (s.lvt[0] & Apic.TIMER_PERIODIC) this._armTimer();
    else s.timerStart = -1;
  }

  // ---- registers -------------------------------------------------------------------------

  private _region(): IoRegion {
    return {
      name: this.id, space: 'mmio', size: 0x1000, impl: { min: 4, max: 4 },
      ops: {
        read: (offset) => (offset & 0xf ? 0 : this.readReg(offset)),
        write: (offset, _size, value) => {
          if (!(offset & 0xf)) this.writeReg(offset, value);
        },
      },
      registerName: (offset) => registerName(offset),
    };
  }

  readReg(offset: number): number {
    const s = this._s;
    switch (offset) {
      case ApicReg.ID: return (s.id << 24) >>> 0;
      case ApicReg.VERSION: return 0x00050014;
      case ApicReg.TPR: return s.tpr;
      case ApicReg.APR: return 0;
      case ApicReg.PPR: return this._ppr();
      case ApicReg.LDR: return s.ldr >>> 0;
      case ApicReg.DFR: return s.dfr >>> 0;
      case ApicReg.SVR: return s.svr >>> 0;
      case ApicReg.ESR: return s.esr;
      case ApicReg.ICR_LO: return s.icrLo & ~Apic.DELIVERY_PENDING;
      case ApicReg.ICR_HI: return s.icrHi >>> 0;
      case ApicReg.TIMER_INITIAL: return s.timerInitial >>> 0;
      case ApicReg.TIMER_CURRENT: return this._currentCount() >>> 0;
      case ApicReg.TIMER_DIVIDE: return s.timerDivide;
    }
    if (offset >= ApicReg.LVT_TIMER && offset <= ApicReg.LVT_ERROR) return s.lvt[(offset - ApicReg.LVT_TIMER) >> 4] >>> 0;
    if (offset >= ApicReg.ISR && offset < ApicReg.ISR + 0x80) return s.isr[(offset - ApicReg.ISR) >> 4];
    if (offset >= ApicReg.TMR && offset < ApicReg.TMR + 0x80) return s.tmr[(offset - ApicReg.TMR) >> 4];
    if (offset >= ApicReg.IRR && offset < ApicReg.IRR + 0x80) return s.irr[(offset - ApicReg.IRR) >> 4];
    return 0;
  }

  writeReg(offset: number, value: number): void {
    const s = this._s;
    switch (offset) {
      case ApicReg.ID: s.id = value >>> 24; return;
      case ApicReg.TPR: s.tpr = value & 0xff; this._wiring.kick(this); return;
      case ApicReg.EOI: this._eoi(); return;
      case ApicReg.LDR: s.ldr = (value & 0xff000000) >>> 0; return;
      case ApicReg.DFR: s.dfr = (value | 0x0fffffff) >>> 0; return;
      case ApicReg.SVR: {
        s.svr = value & 0x3ff;
        if (!(s.svr & Apic.SVR_ENABLE)) for (let i = 0; i < 6; i++) s.lvt[i] |= Apic.LVT_MASKED;
        this._wiring.kick(this);
        return;
      }
      case ApicReg.ESR: s.esr = 0; return;
      case ApicReg.ICR_HI: s.icrHi = (value & 0xff000000) >>> 0; return;
      case ApicReg.ICR_LO: {
        s.icrLo = (value & 0x000ccfff) >>> 0;
        this._send();
        return;
      }
      case ApicReg.TIMER_INITIAL:
        s.timerInitial = value >>> 0;
        s.timerStart = value ? this._ctx.now() : -1;
        this._armTimer();
        return;
      case ApicReg.TIMER_DIVIDE:
        s.timerDivide = value & 0xb;
        this._armTimer();
        return;
    }
    if (offset >= ApicReg.LVT_TIMER && offset <= ApicReg.LVT_ERROR) {
      const i = (offset - ApicReg.LVT_TIMER) >> 4;
      let v = value & (i === 0 ? 0x300ff | Apic.LVT_MASKED : 0x1a7ff | Apic.LVT_MASKED);
      if (!(s.svr & Apic.SVR_ENABLE)) v |= Apic.LVT_MASKED;
      s.lvt[i] = v >>> 0;
      if (i === 0) this._armTimer();
      if (i === 3) this._wiring.kick(this);
    }
  }

  private _send(): void {
    const lo = this._s.icrLo;
    const ipi: Ipi = {
      mode: ((lo >> 8) & 7) as DeliveryMode,
      vector: lo & 0xff,
      shorthand: ((lo >> 18) & 3) as Shorthand,
      logical: (lo & Apic.ICR_LOGICAL) !== 0,
      dest: this._s.icrHi >>> 24,
      level: (lo & Apic.ICR_LEVEL) !== 0,
      assert: (lo & Apic.ICR_ASSERT) !== 0,
    };
    if (ipi.mode === DeliveryMode.FIXED && ipi.vector < 16) {
      this._s.esr |= 1 << 5; // send illegal vector
      return;
    }
    this._wiring.sendIpi(this, ipi);
  }

  /** Does a destination (physical ID or logical flat mask) select this APIC? */
  matches(ipi: Ipi): boolean {
    if (!ipi.logical) return ipi.dest === 0xff || ipi.dest === this._s.id;
    return ((this._s.ldr >>> 24) & ipi.dest) !== 0;
  }

  // ---- DeviceModel -------------------------------------------------------------------------

  snapshot(): DeviceState {
    return saveState(DESC, this._s);
  }

  restore(st: DeviceState): void {
    loadState(DESC, this._s, st);
    this._armTimer();
  }

  inspect(): Inspection {
    const s = this._s;
    const vecs = (b: Uint32Array): string => {
      const out: string[] = [];
      for (let v = 0; v < 256; v++) if (b[v >>> 5] & (1 << (v & 31))) out.push(v.toString(16).padStart(2, '0'));
      return out.join(' ') || 'none';
    };
    const lvtBits = (v: number): RegisterView['bits'] => [
      { name: 'mask', value: (v >> 16) & 1 },
      { name: 'mode', value: (v >> 8) & 7, meaning: ['fixed', 'lowest', 'SMI', '', 'NMI', 'INIT', '', 'ExtINT'][(v >> 8) & 7] },
      { name: 'vector', value: v & 0xff },
    ];
    const registers: RegisterView[] = [
      { name: 'ID', offset: ApicReg.ID, value: s.id, width: 8 },
      { name: 'TPR', offset: ApicReg.TPR, value: s.tpr, width: 8 },
      { name: 'PPR', offset: ApicReg.PPR, value: this._ppr(), width: 8 },
      { name: 'SVR', offset: ApicReg.SVR, value: s.svr, width: 16, bits: [{ name: 'APIC enable', value: (s.svr >> 8) & 1 }, { name: 'spurious vector', value: s.svr & 0xff }] },
      { name: 'LDR', offset: ApicReg.LDR, value: s.ldr >>> 0, width: 32 },
      { name: 'DFR', offset: ApicReg.DFR, value: s.dfr >>> 0, width: 32 },
      { name: 'ESR', offset: ApicReg.ESR, value: s.esr, width: 8 },
      { name: 'ICR', offset: ApicReg.ICR_LO, value: s.icrLo >>> 0, width: 32, note: `destination ${s.icrHi >>> 24}` },
      ...LVT_NAMES.map((n, i) => ({ name: `LVT ${n}`, offset: ApicReg.LVT_TIMER + i * 16, value: s.lvt[i] >>> 0, width: 32, bits: lvtBits(s.lvt[i]) })),
      { name: 'Timer Initial Count', offset: ApicReg.TIMER_INITIAL, value: s.timerInitial >>> 0, width: 32 },
      { name: 'Timer Current Count', offset: ApicReg.TIMER_CURRENT, value: this._currentCount() >>> 0, width: 32 },
      { name: 'Timer Divide', offset: ApicReg.TIMER_DIVIDE, value: s.timerDivide, width: 8, note: `÷${this._divider()}` },
      { name: 'IA32_APIC_BASE', value: s.base >>> 0, width: 32, bits: [{ name: 'EN', value: (s.base >> 11) & 1 }, { name: 'BSP', value: (s.base >> 8) & 1 }] },
    ];
    return {
      id: this.id, kind: this.kind, registers,
      counters: { interrupts: s.interrupts },
      extra: { IRR: vecs(s.irr), ISR: vecs(s.isr), TMR: vecs(s.tmr) },
    };
  }
}

function registerName(offset: number): string | undefined {
  const fixed: Record<number, string> = {
    [ApicReg.ID]: 'ID', [ApicReg.VERSION]: 'Version', [ApicReg.TPR]: 'TPR', [ApicReg.APR]: 'APR', [ApicReg.PPR]: 'PPR',
    [ApicReg.EOI]: 'EOI', [ApicReg.LDR]: 'LDR', [ApicReg.DFR]: 'DFR', [ApicReg.SVR]: 'SVR', [ApicReg.ESR]: 'ESR',
    [ApicReg.ICR_LO]: 'ICR low', [ApicReg.ICR_HI]: 'ICR high', [ApicReg.TIMER_INITIAL]: 'Timer Initial Count',
    [ApicReg.TIMER_CURRENT]: 'Timer Current Count', [ApicReg.TIMER_DIVIDE]: 'Timer Divide',
  };
  if (fixed[offset]) return fixed[offset];
  if (offset >= ApicReg.LVT_TIMER && offset <= ApicReg.LVT_ERROR) return `LVT ${LVT_NAMES[(offset - ApicReg.LVT_TIMER) >> 4]}`;
  if (offset >= ApicReg.ISR && offset < ApicReg.ISR + 0x80) return `ISR${(offset - ApicReg.ISR) >> 4}`;
  if (offset >= ApicReg.TMR && offset < ApicReg.TMR + 0x80) return `TMR${(offset - ApicReg.TMR) >> 4}`;
  if (offset >= ApicReg.IRR && offset < ApicReg.IRR + 0x80) return `IRR${(offset - ApicReg.IRR) >> 4}`;
  return undefined;
}
