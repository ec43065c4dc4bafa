// A DeviceContext for driving a model the way a qtest does: a clock that only moves when the
// test advances it, IRQ lines whose levels the test reads back, and a small RAM for DMA.
// This is a test harness (like QEMU's qtest accelerator), not a stand-in for a device.

import type { DeviceContext, HostRequest, IrqLine, Timer } from '../../../common/device.js';
import type { JsonValue } from '../../../common/vmstate.js';

class TestTimer implements Timer {
  deadline = -1;
  constructor(
    private readonly _ctx: TestContext,
    readonly cb: () => void,
  ) {}
  setAt(ns: number): void {
    this.deadline = ns;
    this._ctx.timers.add(this);
  }
  cancel(): void {
    this.deadline = -1;
    this._ctx.timers.delete(this);
  }
  get pending(): boolean {
    return this.deadline >= 0;
  }
}

export class TestContext implements DeviceContext {
  clock = 0;
  readonly timers = new Set<TestTimer>();
  readonly irqLevels = new Array<boolean>(16).fill(false);
  /** Every level change, in order: [irq, level]. */
  readonly irqLog: [number, boolean][] = [];
  readonly requests: HostRequest[] = [];
  readonly events: { name: string; data: Record<string, JsonValue> }[] = [];
  readonly ram: Uint8Array;

  constructor(ramSize = 1 << 20) {
    this.ram = new Uint8Array(ramSize);
  }

  now(): number {
    return this.clock;
  }

  createTimer(cb: () => void): Timer {
    return new TestTimer(this, cb);
  }

  irq(n: number): IrqLine {
    return {
      set: (level: boolean) => {
        if (this.irqLevels[n] !== level) this.irqLog.push([n, level]);
        this.irqLevels[n] = level;
      },
    };
  }

  readonly dma = {
    read: (addr: number, into: Uint8Array) => into.set(this.ram.subarray(addr, addr + into.length)),
    write: (addr: number, from: Uint8Array) => this.ram.set(from, addr),
  };

  request(r: HostRequest): void {
    this.requests.push(r);
  }

  event(name: string, data: Record<string, JsonValue>): void {
    this.events.push({ name, data });
  }

  /** Moves the clock forward, firing due timers in deadline order (timers may re-arm). */
  advance(ns: number): void {
    const end = this.clock + ns;
    for (;;) {
      let next: TestTimer | null = null;
      for (const t of this.timers) if (t.deadline <= end && (!next || t.deadline < next.deadline)) next = t;
      if (!next) break;
      this.clock = Math.max(this.clock, next.deadline);
      next.cancel();
      next.cb();
    }
    this.clock = end;
  }
}
