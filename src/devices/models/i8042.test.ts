import { describe, expect, it } from 'vitest';
import { UsageError } from '../../common/errors.js';
import { I8042, keyCodes, REFILL_NS, textCodes } from './i8042.js';
import { TestBus } from './testing/bus.js';
import { checkDeviceContract } from './testing/contract.js';
import { TestContext } from './testing/TestContext.js';

function setup() {
  const ctx = new TestContext();
  const kbc = new I8042('kbc', {}, ctx);
  const bus = new TestBus(kbc);
  /** Reads every byte the controller has for us, the way a polling driver does. */
  const drain = (): number[] => {
    const out: number[] = [];
    for (let idle = 0; idle < 3; ) {
      if (bus.inb(0x64) & 0x01) {
        out.push(bus.inb(0x60));
        idle = 0;
      } else {
        idle++;
      }
      ctx.advance(REFILL_NS);
    }
    return out;
  };
  const cmd = (c: number, data?: number) => {
    bus.outb(0x64, c);
    if (data !== undefined) bus.outb(0x60, data);
  };
  return { ctx, kbc, bus, drain, cmd };
}

describe('i8042 keyboard controller', () => {
  it('self test answers 0x55 and sets the system flag; interface tests answer 0', () => {
    const { bus, drain, cmd } = setup();
    expect(bus.inb(0x64) & 0x04).toBe(0);
    cmd(0xaa);
    expect(bus.inb(0x64) & 0x09).toBe(0x09); // OBF, A2 (last write was a command)
    expect(drain()).toEqual([0x55]);
    expect(bus.inb(0x64) & 0x04).toBe(0x04);
    cmd(0xab);
    cmd(0xa9);
    expect(drain()).toEqual([0x00, 0x00]);
  });

  it('reads and writes the command byte and controller RAM', () => {
    const { drain, cmd } = setup();
    cmd(0x20);
    expect(drain()).toEqual([0x41]);
    cmd(0x60, 0x65);
    cmd(0x20);
    cmd(0x7f, 0x5a);
    cmd(0x3f);
    expect(drain()).toEqual([0x65, 0x5a]);
  });

  it('A20 through the output port (D1h) and the DDh/DFh shortcuts; D0h reads it back', () => {
    const { ctx, drain, cmd } = setup();
    cmd(0xd1, 0xdd); // A20 off
    expect(ctx.requests).toEqual([{ kind: 'a20', enabled: false }]);
    cmd(0xd0);
    expect(drain()[0] & 0x02).toBe(0);
    cmd(0xd1, 0xdf);
    expect(ctx.requests.at(-1)).toEqual({ kind: 'a20', enabled: true });
    cmd(0xd1, 0xdf);
    expect(ctx.requests.length).toBe(2); // unchanged: no request
    cmd(0xdd);
    expect(ctx.requests.at(-1)).toEqual({ kind: 'a20', enabled: false });
    cmd(0xdf);
    expect(ctx.requests.at(-1)).toEqual({ kind: 'a20', enabled: true });
  });

  it('pulsing output port bit 0 (FEh) or writing it low resets the CPU; FFh does nothing', () => {
    const { ctx, cmd } = setup();
    cmd(0xff);
    expect(ctx.requests).toEqual([]);
    cmd(0xfe);
    expect(ctx.requests).toEqual([{ kind: 'reset' }]);
    cmd(0xf0);
    expect(ctx.requests.length).toBe(2);
    cmd(0xd1, 0x02);
    expect(ctx.requests.at(-1)).toEqual({ kind: 'reset' });
  });

  it('keyboard reset: ACK then BAT; identify: AB 83, translated to AB 41', () => {
    const { bus, drain, cmd } = setup();
    bus.outb(0x60, 0xff);
    expect(bus.inb(0x64) & 0x08).toBe(0); // A2 clear: data write
    expect(drain()).toEqual([0xfa, 0xaa]);
    bus.outb(0x60, 0xf2);
    expect(drain()).toEqual([0xfa, 0xab, 0x41]);
    cmd(0x60, 0x01); // translation off
    bus.outb(0x60, 0xf2);
    expect(drain()).toEqual([0xfa, 0xab, 0x83]);
  });

  it('scan code set query, LEDs, typematic, echo, resend, unknown command', () => {
    const { bus, drain, kbc } = setup();
    bus.outb(0x60, 0xf0);
    bus.outb(0x60, 0x00);
    expect(drain()).toEqual([0xfa, 0xfa, 0x41]); // set 2, translated
    bus.outb(0x60, 0xed);
    bus.outb(0x60, 0x07);
    bus.outb(0x60, 0xf3);
    bus.outb(0x60, 0x20);
    bus.outb(0x60, 0xee);
    bus.outb(0x60, 0xfe);
    bus.outb(0x60, 0x42);
    expect(drain()).toEqual([0xfa, 0xfa, 0xfa, 0xfa, 0xee, 0xee, 0xfe]);
    const leds = kbc.inspect().registers.find((r) => r.name === 'keyboard LEDs')!;
    expect(leds.value).toBe(7);
  });

  it('types text as set 2, translated to set 1 by default', () => {
    const { drain, kbc, cmd } = setup();
    kbc.typeText('aA');
    expect(drain()).toEqual([0x1e, 0x9e, 0x2a, 0x1e, 0x9e, 0xaa]);
    cmd(0x60, 0x01);
    kbc.typeText('a!');
    expect(drain()).toEqual([0x1c, 0xf0, 0x1c, 0x12, 0x16, 0xf0, 0x16, 0xf0, 0x12]);
  });

  it('extended keys carry E0; key names follow QEMU', () => {
    const { drain, kbc } = setup();
    kbc.keyDown('up');
    kbc.keyUp('up');
    kbc.keyDown('ctrl_r');
    kbc.keyUp('ctrl_r');
    expect(drain()).toEqual([0xe0, 0x48, 0xe0, 0xc8, 0xe0, 0x1d, 0xe0, 0x9d]);
    kbc.keyDown('pause');
    expect(drain()).toEqual([0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5]);
    expect(() => kbc.keyDown('hyper')).toThrow(UsageError);
    expect(keyCodes('Enter', true)).toEqual([0x5a]);
    expect(textCodes('\x03')).toEqual([0x14, 0x21, 0xf0, 0x21, 0xf0, 0x14]); // ctrl-c
    expect(() => textCodes('é')).toThrow(UsageError);
  });

  it('IRQ 1 follows output buffer full: one rising edge per byte', () => {
    const { ctx, bus, kbc } = setup();
    kbc.typeText('ab');
    expect(ctx.irqLevels[1]).toBe(true);
    const edges = () => ctx.irqLog.filter(([n, l]) => n === 1 && l).length;
    let got = 0;
    for (let i = 0; i < 4; i++) {
      expect(ctx.irqLevels[1]).toBe(true);
      bus.inb(0x60);
      got++;
      expect(ctx.irqLevels[1]).toBe(false); // low until the next byte is loaded
      ctx.advance(REFILL_NS);
    }
    expect(got).toBe(4);
    expect(edges()).toBe(4);
    expect(kbc.inspect().counters!.irq1).toBe(4);
  });

  it('IRQ 1 is off when the command byte clears INT', () => {
    const { ctx, kbc, cmd, bus } = setup();
    cmd(0x60, 0x40);
    kbc.typeText('x');
    expect(bus.inb(0x64) & 1).toBe(1);
    expect(ctx.irqLevels[1]).toBe(false);
  });

  it('a disabled keyboard interface holds bytes; writing to the keyboard enables it again', () => {
    const { bus, drain, kbc, cmd } = setup();
    cmd(0xad);
    kbc.typeText('q');
    expect(bus.inb(0x64) & 1).toBe(0);
    cmd(0x20);
    expect(drain()).toEqual([0x51]);
    cmd(0xae);
    expect(drain()).toEqual([0x10, 0x90]);
    cmd(0xad);
    bus.outb(0x60, 0xee);
    expect(drain()).toEqual([0xee]);
  });

  it('keyboard F5 stops scanning: typed keys wait; F4 lets them through', () => {
    const { bus, drain, kbc } = setup();
    bus.outb(0x60, 0xf5);
    expect(drain()).toEqual([0xfa]);
    kbc.typeText('z');
    expect(drain()).toEqual([]);
    bus.outb(0x60, 0xf4);
    expect(drain()).toEqual([0xfa, 0x2c, 0xac]);
  });

  it('long text passes through the 16-byte keyboard buffer without loss', () => {
    const { drain, kbc } = setup();
    const text = 'The quick brown fox jumps over the lazy dog 0123456789';
    kbc.typeText(text);
    const got = drain();
    expect(got.length).toBe(textCodes(text).length - textCodes(text).filter((b) => b === 0xf0).length);
  });

  it('a keyboard switched to set 1 sends set 1 itself', () => {
    const { bus, drain, kbc, cmd } = setup();
    cmd(0x60, 0x01); // no translation
    bus.outb(0x60, 0xf0);
    bus.outb(0x60, 0x01);
    bus.outb(0x60, 0xf0);
    bus.outb(0x60, 0x00);
    expect(drain()).toEqual([0xfa, 0xfa, 0xfa, 0xfa, 0x01]);
    kbc.typeText('a');
    expect(drain()).toEqual([0x1e, 0x9e]);
  });

  it('mouse: D4h commands answer on the aux port with IRQ 12; movement packets when enabled', () => {
    const { ctx, bus, drain, kbc, cmd } = setup();
    cmd(0x60, 0x43); // INT, INT2, XLAT
    cmd(0xa8);
    cmd(0xd4, 0xf2);
    expect(bus.inb(0x64) & 0x21).toBe(0x21); // OBF and AUXB
    expect(ctx.irqLevels[12]).toBe(true);
    expect(ctx.irqLevels[1]).toBe(false);
    expect(drain()).toEqual([0xfa, 0x00]);
    cmd(0xd4, 0xff);
    expect(drain()).toEqual([0xfa, 0xaa, 0x00]);
    kbc.mouseMove(5, -3, 1);
    expect(drain()).toEqual([]); // reporting off after reset
    cmd(0xd4, 0xf4);
    kbc.mouseMove(5, -3, 1);
    expect(drain()).toEqual([0xfa, 0x29, 0x05, 0xfd]);
    cmd(0xd4, 0xe9);
    expect(drain()).toEqual([0xfa, 0x24, 0x02, 100]);
    cmd(0xd4, 0xf3);
    cmd(0xd4, 200);
    cmd(0xd4, 0x42);
    expect(drain()).toEqual([0xfa, 0xfa, 0xfe]);
  });

  it('aux loopback (D3h) and keyboard buffer write (D2h), as Linux probes the aux port', () => {
    const { bus, cmd, drain } = setup();
    cmd(0xd3, 0x5a);
    expect(bus.inb(0x64) & 0x21).toBe(0x21);
    expect(drain()).toEqual([0x5a]);
    cmd(0xd2, 0x77);
    expect(bus.inb(0x64) & 0x21).toBe(0x01);
    expect(drain()).toEqual([0x77]);
  });

  it('a disabled aux interface holds mouse bytes', () => {
    const { bus, cmd, drain } = setup();
    cmd(0xa7);
    cmd(0xd4, 0xf2);
    expect(bus.inb(0x64) & 1).toBe(0);
    cmd(0xa8);
    expect(drain()).toEqual([0xfa, 0x00]);
  });

  it('names registers by direction; inspect shows a command waiting for its data byte', () => {
    const { kbc, bus } = setup();
    const [data, command] = kbc.regions().map((r) => r.region);
    expect(data.registerName!(0, 'write')).toBe('input buffer (data)');
    expect(data.registerName!(0, 'read')).toBe('output buffer');
    expect(command.registerName!(0, 'read')).toBe('status');
    expect(command.registerName!(0, 'write')).toBe('command');
    bus.outb(0x64, 0xd1);
    expect(kbc.inspect().extra!.pendingCommand).toBe('0xd1');
  });

  it('snapshot with bytes queued restores them in order', () => {
    const { ctx, kbc } = setup();
    kbc.typeText('hello');
    const snap = JSON.parse(JSON.stringify(kbc.snapshot()));
    const ctx2 = new TestContext();
    ctx2.clock = ctx.clock;
    const k2 = new I8042('kbc', {}, ctx2);
    k2.restore(snap);
    const bus2 = new TestBus(k2);
    const got: number[] = [];
    for (let i = 0; i < 100; i++) {
      if (bus2.inb(0x64) & 1) got.push(bus2.inb(0x60));
      ctx2.advance(REFILL_NS);
    }
    expect(got.length).toBe(10);
    expect(got.slice(0, 2)).toEqual([0x23, 0xa3]);
  });

  it('passes the device contract', () => {
    checkDeviceContract(() => new I8042('kbc', {}, new TestContext()));
  });
});
