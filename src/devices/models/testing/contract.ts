// The contract every device model passes (cloud-hypervisor and QEMU both test their legacy
// devices this way): snapshot round-trips, reset is idempotent, inspect() is plain JSON,
// offsets nobody decodes read as open bus, and a random access stream never throws.

import { expect } from 'vitest';
import type { DeviceModel } from '../../../common/device.js';
import type { AccessSize } from '../../../common/types.js';
import { TestBus } from './bus.js';

export interface ContractOptions {
  /** Offsets (relative to a region's base) that are not decoded by the device: they must read all ones. */
  unusedOffsets?: { region: number; offset: number }[];
  /** Number of random accesses for the fuzz part. */
  fuzzAccesses?: number;
  seed?: number;
}

/** A small deterministic PRNG (xorshift32) so a failing fuzz run can be replayed. */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

export function checkDeviceContract(make: () => DeviceModel, opts: ContractOptions = {}): void {
  const dev = make();
  expect(dev.id).toMatch(/^[a-z][a-z0-9_.-]*$/);
  expect(dev.kind.length).toBeGreaterThan(0);
  const bus = new TestBus(dev);

  // inspect() is JSON, and names each register.
  const ins = dev.inspect();
  expect(JSON.parse(JSON.stringify(ins))).toEqual(ins);
  expect(ins.id).toBe(dev.id);
  expect(ins.registers.length).toBeGreaterThan(0);

  // Reset is idempotent.
  dev.reset();
  const once = JSON.stringify(dev.snapshot());
  dev.reset();
  expect(JSON.stringify(dev.snapshot())).toBe(once);

  // Unused offsets read as open bus.
  const regions = dev.regions();
  for (const u of opts.unusedOffsets ?? []) {
    const r = regions[u.region];
    const v = r.region.space === 'pio' ? bus.inb(r.base + u.offset) : bus.readb(r.base + u.offset);
    expect(v, `${dev.id} offset ${u.offset} of region ${u.region}`).toBe(0xff);
  }

  // Random accesses: no host exception; then the snapshot round-trips into a fresh device.
  const rnd = prng(opts.seed ?? 0x1234567);
  const sizes: AccessSize[] = [1, 2, 4];
  for (let i = 0; i < (opts.fuzzAccesses ?? 5000); i++) {
    const r = regions[rnd() % regions.length];
    const span = r.region.space === 'pio' ? r.region.size : Math.min(r.region.size, 0x1000);
    const off = rnd() % span;
    const size = sizes[rnd() % 3];
    const addr = r.base + off;
    if (rnd() & 1) {
      if (r.region.space === 'pio') bus.out(addr, size, rnd());
      else bus.mmio.write(addr as never, size, rnd());
    } else if (r.region.space === 'pio') bus.in(addr, size);
    else bus.mmio.read(addr as never, size);
  }
  const snap = dev.snapshot();
  expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
  const fresh = make();
  fresh.restore(JSON.parse(JSON.stringify(snap)));
  expect(fresh.snapshot()).toEqual(snap);
  // A restored device inspects the same as the original.
  expect(JSON.stringify(fresh.inspect())).toBe(JSON.stringify(dev.inspect()));
}
