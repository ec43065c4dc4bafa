// The x86 interpreter core: an i386-class CPU with the i486/Pentium integer additions
// (CMPXCHG, XADD, BSWAP, INVLPG, CPUID, RDTSC, RDMSR/WRMSR, CMPXCHG8B, CMOVcc).
// References: Intel SDM vol. 2 (instructions), vol. 3 ch. 2-7 (system architecture), and
// the Intel 80386 Programmer's Reference Manual (1986) where the 386 differs.
//
// How it is built, for speed (see issue 9, the block compiler that will sit on top):
// - Registers live in one typed array viewed as 32/16/8-bit (r32, r16, r8).
// - Flags are lazy: the last arithmetic operation's operands and result are kept and the
//   six arithmetic flags are computed only when read (Lf in consts.ts).
// - Memory goes through a software TLB: linear page -> host byte offset | permission bits,
//   one array load and one mask test per access. Everything unusual (MMIO, ROM writes, the
//   first write to a clean page, user access to a supervisor page, watched pages, #AC
//   alignment checking) fails the test and takes the slow path, which walks the page
//   tables and does the real thing.
// - Instruction bytes come from a "fetch window": the range of CS offsets that lie in the
//   current code page, so a fetch is a bounds test and a byte load.
// - Guest faults are JS exceptions of one preallocated sentinel (FAULT); the cause is in
//   fVec/fCode. An instruction never commits registers before its last faulting access,
//   except ESP and EIP, which are rolled back from espStart/ipStart.
// - An access outside RAM aborts the instruction (ABORT) with an MMIO/IO exit; after the
//   run loop completes it, the instruction is re-executed from its start and the completed
//   reads are served in order from a small read cache (KVM's emulator does the same).
//   Writes outside RAM are queued and leave as exits after the instruction completes.
//
// Not modelled: the x87 (CPUID has no FPU; ESC opcodes do nothing unless CR0.EM/TS make them
// #NM, see the D8-DF handler in exec.ts), I/O breakpoints (CR4.DE), VME/PVI, PAE, global
// pages, SMM. The TSC counts retired instructions.

import type { DebugTables } from '../../debug/DebugTables.js';
import { WatchSpace, Access } from '../../debug/DebugTables.js';
import type { GuestMemory } from '../../memory/GuestMemory.js';
import { MemCtl } from '../../memory/GuestMemory.js';
import type { VcpuRun } from '../VcpuBackend.js';
import type { ExitReason, IoDir } from '../VcpuBackend.js';
import { CPU_SIGNATURE } from './consts.js';
import * as sys from './system.js';
import { step as execStep } from './exec.js';
import { DEAD_BLOCK, Jit, type JitOptions } from './jit.js';

// ---- Local copies of consts.ts's enums ----
// esbuild (behind tsx and vitest) inlines a const enum only inside the file that declares it;
// from another module every use is a property load, under some loaders a getter call. These
// are on the hot path, so this file keeps its own copies; consts.test.ts checks they agree.

/** General registers in x86 encoding order: also the index into Cpu.r32. */
export const enum Reg {
  EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7,
}
/** Segment registers in x86 encoding order (Sreg field), then LDTR and TR. */
export const enum Seg {
  ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5, LDTR = 6, TR = 7,
}
/** EFLAGS bits (Intel SDM vol. 1, 3.4.3). */
export const enum F {
  CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, TF = 0x100, IF = 0x200, DF = 0x400,
  OF = 0x800, IOPL = 0x3000, NT = 0x4000, RF = 0x10000, VM = 0x20000, AC = 0x40000,
  VIF = 0x80000, VIP = 0x100000, ID = 0x200000,
  /** The six arithmetic flags. */
  ARITH = 0x8d5,
}
/** Exception vectors (SDM vol. 3, table 6-1). */
export const enum Vec {
  DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8, TS = 10, NP = 11,
  SS = 12, GP = 13, PF = 14, MF = 16, AC = 17,
}
/** How an event reaches the IDT: decides DPL checks, error codes and the EXT bit. */
export const enum Ev {
  /** A processor exception: pushes an error code when its vector has one. */
  EXC = 0,
  /** An external interrupt or NMI: EXT=1 in error codes of faults during delivery. */
  EXT = 1,
  /** INT n: gate DPL checked against CPL, IOPL-sensitive in V86 mode. */
  SOFT = 2,
  /** INT3 / INTO: gate DPL checked, but not IOPL-sensitive in V86 mode. */
  SOFTEXC = 3,
  /** INT1 (ICEBP, F1): delivered like a hardware #DB, no DPL check. */
  ICEBP = 4,
}
/**
 * Lazy flags: the last flag-setting operation. ZF, SF and PF always come from `lres`
 * (except ALL); CF, OF and AF from the operation's formula or from `flags`.
 */
export const enum Lf {
  /** All six arithmetic flags are in `flags`. */
  ALL = 0,
  /** ZF/SF/PF from lres, CF/OF/AF from `flags`. */
  ZSP = 1,
  /** AND/OR/XOR/TEST: CF=OF=AF=0. */
  LOGIC = 2,
  ADD = 3,
  /** ADC with a carry in of 1 (with 0 it is recorded as ADD). */
  ADC = 4,
  SUB = 5,
  /** SBB with a borrow in of 1. */
  SBB = 6,
  /** INC: like ADD of 1, but CF is kept in `flags`. */
  INC = 7,
  /** DEC: like SUB of 1, but CF is kept in `flags`. */
  DEC = 8,
}
/**
 * TLB entry: page-aligned host byte offset | these bits; 0 = no entry. An access takes the fast
 * path when (entry & check) === VALID, where the check mask depends on CPL and direction.
 */
export const enum Tlb {
  VALID = 1,
  /** U/S=0: user accesses take the slow path (which faults). */
  NOUSER = 2,
  /** User writes slow: read-only page, D not yet set, ROM/MMIO, watched. */
  NOWU = 4,
  /** Supervisor writes slow: read-only with CR0.WP, D not set, ROM/MMIO, watched. */
  NOWS = 8,
  /** Reads slow: MMIO hole or watched page. */
  SLOWR = 16,
  /** Part of a 4 MiB page (INVLPG of such a page flushes everything). */
  BIG = 32,
  /** Set in every entry: a check mask with this bit sends every access to the slow path
   * (alignment checking at CPL 3). */
  ALWAYS = 64,
  /** The page holds compiled code: writes take the slow path, which invalidates (jit.ts). */
  CODE = 128,
  /**
   * The page tables let a user (WOK_USER) / supervisor (WOK_SUP) write through this entry with
   * its D bit already set: a write the check sends to the slow path (ROM, MMIO, watched, code)
   * needs no new walk, only the physical access.
   */
  WOK_USER = 256,
  WOK_SUP = 512,
  RCHK_SUP = VALID | SLOWR,
  RCHK_USER = VALID | SLOWR | NOUSER,
  WCHK_SUP = VALID | NOWS | CODE,
  WCHK_USER = VALID | NOWU | NOUSER | CODE,
}
export const enum Cr0Bit {
  PE = 0x1, MP = 0x2, EM = 0x4, TS = 0x8, ET = 0x10, NE = 0x20, WP = 0x10000, AM = 0x40000,
  NW = 0x20000000, CD = 0x40000000, PG = 0x80000000,
}
export const enum Cr4Bit {
  VME = 0x1, PVI = 0x2, TSD = 0x4, DE = 0x8, PSE = 0x10,
}
/** ExitReason's values (VcpuBackend.ts), local for the same reason. */
export const enum Xr {
  NONE = 0, IO = 1, MMIO = 2, HLT = 3, IRQ_WINDOW = 4, INTR = 5, DEBUG = 6, SHUTDOWN = 7, INTERNAL_ERROR = 8,
}

/** IoDir's values. */
const enum Dir { WRITE = 0, READ = 1 }

/** exec.ts's step(), held in a module-local binding (an imported one can be a getter). */
const step: (c: Cpu) => void = execStep;

/** Thrown for a guest fault; the vector and error code are in Cpu.fVec / Cpu.fCode. */
export const FAULT = { kind: 'fault' } as const;
/** Thrown when the instruction needs data from outside (MMIO read, IN): exit, redo later. */
export const ABORT = { kind: 'abort' } as const;
/** Thrown by INT n / INT3 / INTO / traps: an event to deliver after the instruction (EIP is past it). */
export const EVENT = { kind: 'event' } as const;

/** Index of an 8-bit register (AL CL DL BL AH CH DH BH) in Cpu.r8. */
export const R8 = new Uint8Array([0, 4, 8, 12, 1, 5, 9, 13]);

/** 1 when the byte has even parity (PF). */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i;
  b ^= b >> 4; b ^= b >> 2; b ^= b >> 1;
  PARITY[i] = (b & 1) ^ 1;
}

/** Exceptions that push an error code in protected mode. */
const HAS_ERROR_CODE = 1 << Vec.DF | 1 << Vec.TS | 1 << Vec.NP | 1 << Vec.SS | 1 << Vec.GP | 1 << Vec.PF | 1 << Vec.AC;

const TLB_LIST_MAX = 4096;
/** Instructions between looks at the kick word. */
const KICK_INTERVAL = 1024;
/** Exits one instruction may queue (writes outside RAM). */
const WQ_MAX = 16;

/**
 * Accesses the run loop can deliver without the CPU leaving run() (VcpuThread's in-core
 * devices and daemon round trips): what an IO/MMIO exit and completeIo() would do, done in
 * place. It declines (-1 / false) whenever the loop must see the exit itself: an armed I/O or
 * MMIO breakpoint, step-trap, a busy slot. `ip` is the instruction's linear address.
 */
export interface TrapFastPath {
  /** An IN or MMIO read: its value (0 to 0xFFFFFFFF), or -1 to take the exit. */
  read(kind: number, addr: number, size: number, ip: number): number;
  /** An OUT or MMIO write: true when delivered, false to take the exit. */
  write(kind: number, addr: number, size: number, value: number, ip: number): boolean;
  /**
   * `count` MMIO writes of `value` (one REP STOS chunk, all in one page), the first at physical
   * `addr`, each next one `size` bytes above it (below when `down`): true when all were
   * delivered, false to hand them over one by one.
   */
  fill?(addr: number, size: number, count: number, value: number, down: boolean, ip: number): boolean;
}

export interface CpuOptions {
  /**
   * Behave like an 80286 where the 286 real-mode test suite would otherwise see a 386:
   * LOCK is accepted on any instruction (a 386 raises #UD), and in real mode POPF/IRET
   * cannot set IOPL or NT (a 386 can). Only the SingleStepTests runner sets it.
   */
  compat286?: boolean;
  /**
   * The CPU has a local APIC (the vCPU thread owns it): CPUID.1 then reports APIC (EDX bit 9)
   * and the initial APIC ID (EBX bits 31-24), and IA32_APIC_BASE (MSR 1Bh) reads and writes
   * through `baseMsr`.
   */
  apic?: { id: number; baseMsr: { read(): number; write(value: number): void } };
  /** The block compiler (jit.ts): its options, or false to only interpret. On by default. */
  jit?: JitOptions | false;
  /**
   * PAUSE (F3 90) ends run() (an INTR exit) after it retires, as VT-x's PAUSE exiting lets a
   * hypervisor run another vCPU: a spin-wait loop then yields to the vCPU that holds the lock
   * or owes it an answer. For a VM with more than one vCPU sharing a host thread.
   */
  pauseExits?: boolean;
}

export class Cpu {
  // ---- memory ----
  readonly u8: Uint8Array;
  /** Aligned views of guest memory (the host is little-endian). */
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  readonly readMap: Int32Array;
  readonly writeMap: Int32Array;
  readonly ctl: Int32Array;

  // ---- registers ----
  readonly r32 = new Int32Array(8);
  readonly r16 = new Uint16Array(this.r32.buffer);
  readonly r8 = new Uint8Array(this.r32.buffer);
  /** Offset in CS of the next byte to fetch; between instructions, EIP. Unsigned. */
  eip = 0;
  /** EIP of the instruction being executed (faults roll back to it). */
  ipStart = 0;
  espStart = 0;

  // Flags: `flags` holds every non-arithmetic bit, and the arithmetic ones when lop=ALL.
  flags = 2;
  lop = Lf.ALL as number;
  lres = 0;
  la = 0;
  lb = 0;
  /** Sign bit position of the last operation: 7, 15 or 31. */
  lbits = 31;

  // Segment registers: selector and descriptor cache (attr in VMX layout, limit in bytes).
  readonly segSel = new Int32Array(8);
  readonly segBase = new Int32Array(8);
  readonly segLim = new Float64Array(8);
  readonly segAttr = new Int32Array(8);
  /** Highest offset a read / write may touch without the full check (-1: always check). */
  readonly rlim = new Float64Array(6);
  readonly wlim = new Float64Array(6);

  gdtBase = 0;
  gdtLimit = 0xffff;
  idtBase = 0;
  idtLimit = 0xffff;
  cr0 = 0;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  /** DR0-DR7 (DR4/5 alias DR6/7). Storage only. */
  readonly dr = new Int32Array(8);
  /** TR6/TR7, the 386 test registers (storage only). */
  readonly tr = new Int32Array(8);
  tscBase = 0;
  icount = 0;

  // Mode, derived from CR0/EFLAGS/CS/SS; kept current by modeChanged()/setCpl().
  pe = false;
  vm = false;
  pg = false;
  cpl = 0;
  user = false;
  cs32 = false;
  ss32 = false;
  rchk = Tlb.RCHK_SUP as number;
  wchk = Tlb.WCHK_SUP as number;
  a20mask = -1;

