// The device-model daemon ("qemu-dm"): it owns the PC's emulated devices on its own IoBus,
// answers the ioreqs the vCPUs trap into, drives ISA interrupt lines back to the core, and
// keeps running its timers, serial input, network frames and disk completions whatever the
// vCPUs are doing: the monitor never stops it.

import type { MessagePort } from 'node:worker_threads';
import type {
  CharBackend, DeviceContext, DeviceModel, HostRequest, IrqLine, Timer,
} from '../../common/device.js';
import { errorMessage } from '../../common/errors.js';
import type { JsonValue } from '../../common/vmstate.js';
import { asPhys, asPort } from '../../common/types.js';
import { IoBus } from '../../core/bus/IoBus.js';
import { Hdr, IoreqType, IoreqViews } from '../../core/ioreq/abi.js';
import { IoreqServer, type Ioreq } from '../../core/ioreq/channel.js';
import type { RangeAnnouncement } from '../../core/ioreq/RemoteRange.js';
import { GuestMemory } from '../../core/memory/GuestMemory.js';
import type { DmToCore } from '../../core/vcpu/VcpuThread.js';
import { IoDir } from '../../core/vcpu/VcpuBackend.js';
import type { DaemonEvent, DaemonInit, DevicePeek, DeviceListing, DeviceSpec } from './protocol.js';
import { createDevice, type OpenedBackends } from './registry.js';

// ---------------------------------------------------------------------------------------
// The daemon's clock: host monotonic time in ns; timers are checked by the serving loop.
// ---------------------------------------------------------------------------------------

class HostTimer implements Timer {
  deadline = -1;
  /** In the host's set of timers (devices cancel on most register accesses: keep that cheap). */
  private _armed = false;
  constructor(
    private readonly _host: DeviceHost,
    readonly cb: () => void,
  ) {}
  setAt(ns: number): void {
    this.deadline = ns;
    if (!this._armed) {
      this._armed = true;
      this._host.timers.add(this);
    }
    this._host.noteDeadline(ns);
  }
  cancel(): void {
    this.deadline = -1;
    if (this._armed) {
      this._armed = false;
      this._host.timers.delete(this);
    }
  }
  get pending(): boolean {
    return this.deadline >= 0;
  }
}

export const hostNow = (): number => performance.now() * 1e6;

/**
 * A character backend seen through the daemon: output also goes to the machine (the
 * monitor's SERIAL_OUTPUT stream), and the machine can type into it.
 */
class TeeBackend implements CharBackend {
  private _input: ((d: Uint8Array) => void) | null = null;
  constructor(
    readonly inner: CharBackend | null,
    readonly name: string,
    private readonly _out: (d: Uint8Array) => void,
  ) {
    inner?.setInputHandler((d) => this._input?.(d));
  }
  write(data: Uint8Array): void {
    this.inner?.write(data);
    this._out(data);
  }
  setInputHandler(cb: ((data: Uint8Array) => void) | null): void {
    this._input = cb;
  }
  /** Input from the monitor (TUI keyboard, `sendkey`). */
  inject(data: Uint8Array): void {
    this._input?.(data);
  }
  close(): void {
    this.inner?.close?.();
  }
}

interface HostedDevice {
  spec: DeviceSpec;
  model: DeviceModel;
  backends: OpenedBackends;
  tee: TeeBackend | null;
}

export class DeviceHost {
  readonly mem: GuestMemory;
  readonly views: IoreqViews;
  readonly pio = new IoBus('pio');
  readonly mmio = new IoBus('mmio');
  readonly devices = new Map<string, HostedDevice>();
  readonly server: IoreqServer;
  readonly timers = new Set<HostTimer>();
  private _nextDeadline = Infinity;
  /** Which devices assert each ISA line (wired-OR). */
  private readonly _asserted: Set<string>[] = Array.from({ length: 16 }, () => new Set<string>());
  private readonly _pendingOut = new Map<string, Uint8Array[]>();
  private _flushScheduled = false;
  private _stop = false;

  constructor(
    readonly init: DaemonInit,
    private readonly _main: MessagePort | { postMessage(m: unknown): void },
    private readonly _core: MessagePort | { postMessage(m: unknown): void },
  ) {
    this.mem = GuestMemory.attach(init.mem);
    this.views = new IoreqViews(init.ioreq, init.vcpus);
    this.server = new IoreqServer(this.views, {
      handle: (req) => this._handle(req),
      posted: (type, addr, size, data) => this._bus(type).write(addr as never, size, data),
      failed: (req, e) => this._failed(req, e),
    });
    for (const spec of init.devices) this.add(spec);
  }

  private _emit(e: DaemonEvent): void {
    this._main.postMessage(e);
  }

  /** Tell the core, and make sure it looks before it runs on. */
  private _toCore(m: DmToCore): void {
    this._core.postMessage(m);
    // The message is queued before the sequence moves; the core drains on seeing it move.
    Atomics.add(this.views.hdr, Hdr.CTL_SEQ, 1);
    Atomics.add(this.views.hdr, Hdr.VCPU_WAKE, 1);
    Atomics.notify(this.views.hdr, Hdr.VCPU_WAKE);
  }

