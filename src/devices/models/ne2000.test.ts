import { describe, expect, it } from 'vitest';
import type { NetBackend } from '../../common/device.js';
import { BackendError } from '../../common/errors.js';
import { Ne2000, multicastHashIndex, parseMac } from './ne2000.js';
import { TestBus } from './testing/bus.js';
import { checkDeviceContract } from './testing/contract.js';
import { TestContext } from './testing/TestContext.js';

class FakeNet implements NetBackend {
  readonly name = 'fake';
  sent: Uint8Array[] = [];
  fail = false;
  handler: ((f: Uint8Array) => void) | null = null;
  send(frame: Uint8Array): void {
    if (this.fail) throw new BackendError('fake: network is down');
    this.sent.push(frame.slice());
  }
  setReceiveHandler(cb: ((frame: Uint8Array) => void) | null): void {
    this.handler = cb;
  }
  deliver(f: Uint8Array): void {
    this.handler?.(f);
  }
}

const IO = 0x300;
const MAC = '52:54:00:aa:bb:cc';
const MAC_BYTES = [0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc];

function setup() {
  const ctx = new TestContext();
  const net = new FakeNet();
  const nic = new Ne2000('ne0', { iobase: IO, irq: 9, mac: MAC }, ctx, { net });
  const bus = new TestBus(nic);
  return { ctx, net, nic, bus };
}

/** What Linux's ne/8390 drivers do to bring the card up (NS8390_init), in word mode. */
function bringUp(bus: TestBus, ring: { start: number; stop: number } = { start: 0x46, stop: 0x80 }) {
  bus.outb(IO + 0x1f, bus.inb(IO + 0x1f));
  bus.outb(IO + 7, 0xff);
  bus.outb(IO + 0, 0x21); // page 0, no DMA, stop
  bus.outb(IO + 0x0e, 0x49); // DCR: word, normal, FIFO 8
  bus.outb(IO + 0x0a, 0);
  bus.outb(IO + 0x0b, 0);
  bus.outb(IO + 0x0c, 0x20); // RCR: monitor while setting up
  bus.outb(IO + 0x0d, 0x02); // TCR: loopback
  bus.outb(IO + 4, 0x40); // TPSR
  bus.outb(IO + 1, ring.start);
  bus.outb(IO + 3, ring.start);
  bus.outb(IO + 2, ring.stop);
  bus.outb(IO + 7, 0xff);
  bus.outb(IO + 0x0f, 0x00);
  bus.outb(IO + 0, 0x61); // page 1
  MAC_BYTES.forEach((b, i) => bus.outb(IO + 1 + i, b));
  for (let i = 0; i < 8; i++) bus.outb(IO + 8 + i, 0);
  bus.outb(IO + 7, ring.start + 1); // CURR
  bus.outb(IO + 0, 0x22); // page 0, start
  bus.outb(IO + 7, 0xff);
  bus.outb(IO + 0x0f, 0x7f); // all interrupts
  bus.outb(IO + 0x0d, 0x00); // TCR normal
  bus.outb(IO + 0x0c, 0x04); // RCR: accept broadcast
}

function remoteRead(bus: TestBus, addr: number, len: number): Uint8Array {
  bus.outb(IO + 0x0a, len & 0xff);
  bus.outb(IO + 0x0b, len >> 8);
  bus.outb(IO + 8, addr & 0xff);
  bus.outb(IO + 9, addr >> 8);
  bus.outb(IO + 0, 0x0a); // remote read, start
  const b = new Uint8Array(len);
  bus.pio.readRep((IO + 0x10) as never, 2, len / 2, b);
  return b;
}

function remoteWrite(bus: TestBus, addr: number, data: Uint8Array): void {
  bus.outb(IO + 0x0a, data.length & 0xff);
  bus.outb(IO + 0x0b, data.length >> 8);
  bus.outb(IO + 8, addr & 0xff);
  bus.outb(IO + 9, addr >> 8);
  bus.outb(IO + 0, 0x12); // remote write, start
  bus.pio.writeRep((IO + 0x10) as never, 2, data.length / 2, data);
}

