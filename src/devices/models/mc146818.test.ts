import { describe, expect, it } from 'vitest';
import { UsageError } from '../../common/errors.js';
import { Cmos, Mc146818, UIP_LEAD_NS } from './mc146818.js';
import { TestBus } from './testing/bus.js';
import { checkDeviceContract } from './testing/contract.js';
import { TestContext } from './testing/TestContext.js';

const SEC = 1e9;

function setup(base = '2024-02-29T23:59:58Z') {
  const ctx = new TestContext();
  const rtc = new Mc146818('rtc', { base }, ctx);
  const bus = new TestBus(rtc);
  const rd = (i: number) => (bus.outb(0x70, i), bus.inb(0x71));
  const wr = (i: number, v: number) => (bus.outb(0x70, i), bus.outb(0x71, v));
  return { ctx, rtc, bus, rd, wr };
}

/** Reads the clock the way a BIOS or Linux's mc146818_get_time does, after checking UIP. */
function readTime(rd: (i: number) => number) {
  expect(rd(0x0a) & 0x80).toBe(0);
  return [rd(9), rd(8), rd(7), rd(4), rd(2), rd(0), rd(6), rd(0x32)];
}

describe('MC146818 RTC', () => {
  it('shows the base time in BCD, 24-hour mode, with century and weekday', () => {
    const { rd } = setup();
    // 2024-02-29 is a Thursday (5, with Sunday = 1).
    expect(readTime(rd)).toEqual([0x24, 0x02, 0x29, 0x23, 0x59, 0x58, 0x05, 0x20]);
    expect(rd(0x0a)).toBe(0x26);
    expect(rd(0x0b)).toBe(0x02);
    expect(rd(0x0d)).toBe(0x80);
  });

  it('advances with the virtual clock across a leap day and a month end', () => {
    const { ctx, rd } = setup();
    ctx.advance(2 * SEC);
    expect(readTime(rd)).toEqual([0x24, 0x03, 0x01, 0x00, 0x00, 0x00, 0x06, 0x20]);
    ctx.advance(86400 * SEC);
    expect(rd(7)).toBe(0x02);
  });

  it('binary and 12-hour formats follow register B', () => {
    const { rd, wr } = setup();
    wr(0x0b, 0x06); // binary, 24h
    expect(rd(0)).toBe(58);
    expect(rd(4)).toBe(23);
    wr(0x0b, 0x00); // BCD, 12h
    expect(rd(4)).toBe(0x80 | 0x11); // 11 PM
    wr(0x0b, 0x04); // binary, 12h
    expect(rd(4)).toBe(0x80 | 11);
  });

  it('UIP is set for the 244 µs before each update', () => {
    const { ctx, rd } = setup();
    ctx.advance(SEC - UIP_LEAD_NS - 1);
    expect(rd(0x0a) & 0x80).toBe(0);
    expect(rd(0)).toBe(0x58);
    ctx.advance(1);
    expect(rd(0x0a) & 0x80).toBe(0x80);
    expect(rd(0)).toBe(0x58);
    ctx.advance(UIP_LEAD_NS);
    expect(rd(0x0a) & 0x80).toBe(0);
    expect(rd(0)).toBe(0x59);
  });

  it('sets the time with SET: registers hold while set, counting resumes from them', () => {
    const { ctx, rd, wr } = setup();
    wr(0x0b, 0x82); // SET
    for (const [i, v] of [[0, 0x30], [2, 0x15], [4, 0x09], [7, 0x01], [8, 0x07], [9, 0x99], [0x32, 0x19]]) wr(i, v);
    ctx.advance(5 * SEC);
    expect(rd(0)).toBe(0x30); // frozen while SET
    expect(rd(0x0a) & 0x80).toBe(0); // no update in progress while SET
    wr(0x0b, 0x02);
    expect(readTime(rd).slice(0, 6)).toEqual([0x99, 0x07, 0x01, 0x09, 0x15, 0x30]);
    ctx.advance(SEC);
    expect(rd(0)).toBe(0x31);
    expect(rd(6)).toBe(0x05); // 1999-07-01 was a Thursday
  });

  it('writing one field of a running clock keeps the others', () => {
    const { ctx, rd, wr } = setup();
    ctx.advance(SEC / 2);
    wr(2, 0x10);
    expect([rd(4), rd(2), rd(0)]).toEqual([0x23, 0x10, 0x58]);
    ctx.advance(SEC / 2);
    expect(rd(0)).toBe(0x59); // the divider phase was kept
  });

  it('the first update after the divider leaves reset comes half a second later', () => {
    const { ctx, rd, wr } = setup();
    ctx.advance(SEC / 4);
    wr(0x0a, 0x70); // divider reset
    wr(0, 0x00);
    ctx.advance(3 * SEC);
    expect(rd(0)).toBe(0x00);
    wr(0x0a, 0x26);
    ctx.advance(SEC / 2 - 1);
    expect(rd(0)).toBe(0x00);
    ctx.advance(1);
    expect(rd(0)).toBe(0x01);
  });

  it('update-ended interrupt on IRQ 8; reading register C clears it', () => {
    const { ctx, rd, wr } = setup();
    rd(0x0c);
    wr(0x0b, 0x12); // UIE
    expect(ctx.irqLevels[8]).toBe(false);
    ctx.advance(SEC);
    expect(ctx.irqLevels[8]).toBe(true);
    // PF is set too: the default 1024 Hz rate runs whether or not PIE is set.
    expect(rd(0x0c)).toBe(0xd0);
    expect(ctx.irqLevels[8]).toBe(false);
    expect(rd(0x0c)).toBe(0x00);
    ctx.advance(SEC);
    expect(ctx.irqLevels[8]).toBe(true);
  });

  it('SET clears UIE', () => {
    const { rd, wr } = setup();
    wr(0x0b, 0x12);
    wr(0x0b, 0x92);
    expect(rd(0x0b)).toBe(0x82);
  });

  it('alarm interrupt when the time matches; 0xC0-0xFF is a wildcard', () => {
    const { ctx, rd, wr } = setup();
    wr(1, 0x01); wr(3, 0x00); wr(5, 0x00); // 00:00:01
    wr(0x0b, 0x22); // AIE
    rd(0x0c);
    ctx.advance(2 * SEC);
    expect(ctx.irqLevels[8]).toBe(false); // 00:00:00
    ctx.advance(SEC);
    expect(ctx.irqLevels[8]).toBe(true);
    expect(rd(0x0c) & ~0x40).toBe(0xb0); // IRQF | AF | UF (and PF)
    // Every minute at :30.
    wr(1, 0x30); wr(3, 0xff); wr(5, 0xff);
    ctx.advance(28 * SEC);
    expect(ctx.irqLevels[8]).toBe(false);
    ctx.advance(SEC);
    expect(ctx.irqLevels[8]).toBe(true);
    rd(0x0c);
    ctx.advance(59 * SEC);
    expect(ctx.irqLevels[8]).toBe(false);
    ctx.advance(SEC);
    expect(ctx.irqLevels[8]).toBe(true);
  });

  it('an alarm passed while nobody looked still sets AF', () => {
    const { ctx, rd, wr } = setup();
    wr(1, 0x05); wr(3, 0x00); wr(5, 0x00);
    rd(0x0c);
    ctx.advance(3600 * SEC);
    expect(rd(0x0c) & 0x30).toBe(0x30);
  });

  it('periodic interrupt at the rate register A selects; PF is set even without PIE', () => {
    const { ctx, rd, wr } = setup();
    rd(0x0c);
    ctx.advance(SEC / 100);
    expect(rd(0x0c)).toBe(0x40); // PF without PIE: no IRQF
    wr(0x0a, 0x26); // 1024 Hz
    wr(0x0b, 0x42); // PIE
    let interrupts = 0;
    const step = 10_000; // 10 µs
    for (let t = 0; t < SEC; t += step) {
      ctx.advance(step);
      if (ctx.irqLevels[8]) {
        expect(rd(0x0c) & 0xc0).toBe(0xc0);
        interrupts++;
      }
    }
    expect(interrupts).toBeGreaterThanOrEqual(1023);
    expect(interrupts).toBeLessThanOrEqual(1025);
    wr(0x0a, 0x2f); // 2 Hz
    rd(0x0c);
    const before = ctx.irqLog.length;
    ctx.advance(SEC);
    expect(ctx.irqLog.length - before).toBe(1); // raised once, never read
  });

  it('index port: bit 7 masks NMI, reads float; CMOS RAM holds bytes', () => {
    const { bus, rd, wr, rtc } = setup();
    bus.outb(0x70, 0x80 | 0x40);
    bus.outb(0x71, 0x5a);
    expect(bus.inb(0x70)).toBe(0xff);
    expect(rd(0x40)).toBe(0x5a);
    wr(0x7f, 0xa5);
    expect(rd(0x7f)).toBe(0xa5);
    bus.outb(0x70, 0x8f);
    expect(rtc.inspect().registers.find((r) => r.name === 'Index')!.bits![0].value).toBe(1);
    wr(0x0d, 0x00);
    expect(rd(0x0d)).toBe(0x80); // D is read only
  });

  it('the board fills memory-size bytes and the checksum follows', () => {
    const { rtc, rd } = setup();
    rtc.setMemorySize(512 * 1024 * 1024, 2 * 1024 * 1024 * 1024);
    expect([rd(0x15), rd(0x16)]).toEqual([0x80, 0x02]); // 640 KiB
    expect([rd(0x17), rd(0x18), rd(0x30), rd(0x31)]).toEqual([0xff, 0xff, 0xff, 0xff]);
    expect([rd(0x34), rd(0x35)]).toEqual([0x00, 0x1f]); // 496 MiB / 64 KiB = 0x1F00
    expect([rd(0x5b), rd(0x5c), rd(0x5d)]).toEqual([0x00, 0x80, 0x00]); // 2 GiB / 64 KiB
    rtc.setMemorySize(32 * 1024 * 1024);
    expect([rd(0x17), rd(0x18)]).toEqual([0x00, 0x7c]); // 31 MiB = 31744 KiB
    rtc.setCmos(Cmos.FLOPPY_TYPES, 0x40);
    rtc.setCmos(Cmos.EQUIPMENT, 0x41);
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += rd(i);
    expect((rd(0x2e) << 8) | rd(0x2f)).toBe(sum);
    expect(rtc.inspect().extra!.checksumOk).toBe(true);
    rtc.setCmos(Cmos.CENTURY, 0x21);
    expect(rd(0x32)).toBe(0x21);
    expect(rtc.time.startsWith('2124-02-29')).toBe(true);
  });

  it('reset clears enables and flags but not the time or RAM', () => {
    const { ctx, rtc, rd, wr } = setup();
    wr(0x0b, 0x72);
    wr(0x50, 0x77);
    ctx.advance(SEC);
    expect(ctx.irqLevels[8]).toBe(true);
    rtc.reset();
    expect(ctx.irqLevels[8]).toBe(false);
    expect(rd(0x0b)).toBe(0x02);
    expect(rd(0x0c)).toBe(0x00);
    expect(rd(0x50)).toBe(0x77);
    expect(rd(0)).toBe(0x59);
  });

  it('takes its base from utc, localtime or an ISO date and rejects nonsense', () => {
    const now = new Date();
    const { rtc } = setup('utc');
    expect(Math.abs(Date.parse(rtc.time) - now.getTime())).toBeLessThan(5000);
    expect(() => setup('yesterday-ish')).toThrow(UsageError);
    const local = setup('localtime').rtc;
    const offsetMs = -now.getTimezoneOffset() * 60000;
    expect(Math.abs(Date.parse(local.time) - now.getTime() - offsetMs)).toBeLessThan(5000);
  });

  it('snapshot keeps time, phase and flags', () => {
    const { ctx, rtc, rd, wr } = setup();
    wr(0x0b, 0x12);
    ctx.advance(1.5 * SEC);
    const snap = JSON.parse(JSON.stringify(rtc.snapshot()));
    const ctx2 = new TestContext();
    ctx2.clock = ctx.clock;
    const r2 = new Mc146818('rtc', { base: '1990-01-01T00:00:00Z' }, ctx2);
    r2.restore(snap);
    expect(ctx2.irqLevels[8]).toBe(true);
    const bus2 = new TestBus(r2);
    bus2.outb(0x70, 0);
    expect(bus2.inb(0x71)).toBe(rd(0));
    bus2.outb(0x70, 0x0c);
    expect(bus2.inb(0x71)).toBe(0xd0);
    ctx2.advance(SEC / 2);
    expect(ctx2.irqLevels[8]).toBe(true);
  });

  it('passes the device contract', () => {
    checkDeviceContract(() => new Mc146818('rtc', { base: '2024-01-01T00:00:00Z' }, new TestContext()), {
      unusedOffsets: [{ region: 0, offset: 0 }],
    });
  });
});
