// Decoding and executing one instruction: prefixes, the one-byte opcode map, the 0F map,
// string instructions. System instructions and far transfers are in system.ts.
// Opcode maps: Intel SDM vol. 2, appendix A; 386 behaviour from the 80386 PRM.

import { ExitReason } from '../VcpuBackend.js';
import type { Cpu } from './cpu.js';
import { R8 } from './cpu.js';
import { Reg, Seg, F, Vec, Ev, Cr0Bit, Cr4Bit, CPU_SIGNATURE } from './consts.js';
import * as sys from './system.js';

const PREFIX = new Uint8Array(256);
for (const p of [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]) PREFIX[p] = 1;

/** Iterations of a REP string instruction before the run loop gets a look in. */
const REP_CHUNK = 4096;

/** Executes one instruction at CS:EIP. Throws FAULT / EVENT / ABORT (see cpu.ts). */
export function step(c: Cpu): void {
  c.ipStart = c.eip;
  c.espStart = c.r32[Reg.ESP];
  if (c.pfx) resetPrefixes(c);
  let op = c.fetch8();
  if (PREFIX[op] !== 0) op = prefixes(c, op);
  exec(c, op);
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

function exec(c: Cpu, op: number): void {
  const r32 = c.r32;
  const r16 = c.r16;
  const r8 = c.r8;
  switch (op) {
    // ---- ALU: ADD OR ADC SBB AND SUB XOR CMP ----
    case 0x00: case 0x08: case 0x10: case 0x18: case 0x20: case 0x28: case 0x30: case 0x38:
      aluEG(c, op >> 3, 0); return;
    case 0x01: case 0x09: case 0x11: case 0x19: case 0x21: case 0x29: case 0x31: case 0x39:
      aluEG(c, op >> 3, c.o32 ? 2 : 1); return;
    case 0x02: case 0x0a: case 0x12: case 0x1a: case 0x22: case 0x2a: case 0x32: case 0x3a:
      aluGE(c, op >> 3, 0); return;
    case 0x03: case 0x0b: case 0x13: case 0x1b: case 0x23: case 0x2b: case 0x33: case 0x3b:
      aluGE(c, op >> 3, c.o32 ? 2 : 1); return;
    case 0x04: case 0x0c: case 0x14: case 0x1c: case 0x24: case 0x2c: case 0x34: case 0x3c: {
      const r = c.alu(op >> 3, r8[0], c.fetch8(), 0);
      r8[0] = r;
      return;
    }
    case 0x05: case 0x0d: case 0x15: case 0x1d: case 0x25: case 0x2d: case 0x35: case 0x3d:
      if (c.o32) r32[0] = c.alu(op >> 3, r32[0], c.fetch32(), 2);
      else r16[0] = c.alu(op >> 3, r16[0], c.fetch16(), 1);
      return;

    // ---- segment register push/pop ----
    case 0x06: c.push(c.segSel[Seg.ES]); return;
    case 0x0e: c.push(c.segSel[Seg.CS]); return;
    case 0x16: c.push(c.segSel[Seg.SS]); return;
    case 0x1e: c.push(c.segSel[Seg.DS]); return;
    case 0x07: popSeg(c, Seg.ES); return;
    case 0x17: popSeg(c, Seg.SS); return;
    case 0x1f: popSeg(c, Seg.DS); return;
    case 0x0f: exec0f(c, c.fetch8()); return;

    // ---- BCD ----
    case 0x27: daa(c, false); return;
    case 0x2f: daa(c, true); return;
    case 0x37: aaa(c, false); return;
    case 0x3f: aaa(c, true); return;

    // ---- INC/DEC/PUSH/POP reg ----
    case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
      if (c.o32) r32[op & 7] = c.inc(r32[op & 7], 2);
      else r16[(op & 7) << 1] = c.inc(r16[(op & 7) << 1], 1);
      return;
    case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f:
      if (c.o32) r32[op & 7] = c.dec(r32[op & 7], 2);
      else r16[(op & 7) << 1] = c.dec(r16[(op & 7) << 1], 1);
      return;
    case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57:
      if (c.o32) c.push32(r32[op & 7]);
      else c.push16(r16[(op & 7) << 1]);
      return;
    case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f:
      if (c.o32) { const v = c.pop32(); r32[op & 7] = v; } else { const v = c.pop16(); r16[(op & 7) << 1] = v; }
      return;
    case 0x60: pusha(c); return;
    case 0x61: popa(c); return;
    case 0x62: bound(c); return;
    case 0x63: sys.arpl(c); return;
    case 0x68: c.push(c.o32 ? c.fetch32() : c.fetch16()); return;
    case 0x6a: { const v = c.fetch8s(); c.push(c.o32 ? v : v & 0xffff); return; }
    case 0x69: case 0x6b: {
      const sz = c.o32 ? 2 : 1;
      c.modrm();
      const a = c.readE(sz);
      const b = op === 0x6b ? c.fetch8s() : immS(c, sz);
      c.setReg(sz, (c.m >> 3) & 7, c.imulTrunc(a, b, sz));
      return;
    }
    case 0x6c: ins(c, 0); return;
    case 0x6d: ins(c, c.o32 ? 2 : 1); return;
    case 0x6e: outs(c, 0); return;
    case 0x6f: outs(c, c.o32 ? 2 : 1); return;

    // ---- Jcc rel8 ----
    case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
    case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f: {
      const disp = c.fetch8s();
      if (c.cond(op & 15)) c.jmpNear(c.eip + disp);
      return;
    }

    // ---- group 1 ----
    case 0x80: case 0x82: grp1(c, 0, 0); return;
    case 0x81: { const sz = c.o32 ? 2 : 1; grp1(c, sz, sz); return; }
    case 0x83: grp1(c, c.o32 ? 2 : 1, 3); return;

    case 0x84: case 0x85: {
      const sz = op === 0x84 ? 0 : c.o32 ? 2 : 1;
      c.modrm();
      c.logic(c.readE(sz) & c.getReg(sz, (c.m >> 3) & 7), sz);
      return;
    }
    case 0x86: case 0x87: {
      const sz = op === 0x86 ? 0 : c.o32 ? 2 : 1;
      c.modrm();
      const reg = (c.m >> 3) & 7;
      const a = c.readE(sz);
      c.writeE(sz, c.getReg(sz, reg));
      c.setReg(sz, reg, a);
      return;
    }

    // ---- MOV ----
    case 0x88: c.modrm(); c.writeE(0, r8[R8[(c.m >> 3) & 7]]); return;
    case 0x89:
      c.modrm();
      if (c.o32) {
        if (c.m >= 0xc0) r32[c.m & 7] = r32[(c.m >> 3) & 7];
        else c.wr32(c.eaSeg, c.ea, r32[(c.m >> 3) & 7]);
      } else c.writeE(1, r16[((c.m >> 3) & 7) << 1]);
      return;
    case 0x8a: c.modrm(); r8[R8[(c.m >> 3) & 7]] = c.readE(0); return;
    case 0x8b:
      c.modrm();
      if (c.o32) r32[(c.m >> 3) & 7] = c.m >= 0xc0 ? r32[c.m & 7] : c.rd32(c.eaSeg, c.ea);
      else r16[((c.m >> 3) & 7) << 1] = c.readE(1);
      return;
    case 0x8c: {
      c.modrm();
      const reg = (c.m >> 3) & 7;
      if (reg > 5) c.ud();
      const v = c.segSel[reg];
      if (c.m >= 0xc0) {
        if (c.o32) r32[c.m & 7] = v;
        else r16[(c.m & 7) << 1] = v;
      } else c.wr16(c.eaSeg, c.ea, v);
      return;
    }
    case 0x8d: {
      c.modrm();
      if (c.m >= 0xc0) c.ud();
      c.setReg(c.o32 ? 2 : 1, (c.m >> 3) & 7, c.ea);
      return;
    }
    case 0x8e: {
      c.modrm();
      const reg = (c.m >> 3) & 7;
      if (reg === Seg.CS || reg > 5) c.ud();
      sys.loadSeg(c, reg, c.readE16());
      if (reg === Seg.SS) { c.shadow = true; c.slow = true; }
      return;
    }
    case 0x8f: {
      // POP r/m: the effective address is computed with ESP already incremented.
      const sz = c.o32 ? 2 : 1;
      const v = c.peek(sz, 0);
      c.addSp(sz === 2 ? 4 : 2);
      c.modrm();
      if ((c.m & 0x38) !== 0) c.ud();
      c.writeE(sz, v);
      return;
    }
    case 0x90:
      return;
    case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97:
      if (c.o32) { const t = r32[0]; r32[0] = r32[op & 7]; r32[op & 7] = t; }
      else { const t = r16[0]; r16[0] = r16[(op & 7) << 1]; r16[(op & 7) << 1] = t; }
      return;
    case 0x98:
      if (c.o32) r32[0] = (r32[0] << 16) >> 16;
      else r16[0] = (r8[0] << 24) >> 24;
      return;
    case 0x99:
      if (c.o32) r32[2] = r32[0] >> 31;
      else r16[4] = r16[0] & 0x8000 ? 0xffff : 0;
      return;
    case 0x9a: {
      const off = c.o32 ? c.fetch32() >>> 0 : c.fetch16();
      const sel = c.fetch16();
      sys.callFar(c, sel, off);
      return;
    }
    case 0x9b:
      if ((c.cr0 & (Cr0Bit.MP | Cr0Bit.TS)) === (Cr0Bit.MP | Cr0Bit.TS)) c.fault(Vec.NM, -1);
      return;
    case 0x9c:
      if (c.vm && (c.flags & F.IOPL) !== F.IOPL) c.gp(0);
      if (c.o32) c.push32(c.getFlags() & ~(F.VM | F.RF));
      else c.push16(c.getFlags() & 0xffff);
      return;
    case 0x9d: sys.popf(c); return;
    case 0x9e: c.setArith(F.SF | F.ZF | F.AF | F.PF | F.CF, r8[1]); return;
    case 0x9f: r8[1] = c.getFlags(); return;

    case 0xa0: case 0xa1: case 0xa2: case 0xa3: {
      const off = c.a32 ? c.fetch32() >>> 0 : c.fetch16();
      const s = c.segOv >= 0 ? c.segOv : Seg.DS;
      const sz = (op & 1) === 0 ? 0 : c.o32 ? 2 : 1;
      if (op < 0xa2) c.setReg(sz, 0, c.rdS(sz, s, off));
      else c.wrS(sz, s, off, c.getReg(sz, 0));
      return;
    }
    case 0xa4: movs(c, 0); return;
    case 0xa5: movs(c, c.o32 ? 2 : 1); return;
    case 0xa6: cmps(c, 0); return;
    case 0xa7: cmps(c, c.o32 ? 2 : 1); return;
    case 0xa8: c.logic(r8[0] & c.fetch8(), 0); return;
    case 0xa9:
      if (c.o32) c.logic(r32[0] & c.fetch32(), 2);
      else c.logic(r16[0] & c.fetch16(), 1);
      return;
    case 0xaa: stos(c, 0); return;
    case 0xab: stos(c, c.o32 ? 2 : 1); return;
    case 0xac: lods(c, 0); return;
    case 0xad: lods(c, c.o32 ? 2 : 1); return;
    case 0xae: scas(c, 0); return;
    case 0xaf: scas(c, c.o32 ? 2 : 1); return;

    case 0xb0: case 0xb1: case 0xb2: case 0xb3: case 0xb4: case 0xb5: case 0xb6: case 0xb7:
      r8[R8[op & 7]] = c.fetch8();
      return;
    case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
      if (c.o32) r32[op & 7] = c.fetch32();
      else r16[(op & 7) << 1] = c.fetch16();
      return;

    // ---- shifts ----
    case 0xc0: case 0xc1: {
      const sz = op === 0xc0 ? 0 : c.o32 ? 2 : 1;
      c.modrm();
      const n = c.fetch8();
      grp2(c, sz, n);
      return;
    }
    case 0xd0: c.modrm(); grp2(c, 0, 1); return;
    case 0xd1: c.modrm(); grp2(c, c.o32 ? 2 : 1, 1); return;
    case 0xd2: c.modrm(); grp2(c, 0, r8[4]); return;
    case 0xd3: c.modrm(); grp2(c, c.o32 ? 2 : 1, r8[4]); return;

    // ---- near returns, far pointers, MOV imm ----
    case 0xc2: case 0xc3: {
      const n = op === 0xc2 ? c.fetch16() : 0;
      const ip = c.o32 ? c.pop32() : c.pop16();
      c.jmpNear(ip);
      if (n !== 0) c.addSp(n);
      return;
    }
    case 0xc4: loadFarPtr(c, Seg.ES); return;
    case 0xc5: loadFarPtr(c, Seg.DS); return;
    case 0xc6: c.modrm(); if ((c.m & 0x38) !== 0) c.ud(); c.writeE(0, c.fetch8()); return;
    case 0xc7: {
      const sz = c.o32 ? 2 : 1;
      c.modrm();
      if ((c.m & 0x38) !== 0) c.ud();
      c.writeE(sz, immS(c, sz));
      return;
    }
    case 0xc8: enter(c); return;
    case 0xc9: {
      // LEAVE: ESP = EBP, then pop EBP.
      if (c.ss32) r32[Reg.ESP] = r32[Reg.EBP];
      else r16[8] = r16[10];
      if (c.o32) { const v = c.pop32(); r32[Reg.EBP] = v; } else { const v = c.pop16(); r16[10] = v; }
      return;
    }
    case 0xca: sys.retFar(c, c.fetch16()); return;
    case 0xcb: sys.retFar(c, 0); return;
    case 0xcc: c.softInt(Vec.BP, Ev.SOFTEXC); return;
    case 0xcd: c.softInt(c.fetch8(), Ev.SOFT); return;
    case 0xce: if (c.of()) c.softInt(Vec.OF, Ev.SOFTEXC); return;
    case 0xcf: sys.iret(c); return;

    case 0xd4: { // AAM
      const imm = c.fetch8();
      if (imm === 0) c.fault(Vec.DE, -1);
      const al = r8[0];
      r8[1] = (al / imm) | 0;
      r8[0] = al % imm;
      c.setZsp(r8[0], 0, 0);
      return;
    }
    case 0xd5: { // AAD
      const imm = c.fetch8();
      const r = (r8[0] + r8[1] * imm) & 0xff;
      r16[0] = r;
      c.setZsp(r, 0, 0);
      return;
    }
    case 0xd6: r8[0] = c.cf() ? 0xff : 0; return; // SALC
    case 0xd7: {
      const s = c.segOv >= 0 ? c.segOv : Seg.DS;
      const off = c.a32 ? (r32[Reg.EBX] + r8[0]) >>> 0 : (r16[6] + r8[0]) & 0xffff;
      r8[0] = c.rd8(s, off);
      return;
    }
    case 0xd8: case 0xd9: case 0xda: case 0xdb: case 0xdc: case 0xdd: case 0xde: case 0xdf:
      // ESC: no coprocessor. #NM when CR0.EM or CR0.TS asks for emulation; otherwise the
      // instruction is decoded and does nothing (FNSTSW/FNSTCW leave their operand as is,
      // which is how software detects that there is no FPU).
      if (c.cr0 & (Cr0Bit.EM | Cr0Bit.TS)) c.fault(Vec.NM, -1);
      c.modrm();
      if (c.m < 0xc0) {
        // The CPU fetches or stores the memory operand for the coprocessor: its segment
        // limit is checked even though nothing is transferred.
        const n = escOperandSize(op, (c.m >> 3) & 7, c.o32);
        if (n !== 0 && c.ea + n - 1 > c.rlim[c.eaSeg]) c.segCheck(c.eaSeg, c.ea, n, false);
      }
      return;

    // ---- loops and jumps ----
    case 0xe0: case 0xe1: case 0xe2: {
      const disp = c.fetch8s();
      const n = c.a32 ? (r32[Reg.ECX] - 1) | 0 : (r16[2] - 1) & 0xffff;
      const take = n !== 0 && (op === 0xe2 || (op === 0xe1) === (c.zf() !== 0));
      if (take) c.jmpNear(c.eip + disp);
      if (c.a32) r32[Reg.ECX] = n;
      else r16[2] = n;
      return;
    }
    case 0xe3: {
      const disp = c.fetch8s();
      if ((c.a32 ? r32[Reg.ECX] : r16[2]) === 0) c.jmpNear(c.eip + disp);
      return;
    }
    case 0xe4: inPort(c, c.fetch8(), 0); return;
    case 0xe5: inPort(c, c.fetch8(), c.o32 ? 2 : 1); return;
    case 0xe6: outPort(c, c.fetch8(), 0); return;
    case 0xe7: outPort(c, c.fetch8(), c.o32 ? 2 : 1); return;
    case 0xec: inPort(c, r16[4], 0); return;
    case 0xed: inPort(c, r16[4], c.o32 ? 2 : 1); return;
    case 0xee: outPort(c, r16[4], 0); return;
    case 0xef: outPort(c, r16[4], c.o32 ? 2 : 1); return;
    case 0xe8: {
      const disp = c.o32 ? c.fetch32() : c.fetch16();
      const target = c.eip + disp;
      c.push(c.eip);
      c.jmpNear(target);
      return;
    }
    case 0xe9: {
      const disp = c.o32 ? c.fetch32() : c.fetch16();
      c.jmpNear(c.eip + disp);
      return;
    }
    case 0xea: {
      const off = c.o32 ? c.fetch32() >>> 0 : c.fetch16();
      const sel = c.fetch16();
      sys.jmpFar(c, sel, off);
      return;
    }
    case 0xeb: {
      const disp = c.fetch8s();
      c.jmpNear(c.eip + disp);
      return;
    }

    case 0xf1: c.softInt(Vec.DB, Ev.ICEBP); return;
    case 0xf4:
      if (c.cpl !== 0) c.gp(0);
      c.halted = true;
      c.slow = true;
      return;
    case 0xf5: c.setArith(F.CF, c.cf() ^ 1); return;
    case 0xf6: grp3(c, 0); return;
    case 0xf7: grp3(c, c.o32 ? 2 : 1); return;
    case 0xf8: c.setArith(F.CF, 0); return;
    case 0xf9: c.setArith(F.CF, F.CF); return;
    case 0xfa:
      if (!iflagAllowed(c)) c.gp(0);
      c.flags &= ~F.IF;
      return;
    case 0xfb:
      if (!iflagAllowed(c)) c.gp(0);
      if ((c.flags & F.IF) === 0) {
        // STI: interrupts stay blocked until after the next instruction.
        c.flags |= F.IF;
        c.shadow = true;
        c.slow = true;
      }
      return;
    case 0xfc: c.flags &= ~F.DF; return;
    case 0xfd: c.flags |= F.DF; return;
    case 0xfe: {
      c.modrm();
      const reg = (c.m >> 3) & 7;
      if (reg > 1) c.ud();
      const v = c.readE(0);
      c.writeE(0, reg === 0 ? c.inc(v, 0) : c.dec(v, 0));
      return;
    }
    case 0xff: grp5(c); return;
    default:
      c.ud();
  }
}

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
  if (s === Seg.SS) {
    c.shadow = true;
    c.slow = true;
  }
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
  c.setReg(sz, 0, c.ioRead(ExitReason.IO, port, size));
}

