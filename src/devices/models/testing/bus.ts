// qtest-style access helpers: put a device's regions on real IoBuses and talk to it with
// outb/inb/readl/writel at absolute addresses, as a guest driver would.

import type { DeviceModel } from '../../../common/device.js';
import type { AccessSize } from '../../../common/types.js';
import { asPhys, asPort } from '../../../common/types.js';
import { IoBus } from '../../../core/bus/IoBus.js';

export class TestBus {
  readonly pio = new IoBus('pio');
  readonly mmio = new IoBus('mmio');

  constructor(...devices: DeviceModel[]) {
    for (const d of devices) this.attach(d);
  }

  attach(d: DeviceModel): void {
    for (const { region, base } of d.regions()) {
      if (region.space === 'pio') this.pio.map(region, asPort(base));
      else this.mmio.map(region, asPhys(base));
    }
  }

  in(port: number, size: AccessSize): number {
    return this.pio.read(asPort(port), size);
  }
  out(port: number, size: AccessSize, v: number): void {
    this.pio.write(asPort(port), size, v);
  }
  inb(port: number): number { return this.in(port, 1); }
  inw(port: number): number { return this.in(port, 2); }
  inl(port: number): number { return this.in(port, 4); }
  outb(port: number, v: number): void { this.out(port, 1, v); }
  outw(port: number, v: number): void { this.out(port, 2, v); }
  outl(port: number, v: number): void { this.out(port, 4, v); }
  readb(addr: number): number { return this.mmio.read(asPhys(addr), 1); }
  readw(addr: number): number { return this.mmio.read(asPhys(addr), 2); }
  readl(addr: number): number { return this.mmio.read(asPhys(addr), 4); }
  writeb(addr: number, v: number): void { this.mmio.write(asPhys(addr), 1, v); }
  writew(addr: number, v: number): void { this.mmio.write(asPhys(addr), 2, v); }
  writel(addr: number, v: number): void { this.mmio.write(asPhys(addr), 4, v); }
}
