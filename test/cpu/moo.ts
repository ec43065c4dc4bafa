// Reader and runner for the SingleStepTests 80286 real-mode suite (MOO files): see
// ../shared/testdata/sst80286/README.md for the format and the rules applied here.
// Used by moo-runner.ts (the `npm run cpu-tests` CLI) and by moo.test.ts (a fast slice).

import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DebugTables } from '../../src/core/debug/DebugTables.js';
import { GuestMemory } from '../../src/core/memory/GuestMemory.js';
import type { CpuState, SegmentCache } from '../../src/core/vcpu/CpuState.js';
import { ExitReason, IoDir } from '../../src/core/vcpu/VcpuBackend.js';
import { InterpVcpu } from '../../src/core/vcpu/interp/InterpVcpu.js';
import type { JitOptions } from '../../src/core/vcpu/interp/jit.js';

export const DEFAULT_MOO_DIR = new URL('../../../shared/testdata/sst80286', import.meta.url).pathname;

/** Register order of the REGS chunk's bit mask. */
const REG_NAMES = ['ax', 'bx', 'cx', 'dx', 'cs', 'ss', 'ds', 'es', 'sp', 'bp', 'si', 'di', 'ip', 'flags'] as const;
type RegName = (typeof REG_NAMES)[number];
type Regs = Record<RegName, number>;

export interface MooTest {
  index: number;
  name: string;
  bytes: Uint8Array;
  init: { regs: Regs; ram: [number, number][] };
  final: { regs: Partial<Regs>; ram: [number, number][] };
  excp?: { vector: number; flagsAddr: number };
  hash: string;
  hashOk: boolean;
}

export interface MooFile {
  file: string;
  opcode: number;
  mnemonic: string;
  tests: MooTest[];
}

function chunks(buf: Buffer, start: number, end: number): { tag: string; at: number; len: number }[] {
  const out: { tag: string; at: number; len: number }[] = [];
  for (let p = start; p + 8 <= end; ) {
    const len = buf.readUInt32LE(p + 4);
    out.push({ tag: buf.toString('latin1', p, p + 4), at: p + 8, len });
    p += 8 + len;
  }
  return out;
}

function parseRegs(buf: Buffer, at: number): Partial<Regs> {
  const mask = buf.readUInt16LE(at);
  const regs: Partial<Regs> = {};
  let p = at + 2;
  for (let i = 0; i < 14; i++) {
    if (mask & (1 << i)) {
      regs[REG_NAMES[i]] = buf.readUInt16LE(p);
      p += 2;
    }
  }
  return regs;
}

function parseRam(buf: Buffer, at: number): [number, number][] {
  const n = buf.readUInt32LE(at);
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) out.push([buf.readUInt32LE(at + 4 + i * 5), buf[at + 8 + i * 5]]);
  return out;
}

function parseState(buf: Buffer, at: number, len: number): { regs: Partial<Regs>; ram: [number, number][] } {
  let regs: Partial<Regs> = {};
  let ram: [number, number][] = [];
  for (const c of chunks(buf, at, at + len)) {
    if (c.tag === 'REGS') regs = parseRegs(buf, c.at);
    else if (c.tag === 'RAM ') ram = parseRam(buf, c.at);
  }
  return { regs, ram };
}