  // Decoder state of the current instruction.
  o32 = false;
  a32 = false;
  segOv = -1;
  /** 0, or the REP prefix byte (0xF2 REPNE, 0xF3 REP/REPE). */
  rep = 0;
  lockp = false;
  /** The decoder state above differs from the defaults: reset before the next instruction. */
  pfx = true;
  /** ModR/M byte, and for memory forms the effective address. */
  m = 0;
  ea = 0;
  eaSeg = Seg.DS as number;

  // Fetch window: CS offsets [fLo, fHi] are RAM at host fDelta + offset.
  fLo = 1;
  fHi = -1;
  fDelta = 0;

  // Software TLB.
  readonly tlb = new Int32Array(1 << 20);
  readonly tlbPhys = new Int32Array(1 << 20);
  private readonly _tlbList = new Int32Array(TLB_LIST_MAX);
  private _tlbN = 0;
  private _tlbBig = false;
  // Page walk results (to avoid allocating a record per walk).
  private _wU = 0;
  private _wRW = 0;
  private _wD = 0;
  private _wBig = 0;

  // Faults.
  fVec = 0;
  fCode = -1;
  /** Type of the pending EVENT (Ev). */
  evType = Ev.EXC as number;

  // Exits and I/O completion.
  /** Completed read data (MMIO reads, IN) for the instruction being re-executed. */
  private readonly _rc = new Uint8Array(4096 + 16);
  private _rcLen = 0;
  private _rcPos = 0;
  /** Reads before this point belong to committed REP iterations (a redo starts here). */
  private _rcStart = 0;
  /** Bytes of read data the pending exit asked for (0: none). */
  pendIn = 0;
  /** Queued write exits (OUT, MMIO/ROM writes). */
  private readonly _wqKind = new Int32Array(WQ_MAX);
  private readonly _wqAddr = new Int32Array(WQ_MAX);
  private readonly _wqSize = new Int32Array(WQ_MAX);
  private readonly _wqVal = new Int32Array(WQ_MAX);
  /** Elements of a batched REP OUTS (else 1); then _wqVal is the host offset of the first. */
  private readonly _wqCount = new Int32Array(WQ_MAX);
  private readonly _wqStep = new Int32Array(WQ_MAX);
  private _wqLen = 0;
  private _wqPos = 0;
  /** MMIO during descriptor/IDT/TSS accesses reads all-ones and drops writes (no exit). */
  noExit = false;
  /** The last instruction aborted for I/O data: re-execute it before anything else. */
  restart = false;
  /** See TrapFastPath; null: every access outside RAM exits. */
  trapFast: TrapFastPath | null = null;
  /**
   * Set by compiled code around a write after which its instruction cannot fault: a device
   * write then goes to the fast path at once, as an OUT does, not through the write queue.
   */
  wrLast = false;
  /**
   * Reads the fast path answered during the current instruction (step() and the compiled
   * read helpers reset frLen): if a later access of the same instruction must exit, they go
   * into the read cache, so that the redo does not read the device twice.
   */
  frLen = 0;
  private readonly _fr = new Uint8Array(16);
  /** requestStop(): leave run() at the next instruction boundary. */
  private _stopReq = false;

  // Events.
  /** Anything that needs the careful path between instructions. */
  slow = true;
  halted = false;
  shadow = false;
  irqPending = -1;
  nmiPending = false;
  nmiBlocked = false;
  irqWindow = false;
  singleStep = false;
  catchAll = false;
  private _skipBp = false;
  /** The debugger caught an event; deliver it (uncaught) at the next run(). */
  private _stashVec = -1;
  private _stashCode = -1;
  private _stashType = 0;
  private _stashEip = 0;
  private _stepDone = false;
  /** A REP instruction stopped between iterations: the breakpoint at its address already fired. */
  private _repResume = false;
  private _dbgExec = false;
  watchArmed = false;
  private _dbgGen = -1;
  private _memGen = -1;
  private _watchHit = false;
  private _watchAddr = 0;
  private _watchSize = 0;
  private _watchWrite = false;
  /** LOCK on a non-lockable instruction raises #UD (off in compat286). */
  readonly lockUd: boolean;
  /** Real-mode POPF/IRET leave IOPL and NT clear, as on a 286. */
  readonly compat286: boolean;
  /** See CpuOptions.pauseExits. */
  readonly pauseExits: boolean;
  /** The local APIC's face to the CPU (CPUID, IA32_APIC_BASE), or null without one. */
  readonly apic: CpuOptions['apic'] | null;
  /** The block compiler shared by the CPUs of this memory, or null when only interpreting. */
  readonly jit: Jit | null;
  /** Jit.pageCode (per host page: compiled code there), or an empty array without a Jit. */
  private readonly _codePage: Uint8Array;
  /** Instructions a compiled block retired before the instruction that threw. */
  jitRetired = 0;
  /** TLB bits that keep instruction fetch off a compiled block (MMIO, watched, user/supervisor). */
  private _xchk = Tlb.VALID | Tlb.SLOWR as number;

  constructor(
    readonly mem: GuestMemory,
    readonly kick: Int32Array,
    readonly dbg: DebugTables,
    readonly exit: VcpuRun,
    opts: CpuOptions = {},
  ) {
    this.u8 = mem.u8;
    this.u16 = new Uint16Array(this.u8.buffer, this.u8.byteOffset, this.u8.length >> 1);
    this.i32 = new Int32Array(this.u8.buffer, this.u8.byteOffset, this.u8.length >> 2);
    this.readMap = mem.readMap;
    this.writeMap = mem.writeMap;
    this.ctl = mem.ctl;
    if (this.u8.length > 0x7fff0000) throw new RangeError('the interpreter needs guest memory below 2 GiB of host buffer');
    this.compat286 = opts.compat286 ?? false;
    this.pauseExits = opts.pauseExits ?? false;
    this.apic = opts.apic ?? null;
    this.lockUd = !this.compat286;
    this.jit = opts.jit === false ? null : Jit.for(mem, this, opts.jit);
    this._codePage = this.jit?.pageCode ?? new Uint8Array(0);
    this.reset();
  }

  // =====================================================================================
  // Reset and mode bookkeeping
  // =====================================================================================

  /** Power-on state (SDM vol. 3, 9.1.1). */
  reset(): void {
    this.r32.fill(0);
    this.r32[Reg.EDX] = CPU_SIGNATURE;
    this.eip = 0xfff0;
    this.flags = 2;
    this.lop = Lf.ALL;
    this.cr0 = Cr0Bit.ET | Cr0Bit.CD | Cr0Bit.NW;
    this.cr2 = this.cr3 = this.cr4 = 0;
    this.dr.fill(0);
    this.dr[6] = 0xffff0ff0 | 0;
    this.dr[7] = 0x400;
    this.hwExecArmed = this.hwDataArmed = false;
    this._hwHits = 0;
    this.tr.fill(0);
    for (let s = 0; s < 6; s++) this.setSegCache(s, 0, 0, 0xffff, 0x93);
    this.setSegCache(Seg.CS, 0xf000, 0xffff0000 | 0, 0xffff, 0x9b);
    this.setSegCache(Seg.LDTR, 0, 0, 0xffff, 0x82);
    this.setSegCache(Seg.TR, 0, 0, 0xffff, 0x8b);
    this.gdtBase = this.idtBase = 0;
    this.gdtLimit = this.idtLimit = 0xffff;
    this.tscBase = 0;
    this.icount = 0;
    this.halted = false;
    this.shadow = false;
    this.irqPending = -1;
    this.nmiPending = false;
    this.nmiBlocked = false;
    this.restart = false;
    this.pendIn = 0;
    this._rcLen = this._rcPos = this._rcStart = 0;
    this._wqLen = this._wqPos = 0;
    this._stashVec = -1;
    this._stepDone = false;
    this._repResume = false;
    this._watchHit = false;
    this.modeChanged();
    this.flushTlb();
  }

  /** CR0.PE/PG/WP, EFLAGS.VM or CS changed: recompute everything derived from them. */
  modeChanged(): void {
    this.pe = (this.cr0 & Cr0Bit.PE) !== 0;
    this.vm = this.pe && (this.flags & F.VM) !== 0;
    this.pg = this.pe && (this.cr0 & Cr0Bit.PG) !== 0;
    this.cs32 = !this.vm && (this.segAttr[Seg.CS] & 0x4000) !== 0;
    this.ss32 = !this.vm && (this.segAttr[Seg.SS] & 0x4000) !== 0;
    this.pfx = true;
    // CPL is SS.DPL (as VMX keeps it): right after MOV CR0 sets PE it is still 0,
    // whatever RPL bits the real-mode CS selector has.
    this.setCpl(!this.pe ? 0 : this.vm ? 3 : (this.segAttr[Seg.SS] >> 5) & 3);
    for (let s = 0; s < 6; s++) this.segFast(s);
  }

  setCpl(cpl: number): void {
    this.cpl = cpl;
    this.user = cpl === 3;
    // Alignment checking (#AC, 486): CR0.AM and EFLAGS.AC at CPL 3. Every data access then
    // takes the slow path, which checks; nothing is paid while it is off.
    this.alignCheck = this.user && (this.cr0 & Cr0Bit.AM) !== 0 && (this.flags & F.AC) !== 0;
    const slowAll = this.alignCheck ? Tlb.ALWAYS : 0;
    this.rchk = (this.user ? Tlb.RCHK_USER : Tlb.RCHK_SUP) | slowAll;
    this.wchk = (this.user ? Tlb.WCHK_USER : Tlb.WCHK_SUP) | slowAll;
    this._xchk = Tlb.VALID | Tlb.SLOWR | (this.user ? Tlb.NOUSER : 0);
    this.fHi = -1;
  }

  /** #AC is armed (see setCpl). */
  alignCheck = false;

  /** Loads a segment descriptor cache as is (no checks). */
  setSegCache(s: number, sel: number, base: number, limit: number, attr: number): void {
    this.segSel[s] = sel & 0xffff;
    this.segBase[s] = base | 0;
    this.segLim[s] = limit >>> 0;
    this.segAttr[s] = attr;
    if (s < 6) {
      this.segFast(s);
      if (s === Seg.CS) {
        this.cs32 = !this.vm && (attr & 0x4000) !== 0;
        this.fHi = -1;
        this.pfx = true;
      } else if (s === Seg.SS) this.ss32 = !this.vm && (attr & 0x4000) !== 0;
    }
  }

  /** Recomputes the fast read/write limits of a data segment register. */
  segFast(s: number): void {
    const attr = this.segAttr[s];
    const lim = this.segLim[s];
    const code = (attr & 8) !== 0;
    const expDown = !code && (attr & 4) !== 0;
    if (!this.pe || this.vm) {
      this.rlim[s] = this.wlim[s] = expDown ? -1 : lim;
    } else if ((attr & 0x80) === 0) {
      this.rlim[s] = this.wlim[s] = -1;
    } else {
      this.rlim[s] = (!code || (attr & 2) !== 0) && !expDown ? lim : -1;
      this.wlim[s] = !code && (attr & 2) !== 0 && !expDown ? lim : -1;
    }
  }

  // =====================================================================================
  // Lazy flags
  // =====================================================================================

  cf(): number {
    switch (this.lop) {
      case Lf.ALL: case Lf.ZSP: case Lf.INC: case Lf.DEC: return this.flags & 1;
      case Lf.LOGIC: return 0;
      case Lf.ADD: return (this.lres >>> 0) < (this.la >>> 0) ? 1 : 0;
      case Lf.ADC: return (this.lres >>> 0) <= (this.la >>> 0) ? 1 : 0;
      case Lf.SUB: return (this.la >>> 0) < (this.lb >>> 0) ? 1 : 0;
      default: return (this.la >>> 0) <= (this.lb >>> 0) ? 1 : 0;
    }
  }

  zf(): number {
    return this.lop === Lf.ALL ? (this.flags >> 6) & 1 : this.lres === 0 ? 1 : 0;
  }

  sf(): number {
    return this.lop === Lf.ALL ? (this.flags >> 7) & 1 : (this.lres >>> this.lbits) & 1;
  }

  pf(): number {
    return this.lop === Lf.ALL ? (this.flags >> 2) & 1 : PARITY[this.lres & 0xff];
  }

  of(): number {
    switch (this.lop) {
      case Lf.ALL: case Lf.ZSP: return (this.flags >> 11) & 1;
      case Lf.LOGIC: return 0;
      case Lf.ADD: case Lf.ADC: case Lf.INC: return (((this.la ^ this.lres) & (this.lb ^ this.lres)) >>> this.lbits) & 1;
      default: return (((this.la ^ this.lb) & (this.la ^ this.lres)) >>> this.lbits) & 1;
    }
  }

  af(): number {
    switch (this.lop) {
      case Lf.ALL: case Lf.ZSP: return (this.flags >> 4) & 1;
      case Lf.LOGIC: return 0;
      default: return ((this.la ^ this.lb ^ this.lres) >> 4) & 1;
    }
  }

  /** Architectural EFLAGS. */
  getFlags(): number {
    if (this.lop === Lf.ALL) return this.flags;
    return (this.flags & ~F.ARITH) | this.cf() | (this.pf() << 2) | (this.af() << 4) | (this.zf() << 6) |
      (this.sf() << 7) | (this.of() << 11);
  }

