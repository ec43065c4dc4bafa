import { describe, expect, it } from 'vitest';
import { TestBus } from '../../devices/models/testing/bus.js';
import { checkDeviceContract } from '../../devices/models/testing/contract.js';
import { TestContext } from '../../devices/models/testing/TestContext.js';
import { I8259Pair } from './i8259.js';

/** The pair as a PC BIOS programs it: master at 0x08, slave at 0x70, cascade on IR2. */
function setup(opts: { aeoi?: boolean; sfnm?: boolean; ltim?: boolean } = {}) {
  const pic = new I8259Pair('pic', {}, new TestContext());
  const bus = new TestBus(pic);
  const icw1 = 0x11 | (opts.ltim ? 0x08 : 0);
  const icw4 = 0x01 | (opts.aeoi ? 0x02 : 0) | (opts.sfnm ? 0x10 : 0);
  bus.outb(0x20, icw1); bus.outb(0x21, 0x08); bus.outb(0x21, 0x04); bus.outb(0x21, icw4);
  bus.outb(0xa0, icw1); bus.outb(0xa1, 0x70); bus.outb(0xa1, 0x02); bus.outb(0xa1, 0x01 | (opts.aeoi ? 0x02 : 0));
  bus.outb(0x21, 0x00); bus.outb(0xa1, 0x00);
  const intrLog: boolean[] = [];
  pic.onIntrChange = (l) => intrLog.push(l);
  return { pic, bus, intrLog };
}

const readIrr = (bus: TestBus, port: number) => (bus.outb(port, 0x0a), bus.inb(port));
const readIsr = (bus: TestBus, port: number) => (bus.outb(port, 0x0b), bus.inb(port));

