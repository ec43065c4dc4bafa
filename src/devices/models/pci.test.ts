import { describe, expect, it } from 'vitest';
import { PciFunction, PciHost } from './pci.js';
import { I440fx } from './piix.js';
import { TestBus } from './testing/bus.js';
import { checkDeviceContract } from './testing/contract.js';
import { TestContext } from './testing/TestContext.js';

function setup(props: Record<string, string | number | boolean> = {}) {
  const ctx = new TestContext();
  const pci = new I440fx('pci0', props, ctx);
  const bus = new TestBus(pci);
  const addr = (dev: number, fn: number, reg: number) => (0x80000000 | (dev << 11) | (fn << 8) | (reg & 0xfc)) >>> 0;
  const cfgl = (dev: number, fn: number, reg: number) => { bus.outl(0xcf8, addr(dev, fn, reg)); return bus.inl(0xcfc); };
  const cfgw = (dev: number, fn: number, reg: number) => { bus.outl(0xcf8, addr(dev, fn, reg)); return bus.inw(0xcfc + (reg & 2)); };
  const cfgb = (dev: number, fn: number, reg: number) => { bus.outl(0xcf8, addr(dev, fn, reg)); return bus.inb(0xcfc + (reg & 3)); };
  const wcfgl = (dev: number, fn: number, reg: number, v: number) => { bus.outl(0xcf8, addr(dev, fn, reg)); bus.outl(0xcfc, v); };
  const wcfgw = (dev: number, fn: number, reg: number, v: number) => { bus.outl(0xcf8, addr(dev, fn, reg)); bus.outw(0xcfc + (reg & 2), v); };
  const wcfgb = (dev: number, fn: number, reg: number, v: number) => { bus.outl(0xcf8, addr(dev, fn, reg)); bus.outb(0xcfc + (reg & 3), v); };
  return { ctx, pci, bus, cfgl, cfgw, cfgb, wcfgl, wcfgw, wcfgb };
}

/** A function with one memory and one I/O BAR, to check sizing in general. */
class TestFunction extends PciFunction {
  constructor() {
    super('test', 3, 0, { vendor: 0x1234, device: 0x5678, revision: 1, classCode: 0x020000 });
    this.addBar(0, 0x1000, false);
    this.addBar(1, 0x20, true);
    this.captureDefaults();
  }
}