  /** Folds the lazy flags into `flags`. */
  materialize(): void {
    if (this.lop !== Lf.ALL) {
      this.flags = this.getFlags();
      this.lop = Lf.ALL;
    }
  }

  /** Sets the arithmetic flags in `mask` to `bits`, keeping the others. */
  setArith(mask: number, bits: number): void {
    this.materialize();
    this.flags = (this.flags & ~mask) | (bits & mask);
  }

  /** Loads EFLAGS as is (mode bits included); the caller decides what may change. */
  setFlags(v: number): void {
    const old = this.flags;
    this.flags = (v & 0x3f7fd5) | 2;
    this.lop = Lf.ALL;
    if ((old ^ this.flags) & F.VM) this.modeChanged();
    else if ((old ^ this.flags) & F.AC) this.setCpl(this.cpl);
    if (this.flags & (F.TF | F.RF)) this.slow = true;
  }

  cond(cc: number): boolean {
    switch (cc) {
      case 0: return this.of() !== 0;
      case 1: return this.of() === 0;
      case 2: return this.cf() !== 0;
      case 3: return this.cf() === 0;
      case 4: return this.zf() !== 0;
      case 5: return this.zf() === 0;
      case 6: return (this.cf() | this.zf()) !== 0;
      case 7: return (this.cf() | this.zf()) === 0;
      case 8: return this.sf() !== 0;
      case 9: return this.sf() === 0;
      case 10: return this.pf() !== 0;
      case 11: return this.pf() === 0;
      case 12: return this.sf() !== this.of();
      case 13: return this.sf() === this.of();
      case 14: return this.zf() !== 0 || this.sf() !== this.of();
      default: return this.zf() === 0 && this.sf() === this.of();
    }
  }

  // =====================================================================================
  // Faults
  // =====================================================================================

  fault(vec: number, code: number): never {
    this.fVec = vec;
    this.fCode = code;
    throw FAULT;
  }

  gp(code: number): never {
    return this.fault(Vec.GP, code);
  }

  ud(): never {
    return this.fault(Vec.UD, -1);
  }

  // =====================================================================================
  // Segmented memory access
  // =====================================================================================

  /** The full check for an access the fast limits refused: faults, or returns if allowed. */
  segCheck(s: number, off: number, size: number, write: boolean): void {
    const attr = this.segAttr[s];
    const vec = s === Seg.SS ? Vec.SS : Vec.GP;
    if (this.pe && !this.vm) {
      if ((attr & 0x80) === 0) this.fault(vec, 0);
      if (write ? (attr & 0xa) !== 2 : (attr & 0xa) === 8) this.fault(vec, 0);
    }
    const end = off + size - 1;
    const lim = this.segLim[s];
    if ((attr & 0x1c) === 0x14) {
      const upper = attr & 0x4000 ? 0xffffffff : 0xffff;
      if (off <= lim || end > upper) this.fault(vec, 0);
    } else if (end > lim) {
      this.fault(vec, 0);
    }
  }

  rd8(s: number, off: number): number {
    if (off > this.rlim[s]) this.segCheck(s, off, 1, false);
    const lin = (this.segBase[s] + off) | 0;
    const e = this.tlb[lin >>> 12];
    if ((e & this.rchk) === Tlb.VALID) return this.u8[(e & -4096) + (lin & 4095)];
    return this.rdLinSlow(lin, 1, this.user);
  }

  rd16(s: number, off: number): number {
    if (off + 1 > this.rlim[s]) this.segCheck(s, off, 2, false);
    const lin = (this.segBase[s] + off) | 0;
    const e = this.tlb[lin >>> 12];
    if ((e & this.rchk) === Tlb.VALID) {
      const a = (e & -4096) + (lin & 4095);
      if ((a & 1) === 0) return this.u16[a >> 1];
      if ((lin & 4095) !== 4095) return this.u8[a] | (this.u8[a + 1] << 8);
    }
    return this.rdLinSlow(lin, 2, this.user);
  }

  rd32(s: number, off: number): number {
    if (off + 3 > this.rlim[s]) this.segCheck(s, off, 4, false);
    const lin = (this.segBase[s] + off) | 0;
    const e = this.tlb[lin >>> 12];
    if ((e & this.rchk) === Tlb.VALID) {
      const a = (e & -4096) + (lin & 4095);
      if ((a & 3) === 0) return this.i32[a >> 2];
      if ((lin & 4095) <= 4092) {
        const u8 = this.u8;
        return u8[a] | (u8[a + 1] << 8) | (u8[a + 2] << 16) | (u8[a + 3] << 24);
      }
    }
    return this.rdLinSlow(lin, 4, this.user);
  }

  wr8(s: number, off: number, v: number): void {
    if (off > this.wlim[s]) this.segCheck(s, off, 1, true);
    const lin = (this.segBase[s] + off) | 0;
    const e = this.tlb[lin >>> 12];
    if ((e & this.wchk) === Tlb.VALID) {
      this.u8[(e & -4096) + (lin & 4095)] = v;
      return;
    }
    this.wrLinSlow(lin, 1, v, this.user);
  }

  wr16(s: number, off: number, v: number): void {
    if (off + 1 > this.wlim[s]) this.segCheck(s, off, 2, true);
    const lin = (this.segBase[s] + off) | 0;
    const e = this.tlb[lin >>> 12];
    if ((e & this.wchk) === Tlb.VALID) {
      const a = (e & -4096) + (lin & 4095);
      if ((a & 1) === 0) {
        this.u16[a >> 1] = v;
        return;
      }
      if ((lin & 4095) !== 4095) {
        this.u8[a] = v;
        this.u8[a + 1] = v >> 8;
        return;
      }
    }
    this.wrLinSlow(lin, 2, v, this.user);
  }

  wr32(s: number, off: number, v: number): void {
    if (off + 3 > this.wlim[s]) this.segCheck(s, off, 4, true);
    const lin = (this.segBase[s] + off) | 0;
    const e = this.tlb[lin >>> 12];
    if ((e & this.wchk) === Tlb.VALID) {
      const a = (e & -4096) + (lin & 4095);
      if ((a & 3) === 0) {
        this.i32[a >> 2] = v;
        return;
      }
      if ((lin & 4095) <= 4092) {
        const u8 = this.u8;
        u8[a] = v;
        u8[a + 1] = v >> 8;
        u8[a + 2] = v >> 16;
        u8[a + 3] = v >> 24;
        return;
      }
    }
    this.wrLinSlow(lin, 4, v, this.user);
  }

  /** Checks that a write of `size` bytes at s:off would pass segmentation and paging (ENTER, far CALL). */
  probeWrite(s: number, off: number, size: number): void {
    if (off + size - 1 > this.wlim[s]) this.segCheck(s, off, size, true);
    const lin = (this.segBase[s] + off) | 0;
    if ((this.tlb[lin >>> 12] & this.wchk) !== Tlb.VALID) this.fill(lin, true, this.user);
    const last = (lin + size - 1) & ~4095;
    if ((this.tlb[last >>> 12] & this.wchk) !== Tlb.VALID) this.fill(last, true, this.user);
  }

  rdS(sz: number, s: number, off: number): number {
    return sz === 0 ? this.rd8(s, off) : sz === 1 ? this.rd16(s, off) : this.rd32(s, off);
  }

  wrS(sz: number, s: number, off: number, v: number): void {
    if (sz === 0) this.wr8(s, off, v);
    else if (sz === 1) this.wr16(s, off, v);
    else this.wr32(s, off, v);
  }

  // ---- supervisor ("system") linear accesses: descriptor tables, TSS, IDT ----

  rdSys(lin: number, size: number): number {
    lin |= 0;
    const e = this.tlb[lin >>> 12];
    if ((e & Tlb.RCHK_SUP) === Tlb.VALID && (lin & 4095) <= 4096 - size) {
      const a = (e & -4096) + (lin & 4095);
      const u8 = this.u8;
      if (size === 1) return u8[a];
      if (size === 2) return u8[a] | (u8[a + 1] << 8);
      return u8[a] | (u8[a + 1] << 8) | (u8[a + 2] << 16) | (u8[a + 3] << 24);
    }
    const ne = this.noExit;
    this.noExit = true;
    try {
      return this.rdLinSlow(lin, size, false);
    } finally {
      this.noExit = ne;
    }
  }

  wrSys(lin: number, size: number, v: number): void {
    lin |= 0;
    const e = this.tlb[lin >>> 12];
    if ((e & Tlb.WCHK_SUP) === Tlb.VALID && (lin & 4095) <= 4096 - size) {
      const a = (e & -4096) + (lin & 4095);
      const u8 = this.u8;
      u8[a] = v;
      if (size > 1) u8[a + 1] = v >> 8;
      if (size > 2) { u8[a + 2] = v >> 16; u8[a + 3] = v >> 24; }
      return;
    }
    const ne = this.noExit;
    this.noExit = true;
    try {
      this.wrLinSlow(lin, size, v, false);
    } finally {
      this.noExit = ne;
    }
  }

  /** A linear access with the given privilege (stack pushes of interrupt delivery). */
  rdLin(lin: number, size: number, user: boolean): number {
    lin |= 0;
    const e = this.tlb[lin >>> 12];
    if ((e & (user ? Tlb.RCHK_USER : Tlb.RCHK_SUP)) === Tlb.VALID && (lin & 4095) <= 4096 - size) {
      const a = (e & -4096) + (lin & 4095);
      const u8 = this.u8;
      if (size === 1) return u8[a];
      if (size === 2) return u8[a] | (u8[a + 1] << 8);
      return u8[a] | (u8[a + 1] << 8) | (u8[a + 2] << 16) | (u8[a + 3] << 24);
    }
    return this.rdLinSlow(lin, size, user);
  }

  wrLin(lin: number, size: number, v: number, user: boolean): void {
    lin |= 0;
    const e = this.tlb[lin >>> 12];
    if ((e & (user ? Tlb.WCHK_USER : Tlb.WCHK_SUP)) === Tlb.VALID && (lin & 4095) <= 4096 - size) {
      const a = (e & -4096) + (lin & 4095);
      const u8 = this.u8;
      u8[a] = v;
      if (size > 1) u8[a + 1] = v >> 8;
      if (size > 2) { u8[a + 2] = v >> 16; u8[a + 3] = v >> 24; }
      return;
    }
    this.wrLinSlow(lin, size, v, user);
  }

  // ---- the slow paths ----

  rdLinSlow(lin: number, size: number, user: boolean): number {
    if (this.alignCheck && user && (lin & (size - 1)) !== 0) this.fault(Vec.AC, 0);
    if ((lin & 4095) + size > 4096) {
      // Straddles two pages: both translations (and their faults) come before any access;
      // a fault on the second page reports its first byte in CR2.
      this.fill(lin, false, user);
      this.fill((lin + size - 1) & ~4095, false, user);
      let v = 0;
      for (let i = 0; i < size; i++) v |= this.rdLinSlow((lin + i) | 0, 1, user) << (i * 8);
      return v;
    }
    // A valid entry (MMIO, a watched page) already allows the read: no new walk.
    const e = this.tlb[lin >>> 12];
    if ((e & Tlb.VALID) === 0 || (user && (e & Tlb.NOUSER) !== 0)) this.fill(lin, false, user);
    return this.physRead(this.tlbPhys[lin >>> 12] | (lin & 4095), size, lin);
  }

  wrLinSlow(lin: number, size: number, v: number, user: boolean): void {
    if (this.alignCheck && user && (lin & (size - 1)) !== 0) this.fault(Vec.AC, 0);
    const e = this.tlb[lin >>> 12];
    if ((e & Tlb.CODE) !== 0 && (e & ((user ? Tlb.WCHK_USER : Tlb.WCHK_SUP) & ~Tlb.CODE)) === Tlb.VALID && (lin & 4095) + size <= 4096) {
      // Plain RAM that holds compiled code: drop the blocks the write overlaps, then write.
      const a = (e & -4096) + (lin & 4095);
      this.jit!.written(this, a, size);
      const u8 = this.u8;
      u8[a] = v;
      if (size > 1) u8[a + 1] = v >> 8;
      if (size > 2) { u8[a + 2] = v >> 16; u8[a + 3] = v >> 24; }
      return;
    }
    if ((lin & 4095) + size > 4096) {
      this.fill(lin, true, user);
      this.fill((lin + size - 1) & ~4095, true, user);
      for (let i = 0; i < size; i++) this.wrLinSlow((lin + i) | 0, 1, (v >> (i * 8)) & 0xff, user);
      return;
    }
    // An entry that already allows this write (MMIO, ROM, a watched page) needs no new walk.
    if ((e & (user ? Tlb.WOK_USER : Tlb.WOK_SUP)) === 0) this.fill(lin, true, user);
    this.physWrite(this.tlbPhys[lin >>> 12] | (lin & 4095), size, v, lin);
  }

  physRead(phys: number, size: number, lin: number): number {
    if (this.watchArmed) this._watchCheck(lin, phys, size, false);
    if (this.hwDataArmed && !this.noExit) this._hwDataCheck(lin, size, false);
    const h = this.readMap[phys >>> 12];
    if (h >= 0) {
      const a = h + (phys & 4095);
      const u8 = this.u8;
      if (size === 1) return u8[a];
      if (size === 2) return u8[a] | (u8[a + 1] << 8);
      return u8[a] | (u8[a + 1] << 8) | (u8[a + 2] << 16) | (u8[a + 3] << 24);
    }
    return this.ioRead(Xr.MMIO, phys, size);
  }

