// The block compiler (jit.ts) against the interpreter it stands in for: the same guest code
// run with every block compiled at its first execution and with the interpreter alone must
// end in the same state (registers, EFLAGS, icount, memory) and leave through the same exits.
// Then the things a compiler gets wrong: self-modifying code (the next instruction of the
// same block, another routine's loop, DMA and monitor writes), faults and exits in the middle
// of a block, the debugger's hooks, the budget, and the decoding mode.

import { describe, expect, it } from 'vitest';
import { Access, WatchSpace } from '../../debug/DebugTables.js';
import type { CpuState } from '../CpuState.js';
import { ExitReason, IoDir } from '../VcpuBackend.js';
import { Rig, asm, haveNasm, recordingHandlers } from './testing/rig.js';
import type { TrapFastPath } from './cpu.js';

const none = { exec: [], watch: [], io: [], mmio: [], vectors: [] };
const JIT = { threshold: 1 };

/** A flat 32-bit rig (code at 0x2000, exception handlers recording at 0x600, data at 0x8000). */
function flat(code: string, jit: { threshold: number } | false = JIT): Rig {
  const rig = new Rig(jit);
  rig.load(0x3000, recordingHandlers());
  rig.load(0x2000, asm(code, 32, 0x2000));
  rig.flat(0x2000, { idtHandlers: 0x3000 });
  return rig;
}

/**
 * The program flat with paging on, compiled and interpreted: the page table maps only the
 * first 4 MiB, so 400000h is a hole. `regs` go into the state before it runs.
 */
function pagedPair(code: string, regs: Partial<CpuState> = {}): Rig[] {
  return [JIT, false as const].map((jit) => {
    const rig = flat(code, jit);
    const pd = 0x100000, pt = 0x101000;
    for (let i = 0; i < 1024; i++) rig.wr32(pt + i * 4, (i << 12) | 3);
    rig.wr32(pd, pt | 3);
    rig.cpu.setState({ ...rig.cpu.getState(), cr0: 0x80000011, cr3: pd, ...regs });
    return rig;
  });
}

/** Real mode at 0000:1000; every IVT entry points at a HLT at 0000:0500. */
function real(code: string, jit: { threshold: number } | false = JIT): Rig {
  const rig = new Rig(jit);
  rig.load(0x500, [0xf4]);
  for (let v = 0; v < 256; v++) rig.wr32(v * 4, 0x0500);
  rig.load(0x1000, asm(code, 16, 0x1000));
  rig.real(0, 0x1000);
  return rig;
}

function compiled(rig: Rig): number {
  return rig.cpu.cpu.jit!.compiled;
}

/** Runs both rigs to their end and expects the same state, icount and low 64 KiB of memory. */
function same(a: Rig, b: Rig, what: string): void {
  const ra = a.run(1_000_000);
  const rb = b.run(1_000_000);
  expect(ra, what).toBe(rb);
  const sa: CpuState = a.cpu.getState();
  const sb: CpuState = b.cpu.getState();
  expect(sa, what).toEqual(sb);
  expect(Buffer.compare(a.u8.subarray(0, 0x10000), b.u8.subarray(0, 0x10000)), what).toBe(0);
}

// ---- random programs of the instructions the compiler takes (and a few it leaves) ----

function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s >>> 8;
  };
}

const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];

/**
 * A random loop body. ESI (SI) points at data, EBP counts the loop, ESP is the stack: none of
 * them is a destination. Memory operands are [esi+d] ([si+d] in 16-bit code), some unaligned.
 */
