// The block compiler (issue 9): hot guest code becomes JavaScript functions.
//
// A block is a straight run of guest instructions in one 4 KiB page, entered at its first
// instruction. Conditional branches inside it are side exits; a branch back to its first
// instruction loops inside the function; it ends at an unconditional transfer, at the first
// instruction it does not compile (which the interpreter then executes), at the page end, or
// after MAX_INSNS. `new Function` turns it into JavaScript with the guest registers in locals
// and the flags lazy, as in the interpreter (cpu.ts): a flag-setting instruction keeps its
// operands and result in the locals fa/fb/fr, and which operation produced them is known when
// the code is generated, so a Jcc right after a CMP is one comparison of two locals.
//
// What stays exactly as in the interpreter, and how:
// - Blocks run only on the fast path (Cpu.slow is false): single-step, breakpoints, pending
//   interrupts, the shadow, TF, pending exits and restarts all go through Cpu._slowStep and the
//   interpreter, one instruction at a time.
// - Memory accesses use the same TLB test inline (and the Cpu's own rd/wr methods when it
//   fails), so faults, MMIO/ROM exits, watchpoints and data breakpoints behave the same. Only
//   a failed test can set Cpu.slow, so it also sets the block's local `sl`, and the block
//   looks at Cpu.slow after an instruction only when `sl` says so. Before a call that can
//   fault, the block stores the instruction's EIP in Cpu.ipStart; registers and flags are
//   written only after an instruction's last access that can fault, so the catch handler can
//   put back the state before that instruction (registers from the locals, the lazy flags of
//   the producer before it, icount of the instructions retired) and rethrow: Cpu._onThrow
//   then does what it does for the interpreter (restore EIP/ESP, deliver, exit).
// - A slow-path access that leaves Cpu.slow set (a queued MMIO/ROM write, a watch hit, a
//   data breakpoint, code invalidated) ends the block after that instruction. A device write
//   that is its instruction's last access that can fault (a MOV or STOS to memory, the write
//   of a read-modify-write) is not queued: it goes to the trap fast path from the write
//   itself (Cpu.wrLast), as an OUT does, so a posted write leaves Cpu.slow as it was.
// - The budget is exact: a block runs only when all of it fits, and loops only while another
//   pass fits, so icount is the interpreter's. (The look at the kick between blocks may come
//   up to one block late: Cpu._jitStep.)
// - Self-modifying code: a page code was compiled from is marked (Jit.pageCode); the TLB then
//   sends every write to it to the slow path (Tlb.CODE), which drops the blocks whose bytes it
//   overlaps and sets Cpu.slow, so a block that rewrote its own next instruction stops there.
//   Writes from other threads (DMA, the monitor) go through GuestMemory.write, which marks the
//   page in the shared GuestMemory.code; the dispatcher looks at MemCtl.CODE_WRITES.
//
// Blocks are keyed by the host offset of their first byte (so paging and A20 need no
// flush: another mapping of the same bytes finds the same block), their EIP (jump targets are
// CS offsets), and the mode bits that change decoding (CS.D, SS.B). The dispatcher also
// checks the CS limit against the highest offset the block relies on.

import type { GuestMemory } from '../../memory/GuestMemory.js';
import { MemCtl } from '../../memory/GuestMemory.js';
import type { Cpu } from './cpu.js';

/** Lf's values (cpu.ts), for the generated code. */
const enum Lf { ZSP = 1, LOGIC = 2, ADD = 3, ADC = 4, SUB = 5, SBB = 6, INC = 7, DEC = 8 }

/** A compiled block: retires instructions on `c` (at most `budget`) and returns how many. */
export type BlockFn = (c: Cpu, budget: number) => number;

export class Block {
  constructor(
    /** Host offset of the first byte; -1 once invalidated. */
    public host: number,
    public eip: number,
    /** Jit.modeKey() it was compiled for. */
    public key: number,
    /** Highest CS offset the block fetches from or jumps to without a check. */
    public lim: number,
    /** Most instructions one pass retires (the budget it needs). */
    public n: number,
    /** null: the first instruction is not compiled (the interpreter runs it). */
    public fn: BlockFn | null,
    /** Host offset after its last byte. */
    public end: number,
    /** Its slot in Jit.cache. */
    public idx: number,
  ) {}
}

/** The empty slot (and what the dispatcher runs when nothing is compiled: nothing). */
export const DEAD_BLOCK = new Block(-1, -1, -1, 0, 0, null, 0, 0);
const DEAD = DEAD_BLOCK;

export const CACHE_BITS = 16;
const CACHE_MASK = (1 << CACHE_BITS) - 1;
const MAX_INSNS = 32;
/**
 * Executions of a block entry before it is compiled. A compile costs a few hundred µs (the
 * generator, then V8 parsing, and the first runs of the new function in V8's own bytecode
 * interpreter, slower than ours), about what interpreting a short block a thousand times
 * costs. Firmware runs much of its code only a few times: at 16, SeaBIOS -> GRUB -> kernel
 * spent 2.8-3.7 s compiling code it hardly ran; at 1024, 2.1-2.4 s.
 */
const HOT_THRESHOLD = 1024;
/** Invalidations of one page after which code there is only interpreted. */
const SMC_LIMIT = 200;

/** 1 when the byte has even parity (PF). */
const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i;
  b ^= b >> 4; b ^= b >> 2; b ^= b >> 1;
  PARITY[i] = (b & 1) ^ 1;
}

export interface JitOptions {
  /** Executions of a block entry before it is compiled (1: compile at once; tests use it). */
  threshold?: number;
}

const jits = new WeakMap<ArrayBufferLike, Jit>();

/** The compiled code of one guest memory, shared by every CPU of the thread. */
export class Jit {
  /** Direct-mapped: slot (hash of the host offset) -> block. */
  readonly cache: Block[] = new Array<Block>(1 << CACHE_BITS).fill(DEAD);
  /** Executions of uncompiled entries, by slot. */
  readonly hot = new Uint16Array(1 << CACHE_BITS);
  /** Per host page: 1 when blocks were compiled from it (writes then take the slow path). */
  readonly pageCode: Uint8Array;
  /** Per host page: which 128-byte pieces hold compiled bytes (a quick filter for writes). */
  private readonly _chunks: Int32Array;
  private readonly _smc: Uint16Array;
  private readonly _pages = new Map<number, Block[]>();
  private readonly _cpus: Cpu[] = [];
  private readonly _shared: Uint8Array;
  private readonly _ctl: Int32Array;
  private _codeWritesSeen = 0;
  readonly threshold: number;
  /** Blocks compiled, invalidated (statistics, and what the tests look at). */
  compiled = 0;
  invalidated = 0;

  private constructor(mem: GuestMemory, opts: JitOptions) {
    const pages = Math.ceil(mem.u8.length / 4096);
    this.pageCode = new Uint8Array(pages);
    this._chunks = new Int32Array(pages);
    this._smc = new Uint16Array(pages);
    this._shared = mem.code;
    this._ctl = mem.ctl;
    this.threshold = Math.max(1, opts.threshold ?? HOT_THRESHOLD);
    this._codeWritesSeen = Atomics.load(this._ctl, MemCtl.CODE_WRITES);
  }

  /** The Jit of this memory (one per thread and guest memory). */
  static for(mem: GuestMemory, cpu: Cpu, opts: JitOptions = {}): Jit {
    let j = jits.get(mem.u8.buffer);
    if (!j) {
      j = new Jit(mem, opts);
      jits.set(mem.u8.buffer, j);
    }
    j._cpus.push(cpu);
    return j;
  }

  /** The decoding mode a block depends on: CS.D and SS.B. */
  static modeKey(c: Cpu): number {
    return (c.cs32 ? 1 : 0) | (c.ss32 ? 2 : 0);
  }

  static slot(host: number): number {
    return (host ^ (host >>> 12) ^ (host >>> 24)) & CACHE_MASK;
  }

  /**
   * Writes from another thread (GuestMemory.write) landed on code pages: drop their blocks.
   * Called by the dispatcher before it looks a block up.
   */
  checkShared(): void {
    // A plain load: this runs before every block, and Atomics.load is a call into V8's
    // runtime (not inlined), which cost as much as a short block. The writer bumps the
    // counter with an atomic add after its bytes, and the x86 loads that follow (the
    // block's own bytes) are not reordered before this one; a bump seen one block late is
    // what any other thread's write would be.
    const seq = this._ctl[MemCtl.CODE_WRITES];
    if (seq === this._codeWritesSeen) return;
    this._codeWritesSeen = seq;
    for (const p of [...this._pages.keys()]) {
      if (Atomics.load(this._shared, p) !== 2) continue;
      this._dropPage(p);
      Atomics.compareExchange(this._shared, p, 2, 0);
      this.pageCode[p] = 0;
      this._chunks[p] = 0;
    }
  }

