import { describe, expect, it } from 'vitest';
import type { CharBackend } from '../../common/device.js';
import { DebugCon } from './debugcon.js';
import { TestBus } from './testing/bus.js';
import { checkDeviceContract } from './testing/contract.js';
import { TestContext } from './testing/TestContext.js';

class Sink implements CharBackend {
  readonly name = 'sink';
  out: number[] = [];
  write(d: Uint8Array): void {
    this.out.push(...d);
  }
  setInputHandler(): void {}
}

describe('isa-debugcon', () => {
  it('sends every written byte to the backend and reads back 0xE9', () => {
    const sink = new Sink();
    const dev = new DebugCon('debugcon0', {}, new TestContext(), sink);
    const bus = new TestBus(dev);
    for (const c of 'SeaBIOS\n') bus.outb(0xe9, c.charCodeAt(0));
    expect(String.fromCharCode(...sink.out)).toBe('SeaBIOS\n');
    expect(bus.inb(0xe9)).toBe(0xe9);
    expect(dev.inspect().extra!.recent).toBe('SeaBIOS\n');
    expect(dev.inspect().counters!.bytes).toBe(8);
  });

  it('takes iobase and readback props (SeaBIOS probes 0x402 for 0xE9)', () => {
    const sink = new Sink();
    const dev = new DebugCon('debugcon0', { iobase: 0x402, readback: 0xe9 }, new TestContext(), sink);
    const bus = new TestBus(dev);
    expect(bus.inb(0x402)).toBe(0xe9);
    bus.outb(0x402, 0x41);
    expect(sink.out).toEqual([0x41]);
    const other = new TestBus(new DebugCon('d', { readback: 0x12 }, new TestContext()));
    expect(other.inb(0xe9)).toBe(0x12);
  });

  it('a 16-bit OUT sends only its low byte here', () => {
    const sink = new Sink();
    const bus = new TestBus(new DebugCon('debugcon0', {}, new TestContext(), sink));
    bus.outw(0xe9, 0x4241);
    expect(sink.out).toEqual([0x41]);
  });

  it('works without a backend and passes the device contract', () => {
    const dev = new DebugCon('debugcon0', {}, new TestContext());
    new TestBus(dev).outb(0xe9, 0x31);
    expect(dev.inspect().extra!.backend).toBe('none');
    checkDeviceContract(() => new DebugCon('debugcon0', {}, new TestContext(), new Sink()));
  });
});