function program(r: () => number, bits: 16 | 32, n: number): string {
  const pick = <T,>(xs: readonly T[]): T => xs[r() % xs.length];
  const r32 = ['eax', 'ebx', 'ecx', 'edx', 'edi'];
  const r16 = ['ax', 'bx', 'cx', 'dx', 'di'];
  const r8 = ['al', 'bl', 'cl', 'dl', 'ah', 'bh', 'ch', 'dh'];
  const base = bits === 32 ? 'esi' : 'si';
  const mem = (kw: string): string => `${kw} [${base}+${r() % 64}]`;
  const imm = (): number => [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, r()][r() % 12];
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const sz = r() % 3;
    const regs = sz === 0 ? r8 : sz === 1 ? r16 : r32;
    const kw = sz === 0 ? 'byte' : sz === 1 ? 'word' : 'dword';
    const mask = sz === 0 ? 0xff : sz === 1 ? 0xffff : 0xffffffff;
    const a = pick(regs);
    const b = pick(regs);
    switch (r() % 32) {
      case 0: case 1: case 2: lines.push(`${pick(ALU)} ${a}, ${b}`); break;
      case 3: case 4: lines.push(`${pick(ALU)} ${a}, ${(imm() & mask) >>> 0}`); break;
      case 5: lines.push(`${pick(ALU)} ${a}, ${mem(kw)}`); break;
      case 6: lines.push(`${pick(ALU)} ${mem(kw)}, ${a}`); break;
      case 7: lines.push(`${pick(ALU)} ${mem(kw)}, ${(imm() & mask) >>> 0}`); break;
      case 8: lines.push(`${pick(['inc', 'dec', 'neg', 'not'])} ${r() & 1 ? a : mem(kw)}`); break;
      case 9: lines.push(`test ${a}, ${r() & 1 ? b : (imm() & mask) >>> 0}`); break;
      case 10: {
        // A count of CL is known only at run time (0 changes nothing, flags included).
        const count = r() % 3 === 0 ? 'cl' : String(r() % 34);
        lines.push(`${pick(['shl', 'shr', 'sar', 'rol', 'ror', 'rcl', 'rcr'])} ${r() & 1 ? a : mem(kw)}, ${count}`);
        break;
      }
      case 11: lines.push(`${pick(['shl', 'shr', 'sar'])} ${a}, 1`); break;
      case 12: {
        const w = pick(sz === 0 ? r32 : regs === r16 ? r16 : r32);
        lines.push(r() & 1 ? `imul ${w}, ${pick(w.length === 2 ? r16 : r32)}` : `imul ${w}, ${w}, ${imm() & 0xffff}`);
        break;
      }
      case 13: lines.push(`${pick(['movzx', 'movsx'])} ${pick(r32)}, ${r() & 1 ? pick(r8) : pick(r16)}`); break;
      case 14: lines.push(`set${pick(CC)} ${r() & 1 ? pick(r8) : mem('byte')}`); break;
      case 15: lines.push(`cmov${pick(CC)} ${pick(r32)}, ${r() & 1 ? pick(r32) : mem('dword')}`); break;
      case 16: lines.push(`lea ${pick(r32)}, [${base}+${bits === 32 ? pick(r32) : 'bx'}${bits === 32 ? '*4' : ''}+${r() % 100}]`); break;
      case 17: lines.push(`xchg ${a}, ${r() & 1 ? b : mem(kw)}`); break;
      case 18: lines.push(`push ${pick(sz === 2 ? r32 : r16)}`, `pop ${pick(sz === 2 ? r32 : r16)}`); break;
      case 19: lines.push(pick(['cbw', 'cwde', 'cwd', 'cdq', 'clc', 'stc', 'cmc', 'nop'])); break;
      case 20: lines.push(`mov ${a}, ${r() & 1 ? mem(kw) : (imm() & mask) >>> 0}`); break;
      case 21: lines.push(`mov ${mem(kw)}, ${a}`); break;
      case 22: case 23: lines.push(`j${pick(CC)} .s${i}`, `${pick(ALU)} ${a}, ${b}`, `.s${i}:`); break;
      case 24: lines.push(`${pick(['mul', 'imul'])} ${r() & 1 ? a : mem(kw)}`); break;
      case 25: lines.push(`movzx ${pick(r16)}, byte [${base}+${r() % 64}]`); break;
      case 26: lines.push(`${pick(['adc', 'sbb'])} ${a}, ${b}`); break;
      case 27: lines.push(`bswap ${pick(r32)}`); break;
      case 28: lines.push(`call .c${i}`, `jmp .d${i}`, `.c${i}: ${pick(ALU)} ${a}, ${b}`, 'ret', `.d${i}:`); break;
      case 29: {
        // PUSHF/POPF of either size: flags saved around an ALU op, read into a register, or
        // loaded with arithmetic flags from the stack.
        const w = pick(['', 'w', 'd']);
        const f = bits === 32 ? (w === 'w' ? 'w' : '') : (w === 'd' ? 'd' : '');
        const p = pick(f === 'w' || (bits === 16 && f === '') ? r16 : r32);
        switch (r() % 3) {
          case 0: lines.push(`pushf${f}`, `${pick(ALU)} ${a}, ${b}`, `popf${f}`); break;
          case 1: lines.push(`pushf${f}`, `pop ${p}`); break;
          default: lines.push(`push ${p.length === 2 ? 'word' : 'dword'} ${2 | (r() & 0x8d5)}`, `popf${f}`);
        }
        break;
      }
      case 30: {
        // String instructions without REP, either direction, source and destination in the
        // data (ESI is put back: it is the data's base).
        const di = bits === 32 ? 'edi' : 'di';
        const ops = ['movs', 'cmps', 'stos', 'lods', 'scas'];
        const one = (): string => `${pick(ops)}${pick(['b', 'w', 'd'])}`;
        lines.push(`push ${base}`, `mov ${di}, ${base}`, `add ${di}, ${r() % 64}`, `add ${base}, ${r() % 64}`, pick(['cld', 'std']), one(), one(), 'cld', `pop ${base}`);
        break;
      }
      default: lines.push(`${pick(['inc', 'dec'])} ${pick(r32)}`, `j${pick(CC)} .t${i}`, 'nop', `.t${i}:`);
    }
  }
  return lines.join('\n');
}

