// Protected-mode machinery: segment loads with their checks, far JMP/CALL/RET, IRET,
// interrupt and exception delivery through the IVT or IDT gates, TSS task switches, the I/O
// permission check, and the system instructions (LGDT..LTR, LAR/LSL/VERR/VERW, ARPL, MOV
// CRn/DRn/TRn, RDMSR/WRMSR, POPF's privilege rules).
// Reference: Intel SDM vol. 3, chapters 3 (segmentation), 5 (protection), 6 (interrupts),
// 7 (task management), 20 (virtual-8086 mode); the pseudo-code of JMP, CALL, RET, IRET, INT n
// in vol. 2.
//
// Rule kept throughout: a transfer validates everything and writes its stack frame (which
// can fault) before it commits any register, so a fault leaves the old state intact.

import type { Cpu } from './cpu.js';
import { Reg, Seg, F, Vec, Ev, Cr0Bit, Cr4Bit } from './consts.js';

// The descriptor read last by readDesc (module state: the CPU is single-threaded).
let dLo = 0;
let dHi = 0;
let dAddr = 0;

/** Reads the descriptor of `sel` from the GDT or LDT; false when outside the table. */
function readDesc(c: Cpu, sel: number): boolean {
  const idx = sel & 0xfff8;
  let base: number;
  let limit: number;
  if (sel & 4) {
    if ((c.segAttr[Seg.LDTR] & 0x80) === 0) return false;
    base = c.segBase[Seg.LDTR];
    limit = c.segLim[Seg.LDTR];
  } else {
    base = c.gdtBase;
    limit = c.gdtLimit;
  }
  if (idx + 7 > limit) return false;
  dAddr = (base + idx) | 0;
  dLo = c.rdSys(dAddr, 4);
  dHi = c.rdSys(dAddr + 4, 4);
  return true;
}

function descBase(lo: number, hi: number): number {
  return ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) | 0;
}

function descLimit(lo: number, hi: number): number {
  const l = (lo & 0xffff) | (hi & 0xf0000);
  return hi & 0x800000 ? ((l << 12) | 0xfff) >>> 0 : l;
}

/** Access rights in VMX layout (type, S, DPL, P in bits 0-7; AVL, L, D/B, G in 12-15). */
function descAttr(hi: number): number {
  return ((hi >>> 8) & 0xff) | ((hi >>> 8) & 0xf000);
}

function dplOf(attr: number): number {
  return (attr >> 5) & 3;
}

/** Sets the accessed bit of the descriptor read last, as the CPU does on a load. */
function setAccessed(c: Cpu): void {
  if ((dHi & 0x100) === 0) {
    dHi |= 0x100;
    c.wrSys(dAddr + 5, 1, (dHi >>> 8) & 0xff);
  }
}

/**
 * A null selector: the segment becomes unusable (P=0). The cached base and limit stay, as
 * the hardware leaves them; a later return to real mode reloads only the base.
 */
function setNull(c: Cpu, s: number, sel: number): void {
  c.setSegCache(s, sel, c.segBase[s], c.segLim[s], 0);
}

function realMode(c: Cpu): boolean {
  return !c.pe || c.vm;
}

/** Loads CS and the CPL. */
function setCs(c: Cpu, sel: number, base: number, limit: number, attr: number, cpl: number): void {
  if (c.pe && !c.vm) sel = (sel & ~3) | cpl;
  c.setSegCache(Seg.CS, sel, base, limit, attr);
  if (cpl !== c.cpl) c.setCpl(cpl);
}

/** CS load in real or V86 mode. */
function loadCsReal(c: Cpu, sel: number): void {
  if (c.vm) c.setSegCache(Seg.CS, sel, sel << 4, 0xffff, 0xf3);
  else c.setSegCache(Seg.CS, sel, sel << 4, c.segLim[Seg.CS], (c.segAttr[Seg.CS] & 0xf000) | 0x9b);
}

// =====================================================================================
// Data segment loads: MOV Sreg, POP Sreg, LDS/LES/LFS/LGS/LSS
// =====================================================================================

export function loadSeg(c: Cpu, s: number, sel: number): void {
  if (!c.pe) {
    // Real mode: only the base changes; the limit stays (which "unreal mode" relies on).
    c.setSegCache(s, sel, sel << 4, c.segLim[s], (c.segAttr[s] & 0xf000) | 0x93);
    return;
  }
  if (c.vm) {
    c.setSegCache(s, sel, sel << 4, 0xffff, 0xf3);
    return;
  }
  const err = sel & 0xfffc;
  if (err === 0) {
    if (s === Seg.SS) c.gp(0);
    setNull(c, s, sel);
    return;
  }
  if (!readDesc(c, sel)) c.gp(err);
  const attr = descAttr(dHi);
  const dpl = dplOf(attr);
  const rpl = sel & 3;
  if (s === Seg.SS) {
    if (rpl !== c.cpl || (attr & 0x1a) !== 0x12 || dpl !== c.cpl) c.gp(err);
    if ((attr & 0x80) === 0) c.fault(Vec.SS, err);
  } else {
    // A data segment or a readable code segment.
    if ((attr & 0x10) === 0 || (attr & 0xa) === 8) c.gp(err);
    if ((attr & 0xc) !== 0xc && (dpl < c.cpl || dpl < rpl)) c.gp(err);
    if ((attr & 0x80) === 0) c.fault(Vec.NP, err);
  }
  setAccessed(c);
  c.setSegCache(s, sel, descBase(dLo, dHi), descLimit(dLo, dHi), attr | 1);
}

// =====================================================================================
// Stack writes for frames built before the new SS is loaded
// =====================================================================================

/** Is [off, off+size) inside a stack segment with this limit and attr? */
function stackOk(attr: number, limit: number, off: number, size: number): boolean {
  const end = off + size - 1;
  if ((attr & 4) !== 0) {
    const upper = attr & 0x4000 ? 0xffffffff : 0xffff;
    return off > limit && end <= upper;
  }
  return end <= limit;
}

/** A frame being written on a stack: base/limit/attr of its SS, and the running stack pointer. */
class Frame {
  base = 0;
  limit = 0;
  attr = 0;
  big = false;
  sp = 0;
  user = false;

  init(base: number, limit: number, attr: number, sp: number, user: boolean): this {
    this.base = base;
    this.limit = limit;
    this.attr = attr;
    this.big = (attr & 0x4000) !== 0;
    this.sp = this.big ? sp >>> 0 : sp & 0xffff;
    this.user = user;
    return this;
  }

