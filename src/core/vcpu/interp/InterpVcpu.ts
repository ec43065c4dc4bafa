// The interpreter as a VcpuBackend (kind 'interp'): the face the run loop and the debugger
// see. The CPU itself is in cpu.ts (state, memory, run loop), exec.ts (instructions) and
// system.ts (protected mode, interrupts, tasks).

import type { DebugTables } from '../../debug/DebugTables.js';
import type { GuestMemory } from '../../memory/GuestMemory.js';
import type { CpuState, SegmentCache } from '../CpuState.js';
import type { ExitReason, GuestDebug, TranslateResult, VcpuBackend } from '../VcpuBackend.js';
import { VcpuRun } from '../VcpuBackend.js';
import { Cpu, type CpuOptions } from './cpu.js';
import { Reg, Seg } from './consts.js';
import { MSR_TSC } from './system.js';

export type InterpOptions = CpuOptions;

const SEG_ORDER: readonly ('es' | 'cs' | 'ss' | 'ds' | 'fs' | 'gs' | 'ldtr' | 'tr')[] =
  ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'ldtr', 'tr'];

export class InterpVcpu implements VcpuBackend {
  readonly kind = 'interp' as const;
  readonly exit = new VcpuRun();
  /** The CPU core; exposed for tests and the future block compiler. */
  readonly cpu: Cpu;

  /**
   * @param kick shared word (index 0): non-zero asks run() to return INTR soon; run() clears it.
   */
  constructor(
    readonly mem: GuestMemory,
    readonly kick: Int32Array,
    readonly dbg: DebugTables,
    opts: InterpOptions = {},
  ) {
    this.cpu = new Cpu(mem, kick, dbg, this.exit, opts);
  }

  run(budget: number): ExitReason {
    return this.cpu.run(budget);
  }

  completeIo(): void {
    this.cpu.completeIo();
    this.cpu.sync();
  }

  requestExit(): void {
    Atomics.store(this.kick, 0, 1);
  }

  /**
   * Ready for injectInterrupt: an external interrupt would be taken at the next boundary and
   * none is waiting already. run() can return before it delivers an injected vector (a kick
   * ends the slice first); acknowledging a second vector then would overwrite the first and
   * leave its ISR bit set at the PIC for good (KVM's ready_for_interrupt_injection says the same).
   */
  get interruptible(): boolean {
    return this.cpu.irqPending < 0 && this.cpu.interruptible;
  }

  injectInterrupt(vector: number): void {
    this.cpu.irqPending = vector & 0xff;
    this.cpu.slow = true;
  }

  injectNmi(): void {
    this.cpu.nmiPending = true;
    this.cpu.slow = true;
  }

  setInterruptWindow(request: boolean): void {
    this.cpu.irqWindow = request;
    this.cpu.slow = true;
  }

  setGuestDebug(cfg: GuestDebug): void {
    this.cpu.singleStep = cfg.singleStep;
    this.cpu.catchAll = cfg.catchAllVectors;
    this.cpu.slow = true;
  }

  skipBreakpointOnce(): void {
    this.cpu.skipBreakpointOnce();
  }

  get icount(): number {
    return this.cpu.icount;
  }

  /** Drops cached translations and every compiled block (guest memory changed behind the CPU). */
  flushTlb(): void {
    this.cpu.flushTlb();
    this.cpu.jit?.invalidateAll();
  }

  reset(): void {
    this.cpu.reset();
    this.cpu.clearTransient();
  }

  translate(linear: number, write: boolean, user: boolean): TranslateResult {
    const p = this.cpu.probe(linear >>> 0, write, user);
    if (p >= 0) return { ok: true, phys: p };
    const err = -1 - p;
    return { ok: false, fault: err & 1 ? 'page protection' : 'page not present', errorCode: err };
  }

  getState(): CpuState {
    const c = this.cpu;
    const seg = (s: number): SegmentCache => ({
      selector: c.segSel[s], base: c.segBase[s] >>> 0, limit: c.segLim[s] >>> 0, attr: c.segAttr[s],
    });
    const r = c.r32;
    return {
      eax: r[Reg.EAX] >>> 0, ecx: r[Reg.ECX] >>> 0, edx: r[Reg.EDX] >>> 0, ebx: r[Reg.EBX] >>> 0,
      esp: r[Reg.ESP] >>> 0, ebp: r[Reg.EBP] >>> 0, esi: r[Reg.ESI] >>> 0, edi: r[Reg.EDI] >>> 0,
      eip: c.eip >>> 0,
      eflags: c.getFlags() >>> 0,
      es: seg(Seg.ES), cs: seg(Seg.CS), ss: seg(Seg.SS), ds: seg(Seg.DS), fs: seg(Seg.FS), gs: seg(Seg.GS),
      ldtr: seg(Seg.LDTR), tr: seg(Seg.TR),
      gdtr: { base: c.gdtBase >>> 0, limit: c.gdtLimit },
      idtr: { base: c.idtBase >>> 0, limit: c.idtLimit },
      cr0: c.cr0 >>> 0, cr2: c.cr2 >>> 0, cr3: c.cr3 >>> 0, cr4: c.cr4 >>> 0,
      dr: [c.dr[0] >>> 0, c.dr[1] >>> 0, c.dr[2] >>> 0, c.dr[3] >>> 0, c.dr[6] >>> 0, c.dr[7] >>> 0],
      tsc: c.tsc(),
      msrs: { [MSR_TSC]: c.tsc() },
      halted: c.halted,
      interruptShadow: c.shadow,
      nmiPending: c.nmiPending,
      icount: c.icount,
    };
  }

  setState(s: CpuState): void {
    const c = this.cpu;
    const r = c.r32;
    r[Reg.EAX] = s.eax; r[Reg.ECX] = s.ecx; r[Reg.EDX] = s.edx; r[Reg.EBX] = s.ebx;
    r[Reg.ESP] = s.esp; r[Reg.EBP] = s.ebp; r[Reg.ESI] = s.esi; r[Reg.EDI] = s.edi;
    c.eip = s.eip >>> 0;
    c.cr0 = s.cr0 | 0;
    c.cr2 = s.cr2 | 0;
    c.cr3 = s.cr3 | 0;
    c.cr4 = s.cr4 | 0;
    c.flags = (s.eflags & 0x3f7fd5) | 2;
    c.lop = 0;
    SEG_ORDER.forEach((name, i) => {
      const sc = s[name];
      c.setSegCache(i, sc.selector, sc.base, sc.limit, sc.attr);
    });
    c.gdtBase = s.gdtr.base | 0;
    c.gdtLimit = s.gdtr.limit & 0xffff;
    c.idtBase = s.idtr.base | 0;
    c.idtLimit = s.idtr.limit & 0xffff;
    c.dr[0] = s.dr[0]; c.dr[1] = s.dr[1]; c.dr[2] = s.dr[2]; c.dr[3] = s.dr[3];
    c.dr[4] = c.dr[6] = s.dr[4];
    c.dr[5] = c.dr[7] = s.dr[5];
    c.icount = s.icount;
    c.setTsc(s.msrs[MSR_TSC] ?? s.tsc);
    c.halted = s.halted;
    c.shadow = s.interruptShadow;
    c.nmiPending = s.nmiPending;
    c.clearTransient();
    c.modeChanged();
    c.flushTlb();
  }
}