function seedRegs(rig: Rig, r: () => number): void {
  const s = rig.cpu.getState();
  const v = (): number => (r() * 2654435761) >>> 0;
  rig.cpu.setState({ ...s, eax: v(), ebx: v(), ecx: v(), edx: v(), edi: v(), esi: 0x8000, ebp: 3, eflags: 2 | (r() & 0x8d5) });
  for (let i = 0; i < 256; i++) rig.u8[0x8000 + i] = r() & 0xff;
}

describe.skipIf(!haveNasm())('the block compiler agrees with the interpreter', () => {
  for (const bits of [32, 16] as const) {
    it(`on random ${bits}-bit programs, looping (state, flags, icount, memory)`, () => {
      const r = rng(bits * 7919);
      for (let k = 0; k < 25; k++) {
        const body = program(r, bits, 6 + (r() % 24));
        const code = `top:\n${body}\ndec ebp\njnz top\nhlt`;
        const seed = r();
        const rigs = [JIT, false as const].map((jit) => {
          const rig = bits === 32 ? flat(code, jit) : real(code, jit);
          if (bits === 16) rig.cpu.setState({ ...rig.cpu.getState(), esp: 0x7000 });
          seedRegs(rig, rng(seed));
          return rig;
        });
        same(rigs[0], rigs[1], `program ${k}:\n${code}`);
        expect(compiled(rigs[0])).toBeGreaterThan(0);
      }
    });
  }

  it('through a fault in the middle of a block: EIP, registers, flags and icount of the instruction before it', () => {
    // The third instruction faults (#PF on an unmapped page): the ADD and the CMP are retired,
    // the handler sees the CMP's flags in the pushed EFLAGS and the MOV's EIP.
    const code = 'mov ecx, 3\n.l: add eax, 5\ncmp eax, 7\nmov ebx, [edx]\ndec ecx\njnz .l\nhlt';
    const rigs = pagedPair(code, { edx: 0x400000 });
    same(rigs[0], rigs[1], 'fault');
    expect(rigs[0].u8[0x600]).toBe(14);
    expect(rigs[0].rd32(0x608)).toBe(0x2000 + 5 + 3 + 3);
    expect(rigs[0].cpu.getState().cr2).toBe(0x400000);
  });

  it('string instructions without REP: a #PF leaves ESI and EDI as they were, in a loop walking into the hole', () => {
    // LODSD, STOSD and MOVSB walk up to the unmapped page at 400000h: in the 4th iteration the
    // MOVSB faults on its write, after its read and before it moves ESI or EDI.
    const code = 'mov esi, 0x3fffe0\nmov edi, 0x3ffff0\ncld\n.l: lodsd\nadd eax, ebx\nstosd\nmovsb\ndec edi\ndec esi\njmp .l';
    const rigs = pagedPair(code, { ebx: 0x01010101 });
    same(rigs[0], rigs[1], 'string fault');
    expect(compiled(rigs[0])).toBeGreaterThan(0);
    expect(rigs[0].u8[0x600]).toBe(14);
    expect(rigs[0].cpu.getState().cr2).toBe(0x400000);
    // The handler's saved EIP is the MOVSB's.
    expect(rigs[0].rd32(0x608)).toBe(0x2000 + 5 + 5 + 1 + 1 + 2 + 1);
    expect(rigs[0].cpu.getState().esi).toBe(0x3ffff0);
    expect(rigs[0].cpu.getState().edi).toBe(0x400000);
  });

  it('keeps a loop\'s flags in locals across iterations, and gives them to a fault and to the budget', () => {
    // The loop overwrites the flags (ADD) before it reads them, so compiled code carries the
    // DEC's flags from one iteration to the next without storing them. Whatever leaves the
    // block before the ADD must still see them: the #PF in the 5th iteration (pushed EFLAGS).
    const loop = (first: string) => `mov ecx, 6\nmov esi, 0x3ffff0\n.l: ${first}\nadd eax, ebx\nadd esi, 4\ndec ecx\njnz .l\nhlt`;
    const paged = (code: string) => pagedPair(code, { eax: 0x7ffffff0, ebx: 3 });
    const f = paged(loop('mov edx, [esi]'));
    same(f[0], f[1], 'fault');
    expect(f[0].u8[0x600]).toBe(14);
    expect(compiled(f[0])).toBeGreaterThan(0);
    // A fault in iteration 1 (no loop-back yet) and the budget ending a hot loop: same again.
    const g = paged(loop('mov edx, [esi + 0x10]'));
    same(g[0], g[1], 'fault in the first iteration');
    for (const budget of [5, 7, 13]) {
      const b = [JIT, false as const].map((jit) => flat('mov ecx, 100\n.l: mov edx, [0x8000]\nadd eax, 0x7fffffff\ndec ecx\njnz .l\nhlt', jit));
      for (const rig of b) rig.cpu.run(budget);
      expect(b[0].cpu.getState(), `budget ${budget}`).toEqual(b[1].cpu.getState());
    }
  });

  it('carries the CF a DEC keeps through a loop that produces no other flags (dec ecx; jnz)', () => {
    // The DEC's CF comes from the previous iteration's DEC (its locals), and in the first one
    // from the CPU (STC before the loop). ADC after the loop shows what the CPU's CF ended as;
    // the pushed EFLAGS of the #PF in the 4th iteration show it mid-loop.
    for (const [code, fault] of [
      ['mov ecx, 50\nstc\n.l: mov edx, [0x8000]\ndec ecx\njnz .l\nmov eax, 0\nadc eax, 0\nhlt', false],
      ['mov ecx, 50\nclc\n.l: inc ebx\nmov edx, [0x8000]\ndec ecx\njnz .l\nmov eax, 0\nadc eax, 0\nhlt', false],
      ['mov ecx, 6\nmov esi, 0x3ffff4\nstc\n.l: mov edx, [esi]\nadd esi, 4\ndec ecx\njnz .l\nhlt', true],
      ['mov ecx, 6\nmov esi, 0x3ffff4\nstc\n.l: mov edx, [esi]\nlea esi, [esi + 4]\ndec ecx\njnz .l\nhlt', true],
    ] as const) {
      const rigs = pagedPair(code);
      same(rigs[0], rigs[1], code);
      if (fault) expect(rigs[0].u8[0x600]).toBe(14);
      else expect(rigs[0].cpu.getState().eax).toBe(code.includes('stc') ? 1 : 0);
      expect(compiled(rigs[0])).toBeGreaterThan(0);
    }
    // The budget ending the loop at every point: the same state as the interpreter's.
    for (const budget of [2, 5, 8, 11]) {
      const b = [JIT, false as const].map((jit) => flat('mov ecx, 100\nstc\n.l: mov edx, [0x8000]\ndec ecx\njnz .l\nhlt', jit));
      for (const rig of b) rig.cpu.run(budget);
      expect(b[0].cpu.getState(), `budget ${budget}`).toEqual(b[1].cpu.getState());
    }
  });

  it('through a #DE and a #GP (JMP beyond the CS limit) raised by compiled code', () => {
    for (const code of ['mov eax, 10\nxor edx, edx\nxor ecx, ecx\ninc eax\ndiv ecx\nhlt', 'mov eax, 0x12345\ninc ebx\njmp eax\nhlt']) {
      const rigs = [JIT, false as const].map((jit) => {
        const rig = flat(code, jit);
        const s = rig.cpu.getState();
        rig.cpu.setState({ ...s, cs: { ...s.cs, limit: 0xffff } });
        return rig;
      });
      same(rigs[0], rigs[1], code);
      expect(rigs[0].u8[0x600]).toBe(code.includes('div') ? 0 : 13);
    }
  });

  it('through an MMIO read and write in the middle of a block (exits, completion, redo)', () => {
    const code = 'mov ecx, 4\n.l: add eax, ecx\nmov ebx, [0x200010]\nadd ebx, eax\nmov [0x200020], ebx\ndec ecx\njnz .l\nhlt';
    const runs = [JIT, false as const].map((jit) => {
      const rig = flat(code, jit);
      rig.mem.unmapPages(0x200000, 0x1000);
      const x = rig.cpu.exit;
      const seen: string[] = [];
      let r: ExitReason;
      while ((r = rig.cpu.run(1000)) === ExitReason.MMIO || r === ExitReason.INTR) {
        if (r === ExitReason.INTR) continue;
        seen.push(`${x.dir === IoDir.READ ? 'r' : 'w'} ${x.addr.toString(16)} ${x.dir === IoDir.READ ? '' : x.value().toString(16)} ip ${x.ip.toString(16)} icount ${rig.cpu.icount}`);
        if (x.dir === IoDir.READ) {
          x.setValue(0x1000 + seen.length);
          rig.cpu.completeIo();
        }
      }
      expect(r).toBe(ExitReason.HLT);
      return { seen, state: rig.cpu.getState(), rig };
    });
    expect(runs[0].seen).toEqual(runs[1].seen);
    expect(runs[0].state).toEqual(runs[1].state);
    expect(runs[0].seen.length).toBe(8);
    expect(compiled(runs[0].rig)).toBeGreaterThan(0);
  });

  it('with REP string instructions between compiled instructions', () => {
    const code = 'mov ebp, 5\n.l: mov edi, 0x9000\nmov ecx, 300\nadd eax, ebp\nrep stosb\nmov esi, 0x9000\nmov edi, 0x9400\nmov ecx, 77\nrep movsd\nlodsb\ndec ebp\njnz .l\nhlt';
    same(flat(code), flat(code, false), 'rep');
  });

  it('decodes the same bytes again for another mode (16-bit code run as 32-bit)', () => {
    // B8 01 00 00 00: MOV AX,1 + ADD [BX+SI],AL in 16-bit code, MOV EAX,1 in 32-bit code.
    const rig = new Rig(JIT);
    rig.load(0x5000, [0xb8, 0x01, 0x00, 0x00, 0x00, 0xf4]);
    for (let round = 0; round < 2; round++) {
      rig.real(0x500, 0);
      rig.cpu.setState({ ...rig.cpu.getState(), eax: 0xaaaa0000, ebx: 0x9000, esi: 0 });
      let at = rig.cpu.icount;
      rig.run();
      expect(rig.cpu.getState().eax).toBe(0xaaaa0001);
      expect(rig.cpu.icount - at).toBe(3);
      rig.flat(0x5000);
      rig.cpu.setState({ ...rig.cpu.getState(), eax: 0xaaaa0000 });
      at = rig.cpu.icount;
      rig.run();
      expect(rig.cpu.getState().eax).toBe(1);
      expect(rig.cpu.icount - at).toBe(2);
    }
  });

  it('honours a CS limit that shrank after the block was compiled', () => {
    const rig = flat('mov ecx, 5\n.l: inc eax\nnop\nnop\ndec ecx\njnz .l\nhlt');
    rig.run();
    const s = rig.cpu.getState();
    // The loop body ends at 0x2009; a limit of 0x2007 cuts it: #GP at the first NOP beyond it.
    rig.cpu.setState({ ...s, eip: 0x2005, ecx: 5, cs: { ...s.cs, limit: 0x2007 }, halted: false });
    rig.run();
    expect(rig.u8[0x600]).toBe(13);
    expect(rig.rd32(0x608)).toBe(0x2008);
  });
});