  push(c: Cpu, v: number, size: number, errCode: number): void {
    const sp = this.big ? (this.sp - size) >>> 0 : (this.sp - size) & 0xffff;
    if (!stackOk(this.attr, this.limit, sp, size)) c.fault(Vec.SS, errCode);
    c.wrLin(this.base + sp, size, v, this.user);
    this.sp = sp;
  }
}
const frame = new Frame();

/** Frame on the current stack (same privilege). */
function curFrame(c: Cpu): Frame {
  return frame.init(c.segBase[Seg.SS], c.segLim[Seg.SS], c.segAttr[Seg.SS],
    c.ss32 ? c.r32[Reg.ESP] : c.r16[8], c.user);
}

function commitSp(c: Cpu, f: Frame): void {
  if (c.ss32) c.r32[Reg.ESP] = f.sp;
  else c.r16[8] = f.sp;
}

// The inner stack for privilege level `dpl`, read from the current TSS.
let tssSs = 0;
let tssEsp = 0;

function readTssStack(c: Cpu, dpl: number, ext: number): void {
  const tr = c.segSel[Seg.TR];
  const base = c.segBase[Seg.TR];
  const lim = c.segLim[Seg.TR];
  if ((c.segAttr[Seg.TR] & 8) !== 0) {
    const off = 4 + dpl * 8;
    if (off + 5 > lim) c.fault(Vec.TS, (tr & 0xfffc) | ext);
    tssEsp = c.rdSys(base + off, 4);
    tssSs = c.rdSys(base + off + 4, 2);
  } else {
    const off = 2 + dpl * 4;
    if (off + 3 > lim) c.fault(Vec.TS, (tr & 0xfffc) | ext);
    tssEsp = c.rdSys(base + off, 2);
    tssSs = c.rdSys(base + off + 2, 2);
  }
}

// The validated new SS (for privilege changes).
let nsBase = 0;
let nsLimit = 0;
let nsAttr = 0;

/** Validates the stack segment for a transfer to an inner level (SDM: CALL, INT n). */
function checkInnerSs(c: Cpu, ss: number, dpl: number, ext: number): void {
  const err = (ss & 0xfffc) | ext;
  if ((ss & 0xfffc) === 0) c.fault(Vec.TS, ext);
  if (!readDesc(c, ss)) c.fault(Vec.TS, err);
  const attr = descAttr(dHi);
  if ((ss & 3) !== dpl || dplOf(attr) !== dpl || (attr & 0x1a) !== 0x12) c.fault(Vec.TS, err);
  if ((attr & 0x80) === 0) c.fault(Vec.SS, err);
  setAccessed(c);
  nsBase = descBase(dLo, dHi);
  nsLimit = descLimit(dLo, dHi);
  nsAttr = attr | 1;
}

/** Validates the stack segment popped by RET/IRET to an outer level. */
function checkOuterSs(c: Cpu, ss: number, rpl: number): void {
  const err = ss & 0xfffc;
  if (err === 0) c.gp(0);
  if (!readDesc(c, ss)) c.gp(err);
  const attr = descAttr(dHi);
  if ((ss & 3) !== rpl || dplOf(attr) !== rpl || (attr & 0x1a) !== 0x12) c.gp(err);
  if ((attr & 0x80) === 0) c.fault(Vec.SS, err);
  setAccessed(c);
  nsBase = descBase(dLo, dHi);
  nsLimit = descLimit(dLo, dHi);
  nsAttr = attr | 1;
}

/** After a return to an outer level: data segments the new CPL may not use become null. */
function nullInaccessible(c: Cpu): void {
  for (const s of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) {
    const attr = c.segAttr[s];
    if ((attr & 0x80) === 0) continue;
    const conformingCode = (attr & 0xc) === 0xc;
    if (!conformingCode && dplOf(attr) < c.cpl) setNull(c, s, 0);
  }
}

// =====================================================================================
// Far JMP / CALL / RET
// =====================================================================================

// The code segment validated last.
let csBase = 0;
let csLimit = 0;
let csAttr = 0;

/** Reads and checks a code segment descriptor for a direct JMP/CALL or a gate target. */
function readCode(c: Cpu, sel: number, ext: number): void {
  const err = (sel & 0xfffc) | ext;
  if ((sel & 0xfffc) === 0) c.gp(ext);
  if (!readDesc(c, sel)) c.gp(err);
  const attr = descAttr(dHi);
  if ((attr & 0x18) !== 0x18) c.gp(err);
  csBase = descBase(dLo, dHi);
  csLimit = descLimit(dLo, dHi);
  csAttr = attr | 1;
}

export function jmpFar(c: Cpu, sel: number, off: number): void {
  if (realMode(c)) {
    const lim = c.vm ? 0xffff : c.segLim[Seg.CS];
    if (off > lim) c.gp(0);
    loadCsReal(c, sel);
    c.eip = off;
    return;
  }
  const err = sel & 0xfffc;
  if (err === 0) c.gp(0);
  if (!readDesc(c, sel)) c.gp(err);
  const attr = descAttr(dHi);
  const dpl = dplOf(attr);
  const rpl = sel & 3;
  if (attr & 0x10) {
    if ((attr & 8) === 0) c.gp(err);
    if (attr & 4 ? dpl > c.cpl : rpl > c.cpl || dpl !== c.cpl) c.gp(err);
    if ((attr & 0x80) === 0) c.fault(Vec.NP, err);
    const lim = descLimit(dLo, dHi);
    if (off > lim) c.gp(0);
    setAccessed(c);
    setCs(c, sel, descBase(dLo, dHi), lim, attr | 1, c.cpl);
    c.eip = off;
    return;
  }
  switch (attr & 0x1f) {
    case 4: case 12: { // call gate
      if (dpl < c.cpl || dpl < rpl) c.gp(err);
      if ((attr & 0x80) === 0) c.fault(Vec.NP, err);
      const gLo = dLo, gHi = dHi;
      const target = gLo >>> 16;
      const goff = (attr & 0x1f) === 12 ? ((gLo & 0xffff) | (gHi & 0xffff0000)) >>> 0 : gLo & 0xffff;
      readCode(c, target, 0);
      const tdpl = dplOf(csAttr);
      if (csAttr & 4 ? tdpl > c.cpl : tdpl !== c.cpl) c.gp(target & 0xfffc);
      if ((csAttr & 0x80) === 0) c.fault(Vec.NP, target & 0xfffc);
      if (goff > csLimit) c.gp(0);
      setAccessed(c);
      setCs(c, target, csBase, csLimit, csAttr, c.cpl);
      c.eip = goff;
      return;
    }
    case 5: { // task gate
      if (dpl < c.cpl || dpl < rpl) c.gp(err);
      if ((attr & 0x80) === 0) c.fault(Vec.NP, err);
      taskSwitch(c, dLo >>> 16, TaskSrc.JMP, -1);
      return;
    }
    case 1: case 9: // available TSS
      if (dpl < c.cpl || dpl < rpl) c.gp(err);
      if ((attr & 0x80) === 0) c.fault(Vec.NP, err);
      taskSwitch(c, sel, TaskSrc.JMP, -1);
      return;
    default:
      c.gp(err);
  }
}

