// Decoding and executing one instruction: prefixes, the one-byte opcode map, the 0F map,
// string instructions. System instructions and far transfers are in system.ts.
// Opcode maps: Intel SDM vol. 2, appendix A; 386 behaviour from the 80386 PRM.

import type { Cpu } from './cpu.js';
import { CPU_SIGNATURE } from './consts.js';
import * as sys from './system.js';

// ---- Local copies of consts.ts's enums ----
// esbuild (behind tsx and vitest) inlines a const enum only inside the file that declares it;
// from another module every use is a property load, under some loaders a getter call. These
// are on the hot path, so this file keeps its own copies; consts.test.ts checks they agree.

/** General registers in x86 encoding order: also the index into Cpu.r32. */
const enum Reg {
  EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7,
}
/** Segment registers in x86 encoding order (Sreg field), then LDTR and TR. */
const enum Seg {
  ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5, LDTR = 6, TR = 7,
}
/** EFLAGS bits (Intel SDM vol. 1, 3.4.3). */
const enum F {
  CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, TF = 0x100, IF = 0x200, DF = 0x400,
  OF = 0x800, IOPL = 0x3000, NT = 0x4000, RF = 0x10000, VM = 0x20000, AC = 0x40000,
  VIF = 0x80000, VIP = 0x100000, ID = 0x200000,
  /** The six arithmetic flags. */
  ARITH = 0x8d5,
}
/** Exception vectors (SDM vol. 3, table 6-1). */
const enum Vec {
  DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8, TS = 10, NP = 11,
  SS = 12, GP = 13, PF = 14, MF = 16, AC = 17,
}
/** How an event reaches the IDT: decides DPL checks, error codes and the EXT bit. */
const enum Ev {
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
const enum Cr0Bit {
  PE = 0x1, MP = 0x2, EM = 0x4, TS = 0x8, ET = 0x10, NE = 0x20, WP = 0x10000, AM = 0x40000,
  NW = 0x20000000, CD = 0x40000000, PG = 0x80000000,
}
const enum Cr4Bit {
  VME = 0x1, PVI = 0x2, TSD = 0x4, DE = 0x8, PSE = 0x10,
}
/** Xr.IO and .MMIO. */
const enum Xr { IO = 1, MMIO = 2 }

/** Index of an 8-bit register (AL CL DL BL AH CH DH BH) in Cpu.r8. */
const R8 = new Uint8Array([0, 4, 8, 12, 1, 5, 9, 13]);

/** Iterations of a REP string instruction before the run loop gets a look in. */
const REP_CHUNK = 4096;

/** Executes one instruction at CS:EIP. Throws FAULT / EVENT / ABORT (see cpu.ts). */
export function step(c: Cpu): void {
  c.ipStart = c.eip;
  c.espStart = c.r32[Reg.ESP];
  c.frLen = 0;
  if (c.pfx) resetPrefixes(c);
  const op = c.fetch8();
  OP1[op](c, op);
}

/** A prefix byte: read all prefixes, then dispatch the opcode they apply to. */
function opPrefix(c: Cpu, op: number): void {
  const op1 = prefixes(c, op);
  OP1[op1](c, op1);
}

function resetPrefixes(c: Cpu): void {
  const d = c.cs32;
  c.o32 = d;
  c.a32 = d;
  c.segOv = -1;
  c.rep = 0;
  c.lockp = false;
  c.pfx = false;
}

function prefixes(c: Cpu, op: number): number {
  c.pfx = true;
  // Only prefixes can make an instruction longer than 15 bytes (#GP): end the fetch window
  // there, so that the slow fetch path sees the 16th byte and faults.
  const last = c.ipStart + 14;
  if (c.fHi > last) c.fHi = last;
  for (;;) {
    switch (op) {
      case 0x26: c.segOv = Seg.ES; break;
      case 0x2e: c.segOv = Seg.CS; break;
      case 0x36: c.segOv = Seg.SS; break;
      case 0x3e: c.segOv = Seg.DS; break;
      case 0x64: c.segOv = Seg.FS; break;
      case 0x65: c.segOv = Seg.GS; break;
      case 0x66: c.o32 = !c.cs32; break;
      case 0x67: c.a32 = !c.cs32; break;
      case 0xf0: c.lockp = true; break;
      case 0xf2: case 0xf3: c.rep = op; break;
      default:
        if (c.lockp && c.lockUd) lockCheck(c, op);
        return op;
    }
    // An instruction is at most 15 bytes; only redundant prefixes can make it longer.
    if (c.eip - c.ipStart >= 15) c.gp(0);
    op = c.fetch8();
  }
}

/** LOCK is only valid on a read-modify-write of memory (SDM vol. 2, LOCK). Peeks, then rewinds. */
function lockCheck(c: Cpu, op: number): void {
  const ip = c.eip;
  let ok = false;
  if (op === 0x0f) {
    const op2 = c.fetch8();
    const m = c.fetch8();
    const reg = (m >> 3) & 7;
    ok = m < 0xc0 && (op2 === 0xab || op2 === 0xb3 || op2 === 0xbb || op2 === 0xb0 || op2 === 0xb1 ||
      op2 === 0xc0 || op2 === 0xc1 || (op2 === 0xba && reg >= 5) || (op2 === 0xc7 && reg === 1));
  } else {
    const m = c.fetch8();
    const reg = (m >> 3) & 7;
    if (m < 0xc0) {
      if (op < 0x40) ok = (op & 7) < 2 && (op & 0x38) !== 0x38;
      else if (op >= 0x80 && op <= 0x83) ok = reg !== 7;
      else if (op === 0x86 || op === 0x87) ok = true;
      else if (op === 0xf6 || op === 0xf7) ok = reg === 2 || reg === 3;
      else if (op === 0xfe || op === 0xff) ok = reg < 2;
    }
  }
  c.eip = ip;
  if (!ok) c.ud();
}

function immS(c: Cpu, sz: number): number {
  return sz === 0 ? c.fetch8() : sz === 1 ? c.fetch16() : c.fetch32();
}


// ---- dispatch tables: one small function per opcode (or group of opcodes) ----
// A table rather than one big switch: each handler is optimized on its own, so an opcode
// seen for the first time deoptimizes only its handler, not the whole decoder.

type Handler = (c: Cpu, op: number) => void;

function opUd(c: Cpu): void {
  c.ud();
}

const OP1: Handler[] = new Array<Handler>(256).fill(opUd);
const OP2: Handler[] = new Array<Handler>(256).fill(opUd);

function def(table: Handler[], fn: Handler, ...ops: number[]): void {
  for (const op of ops) table[op] = fn;
}

function op_00(c: Cpu, op: number): void {
  aluEG(c, op >> 3, 0);
}

function op_01(c: Cpu, op: number): void {
  aluEG(c, op >> 3, c.o32 ? 2 : 1);
}

function op_02(c: Cpu, op: number): void {
  aluGE(c, op >> 3, 0);
}

function op_03(c: Cpu, op: number): void {
  aluGE(c, op >> 3, c.o32 ? 2 : 1);
}

function op_04(c: Cpu, op: number): void {
  const r8 = c.r8;
  const r = c.alu(op >> 3, r8[0], c.fetch8(), 0);
  r8[0] = r;
}

function op_05(c: Cpu, op: number): void {
  const r32 = c.r32;
  const r16 = c.r16;
  if (c.o32) r32[0] = c.alu(op >> 3, r32[0], c.fetch32(), 2);
  else r16[0] = c.alu(op >> 3, r16[0], c.fetch16(), 1);
}

// ---- segment register push/pop ----

function op_06(c: Cpu): void {
  c.push(c.segSel[Seg.ES]);
}

function op_0e(c: Cpu): void {
  c.push(c.segSel[Seg.CS]);
}

function op_16(c: Cpu): void {
  c.push(c.segSel[Seg.SS]);
}

function op_1e(c: Cpu): void {
  c.push(c.segSel[Seg.DS]);
}

function op_07(c: Cpu): void {
  popSeg(c, Seg.ES);
}

function op_17(c: Cpu): void {
  popSeg(c, Seg.SS);
}

function op_1f(c: Cpu): void {
  popSeg(c, Seg.DS);
}

function op_0f(c: Cpu): void {
  const op2 = c.fetch8();
  OP2[op2](c, op2);
}

// ---- BCD ----

function op_27(c: Cpu): void {
  daa(c, false);
}

function op_2f(c: Cpu): void {
  daa(c, true);
}

function op_37(c: Cpu): void {
  aaa(c, false);
}

function op_3f(c: Cpu): void {
  aaa(c, true);
}

// ---- INC/DEC/PUSH/POP reg ----

function op_40(c: Cpu, op: number): void {
  const r32 = c.r32;
  const r16 = c.r16;
  if (c.o32) r32[op & 7] = c.inc(r32[op & 7], 2);
  else r16[(op & 7) << 1] = c.inc(r16[(op & 7) << 1], 1);
}

function op_48(c: Cpu, op: number): void {
  const r32 = c.r32;
  const r16 = c.r16;
  if (c.o32) r32[op & 7] = c.dec(r32[op & 7], 2);
  else r16[(op & 7) << 1] = c.dec(r16[(op & 7) << 1], 1);
}

function op_50(c: Cpu, op: number): void {
  const r32 = c.r32;
  const r16 = c.r16;
  if (c.o32) c.push32(r32[op & 7]);
  else c.push16(r16[(op & 7) << 1]);
}

function op_58(c: Cpu, op: number): void {
  const r32 = c.r32;
  const r16 = c.r16;
  if (c.o32) { const v = c.pop32(); r32[op & 7] = v; } else { const v = c.pop16(); r16[(op & 7) << 1] = v; }
}

function op_60(c: Cpu): void {
  pusha(c);
}

function op_61(c: Cpu): void {
  popa(c);
}

function op_62(c: Cpu): void {
  bound(c);
}

function op_63(c: Cpu): void {
  sys.arpl(c);
}

function op_68(c: Cpu): void {
  c.push(c.o32 ? c.fetch32() : c.fetch16());
}

function op_6a(c: Cpu): void {
  const v = c.fetch8s(); c.push(c.o32 ? v : v & 0xffff);
}

function op_69(c: Cpu, op: number): void {
  const sz = c.o32 ? 2 : 1;
  c.modrm();
  const a = c.readE(sz);
  const b = op === 0x6b ? c.fetch8s() : immS(c, sz);
  c.setReg(sz, (c.m >> 3) & 7, c.imulTrunc(a, b, sz));
}

function op_6c(c: Cpu): void {
  ins(c, 0);
}

function op_6d(c: Cpu): void {
  ins(c, c.o32 ? 2 : 1);
}

function op_6e(c: Cpu): void {
  outs(c, 0);
}

function op_6f(c: Cpu): void {
  outs(c, c.o32 ? 2 : 1);
}

// ---- Jcc rel8 ----

function op_70(c: Cpu, op: number): void {
  const disp = c.fetch8s();
  if (c.cond(op & 15)) c.jmpNear(c.eip + disp);
}

// ---- group 1 ----

function op_80(c: Cpu): void {
  grp1(c, 0, 0);
}

function op_81(c: Cpu): void {
  const sz = c.o32 ? 2 : 1; grp1(c, sz, sz);
}

function op_83(c: Cpu): void {
  grp1(c, c.o32 ? 2 : 1, 3);
}

function op_84(c: Cpu, op: number): void {
  const sz = op === 0x84 ? 0 : c.o32 ? 2 : 1;
  c.modrm();
  c.logic(c.readE(sz) & c.getReg(sz, (c.m >> 3) & 7), sz);
}

function op_86(c: Cpu, op: number): void {
  const sz = op === 0x86 ? 0 : c.o32 ? 2 : 1;
  c.modrm();
  const reg = (c.m >> 3) & 7;
  const a = c.readE(sz);
  c.writeE(sz, c.getReg(sz, reg));
  c.setReg(sz, reg, a);
}

// ---- MOV ----

function op_88(c: Cpu): void {
  const r8 = c.r8;
  c.modrm(); c.writeE(0, r8[R8[(c.m >> 3) & 7]]);
}

function op_89(c: Cpu): void {
  const r32 = c.r32;
  const r16 = c.r16;
  c.modrm();
  if (c.o32) {
    if (c.m >= 0xc0) r32[c.m & 7] = r32[(c.m >> 3) & 7];
    else c.wr32(c.eaSeg, c.ea, r32[(c.m >> 3) & 7]);
  } else c.writeE(1, r16[((c.m >> 3) & 7) << 1]);
}

function op_8a(c: Cpu): void {
  const r8 = c.r8;
  c.modrm(); r8[R8[(c.m >> 3) & 7]] = c.readE(0);
}

function op_8b(c: Cpu): void {
  const r32 = c.r32;
  const r16 = c.r16;
  c.modrm();
  if (c.o32) r32[(c.m >> 3) & 7] = c.m >= 0xc0 ? r32[c.m & 7] : c.rd32(c.eaSeg, c.ea);
  else r16[((c.m >> 3) & 7) << 1] = c.readE(1);
}

function op_8c(c: Cpu): void {
  const r32 = c.r32;
  const r16 = c.r16;
  c.modrm();
  const reg = (c.m >> 3) & 7;
  if (reg > 5) c.ud();
  const v = c.segSel[reg];
  if (c.m >= 0xc0) {
    if (c.o32) r32[c.m & 7] = v;
    else r16[(c.m & 7) << 1] = v;
  } else c.wr16(c.eaSeg, c.ea, v);
}

function op_8d(c: Cpu): void {
  c.modrm();
  if (c.m >= 0xc0) c.ud();
  c.setReg(c.o32 ? 2 : 1, (c.m >> 3) & 7, c.ea);
}

function op_8e(c: Cpu): void {
  c.modrm();
  const reg = (c.m >> 3) & 7;
  if (reg === Seg.CS || reg > 5) c.ud();
  sys.loadSeg(c, reg, c.readE16());
  if (reg === Seg.SS) { c.shadow = true; c.slow = true; }
}

function op_8f(c: Cpu): void {
  // POP r/m: the effective address is computed with ESP already incremented.
  const sz = c.o32 ? 2 : 1;
  const v = c.peek(sz, 0);
  c.addSp(sz === 2 ? 4 : 2);
  c.modrm();
  if ((c.m & 0x38) !== 0) c.ud();
  c.writeE(sz, v);
}

/** NOP, and PAUSE (F3 90): a NOP that yields the host thread when pauseExits is on. */
function op_90(c: Cpu): void {
  if (c.rep === 0xf3 && c.pauseExits) c.requestStop();
}

function op_91(c: Cpu, op: number): void {
  const r32 = c.r32;
  const r16 = c.r16;
  if (c.o32) { const t = r32[0]; r32[0] = r32[op & 7]; r32[op & 7] = t; }
  else { const t = r16[0]; r16[0] = r16[(op & 7) << 1]; r16[(op & 7) << 1] = t; }
}

function op_98(c: Cpu): void {
  const r32 = c.r32;
  const r16 = c.r16;
  const r8 = c.r8;
  if (c.o32) r32[0] = (r32[0] << 16) >> 16;
  else r16[0] = (r8[0] << 24) >> 24;
}

function op_99(c: Cpu): void {
  const r32 = c.r32;
  const r16 = c.r16;
  if (c.o32) r32[2] = r32[0] >> 31;
  else r16[4] = r16[0] & 0x8000 ? 0xffff : 0;
}

function op_9a(c: Cpu): void {
  const off = c.o32 ? c.fetch32() >>> 0 : c.fetch16();
  const sel = c.fetch16();
  sys.callFar(c, sel, off);
}

function op_9b(c: Cpu): void {
  if ((c.cr0 & (Cr0Bit.MP | Cr0Bit.TS)) === (Cr0Bit.MP | Cr0Bit.TS)) c.fault(Vec.NM, -1);
}

function op_9c(c: Cpu): void {
  if (c.vm && (c.flags & F.IOPL) !== F.IOPL) c.gp(0);
  if (c.o32) c.push32(c.getFlags() & ~(F.VM | F.RF));
  else c.push16(c.getFlags() & 0xffff);
}

function op_9d(c: Cpu): void {
  sys.popf(c);
}

function op_9e(c: Cpu): void {
  const r8 = c.r8;
  c.setArith(F.SF | F.ZF | F.AF | F.PF | F.CF, r8[1]);
}

function op_9f(c: Cpu): void {
  const r8 = c.r8;
  r8[1] = c.getFlags();
}

function op_a0(c: Cpu, op: number): void {
  const off = c.a32 ? c.fetch32() >>> 0 : c.fetch16();
  const s = c.segOv >= 0 ? c.segOv : Seg.DS;
  const sz = (op & 1) === 0 ? 0 : c.o32 ? 2 : 1;
  if (op < 0xa2) c.setReg(sz, 0, c.rdS(sz, s, off));
  else c.wrS(sz, s, off, c.getReg(sz, 0));
}

function op_a4(c: Cpu): void {
  movs(c, 0);
}

function op_a5(c: Cpu): void {
  movs(c, c.o32 ? 2 : 1);
}

function op_a6(c: Cpu): void {
  cmps(c, 0);
}

function op_a7(c: Cpu): void {
  cmps(c, c.o32 ? 2 : 1);
}

function op_a8(c: Cpu): void {
  const r8 = c.r8;
  c.logic(r8[0] & c.fetch8(), 0);
}

function op_a9(c: Cpu): void {
  const r32 = c.r32;
  const r16 = c.r16;
  if (c.o32) c.logic(r32[0] & c.fetch32(), 2);
  else c.logic(r16[0] & c.fetch16(), 1);
}

function op_aa(c: Cpu): void {
  stos(c, 0);
}

function op_ab(c: Cpu): void {
  stos(c, c.o32 ? 2 : 1);
}

function op_ac(c: Cpu): void {
  lods(c, 0);
}

function op_ad(c: Cpu): void {
  lods(c, c.o32 ? 2 : 1);
}

function op_ae(c: Cpu): void {
  scas(c, 0);
}

function op_af(c: Cpu): void {
  scas(c, c.o32 ? 2 : 1);
}

function op_b0(c: Cpu, op: number): void {
  const r8 = c.r8;
  r8[R8[op & 7]] = c.fetch8();
}

function op_b8(c: Cpu, op: number): void {
  const r32 = c.r32;
  const r16 = c.r16;
  if (c.o32) r32[op & 7] = c.fetch32();
  else r16[(op & 7) << 1] = c.fetch16();
}

// ---- shifts ----

function op_c0(c: Cpu, op: number): void {
  const sz = op === 0xc0 ? 0 : c.o32 ? 2 : 1;
  c.modrm();
  const n = c.fetch8();
  grp2(c, sz, n);
}

function op_d0(c: Cpu): void {
  c.modrm(); grp2(c, 0, 1);
}

function op_d1(c: Cpu): void {
  c.modrm(); grp2(c, c.o32 ? 2 : 1, 1);
}

function op_d2(c: Cpu): void {
  const r8 = c.r8;
  c.modrm(); grp2(c, 0, r8[4]);
}

function op_d3(c: Cpu): void {
  const r8 = c.r8;
  c.modrm(); grp2(c, c.o32 ? 2 : 1, r8[4]);
}

// ---- near returns, far pointers, MOV imm ----

function op_c2(c: Cpu, op: number): void {
  const n = op === 0xc2 ? c.fetch16() : 0;
  const ip = c.o32 ? c.pop32() : c.pop16();
  c.jmpNear(ip);
  if (n !== 0) c.addSp(n);
}

function op_c4(c: Cpu): void {
  loadFarPtr(c, Seg.ES);
}

function op_c5(c: Cpu): void {
  loadFarPtr(c, Seg.DS);
}

function op_c6(c: Cpu): void {
  c.modrm(); if ((c.m & 0x38) !== 0) c.ud(); c.writeE(0, c.fetch8());
}

function op_c7(c: Cpu): void {
  const sz = c.o32 ? 2 : 1;
  c.modrm();
  if ((c.m & 0x38) !== 0) c.ud();
  c.writeE(sz, immS(c, sz));
}

function op_c8(c: Cpu): void {
  enter(c);
}

function op_c9(c: Cpu): void {
  const r32 = c.r32;
  const r16 = c.r16;
  // LEAVE: ESP = EBP, then pop EBP.
  if (c.ss32) r32[Reg.ESP] = r32[Reg.EBP];
  else r16[8] = r16[10];
  if (c.o32) { const v = c.pop32(); r32[Reg.EBP] = v; } else { const v = c.pop16(); r16[10] = v; }
}

function op_ca(c: Cpu): void {
  sys.retFar(c, c.fetch16());
}

function op_cb(c: Cpu): void {
  sys.retFar(c, 0);
}

function op_cc(c: Cpu): void {
  c.softInt(Vec.BP, Ev.SOFTEXC);
}

function op_cd(c: Cpu): void {
  c.softInt(c.fetch8(), Ev.SOFT);
}

function op_ce(c: Cpu): void {
  if (c.of()) c.softInt(Vec.OF, Ev.SOFTEXC);
}

function op_cf(c: Cpu): void {
  sys.iret(c);
}

function op_d4(c: Cpu): void {
  const r8 = c.r8;
  // AAM
  const imm = c.fetch8();
  if (imm === 0) c.fault(Vec.DE, -1);
  const al = r8[0];
  r8[1] = (al / imm) | 0;
  r8[0] = al % imm;
  c.setZsp(r8[0], 0, 0);
}

function op_d5(c: Cpu): void {
  const r16 = c.r16;
  const r8 = c.r8;
  // AAD
  const imm = c.fetch8();
  const r = (r8[0] + r8[1] * imm) & 0xff;
  r16[0] = r;
  c.setZsp(r, 0, 0);
}

function op_d6(c: Cpu): void {
  const r8 = c.r8;
  r8[0] = c.cf() ? 0xff : 0; return; // SALC
}

function op_d7(c: Cpu): void {
  const r32 = c.r32;
  const r16 = c.r16;
  const r8 = c.r8;
  const s = c.segOv >= 0 ? c.segOv : Seg.DS;
  const off = c.a32 ? (r32[Reg.EBX] + r8[0]) >>> 0 : (r16[6] + r8[0]) & 0xffff;
  r8[0] = c.rd8(s, off);
}

function op_d8(c: Cpu, op: number): void {
  if (c.cr0 & (Cr0Bit.EM | Cr0Bit.TS)) c.fault(Vec.NM, -1);
  c.modrm();
  if (c.m < 0xc0) {
    // The CPU fetches or stores the memory operand for the coprocessor: its segment
    // limit is checked even though nothing is transferred.
    const n = escOperandSize(op, (c.m >> 3) & 7, c.o32);
    if (n !== 0 && c.ea + n - 1 > c.rlim[c.eaSeg]) c.segCheck(c.eaSeg, c.ea, n, false);
  }
}

// ---- loops and jumps ----

function op_e0(c: Cpu, op: number): void {
  const r32 = c.r32;
  const r16 = c.r16;
  const disp = c.fetch8s();
  const n = c.a32 ? (r32[Reg.ECX] - 1) | 0 : (r16[2] - 1) & 0xffff;
  const take = n !== 0 && (op === 0xe2 || (op === 0xe1) === (c.zf() !== 0));
  if (take) c.jmpNear(c.eip + disp);
  if (c.a32) r32[Reg.ECX] = n;
  else r16[2] = n;
}

function op_e3(c: Cpu): void {
  const r32 = c.r32;
  const r16 = c.r16;
  const disp = c.fetch8s();
  if ((c.a32 ? r32[Reg.ECX] : r16[2]) === 0) c.jmpNear(c.eip + disp);
}

function op_e4(c: Cpu): void {
  inPort(c, c.fetch8(), 0);
}

function op_e5(c: Cpu): void {
  inPort(c, c.fetch8(), c.o32 ? 2 : 1);
}

function op_e6(c: Cpu): void {
  outPort(c, c.fetch8(), 0);
}

function op_e7(c: Cpu): void {
  outPort(c, c.fetch8(), c.o32 ? 2 : 1);
}

function op_ec(c: Cpu): void {
  const r16 = c.r16;
  inPort(c, r16[4], 0);
}

function op_ed(c: Cpu): void {
  const r16 = c.r16;
  inPort(c, r16[4], c.o32 ? 2 : 1);
}

function op_ee(c: Cpu): void {
  const r16 = c.r16;
  outPort(c, r16[4], 0);
}

function op_ef(c: Cpu): void {
  const r16 = c.r16;
  outPort(c, r16[4], c.o32 ? 2 : 1);
}

function op_e8(c: Cpu): void {
  const disp = c.o32 ? c.fetch32() : c.fetch16();
  const target = c.eip + disp;
  c.push(c.eip);
  c.jmpNear(target);
}

function op_e9(c: Cpu): void {
  const disp = c.o32 ? c.fetch32() : c.fetch16();
  c.jmpNear(c.eip + disp);
}

function op_ea(c: Cpu): void {
  const off = c.o32 ? c.fetch32() >>> 0 : c.fetch16();
  const sel = c.fetch16();
  sys.jmpFar(c, sel, off);
}

function op_eb(c: Cpu): void {
  const disp = c.fetch8s();
  c.jmpNear(c.eip + disp);
}

function op_f1(c: Cpu): void {
  c.softInt(Vec.DB, Ev.ICEBP);
}

function op_f4(c: Cpu): void {
  if (c.cpl !== 0) c.gp(0);
  c.halted = true;
  c.slow = true;
}

function op_f5(c: Cpu): void {
  c.setArith(F.CF, c.cf() ^ 1);
}

function op_f6(c: Cpu): void {
  grp3(c, 0);
}

function op_f7(c: Cpu): void {
  grp3(c, c.o32 ? 2 : 1);
}

function op_f8(c: Cpu): void {
  c.setArith(F.CF, 0);
}

function op_f9(c: Cpu): void {
  c.setArith(F.CF, F.CF);
}

function op_fa(c: Cpu): void {
  if (!iflagAllowed(c)) c.gp(0);
  c.flags &= ~F.IF;
}

function op_fb(c: Cpu): void {
  if (!iflagAllowed(c)) c.gp(0);
  if ((c.flags & F.IF) === 0) {
    // STI: interrupts stay blocked until after the next instruction.
    c.flags |= F.IF;
    c.shadow = true;
    c.slow = true;
  }
}

function op_fc(c: Cpu): void {
  c.flags &= ~F.DF;
}

function op_fd(c: Cpu): void {
  c.flags |= F.DF;
}

function op_fe(c: Cpu): void {
  c.modrm();
  const reg = (c.m >> 3) & 7;
  if (reg > 1) c.ud();
  const v = c.readE(0);
  c.writeE(0, reg === 0 ? c.inc(v, 0) : c.dec(v, 0));
}

function op_ff(c: Cpu): void {
  grp5(c);
}

// ---- the one-byte opcode map: handler, then the opcodes it serves ----
def(OP1, opPrefix, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3);
def(OP1, op_00, 0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38);
def(OP1, op_01, 0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x39);
def(OP1, op_02, 0x02, 0x0a, 0x12, 0x1a, 0x22, 0x2a, 0x32, 0x3a);
def(OP1, op_03, 0x03, 0x0b, 0x13, 0x1b, 0x23, 0x2b, 0x33, 0x3b);
def(OP1, op_04, 0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c);
def(OP1, op_05, 0x05, 0x0d, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d);
def(OP1, op_06, 0x06);
def(OP1, op_0e, 0x0e);
def(OP1, op_16, 0x16);
def(OP1, op_1e, 0x1e);
def(OP1, op_07, 0x07);
def(OP1, op_17, 0x17);
def(OP1, op_1f, 0x1f);
def(OP1, op_0f, 0x0f);
def(OP1, op_27, 0x27);
def(OP1, op_2f, 0x2f);
def(OP1, op_37, 0x37);
def(OP1, op_3f, 0x3f);
def(OP1, op_40, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47);
def(OP1, op_48, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f);
def(OP1, op_50, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57);
def(OP1, op_58, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f);
def(OP1, op_60, 0x60);
def(OP1, op_61, 0x61);
def(OP1, op_62, 0x62);
def(OP1, op_63, 0x63);
def(OP1, op_68, 0x68);
def(OP1, op_6a, 0x6a);
def(OP1, op_69, 0x69, 0x6b);
def(OP1, op_6c, 0x6c);
def(OP1, op_6d, 0x6d);
def(OP1, op_6e, 0x6e);
def(OP1, op_6f, 0x6f);
def(OP1, op_70, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f);
def(OP1, op_80, 0x80, 0x82);
def(OP1, op_81, 0x81);
def(OP1, op_83, 0x83);
def(OP1, op_84, 0x84, 0x85);
def(OP1, op_86, 0x86, 0x87);
def(OP1, op_88, 0x88);
def(OP1, op_89, 0x89);
def(OP1, op_8a, 0x8a);
def(OP1, op_8b, 0x8b);
def(OP1, op_8c, 0x8c);
def(OP1, op_8d, 0x8d);
def(OP1, op_8e, 0x8e);
def(OP1, op_8f, 0x8f);
def(OP1, op_90, 0x90);
def(OP1, op_91, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97);
def(OP1, op_98, 0x98);
def(OP1, op_99, 0x99);
def(OP1, op_9a, 0x9a);
def(OP1, op_9b, 0x9b);
def(OP1, op_9c, 0x9c);
def(OP1, op_9d, 0x9d);
def(OP1, op_9e, 0x9e);
def(OP1, op_9f, 0x9f);
def(OP1, op_a0, 0xa0, 0xa1, 0xa2, 0xa3);
def(OP1, op_a4, 0xa4);
def(OP1, op_a5, 0xa5);
def(OP1, op_a6, 0xa6);
def(OP1, op_a7, 0xa7);
def(OP1, op_a8, 0xa8);
def(OP1, op_a9, 0xa9);
def(OP1, op_aa, 0xaa);
def(OP1, op_ab, 0xab);
def(OP1, op_ac, 0xac);
def(OP1, op_ad, 0xad);
def(OP1, op_ae, 0xae);
def(OP1, op_af, 0xaf);
def(OP1, op_b0, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7);
def(OP1, op_b8, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf);
def(OP1, op_c0, 0xc0, 0xc1);
def(OP1, op_d0, 0xd0);
def(OP1, op_d1, 0xd1);
def(OP1, op_d2, 0xd2);
def(OP1, op_d3, 0xd3);
def(OP1, op_c2, 0xc2, 0xc3);
def(OP1, op_c4, 0xc4);
def(OP1, op_c5, 0xc5);
def(OP1, op_c6, 0xc6);
def(OP1, op_c7, 0xc7);
def(OP1, op_c8, 0xc8);
def(OP1, op_c9, 0xc9);
def(OP1, op_ca, 0xca);
def(OP1, op_cb, 0xcb);
def(OP1, op_cc, 0xcc);
def(OP1, op_cd, 0xcd);
def(OP1, op_ce, 0xce);
def(OP1, op_cf, 0xcf);
def(OP1, op_d4, 0xd4);
def(OP1, op_d5, 0xd5);
def(OP1, op_d6, 0xd6);
def(OP1, op_d7, 0xd7);
def(OP1, op_d8, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf);
def(OP1, op_e0, 0xe0, 0xe1, 0xe2);
def(OP1, op_e3, 0xe3);
def(OP1, op_e4, 0xe4);
def(OP1, op_e5, 0xe5);
def(OP1, op_e6, 0xe6);
def(OP1, op_e7, 0xe7);
def(OP1, op_ec, 0xec);
def(OP1, op_ed, 0xed);
def(OP1, op_ee, 0xee);
def(OP1, op_ef, 0xef);
def(OP1, op_e8, 0xe8);
def(OP1, op_e9, 0xe9);
def(OP1, op_ea, 0xea);
def(OP1, op_eb, 0xeb);
def(OP1, op_f1, 0xf1);
def(OP1, op_f4, 0xf4);
def(OP1, op_f5, 0xf5);
def(OP1, op_f6, 0xf6);
def(OP1, op_f7, 0xf7);
def(OP1, op_f8, 0xf8);
def(OP1, op_f9, 0xf9);
def(OP1, op_fa, 0xfa);
def(OP1, op_fb, 0xfb);
def(OP1, op_fc, 0xfc);
def(OP1, op_fd, 0xfd);
def(OP1, op_fe, 0xfe);
def(OP1, op_ff, 0xff);

/** Bytes of the memory operand of an x87 instruction (D8-DF), 0 for undefined forms. */
function escOperandSize(op: number, reg: number, o32: boolean): number {
  switch (op) {
    case 0xd8: case 0xda: return 4;
    case 0xdc: return 8;
    case 0xde: return 2;
    case 0xd9: return reg === 1 ? 0 : reg < 4 ? 4 : reg === 5 || reg === 7 ? 2 : o32 ? 28 : 14;
    case 0xdb: return reg < 4 ? (reg === 1 ? 0 : 4) : reg === 5 || reg === 7 ? 10 : 0;
    case 0xdd: return reg === 1 || reg === 5 ? 0 : reg < 4 ? 8 : reg === 7 ? 2 : o32 ? 108 : 94;
    default: return reg < 4 ? (reg === 1 ? 0 : 2) : reg === 5 || reg === 7 ? 8 : 10;
  }
}

/** CLI/STI allowed? (IOPL-sensitive; no VME/PVI.) */
function iflagAllowed(c: Cpu): boolean {
  if (!c.pe) return true;
  const iopl = (c.flags >> 12) & 3;
  return c.vm ? iopl === 3 : c.cpl <= iopl;
}

function aluEG(c: Cpu, op: number, sz: number): void {
  op &= 7;
  c.modrm();
  const m = c.m;
  const b = c.getReg(sz, (m >> 3) & 7);
  if (m >= 0xc0) {
    const r = c.alu(op, c.getReg(sz, m & 7), b, sz);
    if (op !== 7) c.setReg(sz, m & 7, r);
  } else {
    const r = c.alu(op, c.rdS(sz, c.eaSeg, c.ea), b, sz);
    if (op !== 7) c.wrS(sz, c.eaSeg, c.ea, r);
  }
}

function aluGE(c: Cpu, op: number, sz: number): void {
  op &= 7;
  c.modrm();
  const reg = (c.m >> 3) & 7;
  const r = c.alu(op, c.getReg(sz, reg), c.readE(sz), sz);
  if (op !== 7) c.setReg(sz, reg, r);
}

/** Group 1 (80-83): immSz 0/1/2 = imm8/16/32, 3 = imm8 sign-extended. */
function grp1(c: Cpu, sz: number, immSz: number): void {
  c.modrm();
  const op = (c.m >> 3) & 7;
  let imm: number;
  if (immSz === 3) {
    imm = c.fetch8s();
    if (sz === 1) imm &= 0xffff;
  } else imm = immS(c, immSz);
  const m = c.m;
  if (m >= 0xc0) {
    const r = c.alu(op, c.getReg(sz, m & 7), imm, sz);
    if (op !== 7) c.setReg(sz, m & 7, r);
  } else {
    const r = c.alu(op, c.rdS(sz, c.eaSeg, c.ea), imm, sz);
    if (op !== 7) c.wrS(sz, c.eaSeg, c.ea, r);
  }
}

function grp2(c: Cpu, sz: number, count: number): void {
  const v = c.readE(sz);
  if ((count & 31) === 0) return;
  c.writeE(sz, c.shift((c.m >> 3) & 7, v, count, sz));
}

function grp3(c: Cpu, sz: number): void {
  c.modrm();
  const op = (c.m >> 3) & 7;
  if (op < 2) {
    const v = c.readE(sz);
    c.logic(v & immS(c, sz), sz);
    return;
  }
  const v = c.readE(sz);
  if (op === 2) c.writeE(sz, sz === 0 ? ~v & 0xff : sz === 1 ? ~v & 0xffff : ~v);
  else if (op === 3) c.writeE(sz, c.sub(0, v, sz));
  else c.muldiv(op, v, sz);
}

function grp5(c: Cpu): void {
  c.modrm();
  const op = (c.m >> 3) & 7;
  const sz = c.o32 ? 2 : 1;
  switch (op) {
    case 0: c.writeE(sz, c.inc(c.readE(sz), sz)); return;
    case 1: c.writeE(sz, c.dec(c.readE(sz), sz)); return;
    case 2: {
      const target = c.readE(sz);
      c.push(c.eip);
      c.jmpNear(target);
      return;
    }
    case 4: c.jmpNear(c.readE(sz)); return;
    case 3: case 5: {
      if (c.m >= 0xc0) c.ud();
      const off = sz === 2 ? c.rd32(c.eaSeg, c.ea) >>> 0 : c.rd16(c.eaSeg, c.ea);
      const sel = c.rd16(c.eaSeg, c.eaPlus(sz === 2 ? 4 : 2));
      if (op === 3) sys.callFar(c, sel, off);
      else sys.jmpFar(c, sel, off);
      return;
    }
    case 6: c.push(c.readE(sz)); return;
    default: c.ud();
  }
}

function popSeg(c: Cpu, s: number): void {
  const v = c.peek(c.o32 ? 2 : 1, 0);
  sys.loadSeg(c, s, v & 0xffff);
  c.addSp(c.o32 ? 4 : 2);
  if (s === Seg.SS) {
    c.shadow = true;
    c.slow = true;
  }
}

/** LES/LDS/LSS/LFS/LGS: offset then selector from memory. */
function loadFarPtr(c: Cpu, s: number): void {
  c.modrm();
  if (c.m >= 0xc0) c.ud();
  const sz = c.o32 ? 2 : 1;
  const off = c.rdS(sz, c.eaSeg, c.ea);
  const sel = c.rd16(c.eaSeg, c.eaPlus(sz === 2 ? 4 : 2));
  sys.loadSeg(c, s, sel);
  c.setReg(sz, (c.m >> 3) & 7, off);
  // (LSS does not block interrupts for the next instruction: only MOV SS and POP SS do.)
}

function pusha(c: Cpu): void {
  const r32 = c.r32;
  if (c.o32) {
    const sp = r32[Reg.ESP];
    for (let r = 0; r < 8; r++) c.push32(r === Reg.ESP ? sp : r32[r]);
  } else {
    const sp = c.r16[8];
    for (let r = 0; r < 8; r++) c.push16(r === Reg.ESP ? sp : c.r16[r << 1]);
  }
}

function popa(c: Cpu): void {
  const sz = c.o32 ? 2 : 1;
  const n = sz === 2 ? 4 : 2;
  // Read all eight first so that a fault leaves the registers untouched.
  const v0 = c.peek(sz, 0), v1 = c.peek(sz, n), v2 = c.peek(sz, 2 * n);
  const v4 = c.peek(sz, 4 * n), v5 = c.peek(sz, 5 * n), v6 = c.peek(sz, 6 * n), v7 = c.peek(sz, 7 * n);
  c.setReg(sz, Reg.EDI, v0);
  c.setReg(sz, Reg.ESI, v1);
  c.setReg(sz, Reg.EBP, v2);
  c.setReg(sz, Reg.EBX, v4);
  c.setReg(sz, Reg.EDX, v5);
  c.setReg(sz, Reg.ECX, v6);
  c.setReg(sz, Reg.EAX, v7);
  c.addSp(8 * n);
}

function bound(c: Cpu): void {
  c.modrm();
  if (c.m >= 0xc0) c.ud();
  const reg = (c.m >> 3) & 7;
  let idx: number, lo: number, hi: number;
  if (c.o32) {
    idx = c.r32[reg];
    lo = c.rd32(c.eaSeg, c.ea);
    hi = c.rd32(c.eaSeg, c.eaPlus(4));
  } else {
    idx = (c.r16[reg << 1] << 16) >> 16;
    lo = (c.rd16(c.eaSeg, c.ea) << 16) >> 16;
    hi = (c.rd16(c.eaSeg, c.eaPlus(2)) << 16) >> 16;
  }
  if (idx < lo || idx > hi) c.fault(Vec.BR, -1);
}

function enter(c: Cpu): void {
  const size = c.fetch16();
  const level = c.fetch8() & 31;
  const r32 = c.r32;
  const o32 = c.o32;
  const ss32 = c.ss32;
  const osz = o32 ? 2 : 1;
  const n = o32 ? 4 : 2;
  c.push(o32 ? r32[Reg.EBP] : c.r16[10]);
  const frame = ss32 ? r32[Reg.ESP] : c.r16[8];
  if (level > 0) {
    let bp = ss32 ? r32[Reg.EBP] : c.r16[10];
    for (let i = 1; i < level; i++) {
      bp = ss32 ? (bp - n) >>> 0 : (bp - n) & 0xffff;
      c.push(c.rdS(osz, Seg.SS, bp));
    }
    c.push(frame);
  }
  const sp = ss32 ? (r32[Reg.ESP] - size) >>> 0 : (c.r16[8] - size) & 0xffff;
  // The 386 checks that the new stack top is writable before committing.
  if (size !== 0) c.probeWrite(Seg.SS, sp, 1);
  if (o32) r32[Reg.EBP] = frame;
  else c.r16[10] = frame;
  if (ss32) r32[Reg.ESP] = sp;
  else c.r16[8] = sp;
}

// ---- BCD (SDM vol. 2: DAA, DAS, AAA, AAS) ----

function daa(c: Cpu, sub: boolean): void {
  const al = c.r8[0];
  const cf = c.cf();
  const af = c.af();
  let r = al;
  let ncf = 0;
  let naf = 0;
  if ((al & 0xf) > 9 || af) {
    r = sub ? (al - 6) & 0xff : (al + 6) & 0xff;
    ncf = cf | (sub ? (al < 6 ? 1 : 0) : (al + 6 > 0xff ? 1 : 0));
    naf = F.AF;
  }
  if (al > 0x99 || cf) {
    r = sub ? (r - 0x60) & 0xff : (r + 0x60) & 0xff;
    ncf = 1;
  } else if (!sub) {
    ncf = 0;
  }
  c.r8[0] = r;
  c.setZsp(r, 0, ncf | naf);
}

function aaa(c: Cpu, sub: boolean): void {
  const r16 = c.r16;
  if ((c.r8[0] & 0xf) > 9 || c.af()) {
    if (sub) {
      r16[0] = r16[0] - 6;
      c.r8[1] = c.r8[1] - 1;
    } else r16[0] = r16[0] + 0x106;
    c.r8[0] &= 0xf;
    c.setZsp(c.r8[0], 0, F.AF | F.CF);
  } else {
    c.r8[0] &= 0xf;
    c.setZsp(c.r8[0], 0, 0);
  }
}

// ---- port I/O ----

function inPort(c: Cpu, port: number, sz: number): void {
  const size = 1 << sz;
  sys.ioCheck(c, port, size);
  c.setReg(sz, 0, c.ioRead(Xr.IO, port, size));
}

function outPort(c: Cpu, port: number, sz: number): void {
  const size = 1 << sz;
  sys.ioCheck(c, port, size);
  c.ioWrite(Xr.IO, port, size, c.getReg(sz, 0));
}

// ---- string instructions ----
// One iteration at a time, each committed (ESI/EDI/ECX updated) before the next, so that a
// fault or an exit leaves a state the instruction can restart from. A REP instruction
// stops between iterations (EIP back on it) when an event is pending or after REP_CHUNK.

function count(c: Cpu): number {
  return c.a32 ? c.r32[Reg.ECX] >>> 0 : c.r16[2];
}

function setCount(c: Cpu, n: number): void {
  if (c.a32) c.r32[Reg.ECX] = n;
  else c.r16[2] = n;
}

function si(c: Cpu): number {
  return c.a32 ? c.r32[Reg.ESI] >>> 0 : c.r16[12];
}

function di(c: Cpu): number {
  return c.a32 ? c.r32[Reg.EDI] >>> 0 : c.r16[14];
}

function advSi(c: Cpu, d: number): void {
  if (c.a32) c.r32[Reg.ESI] = c.r32[Reg.ESI] + d;
  else c.r16[12] = c.r16[12] + d;
}

function advDi(c: Cpu, d: number): void {
  if (c.a32) c.r32[Reg.EDI] = c.r32[Reg.EDI] + d;
  else c.r16[14] = c.r16[14] + d;
}

/** After an iteration of a REP instruction: true when the instruction is finished. */
function repNext(c: Cpu, budget: number): boolean {
  const n = (count(c) - 1) >>> 0;
  setCount(c, n);
  if (n === 0 || (c.a32 ? false : (n & 0xffff) === 0)) return true;
  c.commitReads();
  if ((budget <= 0 && c.readsPending === 0) || (c.slow && c.repMustStop())) {
    c.repPause();
    return true;
  }
  return false;
}

function movs(c: Cpu, sz: number): void {
  const s = c.segOv >= 0 ? c.segOv : Seg.DS;
  const d = (c.flags & F.DF ? -1 : 1) << sz;
  if (c.rep === 0) {
    c.wrS(sz, Seg.ES, di(c), c.rdS(sz, s, si(c)));
    advSi(c, d);
    advDi(c, d);
    return;
  }
  if (count(c) === 0) return;
  if (d > 0 && c.fastMovs(s, sz)) return;
  for (let budget = REP_CHUNK; ; budget--) {
    // The element's write is the iteration's last access that can fault: a device takes it
    // at once (Cpu.wrLast) rather than from the queue at repNext.
    c.wrLast = true;
    c.wrS(sz, Seg.ES, di(c), c.rdS(sz, s, si(c)));
    c.wrLast = false;
    advSi(c, d);
    advDi(c, d);
    if (repNext(c, budget)) return;
  }
}

function stos(c: Cpu, sz: number): void {
  const d = (c.flags & F.DF ? -1 : 1) << sz;
  const v = c.getReg(sz, 0);
  if (c.rep === 0) {
    c.wrS(sz, Seg.ES, di(c), v);
    advDi(c, d);
    return;
  }
  if (count(c) === 0) return;
  if (d > 0 && c.fastStos(sz, v)) return;
  if (c.fastStosDevice(sz, v, d < 0)) return;
  for (let budget = REP_CHUNK; ; budget--) {
    c.wrLast = true; // as in movs
    c.wrS(sz, Seg.ES, di(c), v);
    c.wrLast = false;
    advDi(c, d);
    if (repNext(c, budget)) return;
  }
}

function lods(c: Cpu, sz: number): void {
  const s = c.segOv >= 0 ? c.segOv : Seg.DS;
  const d = (c.flags & F.DF ? -1 : 1) << sz;
  if (c.rep === 0) {
    c.setReg(sz, 0, c.rdS(sz, s, si(c)));
    advSi(c, d);
    return;
  }
  if (count(c) === 0) return;
  for (let budget = REP_CHUNK; ; budget--) {
    c.setReg(sz, 0, c.rdS(sz, s, si(c)));
    advSi(c, d);
    if (repNext(c, budget)) return;
  }
}

function cmps(c: Cpu, sz: number): void {
  const s = c.segOv >= 0 ? c.segOv : Seg.DS;
  const d = (c.flags & F.DF ? -1 : 1) << sz;
  if (c.rep === 0) {
    const a = c.rdS(sz, s, si(c));
    const b = c.rdS(sz, Seg.ES, di(c));
    c.sub(a, b, sz);
    advSi(c, d);
    advDi(c, d);
    return;
  }
  if (count(c) === 0) return;
  const repz = c.rep === 0xf3;
  for (let budget = REP_CHUNK; ; budget--) {
    const a = c.rdS(sz, s, si(c));
    const b = c.rdS(sz, Seg.ES, di(c));
    c.sub(a, b, sz);
    advSi(c, d);
    advDi(c, d);
    const eq = a === b;
    if (eq !== repz) {
      setCount(c, (count(c) - 1) >>> 0);
      return;
    }
    if (repNext(c, budget)) return;
  }
}

function scas(c: Cpu, sz: number): void {
  const d = (c.flags & F.DF ? -1 : 1) << sz;
  const a = c.getReg(sz, 0);
  if (c.rep === 0) {
    c.sub(a, c.rdS(sz, Seg.ES, di(c)), sz);
    advDi(c, d);
    return;
  }
  if (count(c) === 0) return;
  const repz = c.rep === 0xf3;
  for (let budget = REP_CHUNK; ; budget--) {
    const b = c.rdS(sz, Seg.ES, di(c));
    c.sub(a, b, sz);
    advDi(c, d);
    if ((a === b) !== repz) {
      setCount(c, (count(c) - 1) >>> 0);
      return;
    }
    if (repNext(c, budget)) return;
  }
}

function ins(c: Cpu, sz: number): void {
  const size = 1 << sz;
  const port = c.r16[4];
  sys.ioCheck(c, port, size);
  const d = (c.flags & F.DF ? -1 : 1) << sz;
  if (c.rep !== 0 && count(c) === 0) return;
  for (let budget = REP_CHUNK; ; budget--) {
    // The destination is checked before the port is read, so a fault loses no data.
    const off = di(c);
    c.probeWrite(Seg.ES, off, size);
    // REP INS asks the device for as many elements as land in one page of RAM (as KVM
    // does); the rest wait in the read cache and the loop consumes them without exits.
    const n = c.rep !== 0 && c.readsPending === 0 && !c.stepping
      ? c.batchRoom(Seg.ES, off, size, d < 0, count(c), true) : 1;
    const v = c.ioRead(Xr.IO, port, size, n);
    c.wrS(sz, Seg.ES, off, v);
    advDi(c, d);
    if (c.rep === 0 || repNext(c, budget)) return;
  }
}

function outs(c: Cpu, sz: number): void {
  const size = 1 << sz;
  const port = c.r16[4];
  sys.ioCheck(c, port, size);
  const s = c.segOv >= 0 ? c.segOv : Seg.DS;
  const d = (c.flags & F.DF ? -1 : 1) << sz;
  if (c.rep !== 0 && count(c) === 0) return;
  if (c.rep !== 0 && !c.stepping && c.pendingWrites === 0) {
    // One exit for as many elements as lie in one page of RAM.
    const off = si(c);
    const n = c.batchRoom(s, off, size, d < 0, count(c), false);
    if (n > 1) {
      c.ioWriteBatch(port, size, n, c.hostOf((c.segBase[s] + off) | 0), d);
      advSi(c, d * n);
      const left = (count(c) - n) >>> 0;
      setCount(c, left);
      if (left !== 0) c.repPause();
      return;
    }
  }
  for (let budget = REP_CHUNK; ; budget--) {
    const v = c.rdS(sz, s, si(c));
    c.ioWrite(Xr.IO, port, size, v);
    advSi(c, d);
    if (c.rep === 0 || repNext(c, budget)) return;
  }
}

// =====================================================================================
// Two-byte opcodes (0F xx)
// =====================================================================================

function op0f_00(c: Cpu): void {
  sys.grp6(c);
}

function op0f_01(c: Cpu): void {
  sys.grp7(c);
}

function op0f_02(c: Cpu): void {
  sys.larLsl(c, false);
}

function op0f_03(c: Cpu): void {
  sys.larLsl(c, true);
}

function op0f_06(c: Cpu): void {
  if (c.cpl !== 0) c.gp(0);
  c.cr0 &= ~Cr0Bit.TS;
}

function op0f_08(c: Cpu): void {
  // INVD, WBINVD: no caches to write back
  if (c.cpl !== 0) c.gp(0);
}

function op0f_0b(c: Cpu): void {
  c.ud(); return; // UD2
}

function op0f_18(c: Cpu): void {
  c.modrm(); // hint NOPs (NOP Ev)
}

function op0f_20(c: Cpu, op: number): void {
  sys.movCrDr(c, op);
}

function op0f_30(c: Cpu): void {
  const r32 = c.r32;
  // WRMSR
  if (c.cpl !== 0) c.gp(0);
  sys.wrmsr(c, r32[Reg.ECX] >>> 0, r32[Reg.EDX], r32[Reg.EAX]);
}

function op0f_31(c: Cpu): void {
  const r32 = c.r32;
  // RDTSC
  if ((c.cr4 & Cr4Bit.TSD) !== 0 && c.cpl !== 0) c.gp(0);
  const t = c.tsc();
  r32[Reg.EAX] = t % 0x100000000;
  r32[Reg.EDX] = Math.floor(t / 0x100000000);
}

function op0f_32(c: Cpu): void {
  const r32 = c.r32;
  // RDMSR
  if (c.cpl !== 0) c.gp(0);
  sys.rdmsr(c, r32[Reg.ECX] >>> 0);
}

function op0f_40(c: Cpu, op: number): void {
  const sz = c.o32 ? 2 : 1;
  c.modrm();
  const v = c.readE(sz);
  if (c.cond(op & 15)) c.setReg(sz, (c.m >> 3) & 7, v);
}

function op0f_80(c: Cpu, op: number): void {
  const disp = c.o32 ? c.fetch32() : c.fetch16();
  if (c.cond(op & 15)) c.jmpNear(c.eip + disp);
}

function op0f_90(c: Cpu, op: number): void {
  c.modrm();
  c.writeE(0, c.cond(op & 15) ? 1 : 0);
}

function op0f_a0(c: Cpu): void {
  c.push(c.segSel[Seg.FS]);
}

function op0f_a1(c: Cpu): void {
  popSeg(c, Seg.FS);
}

function op0f_a8(c: Cpu): void {
  c.push(c.segSel[Seg.GS]);
}

function op0f_a9(c: Cpu): void {
  popSeg(c, Seg.GS);
}

function op0f_a2(c: Cpu): void {
  cpuid(c);
}

function op0f_a3(c: Cpu): void {
  bitOp(c, 0, false);
}

function op0f_ab(c: Cpu): void {
  bitOp(c, 1, false);
}

function op0f_b3(c: Cpu): void {
  bitOp(c, 2, false);
}

function op0f_bb(c: Cpu): void {
  bitOp(c, 3, false);
}

function op0f_ba(c: Cpu): void {
  c.modrm();
  const reg = (c.m >> 3) & 7;
  if (reg < 4) c.ud();
  bitOp(c, reg - 4, true);
}

function op0f_a4(c: Cpu, op: number): void {
  const sz = c.o32 ? 2 : 1;
  c.modrm();
  const n = (op & 1) === 0 ? c.fetch8() : c.r8[4];
  const dst = c.readE(sz);
  if ((n & 31) === 0) return;
  c.writeE(sz, c.shd(op < 0xa8, dst, c.getReg(sz, (c.m >> 3) & 7), n, sz));
}

function op0f_af(c: Cpu): void {
  const sz = c.o32 ? 2 : 1;
  c.modrm();
  const reg = (c.m >> 3) & 7;
  c.setReg(sz, reg, c.imulTrunc(c.getReg(sz, reg), c.readE(sz), sz));
}

function op0f_b0(c: Cpu, op: number): void {
  const sz = op === 0xb0 ? 0 : c.o32 ? 2 : 1;
  c.modrm();
  const dst = c.readE(sz);
  const acc = c.getReg(sz, 0);
  c.sub(acc, dst, sz);
  if (acc === dst) c.writeE(sz, c.getReg(sz, (c.m >> 3) & 7));
  else {
    c.writeE(sz, dst); // the 486 always writes the destination
    c.setReg(sz, 0, dst);
  }
}

function op0f_b2(c: Cpu): void {
  loadFarPtr(c, Seg.SS);
}

function op0f_b4(c: Cpu): void {
  loadFarPtr(c, Seg.FS);
}

function op0f_b5(c: Cpu): void {
  loadFarPtr(c, Seg.GS);
}

function op0f_b6(c: Cpu, op: number): void {
  const sz = c.o32 ? 2 : 1;
  c.modrm();
  let v = c.readE(op & 1);
  if (op >= 0xbe) v = op === 0xbe ? (v << 24) >> 24 : (v << 16) >> 16;
  c.setReg(sz, (c.m >> 3) & 7, v);
}

function op0f_bc(c: Cpu, op: number): void {
  const sz = c.o32 ? 2 : 1;
  c.modrm();
  const v = sz === 2 ? c.readE(2) >>> 0 : c.readE(1);
  if (v === 0) {
    c.setArith(F.ZF, F.ZF);
    return;
  }
  const idx = op === 0xbc ? 31 - Math.clz32(v & -v) : 31 - Math.clz32(v);
  c.setReg(sz, (c.m >> 3) & 7, idx);
  c.setArith(F.ZF, 0);
}

function op0f_c0(c: Cpu, op: number): void {
  const sz = op === 0xc0 ? 0 : c.o32 ? 2 : 1;
  c.modrm();
  const reg = (c.m >> 3) & 7;
  const dst = c.readE(sz);
  const sum = c.add(dst, c.getReg(sz, reg), sz);
  if (c.m >= 0xc0) {
    c.setReg(sz, reg, dst);
    c.setReg(sz, c.m & 7, sum);
  } else {
    c.writeE(sz, sum);
    c.setReg(sz, reg, dst);
  }
}

function op0f_c7(c: Cpu): void {
  const r32 = c.r32;
  c.modrm();
  if (c.m >= 0xc0 || ((c.m >> 3) & 7) !== 1) c.ud();
  const lo = c.rd32(c.eaSeg, c.ea);
  const hi = c.rd32(c.eaSeg, c.eaPlus(4));
  if (lo === r32[Reg.EAX] && hi === r32[Reg.EDX]) {
    c.wr32(c.eaSeg, c.ea, r32[Reg.EBX]);
    c.wr32(c.eaSeg, c.eaPlus(4), r32[Reg.ECX]);
    c.setArith(F.ZF, F.ZF);
  } else {
    c.wr32(c.eaSeg, c.ea, lo);
    c.wr32(c.eaSeg, c.eaPlus(4), hi);
    r32[Reg.EAX] = lo;
    r32[Reg.EDX] = hi;
    c.setArith(F.ZF, 0);
  }
}

function op0f_c8(c: Cpu, op: number): void {
  const r32 = c.r32;
  const v = r32[op & 7];
  r32[op & 7] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
}

// ---- the 0F map: handler, then the opcodes it serves ----
def(OP2, op0f_00, 0x00);
def(OP2, op0f_01, 0x01);
def(OP2, op0f_02, 0x02);
def(OP2, op0f_03, 0x03);
def(OP2, op0f_06, 0x06);
def(OP2, op0f_08, 0x08, 0x09);
def(OP2, op0f_0b, 0x0b);
def(OP2, op0f_18, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f);
def(OP2, op0f_20, 0x20, 0x21, 0x22, 0x23, 0x24, 0x26);
def(OP2, op0f_30, 0x30);
def(OP2, op0f_31, 0x31);
def(OP2, op0f_32, 0x32);
def(OP2, op0f_40, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f);
def(OP2, op0f_80, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f);
def(OP2, op0f_90, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f);
def(OP2, op0f_a0, 0xa0);
def(OP2, op0f_a1, 0xa1);
def(OP2, op0f_a8, 0xa8);
def(OP2, op0f_a9, 0xa9);
def(OP2, op0f_a2, 0xa2);
def(OP2, op0f_a3, 0xa3);
def(OP2, op0f_ab, 0xab);
def(OP2, op0f_b3, 0xb3);
def(OP2, op0f_bb, 0xbb);
def(OP2, op0f_ba, 0xba);
def(OP2, op0f_a4, 0xa4, 0xa5, 0xac, 0xad);
def(OP2, op0f_af, 0xaf);
def(OP2, op0f_b0, 0xb0, 0xb1);
def(OP2, op0f_b2, 0xb2);
def(OP2, op0f_b4, 0xb4);
def(OP2, op0f_b5, 0xb5);
def(OP2, op0f_b6, 0xb6, 0xb7, 0xbe, 0xbf);
def(OP2, op0f_bc, 0xbc, 0xbd);
def(OP2, op0f_c0, 0xc0, 0xc1);
def(OP2, op0f_c7, 0xc7);
def(OP2, op0f_c8, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf);

/** BT/BTS/BTR/BTC (kind 0-3). With a register bit offset, memory operands reach beyond the word. */
function bitOp(c: Cpu, kind: number, imm: boolean): void {
  const sz = c.o32 ? 2 : 1;
  const bits = sz === 2 ? 32 : 16;
  if (!imm) c.modrm();
  let bit = imm ? c.fetch8() : c.getReg(sz, (c.m >> 3) & 7);
  let v: number;
  let off = 0;
  if (c.m >= 0xc0) {
    bit &= bits - 1;
    v = c.getReg(sz, c.m & 7);
  } else {
    if (imm) bit &= bits - 1;
    else {
      const sbit = sz === 2 ? bit | 0 : (bit << 16) >> 16;
      const words = Math.floor(sbit / bits);
      bit = sbit - words * bits;
      off = words * (bits >> 3);
    }
    v = c.rdS(sz, c.eaSeg, c.eaPlus(off));
  }
  const mask = 1 << bit;
  const cf = (v >>> bit) & 1;
  if (kind !== 0) {
    const r = kind === 1 ? v | mask : kind === 2 ? v & ~mask : v ^ mask;
    const rv = sz === 2 ? r | 0 : r & 0xffff;
    if (c.m >= 0xc0) c.setReg(sz, c.m & 7, rv);
    else c.wrS(sz, c.eaSeg, c.eaPlus(off), rv);
  }
  c.setArith(F.CF, cf);
}

/** CPUID: only what is implemented. No FPU, no VME/DE/PGE/PAE; APIC only with a local APIC. */
function cpuid(c: Cpu): void {
  const r32 = c.r32;
  const leaf = r32[Reg.EAX] >>> 0;
  if (leaf === 0) {
    r32[Reg.EAX] = 1;
    r32[Reg.EBX] = 0x756e6547; // "Genu"
    r32[Reg.EDX] = 0x49656e69; // "ineI"
    r32[Reg.ECX] = 0x6c65746e; // "ntel"
  } else if (leaf === 1) {
    r32[Reg.EAX] = CPU_SIGNATURE;
    // EBX bits 31-24: the initial APIC ID, when there is an APIC.
    r32[Reg.EBX] = c.apic ? c.apic.id << 24 : 0;
    r32[Reg.ECX] = 0;
    // PSE (3), TSC (4), MSR (5), CX8 (8), APIC (9) when the vCPU has one, CMOV (15).
    r32[Reg.EDX] = 1 << 3 | 1 << 4 | 1 << 5 | 1 << 8 | (c.apic ? 1 << 9 : 0) | 1 << 15;
  } else {
    r32[Reg.EAX] = r32[Reg.EBX] = r32[Reg.ECX] = r32[Reg.EDX] = 0;
  }
}