describe.skipIf(!haveNasm())('self-modifying code', () => {
  it('an instruction that rewrites the next one in the same block runs the new one', () => {
    // The MOV to [.n+1] changes the immediate of the MOV AL that follows it.
    const code = 'mov ecx, 3\n.l: mov byte [.n+1], cl\n.n: mov al, 0\nadd ebx, eax\ndec ecx\njnz .l\nhlt';
    for (const jit of [JIT, { threshold: 2 }, false as const]) {
      const rig = flat(code, jit);
      rig.run();
      expect(rig.cpu.getState().ebx).toBe(3 + 2 + 1);
    }
  });

  it('a loop compiled once runs new code after another routine patches it', () => {
    // The loop adds 1 to EAX 1000 times; then the patch makes it add 2 and it runs again.
    const code = [
      'mov esi, 2', '.again: mov ecx, 1000', '.l: add eax, 1', 'dec ecx', 'jnz .l',
      'mov byte [.l+2], 2', 'dec esi', 'jnz .again', 'hlt',
    ].join('\n');
    for (const jit of [{ threshold: 1 }, { threshold: 16 }, false as const]) {
      const rig = flat(code, jit);
      rig.run();
      expect(rig.cpu.getState().eax).toBe(1000 + 2000);
      if (jit) expect(rig.cpu.cpu.jit!.invalidated).toBeGreaterThan(0);
    }
  });

  it('writes to data next to compiled code do not drop it', () => {
    const rig = flat('mov ecx, 500\n.l: inc dword [.d]\ndec ecx\njnz .l\nhlt\nalign 64\n.d: dd 0\n');
    rig.run();
    expect(rig.rd32(0x2040)).toBe(500);
    expect(rig.cpu.cpu.jit!.invalidated).toBe(0);
  });

  it('a DMA or monitor write (GuestMemory.write) into compiled code is seen at the next block', () => {
    const rig = flat('.l: mov eax, 1\nadd ebx, eax\njmp .l');
    expect(rig.cpu.run(300)).toBe(ExitReason.INTR);
    expect(rig.cpu.getState().ebx).toBe(100);
    // Another thread's write: MOV EAX, 1 becomes MOV EAX, 5.
    rig.mem.write(0x2001, Uint8Array.of(5));
    expect(rig.cpu.run(300)).toBe(ExitReason.INTR);
    expect(rig.cpu.getState().ebx).toBe(100 + 500);
  });

  it('REP MOVS and REP STOS over compiled code go element by element and drop it', () => {
    // Copies a new loop body over the old one (ADD EAX,1 -> ADD EAX,3), then runs it.
    const code = [
      'mov edx, 2', '.again: mov ecx, 100', '.l: add eax, 1', 'dec ecx', 'jnz .l',
      'mov esi, .new', 'mov edi, .l', 'mov ecx, 3', 'rep movsb', 'dec edx', 'jnz .again', 'hlt',
      '.new: add eax, 3',
    ].join('\n');
    same(flat(code), flat(code, false), 'rep movs over code');
    const rig = flat(code);
    rig.run();
    expect(rig.cpu.getState().eax).toBe(400);
  });
});

