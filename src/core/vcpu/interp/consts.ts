// Numbers the interpreter shares between its files: register and segment indices, EFLAGS
// bits, exception vectors, the lazy-flags operations and the TLB entry bits.
//
// These are `const enum`s so that esbuild inlines them inside each file; across files they
// cost one property load, which only the cold (protected-mode, task-switch) paths pay.

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

/** The processor signature CPUID.1:EAX and EDX after reset report: family 6, model 1, stepping 1. */
export const CPU_SIGNATURE = 0x611;