  physWrite(phys: number, size: number, v: number, lin: number): void {
    if (this.watchArmed) this._watchCheck(lin, phys, size, true);
    if (this.hwDataArmed && !this.noExit) this._hwDataCheck(lin, size, true);
    const h = this.writeMap[phys >>> 12];
    if (h >= 0) {
      const a = h + (phys & 4095);
      if (this._codePage[h >>> 12] === 1) this.jit!.written(this, a, size);
      const u8 = this.u8;
      u8[a] = v;
      if (size > 1) u8[a + 1] = v >> 8;
      if (size > 2) { u8[a + 2] = v >> 16; u8[a + 3] = v >> 24; }
      return;
    }
    this.ioWrite(Xr.MMIO, phys, size, v);
  }

  /** Page-table reads and writes: physical, no exits, holes read as 0. */
  physRd32(phys: number): number {
    phys &= this.a20mask;
    const h = this.readMap[phys >>> 12];
    if (h < 0) return 0;
    const a = h + (phys & 4095);
    const u8 = this.u8;
    return u8[a] | (u8[a + 1] << 8) | (u8[a + 2] << 16) | (u8[a + 3] << 24);
  }

  physWr32(phys: number, v: number): void {
    phys &= this.a20mask;
    const h = this.writeMap[phys >>> 12];
    if (h < 0) return;
    const a = h + (phys & 4095);
    if (this._codePage[h >>> 12] === 1) this.jit!.written(this, a, 4);
    const u8 = this.u8;
    u8[a] = v; u8[a + 1] = v >> 8; u8[a + 2] = v >> 16; u8[a + 3] = v >> 24;
  }

  // =====================================================================================
  // Paging and the TLB
  // =====================================================================================

  /**
   * Walks the page tables (SDM vol. 3, 4.3) for an access; returns the physical page base.
   * Sets A (and D for a write) only when the translation succeeds, as a 386 does: a PDE
   * whose PTE is not present keeps A clear. With `probe`, nothing is written and a fault
   * returns -1 - error code instead of throwing.
   */
  walk(lin: number, write: boolean, user: boolean, probe: boolean): number {
    const pdeAddr = (this.cr3 & ~4095) + ((lin >>> 22) << 2);
    const pde = this.physRd32(pdeAddr);
    const errBase = (write ? 2 : 0) | (user ? 4 : 0);
    if ((pde & 1) === 0) return this._pf(lin, errBase, probe);
    const wp = (this.cr0 & Cr0Bit.WP) !== 0;
    if ((pde & 0x80) !== 0 && (this.cr4 & Cr4Bit.PSE) !== 0) {
      const u = pde & 4;
      const rw = pde & 2;
      if ((user && !u) || (write && !rw && (user || wp))) return this._pf(lin, errBase | 1, probe);
      if (!probe) {
        const n = pde | 0x20 | (write ? 0x40 : 0);
        if (n !== pde) this.physWr32(pdeAddr, n);
      }
      this._wU = u; this._wRW = rw; this._wD = write ? 1 : pde & 0x40; this._wBig = 1;
      return ((pde & 0xffc00000) | (lin & 0x3ff000)) | 0;
    }
    const pteAddr = (pde & ~4095) + ((lin >>> 10) & 0xffc);
    const pte = this.physRd32(pteAddr);
    if ((pte & 1) === 0) return this._pf(lin, errBase, probe);
    const u = pde & pte & 4;
    const rw = pde & pte & 2;
    if ((user && !u) || (write && !rw && (user || wp))) return this._pf(lin, errBase | 1, probe);
    if (!probe) {
      if ((pde & 0x20) === 0) this.physWr32(pdeAddr, pde | 0x20);
      const n = pte | 0x20 | (write ? 0x40 : 0);
      if (n !== pte) this.physWr32(pteAddr, n);
    }
    this._wU = u; this._wRW = rw; this._wD = write ? 1 : pte & 0x40; this._wBig = 0;
    return pte & ~4095;
  }

  private _pf(lin: number, err: number, probe: boolean): number {
    if (probe) return -1 - err;
    this.cr2 = lin | 0;
    return this.fault(Vec.PF, err);
  }

  /** Translates and caches one linear page for an access; faults if the access is not allowed. */
  fill(lin: number, write: boolean, user: boolean): number {
    const page = lin >>> 12;
    let flags = Tlb.VALID as number;
    let phys: number;
    if (this.pg) {
      phys = this.walk(lin, write, user, false);
      if (!this._wU) flags |= Tlb.NOUSER;
      if (!this._wRW) flags |= Tlb.NOWU | ((this.cr0 & Cr0Bit.WP) !== 0 ? Tlb.NOWS : 0);
      if (!this._wD) flags |= Tlb.NOWU | Tlb.NOWS;
      else {
        if (this._wU && this._wRW) flags |= Tlb.WOK_USER;
        if (this._wRW || (this.cr0 & Cr0Bit.WP) === 0) flags |= Tlb.WOK_SUP;
      }
      if (this._wBig) { flags |= Tlb.BIG; this._tlbBig = true; }
    } else {
      phys = lin & ~4095;
      flags |= Tlb.WOK_USER | Tlb.WOK_SUP;
    }
    phys &= this.a20mask;
    const pp = phys >>> 12;
    const rh = this.readMap[pp];
    const wh = this.writeMap[pp];
    let host: number;
    if (rh >= 0) {
      host = rh;
      if (wh !== rh) flags |= Tlb.NOWU | Tlb.NOWS;
    } else {
      flags |= Tlb.SLOWR;
      if (wh >= 0) host = wh;
      else { host = 0; flags |= Tlb.NOWU | Tlb.NOWS; }
    }
    if (this._codePage[host >>> 12] === 1) flags |= Tlb.CODE;
    if ((this.watchArmed && (this.dbg.watchOnPage(WatchSpace.LINEAR, page) || this.dbg.watchOnPage(WatchSpace.PHYS, pp))) ||
      (this.hwDataArmed && this._hwOnPage(page))) {
      flags |= Tlb.SLOWR | Tlb.NOWU | Tlb.NOWS;
    }
    if (this.tlb[page] === 0) {
      if (this._tlbN < TLB_LIST_MAX) this._tlbList[this._tlbN] = page;
      this._tlbN++;
    }
    const e = host | flags | Tlb.ALWAYS;
    this.tlb[page] = e;
    this.tlbPhys[page] = phys;
    return e;
  }

  flushTlb(): void {
    if (this._tlbN <= TLB_LIST_MAX) {
      const list = this._tlbList;
      for (let i = 0; i < this._tlbN; i++) this.tlb[list[i]] = 0;
    } else {
      this.tlb.fill(0);
    }
    this._tlbN = 0;
    this._tlbBig = false;
    this.fHi = -1;
    this.a20mask = this.ctl[MemCtl.A20] !== 0 ? -1 : ~0x100000;
  }

  /** Host page `hp` now holds compiled code: writes through the TLB to it must take the slow path. */
  protectCodePage(hp: number): void {
    if (this._tlbN > TLB_LIST_MAX) {
      this.flushTlb();
      return;
    }
    const list = this._tlbList;
    const tlb = this.tlb;
    for (let i = 0; i < this._tlbN; i++) {
      const e = tlb[list[i]];
      if (e !== 0 && (e >>> 12) === hp) tlb[list[i]] = e | Tlb.CODE;
    }
  }

  invlpg(lin: number): void {
    if (this._tlbBig) this.flushTlb();
    else this.tlb[lin >>> 12] = 0;
    this.fHi = -1;
  }

  /** Linear to physical without side effects (the debugger's translate()). */
  probe(lin: number, write: boolean, user: boolean): number {
    if (!this.pg) return (lin & this.a20mask) >>> 0;
    const p = this.walk(lin | 0, write, user, true);
    if (p < 0 && p > -16) return p;
    return ((p | (lin & 4095)) & this.a20mask) >>> 0;
  }

  // =====================================================================================
  // Instruction fetch
  // =====================================================================================

  fetch8(): number {
    const ip = this.eip;
    if (ip >= this.fLo && ip <= this.fHi) {
      this.eip = ip + 1;
      return this.u8[this.fDelta + ip];
    }
    return this._fetchSlow();
  }

  fetch8s(): number {
    return (this.fetch8() << 24) >> 24;
  }

  fetch16(): number {
    const ip = this.eip;
    if (ip >= this.fLo && ip + 1 <= this.fHi) {
      this.eip = ip + 2;
      const a = this.fDelta + ip;
      return this.u8[a] | (this.u8[a + 1] << 8);
    }
    const lo = this.fetch8();
    return lo | (this.fetch8() << 8);
  }

  fetch32(): number {
    const ip = this.eip;
    if (ip >= this.fLo && ip + 3 <= this.fHi) {
      this.eip = ip + 4;
      const a = this.fDelta + ip;
      const u8 = this.u8;
      return u8[a] | (u8[a + 1] << 8) | (u8[a + 2] << 16) | (u8[a + 3] << 24);
    }
    const b0 = this.fetch8();
    const b1 = this.fetch8();
    const b2 = this.fetch8();
    return b0 | (b1 << 8) | (b2 << 16) | (this.fetch8() << 24);
  }

  private _fetchSlow(): number {
    const ip = this.eip;
    if (ip > this.segLim[Seg.CS]) this.gp(0);
    // A prefixed instruction may not pass 15 bytes (prefixes() keeps the window short).
    if (this.pfx && ip - this.ipStart >= 15) this.gp(0);
    const lin = (this.segBase[Seg.CS] + ip) | 0;
    const page = lin >>> 12;
    let e = this.tlb[page];
    if ((e & (this.user ? Tlb.VALID | Tlb.NOUSER : Tlb.VALID)) !== Tlb.VALID) e = this.fill(lin, false, this.user);
    const phys = this.tlbPhys[page] | (lin & 4095);
    const h = this.readMap[phys >>> 12];
    this.eip = ip + 1;
    if (h < 0) return this.ioRead(Xr.MMIO, phys, 1);
    const po = lin & 4095;
    this.fLo = ip - po;
    this.fHi = Math.min(ip - po + 4095, this.segLim[Seg.CS], this.pfx ? this.ipStart + 14 : Infinity);
    this.fDelta = h + po - ip;
    return this.u8[h + po];
  }

  // =====================================================================================
  // Exits: reads that need data (abort and redo), writes that are queued
  // =====================================================================================

  /**
   * An MMIO read or IN: from the read cache when redoing, else exit and abort. `count` > 1
   * asks for that many elements at once (REP INS); the later ones wait in the cache.
   */
  ioRead(kind: number, addr: number, size: number, count = 1): number {
    if (this._rcPos + size <= this._rcLen) {
      const rc = this._rc;
      const p = this._rcPos;
      this._rcPos = p + size;
      if (size === 1) return rc[p];
      if (size === 2) return rc[p] | (rc[p + 1] << 8);
      return rc[p] | (rc[p + 1] << 8) | (rc[p + 2] << 16) | (rc[p + 3] << 24);
    }
    if (this.noExit) return size === 4 ? -1 : (1 << (size * 8)) - 1;
    const f = this.trapFast;
    if (f !== null && count === 1) {
      const v = f.read(kind, addr >>> 0, size, this._ipLinear());
      if (v >= 0) {
        const n = this.frLen;
        if (n + size <= 16) {
          const fr = this._fr;
          fr[n] = v; fr[n + 1] = v >>> 8; fr[n + 2] = v >>> 16; fr[n + 3] = v >>> 24;
          this.frLen = n + size;
        }
        return size === 4 ? v | 0 : v & (size === 1 ? 0xff : 0xffff);
      }
    }
    if (this.frLen !== 0 && this._rcLen === 0) {
      // Earlier reads of this instruction were answered in place: the redo takes them from
      // the read cache, ahead of this exit's data.
      this._rc.set(this._fr.subarray(0, this.frLen), 0);
      this._rcLen = this._rcPos = this.frLen;
      this._rcStart = 0;
      this.frLen = 0;
    }
    const x = this.exit;
    x.reason = kind as number as ExitReason;
    x.dir = Dir.READ as number as IoDir;
    x.addr = addr >>> 0;
    x.size = size as 1 | 2 | 4;
    x.count = count;
    x.ip = (this.segBase[Seg.CS] + this.ipStart) >>> 0;
    this.pendIn = size * count;
    throw ABORT;
  }

  /** An OUT or a write outside RAM: leaves as an exit once the instruction completes. */
  ioWrite(kind: number, addr: number, size: number, v: number): void {
    if (this.noExit) return;
    // An OUT is its instruction's last step (nothing after it can fault), so delivering it
    // now is delivering it after the instruction; so is an MMIO write the compiled code marks
    // as its instruction's last (wrLast). Other MMIO writes wait for the instruction's end.
    if ((kind === Xr.IO || this.wrLast) && this.trapFast !== null && this._wqLen === this._wqPos &&
      this.trapFast.write(kind, addr >>> 0, size, v, this._ipLinear())) return;
    const n = this._wqLen;
    if (n >= WQ_MAX) return;
    this._wqKind[n] = kind;
    this._wqAddr[n] = addr;
    this._wqSize[n] = size;
    this._wqVal[n] = v;
    this._wqCount[n] = 1;
    this._wqLen = n + 1;
    this.slow = true;
  }

