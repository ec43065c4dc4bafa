import { describe, expect, it } from 'vitest';
import { IoBus } from './IoBus.js';
import type { IoRegion } from '../../common/io.js';
import { asPhys, asPort, type AccessSize } from '../../common/types.js';

interface Access { op: 'r' | 'w'; offset: number; size: AccessSize; value?: number }

function recorder(name: string, size: number, impl?: { min: AccessSize; max: AccessSize }, space: 'pio' | 'mmio' = 'pio') {
  const log: Access[] = [];
  const mem = new Uint8Array(size);
  const region: IoRegion = {
    name, space, size, impl,
    ops: {
      read(offset, sz) {
        log.push({ op: 'r', offset, size: sz });
        let v = 0;
        for (let i = sz - 1; i >= 0; i--) v = (v << 8) | mem[offset + i];
        return v >>> 0;
      },
      write(offset, sz, value) {
        log.push({ op: 'w', offset, size: sz, value });
        for (let i = 0; i < sz; i++) mem[offset + i] = (value >>> (8 * i)) & 0xff;
      },
    },
  };
  return { region, log, mem };
}

describe('IoBus', () => {
  it('rejects overlapping regions and names both owners', () => {
    const bus = new IoBus('pio');
    bus.map(recorder('com1', 8).region, asPort(0x3f8));
    expect(() => bus.map(recorder('intruder', 4).region, asPort(0x3fc))).toThrow(
      'intruder at 0x3fc-0x3ff overlaps com1 at 0x3f8-0x3ff on the pio bus',
    );
    // Adjacent is fine.
    bus.map(recorder('next', 4).region, asPort(0x400));
    expect(bus.regions.map((r) => r.region.name)).toEqual(['com1', 'next']);
  });

  it('refuses a region of the other space', () => {
    const bus = new IoBus('mmio');
    expect(() => bus.map(recorder('p', 4).region, asPhys(0x1000))).toThrow(/is pio, cannot map it on the mmio bus/);
  });

  it('reads all ones where nothing is mapped, and drops such writes', () => {
    const bus = new IoBus('pio');
    expect(bus.read(asPort(0x80), 1)).toBe(0xff);
    expect(bus.read(asPort(0x80), 2)).toBe(0xffff);
    expect(bus.read(asPort(0x80), 4)).toBe(0xffffffff);
    bus.write(asPort(0x80), 4, 0x12345678);
    const mmio = new IoBus('mmio');
    expect(mmio.read(asPhys(0xfee00000), 4)).toBe(0xffffffff);
  });

  it('passes offsets, not addresses, to the device', () => {
    const bus = new IoBus('pio');
    const d = recorder('dev', 8);
    bus.map(d.region, asPort(0x3f8));
    bus.write(asPort(0x3fb), 1, 0x83);
    expect(d.log).toEqual([{ op: 'w', offset: 3, size: 1, value: 0x83 }]);
  });

  it('splits an access that straddles the end of a region into bytes', () => {
    const bus = new IoBus('pio');
    const d = recorder('dev', 4);
    bus.map(d.region, asPort(0x100));
    d.mem.set([1, 2, 3, 4]);
    // 0x103 is in the device, 0x104 is open bus.
    expect(bus.read(asPort(0x103), 2)).toBe(0xff04);
    expect(d.log).toEqual([{ op: 'r', offset: 3, size: 1 }]);
    bus.write(asPort(0x102), 4, 0xaabbccdd);
    expect(Array.from(d.mem)).toEqual([1, 2, 0xdd, 0xcc]);
  });

  it('splits accesses wider than the region implements, little-endian', () => {
    const bus = new IoBus('mmio');
    const d = recorder('byteonly', 16, { min: 1, max: 1 }, 'mmio');
    bus.map(d.region, asPhys(0xd0000));
    bus.write(asPhys(0xd0004), 4, 0x11223344);
    expect(d.log.map((a) => [a.offset, a.size, a.value])).toEqual([
      [4, 1, 0x44], [5, 1, 0x33], [6, 1, 0x22], [7, 1, 0x11],
    ]);
    d.log.length = 0;
    expect(bus.read(asPhys(0xd0004), 4)).toBe(0x11223344);
    expect(d.log.length).toBe(4);
  });

  it('widens accesses narrower than the region implements', () => {
    const bus = new IoBus('pio');
    const d = recorder('cf8', 4, { min: 4, max: 4 });
    bus.map(d.region, asPort(0xcf8));
    d.mem.set([0x11, 0x22, 0x33, 0x44]);
    expect(bus.read(asPort(0xcfa), 1)).toBe(0x33);
    expect(d.log).toEqual([{ op: 'r', offset: 0, size: 4 }]);
    d.log.length = 0;
    bus.write(asPort(0xcf9), 1, 0xee);
    expect(d.log).toEqual([{ op: 'w', offset: 0, size: 4, value: 0xee00 }]);
  });

  it('returns full 32-bit values unsigned', () => {
    const bus = new IoBus('mmio');
    const d = recorder('r', 4, undefined, 'mmio');
    bus.map(d.region, asPhys(0xfebf0000));
    bus.write(asPhys(0xfebf0000), 4, 0xffffffff);
    expect(d.log[0].value).toBe(0xffffffff);
    expect(bus.read(asPhys(0xfebf0000), 4)).toBe(0xffffffff);
  });

  it('unmaps and finds by binary search among many regions', () => {
    const bus = new IoBus('mmio');
    const regions = Array.from({ length: 50 }, (_, i) => recorder(`r${i}`, 0x100, undefined, 'mmio'));
    regions.forEach((r, i) => bus.map(r.region, asPhys(0x10000000 + i * 0x1000)));
    expect(bus.find(0x10000000 + 37 * 0x1000 + 0x80)?.region.name).toBe('r37');
    expect(bus.find(0x10000000 + 37 * 0x1000 + 0x100)).toBeNull();
    bus.unmap(regions[37].region);
    expect(bus.find(0x10000000 + 37 * 0x1000 + 0x80)).toBeNull();
    expect(() => bus.unmap(asPhys(0x10000000 + 37 * 0x1000))).toThrow(/nothing mapped/);
  });

  it('moves string I/O through readRep/writeRep or falls back to single accesses', () => {
    const bus = new IoBus('pio');
    const d = recorder('data', 2);
    bus.map(d.region, asPort(0x1f0));
    d.mem.set([0x34, 0x12]);
    const buf = new Uint8Array(6);
    bus.readRep(asPort(0x1f0), 2, 3, buf);
    expect(Array.from(buf)).toEqual([0x34, 0x12, 0x34, 0x12, 0x34, 0x12]);
    expect(d.log.length).toBe(3);
  });
});
