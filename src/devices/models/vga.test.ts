import { describe, expect, it } from 'vitest';
import { TestBus } from './testing/bus.js';
import { checkDeviceContract } from './testing/contract.js';
import { TestContext } from './testing/TestContext.js';
import { CP437, Vga } from './vga.js';

function setup(props: Record<string, string | number | boolean> = {}) {
  const ctx = new TestContext();
  const vga = new Vga('vga', props, ctx);
  const bus = new TestBus(vga);
  return { ctx, vga, bus };
}

/** Planar graphics at A0000h (64 KiB): all planes written, write mode 0, read mode 0. */
function planar(bus: TestBus): void {
  bus.outw(0x3c4, 0x0f02); // all planes
  bus.outw(0x3c4, 0x0604); // planar
  bus.outw(0x3ce, 0x0506); // graphics, A0000h 64K
  bus.outw(0x3ce, 0x0005); // write mode 0, read mode 0
}

function print(bus: TestBus, row: number, col: number, s: string, attr = 0x1f): void {
  for (let i = 0; i < s.length; i++) bus.writew(0xb8000 + (row * 80 + col + i) * 2, s.charCodeAt(i) | (attr << 8));
}

describe('vga', () => {
  it('passes the device contract', () => {
    checkDeviceContract(() => new Vga('vga', {}, new TestContext()), {
      unusedOffsets: [
        { region: 0, offset: 0x00 }, // 3B0h
        { region: 0, offset: 0x04 }, // 3B4h: CRTC is at 3D4h in colour mode
        { region: 0, offset: 0x0a }, // 3BAh
        { region: 0, offset: 0x20 }, // 3D0h
        { region: 1, offset: 0x00 }, // A0000h: memory map is B8000h in text mode
        { region: 1, offset: 0x17fff },
      ],
    });
    checkDeviceContract(() => new Vga('vga', { textmode: false }, new TestContext()));
  });

  it('is in 80x25 text mode after reset, and shows what the guest writes at B8000h', () => {
    const { bus, vga } = setup();
    let sc = vga.screen();
    expect([sc.mode, sc.cols, sc.rows, sc.blank]).toEqual(['text', 80, 25, false]);
    expect(sc.text[0]).toBe(' '.repeat(80));
    const d0 = vga.dirty;
    print(bus, 0, 0, 'Hello, VGA');
    bus.writeb(0xb8000 + (24 * 80 + 79) * 2, 0xc9);
    bus.writeb(0xb8000 + (24 * 80 + 79) * 2 + 1, 0x4e);
    expect(vga.dirty).toBeGreaterThan(d0);
    sc = vga.screen();
    expect(sc.text[0].startsWith('Hello, VGA ')).toBe(true);
    expect(sc.cells[0]).toEqual({ ch: 'H', attr: 0x1f });
    expect(sc.cells[24 * 80 + 79]).toEqual({ ch: '╔', attr: 0x4e });
    expect(bus.readw(0xb8000)).toBe(0x1f48);
    expect(bus.readl(0xb8002)).toBe(0x1f6c1f65);
    expect(CP437[1]).toBe('☺');
    expect(CP437[0xb0]).toBe('░');
    expect(CP437[0xe1]).toBe('ß');
  });

  it('moves the cursor and the start address through the CRTC, at 3D4h or 3B4h per Misc I/OAS', () => {
    const { bus, vga } = setup();
    bus.outw(0x3d4, 0x0e | (0x01 << 8));
    bus.outw(0x3d4, 0x0f | (0x45 << 8)); // 0x145 = row 4, col 5
    const c = vga.screen().cursor;
    expect([c.x, c.y, c.visible]).toEqual([5, 4, true]);
    bus.outb(0x3d4, 0x0a);
    expect(bus.inb(0x3d5)).toBe(0x0d);
    bus.outb(0x3d5, 0x20); // cursor off
    expect(vga.screen().cursor.visible).toBe(false);
    print(bus, 1, 0, 'second line');
    bus.outw(0x3d4, 0x0d | (80 << 8)); // start address = row 1
    expect(vga.screen().text[0].startsWith('second line')).toBe(true);
    // Monochrome decode: CRTC moves to 3B4h and 3D4h stops answering.
    bus.outb(0x3c2, bus.inb(0x3cc) & ~1);
    expect(bus.inb(0x3d4)).toBe(0xff);
    bus.outb(0x3b4, 0x0d);
    expect(bus.inb(0x3b5)).toBe(80);
    expect(bus.inb(0x3da)).toBe(0xff);
    expect(bus.inb(0x3ba) & 0xf6).toBe(0);
  });

  it('write-protects CR00-CR07 while CR11 bit 7 is set', () => {
    const { bus } = setup();
    bus.outb(0x3d4, 0x01);
    bus.outb(0x3d5, 0x27);
    expect(bus.inb(0x3d5)).toBe(0x4f);
    bus.outb(0x3d4, 0x11);
    bus.outb(0x3d5, bus.inb(0x3d5) & 0x7f);
    bus.outb(0x3d4, 0x01);
    bus.outb(0x3d5, 0x27);
    expect(bus.inb(0x3d5)).toBe(0x27);
  });

  it('runs the attribute controller flip-flop, reset by reading Input Status 1', () => {
    const { bus, vga } = setup();
    bus.inb(0x3da);
    bus.outb(0x3c0, 0x01); // index 1, PAS=0: screen blanks while the palette is programmed
    expect(vga.screen().blank).toBe(true);
    bus.outb(0x3c0, 0x3a);
    expect(bus.inb(0x3c1)).toBe(0x3a);
    bus.outb(0x3c0, 0x10); // a stray index write: now the flip-flop expects data
    bus.inb(0x3da); // ...reading status puts it back to "index"
    bus.outb(0x3c0, 0x30); // index 10h with PAS
    bus.outb(0x3c0, 0x0c);
    expect(bus.inb(0x3c0)).toBe(0x30);
    expect(bus.inb(0x3c1)).toBe(0x0c);
    expect(vga.screen().blank).toBe(false);
    expect(vga.screen().blink).toBe(true);
  });

  it('toggles the retrace bits on every read of Input Status 1, and follows the frame in time', () => {
    const { bus, ctx } = setup();
    const a = bus.inb(0x3da);
    const b = bus.inb(0x3da);
    expect(a & 0x08).not.toBe(b & 0x08);
    expect(a & 0x01).not.toBe(b & 0x01);
    // Same read parity, different place in the frame: the bit follows time too.
    const seen = new Set<number>();
    for (let i = 0; i < 900; i++) {
      ctx.advance(1e9 / 70.086 / 898); // half a scan line
      bus.inb(0x3da);
      seen.add(bus.inb(0x3da) & 0x08);
    }
    expect(seen.size).toBe(2);
  });

  it('programs and reads back the DAC palette', () => {
    const { bus } = setup();
    bus.outb(0x3c8, 0x10);
    for (const v of [0x3f, 0x20, 0x01, 0xff, 0x00, 0x15]) bus.outb(0x3c9, v);
    expect(bus.inb(0x3c8)).toBe(0x12);
    bus.outb(0x3c7, 0x10);
    expect(bus.inb(0x3c7)).toBe(0x03);
    expect([0, 1, 2, 3, 4, 5].map(() => bus.inb(0x3c9))).toEqual([0x3f, 0x20, 0x01, 0x3f, 0x00, 0x15]);
    bus.outb(0x3c7, 0x01); // entry 1 of the EGA palette: blue
    expect([bus.inb(0x3c9), bus.inb(0x3c9), bus.inb(0x3c9)]).toEqual([0, 0, 0x2a]);
  });

  it('loads a font into plane 2 the way a VGA BIOS does, leaving the text planes alone', () => {
    const { bus, vga } = setup();
    print(bus, 0, 0, 'AB');
    // get_font_access: planar, plane 2 only, memory at A0000h.
    bus.outw(0x3c4, 0x0100);
    bus.outw(0x3c4, 0x0402);
    bus.outw(0x3c4, 0x0704);
    bus.outw(0x3c4, 0x0300);
    bus.outw(0x3ce, 0x0204);
    bus.outw(0x3ce, 0x0005);
    bus.outw(0x3ce, 0x0406);
    for (let i = 0; i < 16; i++) bus.writeb(0xa0000 + 0x41 * 32 + i, 0x80 | i);
    expect(bus.readb(0xa0000 + 0x41 * 32 + 3)).toBe(0x83);
    expect(bus.readb(0xb8000)).toBe(0xff); // A0000h-AFFFFh map: B8000h is not decoded
    // release_font_access: back to odd/even text at B8000h.
    bus.outw(0x3c4, 0x0100);
    bus.outw(0x3c4, 0x0302);
    bus.outw(0x3c4, 0x0204);
    bus.outw(0x3c4, 0x0300);
    bus.outw(0x3ce, 0x0e06);
    bus.outw(0x3ce, 0x0004);
    bus.outw(0x3ce, 0x1005);
    expect(vga.screen().text[0].startsWith('AB ')).toBe(true);
    expect(bus.readw(0xb8000)).toBe(0x1f41);
    expect(bus.readb(0xa0000)).toBe(0xff);
  });

  it('implements the graphics controller write modes, bit mask and latches in planar mode', () => {
    const { bus, vga } = setup();
    planar(bus);
    bus.writeb(0xa0000, 0xaa);
    for (let p = 0; p < 4; p++) {
      bus.outw(0x3ce, (p << 8) | 0x04);
      expect(bus.readb(0xa0000)).toBe(0xaa);
    }
    // Set/reset on planes 0 and 2 with value 0101b, bit mask 0Fh.
    bus.outw(0x3ce, 0x0500);
    bus.outw(0x3ce, 0x0501);
    bus.outw(0x3ce, 0x0f08);
    bus.readb(0xa0000); // load latches
    bus.writeb(0xa0000, 0x00);
    const planes = [0, 1, 2, 3].map((p) => { bus.outw(0x3ce, (p << 8) | 0x04); return bus.readb(0xa0000); });
    expect(planes).toEqual([0xaf, 0xa0, 0xaf, 0xa0]);
    // Write mode 1 copies the latches: A0000h → A0001h.
    bus.outw(0x3ce, 0x0105);
    bus.readb(0xa0000);
    bus.writeb(0xa0001, 0x12);
    bus.outw(0x3ce, 0x0205);
    bus.outw(0x3ce, 0x0004);
    // Write mode 2: pixel colour 1001b under bit mask F0h.
    bus.outw(0x3ce, 0xf008);
    bus.readb(0xa0002);
    bus.writeb(0xa0002, 0x09);
    bus.outw(0x3ce, 0x0005);
    const p2 = [0, 1, 2, 3].map((p) => { bus.outw(0x3ce, (p << 8) | 0x04); return bus.readb(0xa0002); });
    // Outside the bit mask the latched bytes stay: plane 0 held a space, plane 1 attribute 07h.
    expect(p2).toEqual([0xf0, 0x07, 0x00, 0xf0]);
    bus.outw(0x3ce, 0x0004);
    expect(bus.readb(0xa0001)).toBe(0xaf);
    // Read mode 1: colour compare against 1001b over all planes.
    bus.outw(0x3ce, 0x0902);
    bus.outw(0x3ce, 0x0d07); // plane 1 don't care
    bus.outw(0x3ce, 0x0805);
    expect(bus.readb(0xa0002)).toBe(0xf0);
    expect(vga.screen().mode).toBe('graphics');
  });

  it('shows display memory to a debugger peek as a read would, leaving the latches and counters alone', () => {
    const { bus, vga } = setup();
    const vram = vga.regions()[1].region.ops;
    // Text mode: the screen's words, as the CPU reads them.
    print(bus, 0, 0, 'Hi', 0x1e);
    expect(vram.peek!(0x18000, 4)).toBe(bus.readl(0xb8000));
    expect(vram.peek!(0x18000, 4)).toBe(0x1e691e48);
    // Planar: A0000h holds 11h in every plane, A0001h 22h; a read of A0000h loads the latches.
    planar(bus);
    bus.writeb(0xa0000, 0x11);
    bus.writeb(0xa0001, 0x22);
    bus.readb(0xa0000);
    const reads = vga.snapshot().fields.vramReads;
    expect(vram.peek!(0x00001, 1)).toBe(0x22);
    expect(vga.snapshot().fields.vramReads).toBe(reads);
    // Write mode 1 stores the latches: still A0000h's bytes after the peek of A0001h.
    bus.outw(0x3ce, 0x0105);
    bus.writeb(0xa0002, 0x00);
    bus.outw(0x3ce, 0x0005);
    expect(bus.readb(0xa0002)).toBe(0x11);
  });

  it('addresses chain-4 memory byte by byte across the planes', () => {
    const { bus } = setup();
    bus.outw(0x3c4, 0x0f02);
    bus.outw(0x3c4, 0x0e04); // chain 4
    bus.outw(0x3ce, 0x0506);
    bus.outw(0x3ce, 0x4005);
    for (let i = 0; i < 8; i++) bus.writeb(0xa0000 + i, 0x10 + i);
    for (let i = 0; i < 8; i++) expect(bus.readb(0xa0000 + i)).toBe(0x10 + i);
    bus.outw(0x3c4, 0x0604); // planar again: plane 1, offset 1 holds byte 5
    bus.outw(0x3ce, 0x0005);
    bus.outw(0x3ce, 0x0104);
    expect(bus.readb(0xa0001)).toBe(0x15);
  });

  it('starts unprogrammed with textmode=false: memory disabled until Misc RAM Enable', () => {
    const { bus } = setup({ textmode: false });
    bus.writeb(0xb8000, 0x41);
    expect(bus.readb(0xb8000)).toBe(0xff);
    expect(bus.inb(0x3b4)).toBe(0); // I/OAS=0: monochrome decode
  });

  it('stores a word as its two bytes, in every memory mode, map mask and write mode', () => {
    // Sequencer memory mode (odd/even, planar, chain 4) x map mask x graphics mode/rotate/bit
    // mask: the word path must leave display memory as the two byte writes do.
    const modes = [0x02, 0x06, 0x0e];
    const masks = [0x03, 0x0f, 0x05, 0x0a, 0x00];
    const gfx: [number, number][] = [[0x0005, 0x0003], [0x0205, 0x0003], [0x0005, 0x1003], [0x0005, 0x0003]];
    for (const mm of modes) {
      for (const mask of masks) {
        gfx.forEach(([mode, rot], k) => {
          const [w, b] = [setup(), setup()];
          for (const { bus } of [w, b]) {
            bus.outw(0x3c4, (mask << 8) | 0x02);
            bus.outw(0x3c4, (mm << 8) | 0x04);
            bus.outw(0x3ce, mode);
            bus.outw(0x3ce, rot);
            bus.outw(0x3ce, k === 3 ? 0x3c08 : 0xff08);
            bus.readb(0xb8040); // latches
          }
          for (const at of [0xb8000, 0xb8002, 0xb8101, 0xbfffe]) {
            w.bus.writew(at, 0x1f41 + at);
            b.bus.writeb(at, (0x1f41 + at) & 0xff);
            b.bus.writeb(at + 1, ((0x1f41 + at) >> 8) & 0xff);
          }
          expect(w.vga.snapshot(), `memory mode ${mm}, map mask ${mask}, gfx ${k}`).toEqual(b.vga.snapshot());
        });
      }
    }
  });

  it('round-trips its state, screen included', () => {
    const a = setup();
    print(a.bus, 3, 3, 'saved');
    a.bus.outw(0x3d4, 0x0f | (0x10 << 8));
    const snap = JSON.parse(JSON.stringify(a.vga.snapshot()));
    const b = setup();
    const d = b.vga.dirty;
    b.vga.restore(snap);
    expect(b.vga.dirty).toBeGreaterThan(d);
    expect(b.vga.screen()).toEqual(a.vga.screen());
    expect(b.vga.inspect()).toEqual(a.vga.inspect());
  });

  it('names its ports and registers', () => {
    const { vga, bus } = setup();
    const r = vga.regions()[0].region;
    expect(r.registerName!(0x2a, 'read')).toBe('Input Status 1');
    expect(r.registerName!(0x12, 'write')).toBe('Miscellaneous Output');
    bus.outb(0x3d4, 0x0e);
    expect(r.registerName!(0x25, 'write')).toBe('CRTC Data');
    expect(vga.regions()[1].region.posted).toBe(true);
    const ins = vga.inspect();
    expect(ins.registers.find((x) => x.name === 'GR06 Miscellaneous Graphics')!.bits![0].meaning).toBe('B8000h-BFFFFh');
    expect((ins.extra!.screen as string[]).length).toBe(25);
  });
});
