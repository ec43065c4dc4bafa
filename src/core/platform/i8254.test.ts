import { describe, expect, it } from 'vitest';
import { TestBus } from '../../devices/models/testing/bus.js';
import { checkDeviceContract } from '../../devices/models/testing/contract.js';
import { TestContext } from '../../devices/models/testing/TestContext.js';
import { I8254, PIT_HZ, pitNs, pitTicks } from './i8254.js';
import { Port61 } from './port61.js';

function setup() {
  const ctx = new TestContext();
  const pit = new I8254('pit', {}, ctx);
  const p61 = new Port61('port61', {}, ctx, pit);
  const bus = new TestBus(pit, p61);
  ctx.irqLog.length = 0; // forget the level set at power-on
  return { ctx, pit, p61, bus };
}

/** Rising edges of IRQ 0 in the log, by time they were seen. */
function risingEdges(ctx: TestContext): number {
  return ctx.irqLog.filter(([n, l]) => n === 0 && l).length;
}

function readCounter(bus: TestBus, ch: number): number {
  bus.outb(0x43, ch << 6); // counter latch command
  const lo = bus.inb(0x40 + ch);
  return lo | (bus.inb(0x40 + ch) << 8);
}

/** Advances to just after `ticks` PIT clocks from the time origin. */
function advanceTo(ctx: TestContext, ticks: number) {
  ctx.advance(pitNs(ticks) - ctx.clock);
}

