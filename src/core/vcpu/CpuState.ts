// Backend-neutral CPU state, shaped like KVM's kvm_regs + kvm_sregs so that the interpreter
// and the KVM backend can hand it to each other: a snapshot taken under one restores under
// the other. Plain data only: it crosses threads and goes into snapshots as JSON.

export interface SegmentCache {
  selector: number;
  /** The descriptor cache: what the CPU actually uses, whatever the tables say now. */
  base: number;
  /** Byte-granular limit (already expanded when G=1). */
  limit: number;
  /**
   * Access rights in VMX/Bochs layout: bits 0-3 type, 4 S, 5-6 DPL, 7 P, 12 AVL, 13 L,
   * 14 D/B, 15 G. Real mode data segments are 0x0093 with limit 0xFFFF.
   */
  attr: number;
}

export interface DescriptorTable {
  base: number;
  limit: number;
}

export interface CpuState {
  eax: number; ecx: number; edx: number; ebx: number;
  esp: number; ebp: number; esi: number; edi: number;
  eip: number;
  /** Architectural EFLAGS, bit 1 set; no lazily-kept parts. */
  eflags: number;
  es: SegmentCache; cs: SegmentCache; ss: SegmentCache;
  ds: SegmentCache; fs: SegmentCache; gs: SegmentCache;
  ldtr: SegmentCache; tr: SegmentCache;
  gdtr: DescriptorTable; idtr: DescriptorTable;
  cr0: number; cr2: number; cr3: number; cr4: number;
  /** DR0-DR3, DR6, DR7. */
  dr: [number, number, number, number, number, number];
  /** Time-stamp counter. */
  tsc: number;
  /** Model-specific registers the backend implements, by number. */
  msrs: Record<number, number>;
  /** Stopped in HLT, waiting for an interrupt. */
  halted: boolean;
  /** The instruction just executed blocks interrupts for one more instruction (MOV SS, STI). */
  interruptShadow: boolean;
  nmiPending: boolean;
  /** Instructions retired since reset. */
  icount: number;
}

export type GpRegName = 'eax' | 'ecx' | 'edx' | 'ebx' | 'esp' | 'ebp' | 'esi' | 'edi';
export const GP_REGS: readonly GpRegName[] = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
export type SegRegName = 'es' | 'cs' | 'ss' | 'ds' | 'fs' | 'gs';
export const SEG_REGS: readonly SegRegName[] = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];

export const enum Eflags {
  CF = 1 << 0, PF = 1 << 2, AF = 1 << 4, ZF = 1 << 6, SF = 1 << 7, TF = 1 << 8,
  IF = 1 << 9, DF = 1 << 10, OF = 1 << 11, IOPL = 3 << 12, NT = 1 << 14, RF = 1 << 16,
  VM = 1 << 17, AC = 1 << 18, VIF = 1 << 19, VIP = 1 << 20, ID = 1 << 21,
}

export const enum Cr0 {
  PE = 1 << 0, MP = 1 << 1, EM = 1 << 2, TS = 1 << 3, ET = 1 << 4, NE = 1 << 5,
  WP = 1 << 16, AM = 1 << 18, NW = 1 << 29, CD = 1 << 30, PG = 1 << 31,
}

export const enum Cr4 {
  VME = 1 << 0, PVI = 1 << 1, TSD = 1 << 2, DE = 1 << 3, PSE = 1 << 4, PAE = 1 << 5,
  MCE = 1 << 6, PGE = 1 << 7, PCE = 1 << 8,
}

export type CpuMode = 'real' | 'v86' | 'prot16' | 'prot32';

/** The mode a debugger should disassemble in, derived from CR0, EFLAGS.VM and CS.D. */
export function cpuMode(s: Pick<CpuState, 'cr0' | 'eflags' | 'cs'>): CpuMode {
  if (!(s.cr0 & Cr0.PE)) return 'real';
  if (s.eflags & Eflags.VM) return 'v86';
  return s.cs.attr & 0x4000 ? 'prot32' : 'prot16';
}

export function cpl(s: Pick<CpuState, 'cr0' | 'eflags' | 'cs'>): number {
  if (!(s.cr0 & Cr0.PE)) return 0;
  if (s.eflags & Eflags.VM) return 3;
  return s.cs.selector & 3;
}

/** A real-mode segment register as loaded by MOV Sreg in real mode. */
export function realSegment(selector: number, attr = 0x0093): SegmentCache {
  return { selector: selector & 0xffff, base: (selector & 0xffff) << 4, limit: 0xffff, attr };
}
