import { describe, expect, it } from 'vitest';
import type { BlockBackend } from '../../common/device.js';
import { BackendError } from '../../common/errors.js';
import { Ide } from './ide.js';
import { TestBus } from './testing/bus.js';
import { checkDeviceContract } from './testing/contract.js';
import { TestContext } from './testing/TestContext.js';

/** An in-memory disk with knobs for failure, standing in for the raw-file backend. */
class MemDisk implements BlockBackend {
  readonly data: Uint8Array;
  flushes = 0;
  failWrites = false;
  constructor(readonly name: string, sectors: number, readonly readOnly = false) {
    this.data = new Uint8Array(sectors * 512);
    for (let i = 0; i < sectors; i++) {
      this.data[i * 512] = i & 0xff;
      this.data[i * 512 + 1] = (i >> 8) & 0xff;
      this.data[i * 512 + 511] = 0x5a;
    }
  }
  get size(): number {
    return this.data.length;
  }
  read(offset: number, into: Uint8Array): void {
    into.set(this.data.subarray(offset, offset + into.length));
  }
  write(offset: number, from: Uint8Array): void {
    if (this.failWrites) throw new BackendError(`${this.name}: write failed: EIO`);
    this.data.set(from, offset);
  }
  flush(): void {
    this.flushes++;
  }
}

const BASE = 0x1f0;
const CTL = 0x3f6;

function setup(opts: { master?: MemDisk | null; slave?: MemDisk | null } = {}) {
  const ctx = new TestContext();
  const master = opts.master === undefined ? new MemDisk('disk0', 20160) : opts.master;
  const slave = opts.slave ?? null;
  const ide = new Ide('ide0', { iobase: BASE, iobase2: CTL, irq: 14 }, ctx, { master, slave });
  const bus = new TestBus(ide);
  return { ctx, ide, bus, master: master!, slave };
}

function readSector(bus: TestBus): Uint8Array {
  const b = new Uint8Array(512);
  bus.pio.readRep(BASE as never, 2, 256, b);
  return b;
}

function identify(bus: TestBus): Uint16Array {
  bus.outb(BASE + 6, 0xa0);
  bus.outb(BASE + 7, 0xec);
  const b = readSector(bus);
  return new Uint16Array(b.buffer);
}

function ataString(w: Uint16Array, first: number, words: number): string {
  let s = '';
  for (let i = first; i < first + words; i++) s += String.fromCharCode(w[i] >> 8, w[i] & 0xff);
  return s.trimEnd();
}