  noteDeadline(ns: number): void {
    if (ns < this._nextDeadline) this._nextDeadline = ns;
  }

  // -------------------------------------------------------------------------------------
  // Devices
  // -------------------------------------------------------------------------------------

  private _context(id: string): DeviceContext {
    const irq = (n: number): IrqLine => ({ set: (level) => this.setIsaIrqLevel(id, n, level) });
    return {
      now: hostNow,
      createTimer: (cb) => new HostTimer(this, this._guard(id, cb)),
      irq,
      dma: { read: (a, b) => void this.mem.read(a, b), write: (a, b) => void this.mem.write(a, b) },
      request: (r) => this._request(id, r),
      event: (name: string, data: Record<string, JsonValue>) => this._emit({ t: 'event', device: id, name, data }),
    };
  }

  /** A timer callback that throws is a device failure, not a daemon crash. */
  private _guard(id: string, cb: () => void): () => void {
    return () => {
      try {
        cb();
      } catch (e) {
        this._emit({ t: 'device-error', device: id, message: `timer: ${errorMessage(e)}` });
      }
    };
  }

  private _request(id: string, r: HostRequest): void {
    switch (r.kind) {
      case 'a20':
        this.mem.setA20(r.enabled);
        break;
      case 'map-memory':
        if (r.read === 'none' && r.write === 'none' && r.base >= 0x100000) this.mem.unmapPages(r.base, r.size);
        else this.mem.setShadow(r.base, r.size, r.read, r.write);
        break;
      case 'reset':
        this._emit({ t: 'request', device: id, kind: 'reset' });
        break;
      case 'exit':
        this.flushOutput();
        this._emit({ t: 'request', device: id, kind: 'exit', status: r.status });
        break;
    }
  }

  add(spec: DeviceSpec): void {
    if (this.devices.has(spec.id)) throw new Error(`two devices are called ${spec.id}`);
    const ctx = this._context(spec.id);
    const { model, backends } = createDevice(spec, ctx, (inner) => {
      const tee = new TeeBackend(inner, inner?.name ?? 'vc', (d) => this._output(spec.id, d));
      return tee;
    });
    const tee = backends.chardev instanceof TeeBackend ? backends.chardev : null;
    this.devices.set(spec.id, { spec, model, backends, tee });
    for (const { region, base } of model.regions()) {
      if (region.space === 'pio') this.pio.map(region, asPort(base));
      else this.mmio.map(region, asPhys(base));
      const registers: [string | null, string | null][] | undefined =
        region.registerName && region.size <= 256
          ? Array.from({ length: region.size }, (_, o) => [region.registerName!(o, 'read') ?? null, region.registerName!(o, 'write') ?? null])
          : undefined;
      const range: RangeAnnouncement = {
        name: region.name, space: region.space, base, size: region.size, posted: region.posted ?? false, registers,
      };
      this._toCore({ t: 'map', range });
    }
  }

  listing(): DeviceListing[] {
    return [...this.devices.values()].map((d) => ({
      id: d.model.id,
      kind: d.model.kind,
      props: { ...d.model.props },
      regions: d.model.regions().map(({ region, base }) => ({ space: region.space, base, size: region.size, name: region.name })),
      backends: [d.backends.chardev?.name, ...(d.backends.disks ?? []).map((x) => x?.name), d.backends.net?.name].filter(
        (x): x is string => typeof x === 'string',
      ),
    }));
  }

  device(id: string): HostedDevice {
    const d = this.devices.get(id);
    if (!d) throw new Error(`no device ${id} (devices: ${[...this.devices.keys()].join(', ')})`);
    return d;
  }

  resetAll(): void {
    for (const d of this.devices.values()) d.model.reset();
  }

  /** The wired-OR of every device that drives ISA line n; the core sees only changes. */
  setIsaIrqLevel(device: string, n: number, level: boolean): void {
    if (n < 0 || n > 15) return;
    const set = this._asserted[n];
    // Devices drive their line after every register access; most leave it as it was.
    if (set.has(device) === level) return;
    if (level) set.add(device);
    else set.delete(device);
    const hdr = this.views.hdr;
    const bit = 1 << n;
    const cur = Atomics.load(hdr, Hdr.IRQ_LEVELS);
    const want = set.size > 0;
    if (((cur & bit) !== 0) === want) return;
    if (want) {
      Atomics.add(hdr, Hdr.IRQ_RISES + n, 1);
      Atomics.or(hdr, Hdr.IRQ_LEVELS, bit);
    } else Atomics.and(hdr, Hdr.IRQ_LEVELS, ~bit);
    Atomics.add(hdr, Hdr.IRQ_SEQ, 1);
    // A running vCPU leaves run() soon to look; a halted one wakes.
    Atomics.store(hdr, Hdr.KICK, 1);
    Atomics.add(hdr, Hdr.VCPU_WAKE, 1);
    Atomics.notify(hdr, Hdr.VCPU_WAKE);
  }

