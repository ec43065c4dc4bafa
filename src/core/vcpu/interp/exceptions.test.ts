// Exceptions and their delivery: error codes, faults vs traps, #DF, triple fault, the
// real-mode IVT, and that nothing a guest executes becomes a host exception.

import { describe, expect, it } from 'vitest';
import { ExitReason } from '../VcpuBackend.js';
import { Rig, asm, haveNasm, recordingHandlers } from './testing/rig.js';

describe.skipIf(!haveNasm())('exceptions', () => {
  function setup(code: string): Rig {
    const rig = new Rig();
    rig.load(0x3000, recordingHandlers());
    rig.load(0x2000, asm(code, 32, 0x2000));
    rig.flat(0x2000, { idtHandlers: 0x3000 });
    return rig;
  }

  it('reports a fault at the faulting instruction with its error code', () => {
    const rig = setup('nop\nmov ax, 0x1f8\nmov ds, ax\nhlt');
    expect(rig.run()).toBe(ExitReason.HLT);
    expect(rig.u8[0x600]).toBe(13);
    expect(rig.rd32(0x604)).toBe(0x1f8);
    expect(rig.rd32(0x608)).toBe(0x2005); // the MOV DS, not the next instruction
  });

  it('reports traps (INT3, INTO, ICEBP) after the instruction', () => {
    for (const [code, vec] of [['int3', 3], ['mov al, 0x7f\nadd al, 1\ninto', 4], ['db 0xf1', 1]] as const) {
      const rig = setup(`${code}\nhlt`);
      const len = asm(code, 32, 0x2000).length;
      rig.run();
      expect(rig.u8[0x600]).toBe(vec);
      expect(rig.rd32(0x608)).toBe(0x2000 + len);
    }
  });

  it('divide overflow of -2^63 / -1 is #DE', () => {
    const rig = setup('xor eax, eax\nmov edx, 0x80000000\nmov ecx, -1\nidiv ecx\nhlt');
    rig.run();
    expect(rig.u8[0x600]).toBe(0);
  });

  it('writing a read-only data segment is #GP(0)', () => {
    const rig = setup('mov ax, 0x30\nmov es, ax\nmov byte [es:0x100], 1\nhlt');
    rig.desc(0x500, 6, 0, 0xfffff, 0x91);
    rig.cpu.setState({ ...rig.cpu.getState(), gdtr: { base: 0x500, limit: 0x37 } });
    rig.run();
    expect(rig.u8[0x600]).toBe(13);
    expect(rig.rd32(0x604)).toBe(0);
  });

  it('checks alignment at CPL 3 with CR0.AM and EFLAGS.AC (#AC, 486)', () => {
    const rig = setup('hlt');
    rig.load(0x4000, asm('mov eax, [0x9000]\nmov ax, [0x9002]\nmov eax, [0x9001]\nhlt', 32, 0x4000));
    const s = rig.cpu.getState();
    const ucode = { selector: 0x1b, base: 0, limit: 0xffffffff, attr: 0xc0fb };
    const udata = { selector: 0x23, base: 0, limit: 0xffffffff, attr: 0xc0f3 };
    rig.cpu.setState({ ...s, cs: ucode, ss: udata, ds: udata, es: udata, eip: 0x4000, esp: 0x7000, cr0: 0x40011, eflags: 0x40002 });
    rig.run();
    expect([rig.u8[0x600], rig.rd32(0x604), rig.rd32(0x608)]).toEqual([17, 0, 0x4000 + 5 + 6]);
    // Not at CPL 0, and not with AM clear.
    const rig2 = setup('mov eax, [0x9001]\nint3');
    rig2.cpu.setState({ ...rig2.cpu.getState(), cr0: 0x40011, eflags: 0x40002 });
    rig2.run();
    expect(rig2.u8[0x600]).toBe(3);
  });

  it('single-steps with TF: #DB after each instruction', () => {
    const rig = setup('pushfd\nor dword [esp], 0x100\npopfd\nnop\nnop\nhlt');
    rig.run();
    expect(rig.u8[0x600]).toBe(1);
    expect(rig.rd32(0x608)).toBe(0x2000 + asm('pushfd\nor dword [esp], 0x100\npopfd\nnop', 32, 0x2000).length);
    expect(rig.cpu.getState().dr[4] & 0x4000).toBe(0x4000);
  });

  it('takes the guest\'s instruction breakpoints (DR0-DR3) as #DB faults, RF lets it resume', () => {
    const rig = setup('nop\nnop\ntarget: inc eax\nhlt');
    // #DB handler: count, set RF in the pushed EFLAGS, IRET back to the breakpoint.
    rig.load(0x3000 + 32, asm('inc dword [ss:0x700]\nor dword [esp + 8], 0x10000\niretd', 32, 0x3000 + 32));
    rig.cpu.setState({ ...rig.cpu.getState(), dr: [0x2002, 0, 0, 0, 0xffff0ff0, 0x401] });
    rig.run();
    expect(rig.rd32(0x700)).toBe(1);          // one #DB, then RF let the INC through
    const s = rig.cpu.getState();
    expect(s.eax).toBe(1);
    expect(s.dr[4] & 0xf).toBe(1);            // DR6.B0
    expect(s.eflags & 0x10000).toBe(0);       // RF is gone after that instruction
  });

  it('takes data breakpoints as #DB traps after the access (DR6.Bn), read/write and write-only', () => {
    const rig = setup('mov eax, [0x9008]\nmov [0x9004], eax\nhlt');
    // DR1: 4 bytes at 0x9004, write only; DR2: 2 bytes at 0x9008, read/write.
    const dr7 = (1 << 2) | (1 << 4) | (0b01 << 20) | (0b11 << 22) | (0b11 << 24) | (0b01 << 26) | 0x400;
    rig.cpu.setState({ ...rig.cpu.getState(), dr: [0, 0x9004, 0x9008, 0, 0xffff0ff0, dr7] });
    rig.run();
    expect([rig.u8[0x600], rig.rd32(0x608)]).toEqual([1, 0x2005]); // after the read
    expect(rig.cpu.getState().dr[4] & 0xf).toBe(4);                // DR6.B2
    const rig2 = setup('mov eax, [0x9004]\nmov [0x9004], eax\nhlt');
    rig2.cpu.setState({ ...rig2.cpu.getState(), dr: [0, 0x9004, 0x9008, 0, 0xffff0ff0, dr7] });
    rig2.run();
    expect([rig2.u8[0x600], rig2.rd32(0x608)]).toEqual([1, 0x200a]); // the read did not count
    expect(rig2.cpu.getState().dr[4] & 0xf).toBe(2);                  // DR6.B1
  });

  it('DR7.GD makes a MOV DRn fault with DR6.BD', () => {
    const rig = setup('mov eax, dr7\nor eax, 0x2000\nmov dr7, eax\nmov dr0, eax\nhlt');
    rig.run();
    expect([rig.u8[0x600], rig.rd32(0x608)]).toEqual([1, 0x2000 + 3 + 5 + 3]);
    const s = rig.cpu.getState();
    expect(s.dr[4] & 0x2000).toBe(0x2000);
    expect(s.dr[5] & 0x2000).toBe(0);         // GD cleared on the way in
  });

  it('a fault while delivering a fault is #DF', () => {
    const rig = setup('mov ax, 0x1f8\nmov ds, ax\nhlt');
    rig.u8[0x1000 + 13 * 8 + 5] &= 0x7f; // #GP gate not present: #NP while delivering #GP
    rig.run();
    expect(rig.u8[0x600]).toBe(8);
    expect(rig.rd32(0x604)).toBe(0);
  });

  it('a page fault while delivering a page fault is #DF (taken through a task gate)', () => {
    // Paging on; the stack page is absent, so pushing the #PF frame faults again. #DF goes
    // through a task gate to a TSS with a good stack.
    const rig = setup('mov eax, cr0\nor eax, 0x80000000\nmov cr0, eax\nmov esp, 0x6000\nmov eax, [0x300000]\nhlt');
    const pd = 0x100000, pt = 0x101000;
    for (let i = 0; i < 1024; i++) rig.wr32(pt + i * 4, (i << 12) | 3);
    rig.wr32(pt + 0x300 * 4, 0);
    rig.wr32(pt + 5 * 4, 0);
    rig.wr32(pd, pt | 3);
    rig.desc(0x500, 6, 0x900, 0x67, 0x89, 0);
    rig.wr32(0x900 + 0x1c, pd);                  // CR3
    rig.wr32(0x900 + 0x20, 0x3000 + 8 * 32);     // EIP: the recording handler of vector 8
    rig.wr32(0x900 + 0x24, 2);
    rig.wr32(0x900 + 0x38, 0x9000);              // ESP
    for (const [off, sel] of [[0x48, 0x10], [0x4c, 0x08], [0x50, 0x10], [0x54, 0x10]]) rig.wr32(0x900 + off, sel);
    rig.gate(0x1000, 8, 0x30, 0, 0x85);          // task gate
    rig.cpu.setState({ ...rig.cpu.getState(), cr3: pd, gdtr: { base: 0x500, limit: 0x37 } });
    expect(rig.run()).toBe(ExitReason.HLT);
    expect(rig.u8[0x600]).toBe(8);
    expect(rig.rd32(0x604)).toBe(0);              // #DF's error code, on the new task's stack
    const s = rig.cpu.getState();
    expect(s.tr.selector).toBe(0x30);
    expect(s.cr2).toBe(0x5ffc);                   // the second fault: the push
  });

  it('an exception with no usable IDT shuts the CPU down (triple fault)', () => {
    const rig = setup('ud2');
    rig.cpu.setState({ ...rig.cpu.getState(), idtr: { base: 0x1000, limit: 0 } });
    expect(rig.run()).toBe(ExitReason.SHUTDOWN);
    expect(rig.cpu.exit.shutdown).toBe('triple-fault');
    expect(rig.run()).toBe(ExitReason.SHUTDOWN); // stays down until reset
    rig.cpu.reset();
    expect(rig.cpu.getState().eip).toBe(0xfff0);
  });

  it('delivers real-mode exceptions through the IVT with FLAGS, CS, IP pushed', () => {
    const rig = new Rig();
    rig.load(0x7000, asm('mov ax, 1\nxor dl, dl\ndiv dl\nhlt', 16, 0));
    rig.wr32(0, 0x0800_0010); // vector 0 -> 0800:0010
    rig.load(0x8010, [0xf4]);
    rig.real(0x700, 0);
    rig.cpu.setState({ ...rig.cpu.getState(), esp: 0x1000 });
    expect(rig.run()).toBe(ExitReason.HLT);
    const s = rig.cpu.getState();
    expect(s.cs.selector).toBe(0x800);
    expect(s.eip).toBe(0x11);
    expect(s.esp).toBe(0x1000 - 6);
    expect(rig.u8[0xffa] | (rig.u8[0xffb] << 8)).toBe(5); // IP of the DIV
    expect(rig.u8[0xffc] | (rig.u8[0xffd] << 8)).toBe(0x700);
  });

  it('raises #GP for an instruction longer than 15 bytes, and runs one of 15', () => {
    // 4 prefixes + add dword [eax+eax*1+0x12345678], 0x11223344 (11 bytes) = 15: fine.
    const ok = setup('db 0x26, 0x3e, 0x26, 0x3e\nadd dword [eax+eax*1+0x1000], 0x11223344\nint3');
    ok.run();
    expect(ok.u8[0x600]).toBe(3);
    // One more prefix: 16 bytes.
    const bad = setup('db 0x26, 0x3e, 0x26, 0x3e, 0x26\nadd dword [eax+eax*1+0x1000], 0x11223344\nint3');
    bad.run();
    expect([bad.u8[0x600], bad.rd32(0x604), bad.rd32(0x608)]).toEqual([13, 0, 0x2000]);
  });

  it('raises #UD for undecodable opcodes', () => {
    for (const bytes of [[0x0f, 0xff], [0x0f, 0x0b], [0x0f, 0x04], [0xfe, 0xf8], [0xff, 0xff], [0x8d, 0xc0], [0xc4, 0xc0], [0x0f, 0xc7, 0xc8]]) {
      const rig = setup('hlt');
      rig.load(0x2000, bytes);
      rig.run();
      expect(rig.u8[0x600], bytes.map((b) => b.toString(16)).join(' ')).toBe(6);
    }
  });
});