  /**
   * The CPU `c` wrote `size` bytes at host offset `a` of a code page (one page): drop the
   * blocks the write overlaps, and make `c` leave the block it may be running.
   */
  written(c: Cpu, a: number, size: number): void {
    const p = a >>> 12;
    const off = a & 4095;
    const last = Math.min(off + size - 1, 4095);
    const m = this._chunks[p];
    if ((m & ((1 << (off >>> 7)) | (1 << (last >>> 7)))) === 0) return;
    const list = this._pages.get(p);
    if (!list) return;
    let hit = false;
    for (let i = list.length - 1; i >= 0; i--) {
      const b = list[i];
      if (a < b.end && b.host < a + size) {
        this._kill(b);
        list.splice(i, 1);
        hit = true;
      }
    }
    if (!hit) return;
    c.slow = true;
    this._rechunk(p, list);
    if (++this._smc[p] >= SMC_LIMIT) {
      // Code that keeps rewriting itself: interpret this page from now on.
      this._dropPage(p);
    }
  }

  /** Drops every block (guest memory was changed behind the CPU's back, e.g. by a test). */
  invalidateAll(): void {
    for (const p of [...this._pages.keys()]) {
      this._dropPage(p);
      this._smc[p] = 0;
    }
    this.hot.fill(0);
  }

  private _dropPage(p: number): void {
    const list = this._pages.get(p);
    if (list) for (const b of list) this._kill(b);
    this._pages.delete(p);
    this._chunks[p] = 0;
  }

  private _kill(b: Block): void {
    if (this.cache[b.idx] === b) {
      this.cache[b.idx] = DEAD;
      this.hot[b.idx] = 0;
    }
    b.host = -1;
    b.fn = null;
    this.invalidated++;
  }

  private _rechunk(p: number, list: Block[]): void {
    let m = 0;
    for (const b of list) {
      const s = (b.host & 4095) >>> 7;
      const e = ((b.end - 1) & 4095) >>> 7;
      for (let k = s; k <= e; k++) m |= 1 << k;
    }
    this._chunks[p] = m;
  }

  /** Compiles the block at host offset `host` (CS offset `eip`) for `c`, and caches it. */
  compile(c: Cpu, host: number, eip: number, idx: number): Block {
    const p = host >>> 12;
    const key = Jit.modeKey(c);
    let b: Block;
    if (this._smc[p] >= SMC_LIMIT) {
      b = new Block(host, eip, key, 0, 0, null, host + 1, idx);
    } else {
      this._protect(p);
      const g = new Gen(c.u8, host, eip, c.cs32, c.ss32, c.segLim[1]);
      const r = g.run();
      if (r === null) b = new Block(host, eip, key, 0, 0, null, host + 1, idx);
      else {
        b = new Block(host, eip, key, r.lim, r.n, r.fn, r.end, idx);
        this.compiled++;
      }
    }
    const old = this.cache[idx];
    if (old !== DEAD) this._unlist(old);
    this.cache[idx] = b;
    let list = this._pages.get(p);
    if (!list) this._pages.set(p, (list = []));
    list.push(b);
    this._rechunk(p, list);
    return b;
  }

  private _unlist(b: Block): void {
    const p = b.host >>> 12;
    const list = this._pages.get(p);
    if (!list) return;
    const i = list.indexOf(b);
    if (i >= 0) list.splice(i, 1);
    b.host = -1;
    b.fn = null;
  }

  /** Marks a host page as holding code, before its bytes are read (see GuestMemory.code). */
  private _protect(p: number): void {
    if (this.pageCode[p] !== 0) return;
    this.pageCode[p] = 1;
    Atomics.compareExchange(this._shared, p, 0, 1);
    for (const c of this._cpus) c.protectCodePage(p);
  }
}

// =====================================================================================
// Code generation
// =====================================================================================

/** Thrown while decoding: the instruction is not compiled. */
const BAIL = { bail: true };

/** Placeholders resolved when the block is complete (see Gen._produced). */
const HS_MARK = '/*hs*/';
const CONT_MARK = '/*cont*/';
const CONT_END = '/*cont-end*/';
const CONT_RE = /\/\*cont\*\/.*?\/\*cont-end\*\//g;
/** CF read by an INC/DEC before the loop's first producer: from the carried state if pending. */
const HSCF_MARK = '/*hscf*/';

/**
 * The flag state at a point of the block: -1 when it is the CPU's (cpu.lop & co., as the
 * block found it or as a helper left it), else the producing operation (Lf) * 64 + sign bit.
 * Its operands are in the locals fa, fb, fr (+ fcf for INC/DEC, fco for ZSP, fl for ADC/SBB).
 */
type FState = number;
const ENTRY = -1;
const st = (lop: number, bits: number): FState => lop * 64 + bits;
const lopOf = (s: FState): number => s >> 6;
const bitsOf = (s: FState): number => s & 63;

/** Statements that store a flag state into the CPU's lazy-flag fields. */
function writeback(s: FState): string {
  if (s === ENTRY) return '';
  const lop = lopOf(s);
  const b = bitsOf(s);
  switch (lop) {
    case Lf.ZSP: return `fZsp(c, fr, fco, ${b}); `;
    case Lf.LOGIC: return `fLogic(c, fr, ${b}); `;
    case Lf.INC: case Lf.DEC: return `fIncDec(c, ${lop}, fa, fr, fcf, ${b}); `;
    case Lf.ADC: case Lf.SBB: return `fArith(c, fl, fa, fb, fr, ${b}); `;
    default: return `fArith(c, ${lop}, fa, fb, fr, ${b}); `;
  }
}

/**
 * Reads of the CPU's flags (state ENTRY) emitted so far: a block whose loop reads them before
 * its first flag producer keeps the flags in the CPU across iterations (see Gen.run).
 */
let entryReads = 0;

/** An expression that reads the CPU's flags, counted in entryReads. */
function fromCpu(expr: string): string {
  entryReads++;
  return expr;
}

/** CF as a 0/1 expression. */
function cfN(s: FState): string {
  if (s === ENTRY) return fromCpu('c.cf()');
  switch (lopOf(s)) {
    case Lf.ZSP: return '(fco & 1)';
    case Lf.LOGIC: return '0';
    case Lf.ADD: return '((fr >>> 0) < (fa >>> 0) ? 1 : 0)';
    case Lf.ADC: return '(fl === 4 ? ((fr >>> 0) <= (fa >>> 0) ? 1 : 0) : ((fr >>> 0) < (fa >>> 0) ? 1 : 0))';
    case Lf.SUB: return '((fa >>> 0) < (fb >>> 0) ? 1 : 0)';
    case Lf.SBB: return '(fl === 6 ? ((fa >>> 0) <= (fb >>> 0) ? 1 : 0) : ((fa >>> 0) < (fb >>> 0) ? 1 : 0))';
    default: return 'fcf';
  }
}

function zfN(s: FState): string {
  return s === ENTRY ? fromCpu('c.zf()') : '(fr === 0 ? 1 : 0)';
}

function sfN(s: FState): string {
  return s === ENTRY ? fromCpu('c.sf()') : `((fr >>> ${bitsOf(s)}) & 1)`;
}

function pfN(s: FState): string {
  return s === ENTRY ? fromCpu('c.pf()') : 'P[fr & 255]';
}

function ofN(s: FState): string {
  if (s === ENTRY) return fromCpu('c.of()');
  const b = bitsOf(s);
  switch (lopOf(s)) {
    case Lf.ZSP: return '((fco >> 11) & 1)';
    case Lf.LOGIC: return '0';
    case Lf.ADD: case Lf.ADC: case Lf.INC: return `((((fa ^ fr) & (fb ^ fr)) >>> ${b}) & 1)`;
    default: return `((((fa ^ fb) & (fa ^ fr)) >>> ${b}) & 1)`;
  }
}

/** Condition `cc` (Jcc/SETcc/CMOVcc encoding) as a boolean expression. */
function cond(s: FState, cc: number): string {
  if (s === ENTRY) return fromCpu(`c.cond(${cc})`);
  const lop = lopOf(s);
  const b = bitsOf(s);
  let e: string;
  const base = cc >> 1;
  if (lop === Lf.SUB && base !== 0 && base !== 4 && base !== 5) {
    // After CMP/SUB: compare the operands themselves.
    const sh = 31 - b;
    const sa = sh === 0 ? '(fa | 0)' : `(fa << ${sh})`;
    const sb = sh === 0 ? '(fb | 0)' : `(fb << ${sh})`;
    switch (base) {
      case 1: e = '(fa >>> 0) < (fb >>> 0)'; break;
      case 2: e = 'fr === 0'; break;
      case 3: e = '(fa >>> 0) <= (fb >>> 0)'; break;
      case 6: e = `${sa} < ${sb}`; break;
      default: e = `${sa} <= ${sb}`; break;
    }
  } else if (lop === Lf.LOGIC) {
    switch (base) {
      case 0: case 1: e = 'false'; break;
      case 2: case 3: e = 'fr === 0'; break;
      case 4: case 6: e = `${sfN(s)} !== 0`; break;
      case 5: e = `${pfN(s)} !== 0`; break;
      default: e = `(fr === 0 || ${sfN(s)} !== 0)`; break;
    }
  } else {
    switch (base) {
      case 0: e = `${ofN(s)} !== 0`; break;
      case 1: e = `${cfN(s)} !== 0`; break;
      case 2: e = 'fr === 0'; break;
      case 3: e = `(${cfN(s)} | ${zfN(s)}) !== 0`; break;
      case 4: e = `${sfN(s)} !== 0`; break;
      case 5: e = `${pfN(s)} !== 0`; break;
      case 6: e = `${sfN(s)} !== ${ofN(s)}`; break;
      default: e = `(fr === 0 || ${sfN(s)} !== ${ofN(s)})`; break;
    }
  }
  return cc & 1 ? `!(${e})` : `(${e})`;
}

