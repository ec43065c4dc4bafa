// Accesses that leave the CPU: MMIO reads (abort, complete, redo), MMIO and ROM writes
// (queued, after the instruction), page-straddling accesses, port I/O with its permission
// checks, string I/O.

import { describe, expect, it } from 'vitest';
import { ExitReason, IoDir } from '../VcpuBackend.js';
import { Rig, asm, haveNasm, recordingHandlers } from './testing/rig.js';

const HOLE = 0xe0000000; // nothing mapped there

function flat(code: string): Rig {
  const rig = new Rig();
  rig.load(0x3000, recordingHandlers());
  rig.load(0x2000, asm(code, 32, 0x2000));
  rig.flat(0x2000, { idtHandlers: 0x3000 });
  return rig;
}

describe.skipIf(!haveNasm())('MMIO exits', () => {
  it('an MMIO read exits, and completeIo() finishes the instruction on the next run()', () => {
    const rig = flat(`mov ebx, 5\nmov eax, [${HOLE + 0x10}]\nadd eax, ebx\nhlt`);
    const x = rig.cpu.exit;
    expect(rig.cpu.run(100)).toBe(ExitReason.MMIO);
    expect([x.dir, x.addr, x.size]).toEqual([IoDir.READ, HOLE + 0x10, 4]);
    expect(x.ip).toBe(0x2005);
    expect(rig.cpu.interruptible).toBe(false); // mid-instruction
    x.setValue(0x1000);
    rig.cpu.completeIo();
    expect(rig.cpu.run(100)).toBe(ExitReason.HLT);
    expect(rig.cpu.getState().eax).toBe(0x1005);
  });

  it('an MMIO write leaves after the instruction, with its data', () => {
    const rig = flat(`mov eax, 0xdeadbeef\nmov [${HOLE}], eax\nmov ecx, 1\nhlt`);
    const x = rig.cpu.exit;
    expect(rig.cpu.run(100)).toBe(ExitReason.MMIO);
    expect([x.dir, x.addr, x.size, x.value()]).toEqual([IoDir.WRITE, HOLE, 4, 0xdeadbeef]);
    expect(rig.cpu.getState().eip).toBe(0x200a); // the instruction is complete
    expect(rig.cpu.run(100)).toBe(ExitReason.HLT);
    expect(rig.cpu.getState().ecx).toBe(1);
  });

  it('a read-modify-write on MMIO reads, then writes the result', () => {
    const rig = flat(`add word [${HOLE + 2}], 0x10\nhlt`);
    const x = rig.cpu.exit;
    expect(rig.cpu.run(100)).toBe(ExitReason.MMIO);
    expect([x.dir, x.size]).toEqual([IoDir.READ, 2]);
    x.setValue(0xfff8);
    rig.cpu.completeIo();
    expect(rig.cpu.run(100)).toBe(ExitReason.MMIO);
    expect([x.dir, x.addr, x.size, x.value() & 0xffff]).toEqual([IoDir.WRITE, HOLE + 2, 2, 0x0008]);
    expect(rig.cpu.run(100)).toBe(ExitReason.HLT);
    expect(rig.cpu.getState().eflags & 1).toBe(1); // CF from 0xfff8 + 0x10
  });

  it('an instruction with several MMIO writes queues them in order (PUSHAD to an MMIO stack)', () => {
    const rig = flat(`mov esp, ${HOLE + 0x100}\npushad\nhlt`);
    const x = rig.cpu.exit;
    const seen: number[] = [];
    let r: ExitReason;
    while ((r = rig.cpu.run(100)) === ExitReason.MMIO) {
      expect(x.dir).toBe(IoDir.WRITE);
      seen.push(x.addr - HOLE);
    }
    expect(r).toBe(ExitReason.HLT);
    expect(seen).toEqual([0xfc, 0xf8, 0xf4, 0xf0, 0xec, 0xe8, 0xe4, 0xe0]);
  });

  it('an access straddling RAM and MMIO does the RAM part and exits for the rest', () => {
    // 0x3ffffe..0x400001: the last 2 bytes of RAM and 2 bytes of the hole after it.
    const rig = flat('mov eax, [0x3ffffe]\nhlt');
    rig.u8[0x3ffffe] = 0x11;
    rig.u8[0x3fffff] = 0x22;
    const x = rig.cpu.exit;
    const reads: number[] = [];
    let r: ExitReason;
    while ((r = rig.cpu.run(100)) === ExitReason.MMIO) {
      reads.push(x.addr);
      x.setValue(x.addr === 0x400000 ? 0x33 : 0x44);
      rig.cpu.completeIo();
    }
    expect(r).toBe(ExitReason.HLT);
    expect(reads).toEqual([0x400000, 0x400001]);
    expect(rig.cpu.getState().eax).toBe(0x44332211);
  });

  it('a write to ROM leaves as an MMIO write (the loop drops it)', () => {
    const rig = flat('mov byte [0x200000], 0x5a\nhlt');
    rig.mem.mapPages(0x200000, 0x1000, 0x300000, null); // read-only: RAM 0x300000
    rig.u8[0x300000] = 0x77;
    const x = rig.cpu.exit;
    expect(rig.cpu.run(100)).toBe(ExitReason.MMIO);
    expect([x.dir, x.addr, x.size, x.value() & 0xff]).toEqual([IoDir.WRITE, 0x200000, 1, 0x5a]);
    expect(rig.cpu.run(100)).toBe(ExitReason.HLT);
    expect(rig.u8[0x300000]).toBe(0x77);
  });

  it('REP MOVSB from MMIO exits once per element and resumes between them', () => {
    const rig = flat(`mov esi, ${HOLE}\nmov edi, 0x9000\nmov ecx, 3\nrep movsb\nhlt`);
    const x = rig.cpu.exit;
    let n = 0;
    let r: ExitReason;
    while ((r = rig.cpu.run(100)) === ExitReason.MMIO) {
      expect(x.addr).toBe(HOLE + n);
      x.setValue(0xa0 + n++);
      rig.cpu.completeIo();
    }
    expect(r).toBe(ExitReason.HLT);
    expect([...rig.u8.subarray(0x9000, 0x9003)]).toEqual([0xa0, 0xa1, 0xa2]);
    expect(rig.cpu.getState().ecx).toBe(0);
  });

  it('fetches instructions from MMIO through read exits', () => {
    const rig = flat(`jmp ${HOLE}`);
    const code = [0xb8, 0x78, 0x56, 0x34, 0x12, 0xf4]; // mov eax, 0x12345678 / hlt
    const x = rig.cpu.exit;
    let r: ExitReason;
    while ((r = rig.cpu.run(100)) === ExitReason.MMIO) {
      x.setValue(code[x.addr - HOLE]);
      rig.cpu.completeIo();
    }
    expect(r).toBe(ExitReason.HLT);
    expect(rig.cpu.getState().eax).toBe(0x12345678);
  });

  it('notices a memory map change (GENERATION) at the next run()', () => {
    const rig = flat('mov eax, [0x200000]\nmov ebx, [0x200000]\nhlt');
    expect(rig.cpu.run(1)).toBe(ExitReason.INTR); // the first read caches the page as RAM
    rig.mem.unmapPages(0x200000, 0x1000);
    expect(rig.cpu.run(100)).toBe(ExitReason.MMIO);
    expect(rig.cpu.exit.addr).toBe(0x200000);
  });
});

