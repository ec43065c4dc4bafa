// The trap fast path (Cpu.trapFast): accesses outside RAM answered inside run() instead of as
// exits, compiled code and interpreter alike. What must hold: the guest sees the same values
// and the same order of device accesses whichever way an access goes; a device is never read
// twice for one instruction when a later access of that instruction has to exit; a declined
// access is an ordinary exit; requestStop() leaves run() at the next instruction boundary.

import { describe, expect, it } from 'vitest';
import { ExitReason, IoDir } from '../VcpuBackend.js';
import type { TrapFastPath } from './cpu.js';
import { Rig, asm, haveNasm } from './testing/rig.js';

/** A device: reads of `addr` return addr ^ 0x5a5a5a5a (per size), every access logged. */
class FakeDevices implements TrapFastPath {
  log: string[] = [];
  constructor(private readonly _declines: (addr: number) => boolean) {}
  answer(addr: number, size: number): number {
    const v = (addr ^ 0x5a5a5a5a) >>> 0;
    return size === 4 ? v : v & ((1 << (size * 8)) - 1);
  }
  read(kind: number, addr: number, size: number): number {
    if (this._declines(addr)) return -1;
    this.log.push(`${kind === ExitReason.IO ? 'in' : 'rd'} ${addr.toString(16)}/${size}`);
    return this.answer(addr, size);
  }
  write(kind: number, addr: number, size: number, value: number): boolean {
    if (this._declines(addr)) return false;
    this.log.push(`${kind === ExitReason.IO ? 'out' : 'wr'} ${addr.toString(16)}/${size}=${(value >>> 0).toString(16)}`);
    return true;
  }
}

/** Runs to HLT, doing what the run loop does for the exits the fast path declined. */
function runWith(code: string, jit: { threshold: number } | false, declines: (addr: number) => boolean) {
  const rig = new Rig(jit);
  rig.load(0x2000, asm(code, 32, 0x2000));
  rig.flat(0x2000);
  rig.mem.unmapPages(0x200000, 0x2000);
  const dev = new FakeDevices(declines);
  rig.cpu.cpu.trapFast = dev;
  const x = rig.cpu.exit;
  let exits = 0;
  let r: ExitReason;
  while ((r = rig.cpu.run(1000)) === ExitReason.MMIO || r === ExitReason.IO || r === ExitReason.INTR) {
    if (r === ExitReason.INTR) continue;
    exits++;
    const kind = r === ExitReason.IO ? 'in' : 'rd';
    if (x.dir === IoDir.READ) {
      dev.log.push(`${kind} ${x.addr.toString(16)}/${x.size} (exit)`);
      x.setValue(dev.answer(x.addr, x.size));
      rig.cpu.completeIo();
    } else {
      dev.log.push(`${r === ExitReason.IO ? 'out' : 'wr'} ${x.addr.toString(16)}/${x.size}=${(x.value() >>> 0).toString(16)} (exit)`);
    }
  }
  expect(r).toBe(ExitReason.HLT);
  return { rig, log: dev.log, exits, state: rig.cpu.getState() };
}

const PROGRAM = `
  mov ecx, 3
.l:
  in al, 0x21
  mov dx, 0x40
  in ax, dx
  out 0x21, al
  mov ebx, [0x200010]
  add ebx, eax
  mov [0x200020], ebx
  mov esi, 0x200100
  mov edi, 0x201000
  cmpsd
  loop .l
  hlt`;