describe('ide', () => {
  it('passes the device contract', () => {
    checkDeviceContract(() => new Ide('ide0', { iobase: BASE, iobase2: CTL, irq: 14 }, new TestContext(), {
      master: new MemDisk('d', 64),
    }));
    checkDeviceContract(() => new Ide('ide1', { iobase: 0x170, iobase2: 0x376, irq: 15 }, new TestContext(), {}));
  });

  it('shows the ATA signature after power-on and answers IDENTIFY DEVICE with byte-swapped strings', () => {
    const { bus, ctx } = setup();
    expect(bus.inb(BASE + 2)).toBe(1);
    expect(bus.inb(BASE + 3)).toBe(1);
    expect(bus.inb(BASE + 4)).toBe(0);
    expect(bus.inb(BASE + 5)).toBe(0);
    expect(bus.inb(BASE + 7)).toBe(0x50);
    const w = identify(bus);
    expect(ctx.irqLevels[14]).toBe(true); // data ready
    expect(ataString(w, 27, 20)).toBe('HVMON HARDDISK');
    expect(ataString(w, 23, 4)).toBe('1.0');
    expect(ataString(w, 10, 10)).toMatch(/^HVIDE00/);
    expect(w[0]).toBe(0x0040);
    expect([w[1], w[3], w[6]]).toEqual([20, 16, 63]);
    expect(w[49] & 0x0200).toBe(0x0200); // LBA
    expect(w[60] | (w[61] << 16)).toBe(20160);
    expect(w[47]).toBe(0x8010);
    expect(w[59]).toBe(0); // multiple mode off at power-on
    expect(w[64]).toBe(3);
    expect(w[80] & 0x40).toBe(0x40); // ATA-6
    expect(w[83] & 0x1000).toBe(0x1000); // FLUSH CACHE
    const bytes = new Uint8Array(w.buffer);
    expect(bytes.reduce((a, b) => a + b, 0) & 0xff).toBe(0); // word 255 checksum
    expect(bytes[510]).toBe(0xa5);
    // After the block was read: DRQ gone, ready.
    expect(bus.inb(CTL)).toBe(0x50);
  });

  it('reads sectors in LBA28 mode with an interrupt per sector, cleared by Status not Alternate Status', () => {
    const { bus, ctx } = setup();
    bus.outb(CTL, 0x00);
    bus.outb(BASE + 2, 2);
    bus.outb(BASE + 3, 100);
    bus.outb(BASE + 4, 0);
    bus.outb(BASE + 5, 0);
    bus.outb(BASE + 6, 0xe0);
    bus.outb(BASE + 7, 0x20);
    expect(ctx.irqLevels[14]).toBe(true);
    expect(bus.inb(CTL)).toBe(0x58); // alt status: DRDY DSC DRQ
    expect(ctx.irqLevels[14]).toBe(true); // still pending
    expect(bus.inb(BASE + 7)).toBe(0x58);
    expect(ctx.irqLevels[14]).toBe(false); // status read acknowledged it
    const s1 = readSector(bus);
    expect([s1[0], s1[1], s1[511]]).toEqual([100, 0, 0x5a]);
    expect(ctx.irqLevels[14]).toBe(true); // second sector ready
    expect(bus.inb(BASE + 7)).toBe(0x58);
    // 32-bit data port accesses work too.
    const first = bus.inl(BASE);
    expect(first & 0xffff).toBe(101);
    for (let i = 1; i < 128; i++) bus.inl(BASE);
    expect(bus.inb(BASE + 7)).toBe(0x50); // done, no DRQ
    expect(ctx.irqLevels[14]).toBe(false); // no interrupt after the last data-in block
    expect(bus.inb(BASE + 3)).toBe(101); // task file holds the last sector
    expect(bus.inb(BASE + 2)).toBe(0);
    expect(bus.inw(BASE)).toBe(0xffff); // no DRQ: nothing to read
  });

  it('addresses sectors by CHS with the logical geometry from INITIALIZE DEVICE PARAMETERS', () => {
    const { bus } = setup();
    // C/H/S 1/2/3 with 16 heads, 63 sectors: LBA (1*16+2)*63+2 = 1136.
    bus.outb(BASE + 2, 1);
    bus.outb(BASE + 3, 3);
    bus.outb(BASE + 4, 1);
    bus.outb(BASE + 5, 0);
    bus.outb(BASE + 6, 0xa2);
    bus.outb(BASE + 7, 0x20);
    let s = readSector(bus);
    expect(s[0] | (s[1] << 8)).toBe(1136);
    // Now 4 heads, 17 sectors per track: 1/2/3 is (1*4+2)*17+2 = 104.
    bus.outb(BASE + 2, 17);
    bus.outb(BASE + 6, 0xa3);
    bus.outb(BASE + 7, 0x91);
    expect(bus.inb(BASE + 7)).toBe(0x50);
    bus.outb(BASE + 2, 1);
    bus.outb(BASE + 3, 3);
    bus.outb(BASE + 4, 1);
    bus.outb(BASE + 6, 0xa2);
    bus.outb(BASE + 7, 0x20);
    s = readSector(bus);
    expect(s[0] | (s[1] << 8)).toBe(104);
    // Sector 0 does not exist in CHS: IDNF.
    bus.outb(BASE + 3, 0);
    bus.outb(BASE + 7, 0x20);
    expect(bus.inb(BASE + 7)).toBe(0x51);
    expect(bus.inb(BASE + 1)).toBe(0x10);
  });

  it('writes sectors: DRQ without interrupt first, then an interrupt after each block', () => {
    const { bus, ctx, master } = setup();
    bus.outb(BASE + 2, 2);
    bus.outb(BASE + 3, 7);
    bus.outb(BASE + 4, 0);
    bus.outb(BASE + 5, 0);
    bus.outb(BASE + 6, 0xe0);
    bus.outb(BASE + 7, 0x30);
    expect(ctx.irqLevels[14]).toBe(false);
    expect(bus.inb(CTL)).toBe(0x58);
    const data = new Uint8Array(512).fill(0xab);
    bus.pio.writeRep(BASE as never, 2, 256, data);
    expect(ctx.irqLevels[14]).toBe(true);
    expect(bus.inb(BASE + 7)).toBe(0x58);
    for (let i = 0; i < 256; i++) bus.outw(BASE, 0xcdcd);
    expect(ctx.irqLevels[14]).toBe(true);
    expect(bus.inb(BASE + 7)).toBe(0x50);
    expect(master.data[7 * 512]).toBe(0xab);
    expect(master.data[8 * 512 + 100]).toBe(0xcd);
    expect(master.data[9 * 512]).toBe(9);
  });

  it('does READ/WRITE MULTIPLE only after SET MULTIPLE MODE, with one interrupt per block', () => {
    const { bus, ctx, master } = setup();
    bus.outb(BASE + 6, 0xe0);
    bus.outb(BASE + 2, 4);
    bus.outb(BASE + 7, 0xc4);
    expect(bus.inb(BASE + 7)).toBe(0x51); // multiple mode off: aborted
    expect(bus.inb(BASE + 1)).toBe(0x04);
    bus.outb(BASE + 2, 3);
    bus.outb(BASE + 7, 0xc6);
    expect(bus.inb(BASE + 7)).toBe(0x51); // not a power of two
    bus.outb(BASE + 2, 4);
    bus.outb(BASE + 7, 0xc6);
    expect(bus.inb(BASE + 7)).toBe(0x50);
    expect(identify(bus)[59]).toBe(0x0104);
    // READ MULTIPLE of 6 sectors from LBA 10: blocks of 4 and 2.
    bus.outb(BASE + 2, 6);
    bus.outb(BASE + 3, 10);
    bus.outb(BASE + 4, 0);
    bus.outb(BASE + 5, 0);
    bus.outb(BASE + 6, 0xe0);
    ctx.irqLog.length = 0;
    bus.outb(BASE + 7, 0xc4);
    expect(bus.inb(BASE + 7)).toBe(0x58);
    const b1 = new Uint8Array(2048);
    bus.pio.readRep(BASE as never, 2, 1024, b1);
    expect([b1[0], b1[512], b1[1024], b1[1536]]).toEqual([10, 11, 12, 13]);
    expect(bus.inb(BASE + 7)).toBe(0x58);
    const b2 = new Uint8Array(1024);
    bus.pio.readRep(BASE as never, 2, 512, b2);
    expect([b2[0], b2[512]]).toEqual([14, 15]);
    expect(bus.inb(BASE + 7)).toBe(0x50);
    expect(ctx.irqLog.filter(([, l]) => l).length).toBe(2);
    // WRITE MULTIPLE of 5 sectors at LBA 200.
    bus.outb(BASE + 2, 5);
    bus.outb(BASE + 3, 200);
    bus.outb(BASE + 7, 0xc5);
    bus.pio.writeRep(BASE as never, 4, 512, new Uint8Array(2048).fill(1));
    expect(bus.inb(BASE + 7)).toBe(0x58);
    bus.pio.writeRep(BASE as never, 4, 128, new Uint8Array(512).fill(2));
    expect(bus.inb(BASE + 7)).toBe(0x50);
    expect([master.data[200 * 512], master.data[203 * 512 + 5], master.data[204 * 512], master.data[205 * 512]]).toEqual([1, 1, 2, 205]);
  });

  it('masks INTRQ with nIEN and implements SRST with the signature afterwards', () => {
    const { bus, ctx } = setup();
    bus.outb(CTL, 0x02);
    bus.outb(BASE + 6, 0xa0);
    bus.outb(BASE + 7, 0xec);
    expect(ctx.irqLevels[14]).toBe(false);
    bus.outb(CTL, 0x00);
    expect(ctx.irqLevels[14]).toBe(true); // still pending, now visible
    bus.outb(BASE + 2, 0x55);
    bus.outb(BASE + 6, 0xb0);
    bus.outb(CTL, 0x06); // SRST + nIEN
    expect(bus.inb(CTL)).toBe(0); // slave absent: 00h
    bus.outb(BASE + 6, 0xa0);
    expect(bus.inb(CTL) & 0x80).toBe(0x80); // BSY while SRST is held
    bus.outb(CTL, 0x02);
    expect(bus.inb(BASE + 7)).toBe(0x50);
    expect([bus.inb(BASE + 2), bus.inb(BASE + 3), bus.inb(BASE + 4), bus.inb(BASE + 5), bus.inb(BASE + 6)]).toEqual([1, 1, 0, 0, 0]);
    expect(bus.inb(BASE + 1)).toBe(0x01);
    expect(ctx.irqLevels[14]).toBe(false);
  });

  it('presents an absent slave as SeaBIOS and Linux expect', () => {
    const { bus } = setup();
    bus.outb(BASE + 6, 0xb0);
    // The task file is shared, so the 55h/AAh register test passes...
    bus.outb(BASE + 2, 0x55);
    bus.outb(BASE + 3, 0xaa);
    expect(bus.inb(BASE + 2)).toBe(0x55);
    expect(bus.inb(BASE + 3)).toBe(0xaa);
    expect(bus.inb(BASE + 6)).toBe(0xb0);
    // ...but status is 00h and commands are ignored.
    expect(bus.inb(BASE + 7)).toBe(0);
    bus.outb(BASE + 7, 0xec);
    expect(bus.inb(BASE + 7)).toBe(0);
    expect(bus.inb(BASE + 1)).toBe(0);
    // EXECUTE DEVICE DIAGNOSTIC is run by device 0 whatever DEV says.
    bus.outb(BASE + 7, 0x90);
    expect(bus.inb(BASE + 6)).toBe(0);
    expect(bus.inb(BASE + 1)).toBe(0x01);
    expect(bus.inb(BASE + 7)).toBe(0x50);
  });

  it('reads 00h everywhere on a channel without devices', () => {
    const { bus } = setup({ master: null });
    bus.outb(BASE + 2, 0x55);
    for (let r = 1; r < 8; r++) expect(bus.inb(BASE + r)).toBe(0);
    expect(bus.inb(CTL)).toBe(0);
  });

  it('aborts IDENTIFY PACKET DEVICE, NOP and unknown commands', () => {
    const { bus } = setup();
    for (const c of [0xa1, 0x00, 0xa0, 0xca]) {
      bus.outb(BASE + 7, c);
      expect(bus.inb(BASE + 7)).toBe(0x51);
      expect(bus.inb(BASE + 1)).toBe(0x04);
    }
  });

  it('turns a backend write error into ERR/ABRT and a BLOCK_IO_ERROR event', () => {
    const { bus, ctx, master } = setup();
    master.failWrites = true;
    bus.outb(BASE + 2, 1);
    bus.outb(BASE + 3, 5);
    bus.outb(BASE + 6, 0xe0);
    bus.outb(BASE + 7, 0x30);
    bus.pio.writeRep(BASE as never, 2, 256, new Uint8Array(512).fill(9));
    expect(bus.inb(BASE + 7)).toBe(0x51);
    expect(bus.inb(BASE + 1)).toBe(0x04);
    expect(ctx.events).toHaveLength(1);
    expect(ctx.events[0].name).toBe('BLOCK_IO_ERROR');
    expect(ctx.events[0].data).toMatchObject({ device: 'ide0', operation: 'write', sector: 5, node: 'disk0' });
    expect(ctx.events[0].data.reason).toMatch(/EIO/);
  });

  it('aborts writes to a read-only disk and range errors with IDNF', () => {
    const ro = new MemDisk('ro', 100, true);
    const { bus } = setup({ master: ro });
    bus.outb(BASE + 2, 1);
    bus.outb(BASE + 3, 5);
    bus.outb(BASE + 6, 0xe0);
    bus.outb(BASE + 7, 0x30);
    expect(bus.inb(BASE + 7)).toBe(0x51);
    expect(bus.inb(BASE + 1)).toBe(0x04);
    bus.outb(BASE + 3, 99);
    bus.outb(BASE + 2, 2);
    bus.outb(BASE + 7, 0x20);
    expect(bus.inb(BASE + 1)).toBe(0x10);
  });

  it('flushes, verifies, sets features and runs diagnostics', () => {
    const { bus, ctx, master } = setup();
    bus.outb(BASE + 6, 0xe0);
    bus.outb(BASE + 7, 0xe7);
    expect(master.flushes).toBe(1);
    expect(bus.inb(BASE + 7)).toBe(0x50);
    bus.outb(BASE + 2, 4);
    bus.outb(BASE + 3, 50);
    bus.outb(BASE + 7, 0x40);
    expect(bus.inb(BASE + 7)).toBe(0x50);
    expect(bus.inb(BASE + 3)).toBe(53);
    bus.outb(BASE + 1, 0x82);
    bus.outb(BASE + 7, 0xef);
    expect(bus.inb(BASE + 7)).toBe(0x50);
    expect(identify(bus)[85] & 0x20).toBe(0);
    bus.outb(BASE + 1, 0x03);
    bus.outb(BASE + 2, 0x0c); // PIO mode 4
    bus.outb(BASE + 7, 0xef);
    expect(bus.inb(BASE + 7)).toBe(0x50);
    bus.outb(BASE + 2, 0x42); // UDMA 2: no DMA here
    bus.outb(BASE + 7, 0xef);
    expect(bus.inb(BASE + 7)).toBe(0x51);
    ctx.irqLog.length = 0;
    bus.outb(BASE + 7, 0x90);
    expect(ctx.irqLevels[14]).toBe(true);
    expect(bus.inb(BASE + 1)).toBe(0x01);
    expect(bus.inb(BASE + 2)).toBe(1);
  });

  it('serves master and slave from one channel, on the secondary ports', () => {
    const ctx = new TestContext();
    const m = new MemDisk('m', 100);
    const sl = new MemDisk('s', 300);
    const ide = new Ide('ide1', { iobase: 0x170, iobase2: 0x376, irq: 15 }, ctx, { master: m, slave: sl });
    const bus = new TestBus(ide);
    bus.outb(0x176, 0xf0);
    bus.outb(0x172, 1);
    bus.outb(0x173, 250);
    bus.outb(0x177, 0x20);
    expect(ctx.irqLevels[15]).toBe(true);
    const b = new Uint8Array(512);
    bus.pio.readRep(0x170 as never, 2, 256, b);
    expect(b[0]).toBe(250);
    const ins = ide.inspect();
    expect(ins.registers.find((r) => r.name === 'Status')!.bits!.find((x) => x.name === 'DRDY')!.value).toBe(1);
    expect(ide.regions()[0].region.registerName!(7, 'write')).toBe('Command');
  });

  it('snapshots in the middle of a transfer and goes on after restore', () => {
    const a = setup();
    a.bus.outb(BASE + 2, 2);
    a.bus.outb(BASE + 3, 30);
    a.bus.outb(BASE + 6, 0xe0);
    a.bus.outb(BASE + 7, 0x20);
    for (let i = 0; i < 100; i++) a.bus.inw(BASE);
    const snap = JSON.parse(JSON.stringify(a.ide.snapshot()));
    const b = setup({ master: a.master });
    b.ide.restore(snap);
    for (let i = 100; i < 256; i++) b.bus.inw(BASE);
    expect(b.bus.inw(BASE)).toBe(31);
  });
});
