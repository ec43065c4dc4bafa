import { describe, expect, it } from 'vitest';
import type { CharBackend } from '../../common/device.js';
import { TestBus } from './testing/bus.js';
import { checkDeviceContract } from './testing/contract.js';
import { TestContext } from './testing/TestContext.js';
import { TX_CHAR_NS, Uart16550 } from './uart16550.js';

/** A backend that records what the UART sent and lets the test type into it. */
class LoopbackWire implements CharBackend {
  readonly name = 'test-wire';
  sent: number[] = [];
  private _handler: ((d: Uint8Array) => void) | null = null;
  write(data: Uint8Array): void {
    this.sent.push(...data);
  }
  setInputHandler(cb: ((d: Uint8Array) => void) | null): void {
    this._handler = cb;
  }
  type(text: string): void {
    this._handler?.(new TextEncoder().encode(text));
  }
}

const COM1 = 0x3f8;
const THR = COM1, RBR = COM1, IER = COM1 + 1, IIR = COM1 + 2, FCR = COM1 + 2, LCR = COM1 + 3;
const MCR = COM1 + 4, LSR = COM1 + 5, MSR = COM1 + 6, SCR = COM1 + 7;
/** 115200 baud 8N1: 10 bits. */
const CHAR_NS = Math.round((10 * 1e9) / 115200);

function setup(withBackend = true) {
  const ctx = new TestContext();
  const wire = new LoopbackWire();
  const uart = new Uart16550('com1', { iobase: COM1, irq: 4 }, ctx, withBackend ? wire : null);
  const bus = new TestBus(uart);
  return { ctx, wire, uart, bus };
}

/** What Linux's 8250 driver does to open the port: 115200 8N1, FIFO, OUT2, DTR, RTS. */
function open(bus: TestBus, fcr = 0xc7) {
  bus.outb(LCR, 0x80);
  bus.outb(COM1, 0x01);
  bus.outb(COM1 + 1, 0x00);
  bus.outb(LCR, 0x03);
  bus.outb(FCR, fcr);
  bus.outb(MCR, 0x0b);
}

