import { describe, expect, it } from 'vitest';
import { TestContext } from '../../devices/models/testing/TestContext.js';
import { TestBus } from '../../devices/models/testing/bus.js';
import { checkDeviceContract } from '../../devices/models/testing/contract.js';
import { DeliveryMode, Lapic, Shorthand, type Ipi } from './lapic.js';

const BASE = 0xfee00000;

function make(id = 0, bsp = true) {
  const ctx = new TestContext();
  const ipis: Ipi[] = [];
  let kicks = 0;
  const apic = new Lapic(`lapic${id}`, { apicId: id, bsp }, ctx, {
    sendIpi: (_from, ipi) => ipis.push(ipi),
    kick: () => kicks++,
  });
  const bus = new TestBus(apic);
  return { ctx, apic, bus, ipis, kicks: () => kicks };
}

describe('local APIC', () => {
  it('reads its ID and version, and is off until the SVR enables it', () => {
    const { apic, bus } = make(3);
    expect(bus.readl(BASE + 0x20)).toBe(0x03000000);
    expect(bus.readl(BASE + 0x30) & 0xff).toBe(0x14);
    expect(apic.enabled).toBe(false);
    expect(apic.passesExtInt).toBe(true);
    bus.writel(BASE + 0xf0, 0x1ff);
    expect(apic.enabled).toBe(true);
    // LINT0 masked after reset: the 8259 is cut off until it is programmed ExtINT.
    expect(apic.passesExtInt).toBe(false);
    bus.writel(BASE + 0x350, 0x700);
    expect(apic.passesExtInt).toBe(true);
  });

  it('accepts, prioritises by class against TPR and ISR, and retires on EOI', () => {
    const { apic, bus } = make();
    bus.writel(BASE + 0xf0, 0x1ff);
    apic.accept(0x31);
    apic.accept(0x52);
    expect(bus.readl(BASE + 0x200 + 0x10)).toBe(1 << 0x11);
    expect(apic.pending()).toBe(0x52);
    expect(apic.acknowledge()).toBe(0x52);
    // 0x31 is in a lower class than the in-service 0x52: it waits.
    expect(apic.pending()).toBe(-1);
    expect(bus.readl(BASE + 0xa0)).toBe(0x50);
    bus.writel(BASE + 0xb0, 0);
    expect(apic.pending()).toBe(0x31);
    bus.writel(BASE + 0x80, 0x40);
    expect(apic.pending()).toBe(-1);
    bus.writel(BASE + 0x80, 0x20);
    expect(apic.acknowledge()).toBe(0x31);
  });

  it('sends IPIs as the ICR says', () => {
    const { bus, ipis } = make();
    bus.writel(BASE + 0x310, 0x01000000);
    bus.writel(BASE + 0x300, 0x000c4500); // INIT, assert, all excluding self
    bus.writel(BASE + 0x300, 0x00004608); // STARTUP vector 08 to APIC 1
    bus.writel(BASE + 0x300, 0x00000041); // fixed 41h to APIC 1
    expect(ipis.map((i) => [i.mode, i.vector, i.shorthand, i.dest])).toEqual([
      [DeliveryMode.INIT, 0, Shorthand.OTHERS, 1],
      [DeliveryMode.STARTUP, 8, Shorthand.NONE, 1],
      [DeliveryMode.FIXED, 0x41, Shorthand.NONE, 1],
    ]);
    expect(bus.readl(BASE + 0x300) & (1 << 12)).toBe(0);
  });

  it('runs a periodic timer on the clock and delivers its vector', () => {
    const { apic, bus, ctx } = make();
    bus.writel(BASE + 0xf0, 0x1ff);
    bus.writel(BASE + 0x3e0, 0xb); // divide by 1
    bus.writel(BASE + 0x320, 0x20000 | 0xec); // periodic, vector ECh
    bus.writel(BASE + 0x380, 1000); // 1000 ns
    ctx.advance(400);
    expect(bus.readl(BASE + 0x390)).toBe(600);
    ctx.advance(700);
    expect(apic.pending()).toBe(0xec);
    apic.acknowledge();
    bus.writel(BASE + 0xb0, 0);
    ctx.advance(1000);
    expect(apic.pending()).toBe(0xec);
  });

  it('masks every LVT when software-disabled', () => {
    const { bus } = make();
    bus.writel(BASE + 0xf0, 0x1ff);
    bus.writel(BASE + 0x320, 0xec);
    bus.writel(BASE + 0xf0, 0x0ff);
    expect(bus.readl(BASE + 0x320) & 0x10000).toBe(0x10000);
  });

  it('passes the device contract', () => {
    checkDeviceContract(() => make().apic);
  });
});