const MASK = ['255', '65535', ''];

// ---- helpers the generated code calls ----
// A memory access is the TLB test of cpu.ts, inline in the generated code (Gen._rd, _wr), and
// when it fails one of these: the CPU's own method, after noting the instruction's EIP (ip)
// for a fault or an exit; s is the segment, o the offset. A read starts the instruction's
// record of device reads answered in place (frLen), unless `later` says an earlier read of
// the same instruction may be in it (CMPS: the code clears it).

function rd8(c: Cpu, s: number, o: number, ip: number, later?: 1): number {
  c.ipStart = ip;
  if (later === undefined) c.frLen = 0;
  return c.rd8(s, o);
}

function rd16(c: Cpu, s: number, o: number, ip: number, later?: 1): number {
  c.ipStart = ip;
  if (later === undefined) c.frLen = 0;
  return c.rd16(s, o);
}

function rd32(c: Cpu, s: number, o: number, ip: number, later?: 1): number {
  c.ipStart = ip;
  if (later === undefined) c.frLen = 0;
  return c.rd32(s, o);
}

function wr8(c: Cpu, s: number, o: number, v: number, ip: number): void {
  c.ipStart = ip;
  c.wr8(s, o, v);
}

function wr16(c: Cpu, s: number, o: number, v: number, ip: number): void {
  c.ipStart = ip;
  c.wr16(s, o, v);
}

function wr32(c: Cpu, s: number, o: number, v: number, ip: number): void {
  c.ipStart = ip;
  c.wr32(s, o, v);
}

// The same for a write that is its instruction's last access that can fault (a MOV to memory,
// STOS, the write of a read-modify-write): a device write it makes is delivered at once
// (Cpu.wrLast) instead of waiting in the write queue for the instruction's end, which is the
// same moment. _onThrow clears wrLast when the write faults instead.

function wr8n(c: Cpu, s: number, o: number, v: number, ip: number): void {
  c.ipStart = ip;
  c.wrLast = true;
  c.wr8(s, o, v);
  c.wrLast = false;
}

function wr16n(c: Cpu, s: number, o: number, v: number, ip: number): void {
  c.ipStart = ip;
  c.wrLast = true;
  c.wr16(s, o, v);
  c.wrLast = false;
}

function wr32n(c: Cpu, s: number, o: number, v: number, ip: number): void {
  c.ipStart = ip;
  c.wrLast = true;
  c.wr32(s, o, v);
  c.wrLast = false;
}

// Storing a flag state into the CPU's lazy-flag fields.
function fArith(c: Cpu, lop: number, a: number, b: number, r: number, bits: number): void {
  c.lop = lop; c.la = a; c.lb = b; c.lres = r; c.lbits = bits;
}

function fLogic(c: Cpu, r: number, bits: number): void {
  c.lop = Lf.LOGIC; c.lres = r; c.lbits = bits;
}

function fIncDec(c: Cpu, lop: number, a: number, r: number, cf: number, bits: number): void {
  c.flags = (c.flags & -2) | cf;
  c.lop = lop; c.la = a; c.lb = 1; c.lres = r; c.lbits = bits;
}

function fZsp(c: Cpu, r: number, coa: number, bits: number): void {
  c.flags = (c.flags & -2066) | coa;
  c.lop = Lf.ZSP; c.lres = r; c.lbits = bits;
}

/** A far-off jump target: #GP when it is beyond the CS limit. */
function limitCheck(c: Cpu, t: number, ip: number): void {
  if (t > c.segLim[1]) {
    c.ipStart = ip;
    c.gp(0);
  }
}

const HELPERS = { rd8, rd16, rd32, wr8, wr16, wr32, wr8n, wr16n, wr32n, fArith, fLogic, fIncDec, fZsp, limitCheck };
const HELPER_NAMES = Object.keys(HELPERS).join(', ');

/** The memory view of each access size, and the shift from a byte offset to its index. */
const ARR = ['U8', 'U16', 'I32'];
const SHIFT = ['', ' >> 1', ' >> 2'];

interface Ea {
  /** Register number for a register operand, or -1 for memory. */
  reg: number;
  seg: number;
  /** Offset expression (memory operands). */
  off: string;
}

interface Result {
  fn: BlockFn;
  n: number;
  lim: number;
  end: number;
}

/** One block's code generator: decodes from guest memory and emits JavaScript. */
class Gen {
  private _pos: number;
  private readonly _pageEnd: number;
  private _ip: number;
  private _body = '';
  private _cur = '';
  private _catch = '';
  private _regs = 0;
  private _dirty = 0;
  private _segs = 0;
  private _fs: FState = ENTRY;
  private _tmp = 0;
  private _n = 0;
  private _lim = 0;
  /** The current instruction's EIP, and whether it made a slow-path call (may end the block). */
  private _ip0 = 0;
  private _mem = false;
  /**
   * ...and whether that call can set Cpu.slow without setting the block's local `sl` (the
   * memory accesses set `sl` on their slow path, so the block looks at Cpu.slow only then).
   */
  private _slowCall = false;
  /** The current instruction emitted a call that can throw (it then needs a catch case). */
  private _throws = false;
  /** The current instruction ended the block. */
  private _ended = false;
  /**
   * Loop-carried flags. A block that loops to its start stores its flag state into the CPU
   * at every iteration (a helper call) unless the loop overwrites the flags before it reads
   * them: then `continue` only sets the local hs, and the exits, faults and helpers met before
   * the first producer store the loop's state (HS_MARK) if hs says it is pending.
   */
  private _produced = false;
  private _headReads = false;
  private readonly _loopStates = new Set<FState>();

  constructor(
    private readonly _u8: Uint8Array,
    private readonly _host: number,
    private readonly _eip: number,
    private readonly _cs32: boolean,
    private readonly _ss32: boolean,
    private readonly _csLim: number,
  ) {
    this._pos = _host;
    this._pageEnd = (_host & -4096) + 4096;
    this._ip = _eip;
  }

  run(): Result | null {
    for (let i = 0; i < MAX_INSNS; i++) {
      if (!this._insn(i)) break;
      this._n++;
      if (this._ended) break;
    }
    if (this._n === 0) return null;
    if (!this._ended) this._body += `${this._wb(this._fs)}nx = ${this._ip}; cnt = ${this._n}; break L;\n`;
    // Loop-carried flags when every loop-back has the same state and nothing read the CPU's
    // flags before the first producer; else each loop-back stores them, as every exit does.
    const carried = this._loopStates.size === 1 && !this._headReads ? [...this._loopStates][0] : ENTRY;
    const hs = carried === ENTRY ? '' : `if (hs !== 0) { hs = 0; ${writeback(carried)}} `;
    const hscf = carried === ENTRY ? 'c.cf()' : `(hs !== 0 ? ${cfN(carried)} : c.cf())`;
    let body = this._body.replace(/__N__/g, String(this._n)).split(HS_MARK).join(hs).split(HSCF_MARK).join(hscf);
    body = carried === ENTRY ? body.split(CONT_MARK).join('').split(CONT_END).join('') : body.replace(CONT_RE, 'hs = 1; ');
    this._catch = this._catch.split(HS_MARK).join(hs);
    let pro = 'const R = c.r32, T = c.tlb, U8 = c.u8, U16 = c.u16, I32 = c.i32, K = c.rchk, W = c.wchk;\n';
    for (let s = 0; s < 6; s++) {
      if (this._segs & (1 << s)) pro += `const sb${s} = c.segBase[${s}], rl${s} = c.rlim[${s}], wl${s} = c.wlim[${s}];\n`;
    }
    let load = '';
    let store = '';
    for (let r = 0; r < 8; r++) {
      if (this._regs & (1 << r)) load += `let r${r} = R[${r}];\n`;
      if (this._dirty & (1 << r)) store += `R[${r}] = r${r}; `;
    }
    const src = `const { ${HELPER_NAMES} } = H;
return function blk_${(this._eip >>> 0).toString(16)}(c, budget) {
${pro}${load}let fa = 0, fb = 0, fr = 0, fcf = 0, fco = 0, fl = 0, hs = 0, done = 0, cnt = 0, nx = 0, sl = 0;
const bl = budget - ${this._n};
try {
L: for (;;) {
${body}}
} catch (ex) {
${store}
let rt = 0;
switch (c.ipStart) {
${this._catch}}
c.espStart = R[4];
c.icount += done + rt;
c.jitRetired = done + rt;
throw ex;
}
${store}
c.eip = nx;
c.icount += done + cnt;
return done + cnt;
};`;
    const factory = new Function('P', 'H', src) as (p: Uint8Array, h: typeof HELPERS) => BlockFn;
    return { fn: factory(PARITY, HELPERS), n: this._n, lim: this._lim, end: this._pos };
  }