function outPort(c: Cpu, port: number, sz: number): void {
  const size = 1 << sz;
  sys.ioCheck(c, port, size);
  c.ioWrite(ExitReason.IO, port, size, c.getReg(sz, 0));
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
  if (budget <= 0 || (c.slow && c.repMustStop())) {
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
  if (sz === 0 && d === 1 && c.fastMovsb(s)) return;
  for (let budget = REP_CHUNK; ; budget--) {
    c.wrS(sz, Seg.ES, di(c), c.rdS(sz, s, si(c)));
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
  for (let budget = REP_CHUNK; ; budget--) {
    c.wrS(sz, Seg.ES, di(c), v);
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
    const v = c.ioRead(ExitReason.IO, port, size);
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
  for (let budget = REP_CHUNK; ; budget--) {
    const v = c.rdS(sz, s, si(c));
    c.ioWrite(ExitReason.IO, port, size, v);
    advSi(c, d);
    if (c.rep === 0 || repNext(c, budget)) return;
  }
}

// =====================================================================================
// Two-byte opcodes (0F xx)
// =====================================================================================

function exec0f(c: Cpu, op: number): void {
  const r32 = c.r32;
  switch (op) {
    case 0x00: sys.grp6(c); return;
    case 0x01: sys.grp7(c); return;
    case 0x02: sys.larLsl(c, false); return;
    case 0x03: sys.larLsl(c, true); return;
    case 0x06:
      if (c.cpl !== 0) c.gp(0);
      c.cr0 &= ~Cr0Bit.TS;
      return;
    case 0x08: case 0x09: // INVD, WBINVD: no caches to write back
      if (c.cpl !== 0) c.gp(0);
      return;
    case 0x0b: c.ud(); return; // UD2
    case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e: case 0x1f:
      c.modrm(); // hint NOPs (NOP Ev)
      return;
    case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x26:
      sys.movCrDr(c, op);
      return;
    case 0x30: // WRMSR
      if (c.cpl !== 0) c.gp(0);
      sys.wrmsr(c, r32[Reg.ECX] >>> 0, r32[Reg.EDX], r32[Reg.EAX]);
      return;
    case 0x31: { // RDTSC
      if ((c.cr4 & Cr4Bit.TSD) !== 0 && c.cpl !== 0) c.gp(0);
      const t = c.tsc();
      r32[Reg.EAX] = t % 0x100000000;
      r32[Reg.EDX] = Math.floor(t / 0x100000000);
      return;
    }
    case 0x32: // RDMSR
      if (c.cpl !== 0) c.gp(0);
      sys.rdmsr(c, r32[Reg.ECX] >>> 0);
      return;
    case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
    case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f: {
      const sz = c.o32 ? 2 : 1;
      c.modrm();
      const v = c.readE(sz);
      if (c.cond(op & 15)) c.setReg(sz, (c.m >> 3) & 7, v);
      return;
    }
    case 0x80: case 0x81: case 0x82: case 0x83: case 0x84: case 0x85: case 0x86: case 0x87:
    case 0x88: case 0x89: case 0x8a: case 0x8b: case 0x8c: case 0x8d: case 0x8e: case 0x8f: {
      const disp = c.o32 ? c.fetch32() : c.fetch16();
      if (c.cond(op & 15)) c.jmpNear(c.eip + disp);
      return;
    }
    case 0x90: case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97:
    case 0x98: case 0x99: case 0x9a: case 0x9b: case 0x9c: case 0x9d: case 0x9e: case 0x9f:
      c.modrm();
      c.writeE(0, c.cond(op & 15) ? 1 : 0);
      return;
    case 0xa0: c.push(c.segSel[Seg.FS]); return;
    case 0xa1: popSeg(c, Seg.FS); return;
    case 0xa8: c.push(c.segSel[Seg.GS]); return;
    case 0xa9: popSeg(c, Seg.GS); return;
    case 0xa2: cpuid(c); return;
    case 0xa3: bitOp(c, 0, false); return;
    case 0xab: bitOp(c, 1, false); return;
    case 0xb3: bitOp(c, 2, false); return;
    case 0xbb: bitOp(c, 3, false); return;
    case 0xba: {
      c.modrm();
      const reg = (c.m >> 3) & 7;
      if (reg < 4) c.ud();
      bitOp(c, reg - 4, true);
      return;
    }
    case 0xa4: case 0xa5: case 0xac: case 0xad: {
      const sz = c.o32 ? 2 : 1;
      c.modrm();
      const n = (op & 1) === 0 ? c.fetch8() : c.r8[4];
      const dst = c.readE(sz);
      if ((n & 31) === 0) return;
      c.writeE(sz, c.shd(op < 0xa8, dst, c.getReg(sz, (c.m >> 3) & 7), n, sz));
      return;
    }
    case 0xaf: {
      const sz = c.o32 ? 2 : 1;
      c.modrm();
      const reg = (c.m >> 3) & 7;
      c.setReg(sz, reg, c.imulTrunc(c.getReg(sz, reg), c.readE(sz), sz));
      return;
    }
    case 0xb0: case 0xb1: {
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
      return;
    }
    case 0xb2: loadFarPtr(c, Seg.SS); return;
    case 0xb4: loadFarPtr(c, Seg.FS); return;
    case 0xb5: loadFarPtr(c, Seg.GS); return;
    case 0xb6: case 0xb7: case 0xbe: case 0xbf: {
      const sz = c.o32 ? 2 : 1;
      c.modrm();
      let v = c.readE(op & 1);
      if (op >= 0xbe) v = op === 0xbe ? (v << 24) >> 24 : (v << 16) >> 16;
      c.setReg(sz, (c.m >> 3) & 7, v);
      return;
    }
    case 0xbc: case 0xbd: {
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
      return;
    }
    case 0xc0: case 0xc1: {
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
      return;
    }
    case 0xc7: {
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
      return;
    }
    case 0xc8: case 0xc9: case 0xca: case 0xcb: case 0xcc: case 0xcd: case 0xce: case 0xcf: {
      const v = r32[op & 7];
      r32[op & 7] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
      return;
    }
    default:
      c.ud();
  }
}

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

/** CPUID: only what is implemented. No FPU, no VME/DE/PGE/PAE/APIC. */
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
    r32[Reg.EBX] = 0;
    r32[Reg.ECX] = 0;
    // PSE (3), TSC (4), MSR (5), CX8 (8), CMOV (15).
    r32[Reg.EDX] = 1 << 3 | 1 << 4 | 1 << 5 | 1 << 8 | 1 << 15;
  } else {
    r32[Reg.EAX] = r32[Reg.EBX] = r32[Reg.ECX] = r32[Reg.EDX] = 0;
  }
}