export function callFar(c: Cpu, sel: number, off: number): void {
  const n = c.o32 ? 4 : 2;
  if (realMode(c)) {
    const lim = c.vm ? 0xffff : c.segLim[Seg.CS];
    const f = curFrame(c);
    f.push(c, c.segSel[Seg.CS], n, 0);
    f.push(c, c.eip, n, 0);
    if (off > lim) c.gp(0);
    commitSp(c, f);
    loadCsReal(c, sel);
    c.eip = off;
    return;
  }
  const err = sel & 0xfffc;
  if (err === 0) c.gp(0);
  if (!readDesc(c, sel)) c.gp(err);
  const attr = descAttr(dHi);
  const dpl = dplOf(attr);
  const rpl = sel & 3;
  if (attr & 0x10) {
    if ((attr & 8) === 0) c.gp(err);
    if (attr & 4 ? dpl > c.cpl : rpl > c.cpl || dpl !== c.cpl) c.gp(err);
    if ((attr & 0x80) === 0) c.fault(Vec.NP, err);
    const lim = descLimit(dLo, dHi);
    const base = descBase(dLo, dHi);
    const f = curFrame(c);
    f.push(c, c.segSel[Seg.CS], n, 0);
    f.push(c, c.eip, n, 0);
    if (off > lim) c.gp(0);
    setAccessed(c);
    commitSp(c, f);
    setCs(c, sel, base, lim, attr | 1, c.cpl);
    c.eip = off;
    return;
  }
  switch (attr & 0x1f) {
    case 4: case 12: {
      if (dpl < c.cpl || dpl < rpl) c.gp(err);
      if ((attr & 0x80) === 0) c.fault(Vec.NP, err);
      const gLo = dLo, gHi = dHi;
      const gate32 = (attr & 0x1f) === 12;
      const target = gLo >>> 16;
      const goff = gate32 ? ((gLo & 0xffff) | (gHi & 0xffff0000)) >>> 0 : gLo & 0xffff;
      const params = gHi & 0x1f;
      readCode(c, target, 0);
      const terr = target & 0xfffc;
      const tdpl = dplOf(csAttr);
      if (tdpl > c.cpl) c.gp(terr);
      if ((csAttr & 0x80) === 0) c.fault(Vec.NP, terr);
      const tBase = csBase, tLimit = csLimit, tAttr = csAttr;
      const gn = gate32 ? 4 : 2;
      if ((tAttr & 4) === 0 && tdpl < c.cpl) {
        // Inner privilege: switch to the stack of the target level from the TSS, copy the
        // parameters, and push the old SS:ESP and CS:EIP there.
        readTssStack(c, tdpl, 0);
        const newSs = tssSs, newEsp = tssEsp;
        checkInnerSs(c, newSs, tdpl, 0);
        const oldSs = c.segSel[Seg.SS];
        const oldEsp = c.r32[Reg.ESP];
        const f = frame.init(nsBase, nsLimit, nsAttr, newEsp, tdpl === 3);
        const ssErr = newSs & 0xfffc;
        f.push(c, oldSs, gn, ssErr);
        f.push(c, gate32 ? oldEsp : oldEsp & 0xffff, gn, ssErr);
        for (let i = params - 1; i >= 0; i--) {
          const sp = c.ss32 ? (oldEsp + i * gn) >>> 0 : (oldEsp + i * gn) & 0xffff;
          f.push(c, gn === 4 ? c.rd32(Seg.SS, sp) : c.rd16(Seg.SS, sp), gn, ssErr);
        }
        f.push(c, c.segSel[Seg.CS], gn, ssErr);
        f.push(c, c.eip, gn, ssErr);
        if (goff > tLimit) c.gp(0);
        c.setSegCache(Seg.SS, newSs, nsBase, nsLimit, nsAttr);
        if (c.ss32) c.r32[Reg.ESP] = f.sp;
        else c.r16[8] = f.sp;
        setCs(c, target, tBase, tLimit, tAttr, tdpl);
        c.eip = goff;
        return;
      }
      const f = curFrame(c);
      f.push(c, c.segSel[Seg.CS], gn, 0);
      f.push(c, c.eip, gn, 0);
      if (goff > tLimit) c.gp(0);
      commitSp(c, f);
      setCs(c, target, tBase, tLimit, tAttr, c.cpl);
      c.eip = goff;
      return;
    }
    case 5:
      if (dpl < c.cpl || dpl < rpl) c.gp(err);
      if ((attr & 0x80) === 0) c.fault(Vec.NP, err);
      taskSwitch(c, dLo >>> 16, TaskSrc.CALL, -1);
      return;
    case 1: case 9:
      if (dpl < c.cpl || dpl < rpl) c.gp(err);
      if ((attr & 0x80) === 0) c.fault(Vec.NP, err);
      taskSwitch(c, sel, TaskSrc.CALL, -1);
      return;
    default:
      c.gp(err);
  }
}

export function retFar(c: Cpu, imm: number): void {
  const sz = c.o32 ? 2 : 1;
  const n = c.o32 ? 4 : 2;
  const ip = sz === 2 ? c.peek(2, 0) >>> 0 : c.peek(1, 0);
  const sel = c.peek(1, n);
  if (realMode(c)) {
    const lim = c.vm ? 0xffff : c.segLim[Seg.CS];
    if (ip > lim) c.gp(0);
    c.addSp(2 * n + imm);
    loadCsReal(c, sel);
    c.eip = ip;
    return;
  }
  const err = sel & 0xfffc;
  if (err === 0) c.gp(0);
  if (!readDesc(c, sel)) c.gp(err);
  const attr = descAttr(dHi);
  const dpl = dplOf(attr);
  const rpl = sel & 3;
  if ((attr & 0x18) !== 0x18 || rpl < c.cpl) c.gp(err);
  if (attr & 4 ? dpl > rpl : dpl !== rpl) c.gp(err);
  if ((attr & 0x80) === 0) c.fault(Vec.NP, err);
  const base = descBase(dLo, dHi);
  const lim = descLimit(dLo, dHi);
  setAccessed(c);
  if (rpl === c.cpl) {
    if (ip > lim) c.gp(0);
    c.addSp(2 * n + imm);
    setCs(c, sel, base, lim, attr | 1, c.cpl);
    c.eip = ip;
    return;
  }
  // Return to an outer level: the old SS:ESP follows the parameters.
  const newEsp = sz === 2 ? c.peek(2, 2 * n + imm) : c.peek(1, 2 * n + imm);
  const newSs = c.peek(1, 3 * n + imm);
  checkOuterSs(c, newSs, rpl);
  if (ip > lim) c.gp(0);
  setCs(c, sel, base, lim, attr | 1, rpl);
  c.eip = ip;
  c.setSegCache(Seg.SS, newSs, nsBase, nsLimit, nsAttr);
  if (c.ss32) c.r32[Reg.ESP] = (newEsp + imm) >>> 0;
  else c.r16[8] = newEsp + imm;
  nullInaccessible(c);
}