describe.skipIf(!haveNasm())('port I/O exits', () => {
  it('IN exits with the port and size; completeIo() delivers the value', () => {
    const rig = flat('mov dx, 0x1f7\nin al, dx\nin ax, 0x60\nin eax, dx\nhlt');
    const x = rig.cpu.exit;
    const seen: [number, number][] = [];
    let r: ExitReason;
    while ((r = rig.cpu.run(100)) === ExitReason.IO) {
      expect(x.dir).toBe(IoDir.READ);
      seen.push([x.addr, x.size]);
      x.setValue(0x11223344);
      rig.cpu.completeIo();
    }
    expect(r).toBe(ExitReason.HLT);
    expect(seen).toEqual([[0x1f7, 1], [0x60, 2], [0x1f7, 4]]);
    expect(rig.cpu.getState().eax).toBe(0x11223344);
  });

  it('OUT exits after the instruction with the data', () => {
    const rig = flat('mov al, 0x41\nout 0x3f8, al\nmov dx, 0x70\nmov eax, 0x12345678\nout dx, eax\nhlt'.replace('0x3f8', '0xe9'));
    rig.run();
    expect(rig.outs).toEqual([[0xe9, 1, 0x41], [0x70, 4, 0x12345678]]);
  });

  it('REP OUTSB and REP INSW move their elements in order', () => {
    const rig = flat('mov esi, 0x9000\nmov ecx, 3\nmov dx, 0x3f8\nrep outsb\nmov edi, 0x9100\nmov ecx, 2\nrep insw\nhlt');
    rig.load(0x9000, [1, 2, 3]);
    rig.ports.set(0x3f8, 0xbeef);
    rig.run();
    expect(rig.outs).toEqual([[0x3f8, 1, 1], [0x3f8, 1, 2], [0x3f8, 1, 3]]);
    expect([...rig.u8.subarray(0x9100, 0x9104)]).toEqual([0xef, 0xbe, 0xef, 0xbe]);
  });

  it('batches REP INSW into one exit per page of RAM (a disk sector in one exit)', () => {
    const rig = flat('mov edi, 0x9000\nmov ecx, 256\nmov dx, 0x1f0\nrep insw\nmov edi, 0x9ffc\nmov ecx, 4\nrep insw\nhlt');
    const x = rig.cpu.exit;
    expect(rig.cpu.run(100)).toBe(ExitReason.IO);
    expect([x.addr, x.size, x.count]).toEqual([0x1f0, 2, 256]);
    for (let i = 0; i < 256; i++) { x.data[2 * i] = i; x.data[2 * i + 1] = 0x80; }
    rig.cpu.injectInterrupt(0x40); // must wait for the end of the batch
    rig.cpu.completeIo();
    expect(rig.cpu.run(100)).toBe(ExitReason.IO); // the second REP INSW: 2 words left in the page
    expect(x.count).toBe(2);
    expect(rig.u8[0x9000 + 2 * 200]).toBe(200);
    expect(rig.u8[0x9000 + 2 * 200 + 1]).toBe(0x80);
    expect(rig.cpu.getState().ecx).toBe(4);
    expect(rig.u8[0x600]).toBe(0);        // IF=0 anyway; the interrupt stays pending
    x.data.fill(0x11, 0, 4);
    rig.cpu.completeIo();
    expect(rig.cpu.run(100)).toBe(ExitReason.IO); // the next page
    expect(x.count).toBe(2);
    x.data.fill(0x22, 0, 4);
    rig.cpu.completeIo();
    expect(rig.cpu.run(100)).toBe(ExitReason.HLT);
    expect([...rig.u8.subarray(0x9ffc, 0xa004)]).toEqual([0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22]);
  });

  it('batches REP OUTSD, backwards too, and splits at page boundaries', () => {
    const rig = flat('mov esi, 0x9ff8\nmov ecx, 4\nmov dx, 0x80\nrep outsd\nstd\nmov esi, 0x8008\nmov ecx, 3\nrep outsd\ncld\nhlt');
    for (let i = 0; i < 4; i++) rig.wr32(0x9ff8 + 4 * i, 0x100 + i);
    for (let i = 0; i < 3; i++) rig.wr32(0x8000 + 4 * i, 0x200 + i);
    rig.run();
    expect(rig.outs.map((o) => o[2])).toEqual([0x100, 0x101, 0x102, 0x103, 0x202, 0x201, 0x200]);
    expect(rig.ioExits).toBe(3); // 2 + 2 across the page boundary, then 3 backwards
  });

  it('moves string I/O one element at a time when single-stepping', () => {
    const rig = flat('mov esi, 0x9000\nmov ecx, 3\nmov dx, 0x80\nrep outsb\nhlt');
    rig.cpu.setGuestDebug({ singleStep: true, catchAllVectors: false });
    let ios = 0;
    for (let i = 0; i < 20; i++) {
      const r = rig.cpu.run(100);
      if (r === ExitReason.IO) { ios++; expect(rig.cpu.exit.count).toBe(1); }
      if (r === ExitReason.HLT) break;
    }
    expect(ios).toBe(3);
  });

  it('checks IOPL and the TSS bitmap before exiting (#GP at CPL 3 without permission)', () => {
    const rig = flat('hlt');
    rig.load(0x4000, asm('in al, 0x60\nhlt', 32, 0x4000));
    // Ring 3 with IOPL 0 and a TSS bitmap that allows port 0x61 only.
    const tss = 0x10000;
    rig.wr32(tss + 4, 0x8000);
    rig.wr32(tss + 8, 0x10);
    rig.u8[tss + 0x66] = 0x68;
    rig.u8.fill(0xff, tss + 0x68, tss + 0x68 + 0x2001);
    rig.u8[tss + 0x68 + (0x61 >> 3)] = ~(1 << (0x61 & 7)) & 0xff;
    rig.desc(0x500, 5, tss, 0x68 + 0x2000, 0x89, 0);
    const s = rig.cpu.getState();
    const ucode = { selector: 0x1b, base: 0, limit: 0xffffffff, attr: 0xc0fb };
    const udata = { selector: 0x23, base: 0, limit: 0xffffffff, attr: 0xc0f3 };
    rig.cpu.setState({ ...s, cs: ucode, ss: udata, ds: udata, es: udata, eip: 0x4000, esp: 0x7000, tr: { selector: 0x28, base: tss, limit: 0x2068, attr: 0x8b } });
    expect(rig.run()).toBe(ExitReason.HLT);
    expect(rig.u8[0x600]).toBe(13);
    // Port 0x61 is allowed: an IO exit.
    rig.load(0x4000, asm('in al, 0x61\nhlt', 32, 0x4000));
    rig.cpu.setState({ ...rig.cpu.getState(), cs: ucode, ss: udata, eip: 0x4000, esp: 0x7000, halted: false });
    expect(rig.cpu.run(100)).toBe(ExitReason.IO);
    expect(rig.cpu.exit.addr).toBe(0x61);
  });
});