describe.skipIf(!haveNasm())('the debugger with compiled code', () => {
  it('stops at a breakpoint armed inside a hot compiled loop, at the same instruction count', () => {
    const code = 'mov ecx, 1000\n.l: add eax, ecx\nxor ebx, eax\ndec ecx\njnz .l\nhlt';
    const counts = [JIT, false as const].map((jit) => {
      const rig = flat(code, jit);
      expect(rig.cpu.run(2001)).toBe(ExitReason.INTR);
      rig.dbg.publish({ ...none, exec: [{ addr: 0x2007, id: 1 }] });
      expect(rig.cpu.run(100)).toBe(ExitReason.DEBUG);
      expect(rig.cpu.getState().eip).toBe(0x2007);
      return [rig.cpu.icount, rig.cpu.getState().ecx];
    });
    expect(counts[0]).toEqual(counts[1]);
  });

  it('single-steps through compiled code one instruction at a time', () => {
    const rig = flat('mov ecx, 100\n.l: add eax, ecx\ndec ecx\njnz .l\nhlt');
    rig.cpu.run(150);
    const at = rig.cpu.icount;
    rig.cpu.setGuestDebug({ singleStep: true, catchAllVectors: false });
    for (let k = 1; k <= 5; k++) {
      expect(rig.cpu.run(100)).toBe(ExitReason.DEBUG);
      expect(rig.cpu.icount).toBe(at + k);
    }
  });

  it.each([
    ['write', Access.WRITE, 'mov [0x9000 + ecx*4], ecx\nadd eax, ecx'],
    ['read', Access.READ, 'add eax, [0x9000 + ecx*4]\nadd edx, ecx'],
  ])('reports a watched %s made by compiled code after that instruction', (_, access, body) => {
    const code = `mov ecx, 50\n.l: ${body}\ndec ecx\njnz .l\nhlt`;
    const stops = [JIT, false as const].map((jit) => {
      const rig = flat(code, jit);
      rig.cpu.run(40); // compiled and looping
      rig.dbg.publish({ ...none, watch: [{ start: 0x9000 + 20 * 4, end: 0x9000 + 21 * 4, access, space: WatchSpace.LINEAR, id: 2 }] });
      const x = rig.cpu.exit;
      let r: ExitReason;
      while ((r = rig.cpu.run(1000)) === ExitReason.INTR);
      expect([r, x.debug, x.debugAddr]).toEqual([ExitReason.DEBUG, 'watch', 0x9000 + 80]);
      return [rig.cpu.getState(), rig.cpu.icount];
    });
    expect(stops[0]).toEqual(stops[1]);
  });

  it('keeps the budget exact: run(n) retires n instructions of a compiled loop', () => {
    const rig = flat('.l: add eax, 1\nadd ebx, eax\njmp .l');
    for (const n of [1, 2, 3, 7, 100, 1001]) {
      const before = rig.cpu.icount;
      expect(rig.cpu.run(n)).toBe(ExitReason.INTR);
      expect(rig.cpu.icount - before).toBe(n);
    }
    expect(rig.cpu.icount).toBe(1 + 2 + 3 + 7 + 100 + 1001);
    expect(rig.cpu.getState().eax).toBe(Math.floor((rig.cpu.icount + 2) / 3));
  });

  it('POPF in compiled code: TF traps after the next instruction, IF lets a waiting interrupt in', () => {
    // TF from POPF: the single-step #DB comes after the instruction that follows the POPF
    // (it began with TF=1), as in the interpreter: the handler sees that instruction's end.
    const tf = 'xor ebx, ebx\nxor edx, edx\nmov ecx, 20\n.l: add eax, 1\ndec ecx\njnz .l\npushfd\nor dword [esp], 0x100\npopfd\nadd ebx, 7\nadd edx, 9\nhlt';
    // (A trap fast path that declines everything, as in the vCPU thread: after POPF the block
    // goes on when nothing needs the careful path, and leaves when TF or IF does.)
    const decline: TrapFastPath = { read: () => -1, write: () => false };
    const rig = (code: string, jit: typeof JIT | false): Rig => {
      const r = flat(code, jit);
      r.cpu.cpu.trapFast = decline;
      return r;
    };
    const loop = 'mov ecx, 50\n.l: pushfd\nadd eax, ecx\npopfd\nadc ebx, 0\npushfw\nsub edx, eax\npopfw\ndec ecx\njnz .l\nhlt';
    const l = [JIT, false as const].map((jit) => rig(loop, jit));
    same(l[0], l[1], 'POPF in a loop');
    const a = [JIT, false as const].map((jit) => rig(tf, jit));
    same(a[0], a[1], 'TF set by POPF');
    expect(a[0].u8[0x600]).toBe(1);
    expect(a[0].cpu.getState().ebx).toBe(7);
    expect(a[0].cpu.getState().edx).toBe(0);
    expect(compiled(a[0])).toBeGreaterThan(0);
    // IF from POPF with an interrupt already waiting: taken right after the POPF (no shadow).
    const intr = 'xor ebx, ebx\nmov ecx, 20\n.l: add eax, 1\ndec ecx\njnz .l\npushfd\nor dword [esp], 0x200\npopfd\nadd ebx, 7\nhlt';
    const out = [JIT, false as const].map((jit) => {
      const r = rig(intr, jit);
      r.cpu.injectInterrupt(0x40);
      expect(r.cpu.run(1000)).toBe(ExitReason.HLT);
      return [r.u8[0x600], r.rd32(0x608), r.cpu.icount, r.cpu.getState()];
    });
    expect(out[0]).toEqual(out[1]);
    expect(out[0][0]).toBe(0x40);
    expect((out[0][3] as CpuState).ebx).toBe(0);
  });

  it('takes an injected interrupt at an instruction boundary of a compiled loop', () => {
    const code = 'sti\nmov ecx, 100000\n.l: add eax, 3\nadd ebx, eax\ndec ecx\njnz .l\nhlt';
    const out = [JIT, false as const].map((jit) => {
      const rig = flat(code, jit);
      expect(rig.cpu.run(5003)).toBe(ExitReason.INTR);
      rig.cpu.injectInterrupt(0x40);
      expect(rig.cpu.run(100)).toBe(ExitReason.HLT);
      return [rig.u8[0x600], rig.rd32(0x608), rig.cpu.icount, rig.cpu.getState()];
    });
    expect(out[0]).toEqual(out[1]);
    expect(out[0][0]).toBe(0x40);
  });
});