export function readMooFile(path: string): MooFile {
  const buf = gunzipSync(readFileSync(path));
  if (buf.toString('latin1', 0, 4) !== 'MOO ') throw new Error(`${path}: not a MOO file`);
  const file = path.split('/').pop()!.replace(/\.MOO\.gz$/, '');
  let opcode = 0;
  let mnemonic = '';
  const tests: MooTest[] = [];
  for (const c of chunks(buf, 0, buf.length)) {
    if (c.tag === 'META') {
      opcode = buf.readUInt32LE(c.at + 3);
      mnemonic = buf.toString('latin1', c.at + 7, c.at + 15).trim();
    } else if (c.tag === 'TEST') {
      const t: Partial<MooTest> = { index: buf.readUInt32LE(c.at) };
      const hashed: Buffer[] = [buf.subarray(c.at, c.at + 4)];
      for (const s of chunks(buf, c.at + 4, c.at + c.len)) {
        if (s.tag !== 'HASH') hashed.push(buf.subarray(s.at - 8, s.at + s.len));
        switch (s.tag) {
          case 'NAME': t.name = buf.toString('latin1', s.at + 4, s.at + 4 + buf.readUInt32LE(s.at)); break;
          case 'BYTS': t.bytes = new Uint8Array(buf.subarray(s.at + 4, s.at + 4 + buf.readUInt32LE(s.at))); break;
          case 'INIT': t.init = parseState(buf, s.at, s.len) as MooTest['init']; break;
          case 'FINA': t.final = parseState(buf, s.at, s.len); break;
          case 'EXCP': t.excp = { vector: buf[s.at], flagsAddr: buf.readUInt32LE(s.at + 1) }; break;
          case 'HASH': t.hash = buf.subarray(s.at, s.at + 20).toString('hex'); break;
        }
      }
      t.hashOk = createHash('sha1').update(Buffer.concat(hashed)).digest('hex') === t.hash;
      tests.push(t as MooTest);
    }
  }
  return { file, opcode, mnemonic, tests };
}

export function readRevocations(dir: string): Set<string> {
  const p = join(dir, 'revocation_list.txt');
  if (!existsSync(p)) return new Set();
  return new Set(readFileSync(p, 'utf8').split('\n').map((l) => l.trim().toLowerCase()).filter((l) => /^[0-9a-f]{40}$/.test(l)));
}

// ---- undefined flags (README, "Undefined flags") ----

const OF = 0x800, SF = 0x80, ZF = 0x40, AF = 0x10, PF = 0x04, CF = 0x01;

/** The opcode, ModR/M reg field and shift count of the instruction (after its prefixes). */
function decode(t: MooTest): { op: number; reg: number; imm: number } {
  const b = t.bytes;
  let i = 0;
  while ([0x26, 0x2e, 0x36, 0x3e, 0xf0, 0xf2, 0xf3].includes(b[i])) i++;
  const op = b[i];
  const reg = (b[i + 1] >> 3) & 7;
  return { op, reg, imm: b[b.length - 2] };
}

/** Flags the chip leaves undefined for this test (bits to ignore). */
export function undefinedFlags(t: MooTest): number {
  const { op, reg, imm } = decode(t);
  const logic = (aop: number): boolean => aop === 1 || aop === 4 || aop === 6;
  if (op < 0x40 && (op & 7) < 6 && logic(op >> 3)) return AF;
  if (op === 0x84 || op === 0x85 || op === 0xa8 || op === 0xa9) return AF;
  if (op >= 0x80 && op <= 0x83 && logic(reg)) return AF;
  if ((op === 0xf6 || op === 0xf7) && reg < 2) return AF;
  if (op === 0xd0 || op === 0xd1) return reg >= 4 ? AF : 0;
  if (op === 0xd2 || op === 0xd3 || op === 0xc0 || op === 0xc1) {
    if (reg < 4) return OF;
    const count = (op === 0xd2 || op === 0xd3 ? t.init.regs.cx & 0xff : imm) & 0x1f;
    const width = op & 1 ? 16 : 8;
    return OF | AF | (count >= width ? CF : 0);
  }
  if ((op === 0xf6 || op === 0xf7) && (reg === 4 || reg === 5)) return SF | ZF | AF | PF;
  if (op === 0x69 || op === 0x6b) return SF | ZF | AF | PF;
  if ((op === 0xf6 || op === 0xf7) && reg >= 6) return OF | SF | ZF | AF | PF | CF;
  if (op === 0x37 || op === 0x3f) return OF | SF | ZF | PF;
  if (op === 0xd4 || op === 0xd5) return OF | AF | CF;
  if (op === 0x27 || op === 0x2f) return OF;
  return 0;
}

// ---- running ----

export interface MooResult {
  pass: boolean;
  diffs: string[];
  /** Vectors the interpreter delivered (seen through the debugger's vector catch). */
  vectors: number[];
}

const RAM_SIZE = 0x110000;

/** One CPU and memory, reused for every test. */
export class MooRig {
  readonly mem = GuestMemory.create(RAM_SIZE);
  readonly cpu: InterpVcpu;

