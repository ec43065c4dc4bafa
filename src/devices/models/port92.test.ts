import { describe, expect, it } from 'vitest';
import { Port92 } from './port92.js';
import { TestBus } from './testing/bus.js';
import { checkDeviceContract } from './testing/contract.js';
import { TestContext } from './testing/TestContext.js';

function setup() {
  const ctx = new TestContext();
  const dev = new Port92('port92', {}, ctx);
  return { ctx, dev, bus: new TestBus(dev) };
}

describe('port 92h (System Control Port A)', () => {
  it('fast A20: bit 1 asks the machine to open or close the gate when it changes', () => {
    const { ctx, bus } = setup();
    bus.outb(0x92, bus.inb(0x92) | 0x02);
    expect(ctx.requests).toEqual([{ kind: 'a20', enabled: true }]);
    expect(bus.inb(0x92)).toBe(0x02);
    bus.outb(0x92, 0x02);
    expect(ctx.requests.length).toBe(1);
    bus.outb(0x92, 0x00);
    expect(ctx.requests.at(-1)).toEqual({ kind: 'a20', enabled: false });
  });

  it('fast reset on the 0→1 transition of bit 0 only', () => {
    const { ctx, bus, dev } = setup();
    bus.outb(0x92, 0x01);
    expect(ctx.requests).toEqual([{ kind: 'reset' }]);
    bus.outb(0x92, 0x01);
    expect(ctx.requests.length).toBe(1);
    dev.reset(); // the machine resets the board
    expect(bus.inb(0x92)).toBe(0x00);
    bus.outb(0x92, 0x03);
    expect(ctx.requests.slice(1)).toEqual([{ kind: 'a20', enabled: true }, { kind: 'reset' }]);
  });

  it('the lock bit stays set until reset; reserved bits read 0', () => {
    const { bus, dev } = setup();
    bus.outb(0x92, 0x08 | 0x30);
    expect(bus.inb(0x92)).toBe(0x08);
    bus.outb(0x92, 0x00);
    expect(bus.inb(0x92)).toBe(0x08);
    dev.reset();
    expect(bus.inb(0x92)).toBe(0x00);
  });

  it('passes the device contract', () => {
    checkDeviceContract(() => new Port92('port92', {}, new TestContext()));
  });
});
