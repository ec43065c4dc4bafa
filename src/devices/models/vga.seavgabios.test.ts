// The real SeaVGABIOS (Debian's seabios package, vgabios-isavga.bin) drives this VGA model:
// its POST entry runs on hvmon's interpreter with the VGA on a qtest bus, then INT 10h
// teletype output must appear on the screen the monitor reads. Skipped where the ROM is absent.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DebugTables } from '../../core/debug/DebugTables.js';
import { GuestMemory } from '../../core/memory/GuestMemory.js';
import { ExitReason, IoDir } from '../../core/vcpu/VcpuBackend.js';
import { InterpVcpu } from '../../core/vcpu/interp/InterpVcpu.js';
import { TestBus } from './testing/bus.js';
import { TestContext } from './testing/TestContext.js';
import { Vga } from './vga.js';

const ROM = '/usr/share/seabios/vgabios-isavga.bin';

function seg(selector: number) {
  return { selector, base: selector << 4, limit: 0xffff, attr: 0x0093 };
}

/** Runs real-mode code at cs:ip until HLT; port and VGA-window accesses go to the bus. */
function runUntilHlt(cpu: InterpVcpu, bus: TestBus, ctx: TestContext, cs: number, ip: number, regs: Partial<Record<'eax' | 'ebx' | 'ecx' | 'edx', number>> = {}): void {
  const st = cpu.getState();
  Object.assign(st, { eip: ip, eflags: 0x2, esp: 0x7000, ...regs });
  st.cs = { ...seg(cs), attr: 0x009b };
  st.ss = seg(0);
  st.ds = seg(0);
  st.es = seg(0);
  st.halted = false;
  cpu.setState(st);
  const ex = cpu.exit;
  for (let n = 0; n < 2_000_000; n++) {
    const r = cpu.run(100_000);
    ctx.advance(10_000);
    if (r === ExitReason.HLT) return;
    if (r === ExitReason.IO) {
      for (let i = 0; i < ex.count; i++) {
        const o = i * ex.size;
        if (ex.dir === IoDir.WRITE) {
          let v = 0;
          for (let b = ex.size - 1; b >= 0; b--) v = (v << 8) | ex.data[o + b];
          bus.out(ex.addr, ex.size, v);
        } else {
          const v = bus.in(ex.addr, ex.size);
          for (let b = 0; b < ex.size; b++) ex.data[o + b] = (v >>> (8 * b)) & 0xff;
        }
      }
      if (ex.dir === IoDir.READ) cpu.completeIo();
      continue;
    }
    if (r === ExitReason.MMIO) {
      if (ex.dir === IoDir.WRITE) bus.mmio.write(ex.addr as never, ex.size, ex.value());
      else {
        ex.setValue(bus.mmio.read(ex.addr as never, ex.size));
        cpu.completeIo();
      }
      continue;
    }
    if (r === ExitReason.INTR) continue;
    throw new Error(`unexpected exit ${r} at ${ex.ip.toString(16)}: ${ex.message}`);
  }
  throw new Error('did not reach HLT');
}

describe.skipIf(!fs.existsSync(ROM))('vga driven by SeaVGABIOS', () => {
  it('initialises through the option ROM entry and prints through INT 10h', () => {
    const rom = fs.readFileSync(ROM);
    const mem = GuestMemory.create(0x100000);
    mem.mapRam(0, 0xa0000);
    mem.mapRam(0xc0000, 0x40000); // the ROM in shadow RAM, as SeaBIOS leaves option ROMs
    mem.u8.set(rom, 0xc0000);
    const ctx = new TestContext();
    const vga = new Vga('vga', { textmode: false }, ctx);
    const bus = new TestBus(vga);
    const cpu = new InterpVcpu(mem, new Int32Array(new SharedArrayBuffer(4)), new DebugTables());
    cpu.reset();
    // A far call into the ROM's init entry (C000:0003) that returns to a HLT at 0:0600.
    mem.u8.set([0x9a, 0x03, 0x00, 0x00, 0xc0, 0xf4], 0x600);
    runUntilHlt(cpu, bus, ctx, 0, 0x600);
    // What SeaBIOS's enable_vga_console does next: INT 10h AX=0003h (80x25 text).
    mem.u8.set([0xb8, 0x03, 0x00, 0xcd, 0x10, 0xf4], 0x680);
    runUntilHlt(cpu, bus, ctx, 0, 0x680);
    const sc = vga.screen();
    expect(sc.mode).toBe('text');
    expect([sc.cols, sc.rows]).toEqual([80, 25]);
    expect(sc.blank).toBe(false);
    // INT 10h AH=0Eh for each character, then HLT.
    const code: number[] = [];
    for (const ch of 'hvmon VGA') code.push(0xb8, ch.charCodeAt(0), 0x0e, 0xcd, 0x10); // mov ax,0E00+ch; int 10h
    code.push(0xf4);
    mem.u8.set(code, 0x700);
    runUntilHlt(cpu, bus, ctx, 0, 0x700, { ebx: 0x0007 });
    const after = vga.screen();
    expect(after.text[0].startsWith('hvmon VGA')).toBe(true);
    expect(after.cursor).toMatchObject({ x: 9, y: 0, visible: true });
    expect(after.cells[0].attr).toBe(0x07);
    // 30 more lines: the BIOS scrolls by copying display memory through the window.
    const lines: number[] = [];
    for (let i = 0; i < 30; i++) {
      for (const ch of `\r\nline ${i}`) lines.push(0xb8, ch.charCodeAt(0), 0x0e, 0xcd, 0x10);
    }
    lines.push(0xf4);
    mem.u8.set(lines, 0x1000);
    runUntilHlt(cpu, bus, ctx, 0, 0x1000, { ebx: 0x0007 });
    const scrolled = vga.screen();
    expect(scrolled.text[24].trimEnd()).toBe('line 29');
    expect(scrolled.text[0].trimEnd()).toBe('line 5');
    expect(scrolled.cursor).toMatchObject({ x: 7, y: 24 });
  });
});