  /**
   * @param compat286 the interpreter's 286 profile (LOCK accepted anywhere, no IOPL/NT in
   * real mode), as the suite was recorded on a 286; false runs plain 386 semantics.
   */
  /**
   * ...and `jit`: the block compiler's options; { threshold: 1 } runs every test's instruction
   * through a compiled block wherever the compiler takes it.
   */
  constructor(compat286 = true, jit: JitOptions | false = {}) {
    this.mem.mapRam(0, RAM_SIZE);
    this.cpu = new InterpVcpu(this.mem, new Int32Array(new SharedArrayBuffer(4)), new DebugTables(), { compat286, jit });
  }

  run(t: MooTest): MooResult {
    const mem = this.mem;
    mem.u8.fill(0);
    for (const [a, v] of t.init.ram) if (a < RAM_SIZE) mem.u8[a] = v;
    // The bytes changed behind the CPU: drop compiled blocks (and the TLB).
    this.cpu.flushTlb();
    const r = t.init.regs;
    const seg = (sel: number, attr = 0x93): SegmentCache => ({ selector: sel, base: sel << 4, limit: 0xffff, attr });
    const st: CpuState = {
      eax: r.ax, ecx: r.cx, edx: r.dx, ebx: r.bx, esp: r.sp, ebp: r.bp, esi: r.si, edi: r.di,
      eip: r.ip, eflags: (r.flags & 0x0fff) | 2,
      es: seg(r.es), cs: seg(r.cs, 0x9b), ss: seg(r.ss), ds: seg(r.ds), fs: seg(0), gs: seg(0),
      ldtr: { selector: 0, base: 0, limit: 0xffff, attr: 0x82 }, tr: { selector: 0, base: 0, limit: 0xffff, attr: 0x8b },
      gdtr: { base: 0, limit: 0xffff }, idtr: { base: 0, limit: 0x3ff },
      cr0: 0x10, cr2: 0, cr3: 0, cr4: 0, dr: [0, 0, 0, 0, 0xffff0ff0, 0x400], tsc: 0, msrs: {},
      halted: false, interruptShadow: false, nmiPending: false, icount: 0,
    };
    const cpu = this.cpu;
    cpu.setState(st);
    cpu.setGuestDebug({ singleStep: false, catchAllVectors: true });
    const diffs: string[] = [];
    const vectors: number[] = [];
    let done = false;
    for (let i = 0; i < 1000 && !done; i++) {
      const why = cpu.run(1000);
      const x = cpu.exit;
      switch (why) {
        case ExitReason.HLT: done = true; break;
        case ExitReason.DEBUG:
          if (x.debug === 'vector') vectors.push(x.vector);
          break;
        case ExitReason.IO: case ExitReason.MMIO:
          if (x.dir === IoDir.READ) {
            x.data.fill(0xff, 0, x.size * x.count);
            cpu.completeIo();
          }
          break;
        case ExitReason.INTR: break;
        default:
          diffs.push(`exit ${why} ${x.message}`);
          done = true;
      }
    }
    if (!done) diffs.push('no HLT');
    const s = cpu.getState();
    const undef = undefinedFlags(t);
    const got: Regs = {
      ax: s.eax & 0xffff, bx: s.ebx & 0xffff, cx: s.ecx & 0xffff, dx: s.edx & 0xffff,
      cs: s.cs.selector, ss: s.ss.selector, ds: s.ds.selector, es: s.es.selector,
      sp: s.esp & 0xffff, bp: s.ebp & 0xffff, si: s.esi & 0xffff, di: s.edi & 0xffff,
      ip: s.eip & 0xffff, flags: s.eflags & 0xffff,
    };
    for (const name of REG_NAMES) {
      let want = t.final.regs[name] ?? r[name];
      if (name === 'flags') want = (want & 0x0fff) | 2;
      let have = got[name];
      if (name === 'flags') {
        want &= ~undef;
        have &= ~undef;
      }
      if (want !== have) diffs.push(`${name} ${hex4(have)} want ${hex4(want)}`);
    }
    for (const [a, v] of t.final.ram) {
      let want = v;
      let have = a < RAM_SIZE ? mem.u8[a] : -1;
      // The pushed FLAGS word: EXCP gives its address rounded down to even when SP is odd,
      // so take it from SS:SP-2 as pushed.
      const fa = (r.ss << 4) + ((r.sp - 2) & 0xffff);
      if (t.excp && undef && (a === fa || a === fa + 1)) {
        const m = a === fa ? undef & 0xff : undef >> 8;
        want &= ~m;
        have &= ~m;
      }
      if (want !== have) diffs.push(`[${a.toString(16)}] ${hex2(have)} want ${hex2(want)}`);
    }
    return { pass: diffs.length === 0, diffs, vectors };
  }
}