function frame(dst: number[], len = 100, fill = 0x11): Uint8Array {
  const f = new Uint8Array(len).fill(fill);
  f.set(dst, 0);
  f.set([2, 0, 0, 0, 0, 1], 6);
  f[12] = 0x08;
  f[13] = 0x00;
  return f;
}

describe('ne2000', () => {
  it('passes the device contract', () => {
    checkDeviceContract(() => new Ne2000('ne0', { iobase: IO, irq: 9 }, new TestContext()), {
      unusedOffsets: [
        { region: 0, offset: 0x0a }, { region: 0, offset: 0x0b },
        { region: 0, offset: 0x11 }, { region: 0, offset: 0x17 }, { region: 0, offset: 0x18 }, { region: 0, offset: 0x1e },
      ],
    });
  });

  it('shows the station address PROM with each byte doubled, as ne.c probes it', () => {
    const { bus } = setup();
    bus.inb(IO + 0x1f);
    expect(bus.inb(IO + 7) & 0x80).toBe(0x80); // reset acknowledged in ISR.RST
    bus.outb(IO + 0, 0x21);
    bus.outb(IO + 0x0e, 0x48); // byte-wide DMA
    bus.outb(IO + 0x0a, 32);
    bus.outb(IO + 0x0b, 0);
    bus.outb(IO + 8, 0);
    bus.outb(IO + 9, 0);
    bus.outb(IO + 0, 0x0a);
    const prom = Array.from({ length: 32 }, () => bus.inb(IO + 0x10));
    for (let i = 0; i < 6; i++) expect([prom[2 * i], prom[2 * i + 1]]).toEqual([MAC_BYTES[i], MAC_BYTES[i]]);
    expect([prom[28], prom[29], prom[30], prom[31]]).toEqual([0x57, 0x57, 0x57, 0x57]);
    expect(bus.inb(IO + 7) & 0x40).toBe(0x40); // RDC
  });

  it('moves data through remote DMA in word mode, with RDC and its interrupt', () => {
    const { bus, ctx } = setup();
    bringUp(bus);
    const data = Uint8Array.from({ length: 64 }, (_, i) => i * 3);
    remoteWrite(bus, 0x5000, data);
    expect(bus.inb(IO + 7) & 0x40).toBe(0x40);
    expect(ctx.irqLevels[9]).toBe(true);
    bus.outb(IO + 7, 0x40);
    expect(ctx.irqLevels[9]).toBe(false);
    expect(remoteRead(bus, 0x5000, 64)).toEqual(data);
    // CRDA shows where remote DMA stopped.
    expect(bus.inb(IO + 8) | (bus.inb(IO + 9) << 8)).toBe(0x5040);
  });

  it('transmits the frame at TPSR through the backend and raises PTX', () => {
    const { bus, ctx, net } = setup();
    bringUp(bus);
    bus.outb(IO + 7, 0xff);
    const f = frame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 98, 0x42);
    remoteWrite(bus, 0x4000, f);
    bus.outb(IO + 7, 0x40);
    bus.outb(IO + 4, 0x40);
    bus.outb(IO + 5, 98);
    bus.outb(IO + 6, 0);
    bus.outb(IO + 0, 0x26); // TXP, start, no DMA
    expect(net.sent).toEqual([f]);
    expect(bus.inb(IO + 0) & 0x04).toBe(0); // TXP cleared when done
    expect(bus.inb(IO + 4)).toBe(0x01); // TSR.PTX
    expect(bus.inb(IO + 7) & 0x02).toBe(0x02);
    expect(ctx.irqLevels[9]).toBe(true);
  });

  it('reports a backend send error as TXE and an event', () => {
    const { bus, ctx, net } = setup();
    bringUp(bus);
    net.fail = true;
    bus.outb(IO + 5, 60);
    bus.outb(IO + 0, 0x26);
    expect(bus.inb(IO + 4) & 0x08).toBe(0x08);
    expect(bus.inb(IO + 7) & 0x08).toBe(0x08);
    expect(ctx.events[0].name).toBe('NET_TX_ERROR');
  });

  it('receives into the ring with the 4-byte header, padding short frames to 60 bytes', () => {
    const { bus, ctx, net } = setup();
    bringUp(bus);
    bus.outb(IO + 7, 0xff);
    const f = frame(MAC_BYTES, 42, 0x33);
    net.deliver(f);
    expect(ctx.irqLevels[9]).toBe(true);
    expect(bus.inb(IO + 7) & 0x01).toBe(0x01);
    expect(bus.inb(IO + 0x0c)).toBe(0x01); // RSR: PRX, physical
    const hdr = remoteRead(bus, 0x4700, 4);
    expect(Array.from(hdr)).toEqual([0x01, 0x48, 64, 0]);
    const body = remoteRead(bus, 0x4704, 60);
    expect(body.subarray(0, 42)).toEqual(f);
    expect(body[59]).toBe(0);
    bus.outb(IO + 0, 0x62);
    expect(bus.inb(IO + 7)).toBe(0x48); // CURR moved on
    bus.outb(IO + 0, 0x22);
  });

  it('filters by physical address, broadcast, multicast hash and promiscuous mode', () => {
    const { bus, net, nic } = setup();
    bringUp(bus);
    const rx = () => nic.inspect().counters!.rxFrames;
    net.deliver(frame([0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcd]));
    expect(rx()).toBe(0);
    net.deliver(frame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    expect(rx()).toBe(1);
    expect(bus.inb(IO + 0x0c) & 0x20).toBe(0x20); // PHY: multicast/broadcast
    const mc = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];
    net.deliver(frame(mc));
    expect(rx()).toBe(1); // AM off
    bus.outb(IO + 0x0c, 0x0c); // AB | AM, hash empty
    net.deliver(frame(mc));
    expect(rx()).toBe(1);
    const h = multicastHashIndex(mc);
    bus.outb(IO + 0, 0x62);
    bus.outb(IO + 8 + (h >> 3), 1 << (h & 7));
    bus.outb(IO + 0, 0x22);
    net.deliver(frame(mc));
    expect(rx()).toBe(2);
    bus.outb(IO + 0x0c, 0x10); // promiscuous
    net.deliver(frame([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]));
    expect(rx()).toBe(3);
    expect(nic.inspect().counters!.rxFiltered).toBe(3);
  });

  it('computes the multicast hash the way Linux\'s 8390 driver does (ether_crc >> 26)', () => {
    // Reference values from the Ethernet CRC-32 (MSB-first register, init all ones).
    expect(multicastHashIndex([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])).toBe(0x3f);
    expect(parseMac('52-54-00-12-34-56')).toEqual(Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]));
    expect(() => parseMac('52:54')).toThrow(/MAC/);
  });

  it('wraps a frame around PSTOP, and remote read follows the wrap', () => {
    const { bus, net } = setup();
    bringUp(bus, { start: 0x46, stop: 0x4c });
    // Move CURR and BNRY near the end of the ring.
    bus.outb(IO + 0, 0x62);
    bus.outb(IO + 7, 0x4b);
    bus.outb(IO + 0, 0x22);
    bus.outb(IO + 3, 0x4a);
    const f = frame(MAC_BYTES, 300, 0x77);
    f[299] = 0xee;
    net.deliver(f);
    bus.outb(IO + 0, 0x62);
    expect(bus.inb(IO + 7)).toBe(0x47); // two pages: 4Bh, 46h → next 47h
    bus.outb(IO + 0, 0x22);
    const all = remoteRead(bus, 0x4b00, 304);
    expect(Array.from(all.subarray(0, 4))).toEqual([0x01, 0x47, 304 & 0xff, 304 >> 8]);
    expect(all.subarray(4)).toEqual(f);
  });

  it('sets OVW and counts missed frames when the ring is full, until the driver recovers', () => {
    const { bus, net, ctx } = setup();
    bringUp(bus, { start: 0x46, stop: 0x4a }); // 4 pages
    bus.outb(IO + 7, 0xff);
    const f = frame(MAC_BYTES, 300); // two pages each
    net.deliver(f); // pages 47h-48h
    expect(bus.inb(IO + 7) & 0x10).toBe(0);
    net.deliver(f); // 49h then 46h = BNRY: overflow
    expect(bus.inb(IO + 7) & 0x10).toBe(0x10);
    expect(ctx.irqLevels[9]).toBe(true);
    net.deliver(frame(MAC_BYTES, 60)); // dropped while OVW is set
    expect(bus.inb(IO + 0x0f)).toBe(2); // CNTR2, cleared by reading
    expect(bus.inb(IO + 0x0f)).toBe(0);
    // Recovery: take the packet out (BNRY to the last page before CURR), clear OVW.
    bus.outb(IO + 3, 0x48);
    bus.outb(IO + 7, 0x10);
    net.deliver(frame(MAC_BYTES, 60));
    expect(bus.inb(IO + 7) & 0x11).toBe(0x01);
    expect(remoteRead(bus, 0x4900, 4)[0]).toBe(0x01);
  });

  it('loops a transmitted frame back to its own receiver in loopback mode, not to the wire', () => {
    const { bus, net, nic } = setup();
    bringUp(bus);
    bus.outb(IO + 0x0d, 0x02);
    remoteWrite(bus, 0x4000, frame(MAC_BYTES, 64));
    bus.outb(IO + 5, 64);
    bus.outb(IO + 6, 0);
    bus.outb(IO + 0, 0x26);
    expect(net.sent).toHaveLength(0);
    expect(nic.inspect().counters!.rxFrames).toBe(1);
  });

  it('does not receive while stopped, and STP/STA drive ISR.RST', () => {
    const { bus, net, nic } = setup();
    bringUp(bus);
    bus.outb(IO + 0, 0x21);
    expect(bus.inb(IO + 7) & 0x80).toBe(0x80);
    net.deliver(frame(MAC_BYTES));
    expect(nic.inspect().counters!.rxFrames).toBe(0);
    bus.outb(IO + 0, 0x22);
    expect(bus.inb(IO + 7) & 0x80).toBe(0);
  });

  it('selects register pages through CR and names registers per page', () => {
    const { bus, nic } = setup();
    bringUp(bus);
    const name = nic.regions()[0].region.registerName!;
    expect(name(0x07, 'read')).toBe('ISR/CURR');
    expect(name(0x01, 'write')).toBe('PSTART/PAR0');
    expect(name(0x00, 'write')).toBe('CR');
    expect(name(0x10, 'read')).toBe('Data');
    bus.outb(IO + 0, 0x62);
    expect(bus.inb(IO + 1)).toBe(0x52);
    bus.outb(IO + 0, 0xa2); // page 2
    expect(bus.inb(IO + 1)).toBe(0x46);
    expect(bus.inb(IO + 2)).toBe(0x80);
    expect(bus.inb(IO + 0x0e)).toBe(0xc9);
    bus.outb(IO + 0, 0x22);
    const ins = nic.inspect();
    expect(ins.extra!.par).toBe(MAC);
    expect(ins.registers.find((r) => r.name === 'CR')!.bits![0].meaning).toBe('page 0');
  });

  it('snapshots and restores the ring', () => {
    const a = setup();
    bringUp(a.bus);
    a.net.deliver(frame(MAC_BYTES, 80, 0x5a));
    const snap = JSON.parse(JSON.stringify(a.nic.snapshot()));
    const b = setup();
    b.nic.restore(snap);
    expect(remoteRead(b.bus, 0x4704, 80)[20]).toBe(0x5a);
    expect(b.ctx.irqLevels[9]).toBe(true);
  });
});