describe('random code never becomes a host exception', () => {
  it('executes random bytes in real and protected mode without INTERNAL_ERROR', () => {
    let seed = 12345;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed >>> 16;
    };
    for (let round = 0; round < 60; round++) {
      const rig = new Rig();
      for (let i = 0; i < 0x10000; i++) rig.u8[i] = rnd() & 0xff;
      for (let i = 0x10000; i < 0x20000; i++) rig.u8[i] = rnd() & 0xff;
      if (round % 2) rig.real(0x1000, rnd() & 0xffff);
      else {
        rig.flat(0x10000 + (rnd() & 0xffff));
        // Garbage IDT and GDT: every kind of fault during delivery.
        rig.cpu.setState({ ...rig.cpu.getState(), idtr: { base: 0x100, limit: 0x7ff } });
      }
      let n = 0;
      for (let k = 0; k < 200 && n < 20_000; k++) {
        const r = rig.cpu.run(1000);
        n += 1000;
        expect(r, rig.cpu.exit.message).not.toBe(ExitReason.INTERNAL_ERROR);
        if (r === ExitReason.SHUTDOWN) break;
        if (r === ExitReason.HLT) {
          rig.cpu.setState({ ...rig.cpu.getState(), halted: false });
        }
        if ((r === ExitReason.IO || r === ExitReason.MMIO) && rig.cpu.exit.dir === 1) rig.cpu.completeIo();
      }
    }
  });

  it('turns an unexpected JS exception into INTERNAL_ERROR with a message', () => {
    const rig = new Rig();
    rig.real(0, 0x100);
    (rig.cpu.cpu as unknown as { tlb: null }).tlb = null;
    expect(rig.cpu.run(10)).toBe(ExitReason.INTERNAL_ERROR);
    expect(rig.cpu.exit.message).toMatch(/interpreter error/);
  });
});
