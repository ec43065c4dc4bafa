// The i8042's refill timer on a host whose clock moves while the model runs (the daemon's
// clock is host time, and a busy host can stall a thread between two looks at it). After the
// guest reads a byte, the next one must still come, however the clock moved in between.

import { describe, expect, it } from 'vitest';
import { I8042, REFILL_NS } from './i8042.js';
import { TestBus } from './testing/bus.js';
import { TestContext } from './testing/TestContext.js';

/** Every look at the clock finds it 60% of a refill delay later. */
class SlowHost extends TestContext {
  override now(): number {
    this.clock += (REFILL_NS * 6) / 10;
    return this.clock;
  }
}

describe('i8042 on a slow host clock', () => {
  it('loads every typed byte, one after another, as the guest reads them', () => {
    const ctx = new SlowHost();
    const kbc = new I8042('kbc', {}, ctx);
    const bus = new TestBus(kbc);
    kbc.typeText('ab');
    const got: number[] = [];
    for (let tries = 0; tries < 50 && got.length < 4; tries++) {
      if (bus.inb(0x64) & 0x01) got.push(bus.inb(0x60));
      ctx.advance(REFILL_NS);
    }
    // 'a' and 'b', make and break, in set 1 (the controller translates by default).
    expect(got.map((b) => b.toString(16))).toEqual(['1e', '9e', '30', 'b0']);
  });
});