  // -------------------------------------------------------------------------------------
  // Serving ioreqs
  // -------------------------------------------------------------------------------------

  /**
   * Physical addr..addr+length as the guest's reads would see it, without what the reads would
   * do besides: the bytes of MMIO regions that can show that (IoRegionOps.peek, VGA memory),
   * the rest 0xFF and not known. For the debugger, which reads RAM itself.
   */
  peek(addr: number, length: number): DevicePeek {
    const data = new Uint8Array(length).fill(0xff);
    const known = new Uint8Array(length);
    const end = addr + length;
    for (const { base, region } of this.mmio.regions) {
      const peek = region.ops.peek;
      const lo = Math.max(addr, base);
      const hi = Math.min(end, base + region.size);
      if (!peek || lo >= hi) continue;
      for (let a = lo; a < hi; a++) data[a - addr] = peek(a - base, 1);
      known.fill(1, lo - addr, hi - addr);
    }
    return { data, known };
  }

  /** The bus an ioreq of this type goes to. */
  private _bus(type: IoreqType): IoBus<'pio' | 'mmio'> {
    return (type === IoreqType.PIO ? this.pio : this.mmio) as IoBus<'pio' | 'mmio'>;
  }

  private _handle(req: Ioreq): number {
    const bus = this._bus(req.type);
    const addr = req.addr as never;
    if (req.count > 1 && req.page) {
      if (req.dir === IoDir.READ) bus.readRep(addr, req.size, req.count, req.page);
      else bus.writeRep(addr, req.size, req.count, req.page);
      return 0;
    }
    if (req.dir === IoDir.READ) return bus.read(addr, req.size);
    bus.write(addr, req.size, req.data);
    return 0;
  }

  private _failed(req: Ioreq, e: unknown): void {
    const hit = this._bus(req.type).find(req.addr);
    const device = hit?.region.name ?? (req.type === IoreqType.PIO ? `port ${req.addr.toString(16)}` : `mmio ${req.addr.toString(16)}`);
    const what = `${req.dir === IoDir.READ ? 'read' : 'write'} of ${req.size} at ${req.type === IoreqType.PIO ? 'port' : 'address'} 0x${req.addr.toString(16)}`;
    const message = `${errorMessage(e)} (${what})`;
    // What the guest printed before the failure goes out first; then the error to the core
    // (it reads it before it looks at the answer), then to the machine.
    this.flushOutput();
    this._toCore({ t: 'device-error', device, message });
    this._emit({ t: 'device-error', device, message });
  }

  private _runTimers(): void {
    const now = hostNow();
    if (now < this._nextDeadline) return;
    let next = Infinity;
    for (;;) {
      let due: HostTimer | null = null;
      next = Infinity;
      for (const t of this.timers) {
        if (t.deadline <= now) {
          if (!due || t.deadline < due.deadline) due = t;
        } else if (t.deadline < next) next = t.deadline;
      }
      if (!due) break;
      due.cancel();
      due.cb();
    }
    this._nextDeadline = next;
    for (const t of this.timers) if (t.deadline < this._nextDeadline) this._nextDeadline = t.deadline;
  }

  async serve(): Promise<void> {
    const tick = setInterval(() => this._runTimers(), 1);
    try {
      await this.server.serve(() => {
        this._runTimers();
        return this._stop;
      }, {
        sleepMs: () => Math.max(0, (this._nextDeadline - hostNow()) / 1e6),
      });
    } finally {
      clearInterval(tick);
    }
  }

  stop(): void {
    this._stop = true;
    Atomics.add(this.views.hdr, Hdr.DOORBELL, 1);
    Atomics.notify(this.views.hdr, Hdr.DOORBELL);
  }

  shutdown(): void {
    this.stop();
    this.server.shutdown();
    for (const d of this.devices.values()) {
      try {
        d.model.destroy?.();
        d.backends.chardev?.close?.();
        for (const disk of d.backends.disks ?? []) disk?.close?.();
        d.backends.net?.close?.();
      } catch {
        // Closing is best effort on the way out.
      }
    }
  }

  // -------------------------------------------------------------------------------------
  // Character output to the monitor, batched per event-loop turn
  // -------------------------------------------------------------------------------------

  private _output(id: string, data: Uint8Array): void {
    let list = this._pendingOut.get(id);
    if (!list) this._pendingOut.set(id, (list = []));
    list.push(data.slice());
    if (!this._flushScheduled) {
      this._flushScheduled = true;
      setImmediate(() => this.flushOutput());
    }
  }

  flushOutput(): void {
    this._flushScheduled = false;
    for (const [device, chunks] of this._pendingOut) {
      const total = chunks.reduce((n, c) => n + c.length, 0);
      const data = new Uint8Array(total);
      let o = 0;
      for (const c of chunks) {
        data.set(c, o);
        o += c.length;
      }
      this._emit({ t: 'output', device, data });
    }
    this._pendingOut.clear();
  }

  inject(id: string, data: Uint8Array): void {
    const d = this.device(id);
    if (!d.tee) throw new Error(`device ${id} has no character backend to type into`);
    d.tee.inject(data);
  }
}
