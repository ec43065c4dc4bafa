import { describe, expect, it } from 'vitest';
import { POST_HISTORY, PostCode } from './postcode.js';
import { TestBus } from './testing/bus.js';
import { checkDeviceContract } from './testing/contract.js';
import { TestContext } from './testing/TestContext.js';

describe('POST code port', () => {
  it('records the last code and a history, and reads the last code back', () => {
    const dev = new PostCode('post', {}, new TestContext());
    const bus = new TestBus(dev);
    for (const c of [0x01, 0x02, 0x55, 0xaa]) bus.outb(0x80, c);
    expect(dev.code).toBe(0xaa);
    expect(bus.inb(0x80)).toBe(0xaa);
    expect(dev.inspect().queues!.history).toEqual([0x01, 0x02, 0x55, 0xaa]);
    for (let i = 0; i < 100; i++) bus.outb(0x80, i);
    expect(dev.inspect().queues!.history.length).toBe(POST_HISTORY);
    expect(dev.inspect().counters!.writes).toBe(104);
  });

  it('listens on a second port when iobase2 is given', () => {
    const dev = new PostCode('post', { iobase: 0x80, iobase2: 0x190 }, new TestContext());
    const bus = new TestBus(dev);
    bus.outb(0x190, 0x42);
    expect(dev.code).toBe(0x42);
    expect(dev.inspect().registers[0].note).toBe('last written at port 0x190');
    bus.outb(0x80, 0x43);
    expect(bus.inb(0x190)).toBe(0x43);
  });

  it('a 16-bit OUT records its low byte', () => {
    const dev = new PostCode('post', {}, new TestContext());
    new TestBus(dev).outw(0x80, 0x1234);
    expect(dev.code).toBe(0x34);
  });

  it('passes the device contract', () => {
    checkDeviceContract(() => new PostCode('post', { iobase2: 0x190 }, new TestContext()));
  });
});
