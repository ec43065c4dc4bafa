// The debugger's hooks (breakpoints, watchpoints, vector catch, single-step, icount), the
// run loop's contract (budget, kick word, HLT), interrupt injection (IF, the shadow after
// STI / MOV SS, the interrupt window, NMI) and the state round trip.

import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Access, WatchSpace } from '../../debug/DebugTables.js';
import { ExitReason } from '../VcpuBackend.js';
import { CPU_SIGNATURE } from './consts.js';
import { Rig, asm, haveNasm, recordingHandlers } from './testing/rig.js';

function flat(code: string): Rig {
  const rig = new Rig();
  rig.load(0x3000, recordingHandlers());
  rig.load(0x2000, asm(code, 32, 0x2000));
  rig.flat(0x2000, { idtHandlers: 0x3000 });
  return rig;
}

const none = { exec: [], watch: [], io: [], mmio: [], vectors: [] };

describe.skipIf(!haveNasm())('debugger hooks', () => {
  it('stops before an instruction at a breakpoint, and skipBreakpointOnce() resumes past it', () => {
    const rig = flat('nop\nnop\nmov eax, 1\nhlt');
    rig.dbg.publish({ ...none, exec: [{ addr: 0x2002, id: 1 }] });
    const x = rig.cpu.exit;
    expect(rig.cpu.run(100)).toBe(ExitReason.DEBUG);
    expect([x.debug, x.debugAddr, rig.cpu.getState().eip, rig.cpu.getState().eax]).toEqual(['breakpoint', 0x2002, 0x2002, 0]);
    expect(rig.cpu.icount).toBe(2);
    expect(rig.cpu.run(100)).toBe(ExitReason.DEBUG); // still there
    rig.cpu.skipBreakpointOnce();
    expect(rig.cpu.run(100)).toBe(ExitReason.HLT);
    expect(rig.cpu.getState().eax).toBe(1);
  });

  it('does not stop again at a REP instruction between its iterations', () => {
    const rig = flat('mov edi, 0x100000\nmov ecx, 100000\nrep stosb\nhlt');
    rig.dbg.publish({ ...none, exec: [{ addr: 0x200a, id: 1 }] });
    expect(rig.cpu.run(1_000_000)).toBe(ExitReason.DEBUG);
    rig.cpu.skipBreakpointOnce();
    let r: ExitReason;
    while ((r = rig.cpu.run(1_000_000)) === ExitReason.INTR);
    expect(r).toBe(ExitReason.HLT);
    expect(rig.cpu.getState().ecx).toBe(0);
  });

  it('reports a write to a watched linear range after the instruction', () => {
    const rig = flat('mov eax, [0x9000]\nmov word [0x9012], 0x1234\nmov ebx, 2\nhlt');
    rig.dbg.publish({ ...none, watch: [{ start: 0x9010, end: 0x9014, access: Access.WRITE, space: WatchSpace.LINEAR, id: 3 }] });
    const x = rig.cpu.exit;
    expect(rig.cpu.run(100)).toBe(ExitReason.DEBUG);
    expect([x.debug, x.debugAddr, x.watchSize, x.watchWrite]).toEqual(['watch', 0x9012, 2, true]);
    expect(rig.cpu.getState().eip).toBe(0x2000 + 5 + 9); // after the store
    expect(rig.u8[0x9012]).toBe(0x34);
    expect(rig.cpu.run(100)).toBe(ExitReason.HLT);
  });

  it('reports a read of a watched physical range through a different linear address', () => {
    const rig = flat('mov eax, cr0\nor eax, 0x80000000\nmov cr0, eax\nmov eax, [0x50004]\nhlt');
    const pd = 0x100000, pt = 0x101000;
    for (let i = 0; i < 1024; i++) rig.wr32(pt + i * 4, (i << 12) | 3);
    rig.wr32(pt + 0x50 * 4, 0x9000 | 3);
    rig.wr32(pd, pt | 3);
    rig.cpu.setState({ ...rig.cpu.getState(), cr3: pd });
    rig.dbg.publish({ ...none, watch: [{ start: 0x9004, end: 0x9008, access: Access.READ, space: WatchSpace.PHYS, id: 4 }] });
    const x = rig.cpu.exit;
    expect(rig.cpu.run(100)).toBe(ExitReason.DEBUG);
    expect([x.debug, x.debugAddr, x.watchSize, x.watchWrite]).toEqual(['watch', 0x9004, 4, false]);
  });

  it('catches a vector before delivery, with the state at the INT; resuming delivers it', () => {
    const rig = flat('nop\nint 0x21\nhlt');
    rig.dbg.publish({ ...none, vectors: [0x21] });
    const x = rig.cpu.exit;
    expect(rig.cpu.run(100)).toBe(ExitReason.DEBUG);
    expect([x.debug, x.vector, x.errorCode, rig.cpu.getState().eip]).toEqual(['vector', 0x21, -1, 0x2001]);
    expect(rig.cpu.icount).toBe(1);
    expect(rig.cpu.run(100)).toBe(ExitReason.HLT);
    expect(rig.u8[0x600]).toBe(0x21);
    expect(rig.rd32(0x608)).toBe(0x2003);
    expect(rig.cpu.icount).toBe(2 + 5); // nop, int, the handler's 5 instructions (hlt included)
  });

  it('catchAllVectors stops at exceptions with their error code', () => {
    const rig = flat('mov ax, 0x1f8\nmov ds, ax\nhlt');
    rig.cpu.setGuestDebug({ singleStep: false, catchAllVectors: true });
    const x = rig.cpu.exit;
    expect(rig.cpu.run(100)).toBe(ExitReason.DEBUG);
    expect([x.vector, x.errorCode, rig.cpu.getState().eip]).toEqual([13, 0x1f8, 0x2004]);
    expect(rig.cpu.run(100)).toBe(ExitReason.HLT);
    expect(rig.u8[0x600]).toBe(13);
  });

  it('single-steps exactly one instruction per run()', () => {
    const rig = flat('mov eax, 1\nmov ebx, 2\nout 0x80, al\nhlt');
    rig.cpu.setGuestDebug({ singleStep: true, catchAllVectors: false });
    const x = rig.cpu.exit;
    expect(rig.cpu.run(100)).toBe(ExitReason.DEBUG);
    expect([x.debug, rig.cpu.getState().eip, rig.cpu.icount]).toEqual(['step', 0x2005, 1]);
    expect(rig.cpu.run(100)).toBe(ExitReason.DEBUG);
    expect([rig.cpu.getState().eip, rig.cpu.icount]).toEqual([0x200a, 2]);
    expect(rig.cpu.run(100)).toBe(ExitReason.IO); // the OUT leaves first...
    expect(rig.cpu.run(100)).toBe(ExitReason.DEBUG); // ...then the step ends
    expect([rig.cpu.getState().eip, rig.cpu.icount]).toEqual([0x200c, 3]);
  });

  it('costs nothing when nothing is armed: no exits for a long loop', () => {
    const rig = flat('mov ecx, 200000\n.l: add eax, ecx\nloop .l\nhlt');
    expect(rig.run()).toBe(ExitReason.HLT);
    expect(rig.cpu.icount).toBe(1 + 400000 + 1);
  });
});