describe('16550A UART', () => {
  it('DLAB switches offsets 0 and 1 to the divisor latch; scratch register holds a byte', () => {
    const { bus } = setup();
    bus.outb(LCR, 0x80);
    bus.outb(COM1, 0x0c);
    bus.outb(COM1 + 1, 0x00);
    expect(bus.inb(COM1)).toBe(0x0c);
    bus.outb(LCR, 0x03);
    bus.outb(IER, 0x0f);
    expect(bus.inb(IER)).toBe(0x0f);
    bus.outb(IER, 0xff);
    expect(bus.inb(IER)).toBe(0x0f); // bits 7-4 are always 0
    bus.outb(LCR, 0x83);
    expect(bus.inb(COM1 + 1)).toBe(0x00);
    bus.outb(SCR, 0xa5);
    expect(bus.inb(SCR)).toBe(0xa5);
  });

  it('identifies as a 16550A the way Linux autoconfig checks', () => {
    const { bus } = setup();
    expect(bus.inb(IIR)).toBe(0x01); // no FIFO yet
    bus.outb(FCR, 0x01);
    expect(bus.inb(IIR) >> 6).toBe(3); // FIFOs enabled: 16550A
    bus.outb(FCR, 0x21); // 64-byte FIFO bit of a 16750: not there
    expect((bus.inb(IIR) >> 5) & 1).toBe(0);
    // Loopback test: RTS|OUT2 show up as CTS|DCD.
    bus.outb(MCR, 0x1a);
    expect(bus.inb(MSR) & 0xf0).toBe(0x90);
  });

  it('raises THRE in IIR when ETBEI is set with THR empty, again after re-enabling (Linux THRE test)', () => {
    const { bus } = setup();
    bus.outb(LCR, 0x03);
    bus.outb(IER, 0x02);
    expect(bus.inb(IIR)).toBe(0x02);
    expect(bus.inb(IIR)).toBe(0x01); // reading IIR reset the THRE interrupt
    bus.outb(IER, 0x00);
    bus.outb(IER, 0x02);
    expect(bus.inb(IIR)).toBe(0x02);
    bus.outb(IER, 0x00);
    expect(bus.inb(IIR)).toBe(0x01);
  });

  it('transmits to the backend; THRE/TEMT clear while busy; THRE interrupt edge on IRQ 4', () => {
    const { ctx, bus, wire } = setup();
    open(bus);
    expect(bus.inb(LSR) & 0x60).toBe(0x60);
    bus.outb(IER, 0x02);
    expect(ctx.irqLevels[4]).toBe(true);
    ctx.irqLog.length = 0;
    for (const c of 'hi!') bus.outb(THR, c.charCodeAt(0));
    expect(String.fromCharCode(...wire.sent)).toBe('hi!');
    expect(bus.inb(LSR) & 0x60).toBe(0);
    expect(ctx.irqLevels[4]).toBe(false); // writing THR reset the THRE interrupt
    ctx.advance(3 * TX_CHAR_NS - 1);
    expect(bus.inb(LSR) & 0x60).toBe(0);
    ctx.advance(1);
    expect(bus.inb(LSR) & 0x60).toBe(0x60);
    expect(ctx.irqLog).toEqual([[4, false], [4, true]]);
    expect(bus.inb(IIR)).toBe(0xc2);
    expect(ctx.irqLevels[4]).toBe(false);
  });

  it('a polling driver that waits for THRE sends every byte', () => {
    const { ctx, bus, wire } = setup();
    open(bus, 0x00); // 16450 mode, as a BIOS leaves it
    const text = 'Hello, world\r\n';
    for (const c of text) {
      let spins = 0;
      while (!(bus.inb(LSR) & 0x20)) {
        ctx.advance(100);
        expect(++spins).toBeLessThan(100);
      }
      bus.outb(THR, c.charCodeAt(0));
    }
    expect(String.fromCharCode(...wire.sent)).toBe(text);
    expect(bus.inb(LSR) & 0x20).toBe(0);
  });

  it('drops a byte written with the FIFO full', () => {
    const { bus, wire, uart } = setup();
    open(bus);
    for (let i = 0; i < 20; i++) bus.outb(THR, 0x41 + i);
    expect(wire.sent.length).toBe(17); // 16 in the FIFO plus the one being shifted out
    expect(uart.inspect().counters!.txDropped).toBe(3);
  });

  it('receives at the line rate; data-available interrupt at the trigger level', () => {
    const { ctx, bus, wire } = setup();
    open(bus, 0x07); // trigger level 1
    bus.outb(IER, 0x01);
    wire.type('abc');
    expect(bus.inb(LSR) & 0x01).toBe(0); // still on the wire
    ctx.advance(CHAR_NS);
    expect(bus.inb(LSR) & 0x01).toBe(1);
    expect(ctx.irqLevels[4]).toBe(true);
    expect(bus.inb(IIR)).toBe(0xc4);
    ctx.advance(2 * CHAR_NS);
    expect(String.fromCharCode(bus.inb(RBR), bus.inb(RBR), bus.inb(RBR))).toBe('abc');
    expect(bus.inb(LSR) & 0x01).toBe(0);
    expect(ctx.irqLevels[4]).toBe(false);
    expect(bus.inb(IIR)).toBe(0xc1);
  });

  it('character timeout: below the trigger level, 4 character times of silence interrupt', () => {
    const { ctx, bus, wire } = setup();
    open(bus, 0x87); // trigger level 8
    bus.outb(IER, 0x01);
    wire.type('12345');
    ctx.advance(5 * CHAR_NS);
    expect(bus.inb(IIR)).toBe(0xc1); // 5 < 8, no timeout yet
    ctx.advance(4 * CHAR_NS - 1);
    expect(bus.inb(IIR)).toBe(0xc1);
    ctx.advance(1);
    expect(bus.inb(IIR)).toBe(0xcc);
    expect(ctx.irqLevels[4]).toBe(true);
    expect(bus.inb(RBR)).toBe(0x31); // reading resets the timeout indication
    expect(bus.inb(IIR)).toBe(0xc1);
    ctx.advance(4 * CHAR_NS);
    expect(bus.inb(IIR)).toBe(0xcc); // and the timer restarts while data remains
    wire.type('6789abc');
    ctx.advance(7 * CHAR_NS);
    expect(bus.inb(IIR)).toBe(0xc4); // 11 >= 8: data available takes over
  });

  it('trigger levels 1, 4, 8, 14', () => {
    for (const [fcr, level] of [[0x01, 1], [0x41, 4], [0x81, 8], [0xc1, 14]]) {
      const { ctx, bus, wire } = setup();
      open(bus, fcr);
      bus.outb(IER, 0x01);
      wire.type('x'.repeat(level - 1));
      ctx.advance((level - 1) * CHAR_NS);
      if (level > 1) expect(bus.inb(IIR), `level ${level}`).toBe(0xc1);
      wire.type('y');
      ctx.advance(CHAR_NS);
      expect(bus.inb(IIR), `level ${level}`).toBe(0xc4);
    }
  });

  it('holds host input back while the FIFO is full, as QEMU does: nothing is lost to a slow guest', () => {
    const { ctx, bus, wire, uart } = setup();
    open(bus, 0x07);
    wire.type('ABCDEFGHIJKLMNOPQR'); // 18 bytes, two more than the FIFO holds
    ctx.advance(100 * CHAR_NS);
    expect(bus.inb(LSR) & 0x03).toBe(0x01); // data, no overrun
    let got = '';
    for (let i = 0; i < 40 && got.length < 18; i++) {
      while (bus.inb(LSR) & 1) got += String.fromCharCode(bus.inb(RBR));
      ctx.advance(CHAR_NS);
    }
    expect(got).toBe('ABCDEFGHIJKLMNOPQR');
    expect(uart.inspect().counters!.overruns).toBe(0);
  });

  it('overrun in loopback: a byte arriving with the FIFO full is lost, OE set, line status interrupt first', () => {
    const { bus, uart } = setup();
    open(bus, 0x07);
    bus.outb(IER, 0x07);
    bus.outb(RBR + 4, 0x10); // MCR.LOOP: the guest's own writes arrive at once
    for (const ch of 'ABCDEFGHIJKLMNOPQR') bus.outb(RBR, ch.charCodeAt(0));
    expect(bus.inb(IIR)).toBe(0xc6); // receiver line status beats data available
    const lsr = bus.inb(LSR);
    expect(lsr & 0x03).toBe(0x03);
    expect(bus.inb(LSR) & 0x02).toBe(0); // reading LSR cleared OE
    let got = '';
    while (bus.inb(LSR) & 1) got += String.fromCharCode(bus.inb(RBR));
    expect(got).toBe('ABCDEFGHIJKLMNOP');
    // Byte 17 overran the receiver; byte 18 found the transmit FIFO full too.
    expect(uart.inspect().counters!.overruns).toBeGreaterThanOrEqual(1);
  });

  it('16450 mode: an unread byte is overwritten and OE set (loopback)', () => {
    const { bus } = setup();
    open(bus, 0x00);
    bus.outb(RBR + 4, 0x10);
    bus.outb(RBR, 0x31);
    bus.outb(RBR, 0x32);
    expect(bus.inb(LSR) & 0x03).toBe(0x03);
    expect(bus.inb(RBR)).toBe(0x32);
  });

  it('interrupt priorities: line status > data > THRE > modem status', () => {
    const { ctx, bus, wire, uart } = setup();
    open(bus, 0x07);
    bus.outb(IER, 0x0f);
    uart.setModemLines({ cts: false });
    expect(bus.inb(IIR)).toBe(0xc2); // THRE beats modem status
    expect(bus.inb(IIR)).toBe(0xc0); // THRE reset by the read: modem status now
    expect(bus.inb(MSR) & 0x11).toBe(0x01); // DCTS, CTS low
    expect(bus.inb(IIR)).toBe(0xc1);
    wire.type('z');
    ctx.advance(CHAR_NS);
    bus.outb(IER, 0x0f); // THRE again
    uart.injectLineError(0x08);
    expect(bus.inb(IIR)).toBe(0xc6);
    bus.inb(LSR);
    expect(bus.inb(IIR)).toBe(0xc4);
    bus.inb(RBR);
    expect(bus.inb(IIR)).toBe(0xc2);
  });

  it('OUT2 gates the IRQ line as on a PC', () => {
    const { ctx, bus } = setup();
    bus.outb(IER, 0x02);
    expect(ctx.irqLevels[4]).toBe(false); // pending, but OUT2 = 0
    bus.outb(MCR, 0x08);
    expect(ctx.irqLevels[4]).toBe(true);
    bus.outb(MCR, 0x00);
    expect(ctx.irqLevels[4]).toBe(false);
  });

  it('loopback: transmit comes back on receive, modem outputs loop to inputs, IRQ pin inactive', () => {
    const { ctx, bus, wire } = setup();
    open(bus, 0x07);
    bus.outb(IER, 0x09);
    bus.inb(MSR);
    bus.outb(MCR, 0x10); // loop, all outputs off
    expect(bus.inb(MSR)).toBe(0x0b); // CTS, DSR, DCD fell (they were asserted from outside)
    bus.outb(MCR, 0x1f);
    expect(bus.inb(MSR)).toBe(0xfb);
    bus.outb(MCR, 0x1b); // OUT1 → RI falls: trailing edge
    expect(bus.inb(MSR) & 0x0f).toBe(0x04);
    bus.outb(THR, 0x55);
    expect(wire.sent).toEqual([]);
    expect(bus.inb(LSR) & 1).toBe(1);
    expect(bus.inb(IIR)).toBe(0xc4);
    expect(ctx.irqLevels[4]).toBe(false); // OUT2 pin forced inactive in loopback
    expect(bus.inb(RBR)).toBe(0x55);
    // Bytes arriving from outside wait until loopback ends.
    wire.type('q');
    ctx.advance(10 * CHAR_NS);
    expect(bus.inb(LSR) & 1).toBe(0);
    bus.outb(MCR, 0x0b);
    ctx.advance(CHAR_NS);
    expect(bus.inb(RBR)).toBe(0x71);
  });

  it('modem inputs: asserted with a backend, inactive without one; deltas and status interrupt', () => {
    const withBackend = setup();
    expect(withBackend.bus.inb(MSR)).toBe(0xb0);
    const none = setup(false);
    expect(none.bus.inb(MSR)).toBe(0x00);
    const { ctx, bus, uart } = withBackend;
    bus.outb(MCR, 0x08);
    bus.outb(IER, 0x08);
    uart.setModemLines({ ri: true });
    expect(ctx.irqLevels[4]).toBe(false); // RI rising edge is no event
    uart.setModemLines({ ri: false, dcd: false });
    expect(ctx.irqLevels[4]).toBe(true);
    expect(bus.inb(MSR)).toBe(0x3c);
    expect(ctx.irqLevels[4]).toBe(false);
  });

  it('FCR resets: receiver reset empties the FIFO; disabling FIFOs clears them', () => {
    const { ctx, bus, wire } = setup();
    open(bus, 0x07);
    wire.type('abc');
    ctx.advance(3 * CHAR_NS);
    bus.outb(FCR, 0x03);
    expect(bus.inb(LSR) & 1).toBe(0);
    wire.type('d');
    ctx.advance(CHAR_NS);
    bus.outb(FCR, 0x00);
    expect(bus.inb(LSR) & 1).toBe(0);
    expect(bus.inb(IIR) & 0xc0).toBe(0);
  });

  it('line speed follows the divisor and frame', () => {
    const { ctx, bus, wire } = setup();
    bus.outb(LCR, 0x80);
    bus.outb(COM1, 12); // 9600 baud
    bus.outb(LCR, 0x1b); // 8E1: 11 bits
    bus.outb(FCR, 0x07);
    wire.type('x');
    const t = Math.round((11 * 12 * 1e9) / 115200);
    ctx.advance(t - 1);
    expect(bus.inb(LSR) & 1).toBe(0);
    ctx.advance(1);
    expect(bus.inb(LSR) & 1).toBe(1);
  });

  it('snapshot with bytes on the wire restores and keeps delivering', () => {
    const { ctx, bus, wire, uart } = setup();
    open(bus, 0x07);
    wire.type('hello');
    ctx.advance(2 * CHAR_NS);
    const snap = JSON.parse(JSON.stringify(uart.snapshot()));
    const ctx2 = new TestContext();
    ctx2.clock = ctx.clock;
    const u2 = new Uart16550('com1', { iobase: COM1, irq: 4 }, ctx2, new LoopbackWire());
    u2.restore(snap);
    const bus2 = new TestBus(u2);
    ctx2.advance(3 * CHAR_NS);
    let got = '';
    while (bus2.inb(LSR) & 1) got += String.fromCharCode(bus2.inb(RBR));
    expect(got).toBe('hello');
  });

  it('names registers by direction, inspects the line settings', () => {
    const { bus, uart } = setup();
    open(bus);
    const r = uart.regions()[0].region;
    expect(r.registerName!(0, 'read')).toBe('RBR/DLL');
    expect(r.registerName!(0, 'write')).toBe('THR/DLL');
    expect(r.registerName!(1, 'write')).toBe('IER/DLM');
    expect(r.registerName!(2, 'read')).toBe('IIR');
    expect(r.registerName!(2, 'write')).toBe('FCR');
    expect(r.registerName!(5, 'read')).toBe('LSR');
    const ins = uart.inspect();
    expect(ins.extra!.line).toBe('115200 baud 8N1');
    expect(ins.registers.find((x) => x.name === 'LSR')!.bits!.find((b) => b.name === 'THRE')!.value).toBe(1);
  });

  it('passes the device contract', () => {
    checkDeviceContract(() => new Uart16550('com1', { iobase: COM1, irq: 4 }, new TestContext(), new LoopbackWire()));
    checkDeviceContract(() => new Uart16550('com2', { iobase: 0x2f8, irq: 3 }, new TestContext()));
  });
});