  /**
   * A batched REP OUTS: `count` elements of `size` bytes, the first at host offset `host`,
   * each `step` bytes after the previous one. Copied into exit.data when the exit leaves
   * (right after this instruction, before any other guest code).
   */
  ioWriteBatch(port: number, size: number, count: number, host: number, step: number): void {
    const n = this._wqLen;
    if (n >= WQ_MAX) return;
    this._wqKind[n] = Xr.IO;
    this._wqAddr[n] = port;
    this._wqSize[n] = size;
    this._wqVal[n] = host;
    this._wqCount[n] = count;
    this._wqStep[n] = step;
    this._wqLen = n + 1;
    this.slow = true;
  }

  /** The run loop put the data of the pending read in exit.data. */
  completeIo(): void {
    const n = this.pendIn;
    if (n === 0) return;
    this._rc.set(this.exit.data.subarray(0, n), this._rcLen);
    this._rcLen += n;
    this.pendIn = 0;
  }

  get pendingWrites(): number {
    return this._wqLen - this._wqPos;
  }

  /**
   * The instruction is complete: hand its queued writes to the fast path, in order. True when
   * all were delivered and nothing else needs the careful path (compiled code then goes on).
   */
  flushWrites(): boolean {
    if (!this._deliverQueued()) return false;
    this._recalcSlow();
    return !this.slow;
  }

  /** Hands the queued writes to the fast path, in order; false when it declined one (or there is none). */
  private _deliverQueued(): boolean {
    const f = this.trapFast;
    if (f === null) return false;
    while (this._wqPos !== this._wqLen) {
      const i = this._wqPos;
      if (this._wqCount[i] !== 1) return false;
      if (!f.write(this._wqKind[i], this._wqAddr[i] >>> 0, this._wqSize[i], this._wqVal[i], this._ipLinear())) return false;
      this._wqPos = i + 1;
    }
    this._wqPos = this._wqLen = 0;
    return true;
  }

  /** The linear address of the current instruction (what the trap log records as IP). */
  private _ipLinear(): number {
    return (this.segBase[Seg.CS] + this.ipStart) >>> 0;
  }

  /** IN for compiled code: the I/O permission check, then the read (in place, or an exit). */
  portIn(port: number, size: number): number {
    sys.ioCheck(this, port, size);
    this.frLen = 0;
    return this.ioRead(Xr.IO, port, size);
  }

  /** OUT for compiled code: the I/O permission check, then the write (in place, or queued). */
  portOut(port: number, size: number, v: number): void {
    sys.ioCheck(this, port, size);
    this.ioWrite(Xr.IO, port, size, v);
  }

  /** Leave run() (INTR) at the next instruction boundary: the loop has something to do. */
  requestStop(): void {
    this._stopReq = true;
    this.slow = true;
  }

  private _emitQueued(): Xr {
    const i = this._wqPos++;
    const x = this.exit;
    x.reason = this._wqKind[i] as ExitReason;
    x.dir = Dir.WRITE as number as IoDir;
    x.addr = this._wqAddr[i] >>> 0;
    const size = this._wqSize[i];
    const count = this._wqCount[i];
    x.size = size as 1 | 2 | 4;
    x.count = count;
    if (count === 1) x.setValue(this._wqVal[i]);
    else {
      const u8 = this.u8;
      const step = this._wqStep[i];
      for (let k = 0, src = this._wqVal[i]; k < count; k++, src += step) {
        for (let b = 0; b < size; b++) x.data[k * size + b] = u8[src + b];
      }
    }
    x.ip = (this.segBase[Seg.CS] + this.ipStart) >>> 0;
    if (this._wqPos === this._wqLen) this._wqPos = this._wqLen = 0;
    return this._wqKind[i] as Xr;
  }

  // ---- the guest's own debug registers (DR0-DR3, DR6, DR7; SDM vol. 3, 17.2) ----

  /** An enabled DR7 instruction breakpoint exists: checked before each instruction. */
  hwExecArmed = false;
  /** An enabled DR7 data breakpoint exists: its pages take the slow path. */
  hwDataArmed = false;
  /** DR6 bits of pending debug traps: B0-B3 (data breakpoints hit), BT (task switch). */
  private _hwHits = 0;

  /** The new task's TSS has the T bit: #DB (DR6.BT) before its first instruction. */
  taskTrap(): void {
    this._hwHits |= 0x8000;
    this.slow = true;
  }

  /** DR7 (or DR0-3) changed: recompute what is armed. */
  debugRegsChanged(): void {
    const d7 = this.dr[7];
    let ex = false;
    let da = false;
    for (let n = 0; n < 4; n++) {
      if (((d7 >> (n * 2)) & 3) === 0) continue;
      if (((d7 >> (16 + n * 4)) & 3) === 0) ex = true;
      else if (((d7 >> (16 + n * 4)) & 3) !== 2) da = true; // 2 = I/O (CR4.DE), not supported
    }
    this.hwExecArmed = ex;
    if (da || this.hwDataArmed) this.flushTlb();
    this.hwDataArmed = da;
    this.slow = true;
  }

  /** Data breakpoint n, if enabled for this kind of access: its byte range, else -1. */
  private _hwRange(n: number, write: boolean): number {
    const d7 = this.dr[7];
    if (((d7 >> (n * 2)) & 3) === 0) return -1;
    const rw = (d7 >> (16 + n * 4)) & 3;
    if (rw === 0 || rw === 2 || (rw === 1 && !write)) return -1;
    const len = (d7 >> (18 + n * 4)) & 3;
    return len === 0 ? 1 : len === 1 ? 2 : len === 3 ? 4 : 8;
  }

  private _hwDataCheck(lin: number, size: number, write: boolean): void {
    for (let n = 0; n < 4; n++) {
      const len = this._hwRange(n, write);
      if (len < 0) continue;
      const start = (this.dr[n] & -len) >>> 0;
      const a = lin >>> 0;
      if (a < start + len && start < a + size) {
        this._hwHits |= 1 << n;
        this.slow = true;
      }
    }
  }

  private _hwOnPage(page: number): boolean {
    for (let n = 0; n < 4; n++) {
      const len = this._hwRange(n, true);
      if (len >= 0 && ((this.dr[n] & -len) >>> 12 === page || ((this.dr[n] & -len) + len - 1) >>> 12 === page)) return true;
    }
    return false;
  }

  /** Instruction breakpoints matching the instruction at CS:EIP (DR6 B bits), unless RF. */
  private _hwExecHits(): number {
    if (this.flags & F.RF) return 0;
    const lin = (this.segBase[Seg.CS] + this.eip) | 0;
    const d7 = this.dr[7];
    let hits = 0;
    for (let n = 0; n < 4; n++) {
      if (((d7 >> (n * 2)) & 3) !== 0 && ((d7 >> (16 + n * 4)) & 3) === 0 && this.dr[n] === lin) hits |= 1 << n;
    }
    return hits;
  }

  private _watchCheck(lin: number, phys: number, size: number, write: boolean): void {
    if (this._watchHit || this.noExit) return;
    const acc = write ? Access.WRITE : Access.READ;
    const d = this.dbg;
    let addr = -1;
    if (d.watchHit(WatchSpace.LINEAR, lin, size, acc) !== 0) addr = lin;
    else if (d.watchHit(WatchSpace.PHYS, phys, size, acc) !== 0) addr = phys;
    if (addr === -1) return;
    this._watchHit = true;
    this._watchAddr = addr >>> 0;
    this._watchSize = size;
    this._watchWrite = write;
    this.slow = true;
  }

  // =====================================================================================
  // Registers and operands
  // =====================================================================================

  getReg(sz: number, r: number): number {
    return sz === 0 ? this.r8[R8[r]] : sz === 1 ? this.r16[r << 1] : this.r32[r];
  }

  setReg(sz: number, r: number, v: number): void {
    if (sz === 0) this.r8[R8[r]] = v;
    else if (sz === 1) this.r16[r << 1] = v;
    else this.r32[r] = v;
  }

  /** Decodes the ModR/M byte (and SIB/displacement) of the current instruction. */
  modrm(): void {
    const m = this.fetch8();
    this.m = m;
    if (m < 0xc0) this.ea = this.a32 ? this._ea32(m) : this._ea16(m);
  }

  private _ea16(m: number): number {
    const r16 = this.r16;
    let off: number;
    let seg = Seg.DS as number;
    switch (m & 7) {
      case 0: off = r16[6] + r16[12]; break;
      case 1: off = r16[6] + r16[14]; break;
      case 2: off = r16[10] + r16[12]; seg = Seg.SS; break;
      case 3: off = r16[10] + r16[14]; seg = Seg.SS; break;
      case 4: off = r16[12]; break;
      case 5: off = r16[14]; break;
      case 6:
        if ((m & 0xc0) === 0) { this.eaSeg = this.segOv >= 0 ? this.segOv : Seg.DS; return this.fetch16(); }
        off = r16[10]; seg = Seg.SS; break;
      default: off = r16[6]; break;
    }
    if ((m & 0xc0) === 0x40) off += this.fetch8s();
    else if ((m & 0xc0) === 0x80) off += this.fetch16();
    this.eaSeg = this.segOv >= 0 ? this.segOv : seg;
    return off & 0xffff;
  }

  private _ea32(m: number): number {
    const r32 = this.r32;
    const mod = m & 0xc0;
    let rm = m & 7;
    let off: number;
    let seg = Seg.DS as number;
    if (rm === 4) {
      const sib = this.fetch8();
      const idx = (sib >> 3) & 7;
      off = idx === 4 ? 0 : r32[idx] << (sib >> 6);
      rm = sib & 7;
      if (rm === 5 && mod === 0) off += this.fetch32();
      else {
        off += r32[rm];
        if (rm === 4 || rm === 5) seg = Seg.SS;
      }
    } else if (rm === 5 && mod === 0) {
      off = this.fetch32();
    } else {
      off = r32[rm];
      if (rm === 5) seg = Seg.SS;
    }
    if (mod === 0x40) off += this.fetch8s();
    else if (mod === 0x80) off += this.fetch32();
    this.eaSeg = this.segOv >= 0 ? this.segOv : seg;
    return off >>> 0;
  }

  readE(sz: number): number {
    const m = this.m;
    if (m >= 0xc0) return this.getReg(sz, m & 7);
    return this.rdS(sz, this.eaSeg, this.ea);
  }

  writeE(sz: number, v: number): void {
    const m = this.m;
    if (m >= 0xc0) this.setReg(sz, m & 7, v);
    else this.wrS(sz, this.eaSeg, this.ea, v);
  }

  readE16(): number {
    return this.m >= 0xc0 ? this.r16[(this.m & 7) << 1] : this.rd16(this.eaSeg, this.ea);
  }

  /** The memory operand's offset plus `delta`, wrapped to the address size. */
  eaPlus(delta: number): number {
    return this.a32 ? (this.ea + delta) >>> 0 : (this.ea + delta) & 0xffff;
  }

  // =====================================================================================
  // Stack
  // =====================================================================================

  push16(v: number): void {
    if (this.ss32) {
      const sp = (this.r32[Reg.ESP] - 2) >>> 0;
      this.wr16(Seg.SS, sp, v);
      this.r32[Reg.ESP] = sp;
    } else {
      const sp = (this.r16[8] - 2) & 0xffff;
      this.wr16(Seg.SS, sp, v);
      this.r16[8] = sp;
    }
  }

  push32(v: number): void {
    if (this.ss32) {
      const sp = (this.r32[Reg.ESP] - 4) >>> 0;
      this.wr32(Seg.SS, sp, v);
      this.r32[Reg.ESP] = sp;
    } else {
      const sp = (this.r16[8] - 4) & 0xffff;
      this.wr32(Seg.SS, sp, v);
      this.r16[8] = sp;
    }
  }

  push(v: number): void {
    if (this.o32) this.push32(v);
    else this.push16(v);
  }

  pop16(): number {
    if (this.ss32) {
      const sp = this.r32[Reg.ESP] >>> 0;
      const v = this.rd16(Seg.SS, sp);
      this.r32[Reg.ESP] = sp + 2;
      return v;
    }
    const sp = this.r16[8];
    const v = this.rd16(Seg.SS, sp);
    this.r16[8] = sp + 2;
    return v;
  }

  pop32(): number {
    if (this.ss32) {
      const sp = this.r32[Reg.ESP] >>> 0;
      const v = this.rd32(Seg.SS, sp);
      this.r32[Reg.ESP] = sp + 4;
      return v;
    }
    const sp = this.r16[8];
    const v = this.rd32(Seg.SS, sp);
    this.r16[8] = sp + 4;
    return v;
  }

  pop(): number {
    return this.o32 ? this.pop32() : this.pop16();
  }

  /** Reads the stack at ESP + delta without popping. */
  peek(sz: number, delta: number): number {
    const sp = this.ss32 ? (this.r32[Reg.ESP] + delta) >>> 0 : (this.r16[8] + delta) & 0xffff;
    return sz === 1 ? this.rd16(Seg.SS, sp) : this.rd32(Seg.SS, sp);
  }

  /** ESP += n (SP for a 16-bit stack). */
  addSp(n: number): void {
    if (this.ss32) this.r32[Reg.ESP] = this.r32[Reg.ESP] + n;
    else this.r16[8] = this.r16[8] + n;
  }

  // =====================================================================================
  // Control transfer helpers
  // =====================================================================================

  /** Near jump within CS: truncates to the operand size and checks the CS limit. */
  jmpNear(target: number): void {
    target = this.o32 ? target >>> 0 : target & 0xffff;
    if (target > this.segLim[Seg.CS]) this.gp(0);
    this.eip = target;
  }