// =====================================================================================
// POPF and IRET: which flags may change
// =====================================================================================

/** EFLAGS bits an instruction at the current CPL/IOPL may write (POPF, IRET same level). */
function writableFlags(c: Cpu, o32: boolean): number {
  let mask = F.CF | F.PF | F.AF | F.ZF | F.SF | F.TF | F.DF | F.OF | F.NT;
  const iopl = (c.flags >> 12) & 3;
  if (!c.pe || (!c.vm && c.cpl === 0)) mask |= F.IOPL;
  if (!c.pe && c.compat286) mask &= ~(F.IOPL | F.NT);
  if (!c.pe || c.cpl <= iopl || (c.vm && iopl === 3)) mask |= F.IF;
  if (o32) mask |= F.AC | F.ID;
  return mask;
}

function loadFlags(c: Cpu, v: number, mask: number): void {
  c.materialize();
  c.setFlags((c.flags & ~mask) | (v & mask));
  c.slow = true;
}

export function popf(c: Cpu): void {
  if (c.vm && (c.flags & F.IOPL) !== F.IOPL) c.gp(0);
  const v = c.o32 ? c.pop32() : c.pop16();
  loadFlags(c, v, writableFlags(c, c.o32) & (c.o32 ? -1 : 0xffff));
  c.flags &= ~F.RF;
}

export function iret(c: Cpu): void {
  const sz = c.o32 ? 2 : 1;
  const n = c.o32 ? 4 : 2;
  c.nmiBlocked = false;
  if (!c.pe || c.vm) {
    if (c.vm && (c.flags & F.IOPL) !== F.IOPL) c.gp(0);
    const ip = sz === 2 ? c.peek(2, 0) >>> 0 : c.peek(1, 0);
    const sel = c.peek(1, n);
    const fl = c.peek(sz, 2 * n);
    const lim = c.vm ? 0xffff : c.segLim[Seg.CS];
    if (ip > lim) c.gp(0);
    c.addSp(3 * n);
    loadCsReal(c, sel);
    c.eip = ip;
    let mask = writableFlags(c, c.o32) | F.IF;
    if (c.vm) mask &= ~F.IOPL;
    if (!c.o32) mask &= 0xffff;
    loadFlags(c, fl, mask);
    return;
  }
  if (c.flags & F.NT) {
    // Return from a nested task: to the task in the back link of the current TSS.
    const link = c.rdSys(c.segBase[Seg.TR], 2);
    taskSwitch(c, link, TaskSrc.IRET, -1);
    return;
  }
  const ip = sz === 2 ? c.peek(2, 0) >>> 0 : c.peek(1, 0);
  const sel = c.peek(1, n);
  const fl = c.peek(sz, 2 * n);
  if (sz === 2 && (fl & F.VM) !== 0 && c.cpl === 0) {
    iretToV86(c, ip, sel, fl);
    return;
  }
  const err = sel & 0xfffc;
  if (err === 0) c.gp(0);
  if (!readDesc(c, sel)) c.gp(err);
  const attr = descAttr(dHi);
  const dpl = dplOf(attr);
  const rpl = sel & 3;
  if ((attr & 0x18) !== 0x18 || rpl < c.cpl) c.gp(err);
  if (attr & 4 ? dpl > rpl : dpl !== rpl) c.gp(err);
  if ((attr & 0x80) === 0) c.fault(Vec.NP, err);
  const base = descBase(dLo, dHi);
  const lim = descLimit(dLo, dHi);
  setAccessed(c);
  // The flags rules use the CPL before the return. A 32-bit IRET at CPL 0 also restores
  // RF, VIF and VIP.
  let mask = writableFlags(c, c.o32) & (c.o32 ? -1 : 0xffff);
  if (c.o32 && c.cpl === 0) mask |= F.RF | F.VIF | F.VIP;
  if (rpl === c.cpl) {
    if (ip > lim) c.gp(0);
    c.addSp(3 * n);
    setCs(c, sel, base, lim, attr | 1, c.cpl);
    c.eip = ip;
    loadFlags(c, fl, mask);
    return;
  }
  const newEsp = sz === 2 ? c.peek(2, 3 * n) : c.peek(1, 3 * n);
  const newSs = c.peek(1, 4 * n);
  checkOuterSs(c, newSs, rpl);
  if (ip > lim) c.gp(0);
  setCs(c, sel, base, lim, attr | 1, rpl);
  c.eip = ip;
  loadFlags(c, fl, mask);
  c.setSegCache(Seg.SS, newSs, nsBase, nsLimit, nsAttr);
  if (c.ss32) c.r32[Reg.ESP] = newEsp;
  else c.r16[8] = newEsp;
  nullInaccessible(c);
}

/** IRETD at CPL 0 with VM=1 in the popped EFLAGS: back to virtual-8086 mode (SDM vol. 3, 20.3). */
function iretToV86(c: Cpu, ip: number, cs: number, fl: number): void {
  const esp = c.peek(2, 12);
  const ss = c.peek(1, 16);
  const es = c.peek(1, 20);
  const ds = c.peek(1, 24);
  const fs = c.peek(1, 28);
  const gs = c.peek(1, 32);
  c.materialize();
  c.setFlags((fl & 0x3f7fd5) | 2);
  c.slow = true;
  c.setSegCache(Seg.CS, cs, cs << 4, 0xffff, 0xf3);
  c.setSegCache(Seg.SS, ss, ss << 4, 0xffff, 0xf3);
  c.setSegCache(Seg.ES, es, es << 4, 0xffff, 0xf3);
  c.setSegCache(Seg.DS, ds, ds << 4, 0xffff, 0xf3);
  c.setSegCache(Seg.FS, fs, fs << 4, 0xffff, 0xf3);
  c.setSegCache(Seg.GS, gs, gs << 4, 0xffff, 0xf3);
  c.modeChanged();
  c.r32[Reg.ESP] = esp;
  c.eip = ip & 0xffff;
}