describe('i8259 pair', () => {
  it('delivers an edge-triggered IRQ with its vector and keeps it in service until EOI', () => {
    const { pic, bus, intrLog } = setup();
    expect(pic.intr).toBe(false);
    pic.setIrq(1, true);
    expect(pic.intr).toBe(true);
    expect(intrLog).toEqual([true]);
    expect(readIrr(bus, 0x20)).toBe(0x02);
    expect(pic.acknowledge()).toBe(0x09);
    expect(pic.intr).toBe(false);
    expect(readIsr(bus, 0x20)).toBe(0x02);
    expect(readIrr(bus, 0x20)).toBe(0x00);
    // Line still high: edge mode does not request again.
    bus.outb(0x20, 0x20); // non-specific EOI
    expect(readIsr(bus, 0x20)).toBe(0);
    expect(pic.intr).toBe(false);
    pic.setIrq(1, false);
    pic.setIrq(1, true);
    expect(pic.acknowledge()).toBe(0x09);
  });

  it('routes slave interrupts through IR2 and answers the slave vector', () => {
    const { pic, bus } = setup();
    pic.setIrq(14, true);
    expect(readIrr(bus, 0xa0)).toBe(0x40);
    expect(readIrr(bus, 0x20)).toBe(0x04);
    expect(pic.intr).toBe(true);
    expect(pic.acknowledge()).toBe(0x76);
    expect(readIsr(bus, 0x20)).toBe(0x04);
    expect(readIsr(bus, 0xa0)).toBe(0x40);
    bus.outb(0xa0, 0x20);
    bus.outb(0x20, 0x20);
    expect(readIsr(bus, 0x20)).toBe(0);
    expect(readIsr(bus, 0xa0)).toBe(0);
  });

  it('IRQ2 on the ISA bus is IRQ9', () => {
    const { pic } = setup();
    pic.setIrq(2, true);
    expect(pic.acknowledge()).toBe(0x71);
  });

  it('resolves priorities: a higher-priority request nests, a lower one waits for EOI', () => {
    const { pic, bus } = setup();
    pic.setIrq(4, true);
    expect(pic.acknowledge()).toBe(0x0c);
    pic.setIrq(6, true);
    expect(pic.intr).toBe(false); // lower than IRQ4 in service
    pic.setIrq(0, true);
    expect(pic.intr).toBe(true); // higher: nests
    expect(pic.acknowledge()).toBe(0x08);
    expect(readIsr(bus, 0x20)).toBe(0x11);
    bus.outb(0x20, 0x20); // ends IRQ0 (the highest in service)
    expect(readIsr(bus, 0x20)).toBe(0x10);
    expect(pic.intr).toBe(false);
    bus.outb(0x20, 0x64); // specific EOI for IR4
    expect(pic.intr).toBe(true);
    expect(pic.acknowledge()).toBe(0x0e);
  });

  it('masks with OCW1 and reads the mask back', () => {
    const { pic, bus } = setup();
    bus.outb(0x21, 0xfd);
    expect(bus.inb(0x21)).toBe(0xfd);
    pic.setIrq(1, true);
    expect(pic.intr).toBe(true);
    pic.setIrq(3, true);
    bus.outb(0x21, 0xff);
    expect(pic.intr).toBe(false);
    expect(readIrr(bus, 0x20)).toBe(0x0a); // requests stay in IRR while masked
    bus.outb(0x21, 0xf7);
    expect(pic.acknowledge()).toBe(0x0b);
  });

  it('answers a spurious IRQ 7 when a request goes away before INTA', () => {
    const { pic, bus, intrLog } = setup();
    pic.setIrq(5, true);
    expect(pic.intr).toBe(true);
    pic.setIrq(5, false);
    expect(intrLog).toEqual([true, false]);
    expect(pic.acknowledge()).toBe(0x0f);
    expect(readIsr(bus, 0x20)).toBe(0); // no ISR bit for a spurious interrupt
    expect(pic.inspect().counters!.spuriousIrq7).toBe(1);
  });

  it('a slave request withdrawn before INTA withdraws master IR2 too', () => {
    const { pic, bus } = setup();
    // The slave's INT output falls with its request, so the master's IR2 request goes too.
    pic.setIrq(12, true);
    expect(pic.intr).toBe(true);
    bus.outb(0xa1, 0x10); // the slave masks IRQ12: its INT drops, master IR2 withdraws
    expect(pic.intr).toBe(false);
    expect(pic.acknowledge()).toBe(0x0f);
    bus.outb(0xa1, 0x00);
    expect(pic.intr).toBe(true);
    // Unmasked again: a fresh edge on IR2 and the slave's vector.
    expect(pic.acknowledge()).toBe(0x74);
    expect(pic.inspect().counters!.spuriousIrq15).toBe(0);
  });

  it('level-triggered inputs via ELCR re-request after EOI while the line is high', () => {
    const { pic, bus } = setup();
    bus.outb(0x4d1, 0x02); // IRQ9 level triggered
    expect(bus.inb(0x4d1)).toBe(0x02);
    bus.outb(0x4d0, 0xff);
    expect(bus.inb(0x4d0)).toBe(0xf8); // IRQ0-2 cannot be level triggered
    bus.outb(0x4d0, 0x00);
    pic.setIrq(9, true);
    expect(pic.acknowledge()).toBe(0x71);
    bus.outb(0xa0, 0x20);
    bus.outb(0x20, 0x20);
    expect(pic.intr).toBe(true); // still high: requests again
    expect(pic.acknowledge()).toBe(0x71);
    pic.setIrq(9, false);
    bus.outb(0xa0, 0x20);
    bus.outb(0x20, 0x20);
    expect(pic.intr).toBe(false);
  });

  it('ICW1 LTIM makes every input level triggered', () => {
    const { pic, bus } = setup({ ltim: true });
    pic.setIrq(3, true);
    expect(pic.acknowledge()).toBe(0x0b);
    bus.outb(0x20, 0x20);
    expect(pic.acknowledge()).toBe(0x0b);
  });

  it('AEOI leaves the ISR clear and rotate-in-AEOI moves priority', () => {
    const { pic, bus } = setup({ aeoi: true });
    pic.setIrq(1, true);
    expect(pic.acknowledge()).toBe(0x09);
    expect(readIsr(bus, 0x20)).toBe(0);
    bus.outb(0x20, 0x80); // rotate in AEOI mode (set)
    pic.setIrq(3, true);
    expect(pic.acknowledge()).toBe(0x0b); // IR3 now lowest priority
    pic.setIrq(0, true);
    pic.setIrq(4, true);
    expect(pic.acknowledge()).toBe(0x0c); // IR4 is the highest now
    expect(pic.acknowledge()).toBe(0x08);
  });

  it('rotate on non-specific EOI and set-priority change the priority order', () => {
    const { pic, bus } = setup();
    pic.setIrq(0, true);
    expect(pic.acknowledge()).toBe(0x08);
    bus.outb(0x20, 0xa0); // rotate on non-specific EOI: IR0 becomes lowest
    pic.setIrq(0, false); pic.setIrq(0, true);
    pic.setIrq(7, true);
    expect(pic.acknowledge()).toBe(0x0f); // IR7 beats IR0 now (not spurious: ISR set)
    expect(readIsr(bus, 0x20)).toBe(0x80);
    bus.outb(0x20, 0xe7); // rotate on specific EOI for IR7: IR7 lowest
    bus.outb(0x20, 0xc3); // set priority: IR3 lowest → IR4 highest
    pic.setIrq(5, true);
    expect(pic.acknowledge()).toBe(0x0d);
    expect(pic.inspect().extra!.master).toMatchObject({ priority: '4 > 5 > 6 > 7 > 0 > 1 > 2 > 3' });
  });

  it('special mask mode lets lower priorities in while a level is masked', () => {
    const { pic, bus } = setup();
    pic.setIrq(3, true);
    expect(pic.acknowledge()).toBe(0x0b);
    pic.setIrq(5, true);
    expect(pic.intr).toBe(false);
    bus.outb(0x21, 0x08); // the handler masks its own level
    bus.outb(0x20, 0x68); // OCW3: set special mask mode
    expect(pic.intr).toBe(true);
    expect(pic.acknowledge()).toBe(0x0d);
    bus.outb(0x20, 0x65); // specific EOI IR5
    bus.outb(0x20, 0x48); // reset special mask
    bus.outb(0x21, 0x00);
    bus.outb(0x20, 0x63);
    expect(readIsr(bus, 0x20)).toBe(0);
  });

  it('special fully nested mode lets a higher slave request through master IR2 in service', () => {
    const { pic, bus } = setup({ sfnm: true });
    pic.setIrq(12, true);
    expect(pic.acknowledge()).toBe(0x74);
    pic.setIrq(9, true);
    expect(pic.intr).toBe(true);
    expect(pic.acknowledge()).toBe(0x71);
    expect(readIsr(bus, 0xa0)).toBe(0x12);
  });

  it('without SFNM a slave request waits while master IR2 is in service', () => {
    const { pic } = setup();
    pic.setIrq(12, true);
    expect(pic.acknowledge()).toBe(0x74);
    pic.setIrq(9, true);
    expect(pic.intr).toBe(false);
  });

  it('poll command returns the level and acts as INTA', () => {
    const { pic, bus } = setup();
    bus.outb(0x20, 0x0c); // OCW3 poll
    expect(bus.inb(0x20)).toBe(0x00);
    pic.setIrq(6, true);
    bus.outb(0x20, 0x0c);
    expect(bus.inb(0x20)).toBe(0x86);
    expect(readIsr(bus, 0x20)).toBe(0x40);
    expect(pic.intr).toBe(false);
  });

  it('does not interrupt during an initialization sequence and names the next ICW', () => {
    const pic = new I8259Pair('pic');
    const bus = new TestBus(pic);
    const master = pic.regions()[0].region;
    pic.setIrq(0, true);
    expect(pic.intr).toBe(true);
    bus.outb(0x20, 0x11);
    expect(master.registerName!(1, 'write')).toBe('master ICW2');
    expect(pic.intr).toBe(false);
    bus.outb(0x21, 0x20);
    expect(master.registerName!(1, 'write')).toBe('master ICW3');
    bus.outb(0x21, 0x04);
    bus.outb(0x21, 0x01);
    expect(master.registerName!(1, 'write')).toBe('master OCW1 (IMR)');
    // ICW1 reset the edge sense: the line that was already high needs a new edge.
    expect(pic.intr).toBe(false);
    pic.setIrq(0, false);
    pic.setIrq(0, true);
    expect(pic.acknowledge()).toBe(0x20);
  });

  it('reset keeps input pins but clears the programming; snapshot restores mid-service', () => {
    const { pic, bus } = setup();
    pic.setIrq(4, true);
    pic.acknowledge();
    bus.outb(0x21, 0x02);
    const snap = pic.snapshot();
    const other = new I8259Pair('pic');
    other.restore(JSON.parse(JSON.stringify(snap)));
    const obus = new TestBus(other);
    expect(readIsr(obus, 0x20)).toBe(0x10);
    expect(obus.inb(0x21)).toBe(0x02);
    pic.reset();
    expect(bus.inb(0x21)).toBe(0);
    expect(readIsr(bus, 0x20)).toBe(0);
  });

  it('inspects registers with datasheet names', () => {
    const { pic } = setup();
    const ins = pic.inspect();
    const names = ins.registers.map((r) => r.name);
    expect(names).toContain('master IRR');
    expect(names).toContain('slave ICW4');
    expect(names).toContain('slave ELCR');
  });

  it('passes the device contract', () => {
    checkDeviceContract(() => new I8259Pair('pic', {}, new TestContext()));
  });
});