describe('i8254 PIT', () => {
  it('converts time and clocks exactly, even after days', () => {
    expect(pitTicks(1e9)).toBe(PIT_HZ);
    expect(pitTicks(pitNs(12345))).toBe(12345);
    expect(pitTicks(pitNs(12345) - 1)).toBe(12344);
    const day = 86400e9;
    expect(pitTicks(day)).toBe(86400 * PIT_HZ);
    expect(pitTicks(pitNs(86400 * PIT_HZ + 7))).toBe(86400 * PIT_HZ + 7);
  });

  it('mode 2 rate generator raises IRQ 0 once per period (the BIOS 18.2 Hz tick)', () => {
    const { ctx, bus } = setup();
    expect(ctx.irqLevels[0]).toBe(true); // unprogrammed: OUT high
    bus.outb(0x43, 0x34); // counter 0, LSB then MSB, mode 2, binary
    bus.outb(0x40, 0x00);
    bus.outb(0x40, 0x00); // 0 = 65536
    expect(ctx.irqLog).toEqual([]);
    ctx.advance(1e9);
    const hz = PIT_HZ / 65536;
    expect(risingEdges(ctx)).toBe(Math.floor(hz));
    // OUT goes low for exactly one clock at the end of each period.
    expect(ctx.irqLog[0]).toEqual([0, false]);
    expect(ctx.irqLog[1]).toEqual([0, true]);
  });

  it('mode 2: a timer that fires after the one-clock low pulse still gives IRQ 0 its rising edge', () => {
    // A host timer is microseconds late; the pulse lasts 838 ns. Every period must still count.
    const { ctx, bus } = setup();
    bus.outb(0x43, 0x34);
    bus.outb(0x40, 0x00);
    bus.outb(0x40, 0x00);
    for (let period = 1; period <= 5; period++) {
      const [timer] = [...ctx.timers];
      ctx.clock = timer.deadline + 50_000; // 50 us late: OUT0 is high again
      timer.cancel();
      timer.cb();
      expect(risingEdges(ctx), `period ${period}`).toBe(period);
      expect(ctx.irqLevels[0]).toBe(true);
    }
  });

  it('mode 2 timing: low pulse on the Nth clock after load, rising edge one clock later', () => {
    const { ctx, bus } = setup();
    bus.outb(0x43, 0x34);
    bus.outb(0x40, 100);
    bus.outb(0x40, 0);
    advanceTo(ctx, 99);
    expect(ctx.irqLevels[0]).toBe(true);
    expect(readCounter(bus, 0)).toBe(2);
    advanceTo(ctx, 100);
    expect(ctx.irqLevels[0]).toBe(false);
    expect(readCounter(bus, 0)).toBe(1);
    advanceTo(ctx, 101);
    expect(ctx.irqLevels[0]).toBe(true);
    expect(readCounter(bus, 0)).toBe(100);
    advanceTo(ctx, 200);
    expect(ctx.irqLevels[0]).toBe(false);
  });

  it('mode 0 interrupt on terminal count: OUT low, high N+1 clocks after the write', () => {
    const { ctx, bus } = setup();
    bus.outb(0x43, 0x30);
    expect(ctx.irqLevels[0]).toBe(false); // control word sets OUT low
    bus.outb(0x40, 0x10);
    bus.outb(0x40, 0x00);
    advanceTo(ctx, 16);
    expect(ctx.irqLevels[0]).toBe(false);
    expect(readCounter(bus, 0)).toBe(1);
    advanceTo(ctx, 17);
    expect(ctx.irqLevels[0]).toBe(true);
    expect(readCounter(bus, 0)).toBe(0);
    advanceTo(ctx, 20);
    expect(readCounter(bus, 0)).toBe(0xfffd); // keeps counting, wrapping
    expect(ctx.irqLevels[0]).toBe(true);
    // Linux's one-shot: a new count sets OUT low again.
    bus.outb(0x40, 0x05);
    expect(ctx.irqLevels[0]).toBe(false); // first byte stops the count
    bus.outb(0x40, 0x00);
    ctx.advance(pitNs(6));
    expect(ctx.irqLevels[0]).toBe(true);
  });

  it('mode 3 square wave: high for half the period, low for the other half', () => {
    const { ctx, bus } = setup();
    bus.outb(0x43, 0x36);
    bus.outb(0x40, 10);
    bus.outb(0x40, 0);
    advanceTo(ctx, 5);
    expect(ctx.irqLevels[0]).toBe(true);
    expect(readCounter(bus, 0)).toBe(2);
    advanceTo(ctx, 6);
    expect(ctx.irqLevels[0]).toBe(false);
    expect(readCounter(bus, 0)).toBe(10);
    advanceTo(ctx, 11);
    expect(ctx.irqLevels[0]).toBe(true);
    ctx.advance(pitNs(1000));
    expect(risingEdges(ctx)).toBe(1 + 100);
  });

  it('mode 3 with an odd count: high one clock longer than low', () => {
    const { ctx, bus } = setup();
    bus.outb(0x43, 0x36);
    bus.outb(0x40, 5);
    bus.outb(0x40, 0);
    advanceTo(ctx, 3);
    expect(ctx.irqLevels[0]).toBe(true);
    advanceTo(ctx, 4);
    expect(ctx.irqLevels[0]).toBe(false);
    advanceTo(ctx, 5);
    expect(ctx.irqLevels[0]).toBe(false);
    advanceTo(ctx, 6);
    expect(ctx.irqLevels[0]).toBe(true);
  });

  it('mode 2: a new count takes effect at the end of the current period', () => {
    const { ctx, bus } = setup();
    bus.outb(0x43, 0x34);
    bus.outb(0x40, 100);
    bus.outb(0x40, 0);
    advanceTo(ctx, 30);
    bus.outb(0x40, 50);
    bus.outb(0x40, 0);
    expect(readCounter(bus, 0)).toBe(71); // the old period runs on
    advanceTo(ctx, 101);
    expect(ctx.irqLevels[0]).toBe(true);
    expect(risingEdges(ctx)).toBe(1);
    expect(readCounter(bus, 0)).toBe(50);
    advanceTo(ctx, 150);
    expect(ctx.irqLevels[0]).toBe(false); // new period of 50 from clock 101
    advanceTo(ctx, 151);
    expect(risingEdges(ctx)).toBe(2);
  });

  it('mode 3: a new count takes effect at the end of the current half-cycle', () => {
    const { ctx, bus } = setup();
    bus.outb(0x43, 0x36);
    bus.outb(0x40, 100);
    bus.outb(0x40, 0);
    advanceTo(ctx, 20);
    bus.outb(0x40, 20);
    bus.outb(0x40, 0);
    advanceTo(ctx, 50);
    expect(ctx.irqLevels[0]).toBe(true); // old high half lasts 50 clocks
    advanceTo(ctx, 51);
    expect(ctx.irqLevels[0]).toBe(false); // then the new count's low half: 10 clocks
    advanceTo(ctx, 60);
    expect(ctx.irqLevels[0]).toBe(false);
    advanceTo(ctx, 61);
    expect(ctx.irqLevels[0]).toBe(true);
    advanceTo(ctx, 71);
    expect(ctx.irqLevels[0]).toBe(false);
  });

  it('counter latch holds the value until read; a second latch is ignored', () => {
    const { ctx, bus } = setup();
    bus.outb(0x43, 0x34);
    bus.outb(0x40, 0x00);
    bus.outb(0x40, 0x10); // 0x1000
    advanceTo(ctx, 0x101);
    bus.outb(0x43, 0x00);
    advanceTo(ctx, 0x200);
    bus.outb(0x43, 0x00);
    expect(bus.inb(0x40)).toBe(0x00);
    expect(bus.inb(0x40)).toBe(0x0f); // 0x1000 - 0x100
    // Unlatched reads follow the counter, LSB then MSB.
    const lo = bus.inb(0x40);
    const hi = bus.inb(0x40);
    expect((hi << 8) | lo).toBe(0x1000 - 0x1ff);
  });

  it('read-back command latches status then count; status shows OUT, NULL COUNT, mode', () => {
    const { ctx, bus } = setup();
    bus.outb(0x43, 0xb4); // counter 2, word, mode 2, binary
    bus.outb(0x43, 0xe8); // read-back status (COUNT# = 1, STATUS# = 0) of counter 2
    expect(bus.inb(0x42)).toBe(0x80 | 0x40 | 0x34);
    bus.outb(0x61, 0x01); // GATE2 high
    bus.outb(0x42, 0x34);
    bus.outb(0x42, 0x12);
    ctx.advance(pitNs(1));
    bus.outb(0x43, 0xc8); // read-back count and status of counter 2
    expect(bus.inb(0x42)).toBe(0x80 | 0x34); // count loaded: NULL COUNT clear
    expect(bus.inb(0x42)).toBe(0x34);
    expect(bus.inb(0x42)).toBe(0x12);
  });

  it('BCD counting reads back decimal digits', () => {
    const { ctx, bus } = setup();
    bus.outb(0x43, 0x31); // mode 0, BCD
    bus.outb(0x40, 0x00);
    bus.outb(0x40, 0x10); // 1000 decimal
    advanceTo(ctx, 1 + 1);
    expect(readCounter(bus, 0)).toBe(0x0999);
    advanceTo(ctx, 1 + 1000);
    expect(readCounter(bus, 0)).toBe(0x0000);
    expect(ctx.irqLevels[0]).toBe(true);
    advanceTo(ctx, 1 + 1001);
    expect(readCounter(bus, 0)).toBe(0x9999);
  });

  it('LSB-only and MSB-only access modes', () => {
    const { ctx, bus } = setup();
    bus.outb(0x43, 0x10 | 0x04); // counter 0, LSB only, mode 2
    bus.outb(0x40, 50);
    advanceTo(ctx, 11);
    expect(bus.inb(0x40)).toBe(40);
    expect(bus.inb(0x40)).toBe(40);
    bus.outb(0x43, 0x20 | 0x04); // MSB only
    bus.outb(0x40, 0x02); // 0x200
    advanceTo(ctx, 11 + 1 + 0x100);
    expect(bus.inb(0x40)).toBe(0x01);
  });

  it('counter 2 is gated by port 0x61 bit 0 and its OUT reads at bit 5 (Linux TSC calibration)', () => {
    const { ctx, bus } = setup();
    bus.outb(0x61, (bus.inb(0x61) & ~0x02) | 0x01); // gate on, speaker off
    bus.outb(0x43, 0xb0); // counter 2, mode 0, binary
    bus.outb(0x42, 0xff);
    bus.outb(0x42, 0xff);
    expect(bus.inb(0x61) & 0x20).toBe(0);
    advanceTo(ctx, 0xffff);
    expect(bus.inb(0x61) & 0x20).toBe(0);
    advanceTo(ctx, 0x10000);
    expect(bus.inb(0x61) & 0x20).toBe(0x20);
  });

  it('GATE low suspends mode 0 counting and resumes it', () => {
    const { ctx, bus } = setup();
    bus.outb(0x43, 0xb0);
    bus.outb(0x42, 100);
    bus.outb(0x42, 0);
    advanceTo(ctx, 50);
    expect(readCounter(bus, 2)).toBe(100); // gate low: loaded but not counting
    bus.outb(0x61, 0x01);
    advanceTo(ctx, 60);
    expect(readCounter(bus, 2)).toBe(90);
    bus.outb(0x61, 0x00);
    advanceTo(ctx, 500);
    expect(readCounter(bus, 2)).toBe(90);
    bus.outb(0x61, 0x01);
    // 90 more clocks to terminal count (the load pulse happened while the gate was low).
    advanceTo(ctx, 589);
    expect(bus.inb(0x61) & 0x20).toBe(0);
    advanceTo(ctx, 590);
    expect(bus.inb(0x61) & 0x20).toBe(0x20);
  });

  it('mode 1 one-shot is triggered by the GATE rising edge and retriggers', () => {
    const { ctx, bus } = setup();
    bus.outb(0x43, 0xb2); // counter 2, mode 1
    bus.outb(0x42, 10);
    bus.outb(0x42, 0);
    expect(bus.inb(0x61) & 0x20).toBe(0x20);
    advanceTo(ctx, 100);
    expect(bus.inb(0x61) & 0x20).toBe(0x20); // no trigger yet
    bus.outb(0x61, 0x01);
    advanceTo(ctx, 101);
    expect(bus.inb(0x61) & 0x20).toBe(0); // low from the first clock after the trigger
    advanceTo(ctx, 105);
    bus.outb(0x61, 0x00);
    bus.outb(0x61, 0x01); // retrigger
    advanceTo(ctx, 115);
    expect(bus.inb(0x61) & 0x20).toBe(0);
    advanceTo(ctx, 116);
    expect(bus.inb(0x61) & 0x20).toBe(0x20);
  });

  it('mode 4 software strobe: one low clock N+1 clocks after the write', () => {
    const { ctx, bus } = setup();
    bus.outb(0x43, 0x38);
    bus.outb(0x40, 8);
    bus.outb(0x40, 0);
    advanceTo(ctx, 8);
    expect(ctx.irqLevels[0]).toBe(true);
    advanceTo(ctx, 9);
    expect(ctx.irqLevels[0]).toBe(false);
    advanceTo(ctx, 10);
    expect(ctx.irqLevels[0]).toBe(true);
    ctx.advance(pitNs(200000));
    expect(ctx.irqLog.length).toBe(2); // no second strobe
  });

  it('mode 5 hardware strobe on counter 2, triggered by GATE', () => {
    const { ctx, bus } = setup();
    bus.outb(0x43, 0xba);
    bus.outb(0x42, 4);
    bus.outb(0x42, 0);
    advanceTo(ctx, 50);
    bus.outb(0x61, 0x01);
    advanceTo(ctx, 54);
    expect(bus.inb(0x61) & 0x20).toBe(0x20);
    advanceTo(ctx, 55);
    expect(bus.inb(0x61) & 0x20).toBe(0);
    advanceTo(ctx, 56);
    expect(bus.inb(0x61) & 0x20).toBe(0x20);
  });

  it('port 0x61 keeps bits 0-3, toggles the refresh bit every 18 PIT clocks', () => {
    const { ctx, bus } = setup();
    bus.outb(0x61, 0xff);
    expect(bus.inb(0x61) & 0xcf).toBe(0x0f);
    const seen = new Set<number>();
    for (let i = 0; i < 8; i++) {
      seen.add(bus.inb(0x61) & 0x10);
      ctx.advance(pitNs(18) / 2);
    }
    expect([...seen].sort()).toEqual([0, 0x10]);
    advanceTo(ctx, 36 * 100);
    const a = bus.inb(0x61) & 0x10;
    advanceTo(ctx, 36 * 100 + 18);
    expect(bus.inb(0x61) & 0x10).toBe(a ^ 0x10);
  });

  it('snapshot mid-count restores the same IRQ 0 timeline', () => {
    const { ctx, bus, pit } = setup();
    bus.outb(0x43, 0x34);
    bus.outb(0x40, 0xe8);
    bus.outb(0x40, 0x03); // 1000
    advanceTo(ctx, 2500);
    const snap = JSON.parse(JSON.stringify(pit.snapshot()));
    const ctx2 = new TestContext();
    ctx2.clock = ctx.clock;
    const pit2 = new I8254('pit', {}, ctx2);
    pit2.restore(snap);
    ctx.irqLog.length = 0;
    ctx2.irqLog.length = 0;
    ctx.advance(pitNs(10000));
    ctx2.advance(pitNs(10000));
    expect(ctx2.irqLog).toEqual(ctx.irqLog);
    expect(risingEdges(ctx2)).toBe(10);
    expect(readCounter(new TestBus(pit2), 0)).toBe(readCounter(bus, 0));
  });

  it('reading the control port floats; inspect names the counters', () => {
    const { bus, pit } = setup();
    expect(bus.inb(0x43)).toBe(0xff);
    bus.outb(0x43, 0x34);
    const ins = pit.inspect();
    expect(ins.registers.map((r) => r.name)).toContain('counter 0 control word');
    const cw = ins.registers.find((r) => r.name === 'counter 0 control word')!;
    expect(cw.bits!.find((b) => b.name === 'M')!.meaning).toBe('mode 2: rate generator');
  });

  it('passes the device contract (PIT and port 0x61)', () => {
    checkDeviceContract(() => new I8254('pit', {}, new TestContext()));
    checkDeviceContract(() => {
      const ctx = new TestContext();
      return new Port61('port61', {}, ctx, new I8254('pit', {}, ctx));
    });
  });
});