// =====================================================================================
// Interrupt and exception delivery
// =====================================================================================

/** Exceptions that push an error code (in protected mode). */
function hasErrorCode(vec: number): boolean {
  return vec === Vec.DF || (vec >= Vec.TS && vec <= Vec.PF) || vec === Vec.AC;
}

/**
 * Delivers an event through the IVT (real mode) or the IDT. `c.eip` is the return address.
 * Faults raised here carry EXT in their error codes unless the event is a software INT.
 */
export function deliver(c: Cpu, vec: number, code: number, type: number): void {
  c.materialize();
  const soft = type === Ev.SOFT || type === Ev.SOFTEXC;
  const ext = soft ? 0 : 1;
  if (!c.pe) {
    if (vec * 4 + 3 > c.idtLimit) c.gp(vec * 8 + 2 + ext);
    const f = curFrame(c);
    f.push(c, c.flags & 0xffff, 2, 0);
    f.push(c, c.segSel[Seg.CS], 2, 0);
    f.push(c, c.eip, 2, 0);
    const ip = c.rdSys(c.idtBase + vec * 4, 2);
    const cs = c.rdSys(c.idtBase + vec * 4 + 2, 2);
    commitSp(c, f);
    loadCsReal(c, cs);
    c.eip = ip;
    c.flags &= ~(F.IF | F.TF | F.AC | F.RF);
    return;
  }
  if (c.vm && type === Ev.SOFT && (c.flags & F.IOPL) !== F.IOPL) c.gp(0);
  const gateErr = vec * 8 + 2 + ext;
  if (vec * 8 + 7 > c.idtLimit) c.gp(gateErr);
  const gLo = c.rdSys(c.idtBase + vec * 8, 4);
  const gHi = c.rdSys(c.idtBase + vec * 8 + 4, 4);
  const gattr = descAttr(gHi);
  const gtype = gattr & 0x1f;
  if (gtype !== 5 && gtype !== 6 && gtype !== 7 && gtype !== 14 && gtype !== 15) c.gp(gateErr);
  if (soft && dplOf(gattr) < c.cpl) c.gp(gateErr);
  if ((gattr & 0x80) === 0) c.fault(Vec.NP, gateErr);
  const errCode = type === Ev.EXC && hasErrorCode(vec) ? code : -1;
  if (gtype === 5) {
    taskSwitch(c, gLo >>> 16, TaskSrc.INT, errCode);
    return;
  }
  const gate32 = (gtype & 8) !== 0;
  const gn = gate32 ? 4 : 2;
  const target = gLo >>> 16;
  const goff = gate32 ? ((gLo & 0xffff) | (gHi & 0xffff0000)) >>> 0 : gLo & 0xffff;
  readCode(c, target, ext);
  const terr = (target & 0xfffc) | ext;
  const tdpl = dplOf(csAttr);
  if (tdpl > c.cpl) c.gp(terr);
  if ((csAttr & 0x80) === 0) c.fault(Vec.NP, terr);
  const tBase = csBase, tLimit = csLimit, tAttr = csAttr;
  const flags = c.flags;
  if ((tAttr & 4) === 0 && tdpl < c.cpl) {
    // Inner privilege (and always when leaving V86 mode, which needs a DPL-0 handler).
    if (c.vm && tdpl !== 0) c.gp(terr);
    readTssStack(c, tdpl, ext);
    const newSs = tssSs, newEsp = tssEsp;
    checkInnerSs(c, newSs, tdpl, ext);
    const ssErr = (newSs & 0xfffc) | ext;
    const f = frame.init(nsBase, nsLimit, nsAttr, newEsp, false);
    if (c.vm) {
      f.push(c, c.segSel[Seg.GS], gn, ssErr);
      f.push(c, c.segSel[Seg.FS], gn, ssErr);
      f.push(c, c.segSel[Seg.DS], gn, ssErr);
      f.push(c, c.segSel[Seg.ES], gn, ssErr);
    }
    f.push(c, c.segSel[Seg.SS], gn, ssErr);
    f.push(c, c.r32[Reg.ESP], gn, ssErr);
    f.push(c, flags, gn, ssErr);
    f.push(c, c.segSel[Seg.CS], gn, ssErr);
    f.push(c, c.eip, gn, ssErr);
    if (errCode >= 0) f.push(c, errCode, gn, ssErr);
    if (goff > tLimit) c.gp(ext);
    // Commit.
    const wasVm = c.vm;
    c.flags &= ~(F.TF | F.NT | F.VM | F.RF);
    if (gtype === 6 || gtype === 14) c.flags &= ~F.IF;
    if (wasVm) {
      for (const s of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) setNull(c, s, 0);
      c.vm = false;
    }
    c.setSegCache(Seg.SS, newSs, nsBase, nsLimit, nsAttr);
    setCs(c, target, tBase, tLimit, tAttr, tdpl);
    c.modeChanged();
    if (c.ss32) c.r32[Reg.ESP] = f.sp;
    else c.r16[8] = f.sp;
    c.eip = goff;
    return;
  }
  if (c.vm) c.gp(terr);
  const f = curFrame(c);
  f.push(c, flags, gn, 0);
  f.push(c, c.segSel[Seg.CS], gn, 0);
  f.push(c, c.eip, gn, 0);
  if (errCode >= 0) f.push(c, errCode, gn, 0);
  if (goff > tLimit) c.gp(ext);
  commitSp(c, f);
  setCs(c, target, tBase, tLimit, tAttr, c.cpl);
  c.eip = goff;
  c.flags &= ~(F.TF | F.NT | F.VM | F.RF);
  if (gtype === 6 || gtype === 14) c.flags &= ~F.IF;
}

// =====================================================================================
// Task switch (SDM vol. 3, 7.3)
// =====================================================================================

export const enum TaskSrc { JMP = 0, CALL = 1, IRET = 2, INT = 3 }