  /** Raises an INT n style event (delivered once the instruction is done; EIP is past it). */
  softInt(vec: number, type: number): never {
    this.fVec = vec;
    this.fCode = -1;
    this.evType = type;
    throw EVENT;
  }

  // =====================================================================================
  // ALU
  // =====================================================================================

  add(a: number, b: number, sz: number): number {
    const r = sz === 2 ? (a + b) | 0 : (a + b) & (sz === 0 ? 0xff : 0xffff);
    this.lop = Lf.ADD; this.la = a; this.lb = b; this.lres = r; this.lbits = (8 << sz) - 1;
    return r;
  }

  adc(a: number, b: number, sz: number): number {
    const c = this.cf();
    const r = sz === 2 ? (a + b + c) | 0 : (a + b + c) & (sz === 0 ? 0xff : 0xffff);
    this.lop = c ? Lf.ADC : Lf.ADD; this.la = a; this.lb = b; this.lres = r; this.lbits = (8 << sz) - 1;
    return r;
  }

  sub(a: number, b: number, sz: number): number {
    const r = sz === 2 ? (a - b) | 0 : (a - b) & (sz === 0 ? 0xff : 0xffff);
    this.lop = Lf.SUB; this.la = a; this.lb = b; this.lres = r; this.lbits = (8 << sz) - 1;
    return r;
  }

  sbb(a: number, b: number, sz: number): number {
    const c = this.cf();
    const r = sz === 2 ? (a - b - c) | 0 : (a - b - c) & (sz === 0 ? 0xff : 0xffff);
    this.lop = c ? Lf.SBB : Lf.SUB; this.la = a; this.lb = b; this.lres = r; this.lbits = (8 << sz) - 1;
    return r;
  }

  logic(r: number, sz: number): number {
    this.lop = Lf.LOGIC; this.lres = r; this.lbits = (8 << sz) - 1;
    return r;
  }

  alu(op: number, a: number, b: number, sz: number): number {
    switch (op) {
      case 0: return this.add(a, b, sz);
      case 1: return this.logic(a | b, sz);
      case 2: return this.adc(a, b, sz);
      case 3: return this.sbb(a, b, sz);
      case 4: return this.logic(a & b, sz);
      case 5: return this.sub(a, b, sz);
      case 6: return this.logic(a ^ b, sz);
      default: this.sub(a, b, sz); return a;
    }
  }

  /** Sets ZF/SF/PF from a result and CF/OF/AF from explicit bits. */
  setZsp(r: number, sz: number, coa: number): void {
    this.materialize();
    this.flags = (this.flags & ~(F.CF | F.OF | F.AF)) | coa;
    this.lop = Lf.ZSP;
    this.lres = r;
    this.lbits = (8 << sz) - 1;
  }

  inc(a: number, sz: number): number {
    const r = sz === 2 ? (a + 1) | 0 : (a + 1) & (sz === 0 ? 0xff : 0xffff);
    // CF survives INC: keep it in `flags` (cheap unless the last op was an ADD/SUB).
    if (this.lop !== Lf.ALL && this.lop !== Lf.INC && this.lop !== Lf.DEC && this.lop !== Lf.ZSP) {
      this.flags = (this.flags & ~F.CF) | this.cf();
    }
    this.lop = Lf.INC; this.la = a; this.lb = 1; this.lres = r; this.lbits = (8 << sz) - 1;
    return r;
  }

  dec(a: number, sz: number): number {
    const r = sz === 2 ? (a - 1) | 0 : (a - 1) & (sz === 0 ? 0xff : 0xffff);
    if (this.lop !== Lf.ALL && this.lop !== Lf.INC && this.lop !== Lf.DEC && this.lop !== Lf.ZSP) {
      this.flags = (this.flags & ~F.CF) | this.cf();
    }
    this.lop = Lf.DEC; this.la = a; this.lb = 1; this.lres = r; this.lbits = (8 << sz) - 1;
    return r;
  }

  /** Shifts and rotates (group 2): op is the ModR/M reg field. Count is masked to 5 bits (386). */
  shift(op: number, v: number, count: number, sz: number): number {
    count &= 31;
    if (count === 0) return v;
    const bits = 8 << sz;
    const mask = sz === 2 ? -1 : (1 << bits) - 1;
    const top = bits - 1;
    let r: number;
    let cf: number;
    let of: number;
    switch (op) {
      case 0: { // ROL
        const n = count & top;
        r = n === 0 ? v : ((v << n) | ((v & mask) >>> (bits - n))) & mask;
        if (sz === 2) r |= 0;
        cf = r & 1;
        of = ((r >>> top) & 1) ^ cf;
        this.setArith(F.CF | F.OF, cf | (of << 11));
        return r;
      }
      case 1: { // ROR
        const n = count & top;
        r = n === 0 ? v : (((v & mask) >>> n) | (v << (bits - n))) & mask;
        if (sz === 2) r |= 0;
        cf = (r >>> top) & 1;
        of = cf ^ ((r >>> (top - 1)) & 1);
        this.setArith(F.CF | F.OF, cf | (of << 11));
        return r;
      }
      case 2: { // RCL: rotate through CF, a bits+1 wide rotation
        const n = sz === 2 ? count : count % (bits + 1);
        let c = this.cf();
        r = v & mask;
        for (let i = 0; i < n; i++) {
          const out = (r >>> top) & 1;
          r = ((r << 1) | c) & mask;
          c = out;
        }
        if (sz === 2) r |= 0;
        of = ((r >>> top) & 1) ^ c;
        this.setArith(F.CF | F.OF, c | (of << 11));
        return r;
      }
      case 3: { // RCR
        const n = sz === 2 ? count : count % (bits + 1);
        let c = this.cf();
        r = v & mask;
        for (let i = 0; i < n; i++) {
          const out = r & 1;
          r = ((r >>> 1) | (c << top)) & mask;
          c = out;
        }
        if (sz === 2) r |= 0;
        of = ((r >>> top) ^ (r >>> (top - 1))) & 1;
        this.setArith(F.CF | F.OF, c | (of << 11));
        return r;
      }
      case 4: case 6: { // SHL/SAL
        if (count < bits) {
          cf = ((v & mask) >>> (bits - count)) & 1;
          r = (v << count) & mask;
        } else {
          cf = count === bits ? v & 1 : 0;
          r = 0;
        }
        if (sz === 2) r |= 0;
        of = ((r >>> top) & 1) ^ cf;
        this.setZsp(r, sz, cf | (of << 11));
        return r;
      }
      case 5: { // SHR
        const u = sz === 2 ? v >>> 0 : v & mask;
        if (count < bits) {
          cf = (u >>> (count - 1)) & 1;
          r = u >>> count;
        } else {
          cf = count === bits ? (u >>> top) & 1 : 0;
          r = 0;
        }
        if (sz === 2) r |= 0;
        of = (u >>> top) & 1;
        this.setZsp(r, sz, cf | (of << 11));
        return r;
      }
      default: { // SAR
        const s = sz === 0 ? (v << 24) >> 24 : sz === 1 ? (v << 16) >> 16 : v | 0;
        const n = count < bits ? count : bits - 1;
        cf = count < bits ? (s >> (count - 1)) & 1 : (s >>> 31) & 1;
        r = (s >> n) & mask;
        if (sz === 2) r |= 0;
        this.setZsp(r, sz, cf);
        return r;
      }
    }
  }

  /** SHLD/SHRD (386): dst shifted, the vacated bits filled from src. */
  shd(left: boolean, dst: number, src: number, count: number, sz: number): number {
    count &= 31;
    if (count === 0) return dst;
    const bits = sz === 2 ? 32 : 16;
    const top = bits - 1;
    let r: number;
    let cf: number;
    if (sz === 2) {
      if (left) {
        r = (dst << count) | (src >>> (32 - count));
        cf = (dst >>> (32 - count)) & 1;
      } else {
        r = (dst >>> count) | (src << (32 - count));
        cf = (dst >>> (count - 1)) & 1;
      }
      r |= 0;
    } else {
      // 16-bit with counts above 16 (undefined in the SDM): bits keep coming from src,
      // then from the original dst, one at a time.
      let d = dst & 0xffff;
      let s = src & 0xffff;
      let f = dst & 0xffff;
      cf = 0;
      if (left) {
        for (let i = 0; i < count; i++) {
          cf = (d >> 15) & 1;
          d = ((d << 1) | (s >> 15)) & 0xffff;
          s = ((s << 1) | (f >> 15)) & 0xffff;
          f = (f << 1) & 0xffff;
        }
      } else {
        for (let i = 0; i < count; i++) {
          cf = d & 1;
          d = (d >> 1) | ((s & 1) << 15);
          s = (s >> 1) | ((f & 1) << 15);
          f >>= 1;
        }
      }
      r = d;
    }
    const of = ((r ^ dst) >>> top) & 1;
    this.setZsp(r, sz, cf | (of << 11));
    return r;
  }

  // ---- multiply and divide ----

  /** Unsigned 32x32 -> 64: low half returned, high half in `_hi`. */
  private _hi = 0;

