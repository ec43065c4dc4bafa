// fw_cfg driven as a firmware drives it (docs/specs/fw_cfg.rst): select with a 16-bit OUT to
// 0x510, read bytes from 0x511, or put an FWCfgDmaAccess in RAM and write its address to 0x514.
import { describe, expect, it } from 'vitest';
import { asPort } from '../../common/types.js';
import { DmaCtl, FwCfg, FwCfgKey, pcFwCfgItems, type FwCfgContent } from './fwcfg.js';
import { TestBus } from './testing/bus.js';
import { checkDeviceContract } from './testing/contract.js';
import { TestContext } from './testing/TestContext.js';

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

const CONTENT: FwCfgContent = {
  items: [[FwCfgKey.NB_CPUS, Uint8Array.of(2, 0)], [FwCfgKey.IRQ0_OVERRIDE, Uint8Array.of(1, 0, 0, 0)]],
  files: [{ name: 'zeta', data: bytes('last') }, { name: 'etc/alpha', data: bytes('first file') }],
};

function setup(props = {}, content = CONTENT) {
  const ctx = new TestContext();
  const dev = new FwCfg('fwcfg', props, ctx, content);
  return { ctx, dev, bus: new TestBus(dev) };
}

function readItem(bus: TestBus, key: number, n: number): number[] {
  bus.outw(0x510, key);
  return Array.from({ length: n }, () => bus.inb(0x511));
}