export function taskSwitch(c: Cpu, sel: number, src: TaskSrc, errCode: number): void {
  const err = sel & 0xfffc;
  const badVec = src === TaskSrc.IRET ? Vec.TS : Vec.GP;
  if (sel & 4) c.fault(badVec, err);
  if (!readDesc(c, sel)) c.fault(badVec, err);
  const attr = descAttr(dHi);
  const type = attr & 0x1f;
  if (src === TaskSrc.IRET ? type !== 3 && type !== 11 : type !== 1 && type !== 9) c.fault(badVec, err);
  if ((attr & 0x80) === 0) c.fault(Vec.NP, err);
  const nBase = descBase(dLo, dHi);
  const nLimit = descLimit(dLo, dHi);
  const nDescAddr = dAddr;
  const n32 = (type & 8) !== 0;
  if (nLimit < (n32 ? 0x67 : 0x2b)) c.fault(Vec.TS, err);

  const oSel = c.segSel[Seg.TR];
  const oBase = c.segBase[Seg.TR];
  const o32 = (c.segAttr[Seg.TR] & 8) !== 0;
  if (c.segLim[Seg.TR] < (o32 ? 0x5f : 0x29)) c.fault(Vec.TS, oSel & 0xfffc);

  // Read the whole new state first: a fault here leaves everything as it was.
  const ns = new Int32Array(20);
  if (n32) {
    ns[0] = c.pg ? c.rdSys(nBase + 0x1c, 4) : c.cr3;
    ns[1] = c.rdSys(nBase + 0x20, 4); // EIP
    ns[2] = c.rdSys(nBase + 0x24, 4); // EFLAGS
    for (let r = 0; r < 8; r++) ns[3 + r] = c.rdSys(nBase + 0x28 + r * 4, 4);
    for (let s = 0; s < 6; s++) ns[11 + s] = c.rdSys(nBase + 0x48 + s * 4, 2);
    ns[17] = c.rdSys(nBase + 0x60, 2); // LDT
    ns[18] = c.rdSys(nBase + 0x64, 2) & 1; // T
  } else {
    ns[0] = c.cr3;
    ns[1] = c.rdSys(nBase + 0x0e, 2);
    ns[2] = c.rdSys(nBase + 0x10, 2);
    for (let r = 0; r < 8; r++) ns[3 + r] = c.rdSys(nBase + 0x12 + r * 2, 2) | (c.r32[r] & 0xffff0000);
    for (let s = 0; s < 4; s++) ns[11 + s] = c.rdSys(nBase + 0x22 + s * 2, 2);
    ns[15] = ns[16] = 0;
    ns[17] = c.rdSys(nBase + 0x2a, 2);
    ns[18] = 0;
  }

  // Save the outgoing task.
  let fl = c.getFlags();
  if (src === TaskSrc.IRET) fl &= ~F.NT;
  if (o32) {
    c.wrSys(oBase + 0x20, 4, c.eip);
    c.wrSys(oBase + 0x24, 4, fl);
    for (let r = 0; r < 8; r++) c.wrSys(oBase + 0x28 + r * 4, 4, c.r32[r]);
    for (let s = 0; s < 6; s++) c.wrSys(oBase + 0x48 + s * 4, 2, c.segSel[s]);
  } else {
    c.wrSys(oBase + 0x0e, 2, c.eip);
    c.wrSys(oBase + 0x10, 2, fl);
    for (let r = 0; r < 8; r++) c.wrSys(oBase + 0x12 + r * 2, 2, c.r32[r]);
    for (let s = 0; s < 4; s++) c.wrSys(oBase + 0x22 + s * 2, 2, c.segSel[s]);
  }
  // Busy bits and the back link.
  if (src === TaskSrc.JMP || src === TaskSrc.IRET) {
    if (readDesc(c, oSel)) c.wrSys(dAddr + 5, 1, ((dHi >>> 8) & 0xff) & ~2);
  }
  let nfl = ns[2];
  if (src === TaskSrc.CALL || src === TaskSrc.INT) {
    c.wrSys(nBase, 2, oSel);
    nfl |= F.NT;
  }
  if (src !== TaskSrc.IRET) {
    c.wrSys(nDescAddr + 5, 1, ((attr | 2) & 0xff));
  }

  // Load the incoming task. From here on, faults belong to the new task.
  c.setSegCache(Seg.TR, sel, nBase, nLimit, attr | 2);
  c.cr0 |= Cr0Bit.TS;
  if (n32 && c.pg && (ns[0] | 0) !== (c.cr3 | 0)) {
    c.cr3 = ns[0];
    c.flushTlb();
  }
  for (let r = 0; r < 8; r++) c.r32[r] = ns[3 + r];
  c.eip = n32 ? ns[1] >>> 0 : ns[1] & 0xffff;
  c.materialize();
  c.setFlags(n32 ? nfl : (nfl & 0xffff) | (c.flags & ~0xffff & ~F.VM));
  c.slow = true;
  // Selectors first (unusable caches), then each descriptor with its checks.
  for (let s = 0; s < 6; s++) c.setSegCache(s, ns[11 + s], 0, 0, 0);
  c.setSegCache(Seg.LDTR, ns[17], 0, 0, 0);
  c.modeChanged();
  c.ipStart = c.eip;
  c.espStart = c.r32[Reg.ESP];
  loadTaskLdt(c, ns[17]);
  if (c.vm) {
    for (let s = 0; s < 6; s++) c.setSegCache(s, ns[11 + s], ns[11 + s] << 4, 0xffff, 0xf3);
    c.modeChanged();
  } else {
    loadTaskCs(c, ns[12]);
    loadTaskSs(c, ns[13]);
    for (const s of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) loadTaskData(c, s, ns[11 + s]);
  }
  if (errCode >= 0) {
    const f = curFrame(c);
    f.push(c, errCode, n32 ? 4 : 2, 0);
    commitSp(c, f);
    c.espStart = c.r32[Reg.ESP];
  }
  if (c.eip > c.segLim[Seg.CS]) c.gp(0);
  if (ns[18]) c.taskTrap();
}

function loadTaskLdt(c: Cpu, sel: number): void {
  if ((sel & 0xfffc) === 0) return;
  const err = sel & 0xfffc;
  if ((sel & 4) !== 0 || !readDesc(c, sel)) c.fault(Vec.TS, err);
  const attr = descAttr(dHi);
  if ((attr & 0x1f) !== 2) c.fault(Vec.TS, err);
  if ((attr & 0x80) === 0) c.fault(Vec.TS, err);
  c.setSegCache(Seg.LDTR, sel, descBase(dLo, dHi), descLimit(dLo, dHi), attr);
}

function loadTaskCs(c: Cpu, sel: number): void {
  const err = sel & 0xfffc;
  if (err === 0 || !readDesc(c, sel)) c.fault(Vec.TS, err);
  const attr = descAttr(dHi);
  const rpl = sel & 3;
  const dpl = dplOf(attr);
  if ((attr & 0x18) !== 0x18) c.fault(Vec.TS, err);
  if (attr & 4 ? dpl > rpl : dpl !== rpl) c.fault(Vec.TS, err);
  if ((attr & 0x80) === 0) c.fault(Vec.NP, err);
  setAccessed(c);
  setCs(c, sel, descBase(dLo, dHi), descLimit(dLo, dHi), attr | 1, rpl);
}