describe.skipIf(!haveNasm())('the trap fast path', () => {
  for (const jit of [{ threshold: 1 }, false as const]) {
    const how = jit ? 'compiled' : 'interpreted';

    it(`${how}: answers in place what it takes, with the values and order of the exit path`, () => {
      const fast = runWith(PROGRAM, jit, () => false);
      const slow = runWith(PROGRAM, jit, () => true);
      expect(fast.exits).toBe(0);
      expect(slow.exits).toBe(fast.log.length);
      expect(slow.log.map((l) => l.replace(' (exit)', ''))).toEqual(fast.log);
      expect(fast.state).toEqual(slow.state);
      // AL = 40h ^ 5Ah from IN AX,DX; EBX = (200010h ^ 5A5A5A5Ah) + EAX.
      expect(fast.log.slice(0, 7)).toEqual(['in 21/1', 'in 40/2', 'out 21/1=1a', 'rd 200010/4', 'wr 200020/4=5a7ab464', 'rd 200100/4', 'rd 201000/4']);
    });

    it(`${how}: reads a device once when a later access of the same instruction must exit`, () => {
      // CMPSD reads [ESI] in place, then [EDI] exits; the redo takes [ESI] from the read cache.
      const r = runWith(PROGRAM, jit, (a) => a === 0x201000);
      expect(r.exits).toBe(3);
      expect(r.log.filter((l) => l.startsWith('rd 200100'))).toHaveLength(3);
      expect(r.log.filter((l) => l.startsWith('rd 201000'))).toEqual(Array(3).fill('rd 201000/4 (exit)'));
      expect(r.state).toEqual(runWith(PROGRAM, jit, () => true).state);
    });
  }

  // Device memory in the top half of the address space (a local APIC's page): the address
  // reaches the fast path unsigned, as it reaches an exit.
  const HIGH = `
  mov ecx, 3
.l:
  mov dword [0xfee00300], 0x4608
  mov eax, [0xfee00300]
  add [0xfee00310], eax
  loop .l
  hlt`;

  for (const jit of [{ threshold: 1 }, false as const]) {
    const how = jit ? 'compiled' : 'interpreted';
    it(`${how}: accesses to device memory above 2 GiB reach the device at their address, in order`, () => {
      const fast = runWith(HIGH, jit, () => false);
      const slow = runWith(HIGH, jit, () => true);
      expect(fast.exits).toBe(0);
      expect(fast.log.slice(0, 4)).toEqual(['wr fee00300/4=4608', 'rd fee00300/4', 'rd fee00310/4', 'wr fee00310/4=4974b2a4']);
      expect(fast.log).toHaveLength(12);
      expect(slow.log.map((l) => l.replace(' (exit)', ''))).toEqual(fast.log);
      expect(fast.state).toEqual(slow.state);
    });
  }

  // Writes that straddle RAM and device memory (a MOV into it, a MOVSD out of it): the device's
  // part goes out a byte at a time, each byte once and carrying only its own value, compiled
  // or not, on the fast path as through exits.
  const EDGES = `
  mov ecx, 3
.l:
  mov dword [0x1ffffe], 0x11223344
  mov esi, 0x1ffffc
  mov edi, 0x201ffe
  movsd
  loop .l
  hlt`;

  for (const jit of [{ threshold: 1 }, false as const]) {
    const how = jit ? 'compiled' : 'interpreted';
    it(`${how}: a write across the edge of device memory reaches it once per byte it covers, in order`, () => {
      const fast = runWith(EDGES, jit, () => false);
      const slow = runWith(EDGES, jit, () => true);
      expect(fast.exits).toBe(0);
      expect(fast.log.slice(0, 4)).toEqual(['wr 200000/1=22', 'wr 200001/1=11', 'wr 201ffe/1=0', 'wr 201fff/1=0']);
      expect(slow.log.map((l) => l.replace(' (exit)', ''))).toEqual(fast.log);
      expect(fast.state).toEqual(slow.state);
      expect(fast.rig.rd32(0x1ffffc)).toBe(0x33440000);
    });
  }

  // REP STOSW and REP MOVSB into device memory: each element's write is handed over as the
  // iteration completes, and the instruction goes on unless the fast path declines one.
  const REP = `
  mov edi, 0x200000
  mov ecx, 40
  mov ax, 0x0741
  rep stosw
  mov esi, 0x3000
  mov edi, 0x200100
  mov ecx, 9
  rep movsb
  hlt`;

  for (const jit of [{ threshold: 1 }, false as const]) {
    const how = jit ? 'compiled' : 'interpreted';
    it(`${how}: REP STOS and REP MOVS into a device take no exit, in order, as element-by-element exits would`, () => {
      const fast = runWith(REP, jit, () => false);
      const slow = runWith(REP, jit, () => true);
      expect(fast.exits).toBe(0);
      expect(fast.log).toHaveLength(49);
      expect(fast.log[0]).toBe('wr 200000/2=741');
      expect(fast.log[39]).toBe('wr 20004e/2=741');
      expect(fast.log[40]).toBe('wr 200100/1=0');
      expect(slow.log.map((l) => l.replace(' (exit)', ''))).toEqual(fast.log);
      expect(fast.state).toEqual(slow.state);
      // The fast path declines one element: it exits, and the rest still go in place.
      const one = runWith(REP, jit, (a) => a === 0x200020);
      expect(one.exits).toBe(1);
      expect(one.log.map((l) => l.replace(' (exit)', ''))).toEqual(fast.log);
      expect(one.state).toEqual(fast.state);
    });
  }

  /**
   * A flat rig (device memory at 200000h) whose fast path takes every write and calls
   * requestStop() from inside the n-th; `writes()` counts the writes it took.
   */
  function stopAtWrite(code: string, jit: { threshold: number } | false, n: number): { rig: Rig; writes: () => number } {
    const rig = new Rig(jit);
    rig.load(0x2000, asm(code, 32, 0x2000));
    rig.flat(0x2000);
    rig.mem.unmapPages(0x200000, 0x1000);
    let writes = 0;
    const cpu = rig.cpu.cpu;
    cpu.trapFast = {
      read: () => -1,
      write: () => {
        if (++writes === n) cpu.requestStop();
        return true;
      },
    };
    return { rig, writes: () => writes };
  }

  it('requestStop() from inside a REP STOS element pauses the instruction after that element', () => {
    const { rig, writes } = stopAtWrite('mov edi, 0x200000\nmov ecx, 100\nrep stosb\nhlt', false, 7);
    expect(rig.cpu.run(1_000_000)).toBe(ExitReason.INTR);
    expect(writes()).toBe(7);
    const st = rig.cpu.getState();
    // Seven elements done; EIP still on the REP STOSB (at 2000h + 5 + 5).
    expect(st.ecx).toBe(93);
    expect(st.edi).toBe(0x200007);
    expect(st.eip).toBe(0x200a);
    expect(rig.cpu.run(1_000_000)).toBe(ExitReason.HLT);
    expect(writes()).toBe(100);
  });

  // The access's instruction completes (an OUT, 2 bytes; a compiled MOV to device memory, A3,
  // 5 bytes, whose write goes out from the write itself); the INC after it has not run.
  for (const [insn, what, next] of [['out 0x80, al', 'an OUT', 0x2002], ['mov [0x200000], eax', 'a compiled MOV to device memory', 0x2005]] as const) {
    it(`requestStop() from inside ${what} ends run() at the next instruction boundary`, () => {
      const { rig, writes } = stopAtWrite(`.l: ${insn}\ninc eax\njmp .l`, { threshold: 1 }, 5);
      expect(rig.cpu.run(1_000_000)).toBe(ExitReason.INTR);
      expect(writes()).toBe(5);
      expect(rig.cpu.getState().eax).toBe(4);
      expect(rig.cpu.getState().eip).toBe(next);
    });
  }
});