  // ---- decoding ----

  private _byte(): number {
    if (this._pos >= this._pageEnd) throw BAIL;
    return this._u8[this._pos++];
  }

  private _s8(): number {
    return (this._byte() << 24) >> 24;
  }

  private _w16(): number {
    const lo = this._byte();
    return lo | (this._byte() << 8);
  }

  private _d32(): number {
    const a = this._w16();
    return (a | (this._w16() << 16)) | 0;
  }

  private _imm(sz: number): number {
    return sz === 0 ? this._byte() : sz === 1 ? this._w16() : this._d32();
  }

  private _t(): number {
    return this._tmp++;
  }

  private _emit(s: string): void {
    this._cur += s + '\n';
  }

  // ---- registers ----

  private _use(r: number): void {
    this._regs |= 1 << r;
  }

  private _reg(sz: number, r: number): string {
    if (sz === 2) {
      this._use(r);
      return `r${r}`;
    }
    if (sz === 1) {
      this._use(r);
      return `(r${r} & 65535)`;
    }
    if (r < 4) {
      this._use(r);
      return `(r${r} & 255)`;
    }
    this._use(r - 4);
    return `((r${r - 4} >> 8) & 255)`;
  }

  /** Assigns `v` (already truncated to the size) to a register. */
  private _setReg(sz: number, reg: number, v: string): void {
    const high = sz === 0 && reg >= 4;
    const r = high ? reg - 4 : reg;
    this._use(r);
    this._dirty |= 1 << r;
    if (sz === 2) this._emit(`r${r} = ${v};`);
    else if (sz === 1) this._emit(`r${r} = (r${r} & -65536) | ${v};`);
    else if (!high) this._emit(`r${r} = (r${r} & -256) | ${v};`);
    else this._emit(`r${r} = (r${r} & -65281) | (${v} << 8);`);
  }

  // ---- memory ----

  /** Notes the instruction's EIP before a CPU method that can fault or exit. */
  private _at(): string {
    this._throws = true;
    return `c.ipStart = ${this._ip0};`;
  }

  /** A check of the jump target in local t${t} against the CS limit (#GP(0) past it). */
  private _limitCheck(t: number): string {
    this._throws = true;
    return `limitCheck(c, t${t}, ${this._ip0});`;
  }

  /**
   * The TLB test of cpu.ts for an access of `sz` at linear address l${t} (entry e${t}) to
   * offset `off` within the segment's fast limit `lim`: the page allows it (the check mask
   * `k` leaves only VALID), it does not cross an element of the view, and it is in the limit.
   */
  private _fastTest(sz: number, t: number, k: string, off: string, lim: string): string {
    const fits = sz === 0 ? `${off} <= ${lim}` : `(l${t} & ${sz === 1 ? 1 : 3}) === 0 && ${off} + ${sz === 1 ? 1 : 3} <= ${lim}`;
    return `(e${t} & ${k}) === 1 && ${fits}`;
  }

  /** The view's element for the access that passed _fastTest. */
  private _elem(sz: number, t: number): string {
    return `${ARR[sz]}[((e${t} & -4096) | (l${t} & 4095))${SHIFT[sz]}]`;
  }

  /** Reads `sz` at seg:off (off is a local holding the offset); returns the local with the value. */
  private _rd(sz: number, seg: number, off: string, later = false): string {
    this._segs |= 1 << seg;
    this._mem = this._throws = true;
    const t = this._t();
    this._emit(`const l${t} = (sb${seg} + ${off}) | 0, e${t} = T[l${t} >>> 12];`);
    this._emit(`const v${t} = ${this._fastTest(sz, t, 'K', off, `rl${seg}`)} ? ${this._elem(sz, t)} : ` +
      `(sl = 1, rd${8 << sz}(c, ${seg}, ${off}, ${this._ip0}${later ? ', 1' : ''}));`);
    return `v${t}`;
  }

  /**
   * Writes `v` (an expression) of `sz` at seg:off. `last`: nothing after it in the instruction
   * can fault, so a device write goes out at once (the wr*n helpers).
   */
  private _wr(sz: number, seg: number, off: string, v: string, last = false): void {
    this._segs |= 1 << seg;
    this._mem = this._throws = true;
    const t = this._t();
    this._emit(`const l${t} = (sb${seg} + ${off}) | 0, e${t} = T[l${t} >>> 12];`);
    this._emit(`if (${this._fastTest(sz, t, 'W', off, `wl${seg}`)}) ${this._elem(sz, t)} = ${v}; ` +
      `else { sl = 1; wr${8 << sz}${last ? 'n' : ''}(c, ${seg}, ${off}, ${v}, ${this._ip0}); }`);
  }

  /** Decodes ModR/M (+SIB, displacement). */
  private _modrm(m: number, a32: boolean, segOv: number): Ea {
    const mod = m >> 6;
    const rm = m & 7;
    if (mod === 3) return { reg: rm, seg: 0, off: '' };
    let seg = 3;
    const terms: string[] = [];
    let disp = 0;
    if (!a32) {
      const BASE: number[][] = [[3, 6], [3, 7], [5, 6], [5, 7], [6], [7], [5], [3]];
      if (mod === 0 && rm === 6) disp = this._w16();
      else {
        for (const r of BASE[rm]) {
          this._use(r);
          terms.push(`r${r}`);
        }
        if (rm === 2 || rm === 3 || rm === 6) seg = 2;
        if (mod === 1) disp = this._s8();
        else if (mod === 2) disp = this._w16();
      }
      if (disp !== 0 || terms.length === 0) terms.push(String(disp));
      return { reg: -1, seg: segOv >= 0 ? segOv : seg, off: `((${terms.join(' + ')}) & 65535)` };
    }
    if (rm === 4) {
      const sib = this._byte();
      const idx = (sib >> 3) & 7;
      const base = sib & 7;
      if (idx !== 4) {
        this._use(idx);
        terms.push((sib >> 6) === 0 ? `r${idx}` : `(r${idx} << ${sib >> 6})`);
      }
      if (base === 5 && mod === 0) disp = this._d32();
      else {
        this._use(base);
        terms.push(`r${base}`);
        if (base === 4 || base === 5) seg = 2;
      }
    } else if (rm === 5 && mod === 0) {
      disp = this._d32();
    } else {
      this._use(rm);
      terms.push(`r${rm}`);
      if (rm === 5) seg = 2;
    }
    if (mod === 1) disp += this._s8();
    else if (mod === 2) disp += this._d32();
    if (disp !== 0 || terms.length === 0) terms.push(String(disp));
    return { reg: -1, seg: segOv >= 0 ? segOv : seg, off: `((${terms.join(' + ')}) >>> 0)` };
  }

  /** The memory operand's offset in a local (computed once for a read-modify-write). */
  private _off(e: Ea): string {
    const t = this._t();
    this._emit(`const o${t} = ${e.off};`);
    return `o${t}`;
  }

  // ---- flags ----

  /** Flag-producer bookkeeping: statements to run at commit, and the state after. */
  private _pend = '';
  private _pendSt: FState = ENTRY;

  private _produce(lop: number, sz: number, stmts: string): void {
    this._pend = stmts;
    this._pendSt = st(lop, (8 << sz) - 1);
  }

  /** Computes an ALU operation (0-7: ADD OR ADC SBB AND SUB XOR CMP); returns the result local. */
  private _alu(op: number, a: string, b: string, sz: number): string {
    const t = this._t();
    const m = MASK[sz];
    const trunc = (x: string): string => (sz === 2 ? `(${x}) | 0` : `(${x}) & ${m}`);
    this._emit(`const a${t} = ${a}, b${t} = ${b};`);
    switch (op) {
      case 0:
        this._emit(`const z${t} = ${trunc(`a${t} + b${t}`)};`);
        this._produce(Lf.ADD, sz, `fa = a${t}; fb = b${t}; fr = z${t};`);
        break;
      case 2:
        this._emit(`const k${t} = ${cfN(this._fs)}, z${t} = ${trunc(`a${t} + b${t} + k${t}`)};`);
        this._produce(Lf.ADC, sz, `fa = a${t}; fb = b${t}; fr = z${t}; fl = k${t} !== 0 ? 4 : 3;`);
        break;
      case 3:
        this._emit(`const k${t} = ${cfN(this._fs)}, z${t} = ${trunc(`a${t} - b${t} - k${t}`)};`);
        this._produce(Lf.SBB, sz, `fa = a${t}; fb = b${t}; fr = z${t}; fl = k${t} !== 0 ? 6 : 5;`);
        break;
      case 5: case 7:
        this._emit(`const z${t} = ${trunc(`a${t} - b${t}`)};`);
        this._produce(Lf.SUB, sz, `fa = a${t}; fb = b${t}; fr = z${t};`);
        break;
      default: {
        const o = op === 1 ? '|' : op === 4 ? '&' : '^';
        this._emit(`const z${t} = a${t} ${o} b${t};`);
        this._produce(Lf.LOGIC, sz, `fr = z${t};`);
      }
    }
    return `z${t}`;
  }

