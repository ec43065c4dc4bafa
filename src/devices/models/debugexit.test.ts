import { describe, expect, it } from 'vitest';
import { UsageError } from '../../common/errors.js';
import { DebugExit } from './debugexit.js';
import { TestBus } from './testing/bus.js';
import { checkDeviceContract } from './testing/contract.js';
import { TestContext } from './testing/TestContext.js';

function setup(props = {}) {
  const ctx = new TestContext();
  const dev = new DebugExit('debugexit0', props, ctx);
  return { ctx, dev, bus: new TestBus(dev) };
}

describe('isa-debug-exit', () => {
  it('a write of v asks the machine to exit with (v << 1) | 1', () => {
    const { ctx, bus } = setup();
    bus.outb(0x501, 0x10);
    expect(ctx.requests).toEqual([{ kind: 'exit', status: 0x21 }]);
    bus.outb(0x501, 0);
    expect(ctx.requests.at(-1)).toEqual({ kind: 'exit', status: 1 });
  });

  it('takes 16- and 32-bit writes whole, at any offset of the range, and reads 0', () => {
    const { ctx, bus } = setup({ iobase: 0xf4, iosize: 4 });
    bus.outw(0xf4, 0x1234);
    expect(ctx.requests.at(-1)).toEqual({ kind: 'exit', status: 0x2469 });
    bus.outl(0xf4, 0x80000001);
    expect(ctx.requests.at(-1)).toEqual({ kind: 'exit', status: 3 }); // 32-bit like QEMU's int
    bus.outb(0xf6, 0x03);
    expect(ctx.requests.at(-1)).toEqual({ kind: 'exit', status: 7 });
    expect(bus.inl(0xf4)).toBe(0);
    expect(bus.inb(0xf7)).toBe(0);
    expect(bus.inb(0xf8)).toBe(0xff); // outside the range
  });

  it('rejects a nonsense iosize', () => {
    expect(() => setup({ iosize: 0 })).toThrow(UsageError);
  });

  it('passes the device contract', () => {
    checkDeviceContract(() => new DebugExit('debugexit0', {}, new TestContext()));
  });
});