describe.skipIf(!haveNasm())('the run loop', () => {
  it('returns INTR when the budget runs out', () => {
    const rig = flat('jmp $');
    expect(rig.cpu.run(10)).toBe(ExitReason.INTR);
    expect(rig.cpu.icount).toBe(10);
  });

  it('returns INTR when another thread sets the kick word, and clears it', async () => {
    const rig = flat('jmp $');
    const w = new Worker(
      `const { workerData } = require('node:worker_threads');
       const k = new Int32Array(workerData);
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
       Atomics.store(k, 0, 1);`,
      { eval: true, workerData: rig.kick.buffer },
    );
    const t0 = Date.now();
    expect(rig.cpu.run(1e12)).toBe(ExitReason.INTR);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(Atomics.load(rig.kick, 0)).toBe(0);
    await w.terminate();
  });

  it('requestExit() makes the next run() return INTR', () => {
    const rig = flat('jmp $');
    rig.cpu.requestExit();
    expect(rig.cpu.run(1000)).toBe(ExitReason.INTR);
    expect(rig.cpu.icount).toBe(0);
  });

  it('delivers an injected interrupt when IF=1', () => {
    const rig = flat('sti\njmp $');
    expect(rig.cpu.run(100)).toBe(ExitReason.INTR);
    expect(rig.cpu.interruptible).toBe(true);
    rig.cpu.injectInterrupt(0x40);
    expect(rig.cpu.run(100)).toBe(ExitReason.HLT);
    expect(rig.u8[0x600]).toBe(0x40);
    expect(rig.rd32(0x608)).toBe(0x2001);
  });

  it('wakes from HLT on an interrupt and returns after the HLT', () => {
    const rig = flat('sti\nhlt\nmov eax, 7\nhlt');
    expect(rig.cpu.run(100)).toBe(ExitReason.HLT);
    expect(rig.cpu.run(100)).toBe(ExitReason.HLT); // nothing to wake it
    rig.cpu.injectInterrupt(0x41);
    expect(rig.cpu.run(100)).toBe(ExitReason.HLT); // the handler's HLT
    expect(rig.u8[0x600]).toBe(0x41);
    expect(rig.rd32(0x608)).toBe(0x2002);
  });

  it('holds interrupts for one instruction after STI and MOV SS (the shadow)', () => {
    const rig = flat('cli\nnop\nsti\nnop\nnop\nhlt');
    rig.cpu.setInterruptWindow(true);
    expect(rig.cpu.run(100)).toBe(ExitReason.IRQ_WINDOW);
    expect(rig.cpu.getState().eip).toBe(0x2004); // after STI and the NOP it protects
    rig.cpu.setInterruptWindow(false);

    const rig2 = flat('mov ax, ss\nsti\nnop\nmov ss, ax\nnop\nnop\nhlt');
    expect(rig2.cpu.run(3)).toBe(ExitReason.INTR); // up to the NOP after STI
    rig2.cpu.run(1); // MOV SS
    expect(rig2.cpu.interruptible).toBe(false);
    rig2.cpu.injectInterrupt(0x42);
    expect(rig2.run()).toBe(ExitReason.HLT);
    expect(rig2.rd32(0x608)).toBe(0x2000 + 3 + 1 + 1 + 2 + 1); // after the NOP that follows MOV SS
  });

  it('delivers NMI with IF=0 and blocks the next one until IRET', () => {
    const rig = flat('cli\njmp $');
    rig.load(0x3000 + 2 * 32, asm('inc dword [0x700]\njmp $', 32, 0x3000 + 2 * 32));
    rig.cpu.run(10);
    rig.cpu.injectNmi();
    rig.cpu.run(100);
    expect(rig.rd32(0x700)).toBe(1);
    rig.cpu.injectNmi();
    rig.cpu.run(100);
    expect(rig.rd32(0x700)).toBe(1); // blocked: the handler has not returned
  });

  it('round-trips the state, with EFLAGS computed from the lazy flags', () => {
    const rig = flat('mov eax, 0xffffffff\nadd eax, 1\nhlt');
    rig.run();
    const s = rig.cpu.getState();
    expect(s.eflags & 0x8d5).toBe(0x55); // CF ZF PF AF
    const t = { ...s, eax: 0x12345678, ebx: 0x9abcdef0, esi: 0xfedcba98, eip: 0x2000, eflags: 0x246, cr2: 0xdead0000 };
    rig.cpu.setState(t);
    expect(rig.cpu.getState()).toEqual({ ...t, tsc: rig.cpu.getState().tsc, msrs: rig.cpu.getState().msrs });
  });

  it('resets to the power-on state', () => {
    const rig = flat('hlt');
    rig.run();
    rig.cpu.reset();
    const s = rig.cpu.getState();
    expect([s.cs.selector, s.cs.base, s.eip, s.edx, s.cr0, s.eflags]).toEqual([0xf000, 0xffff0000, 0xfff0, CPU_SIGNATURE, 0x60000010, 2]);
    expect(rig.cpu.icount).toBe(0);
  });
});