const bswap = (v: number) => (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;

/** Puts an FWCfgDmaAccess at `at` (big-endian fields) and starts it as SeaBIOS does. */
function dma(ctx: TestContext, bus: TestBus, at: number, control: number, length: number, address: number): number {
  const dv = new DataView(ctx.ram.buffer);
  dv.setUint32(at, control, false);
  dv.setUint32(at + 4, length, false);
  dv.setUint32(at + 8, 0, false);
  dv.setUint32(at + 12, address, false);
  // outl(cpu_to_be32(addr), 0x518): the port sees the byte-swapped address.
  bus.outl(0x518, bswap(at));
  return dv.getUint32(at, false);
}

describe('fw_cfg', () => {
  it('answers the signature and feature bitmap, and "QEMU CFG" from the DMA register', () => {
    const { bus } = setup();
    expect(String.fromCharCode(...readItem(bus, FwCfgKey.SIGNATURE, 4))).toBe('QEMU');
    expect(readItem(bus, FwCfgKey.ID, 4)).toEqual([3, 0, 0, 0]); // traditional + DMA
    const sig = [0x514, 0x515, 0x516, 0x517, 0x518, 0x519, 0x51a, 0x51b].map((p) => bus.inb(p));
    expect(String.fromCharCode(...sig)).toBe('QEMU CFG');
    expect(bus.inl(0x514)).toBe(0x554d4551); // 'Q','E','M','U' in port order
  });

  it('restarts at offset 0 on every select and reads 0 past the end of an item', () => {
    const { bus } = setup();
    expect(readItem(bus, FwCfgKey.NB_CPUS, 4)).toEqual([2, 0, 0, 0]);
    expect(readItem(bus, FwCfgKey.NB_CPUS, 1)).toEqual([2]);
    // Arch-local keys (bit 15) are their own items; bit 14 (write) does not change the item.
    expect(readItem(bus, FwCfgKey.IRQ0_OVERRIDE, 4)).toEqual([1, 0, 0, 0]);
    expect(readItem(bus, 0x4000 | FwCfgKey.NB_CPUS, 2)).toEqual([2, 0]);
    // An item nobody provides reads as zeros; byte writes to the data port change nothing.
    expect(readItem(bus, 0x1234, 2)).toEqual([0, 0]);
    bus.outw(0x510, FwCfgKey.NB_CPUS);
    bus.outb(0x511, 7);
    expect(bus.inb(0x511)).toBe(2);
    // The two ports overlap: a 16-bit read at 0x510 takes the next two data bytes, in order.
    bus.outw(0x510, FwCfgKey.SIGNATURE);
    expect(bus.inw(0x510)).toBe(0x4551); // 'Q' then 'E'
    expect(bus.inb(0x510)).toBe(0x4d); // 'M'
  });

  it('lists files in a big-endian directory, sorted by name, with keys from 0x20', () => {
    const { bus } = setup();
    bus.outw(0x510, FwCfgKey.FILE_DIR);
    const raw = Uint8Array.from({ length: 4 + 2 * 64 }, () => bus.inb(0x511));
    const dv = new DataView(raw.buffer);
    expect(dv.getUint32(0, false)).toBe(2);
    const entry = (i: number) => ({
      size: dv.getUint32(4 + i * 64, false),
      select: dv.getUint16(8 + i * 64, false),
      name: String.fromCharCode(...raw.subarray(12 + i * 64, 12 + i * 64 + 56)).replace(/\0+$/, ''),
    });
    expect(entry(0)).toEqual({ size: 10, select: 0x20, name: 'etc/alpha' });
    expect(entry(1)).toEqual({ size: 4, select: 0x21, name: 'zeta' });
    // REP INSB on the data port (SeaBIOS without DMA) reads the file in one go.
    bus.outw(0x510, 0x20);
    const into = new Uint8Array(12);
    bus.pio.readRep(asPort(0x511), 1, 12, into);
    expect(String.fromCharCode(...into)).toBe('first file\0\0');
  });

  it('DMA: select and read into RAM, skip, zeros past the end, control 0 when done', () => {
    const { ctx, bus, dev } = setup();
    expect(dma(ctx, bus, 0x1000, (0x20 << 16) | DmaCtl.SELECT | DmaCtl.READ, 5, 0x2000)).toBe(0);
    expect(String.fromCharCode(...ctx.ram.subarray(0x2000, 0x2005))).toBe('first');
    // The offset moved on: a skip of 1 and a read of the rest, then 4 zero bytes past the end.
    ctx.ram.fill(0xaa, 0x3000, 0x3010);
    expect(dma(ctx, bus, 0x1000, DmaCtl.SKIP, 1, 0)).toBe(0);
    expect(dma(ctx, bus, 0x1000, DmaCtl.READ, 8, 0x3000)).toBe(0);
    expect(Array.from(ctx.ram.subarray(0x3000, 0x3009))).toEqual([...bytes('file'), 0, 0, 0, 0, 0xaa]);
    // The port interface sees the same offset.
    bus.outw(0x510, FwCfgKey.SIGNATURE);
    expect(dma(ctx, bus, 0x1000, DmaCtl.READ, 2, 0x3000)).toBe(0);
    expect(String.fromCharCode(...ctx.ram.subarray(0x3000, 0x3002))).toBe('QE');
    expect(bus.inb(0x511)).toBe(0x4d); // 'M'
    expect(dev.inspect().counters).toMatchObject({ dmaTransfers: 4, dmaErrors: 0 });
  });

  it('DMA: a write (no item is writable) or an address above 4 GiB sets the error bit', () => {
    const { ctx, bus, dev } = setup();
    ctx.ram.set(bytes('XX'), 0x2000);
    expect(dma(ctx, bus, 0x1000, (0x20 << 16) | DmaCtl.SELECT | DmaCtl.WRITE, 2, 0x2000)).toBe(DmaCtl.ERROR);
    expect(readItem(bus, 0x20, 2)).toEqual(Array.from(bytes('fi')));
    const dv = new DataView(ctx.ram.buffer);
    dv.setUint32(0x1000, DmaCtl.READ, false);
    dv.setUint32(0x1004, 4, false);
    dv.setUint32(0x1008, 1, false); // address high half: above 4 GiB
    bus.outl(0x518, bswap(0x1000));
    expect(dv.getUint32(0x1000, false)).toBe(DmaCtl.ERROR);
    // A 64-bit structure address (high half written first) is refused: RAM is below 4 GiB.
    bus.outl(0x514, bswap(1));
    bus.outl(0x518, bswap(0x1000));
    expect(dev.inspect().counters).toMatchObject({ dmaTransfers: 3, dmaErrors: 3 });
  });

  it('without DMA: feature bit 1 clear and no register at 0x514', () => {
    const { bus } = setup({ dmabase: 0 });
    expect(readItem(bus, FwCfgKey.ID, 4)).toEqual([1, 0, 0, 0]);
    expect(bus.inb(0x514)).toBe(0xff);
  });

  it('shows the selected item and what the firmware asked for', () => {
    const { bus, dev } = setup();
    readItem(bus, FwCfgKey.SIGNATURE, 4);
    readItem(bus, 0x21, 1);
    const ins = dev.inspect();
    expect(ins.registers[0]).toMatchObject({ name: 'selector', value: 0x21, note: 'zeta (4 bytes)' });
    expect(ins.extra).toEqual({ files: { 'etc/alpha': 10, zeta: 4 }, selected: ['signature', 'zeta'] });
  });

  it('passes the device contract', () => {
    checkDeviceContract(() => new FwCfg('fwcfg', {}, new TestContext(), CONTENT), { unusedOffsets: [] });
  });
});

describe('pcFwCfgItems: what QEMU\'s pc gives SeaBIOS', () => {
  const content = pcFwCfgItems({
    ramSize: 32 << 20, cpus: 1, bootOrder: ['/pci@i0cf8/ide@1,1/drive@0/disk@0'],
    vgaRoms: [{ name: 'vgabios-isavga.bin', data: Uint8Array.of(0x55, 0xaa, 1) }], serconPort: 0,
  });
  const { bus } = setup({}, content);
  const file = (name: string): number[] => {
    const f = content.files.find((x) => x.name === name);
    return f ? Array.from(f.data) : [];
  };

  it('RAM size, CPUs, no boot menu, IRQ 0 override', () => {
    expect(readItem(bus, FwCfgKey.RAM_SIZE, 8)).toEqual([0, 0, 0, 2, 0, 0, 0, 0]);
    expect(readItem(bus, FwCfgKey.NB_CPUS, 2)).toEqual([1, 0]);
    expect(readItem(bus, FwCfgKey.MAX_CPUS, 2)).toEqual([1, 0]);
    expect(readItem(bus, FwCfgKey.BOOT_MENU, 2)).toEqual([0, 0]);
    expect(readItem(bus, FwCfgKey.IRQ0_OVERRIDE, 4)).toEqual([1, 0, 0, 0]);
  });

  it('etc/e820 with the RAM, etc/boot-cpus, bootorder and the VGA ROM', () => {
    expect(file('etc/e820')).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0]);
    expect(file('etc/boot-cpus')).toEqual([1, 0]);
    expect(String.fromCharCode(...file('bootorder'))).toBe('/pci@i0cf8/ide@1,1/drive@0/disk@0\0');
    expect(file('vgaroms/vgabios-isavga.bin')).toEqual([0x55, 0xaa, 1]);
    expect(content.files.some((f) => f.name === 'etc/sercon-port')).toBe(false);
  });

  it('no VGA ROM: SeaBIOS is told to use a serial console', () => {
    const c = pcFwCfgItems({ ramSize: 1 << 20, cpus: 2, bootOrder: [], vgaRoms: [], serconPort: 0x3f8 });
    expect(c.files.map((f) => f.name).sort()).toEqual(['etc/boot-cpus', 'etc/e820', 'etc/sercon-port']);
    expect(Array.from(c.files.find((f) => f.name === 'etc/sercon-port')!.data)).toEqual([0xf8, 0x03]);
  });
});