  private _incdec(dec: boolean, a: string, sz: number): string {
    const t = this._t();
    this._emit(`const a${t} = ${a}, z${t} = ${sz === 2 ? `(a${t} ${dec ? '-' : '+'} 1) | 0` : `(a${t} ${dec ? '-' : '+'} 1) & ${MASK[sz]}`};`);
    const keepCf = this._fs === ENTRY || lopOf(this._fs) === Lf.INC || lopOf(this._fs) === Lf.DEC ? '' : `fcf = ${cfN(this._fs)}; `;
    // Before the loop's first flag producer (`dec ecx; jnz` loops), the CF it keeps may come
    // from the loop-carried state: see run().
    const entryCf = this._fs !== ENTRY ? '' : this._produced ? `fcf = ${fromCpu('c.cf()')}; ` : `fcf = ${HSCF_MARK}; `;
    this._produce(dec ? Lf.DEC : Lf.INC, sz, `${entryCf}${keepCf}fa = a${t}; fb = 1; fr = z${t};`);
    return `z${t}`;
  }

  /** Stores the flag state in the CPU (before a helper that reads or changes the flags). */
  private _flush(): void {
    const w = this._wb(this._fs);
    if (w) this._emit(w);
    this._fs = ENTRY;
  }

  /** writeback(), and before the loop's first flag producer, the loop-carried state's. */
  private _wb(s: FState, produced = this._produced): string {
    return s === ENTRY && !produced ? HS_MARK : writeback(s);
  }

  // ---- the instruction ----

  /** Exit statements for a jump to `target` (an expression) retiring instruction i. */
  private _exitTo(target: string, i: number): string {
    return `${this._wb(this._fs)}nx = ${target}; cnt = ${i + 1}; break L;`;
  }

  /** A transfer to a static target: loops when it is the block's start. */
  private _jump(target: number, i: number): string {
    if (target === this._eip) {
      // (A slow path of this instruction that asked for the careful path: leave instead.)
      this._loopStates.add(this._fs);
      return `if (${this._mem ? '!c.slow && ' : ''}done + ${i + 1} <= bl) { ${CONT_MARK}${writeback(this._fs)}${CONT_END}done += ${i + 1}; continue L; } ${this._exitTo(String(target), i)}`;
    }
    return this._exitTo(String(target), i);
  }

  private _target(t: number, o32: boolean): number {
    t = o32 ? t >>> 0 : t & 0xffff;
    if (t > this._csLim) throw BAIL; // the interpreter raises the #GP
    if (t > this._lim) this._lim = t;
    return t;
  }

  private _insn(i: number): boolean {
    const save = {
      pos: this._pos, ip: this._ip, regs: this._regs, dirty: this._dirty, segs: this._segs, fs: this._fs, tmp: this._tmp,
    };
    this._cur = '';
    this._mem = false;
    this._slowCall = false;
    this._throws = false;
    this._pend = '';
    this._pendSt = ENTRY;
    this._ip0 = this._ip;
    const fsBefore = this._fs;
    const producedBefore = this._produced;
    const readsBefore = entryReads;
    try {
      this._decode(i);
    } catch (e) {
      if (e !== BAIL) throw e;
      this._pos = save.pos;
      this._ip = save.ip;
      this._regs = save.regs;
      this._dirty = save.dirty;
      this._segs = save.segs;
      this._fs = save.fs;
      this._tmp = save.tmp;
      this._ended = false;
      this._produced = producedBefore;
      return false;
    }
    if (!producedBefore && entryReads !== readsBefore) this._headReads = true;
    // Only a slow-path helper, a limit check or a CPU method after _at() can throw: those set
    // ipStart to this EIP, and the catch handler's case for it puts back the state before it.
    if (this._throws) this._catch += `case ${this._ip0}: rt = ${i}; ${this._wb(fsBefore, producedBefore)}break;\n`;
    this._body += `{\n${this._cur.replace(/__NX__/g, String(this._ip))}}\n`;
    return true;
  }

  /** Commits the pending flags; ends the block after this instruction if a slow path asked. */
  private _commit(i: number, exitAfter = true): void {
    if (this._pend) this._emit(this._pend);
    if (this._pendSt !== ENTRY) {
      this._fs = this._pendSt;
      this._produced = true;
    }
    this._pend = '';
    this._pendSt = ENTRY;
    // (A write queued for the loop - MMIO, ROM - goes to the fast path now that the
    // instruction is complete; anything else that set slow ends the block here.)
    if (!this._mem || !exitAfter) return;
    const exit = `if (c.slow && !c.flushWrites()) { ${this._exitTo('__NX__', i)} }`;
    this._emit(this._slowCall ? exit : `if (sl !== 0) { sl = 0; ${exit} }`);
  }

