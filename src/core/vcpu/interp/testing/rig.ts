// Test support for the interpreter's unit tests: a CPU on 4 MiB of RAM, code assembled
// with nasm, descriptor-table builders, and a run loop that answers port I/O from a table.
// (Node-only: the interpreter's tsconfig excludes this folder.)

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DebugTables } from '../../../debug/DebugTables.js';
import { GuestMemory } from '../../../memory/GuestMemory.js';
import type { CpuState, SegmentCache } from '../../CpuState.js';
import { ExitReason, IoDir } from '../../VcpuBackend.js';
import { InterpVcpu } from '../InterpVcpu.js';
import type { JitOptions } from '../jit.js';

/** HVMON_JIT_THRESHOLD=N compiles blocks after N executions (0: interpreter only). */
export function envJit(): JitOptions | false {
  const t = process.env.HVMON_JIT_THRESHOLD;
  if (t === undefined || t === '') return {};
  return Number(t) === 0 ? false : { threshold: Number(t) };
}

export function haveNasm(): boolean {
  try {
    execFileSync('nasm', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let tmp: string | null = null;

/** Assembles `src` (NASM syntax) as a flat binary. */
export function asm(src: string, bits: 16 | 32 = 32, org = 0x1000): Uint8Array {
  tmp ??= mkdtempSync(join(tmpdir(), 'hvmon-asm-'));
  const i = join(tmp, 'a.asm');
  const o = join(tmp, 'a.bin');
  writeFileSync(i, `bits ${bits}\norg ${org}\n${src}\n`);
  execFileSync('nasm', ['-f', 'bin', '-o', o, i]);
  return new Uint8Array(readFileSync(o));
}

export const RAM = 4 << 20;

let handlerImage: Uint8Array | null = null;

/**
 * Exception handlers for rig.flat({ idtHandlers: 0x3000 }): the one for vector v (at
 * 0x3000 + 32*v) stores v at 0x600, the error code (or 0) at 0x604, the return EIP at 0x608
 * and the return CS at 0x60C, then halts. They write through SS, which is always usable in a
 * handler (DS may be null, e.g. after an interrupt from V86 mode).
 */
export function recordingHandlers(): Uint8Array {
  if (!handlerImage) {
    let src = '';
    for (let v = 0; v < 256; v++) {
      const err = v === 8 || (v >= 10 && v <= 14) || v === 17;
      src += `times ${v * 32} - ($ - $$) db 0xcc\nmov byte [ss:0x600], ${v}\n`;
      src += err ? 'pop dword [ss:0x604]\n' : 'and dword [ss:0x604], 0\n';
      src += 'pop dword [ss:0x608]\npop dword [ss:0x60c]\nhlt\n';
    }
    handlerImage = asm(src, 32, 0x3000);
  }
  return handlerImage;
}

const seg = (selector: number, base: number, limit: number, attr: number): SegmentCache => ({ selector, base, limit, attr });

export class Rig {
  readonly mem = GuestMemory.create(RAM);
  readonly dbg = new DebugTables();
  readonly kick = new Int32Array(new SharedArrayBuffer(4));
  readonly cpu: InterpVcpu;
  /** Port reads answered by the run helpers (default 0xFF). */
  readonly ports = new Map<number, number>();
  /** Port writes seen by the run helpers: [port, size, value], one per element. */
  readonly outs: [number, number, number][] = [];
  /** Port I/O exits seen by the run helpers (a batched REP INS/OUTS is one). */
  ioExits = 0;

  /**
   * @param jit the block compiler's options (default: HVMON_JIT_THRESHOLD from the environment,
   * so that the whole suite can be run with every block compiled at its first execution).
   */
  constructor(jit: JitOptions | false = envJit()) {
    this.mem.mapRam(0, RAM);
    this.cpu = new InterpVcpu(this.mem, this.kick, this.dbg, { jit });
  }

  get u8(): Uint8Array {
    return this.mem.u8;
  }

  load(addr: number, bytes: Uint8Array | number[]): void {
    this.mem.u8.set(bytes, addr);
    // Written behind the CPU's back: no compiled block may run the old bytes.
    this.cpu.flushTlb();
  }

  rd32(addr: number): number {
    const u = this.mem.u8;
    return (u[addr] | (u[addr + 1] << 8) | (u[addr + 2] << 16) | (u[addr + 3] << 24)) >>> 0;
  }

  wr32(addr: number, v: number): void {
    const u = this.mem.u8;
    u[addr] = v; u[addr + 1] = v >>> 8; u[addr + 2] = v >>> 16; u[addr + 3] = v >>> 24;
  }

  /** Writes a segment descriptor (base, limit in bytes or pages, access byte, flags nibble). */
  desc(table: number, index: number, base: number, limit: number, access: number, flags = 0xc): void {
    const lo = ((base & 0xffff) << 16) | (limit & 0xffff);
    const hi = (base & 0xff000000) | ((flags & 0xf) << 20) | (limit & 0xf0000) | ((access & 0xff) << 8) | ((base >>> 16) & 0xff);
    this.wr32(table + index * 8, lo);
    this.wr32(table + index * 8 + 4, hi);
  }

  /** A gate descriptor (interrupt/trap/call/task gate). */
  gate(table: number, index: number, sel: number, off: number, access: number, params = 0): void {
    this.wr32(table + index * 8, ((sel & 0xffff) << 16) | (off & 0xffff));
    this.wr32(table + index * 8 + 4, (off & 0xffff0000) | ((access & 0xff) << 8) | (params & 0x1f));
  }

  /**
   * Flat 32-bit protected mode at CPL 0: GDT at 0x500 (0x08 code, 0x10 data, 0x1b user code,
   * 0x23 user data, 0x28 TSS at 0x800), IDT at 0x1000 with every vector an interrupt gate
   * to `idtHandlers` + 32*vector (default: no IDT entries), ESP 0x8000.
   */
  flat(eip: number, opts: { idtHandlers?: number } = {}): CpuState {
    this.desc(0x500, 1, 0, 0xfffff, 0x9b);
    this.desc(0x500, 2, 0, 0xfffff, 0x93);
    this.desc(0x500, 3, 0, 0xfffff, 0xfb);
    this.desc(0x500, 4, 0, 0xfffff, 0xf3);
    this.desc(0x500, 5, 0x800, 0x67, 0x8b, 0); // busy: it is the current task
    this.wr32(0x800 + 4, 0x8000);
    this.wr32(0x800 + 8, 0x10);
    this.u8[0x800 + 0x66] = 0x68;
    if (opts.idtHandlers !== undefined) {
      for (let v = 0; v < 256; v++) this.gate(0x1000, v, 0x08, opts.idtHandlers + v * 32, 0xee);
    }
    const s = this.cpu.getState();
    const code = seg(0x08, 0, 0xffffffff, 0xc09b);
    const data = seg(0x10, 0, 0xffffffff, 0xc093);
    Object.assign(s, {
      cs: code, ds: data, es: data, ss: data, fs: data, gs: data,
      tr: seg(0x28, 0x800, 0x67, 0x8b), ldtr: seg(0, 0, 0, 0x82),
      gdtr: { base: 0x500, limit: 0x2f }, idtr: { base: 0x1000, limit: 0x7ff },
      cr0: 0x11, eip, esp: 0x8000, eflags: 2, halted: false,
    });
    this.cpu.setState(s);
    return s;
  }

  /** Real mode at cs:ip with SP 0xFFF0 and the IVT at 0. */
  real(cs: number, ip: number): CpuState {
    const s = this.cpu.getState();
    const z = seg(0, 0, 0xffff, 0x93);
    Object.assign(s, {
      cs: seg(cs, cs << 4, 0xffff, 0x9b), ds: z, es: z, ss: z, fs: z, gs: z,
      gdtr: { base: 0, limit: 0xffff }, idtr: { base: 0, limit: 0x3ff }, cr0: 0x10,
      eip: ip, esp: 0xfff0, eflags: 2, halted: false,
    });
    this.cpu.setState(s);
    return s;
  }

  /**
   * Runs until an exit other than port I/O (answered from `ports`, writes logged in `outs`)
   * and budget INTRs; returns it.
   */
  run(budget = 1_000_000): ExitReason {
    const x = this.cpu.exit;
    for (let i = 0; i < 10_000; i++) {
      const r = this.cpu.run(budget);
      if (r === ExitReason.IO) {
        this.ioExits++;
        const v = this.ports.get(x.addr) ?? 0xffffffff;
        for (let k = 0; k < x.count; k++) {
          const at = k * x.size;
          if (x.dir === IoDir.READ) for (let b = 0; b < x.size; b++) x.data[at + b] = v >>> (8 * b);
          else {
            let w = 0;
            for (let b = 0; b < x.size; b++) w |= x.data[at + b] << (8 * b);
            this.outs.push([x.addr, x.size, w >>> 0]);
          }
        }
        if (x.dir === IoDir.READ) this.cpu.completeIo();
        continue;
      }
      return r;
    }
    throw new Error('guest never stopped');
  }
}