describe.skipIf(!haveNasm())('string moves', () => {
  it('REP MOVSD/MOVSW copy across pages and segments like the element loop would', () => {
    const rig = flat([
      'mov esi, 0x10ff0\nmov edi, 0x20ff8\nmov ecx, 1000\nrep movsd',   // crosses pages on both sides
      'mov esi, 0x30001\nmov edi, 0x30003\nmov ecx, 8\nrep movsw',       // overlapping, 2 bytes ahead
      'mov esi, 0x40000\nmov edi, 0x40001\nmov ecx, 16\nrep movsb',      // byte replication
      'hlt'].join('\n'));
    for (let i = 0; i < 4000; i++) rig.u8[0x10ff0 + i] = (i * 7) & 0xff;
    for (let i = 0; i < 20; i++) rig.u8[0x30000 + i] = i;
    rig.u8[0x40000] = 0xab;
    rig.run();
    for (let i = 0; i < 4000; i++) expect(rig.u8[0x20ff8 + i]).toBe((i * 7) & 0xff);
    // Element by element, 2 bytes ahead: each word is read after the previous write.
    const want = Array.from({ length: 20 }, (_, i) => i);
    for (let k = 0; k < 8; k++) { want[3 + 2 * k] = want[1 + 2 * k]; want[4 + 2 * k] = want[2 + 2 * k]; }
    expect([...rig.u8.subarray(0x30000, 0x30014)]).toEqual(want);
    expect([...rig.u8.subarray(0x40000, 0x40011)]).toEqual(new Array(17).fill(0xab));
    const s = rig.cpu.getState();
    expect([s.ecx, s.esi, s.edi]).toEqual([0, 0x40010, 0x40011]);
  });
});