  /** Decodes and emits one instruction; throws BAIL for what is not compiled. */
  private _decode(i: number): void {
    const start = this._pos;
    let o32 = this._cs32;
    let a32 = this._cs32;
    let segOv = -1;
    let op = this._byte();
    for (;;) {
      if (op === 0x66) o32 = !this._cs32;
      else if (op === 0x67) a32 = !this._cs32;
      else if (op === 0x26 || op === 0x2e || op === 0x36 || op === 0x3e) segOv = (op >> 3) & 3;
      else if (op === 0x64 || op === 0x65) segOv = op - 0x60;
      else break;
      if (this._pos - start >= 14) throw BAIL;
      op = this._byte();
    }
    const osz = o32 ? 2 : 1;
    const end = (): number => {
      // Called once the whole instruction is decoded: length and CS limit.
      const len = this._pos - start;
      if (len > 15) throw BAIL;
      const last = this._ip0 + len - 1;
      if (last > this._csLim) throw BAIL;
      if (last > this._lim) this._lim = last;
      this._ip = this._ip0 + len;
      return this._ip;
    };

    // ---- ALU r/m, r / r, r/m / acc, imm ----
    if (op < 0x40 && (op & 7) < 6) {
      const alu = op >> 3;
      const form = op & 7;
      const sz = form & 1 ? osz : 0;
      if (form < 4) {
        const m = this._byte();
        const e = this._modrm(m, a32, segOv);
        end();
        const g = (m >> 3) & 7;
        if (form < 2) {
          // op r/m, r
          if (e.reg >= 0) {
            const r = this._alu(alu, this._reg(sz, e.reg), this._reg(sz, g), sz);
            if (alu !== 7) this._setReg(sz, e.reg, r);
          } else {
            const o = this._off(e);
            const v = this._rd(sz, e.seg, o);
            const r = this._alu(alu, v, this._reg(sz, g), sz);
            if (alu !== 7) this._wr(sz, e.seg, o, r, true);
          }
        } else {
          const b = e.reg >= 0 ? this._reg(sz, e.reg) : this._rd(sz, e.seg, this._off(e));
          const r = this._alu(alu, this._reg(sz, g), b, sz);
          if (alu !== 7) this._setReg(sz, g, r);
        }
      } else {
        const imm = this._imm(sz);
        end();
        const r = this._alu(alu, this._reg(sz, 0), String(imm), sz);
        if (alu !== 7) this._setReg(sz, 0, r);
      }
      this._commit(i);
      return;
    }

    switch (op) {
      case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
      case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f: {
        end();
        const r = this._incdec(op >= 0x48, this._reg(osz, op & 7), osz);
        this._setReg(osz, op & 7, r);
        this._commit(i);
        return;
      }
      case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57:
        end();
        this._push(osz, this._reg(osz, op & 7));
        this._commit(i);
        return;
      case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f: {
        end();
        const v = this._pop(osz, op & 7);
        this._setReg(osz, op & 7, v);
        this._commit(i);
        return;
      }
      case 0x68: case 0x6a: {
        const v = op === 0x68 ? this._imm(osz) : this._s8();
        end();
        this._push(osz, String(osz === 2 ? v | 0 : v & 0xffff));
        this._commit(i);
        return;
      }
      case 0x69: case 0x6b: {
        const m = this._byte();
        const e = this._modrm(m, a32, segOv);
        const imm = op === 0x6b ? this._s8() : this._imm(osz);
        end();
        const a = e.reg >= 0 ? this._reg(osz, e.reg) : this._rd(osz, e.seg, this._off(e));
        const r = this._imul(a, String(imm), osz);
        this._setReg(osz, (m >> 3) & 7, r);
        this._commit(i);
        return;
      }
      case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
      case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f: {
        const d = this._s8();
        const next = end();
        this._jcc(op & 15, this._target(next + d, o32), i);
        return;
      }
      case 0x80: case 0x81: case 0x82: case 0x83: {
        const sz = op === 0x81 || op === 0x83 ? osz : 0;
        const m = this._byte();
        const e = this._modrm(m, a32, segOv);
        let imm = op === 0x83 ? this._s8() : this._imm(sz);
        if (op === 0x83 && sz === 1) imm &= 0xffff;
        end();
        const alu = (m >> 3) & 7;
        if (e.reg >= 0) {
          const r = this._alu(alu, this._reg(sz, e.reg), String(imm), sz);
          if (alu !== 7) this._setReg(sz, e.reg, r);
        } else {
          const o = this._off(e);
          const r = this._alu(alu, this._rd(sz, e.seg, o), String(imm), sz);
          if (alu !== 7) this._wr(sz, e.seg, o, r, true);
        }
        this._commit(i);
        return;
      }
      case 0x84: case 0x85: {
        const sz = op === 0x84 ? 0 : osz;
        const m = this._byte();
        const e = this._modrm(m, a32, segOv);
        end();
        const a = e.reg >= 0 ? this._reg(sz, e.reg) : this._rd(sz, e.seg, this._off(e));
        this._alu(4, a, this._reg(sz, (m >> 3) & 7), sz);
        this._commit(i);
        return;
      }
      case 0x86: case 0x87: {
        const sz = op === 0x86 ? 0 : osz;
        const m = this._byte();
        const e = this._modrm(m, a32, segOv);
        end();
        const g = (m >> 3) & 7;
        const t = this._t();
        this._emit(`const x${t} = ${this._reg(sz, g)};`);
        if (e.reg >= 0) {
          this._emit(`const y${t} = ${this._reg(sz, e.reg)};`);
          this._setReg(sz, e.reg, `x${t}`);
        } else {
          const o = this._off(e);
          const v = this._rd(sz, e.seg, o);
          this._emit(`const y${t} = ${v};`);
          this._wr(sz, e.seg, o, `x${t}`);
        }
        this._setReg(sz, g, `y${t}`);
        this._commit(i);
        return;
      }
      case 0x88: case 0x89: case 0x8a: case 0x8b: {
        const sz = op & 1 ? osz : 0;
        const m = this._byte();
        const e = this._modrm(m, a32, segOv);
        end();
        const g = (m >> 3) & 7;
        if (op < 0x8a) {
          if (e.reg >= 0) this._setReg(sz, e.reg, this._reg(sz, g));
          else this._wr(sz, e.seg, this._off(e), this._reg(sz, g), true);
        } else {
          const v = e.reg >= 0 ? this._reg(sz, e.reg) : this._rd(sz, e.seg, this._off(e));
          this._setReg(sz, g, v);
        }
        this._commit(i);
        return;
      }
      case 0x8d: {
        const m = this._byte();
        const e = this._modrm(m, a32, segOv);
        end();
        if (e.reg >= 0) throw BAIL;
        this._setReg(osz, (m >> 3) & 7, osz === 2 ? `(${e.off} | 0)` : `(${e.off} & 65535)`);
        this._commit(i);
        return;
      }
      case 0x90:
        end();
        this._commit(i);
        return;
      case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97: {
        end();
        const t = this._t();
        this._emit(`const x${t} = ${this._reg(osz, 0)};`);
        this._setReg(osz, 0, this._reg(osz, op & 7));
        this._setReg(osz, op & 7, `x${t}`);
        this._commit(i);
        return;
      }
      case 0x98:
        end();
        if (o32) this._setReg(2, 0, `((r0 << 16) >> 16)`);
        else this._setReg(1, 0, `(((r0 << 24) >> 24) & 65535)`);
        this._use(0);
        this._commit(i);
        return;
      case 0x99:
        end();
        this._use(0);
        if (o32) this._setReg(2, 2, `(r0 >> 31)`);
        else this._setReg(1, 2, `((r0 & 32768) !== 0 ? 65535 : 0)`);
        this._commit(i);
        return;
      case 0xa0: case 0xa1: case 0xa2: case 0xa3: {
        const off = a32 ? this._d32() >>> 0 : this._w16();
        end();
        const sz = op & 1 ? osz : 0;
        const s = segOv >= 0 ? segOv : 3;
        const e: Ea = { reg: -1, seg: s, off: String(off) };
        if (op < 0xa2) this._setReg(sz, 0, this._rd(sz, s, this._off(e)));
        else this._wr(sz, s, this._off(e), this._reg(sz, 0), true);
        this._commit(i);
        return;
      }
      case 0xa4: case 0xa5: case 0xa6: case 0xa7: case 0xaa: case 0xab: case 0xac: case 0xad: case 0xae: case 0xaf: {
        // MOVS, CMPS, STOS, LODS, SCAS without a REP prefix (REP ones are not decoded here:
        // the interpreter runs them, a page at a time). The source is DS:SI unless overridden,
        // the destination ES:DI; both move by the size, down when DF is set. Registers change
        // only after the last access that can fault, as in the interpreter.
        end();
        const sz = op & 1 ? osz : 0;
        const n = 1 << sz;
        const src = segOv >= 0 ? segOv : 3;
        const t = this._t();
        this._emit(`const d${t} = (c.flags & 1024) !== 0 ? -${n} : ${n};`);
        const at = (seg: number, r: number): string => {
          this._use(r);
          return this._off({ reg: -1, seg, off: a32 ? `(r${r} >>> 0)` : `(r${r} & 65535)` });
        };
        const advance = (r: number): void => (a32 ? this._setReg(2, r, `(r${r} + d${t}) | 0`) : this._setReg(1, r, `((r${r} + d${t}) & 65535)`));
        const kind = (op - 0xa4) >> 1;
        if (kind === 0) {
          const v = this._rd(sz, src, at(src, 6));
          this._wr(sz, 0, at(0, 7), v, true);
        } else if (kind === 1) {
          // Two reads: if the second must exit, the redo takes the first from the read cache.
          this._emit('c.frLen = 0;');
          const a = this._rd(sz, src, at(src, 6), true);
          this._alu(7, a, this._rd(sz, 0, at(0, 7), true), sz);
        } else if (kind === 3) {
          this._wr(sz, 0, at(0, 7), this._reg(sz, 0), true);
        } else if (kind === 4) {
          this._setReg(sz, 0, this._rd(sz, src, at(src, 6)));
        } else {
          this._alu(7, this._reg(sz, 0), this._rd(sz, 0, at(0, 7)), sz);
        }
        if (kind !== 3 && kind !== 5) advance(6);
        if (kind !== 4) advance(7);
        this._commit(i);
        return;
      }
      case 0xa8: case 0xa9: {
        const sz = op === 0xa8 ? 0 : osz;
        const imm = this._imm(sz);
        end();
        this._alu(4, this._reg(sz, 0), String(imm), sz);
        this._commit(i);
        return;
      }
      case 0xb0: case 0xb1: case 0xb2: case 0xb3: case 0xb4: case 0xb5: case 0xb6: case 0xb7: {
        const imm = this._byte();
        end();
        this._setReg(0, op & 7, String(imm));
        this._commit(i);
        return;
      }
      case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf: {
        const imm = this._imm(osz);
        end();
        this._setReg(osz, op & 7, String(imm));
        this._commit(i);
        return;
      }
      case 0xc0: case 0xc1: case 0xd0: case 0xd1: {
        const sz = op & 1 ? osz : 0;
        const m = this._byte();
        const e = this._modrm(m, a32, segOv);
        const count = (op < 0xd0 ? this._byte() : 1) & 31;
        end();
        if (((m >> 3) & 7) < 4) this._shiftByCpu((m >> 3) & 7, e, sz, String(count), i);
        else this._shift((m >> 3) & 7, e, sz, count, i);
        return;
      }
      case 0xd2: case 0xd3: {
        const m = this._byte();
        const e = this._modrm(m, a32, segOv);
        end();
        this._shiftByCpu((m >> 3) & 7, e, op === 0xd3 ? osz : 0, this._reg(0, 1), i);
        return;
      }
      case 0xc2: case 0xc3: {
        const n = op === 0xc2 ? this._w16() : 0;
        end();
        this._ret(osz, n, i);
        return;
      }
      case 0xc6: case 0xc7: {
        const sz = op === 0xc7 ? osz : 0;
        const m = this._byte();
        if ((m & 0x38) !== 0) throw BAIL;
        const e = this._modrm(m, a32, segOv);
        const imm = this._imm(sz);
        end();
        if (e.reg >= 0) this._setReg(sz, e.reg, String(imm));
        else this._wr(sz, e.seg, this._off(e), String(imm), true);
        this._commit(i);
        return;
      }
      case 0xc9: {
        end();
        // LEAVE: ESP = EBP, then pop EBP.
        const t = this._t();
        this._use(4);
        this._use(5);
        this._emit(`const s${t} = ${this._ss32 ? '(r5 >>> 0)' : '(r5 & 65535)'};`);
        const v = this._rd(osz, 2, `s${t}`);
        this._setReg(osz, 5, v);
        if (this._ss32) this._setReg(2, 4, `(s${t} + ${o32 ? 4 : 2}) | 0`);
        else this._setReg(1, 4, `((s${t} + ${o32 ? 4 : 2}) & 65535)`);
        this._commit(i);
        return;
      }
      case 0xe0: case 0xe1: case 0xe2: case 0xe3: {
        const d = this._s8();
        const next = end();
        const target = this._target(next + d, o32);
        const t = this._t();
        this._use(1);
        if (op === 0xe3) {
          this._jccExpr(a32 ? '(r1 === 0)' : '((r1 & 65535) === 0)', target, i);
          return;
        }
        this._emit(`const n${t} = ${a32 ? '(r1 - 1) | 0' : '(r1 - 1) & 65535'};`);
        const take = op === 0xe2 ? `n${t} !== 0` : `(n${t} !== 0 && ${op === 0xe1 ? '' : '!'}${cond(this._fs, 4)})`;
        this._emit(`const j${t} = ${take};`);
        this._setReg(a32 ? 2 : 1, 1, `n${t}`);
        this._jccExpr(`j${t}`, target, i);
        return;
      }
      case 0xe8: {
        const d = o32 ? this._d32() : this._w16();
        const next = end();
        const target = this._target(next + d, o32);
        this._push(osz, String(next));
        this._commit(i, false);
        this._emit(this._jump(target, i));
        this._ended = true;
        return;
      }
      case 0xe9: case 0xeb: {
        const d = op === 0xeb ? this._s8() : o32 ? this._d32() : this._w16();
        const next = end();
        const target = this._target(next + d, o32);
        this._emit(this._jump(target, i));
        this._ended = true;
        return;
      }
      case 0xe4: case 0xe5: case 0xec: case 0xed: case 0xe6: case 0xe7: case 0xee: case 0xef: {
        // IN/OUT: the CPU's permission check and access; in place when the run loop's fast
        // path takes it, else an exit (IN: abort and redo, OUT: after the instruction).
        const sz = op & 1 ? osz : 0;
        const port = op < 0xe8 ? String(this._byte()) : (this._use(2), '(r2 & 65535)');
        end();
        this._mem = this._slowCall = true;
        if (op === 0xe6 || op === 0xe7 || op === 0xee || op === 0xef) {
          this._emit(`${this._at()} c.portOut(${port}, ${1 << sz}, ${this._reg(sz, 0)});`);
        } else {
          const t = this._t();
          this._emit(`${this._at()} const n${t} = c.portIn(${port}, ${1 << sz});`);
          this._setReg(sz, 0, `n${t}`);
        }
        this._commit(i);
        return;
      }
      case 0xf5: case 0xf8: case 0xf9:
        end();
        this._flush();
        this._emit(op === 0xf5 ? 'c.setArith(1, c.cf() ^ 1);' : `c.setArith(1, ${op === 0xf9 ? 1 : 0});`);
        this._commit(i);
        return;
      case 0x9c: {
        // PUSHF, as op_9c: in virtual-8086 mode with IOPL (12288) < 3 it faults (the block does
        // not know the mode when it is compiled, so the test is in the code); a 32-bit push
        // leaves out VM and RF (-196609 = ~0x30000).
        end();
        this._flush();
        this._emit(`if (c.vm && (c.flags & 12288) !== 12288) { ${this._at()} c.gp(0); }`);
        this._push(osz, osz === 2 ? '(c.getFlags() & -196609)' : '(c.getFlags() & 65535)');
        this._commit(i);
        return;
      }
      case 0x9d:
        // POPF: the interpreter's, on ESP and the flags in the CPU. It leaves Cpu.slow set,
        // so the commit asks whether the new flags (TF, IF with an interrupt waiting) need the
        // careful path, and the block goes on only if they do not.
        end();
        this._flush();
        this._sync([4]);
        this._emit(`${this._at()} c.popf(${o32});`);
        this._reload([4]);
        this._mem = this._slowCall = true;
        this._commit(i);
        return;
      case 0xfc: case 0xfd:
        end();
        this._emit(op === 0xfc ? 'c.flags &= -1025;' : 'c.flags |= 1024;');
        this._commit(i);
        return;
      case 0xf6: case 0xf7: {
        const sz = op === 0xf7 ? osz : 0;
        const m = this._byte();
        const e = this._modrm(m, a32, segOv);
        const sub = (m >> 3) & 7;
        const imm = sub < 2 ? this._imm(sz) : 0;
        end();
        const o = e.reg >= 0 ? '' : this._off(e);
        const v = e.reg >= 0 ? this._reg(sz, e.reg) : this._rd(sz, e.seg, o);
        if (sub < 2) {
          this._alu(4, v, String(imm), sz);
        } else if (sub === 2 || sub === 3) {
          const t = this._t();
          if (sub === 2) this._emit(`const z${t} = ${sz === 2 ? `~${v}` : `~${v} & ${MASK[sz]}`};`);
          const r = sub === 2 ? `z${t}` : this._alu(5, '0', v, sz);
          if (e.reg >= 0) this._setReg(sz, e.reg, r);
          else this._wr(sz, e.seg, o, r);
        } else {
          // MUL/IMUL/DIV/IDIV: the interpreter's helper, on EAX/EDX in the CPU.
          const t = this._t();
          this._emit(`const m${t} = ${v};`);
          this._flush();
          this._sync([0, 2]);
          this._emit(`${this._at()} c.muldiv(${sub}, m${t}, ${sz});`);
          this._reload([0, 2]);
        }
        this._commit(i);
        return;
      }
      case 0xfe: case 0xff: {
        const sz = op === 0xff ? osz : 0;
        const m = this._byte();
        const sub = (m >> 3) & 7;
        if (sub > 1 && (op === 0xfe || sub === 3 || sub === 5 || sub === 7)) throw BAIL;
        const e = this._modrm(m, a32, segOv);
        const next = end();
        if (sub < 2) {
          if (e.reg >= 0) this._setReg(sz, e.reg, this._incdec(sub === 1, this._reg(sz, e.reg), sz));
          else {
            const o = this._off(e);
            const r = this._incdec(sub === 1, this._rd(sz, e.seg, o), sz);
            this._wr(sz, e.seg, o, r);
          }
          this._commit(i);
          return;
        }
        const v = e.reg >= 0 ? this._reg(sz, e.reg) : this._rd(sz, e.seg, this._off(e));
        if (sub === 6) {
          this._push(osz, v);
          this._commit(i);
          return;
        }
        // CALL/JMP r/m: a target checked against the CS limit when it runs.
        const t = this._t();
        this._emit(`const t${t} = ${o32 ? `${v} >>> 0` : `${v} & 65535`};`);
        if (sub === 2) this._push(osz, String(next), this._limitCheck(t));
        else this._emit(this._limitCheck(t));
        this._commit(i, false);
        this._emit(this._exitTo(`t${t}`, i));
        this._ended = true;
        return;
      }
      case 0x0f:
        this._op0f(i, o32, a32, segOv, end);
        return;
      default:
        throw BAIL;
    }
  }