function loadTaskSs(c: Cpu, sel: number): void {
  const err = sel & 0xfffc;
  if (err === 0 || !readDesc(c, sel)) c.fault(Vec.TS, err);
  const attr = descAttr(dHi);
  if ((sel & 3) !== c.cpl || dplOf(attr) !== c.cpl || (attr & 0x1a) !== 0x12) c.fault(Vec.TS, err);
  if ((attr & 0x80) === 0) c.fault(Vec.SS, err);
  setAccessed(c);
  c.setSegCache(Seg.SS, sel, descBase(dLo, dHi), descLimit(dLo, dHi), attr | 1);
}

function loadTaskData(c: Cpu, s: number, sel: number): void {
  const err = sel & 0xfffc;
  if (err === 0) {
    setNull(c, s, sel);
    return;
  }
  if (!readDesc(c, sel)) c.fault(Vec.TS, err);
  const attr = descAttr(dHi);
  const dpl = dplOf(attr);
  if ((attr & 0x10) === 0 || (attr & 0xa) === 8) c.fault(Vec.TS, err);
  if ((attr & 0xc) !== 0xc && (dpl < c.cpl || dpl < (sel & 3))) c.fault(Vec.TS, err);
  if ((attr & 0x80) === 0) c.fault(Vec.NP, err);
  setAccessed(c);
  c.setSegCache(s, sel, descBase(dLo, dHi), descLimit(dLo, dHi), attr | 1);
}

// =====================================================================================
// I/O permission (SDM vol. 1, 19.5)
// =====================================================================================

export function ioCheck(c: Cpu, port: number, size: number): void {
  if (!c.pe) return;
  if (!c.vm && c.cpl <= ((c.flags >> 12) & 3)) return;
  // The I/O permission bitmap of a 32-bit TSS decides.
  const type = c.segAttr[Seg.TR] & 0xf;
  const lim = c.segLim[Seg.TR];
  if ((type !== 9 && type !== 11) || lim < 0x67) c.gp(0);
  const base = c.segBase[Seg.TR];
  const off = c.rdSys(base + 0x66, 2) + (port >> 3);
  if (off + 1 > lim) c.gp(0);
  const bits = c.rdSys(base + off, 2);
  if ((bits >> (port & 7)) & ((1 << size) - 1)) c.gp(0);
}

// =====================================================================================
// System instructions
// =====================================================================================

/** 0F 00: SLDT, STR, LLDT, LTR, VERR, VERW. */
export function grp6(c: Cpu): void {
  if (!c.pe || c.vm) c.ud();
  c.modrm();
  const op = (c.m >> 3) & 7;
  switch (op) {
    case 0: case 1: {
      const v = c.segSel[op === 0 ? Seg.LDTR : Seg.TR];
      if (c.m >= 0xc0 && c.o32) c.r32[c.m & 7] = v;
      else c.writeE(1, v);
      return;
    }
    case 2: {
      if (c.cpl !== 0) c.gp(0);
      const sel = c.readE16();
      const err = sel & 0xfffc;
      if (err === 0) {
        setNull(c, Seg.LDTR, sel);
        return;
      }
      if (sel & 4 || !readDesc(c, sel)) c.gp(err);
      const attr = descAttr(dHi);
      if ((attr & 0x1f) !== 2) c.gp(err);
      if ((attr & 0x80) === 0) c.fault(Vec.NP, err);
      c.setSegCache(Seg.LDTR, sel, descBase(dLo, dHi), descLimit(dLo, dHi), attr);
      return;
    }
    case 3: {
      if (c.cpl !== 0) c.gp(0);
      const sel = c.readE16();
      const err = sel & 0xfffc;
      if (err === 0) c.gp(0);
      if (sel & 4 || !readDesc(c, sel)) c.gp(err);
      const attr = descAttr(dHi);
      if ((attr & 0x1f) !== 1 && (attr & 0x1f) !== 9) c.gp(err);
      if ((attr & 0x80) === 0) c.fault(Vec.NP, err);
      c.wrSys(dAddr + 5, 1, ((attr | 2) & 0xff));
      c.setSegCache(Seg.TR, sel, descBase(dLo, dHi), descLimit(dLo, dHi), attr | 2);
      return;
    }
    case 4: case 5: {
      const sel = c.readE16();
      let ok = (sel & 0xfffc) !== 0 && readDesc(c, sel);
      if (ok) {
        const attr = descAttr(dHi);
        const dpl = dplOf(attr);
        if ((attr & 0x10) === 0) ok = false;
        else if (op === 4 ? (attr & 0xa) === 8 : (attr & 0xa) !== 2) ok = false;
        else if ((attr & 0xc) !== 0xc && (dpl < c.cpl || dpl < (sel & 3))) ok = false;
      }
      c.setArith(F.ZF, ok ? F.ZF : 0);
      return;
    }
    default:
      c.ud();
  }
}

/** 0F 01: SGDT, SIDT, LGDT, LIDT, SMSW, LMSW, INVLPG. */
export function grp7(c: Cpu): void {
  c.modrm();
  const op = (c.m >> 3) & 7;
  switch (op) {
    case 0: case 1: {
      if (c.m >= 0xc0) c.ud();
      const base = op === 0 ? c.gdtBase : c.idtBase;
      c.wr16(c.eaSeg, c.ea, op === 0 ? c.gdtLimit : c.idtLimit);
      c.wr32(c.eaSeg, c.eaPlus(2), c.o32 ? base : base & 0xffffff);
      return;
    }
    case 2: case 3: {
      if (c.m >= 0xc0) c.ud();
      if (c.cpl !== 0) c.gp(0);
      const limit = c.rd16(c.eaSeg, c.ea);
      let base = c.rd32(c.eaSeg, c.eaPlus(2));
      if (!c.o32) base &= 0xffffff;
      if (op === 2) { c.gdtBase = base; c.gdtLimit = limit; } else { c.idtBase = base; c.idtLimit = limit; }
      return;
    }
    case 4:
      if (c.m >= 0xc0 && c.o32) c.r32[c.m & 7] = c.cr0;
      else c.writeE(1, c.cr0 & 0xffff);
      return;
    case 6: {
      if (c.cpl !== 0) c.gp(0);
      const v = c.readE16();
      // LMSW can set PE but not clear it.
      setCr0(c, (c.cr0 & ~0xe) | (v & 0xf) | (c.cr0 & Cr0Bit.PE));
      return;
    }
    case 7:
      if (c.m >= 0xc0) c.ud();
      if (c.cpl !== 0) c.gp(0);
      c.invlpg((c.segBase[c.eaSeg] + c.ea) | 0);
      return;
    default:
      c.ud();
  }
}