  mulu32(a: number, b: number): number {
    const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
    const ll = al * bl;
    const lh = al * bh;
    const hl = ah * bl;
    const hh = ah * bh;
    const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
    this._hi = (hh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 0x10000)) | 0;
    return ((mid << 16) | (ll & 0xffff)) | 0;
  }

  muls32(a: number, b: number): number {
    const lo = this.mulu32(a, b);
    let hi = this._hi;
    if (a < 0) hi = (hi - b) | 0;
    if (b < 0) hi = (hi - a) | 0;
    this._hi = hi;
    return lo;
  }

  get hi(): number {
    return this._hi;
  }

  /** Flags after MUL/IMUL: CF=OF=overflow; SF/ZF/PF from the low result (undefined). */
  mulFlags(lo: number, sz: number, overflow: boolean): void {
    this.setZsp(lo, sz, overflow ? F.CF | F.OF : 0);
  }

  /** IMUL with a truncated result (two- and three-operand forms). */
  imulTrunc(a: number, b: number, sz: number): number {
    if (sz === 1) {
      const p = ((a << 16) >> 16) * ((b << 16) >> 16);
      const r = p & 0xffff;
      this.mulFlags(r, 1, p !== (r << 16) >> 16);
      return r;
    }
    const lo = this.muls32(a, b);
    this.mulFlags(lo, 2, this._hi !== lo >> 31);
    return lo;
  }

  /**
   * POPF for compiled code: the block passes its operand size (o32 is otherwise the decoder's,
   * and stays what the interpreter expects between instructions); flags end up in the CPU.
   */
  popf(o32: boolean): void {
    const keep = this.o32;
    this.o32 = o32;
    try {
      sys.popf(this);
    } finally {
      this.o32 = keep;
    }
  }

  /** F6/F7 /4../7 */
  muldiv(op: number, v: number, sz: number): void {
    const r32 = this.r32;
    const r16 = this.r16;
    if (sz === 0) {
      const al = this.r8[0];
      if (op === 4) {
        const p = al * v;
        r16[0] = p;
        this.mulFlags(p & 0xff, 0, p > 0xff);
      } else if (op === 5) {
        const p = ((al << 24) >> 24) * ((v << 24) >> 24);
        r16[0] = p;
        this.mulFlags(p & 0xff, 0, p !== (p << 24) >> 24);
      } else if (op === 6) {
        if (v === 0) this.fault(Vec.DE, -1);
        const ax = r16[0];
        const q = Math.floor(ax / v);
        if (q > 0xff) this.fault(Vec.DE, -1);
        this.r8[0] = q;
        this.r8[1] = ax % v;
      } else {
        const d = (v << 24) >> 24;
        if (d === 0) this.fault(Vec.DE, -1);
        const ax = (r16[0] << 16) >> 16;
        const q = Math.trunc(ax / d);
        if (q > 127 || q < -128) this.fault(Vec.DE, -1);
        this.r8[0] = q;
        this.r8[1] = ax % d;
      }
      return;
    }
    if (sz === 1) {
      if (op === 4) {
        const p = r16[0] * v;
        r16[0] = p;
        r16[4] = p >>> 16;
        this.mulFlags(p & 0xffff, 1, p > 0xffff);
      } else if (op === 5) {
        const p = ((r16[0] << 16) >> 16) * ((v << 16) >> 16);
        r16[0] = p;
        r16[4] = p >> 16;
        this.mulFlags(p & 0xffff, 1, p !== (p << 16) >> 16);
      } else if (op === 6) {
        if (v === 0) this.fault(Vec.DE, -1);
        const n = (r16[4] * 0x10000 + r16[0]);
        const q = Math.floor(n / v);
        if (q > 0xffff) this.fault(Vec.DE, -1);
        r16[0] = q;
        r16[4] = n % v;
      } else {
        const d = (v << 16) >> 16;
        if (d === 0) this.fault(Vec.DE, -1);
        const n = (r16[4] << 16) | r16[0];
        const q = Math.trunc(n / d);
        if (q > 32767 || q < -32768) this.fault(Vec.DE, -1);
        r16[0] = q;
        r16[4] = n % d;
      }
      return;
    }
    if (op === 4) {
      const lo = this.mulu32(r32[0], v);
      r32[0] = lo;
      r32[2] = this._hi;
      this.mulFlags(lo, 2, this._hi !== 0);
    } else if (op === 5) {
      const lo = this.muls32(r32[0], v);
      r32[0] = lo;
      r32[2] = this._hi;
      this.mulFlags(lo, 2, this._hi !== lo >> 31);
    } else if (op === 6) {
      const d = v >>> 0;
      if (d === 0) this.fault(Vec.DE, -1);
      const hi = r32[2] >>> 0;
      const lo = r32[0] >>> 0;
      if (hi >= d) this.fault(Vec.DE, -1);
      this._divu64(hi, lo, d);
      r32[0] = this._q;
      r32[2] = this._r;
    } else {
      const d = v | 0;
      if (d === 0) this.fault(Vec.DE, -1);
      let hi = r32[2];
      let lo = r32[0];
      const neg = hi < 0;
      if (neg) { // |EDX:EAX|
        lo = (~lo + 1) | 0;
        hi = (~hi + (lo === 0 ? 1 : 0)) | 0;
      }
      const ad = Math.abs(d);
      if ((hi >>> 0) >= ad) this.fault(Vec.DE, -1);
      this._divu64(hi >>> 0, lo >>> 0, ad);
      let q = this._q >>> 0;
      let rem = this._r >>> 0;
      const qneg = neg !== d < 0;
      if (qneg ? q > 0x80000000 : q > 0x7fffffff) this.fault(Vec.DE, -1);
      if (qneg) q = -q;
      if (neg) rem = -rem;
      r32[0] = q;
      r32[2] = rem;
    }
  }

  private _q = 0;
  private _r = 0;

  /** (hi:lo) / d for hi < d: quotient and remainder fit in 32 bits. */
  private _divu64(hi: number, lo: number, d: number): void {
    if (hi === 0) {
      this._q = Math.floor(lo / d) | 0;
      this._r = (lo % d) | 0;
      return;
    }
    let rem = hi;
    let q = 0;
    for (let i = 31; i >= 0; i--) {
      rem = rem * 2 + ((lo >>> i) & 1);
      q *= 2;
      if (rem >= d) { rem -= d; q += 1; }
    }
    this._q = q | 0;
    this._r = rem | 0;
  }

  // =====================================================================================
  // Helpers used by exec.ts
  // =====================================================================================

  tsc(): number {
    return this.tscBase + this.icount;
  }

  setTsc(v: number): void {
    this.tscBase = v - this.icount;
  }

  /** The reads of a committed REP iteration are used up: a redo starts after them. */
  commitReads(): void {
    if (this._rcLen === 0) return;
    if (this._rcPos >= this._rcLen) this._rcPos = this._rcLen = this._rcStart = 0;
    else this._rcStart = this._rcPos;
  }

  /** Completed read data not consumed yet (the rest of a batched REP INS). */
  get readsPending(): number {
    return this._rcLen - this._rcPos;
  }

  /** TF or the debugger's single-step: string I/O goes one element at a time. */
  get stepping(): boolean {
    return this.singleStep || (this.flags & F.TF) !== 0;
  }

  /**
   * How many elements of a REP string I/O can move in one exit: those whose memory side
   * (starting at s:off, `size` bytes each, downwards when `down`) lies in one page of
   * plain RAM that the fast path can read (OUTS) or write (INS), inside the segment. 1
   * when only one can.
   */
  batchRoom(s: number, off: number, size: number, down: boolean, max: number, write: boolean): number {
    const lin = (this.segBase[s] + off) | 0;
    const po = lin & 4095;
    let n = down ? ((po / size) | 0) + 1 : ((4096 - po) / size) | 0;
    if (!this.a32) n = Math.min(n, down ? ((off / size) | 0) + 1 : ((0x10000 - off) / size) | 0);
    n = Math.min(n, max, 4096 / size);
    if (n <= 1) return 1;
    const lo = down ? off - (n - 1) * size : off;
    if (lo + n * size - 1 > (write ? this.wlim[s] : this.rlim[s])) return 1;
    const chk = write ? this.wchk : this.rchk;
    // A cold TLB entry is filled here: the first element would take the same fault.
    if ((this.tlb[lin >>> 12] & chk) !== Tlb.VALID && (this.fill(lin, write, this.user) & chk) !== Tlb.VALID) return 1;
    return n;
  }

  /** Host byte offset of a linear address whose page batchRoom() approved. */
  hostOf(lin: number): number {
    return (this.tlb[lin >>> 12] & -4096) + (lin & 4095);
  }

  /** Should a REP instruction stop between iterations? (Only asked when `slow`.) */
  repMustStop(): boolean {
    if (this._rcLen !== this._rcPos) return false; // finish the batch the device delivered
    // An iteration's MMIO write goes to the fast path here, as it would between instructions
    // (the iteration is complete: SI, DI and the count have moved); the instruction pauses
    // only if the fast path declines it, or if delivering it asked the loop to stop.
    if (this._wqLen !== this._wqPos && !this._deliverQueued()) return true;
    return this._stopReq || this._hwHits !== 0 || this._watchHit || this.singleStep || (this.flags & F.TF) !== 0 ||
      this.nmiPending || ((this.irqPending >= 0 || this.irqWindow) && (this.flags & F.IF) !== 0);
  }

  /** Leaves a REP instruction between iterations: EIP back on it, not retired yet. */
  repPause(): void {
    this.eip = this.ipStart;
    this._repResume = true;
    this.slow = true;
    this.icount--;
  }

  /**
   * REP MOVS forward, RAM to RAM: page-sized chunks copied at once. Returns true when the
   * instruction is finished or paused; false to let the element loop do the rest (an
   * unmapped, watched or MMIO page, a limit, or an overlap where copying element by element
   * differs from a block copy).
   */
  fastMovs(s: number, sz: number): boolean {
    const r32 = this.r32;
    const a32 = this.a32;
    const u8 = this.u8;
    const size = 1 << sz;
    for (let chunks = 0; ; chunks++) {
      const n = a32 ? r32[Reg.ECX] >>> 0 : this.r16[2];
      const si = a32 ? r32[Reg.ESI] >>> 0 : this.r16[12];
      const di = a32 ? r32[Reg.EDI] >>> 0 : this.r16[14];
      const sl = (this.segBase[s] + si) | 0;
      const dl = (this.segBase[Seg.ES] + di) | 0;
      let k = Math.min(n, (4096 - (sl & 4095)) >> sz, (4096 - (dl & 4095)) >> sz);
      if (!a32) k = Math.min(k, (0x10000 - si) >> sz, (0x10000 - di) >> sz);
      const bytes = k << sz;
      if (k === 0 || si + bytes - 1 > this.rlim[s] || di + bytes - 1 > this.wlim[Seg.ES]) return false;
      const se = this.tlb[sl >>> 12];
      const de = this.tlb[dl >>> 12];
      if ((se & this.rchk) !== Tlb.VALID || (de & this.wchk) !== Tlb.VALID) return false;
      const sh = (se & -4096) + (sl & 4095);
      const dh = (de & -4096) + (dl & 4095);
      if (dh > sh && dh < sh + bytes) {
        // Overlap ahead of the source: bytes replicate. Only byte moves are the same then.
        if (size !== 1) return false;
        for (let i = 0; i < k; i++) u8[dh + i] = u8[sh + i];
      } else {
        u8.copyWithin(dh, sh, sh + bytes);
      }
      if (a32) {
        r32[Reg.ESI] = si + bytes;
        r32[Reg.EDI] = di + bytes;
        r32[Reg.ECX] = n - k;
      } else {
        this.r16[12] = si + bytes;
        this.r16[14] = di + bytes;
        this.r16[2] = n - k;
      }
      if (n === k) return true;
      if (chunks >= 64 || (this.slow && this.repMustStop())) {
        this.repPause();
        return true;
      }
    }
  }

  /** REP STOS forward into RAM, a page at a time. Same contract as fastMovsb. */
  fastStos(sz: number, v: number): boolean {
    const r32 = this.r32;
    const a32 = this.a32;
    const u8 = this.u8;
    const size = 1 << sz;
    for (let chunks = 0; ; chunks++) {
      const n = a32 ? r32[Reg.ECX] >>> 0 : this.r16[2];
      const di = a32 ? r32[Reg.EDI] >>> 0 : this.r16[14];
      const dl = (this.segBase[Seg.ES] + di) | 0;
      let k = Math.min(n, (4096 - (dl & 4095)) >> sz);
      if (!a32) k = Math.min(k, (0x10000 - di) >> sz);
      if (k === 0 || di + k * size - 1 > this.wlim[Seg.ES]) return false;
      const de = this.tlb[dl >>> 12];
      if ((de & this.wchk) !== Tlb.VALID) return false;
      const dh = (de & -4096) + (dl & 4095);
      if (sz === 0) u8.fill(v, dh, dh + k);
      else {
        for (let i = 0, a = dh; i < k; i++, a += size) {
          u8[a] = v;
          u8[a + 1] = v >> 8;
          if (sz === 2) { u8[a + 2] = v >> 16; u8[a + 3] = v >> 24; }
        }
      }
      if (a32) {
        r32[Reg.EDI] = di + k * size;
        r32[Reg.ECX] = n - k;
      } else {
        this.r16[14] = di + k * size;
        this.r16[2] = n - k;
      }
      if (n === k) return true;
      if (chunks >= 64 || (this.slow && this.repMustStop())) {
        this.repPause();
        return true;
      }
    }
  }

  /**
   * REP STOS into device memory (the VGA window), a page at a time: each chunk goes to the trap
   * fast path as one write with a count, where the element loop would hand over each element.
   * Forward or backward. False where it cannot go on (no fill on the fast path, or it declines:
   * a debugger that must see each element; queued writes; a translation to walk, a segment
   * limit or an alignment check to apply): the element loop goes on from there.
   */
  fastStosDevice(sz: number, v: number, down: boolean): boolean {
    const f = this.trapFast;
    if (f === null || f.fill === undefined || this.noExit || this.watchArmed || this.hwDataArmed || this._wqLen !== this._wqPos ||
      (this.alignCheck && this.user)) return false;
    const r32 = this.r32;
    const a32 = this.a32;
    const size = 1 << sz;
    const ok = this.user ? Tlb.WOK_USER : Tlb.WOK_SUP;
    for (let chunks = 0; ; chunks++) {
      const n = a32 ? r32[Reg.ECX] >>> 0 : this.r16[2];
      const di = a32 ? r32[Reg.EDI] >>> 0 : this.r16[14];
      const dl = (this.segBase[Seg.ES] + di) | 0;
      const inPage = dl & 4095;
      // Elements from DI to the end of its page (down: to its start), and of the segment's
      // 64 KiB with a 16-bit address.
      let k = Math.min(n, down ? (inPage >> sz) + 1 : (4096 - inPage) >> sz);
      if (!a32) k = Math.min(k, down ? (di >> sz) + 1 : (0x10000 - di) >> sz);
      const top = down ? di : di + (k - 1) * size;
      // (Down past offset 0 wraps, which the element loop checks against the limit.)
      if (k === 0 || inPage + size > 4096 || top + size - 1 > this.wlim[Seg.ES] || (down && di < (k - 1) * size)) return false;
      if ((this.tlb[dl >>> 12] & ok) === 0) return false;
      const phys = (this.tlbPhys[dl >>> 12] | inPage) >>> 0;
      if (!f.fill(phys, size, k, v, down, this._ipLinear())) return false;
      const next = down ? di - k * size : di + k * size;
      if (a32) {
        r32[Reg.EDI] = next;
        r32[Reg.ECX] = n - k;
      } else {
        this.r16[14] = next;
        this.r16[2] = n - k;
      }
      if (n === k) return true;
      if (chunks >= 64 || (this.slow && this.repMustStop())) {
        this.repPause();
        return true;
      }
    }
  }

  // =====================================================================================
  // The run loop
  // =====================================================================================

  /**
   * Runs until an exit or `budget` instructions. Instructions run on the fast path while
   * `slow` is false; anything that needs attention between instructions (pending exits,
   * interrupts, the shadow, TF, breakpoints, single-step, HLT) sets `slow`, and the next
   * boundary goes through _slowStep(), which recomputes it.
   */
  run(budget: number): ExitReason {
    try {
      return this._run(budget) as number as ExitReason;
    } catch (e) {
      this.exit.reason = Xr.INTERNAL_ERROR as number as ExitReason;
      this.exit.message = e instanceof Error ? `interpreter error: ${e.message}\n${e.stack ?? ''}` : `interpreter error: ${String(e)}`;
      this.exit.ip = (this.segBase[Seg.CS] + this.eip) >>> 0;
      return Xr.INTERNAL_ERROR as number as ExitReason;
    }
  }

  private _run(budget: number): Xr {
    this.sync();
    if (this.shutdown) return this._exit(Xr.SHUTDOWN);
    if (Atomics.load(this.kick, 0) !== 0) {
      Atomics.store(this.kick, 0, 0);
      return this._exit(Xr.INTR);
    }
    this.slow = true;
    let left = budget;
    let tick = KICK_INTERVAL;
    const jit = this.jit;
    for (;;) {
      try {
        while (left > 0) {
          let n = 1;
          if (this.slow) {
            const r = this._slowStep();
            if (r !== Xr.NONE) return r;
          } else if (jit !== null) {
            n = this._jitStep(jit, left, tick);
          } else {
            step(this);
            this.icount++;
          }
          left -= n;
          if ((tick -= n) <= 0) {
            tick = KICK_INTERVAL;
            if (Atomics.load(this.kick, 0) !== 0) {
              Atomics.store(this.kick, 0, 0);
              return this._exit(Xr.INTR);
            }
            if (this.stale) this.sync();
          }
        }
        return this._exit(Xr.INTR);
      } catch (e) {
        // A block that threw retired jitRetired instructions before the one that did.
        left -= this.jitRetired;
        tick -= this.jitRetired;
        this.jitRetired = 0;
        const r = this._onThrow(e);
        if (r !== Xr.NONE) return r;
        left--;
      }
    }
  }

  /**
   * One turn of the fast path with the block compiler: the compiled block at CS:EIP if there
   * is one that fits the budget (compiling it once its entry is hot), else one interpreted
   * instruction. Returns the instructions retired.
   *
   * `left` is the run's budget and is exact. `tick` is what is left before the next look at
   * the kick: a block that fits `left` but not `tick` makes one pass anyway, so the kick is
   * looked at up to MAX_INSNS - 1 instructions late (the kick comes from another thread at
   * any time; nothing depends on where it is seen) instead of the tail of every tick being
   * interpreted and a loop being entered in the middle.
   */
  private _jitStep(jit: Jit, left: number, tick: number): number {
    jit.checkShared();
    const eip = this.eip;
    const lin = (this.segBase[Seg.CS] + eip) | 0;
    const e = this.tlb[lin >>> 12];
    if ((e & this._xchk) === Tlb.VALID) {
      const host = (e & -4096) | (lin & 4095);
      const i = Jit.slot(host);
      let b = jit.cache[i];
      if (b.host !== host || b.eip !== eip || b.key !== ((this.cs32 ? 1 : 0) | (this.ss32 ? 2 : 0))) {
        b = ++jit.hot[i] >= jit.threshold ? jit.compile(this, host, eip, i) : DEAD_BLOCK;
      }
      const fn = b.fn;
      if (fn !== null && b.n <= left && b.lim <= this.segLim[Seg.CS]) return fn(this, b.n <= tick ? (left < tick ? left : tick) : b.n);
    }
    step(this);
    this.icount++;
    return 1;
  }

  /** Picks up changes made by other threads: the memory map / A20, the debug tables. */
  sync(): void {
    const g = Atomics.load(this.ctl, MemCtl.GENERATION);
    const dg = this.dbg.generation;
    if (g !== this._memGen || dg !== this._dbgGen) {
      this._memGen = g;
      this._dbgGen = dg;
      this._dbgExec = this.dbg.execCount !== 0;
      this.watchArmed = this.dbg.watchCount !== 0;
      this.flushTlb();
    }
  }

  /** Another thread changed the memory map, A20 or the debug tables since the last sync(). */
  get stale(): boolean {
    return Atomics.load(this.ctl, MemCtl.GENERATION) !== this._memGen || this.dbg.generation !== this._dbgGen;
  }

  /** Set by a triple fault; cleared by reset() or setState(). */
  shutdown = false;

  private _exit(r: Xr): Xr {
    this.exit.reason = r as number as ExitReason;
    this.exit.ip = (this.segBase[Seg.CS] + this.eip) >>> 0;
    return r;
  }

  /** What a thrown FAULT / EVENT / ABORT means for the run loop. */
  private _onThrow(e: unknown): Xr {
    this.wrLast = false;
    if (e === FAULT) {
      // Back to the state before the instruction, then deliver the exception.
      this.eip = this.ipStart;
      this.r32[Reg.ESP] = this.espStart;
      this._rcLen = this._rcPos = this._rcStart = 0;
      this._wqLen = this._wqPos = 0;
      this.pendIn = 0;
      this.restart = false;
      this._watchHit = false;
      this._hwHits = 0;
      this.slow = true;
      return this._raise(this.fVec, this.fCode, Ev.EXC);
    }
    if (e === EVENT) {
      // INT n and friends: the instruction is done (EIP past it).
      this.icount++;
      this._rcLen = this._rcPos = this._rcStart = 0;
      this.restart = false;
      this.slow = true;
      return this._raise(this.fVec, -1, this.evType);
    }
    if (e === ABORT) {
      // The instruction needs data from the loop (MMIO read, IN): redo it after completeIo().
      this.eip = this.ipStart;
      this.r32[Reg.ESP] = this.espStart;
      this._rcPos = this._rcStart;
      this._wqLen = this._wqPos = 0;
      this._watchHit = false;
      this._hwHits = 0;
      this.restart = true;
      this.slow = true;
      return this.exit.reason as number as Xr;
    }
    throw e;
  }

  /** An event is about to be delivered: stop for the debugger first if it asked. */
  private _raise(vec: number, code: number, type: number): Xr {
    this._repResume = false;
    if (this.catchAll || (this.dbg.vectorCount !== 0 && this.dbg.vectorArmed(vec))) return this._catch(vec, code, type);
    return this.deliverEvent(vec, code, type);
  }

  private _catch(vec: number, code: number, type: number): Xr {
    this._stashVec = vec;
    this._stashCode = code;
    this._stashType = type;
    this._stashEip = this.eip;
    // State at the instruction that raised it: INT n is shown before it executes.
    if (type === Ev.SOFT || type === Ev.SOFTEXC || type === Ev.ICEBP) {
      this.eip = this.ipStart;
      this.icount--;
    }
    const x = this.exit;
    x.debug = 'vector';
    x.vector = vec;
    x.errorCode = type === Ev.EXC && this.pe && (HAS_ERROR_CODE & (1 << vec)) !== 0 && vec < 32 ? code : -1;
    this.slow = true;
    return this._exit(Xr.DEBUG);
  }

  /**
   * Delivers an event, turning a fault during delivery into the next event by the
   * double-fault rules (SDM vol. 3, table 6-5): contributory + contributory, or #PF +
   * contributory/#PF, is #DF; a fault while delivering #DF shuts the CPU down.
   */
  deliverEvent(vec: number, code: number, type: number): Xr {
    const esp = this.r32[Reg.ESP];
    for (;;) {
      try {
        sys.deliver(this, vec, code, type);
        this.halted = false;
        this.slow = true;
        return Xr.NONE;
      } catch (e) {
        if (e !== FAULT) throw e;
        this.r32[Reg.ESP] = esp;
        if (type === Ev.SOFT || type === Ev.SOFTEXC || type === Ev.ICEBP) {
          // A fault of INT n itself (gate DPL, IOPL in V86): it points at the INT.
          this.eip = this.ipStart;
          this.icount--;
        }
        const v2 = this.fVec;
        const c2 = this.fCode;
        if (vec === Vec.DF) {
          this.shutdown = true;
          this.exit.shutdown = 'triple-fault';
          return this._exit(Xr.SHUTDOWN);
        }
        const contrib1 = vec === Vec.DE || (vec >= Vec.TS && vec <= Vec.GP);
        const contrib2 = v2 === Vec.DE || (v2 >= Vec.TS && v2 <= Vec.GP);
        if (type === Ev.EXC && ((contrib1 && contrib2) || (vec === Vec.PF && (contrib2 || v2 === Vec.PF)))) {
          vec = Vec.DF;
          code = 0;
        } else {
          vec = v2;
          code = c2;
        }
        type = Ev.EXC;
        if (this.catchAll || (this.dbg.vectorCount !== 0 && this.dbg.vectorArmed(vec))) return this._catch(vec, code, type);
      }
    }
  }

  /** Between instructions when `slow`: exits, events, debug hooks; then one instruction. */
  private _slowStep(): Xr {
    // What the last instruction left behind leaves first, in order.
    if (this._wqLen !== this._wqPos) {
      // The fast path takes what it can; whatever it declines leaves as exits.
      this.flushWrites();
      if (this._wqLen !== this._wqPos) return this._emitQueued();
    }
    if (this._stopReq) {
      this._stopReq = false;
      return this._exit(Xr.INTR);
    }
    if (this._watchHit) {
      this._watchHit = false;
      const x = this.exit;
      x.debug = 'watch';
      x.debugAddr = this._watchAddr;
      x.watchSize = this._watchSize;
      x.watchWrite = this._watchWrite;
      return this._exit(Xr.DEBUG);
    }
    if (this._hwHits !== 0) {
      // A data breakpoint hit by the last instruction, or a switch into a task with the T
      // bit: #DB, a trap (EIP is past it).
      this.dr[6] = (this.dr[6] & ~0xf) | this._hwHits;
      this._hwHits = 0;
      const r = this._raise(Vec.DB, -1, Ev.EXC);
      if (r !== Xr.NONE) return r;
    }
    if (this._stepDone) {
      this._stepDone = false;
      this.exit.debug = 'step';
      return this._exit(Xr.DEBUG);
    }
    if (this.shutdown) return this._exit(Xr.SHUTDOWN);
    // An instruction whose read was just completed runs again before anything else.
    if (this.restart) return this._execOne();
    if (this._stashVec >= 0) {
      const v = this._stashVec;
      this._stashVec = -1;
      this.eip = this._stashEip;
      if (this._stashType === Ev.SOFT || this._stashType === Ev.SOFTEXC || this._stashType === Ev.ICEBP) this.icount++;
      const r = this.deliverEvent(v, this._stashCode, this._stashType);
      if (r !== Xr.NONE) return r;
    }
    // Interrupts are taken at instruction boundaries, never right after MOV SS / STI.
    if (!this.shadow) {
      if (this.nmiPending && !this.nmiBlocked) {
        this.nmiPending = false;
        this.nmiBlocked = true;
        this.halted = false;
        const r = this._raise(Vec.NMI, -1, Ev.EXT);
        if (r !== Xr.NONE) return r;
      } else if (this.irqPending >= 0 && (this.flags & F.IF) !== 0) {
        const v = this.irqPending;
        this.irqPending = -1;
        this.halted = false;
        const r = this._raise(v, -1, Ev.EXT);
        if (r !== Xr.NONE) return r;
      }
      if (this.irqWindow && (this.flags & F.IF) !== 0 && this.irqPending < 0) return this._exit(Xr.IRQ_WINDOW);
    }
    if (this.halted) return this._exit(Xr.HLT);
    if (this._dbgExec && !this._skipBp && !this._repResume && this.dbg.execCount !== 0) {
      const lin = (this.segBase[Seg.CS] + this.eip) >>> 0;
      if (this.dbg.execAt(lin) !== 0) {
        this.exit.debug = 'breakpoint';
        this.exit.debugAddr = lin;
        return this._exit(Xr.DEBUG);
      }
    }
    this._skipBp = false;
    if (this.hwExecArmed && !this._repResume) {
      // The guest's instruction breakpoints: #DB, a fault (before the instruction).
      const hits = this._hwExecHits();
      if (hits !== 0) {
        this.dr[6] = (this.dr[6] & ~0xf) | hits;
        return this._raise(Vec.DB, -1, Ev.EXC);
      }
    }
    this._repResume = false;
    return this._execOne();
  }

  /** One instruction on the careful path: TF trap, single-step, read-cache bookkeeping. */
  private _execOne(): Xr {
    const tf = (this.flags & F.TF) !== 0;
    // RF (set by an IRET) lasts for one instruction.
    const rf = (this.flags & F.RF) !== 0;
    this.shadow = false;
    try {
      step(this);
    } catch (e) {
      const r = this._onThrow(e);
      if (r === Xr.NONE && this.singleStep) this._stepDone = true;
      this._recalcSlow();
      return r;
    }
    this.icount++;
    if (rf) this.flags &= ~F.RF;
    if (this._rcLen !== 0) this._rcLen = this._rcPos = this._rcStart = 0;
    this.restart = false;
    const stepTrap = tf && !this.shadow && !this._repResume;
    if (stepTrap || this._hwHits !== 0) {
      // Single-step trap (DR6.BS) after an instruction that began with TF=1, and data
      // breakpoints it hit (B0-B3): one #DB, a trap.
      this.dr[6] = (this.dr[6] & ~0xf) | this._hwHits | (stepTrap ? 0x4000 : 0);
      this._hwHits = 0;
      const r = this._raise(Vec.DB, -1, Ev.EXC);
      if (r !== Xr.NONE) return r;
    }
    if (this.singleStep) this._stepDone = true;
    this._recalcSlow();
    return Xr.NONE;
  }

  private _recalcSlow(): void {
    this.slow = this.halted || this.shadow || this.restart || this.shutdown || this._stepDone || this._repResume || this._stopReq ||
      this._skipBp || this._stashVec >= 0 || this._wqLen !== this._wqPos || this._watchHit ||
      this.singleStep || this._dbgExec || this.hwExecArmed || this._hwHits !== 0 ||
      (this.flags & (F.TF | F.RF)) !== 0 || this.nmiPending ||
      ((this.irqPending >= 0 || this.irqWindow) && (this.flags & F.IF) !== 0);
  }

  /** Whether an external interrupt would be taken at the next boundary. */
  get interruptible(): boolean {
    return (this.flags & F.IF) !== 0 && !this.shadow && !this.restart && this._stashVec < 0 &&
      this._wqLen === this._wqPos && !this.shutdown;
  }

  skipBreakpointOnce(): void {
    this._skipBp = true;
    this.slow = true;
  }

  /** Drops events that belong to the old state (setState). */
  clearTransient(): void {
    this._stashVec = -1;
    this._stepDone = false;
    this._repResume = false;
    this._watchHit = false;
    this.restart = false;
    this.pendIn = 0;
    this._rcLen = this._rcPos = this._rcStart = 0;
    this._wqLen = this._wqPos = 0;
    this.shutdown = false;
    this._stopReq = false;
    this._hwHits = 0;
    this.debugRegsChanged();
    this.slow = true;
  }
}