  private _op0f(i: number, o32: boolean, a32: boolean, segOv: number, end: () => number): void {
    const op = this._byte();
    const osz = o32 ? 2 : 1;
    if (op >= 0x80 && op <= 0x8f) {
      const d = o32 ? this._d32() : this._w16();
      const next = end();
      this._jcc(op & 15, this._target(next + d, o32), i);
      return;
    }
    if (op >= 0x90 && op <= 0x9f) {
      const m = this._byte();
      const e = this._modrm(m, a32, segOv);
      end();
      const v = `(${cond(this._fs, op & 15)} ? 1 : 0)`;
      if (e.reg >= 0) this._setReg(0, e.reg, v);
      else this._wr(0, e.seg, this._off(e), v);
      this._commit(i);
      return;
    }
    if (op >= 0x40 && op <= 0x4f) {
      const m = this._byte();
      const e = this._modrm(m, a32, segOv);
      end();
      const v = e.reg >= 0 ? this._reg(osz, e.reg) : this._rd(osz, e.seg, this._off(e));
      const t = this._t();
      this._emit(`const c${t} = ${v};`);
      this._emit(`if (${cond(this._fs, op & 15)}) {`);
      this._setReg(osz, (m >> 3) & 7, `c${t}`);
      this._emit('}');
      this._commit(i);
      return;
    }
    switch (op) {
      case 0xb6: case 0xb7: case 0xbe: case 0xbf: {
        const m = this._byte();
        const e = this._modrm(m, a32, segOv);
        end();
        const ssz = op & 1;
        let v = e.reg >= 0 ? this._reg(ssz, e.reg) : this._rd(ssz, e.seg, this._off(e));
        if (op >= 0xbe) v = ssz === 0 ? `((${v} << 24) >> 24)` : `((${v} << 16) >> 16)`;
        this._setReg(osz, (m >> 3) & 7, osz === 2 ? v : `(${v} & 65535)`);
        this._commit(i);
        return;
      }
      case 0xaf: {
        const m = this._byte();
        const e = this._modrm(m, a32, segOv);
        end();
        const g = (m >> 3) & 7;
        const b = e.reg >= 0 ? this._reg(osz, e.reg) : this._rd(osz, e.seg, this._off(e));
        this._setReg(osz, g, this._imul(this._reg(osz, g), b, osz));
        this._commit(i);
        return;
      }
      case 0xc8: case 0xc9: case 0xca: case 0xcb: case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        end();
        if (!o32) throw BAIL; // undefined with a 16-bit operand
        const r = op & 7;
        this._use(r);
        this._setReg(2, r, `(((r${r} & 255) << 24) | ((r${r} & 65280) << 8) | ((r${r} >>> 8) & 65280) | (r${r} >>> 24))`);
        this._commit(i);
        return;
      }
      default:
        throw BAIL;
    }
  }

  /** IMUL with a truncated result (ZSP flags; CF=OF=overflow). */
  private _imul(a: string, b: string, sz: number): string {
    const t = this._t();
    if (sz === 1) {
      this._emit(`const p${t} = ((${a} << 16) >> 16) * ((${b} << 16) >> 16), z${t} = p${t} & 65535;`);
      this._produce(Lf.ZSP, 1, `fr = z${t}; fco = p${t} !== ((z${t} << 16) >> 16) ? 2049 : 0;`);
    } else {
      // The double product is exact whenever it fits in 32 bits, and outside them otherwise.
      this._emit(`const a${t} = ${a}, b${t} = ${b}, z${t} = Math.imul(a${t}, b${t});`);
      this._produce(Lf.ZSP, 2, `fr = z${t}; fco = a${t} * b${t} !== z${t} ? 2049 : 0;`);
    }
    return `z${t}`;
  }

  /** SHL/SHR/SAR by a constant (ROL/ROR/RCL/RCR are left to the interpreter). */
  private _shift(op: number, e: Ea, sz: number, count: number, i: number): void {
    if (op < 4) throw BAIL;
    const o = e.reg >= 0 ? '' : this._off(e);
    const v = e.reg >= 0 ? this._reg(sz, e.reg) : this._rd(sz, e.seg, o);
    if (count === 0) {
      // Nothing changes, but the operand is still read (and can fault).
      this._commit(i);
      return;
    }
    const bits = 8 << sz;
    const top = bits - 1;
    const mask = sz === 2 ? -1 : (1 << bits) - 1;
    const t = this._t();
    this._emit(`const v${t} = ${v};`);
    let r: string;
    let cf: string;
    let of = '';
    if (op === 4 || op === 6) {
      if (count < bits) {
        cf = `((v${t} & ${mask}) >>> ${bits - count}) & 1`;
        r = `(v${t} << ${count}) & ${mask}`;
      } else {
        cf = count === bits ? `v${t} & 1` : '0';
        r = '0';
      }
      this._emit(`const z${t} = ${r}, c${t} = ${cf};`);
      of = `((z${t} >>> ${top}) & 1) ^ c${t}`;
    } else if (op === 5) {
      const u = sz === 2 ? `(v${t} >>> 0)` : `(v${t} & ${mask})`;
      if (count < bits) {
        cf = `(${u} >>> ${count - 1}) & 1`;
        r = `${u} >>> ${count}`;
      } else {
        cf = count === bits ? `(${u} >>> ${top}) & 1` : '0';
        r = '0';
      }
      this._emit(`const z${t} = (${r}) | 0, c${t} = ${cf};`);
      of = `(${u} >>> ${top}) & 1`;
    } else {
      const s = sz === 0 ? `((v${t} << 24) >> 24)` : sz === 1 ? `((v${t} << 16) >> 16)` : `(v${t} | 0)`;
      const n = count < bits ? count : bits - 1;
      cf = count < bits ? `(${s} >> ${count - 1}) & 1` : `(${s} >>> 31) & 1`;
      this._emit(`const z${t} = (${s} >> ${n}) & ${mask}, c${t} = ${cf};`);
    }
    const fco = of ? `c${t} | ((${of}) << 11)` : `c${t}`;
    this._produce(Lf.ZSP, sz, `fr = z${t}; fco = ${fco};`);
    if (e.reg >= 0) this._setReg(sz, e.reg, `z${t}`);
    else this._wr(sz, e.seg, o, `z${t}`);
    this._commit(i);
  }

  /**
   * A shift or rotate by the interpreter's Cpu.shift (rotates, and counts known only at run
   * time: a count of 0 leaves the operand and every flag as they were, which lazy flags
   * decided at compile time cannot say). The flags go into the CPU first and stay there.
   */
  private _shiftByCpu(op: number, e: Ea, sz: number, count: string, i: number): void {
    this._flush();
    const o = e.reg >= 0 ? '' : this._off(e);
    const v = e.reg >= 0 ? this._reg(sz, e.reg) : this._rd(sz, e.seg, o);
    const t = this._t();
    this._emit(`const n${t} = ${count};`);
    this._emit(`if ((n${t} & 31) !== 0) {`);
    this._emit(`const z${t} = c.shift(${op}, ${v}, n${t}, ${sz});`);
    if (e.reg >= 0) this._setReg(sz, e.reg, `z${t}`);
    else this._wr(sz, e.seg, o, `z${t}`);
    this._emit('}');
    this._commit(i);
  }

  /** Stores locals of these registers into the CPU (before a helper that uses them). */
  private _sync(regs: number[]): void {
    // Always: a later instruction of a looping block may change the local.
    for (const r of regs) {
      this._use(r);
      this._emit(`R[${r}] = r${r};`);
    }
  }

  private _reload(regs: number[]): void {
    for (const r of regs) {
      this._use(r);
      this._dirty |= 1 << r;
      this._emit(`r${r} = R[${r}];`);
    }
  }

  /** PUSH: the store first, then ESP (it must survive a fault of the store). */
  private _push(sz: number, v: string, beforeCommit = ''): void {
    const t = this._t();
    const n = sz === 2 ? 4 : 2;
    this._use(4);
    this._emit(`const p${t} = ${v};`);
    this._emit(this._ss32 ? `const s${t} = (r4 - ${n}) >>> 0;` : `const s${t} = (r4 - ${n}) & 65535;`);
    this._wr(sz, 2, `s${t}`, `p${t}`);
    if (beforeCommit) this._emit(beforeCommit);
    if (this._ss32) this._setReg(2, 4, `s${t} | 0`);
    else this._setReg(1, 4, `s${t}`);
  }

  /** POP into a local (ESP is updated; the caller stores the value). */
  private _pop(sz: number, dest: number): string {
    const t = this._t();
    const n = sz === 2 ? 4 : 2;
    this._use(4);
    this._emit(this._ss32 ? `const s${t} = r4 >>> 0;` : `const s${t} = r4 & 65535;`);
    const v = this._rd(sz, 2, `s${t}`);
    this._emit(`const q${t} = ${v};`);
    // POP ESP loads the popped value (the increment comes first).
    if (dest !== 4) {
      if (this._ss32) this._setReg(2, 4, `(s${t} + ${n}) | 0`);
      else this._setReg(1, 4, `((s${t} + ${n}) & 65535)`);
    }
    return `q${t}`;
  }

  private _ret(sz: number, n: number, i: number): void {
    const t = this._t();
    this._use(4);
    this._emit(this._ss32 ? `const s${t} = r4 >>> 0;` : `const s${t} = r4 & 65535;`);
    const v = this._rd(sz, 2, `s${t}`);
    this._emit(`const t${t} = ${sz === 2 ? `${v} >>> 0` : v};`);
    this._emit(this._limitCheck(t));
    const inc = (sz === 2 ? 4 : 2) + n;
    if (this._ss32) this._setReg(2, 4, `(s${t} + ${inc}) | 0`);
    else this._setReg(1, 4, `((s${t} + ${inc}) & 65535)`);
    this._commit(i, false);
    this._emit(this._exitTo(`t${t}`, i));
    this._ended = true;
  }

  private _jcc(cc: number, target: number, i: number): void {
    this._jccExpr(cond(this._fs, cc), target, i);
  }

  /** A conditional branch: a side exit, or the loop back to the block's start. */
  private _jccExpr(test: string, target: number, i: number): void {
    this._commit(i);
    this._emit(`if (${test}) { ${this._jump(target, i)} }`);
  }
}