/** 0F 02 LAR / 0F 03 LSL. */
export function larLsl(c: Cpu, lsl: boolean): void {
  if (!c.pe || c.vm) c.ud();
  c.modrm();
  const sel = c.readE16();
  const reg = (c.m >> 3) & 7;
  let ok = (sel & 0xfffc) !== 0 && readDesc(c, sel);
  let attr = 0;
  if (ok) {
    attr = descAttr(dHi);
    const dpl = dplOf(attr);
    if ((attr & 0x10) === 0) {
      const t = attr & 0xf;
      const valid = lsl ? t === 1 || t === 2 || t === 3 || t === 9 || t === 11
        : t === 1 || t === 2 || t === 3 || t === 4 || t === 5 || t === 9 || t === 11 || t === 12;
      if (!valid || dpl < c.cpl || dpl < (sel & 3)) ok = false;
    } else if ((attr & 0xc) !== 0xc && (dpl < c.cpl || dpl < (sel & 3))) ok = false;
  }
  if (ok) {
    const v = lsl ? descLimit(dLo, dHi) : dHi & 0x00ffff00;
    c.setReg(c.o32 ? 2 : 1, reg, c.o32 ? v : v & 0xffff);
  }
  c.setArith(F.ZF, ok ? F.ZF : 0);
}

export function arpl(c: Cpu): void {
  if (!c.pe || c.vm) c.ud();
  c.modrm();
  const dst = c.readE16();
  const src = c.r16[((c.m >> 3) & 7) << 1];
  if ((dst & 3) < (src & 3)) {
    c.writeE(1, (dst & ~3) | (src & 3));
    c.setArith(F.ZF, F.ZF);
  } else c.setArith(F.ZF, 0);
}

export function setCr0(c: Cpu, v: number): void {
  const old = c.cr0;
  // ET is hardwired to 1 on the 486 and later.
  c.cr0 = (v | Cr0Bit.ET) | 0;
  if ((old ^ c.cr0) & Cr0Bit.AM) c.setCpl(c.cpl);
  if ((old ^ c.cr0) & (Cr0Bit.PE | Cr0Bit.PG | Cr0Bit.WP)) {
    c.modeChanged();
    c.flushTlb();
  }
}

/** 0F 20-23: MOV to/from CRn and DRn; 0F 24/26: the 386 test registers TR6/TR7. */
export function movCrDr(c: Cpu, op: number): void {
  if (c.cpl !== 0) c.gp(0);
  const m = c.fetch8();
  const n = (m >> 3) & 7;
  const r = m & 7;
  switch (op) {
    case 0x20:
      if (n === 0) c.r32[r] = c.cr0;
      else if (n === 2) c.r32[r] = c.cr2;
      else if (n === 3) c.r32[r] = c.cr3;
      else if (n === 4) c.r32[r] = c.cr4;
      else c.ud();
      return;
    case 0x22: {
      const v = c.r32[r];
      if (n === 0) {
        if ((v & Cr0Bit.PG) !== 0 && (v & Cr0Bit.PE) === 0) c.gp(0);
        if ((v & Cr0Bit.NW) !== 0 && (v & Cr0Bit.CD) === 0) c.gp(0);
        setCr0(c, v);
      } else if (n === 2) c.cr2 = v;
      else if (n === 3) {
        c.cr3 = v;
        c.flushTlb();
      } else if (n === 4) {
        if (v & ~(Cr4Bit.TSD | Cr4Bit.PSE)) c.gp(0);
        if ((c.cr4 ^ v) & Cr4Bit.PSE) c.flushTlb();
        c.cr4 = v;
      } else c.ud();
      return;
    }
    case 0x21: case 0x23: {
      if (c.dr[7] & 0x2000) {
        // DR7.GD: the guest's debugger guards its registers. #DB (a fault) with DR6.BD.
        c.dr[7] &= ~0x2000;
        c.dr[6] |= 0x2000;
        c.fault(Vec.DB, -1);
      }
      const d = n === 4 ? 6 : n === 5 ? 7 : n; // DR4/DR5 alias DR6/DR7 (no CR4.DE)
      if (op === 0x21) c.r32[r] = c.dr[d];
      else {
        const v = c.r32[r];
        c.dr[d] = d === 6 ? (v & 0xe00f) | 0xffff0ff0 : d === 7 ? v | 0x400 : v;
        c.debugRegsChanged();
      }
      return;
    }
    case 0x24:
      if (n < 3) c.ud();
      c.r32[r] = c.tr[n];
      return;
    default:
      if (n < 3) c.ud();
      c.tr[n] = c.r32[r];
  }
}

/**
 * Model-specific registers: the TSC (0x10), and the two every family-6 Intel part has and
 * that kernels touch without asking CPUID: IA32_PLATFORM_ID (0x17) and IA32_BIOS_SIGN_ID
 * (0x8B, the microcode revision), both 0 here; IA32_APIC_BASE (0x1B) when there is a local
 * APIC. Anything else is #GP(0).
 */
export const MSR_TSC = 0x10;
export const MSR_PLATFORM_ID = 0x17;
export const MSR_BIOS_SIGN_ID = 0x8b;
/** IA32_APIC_BASE, when the CPU has a local APIC. */
export const MSR_APIC_BASE = 0x1b;

export function rdmsr(c: Cpu, msr: number): void {
  let lo = 0;
  let hi = 0;
  if (msr === MSR_TSC) {
    const t = c.tsc();
    lo = t % 0x100000000;
    hi = Math.floor(t / 0x100000000);
  } else if (msr === MSR_APIC_BASE && c.apic) lo = c.apic.baseMsr.read() | 0;
  else if (msr !== MSR_PLATFORM_ID && msr !== MSR_BIOS_SIGN_ID) c.gp(0);
  c.r32[Reg.EAX] = lo;
  c.r32[Reg.EDX] = hi;
}

export function wrmsr(c: Cpu, msr: number, hi: number, lo: number): void {
  if (msr === MSR_TSC) c.setTsc((hi >>> 0) * 0x100000000 + (lo >>> 0));
  else if (msr === MSR_APIC_BASE && c.apic) c.apic.baseMsr.write(lo >>> 0);
  else if (msr !== MSR_BIOS_SIGN_ID) c.gp(0); // writing 0x8B asks for the revision: accepted
}
