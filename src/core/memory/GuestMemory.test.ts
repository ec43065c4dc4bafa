import { describe, expect, it } from 'vitest';
import { GuestMemory, MemCtl } from './GuestMemory.js';

describe('GuestMemory', () => {
  it('maps RAM, ROM and aliases, and prints the map with inclusive ends', () => {
    const rom = new Uint8Array(0x10000).fill(0xea);
    rom[0xfff0] = 0x90;
    const mem = GuestMemory.create(32 << 20, [{ name: 'bios', data: rom }]);
    mem.mapRam(0, 0xa0000);
    mem.mapRam(0x100000, (32 << 20) - 0x100000);
    mem.mapRom('bios', 0xf0000);
    mem.mapRom('bios', 0xffff0000);
    expect(mem.map()).toEqual([
      { base: 0, end: 0x9ffff, kind: 'ram', name: 'ram', offset: 0 },
      { base: 0xf0000, end: 0xfffff, kind: 'rom', name: 'bios', offset: 0 },
      { base: 0x100000, end: (32 << 20) - 1, kind: 'ram', name: 'ram', offset: 0x100000 },
      { base: 0xffff0000, end: 0xffffffff, kind: 'rom', name: 'bios', offset: 0 },
    ]);
    const b = new Uint8Array(1);
    mem.read(0xffff_fff0, b);
    expect(b[0]).toBe(0x90);
    mem.read(0xffff0, b);
    expect(b[0]).toBe(0x90);
  });

  it('drops writes to ROM and holes; reads holes as all ones', () => {
    const mem = GuestMemory.create(1 << 20, [{ name: 'bios', data: new Uint8Array(0x1000) }]);
    mem.mapRam(0, 0xa0000);
    mem.mapRom('bios', 0xff000);
    expect(mem.write(0xff000, new Uint8Array([1, 2, 3]))).toBe(0);
    expect(mem.write(0x9fffe, new Uint8Array([1, 2, 3, 4]))).toBe(2);
    const out = new Uint8Array(4);
    expect(mem.read(0x9fffe, out)).toBe(2);
    expect(Array.from(out)).toEqual([1, 2, 0xff, 0xff]);
  });

  it('shares memory and the map with another attachment (another thread sees the same bytes)', () => {
    const a = GuestMemory.create(1 << 20);
    a.mapRam(0, 1 << 20);
    const b = GuestMemory.attach(a.desc);
    a.write(0x1234, new Uint8Array([0x5a]));
    expect(b.u8[0x1234]).toBe(0x5a);
    const g = b.generation;
    a.setA20(false);
    expect(b.a20).toBe(false);
    expect(b.generation).toBe(g + 1);
    expect(b.gate(0x112345)).toBe(0x012345);
    expect(a.ctl[MemCtl.A20]).toBe(0);
  });

  it('refuses sizes and ranges that make no sense', () => {
    expect(() => GuestMemory.create(1000)).toThrow(/multiple of 4 KiB/);
    const m = GuestMemory.create(1 << 20);
    expect(() => m.mapRam(0, 2 << 20)).toThrow(/beyond/);
    expect(() => m.mapPages(0x123, 0x1000, 0, 0)).toThrow(/whole pages/);
  });

  it('keeps PAM-style split read/write mappings', () => {
    const m = GuestMemory.create(1 << 20, [{ name: 'bios', data: new Uint8Array(0x20000).fill(7) }]);
    // Read from ROM, write to RAM (shadowing in progress).
    m.mapPages(0xe0000, 0x20000, m.rom('bios').host, 0xe0000);
    m.write(0xe0000, new Uint8Array([9]));
    const b = new Uint8Array(1);
    m.read(0xe0000, b);
    expect(b[0]).toBe(7);
    m.mapRam(0xe0000, 0x20000);
    m.read(0xe0000, b);
    expect(b[0]).toBe(9);
    expect(m.map().find((e) => e.base === 0xe0000)?.kind).toBe('ram');
  });
});

describe('GuestMemory shadowing (i440FX PAM)', () => {
  it('switches reads between the ROM side and RAM, and writes between RAM and nowhere', () => {
    const rom = new Uint8Array(0x20000).fill(0xaa);
    const m = GuestMemory.create(2 << 20, [{ name: 'bios', data: rom }]);
    m.mapRam(0, 0xa0000);
    m.mapRom('bios', 0xe0000);
    const b = new Uint8Array(1);
    // Write-only shadow: reads come from the ROM, writes go to RAM.
    m.setShadow(0xf0000, 0x10000, 'rom', 'ram');
    m.write(0xf0000, new Uint8Array([0x55]));
    m.read(0xf0000, b);
    expect(b[0]).toBe(0xaa);
    m.setShadow(0xf0000, 0x10000, 'ram', 'none');
    m.read(0xf0000, b);
    expect(b[0]).toBe(0x55);
    expect(m.write(0xf0000, new Uint8Array([0x66]))).toBe(0);
    // Where no ROM sits, the ROM side is open bus.
    m.setShadow(0xc0000, 0x4000, 'rom', 'none');
    m.read(0xc0000, b);
    expect(b[0]).toBe(0xff);
    expect(() => m.setShadow(0xff000, 0x2000, 'ram', 'ram')).toThrow(/below 1 MiB/);
  });
});