/**
 * Why a test fails for a reason the suite's 80286 and a 386 do not share, or null. These are
 * the only failures the interpreter is expected to have (see the runner's summary).
 */
export function known286Difference(t: MooTest, res: MooResult): string | null {
  const body = t.bytes.length - 1; // without the trailing HLT
  if (res.vectors[0] === 6 && t.bytes.subarray(0, body).includes(0xf0) && t.excp?.vector !== 6) {
    return 'LOCK on an instruction that cannot be locked: ignored by the 286, #UD on a 386';
  }
  if ((decode(t).op === 0x9d) && ((t.final.regs.flags ?? 0) & 0xf000) === 0) {
    const d = res.diffs.find((x) => x.startsWith('flags '));
    if (d && /^flags [0-9a-f]{4} want [0-9a-f]{4}$/.test(d) && (parseInt(d.slice(6, 10), 16) & 0x7000) !== 0) {
      return 'POPF in real mode: a 386 sets IOPL/NT, a 286 cannot';
    }
  }
  if (body > 10) return 'longer than 10 bytes: #GP on the 286, allowed up to 15 on a 386';
  if (/\b[fg]s\b/.test(t.name)) return 'FS/GS: no such registers on the 286 (#UD there)';
  const { op } = decode(t);
  if (t.excp?.vector === 13 && [0xa5, 0xa7, 0xab, 0xad, 0xaf, 0x6d, 0x6f].includes(op) && !res.vectors.includes(13)) {
    return 'word string op at offset FFFF: the 286 advances SI/DI before its fault, a 386 restarts cleanly';
  }
  if (t.excp?.vector === 13 && res.vectors[0] === 12) {
    return 'SS-relative word at offset FFFF: INT 13 on this 286, #SS (12) on a 386 as the SDM says';
  }
  if (t.excp?.vector === 13 && [0xa5, 0xa7, 0xab, 0xad, 0xaf, 0x6d, 0x6f].includes(op)) {
    return 'word string op at offset FFFF: the 286 advances SI/DI before its fault, a 386 restarts cleanly';
  }
  return null;
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

export interface FileSummary {
  file: string;
  mnemonic: string;
  passed: number;
  failed: number;
  skipped: number;
  failures: { index: number; name: string; bytes: string; diffs: string[]; why: string | null }[];
}

export function mooFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.MOO.gz')).sort().map((f) => join(dir, f));
}

/** Runs the tests of one file (the first `limit` of them when given). */
export function runMooFile(rig: MooRig, path: string, revoked: Set<string>, limit = Infinity): FileSummary {
  const f = readMooFile(path);
  const sum: FileSummary = { file: f.file, mnemonic: f.mnemonic, passed: 0, failed: 0, skipped: 0, failures: [] };
  for (const t of f.tests.slice(0, limit)) {
    if (revoked.has(t.hash)) {
      sum.skipped++;
      continue;
    }
    if (!t.hashOk) {
      sum.failed++;
      sum.failures.push({ index: t.index, name: t.name, bytes: '', diffs: ['SHA-1 mismatch: corrupt test'], why: null });
      continue;
    }
    const res = rig.run(t);
    if (res.pass) sum.passed++;
    else {
      sum.failed++;
      sum.failures.push({
        index: t.index, name: t.name, bytes: Buffer.from(t.bytes).toString('hex'), diffs: res.diffs,
        why: known286Difference(t, res),
      });
    }
  }
  return sum;
}