describe('pci host (mechanism #1) and the pc chipset functions', () => {
  it('passes the device contract', () => {
    checkDeviceContract(() => new I440fx('pci0', {}, new TestContext()), {
      unusedOffsets: [{ region: 0, offset: 2 }, { region: 0, offset: 3 }],
    });
    checkDeviceContract(() => new I440fx('pci0', { acpi: false }, new TestContext()));
  });

  it('latches CONFIG_ADDRESS on dword accesses only', () => {
    const { bus } = setup();
    expect(bus.inl(0xcf8)).toBe(0);
    bus.outl(0xcf8, 0x80000000);
    expect(bus.inl(0xcf8)).toBe(0x80000000); // SeaBIOS's pci_probe_host
    bus.outl(0xcf8, 0x8000ffff);
    expect(bus.inl(0xcf8)).toBe(0x8000fffc);
    bus.outw(0xcf8, 0x1234);
    expect(bus.inl(0xcf8)).toBe(0x8000fffc);
    expect(bus.inb(0xcfa)).toBe(0xff);
  });

  it('presents the functions of QEMU\'s pc machine', () => {
    const { cfgl, cfgw, cfgb } = setup();
    expect(cfgl(0, 0, 0)).toBe(0x12378086);
    expect(cfgb(0, 0, 8)).toBe(0x02);
    expect(cfgl(0, 0, 8) >>> 8).toBe(0x060000);
    expect(cfgw(0, 0, 0x2c)).toBe(0x1af4); // SeaBIOS: "running on QEMU"
    expect(cfgw(0, 0, 0x2e)).toBe(0x1100);
    expect(cfgl(1, 0, 0)).toBe(0x70008086);
    expect(cfgb(1, 0, 0x0e)).toBe(0x80);
    expect(cfgl(1, 0, 8) >>> 8).toBe(0x060100);
    expect(cfgl(1, 1, 0)).toBe(0x70108086);
    expect(cfgl(1, 1, 8) >>> 8).toBe(0x010180);
    expect(cfgl(1, 3, 0)).toBe(0x71138086);
    expect(cfgb(1, 3, 8)).toBe(0x03);
    expect(cfgb(1, 3, 0x3d)).toBe(1);
    expect(cfgl(1, 2, 0)).toBe(0xffffffff);
    expect(cfgl(2, 0, 0)).toBe(0xffffffff);
    expect(cfgw(31, 7, 0)).toBe(0xffff);
    // The PIIX4 PM presents SMM as already set up (DEVACTB.APMC_EN).
    expect(cfgl(1, 3, 0x58) & (1 << 25)).toBe(1 << 25);
  });

  it('leaves nothing on other buses and when the enable bit is clear', () => {
    const { bus } = setup();
    bus.outl(0xcf8, 0x80010000);
    expect(bus.inl(0xcfc)).toBe(0xffffffff);
    bus.outl(0xcf8, 0x00000000);
    expect(bus.inl(0xcfc)).toBe(0xffffffff);
  });

  it('keeps read-only fields, clears status bits on write 1, and masks the command register', () => {
    const { cfgl, cfgw, wcfgl, wcfgw, pci } = setup();
    wcfgl(0, 0, 0, 0xdeadbeef);
    expect(cfgl(0, 0, 0)).toBe(0x12378086);
    wcfgw(1, 1, 4, 0xffff);
    expect(cfgw(1, 1, 4)).toBe(0x0547);
    pci.fn(1, 1)!.cfg[7] |= 0x20; // a device error flag (received master abort)
    wcfgw(1, 1, 6, 0x2000);
    expect(cfgw(1, 1, 6)).toBe(0x0280);
  });

  it('sizes BARs by writing all ones; the unimplemented IDE BMIBA stays 0', () => {
    const ctx = new TestContext();
    const host = new PciHost('pcix', {}, ctx, { functions: [new TestFunction()] });
    const bus = new TestBus(host);
    bus.outl(0xcf8, 0x80001810);
    expect(bus.inl(0xcfc)).toBe(0);
    bus.outl(0xcfc, 0xffffffff);
    expect(bus.inl(0xcfc)).toBe(0xfffff000);
    bus.outl(0xcfc, 0xfebf1234);
    expect(bus.inl(0xcfc)).toBe(0xfebf1000);
    bus.outl(0xcf8, 0x80001814);
    expect(bus.inl(0xcfc)).toBe(1);
    bus.outl(0xcfc, 0xffffffff);
    expect(bus.inl(0xcfc)).toBe(0xffffffe1);
    bus.outl(0xcfc, 0xc000);
    expect(bus.inl(0xcfc)).toBe(0xc001);
    const { cfgl, wcfgl } = setup();
    wcfgl(1, 1, 0x20, 0xffffffff);
    expect(cfgl(1, 1, 0x20)).toBe(0);
    for (const bar of [0x10, 0x14, 0x18, 0x1c, 0x24]) {
      wcfgl(0, 0, bar, 0xffffffff);
      expect(cfgl(0, 0, bar)).toBe(0);
    }
  });

  it('sends map-memory for PAM segments: reset state, then the writes SeaBIOS makes', () => {
    const { ctx, cfgl, wcfgl, cfgb, wcfgb } = setup();
    // reset: all 13 segments read from ROM, writes dropped.
    expect(ctx.requests).toHaveLength(13);
    expect(ctx.requests[0]).toEqual({ kind: 'map-memory', base: 0xf0000, size: 0x10000, read: 'rom', write: 'none' });
    expect(ctx.requests[1]).toEqual({ kind: 'map-memory', base: 0xc0000, size: 0x4000, read: 'rom', write: 'none' });
    expect(ctx.requests[12]).toEqual({ kind: 'map-memory', base: 0xec000, size: 0x4000, read: 'rom', write: 'none' });
    ctx.requests.length = 0;
    // make_bios_writable: dword read-modify-write at 58h and 5Ch.
    const lo = cfgl(0, 0, 0x58);
    const hi = cfgl(0, 0, 0x5c);
    wcfgl(0, 0, 0x58, ((lo & 0xff) | (0x30 << 8) | (0x33 << 16) | (0x33 << 24)) >>> 0);
    expect(hi).toBe(0);
    wcfgl(0, 0, 0x5c, 0x33333333);
    expect(ctx.requests).toHaveLength(13);
    expect(ctx.requests).toContainEqual({ kind: 'map-memory', base: 0xf0000, size: 0x10000, read: 'ram', write: 'ram' });
    expect(ctx.requests).toContainEqual({ kind: 'map-memory', base: 0xe4000, size: 0x4000, read: 'ram', write: 'ram' });
    expect(cfgb(0, 0, 0x59)).toBe(0x30);
    ctx.requests.length = 0;
    // make_bios_readonly for the F segment: write-protect (read RAM, writes dropped).
    wcfgb(0, 0, 0x59, 0x10);
    expect(ctx.requests).toEqual([{ kind: 'map-memory', base: 0xf0000, size: 0x10000, read: 'ram', write: 'none' }]);
    ctx.requests.length = 0;
    // Shadowing in place: write-only to RAM, reads still from ROM.
    wcfgb(0, 0, 0x5a, 0x32);
    expect(ctx.requests).toEqual([{ kind: 'map-memory', base: 0xc0000, size: 0x4000, read: 'rom', write: 'ram' }]);
    ctx.requests.length = 0;
    // Same RE/WE bits again (CE only): no request.
    wcfgb(0, 0, 0x5a, 0x36);
    expect(ctx.requests).toHaveLength(0);
    // Reserved bits: PAM0 low nibble stays 0.
    wcfgb(0, 0, 0x59, 0xff);
    expect(cfgb(0, 0, 0x59)).toBe(0x70);
  });

  it('re-sends the PAM map after restore', () => {
    const a = setup();
    a.wcfgb(0, 0, 0x5f, 0x31);
    const snap = JSON.parse(JSON.stringify(a.pci.snapshot()));
    const b = setup();
    b.ctx.requests.length = 0;
    b.pci.restore(snap);
    expect(b.ctx.requests).toHaveLength(13);
    expect(b.ctx.requests).toContainEqual({ kind: 'map-memory', base: 0xe8000, size: 0x4000, read: 'ram', write: 'none' });
    expect(b.ctx.requests).toContainEqual({ kind: 'map-memory', base: 0xec000, size: 0x4000, read: 'ram', write: 'ram' });
    expect(b.cfgb(0, 0, 0x5f)).toBe(0x31);
  });

  it('stores SMRAM with its lock rule', () => {
    const { cfgb, wcfgb } = setup();
    expect(cfgb(0, 0, 0x72)).toBe(0x02);
    wcfgb(0, 0, 0x72, 0x4a);
    expect(cfgb(0, 0, 0x72)).toBe(0x4a);
    wcfgb(0, 0, 0x72, 0x1a);
    expect(cfgb(0, 0, 0x72)).toBe(0x1a); // D_LCK set, D_OPEN closed
    wcfgb(0, 0, 0x72, 0x42);
    expect(cfgb(0, 0, 0x72)).toBe(0x1a); // locked
  });

  it('stores PIRQ routes as SeaBIOS programs them', () => {
    const { cfgb, wcfgb, pci } = setup();
    expect(cfgb(1, 0, 0x60)).toBe(0x80);
    [10, 10, 11, 11].forEach((irq, i) => wcfgb(1, 0, 0x60 + i, irq));
    expect([0x60, 0x61, 0x62, 0x63].map((r) => cfgb(1, 0, r))).toEqual([10, 10, 11, 11]);
    wcfgb(1, 0, 0x60, 0xff);
    expect(cfgb(1, 0, 0x60)).toBe(0x8f);
    const pirq = pci.inspect().registers.find((r) => r.name === '00:01.0 PIRQRCB')!;
    expect(pirq.bits![0].meaning).toBe('PIRQB# → IRQ10');
  });

  it('asks for a reset through the PIIX3 Reset Control register at 0CF9h', () => {
    const { bus, ctx } = setup();
    ctx.requests.length = 0;
    bus.outb(0xcf9, 0x02);
    expect(bus.inb(0xcf9)).toBe(0x02);
    expect(ctx.requests).toHaveLength(0);
    bus.outb(0xcf9, 0x06);
    expect(ctx.requests).toEqual([{ kind: 'reset' }]);
  });

  it('runs the PIIX4 PM timer at 3.579545 MHz once SeaBIOS enabled the PM I/O space', () => {
    const { bus, ctx, wcfgl, wcfgb } = setup();
    expect(bus.inl(0xb008)).toBe(0xffffffff); // not decoded yet
    wcfgl(1, 3, 0x40, 0xb001);
    wcfgb(1, 3, 0x80, 0x01);
    const t0 = bus.inl(0xb008);
    ctx.advance(1_000_000); // 1 ms
    const t1 = bus.inl(0xb008);
    expect((t1 - t0) & 0xffffff).toBe(3579);
    expect(t1 >>> 24).toBe(0);
    // Host time moves while a read is served: a dword read is one sample of the timer, never
    // a low byte from before a carry and a high byte from after it.
    const now = ctx.now.bind(ctx);
    ctx.now = () => {
      ctx.clock += 280; // ~1 tick per look at the clock
      return now();
    };
    let prev = bus.inl(0xb008);
    for (let i = 0; i < 2000; i++) {
      const t = bus.inl(0xb008);
      expect((t - prev) & 0xffffff, `after ${prev.toString(16)}`).toBeLessThan(8);
      prev = t;
    }
    ctx.now = now;
    // The ACPI handover through APMC, then the timer overflow as SCI on IRQ 9.
    bus.outb(0xb2, 0xf1);
    expect(bus.inw(0xb004) & 1).toBe(1);
    bus.outw(0xb000, 0xffff); // clear status
    bus.outw(0xb002, 0x0001); // TMROF_EN
    expect(ctx.irqLevels[9]).toBe(false);
    ctx.advance(2_400_000_000); // bit 23 toggles every 2.34 s
    expect(ctx.irqLevels[9]).toBe(true);
    expect(bus.inw(0xb000) & 1).toBe(1);
    bus.outw(0xb000, 0x0001);
    expect(ctx.irqLevels[9]).toBe(false);
    bus.outb(0xb2, 0xf0);
    expect(bus.inw(0xb004) & 1).toBe(0);
  });

  it('powers off on SUS_EN with SUS_TYP 0 (soft off)', () => {
    const { bus, ctx, wcfgl, wcfgb } = setup();
    wcfgl(1, 3, 0x40, 0xb001);
    wcfgb(1, 3, 0x80, 0x01);
    ctx.requests.length = 0;
    bus.outw(0xb004, 0x2000);
    expect(ctx.requests).toEqual([{ kind: 'exit', status: 0 }]);
    expect(bus.inw(0xb004) & 0x2000).toBe(0);
  });

  it('names registers for the trap log and inspects every function', () => {
    const { pci } = setup();
    const r = pci.regions();
    expect(r.map((x) => x.region.name)).toEqual(['pci0', 'pci0.piix4-pm.apm', 'pci0.piix4-pm.io']);
    expect(r[0].region.registerName!(0, 'write')).toBe('CONFIG_ADDRESS');
    expect(r[0].region.registerName!(4, 'read')).toBe('CONFIG_DATA');
    expect(r[2].region.registerName!(8, 'read')).toBe('PMTMR');
    const ins = pci.inspect();
    const names = ins.registers.map((x) => x.name);
    expect(names).toContain('00:00.0 PAM0');
    expect(names).toContain('00:00.0 SMRAM');
    expect(names).toContain('00:01.1 IDETIM (primary)');
    expect(names).toContain('00:01.3 PMCNTRL');
    expect(ins.extra!.functions).toHaveLength(4);
  });
});
