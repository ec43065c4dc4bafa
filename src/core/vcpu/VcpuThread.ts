// The vCPU thread: the hypervisor core's run loop. It owns the vCPU backends, the core IoBus
// with the in-core platform devices (PIC, PIT, port 0x61: performance-critical, as in Xen)
// and the RemoteRanges the device model announced, and the virtual clock the in-core devices
// run on. It never returns to the event loop: commands arrive through a MessagePort that it
// polls when the main thread bumps the MAIL word, so that a running guest pays nothing for them.
//
// One thread runs every vCPU of the VM round-robin (as QEMU's single-threaded TCG does), so
// per-vCPU pause is a scheduling decision and the platform devices need no locks.

import { getHeapStatistics } from 'node:v8';
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { DeviceContext, DeviceModel, HostRequest, IrqLine, Timer } from '../../common/device.js';
import { errorMessage } from '../../common/errors.js';
import type { IoRegion } from '../../common/io.js';
import { asPhys, asPort, hex, type AccessSize } from '../../common/types.js';
import { IoBus, dispatchRead, dispatchWrite } from '../bus/IoBus.js';
import { Condition } from '../debug/condition.js';
import { Access, DebugTables } from '../debug/DebugTables.js';
import { readRegister } from '../debug/registers.js';
import { TrapInfo, TrapLog } from '../debug/TrapLog.js';
import type { BreakpointDef, PendingIoreq, StopInfo } from '../debug/types.js';
import { Hdr, IoreqType, IoreqViews, stamp } from '../ioreq/abi.js';
import { IoreqClient, RingWriter } from '../ioreq/channel.js';
import { RemoteRange, type ClientRef, type RangeAnnouncement } from '../ioreq/RemoteRange.js';
import { GuestMemory } from '../memory/GuestMemory.js';
import { I8254 } from '../platform/i8254.js';
import { I8259Pair } from '../platform/i8259.js';
import { Port61 } from '../platform/port61.js';
import { DeliveryMode, Lapic, Shorthand, type Ipi, type LapicWiring } from '../platform/lapic.js';
import { realSegment } from './CpuState.js';
import { createBackend } from './backends.js';
import type { TrapFastPath } from './interp/cpu.js';
import { InterpVcpu } from './interp/InterpVcpu.js';
import type { CpuState } from './CpuState.js';
import type { RegionInfo, VcpuCommand, VcpuCommandBody, VcpuEvent, VcpuStats, VcpuThreadInit } from './protocol.js';
import { ExitReason, IoDir, type VcpuBackend } from './VcpuBackend.js';

/** Instructions per run() slice: bounds how long timers, IRQs and commands wait. */
const SLICE = 20000;
/** Loop turns between looks at the in-core timers when a guest traps continuously. */
const TIMER_CHECK_EXITS = 64;

/** Messages from the device model to the core. */
export type DmToCore =
  | { t: 'map'; range: RangeAnnouncement }
  | { t: 'unmap'; space: 'pio' | 'mmio'; base: number }
  | { t: 'device-error'; device: string; message: string };

// ---------------------------------------------------------------------------------------
// The virtual clock: host time that stands still while every vCPU is stopped.
// ---------------------------------------------------------------------------------------

class CoreTimer implements Timer {
  deadline = -1;
  constructor(
    private readonly _clock: VirtualClock,
    readonly cb: () => void,
  ) {}
  setAt(ns: number): void {
    this.deadline = ns;
    this._clock.timers.add(this);
  }
  cancel(): void {
    this.deadline = -1;
    this._clock.timers.delete(this);
  }
  get pending(): boolean {
    return this.deadline >= 0;
  }
}

export class VirtualClock {
  readonly timers = new Set<CoreTimer>();
  private _offset = 0;
  private _frozenAt: number | null = null;

  private static _host(): number {
    return performance.now() * 1e6;
  }

  now(): number {
    return this._frozenAt ?? VirtualClock._host() - this._offset;
  }
  get frozen(): boolean {
    return this._frozenAt !== null;
  }
  freeze(): void {
    if (this._frozenAt === null) this._frozenAt = this.now();
  }
  thaw(): void {
    if (this._frozenAt === null) return;
    this._offset = VirtualClock._host() - this._frozenAt;
    this._frozenAt = null;
  }
  createTimer(cb: () => void): Timer {
    return new CoreTimer(this, cb);
  }
  /** Earliest deadline, or Infinity. */
  nextDeadline(): number {
    let d = Infinity;
    for (const t of this.timers) if (t.deadline < d) d = t.deadline;
    return d;
  }
  runDue(): void {
    if (this.timers.size === 0) return;
    const now = this.now();
    for (;;) {
      let due: CoreTimer | null = null;
      for (const t of this.timers) if (t.deadline <= now && (!due || t.deadline < due.deadline)) due = t;
      if (!due) return;
      due.cancel();
      due.cb();
    }
  }
}

// ---------------------------------------------------------------------------------------

interface Vcpu {
  index: number;
  backend: VcpuBackend;
  client: IoreqClient;
  running: boolean;
  halted: boolean;
  /** An application processor after reset or INIT: it runs nothing until a start-up IPI. */
  waitSipi: boolean;
  lapic: Lapic;
  /** The exit in backend.exit has not been delivered yet (stopped in front of it). */
  pendingExit: ExitReason.IO | ExitReason.MMIO | null;
  /** Interrupt acknowledged from the PIC but not yet delivered (step-trap stopped in front of it). */
  pendingVector: number | null;
  stepLeft: number;
  stepTrap: boolean;
  stop: StopInfo | null;
  /** What setGuestDebug was last given (only changes are passed on). */
  debugCfg: number;
  /** finish: the stack pointer to climb above (-1 when not finishing). */
  finishEsp: number;
}

/** _pioIdx: an I/O breakpoint may stop an access starting at this port. */
const PIO_ARMED = -2;

/** What the trap fast path must do after an access to a region. */
const enum RegionKind {
  OTHER = 0,
  /** The daemon's: a round trip (or a posted write). */
  REMOTE = 1,
  /** The 8259 or the 8254: a write can raise the 8259's output. */
  PIC = 2,
  /** The local APIC page. */
  LAPIC = 3,
  /** The daemon's, and its writes are posted (through the buffered ring, no answer). */
  POSTED = 4,
}

/** A trap log entry's INFO word (TrapLog.ts) for an access. */
function trapInfo(pio: boolean, read: boolean, size: number, inCore: boolean): number {
  return (pio ? 0 : TrapInfo.MMIO) | (read ? TrapInfo.READ : 0) | (size << 4) | (inCore ? TrapInfo.IN_CORE : 0);
}

/** Instructions `finish` single-steps at most before it gives up and stops. */
const FINISH_LIMIT = 10_000_000;

interface ArmedBreakpoint {
  def: BreakpointDef;
  cond: Condition | null;
}

export class VcpuThread {
  readonly mem: GuestMemory;
  readonly views: IoreqViews;
  readonly hdr: Int32Array;
  readonly clock = new VirtualClock();
  readonly pio = new IoBus('pio');
  readonly mmio = new IoBus('mmio');
  readonly pic: I8259Pair;
  readonly pit: I8254;
  readonly port61: Port61;
  readonly coreDevices: DeviceModel[];
  /** The vCPU whose slice is running (its APIC answers at FEE00000h). */
  private _current!: Vcpu;
  readonly tables: DebugTables;
  readonly trapLog: TrapLog;
  readonly hits: Int32Array;
  readonly vcpus: Vcpu[] = [];
  private readonly _clientRef: ClientRef;
  /** This thread's end of the buffered ring, shared by every vCPU's client. */
  private readonly _ringWriter: RingWriter;
  private readonly _regionIndex = new Map<IoRegion, number>();
  /** For the trap fast path, by region index: RegionKind. */
  private _regionKind = new Int8Array(0);
  /** By region index: the address just past the region (a posted write must fit inside). */
  private _regionEnd = new Float64Array(0);
  /** By region index: the region and its base, so that the fast path calls it without a bus lookup. */
  private _regionObj: IoRegion[] = [];
  private _regionBase = new Float64Array(0);
  /** The last posted MMIO region a write went to (empty: base > end), for the write fast path. */
  private _postedBase = 1;
  private _postedEnd = 0;
  private _postedRegion = -1;
  /**
   * Port -> region index (-1: nothing there), or PIO_ARMED where an access that starts at the
   * port may touch one an enabled I/O breakpoint covers (the fast path declines it); rebuilt
   * from the regions and the definitions (_portTable). Also the last MMIO region it hit.
   */
  private readonly _pioIdx = new Int16Array(0x10000).fill(-1);
  private _lastMmio: IoRegion | null = null;
  private _lastMmioIdx = -1;
  private _regionInfo: RegionInfo[] = [];
  private _breakpoints = new Map<number, ArmedBreakpoint>();
  private _mailSeen = 0;
  private _ctlSeen = 0;
  private _irqSeen = 0;
  private _daemonLevels = 0;
  private readonly _risesSeen = new Int32Array(16);
  private _coreLevels = 0;
  private _quit = false;
  private _traps = 0;
  private _lastDeviceError: { device: string; message: string } | null = null;
  private _sliceEnded = true;
  /**
   * The next remote trap carries hop timestamps. Set at each look at the timers (once per
   * slice, or every TIMER_CHECK_EXITS exits): Node 20's performance.now() allocates, so timing
   * every trap, or every eighth, kept the heap growing at a megabyte a second.
   */
  private _timeNext = true;

  constructor(
    readonly init: VcpuThreadInit,
    private readonly _main: MessagePort,
    private readonly _dm: MessagePort,
  ) {
    this.mem = GuestMemory.attach(init.mem);
    this.views = new IoreqViews(init.ioreq, init.vcpus);
    this._ringWriter = new RingWriter(this.views);
    this.hdr = this.views.hdr;
    this.tables = new DebugTables(init.debug);
    this.trapLog = new TrapLog(init.trapLog);
    this.hits = new Int32Array(init.hits);
    const ctx = this._deviceContext();
    this.pic = new I8259Pair('pic', init.platform.pic, ctx);
    this.pit = new I8254('pit', init.platform.pit, ctx);
    this.port61 = new Port61('port61', init.platform.port61, ctx, this.pit);
    this.coreDevices = [this.pic, this.pit, this.port61];
    for (const d of this.coreDevices) {
      for (const { region, base } of d.regions()) {
        if (region.space === 'pio') this.pio.map(region, asPort(base));
        else this.mmio.map(region, asPhys(base));
      }
    }
    const kick = new Int32Array(init.ioreq, Hdr.KICK * 4, 1);
    const wiring: LapicWiring = { sendIpi: (from, ipi) => this._ipi(from, ipi), kick: () => this._apicKicked() };
    for (let i = 0; i < init.vcpus; i++) {
      const lapic = new Lapic(`lapic${i}`, { apicId: i, bsp: i === 0 }, ctx, wiring);
      const backend = createBackend(this.mem, kick, this.tables, {
        apic: { id: i, baseMsr: { read: () => lapic.baseMsr, write: (v) => (lapic.baseMsr = v) } },
        // vCPUs share this thread: a spin-wait (SeaBIOS's AP start-up, a guest spinlock) must
        // let the others run, or it spins out its whole slice each turn.
        pauseExits: this.init.vcpus > 1,
      });
      const v: Vcpu = {
        index: i, backend, client: new IoreqClient(this.views, i, this._ringWriter), running: false, halted: false, waitSipi: i !== 0, lapic,
        pendingExit: null, pendingVector: null, stepLeft: 0, stepTrap: false, stop: null, debugCfg: -1, finishEsp: -1,
      };
      this.vcpus.push(v);
      if (backend instanceof InterpVcpu) backend.cpu.trapFast = this._fastPath(v);
    }
    this.coreDevices.push(...this.vcpus.map((v) => v.lapic));
    // One page at FEE00000h for every CPU's APIC: an access reaches the APIC of the vCPU that made it.
    this.mmio.map({
      name: 'lapic', space: 'mmio', size: 0x1000, impl: { min: 4, max: 4 },
      ops: {
        read: (offset) => (offset & 0xf ? 0 : this._current.lapic.readReg(offset)),
        write: (offset, _size, value) => {
          if (!(offset & 0xf)) this._current.lapic.writeReg(offset, value);
        },
      },
      registerName: (offset) => this.vcpus[0].lapic.regions()[0].region.registerName?.(offset, 'read'),
    }, asPhys(0xfee00000));
    this._current = this.vcpus[0];
    this._clientRef = { current: this.vcpus[0].client };
    this._resetCpus();
    this._publishRegions();
  }

  private _deviceContext(): DeviceContext {
    const irq = (n: number): IrqLine => ({
      set: (level: boolean) => {
        const bit = 1 << n;
        this._coreLevels = level ? this._coreLevels | bit : this._coreLevels & ~bit;
        this.pic.setIrq(n, level || (this._daemonLevels & bit) !== 0);
      },
    });
    return {
      now: () => this.clock.now(),
      createTimer: (cb) => this.clock.createTimer(cb),
      irq,
      dma: { read: (a, b) => void this.mem.read(a, b), write: (a, b) => void this.mem.write(a, b) },
      request: (r: HostRequest) => this._emit({ t: 'fatal', message: `core device asked for ${r.kind}, which the core does not do` }),
      event: () => undefined,
    };
  }

  private _emit(e: VcpuEvent): void {
    // Whoever hears of this (a stop, say) and then looks at a device or the trap log sees
    // everything the guest did before it.
    this._publishBatches();
    this._main.postMessage(e);
  }

  /** Posted writes and trap log entries go out in batches: this sends what is left of them. */
  private _publishBatches(): void {
    this._ringWriter.flush();
    this.trapLog.publish();
  }

  // -------------------------------------------------------------------------------------
  // The loop
  // -------------------------------------------------------------------------------------

  run(): void {
    this._emit({ t: 'ready' });
    if (!this.init.startPaused) this._resume(undefined, true);
    else {
      this.clock.freeze();
      for (const v of this.vcpus) v.stop = { vcpu: v.index, reason: 'pause', text: 'paused (-S)' };
    }
    while (!this._quit) {
      this._service();
      if (this._quit) break;
      const v = this._runnable();
      if (!v) {
        this._sleep();
        continue;
      }
      this._clientRef.current = v.client;
      try {
        this._slice(v);
      } catch (e) {
        this._stop(v, { vcpu: v.index, reason: 'internal-error', message: errorMessage(e), text: `internal error: ${errorMessage(e)}` });
      }
      // What the slice left goes out before anything else happens (a command, a sleep,
      // another vCPU's slice).
      this._publishBatches();
    }
  }

  private _rr = 0;
  private _runnable(): Vcpu | null {
    const n = this.vcpus.length;
    for (let k = 0; k < n; k++) {
      const v = this.vcpus[(this._rr + k) % n];
      if (!v.running || v.waitSipi) continue;
      if (v.halted && !(this._intrDeliverable(v))) continue;
      this._rr = (v.index + 1) % n;
      return v;
    }
    return null;
  }

  private _intrDeliverable(v: Vcpu): boolean {
    return v.pendingVector !== null || (this._intrPending(v) && v.backend.interruptible);
  }

  /** An interrupt waits for this vCPU: from its APIC, or (boot vCPU) the 8259 through LINT0. */
  private _intrPending(v: Vcpu): boolean {
    return v.lapic.pending() >= 0 || (v.index === 0 && this.pic.intr && v.lapic.passesExtInt);
  }

  /** Timers, IRQ lines, commands from the machine and ranges from the device model. */
  /**
   * The in-core timers are looked at every TIMER_CHECK_EXITS loop turns (or whenever a slice
   * ended for another reason than a trap): reading the clock on every trap would cost more than
   * the trap itself, and a trap-bound guest makes a turn every microsecond or so.
   */
  private _turns = 0;

  private _service(): void {
    if (++this._turns >= TIMER_CHECK_EXITS || this._sliceEnded) {
      this._turns = 0;
      this._sliceEnded = false;
      this._timeNext = true;
      this.clock.runDue();
    }
    const hdr = this.hdr;
    const irqSeq = Atomics.load(hdr, Hdr.IRQ_SEQ);
    if (irqSeq !== this._irqSeen) {
      this._irqSeen = irqSeq;
      const levels = Atomics.load(hdr, Hdr.IRQ_LEVELS);
      const changed = levels ^ this._daemonLevels;
      this._daemonLevels = levels;
      for (let n = 0; n < 16; n++) {
        const bit = 1 << n;
        const rises = Atomics.load(hdr, Hdr.IRQ_RISES + n);
        if (rises !== this._risesSeen[n] && !(changed & bit) && !(this._coreLevels & bit)) {
          // The line moved and came back while we were not looking: its rising edge still counts.
          const high = (levels & bit) !== 0;
          this.pic.setIrq(n, !high);
          this.pic.setIrq(n, high);
        } else if (changed & bit) this.pic.setIrq(n, ((levels | this._coreLevels) & bit) !== 0);
        this._risesSeen[n] = rises;
      }
    }
    if (Atomics.load(hdr, Hdr.CTL_SEQ) !== this._ctlSeen) this._drainDm();
    const mail = Atomics.load(hdr, Hdr.MAIL);
    if (mail !== this._mailSeen) {
      this._mailSeen = mail;
      for (;;) {
        const m = receiveMessageOnPort(this._main);
        if (!m) break;
        this._command(m.message as VcpuCommand);
      }
    }
  }

  private _drainDm(): void {
    this._ctlSeen = Atomics.load(this.hdr, Hdr.CTL_SEQ);
    let changed = false;
    for (;;) {
      const m = receiveMessageOnPort(this._dm);
      if (!m) break;
      const msg = m.message as DmToCore;
      if (msg.t === 'map') {
        const r = new RemoteRange(msg.range, this._clientRef);
        if (r.space === 'pio') this.pio.map(r, asPort(msg.range.base));
        else this.mmio.map(r, asPhys(msg.range.base));
        changed = true;
      } else if (msg.t === 'unmap') {
        if (msg.space === 'pio') this.pio.unmap(asPort(msg.base));
        else this.mmio.unmap(asPhys(msg.base));
        changed = true;
      } else if (msg.t === 'device-error') {
        this._lastDeviceError = { device: msg.device, message: msg.message };
      }
    }
    if (changed) this._publishRegions();
  }

  private _publishRegions(): void {
    this._regionIndex.clear();
    const list: RegionInfo[] = [];
    for (const bus of [this.pio, this.mmio] as IoBus<'pio' | 'mmio'>[]) {
      for (const { region, base } of bus.regions) {
        const index = list.length;
        this._regionIndex.set(region, index);
        let registers: [string | null, string | null][] | undefined;
        if (region instanceof RemoteRange) registers = region.announcement.registers;
        else if (region.registerName && region.size <= 256) {
          registers = [];
          for (let o = 0; o < region.size; o++) {
            registers.push([region.registerName(o, 'read') ?? null, region.registerName(o, 'write') ?? null]);
          }
        }
        list.push({
          index, name: region.name, space: region.space, base, size: region.size,
          inCore: !(region instanceof RemoteRange), posted: region.posted ?? false, registers,
        });
      }
    }
    this._regionInfo = list;
    // What the trap fast path needs to know about each region, without a lookup per access.
    const picRegions = new Set<IoRegion>([...this.pic.regions(), ...this.pit.regions()].map((r) => r.region));
    this._regionKind = new Int8Array(list.length);
    this._regionEnd = new Float64Array(list.length);
    this._regionObj = new Array<IoRegion>(list.length);
    this._regionBase = new Float64Array(list.length);
    for (const [region, index] of this._regionIndex) {
      const info = list[index];
      this._regionKind[index] = region instanceof RemoteRange ? (region.posted ? RegionKind.POSTED : RegionKind.REMOTE)
        : picRegions.has(region) ? RegionKind.PIC : info.name === 'lapic' ? RegionKind.LAPIC : RegionKind.OTHER;
      this._regionEnd[index] = info.base + info.size;
      this._regionObj[index] = region;
      this._regionBase[index] = info.base;
    }
    this._portTable();
    this._lastMmio = null;
    this._postedBase = 1;
    this._postedEnd = 0;
    this._emit({ t: 'regions', list });
  }

  /** Nothing to run: sleep until an IRQ, a command or the next in-core timer. */
  private _sleep(): void {
    const anyRunning = this.vcpus.some((v) => v.running);
    let timeoutMs = Infinity;
    if (anyRunning) {
      const d = this.clock.nextDeadline();
      if (d !== Infinity) timeoutMs = Math.max(0, (d - this.clock.now()) / 1e6);
    }
    const wake = Atomics.load(this.hdr, Hdr.VCPU_WAKE);
    // Anything that arrived since the last look means no sleep at all.
    if (
      Atomics.load(this.hdr, Hdr.MAIL) !== this._mailSeen ||
      Atomics.load(this.hdr, Hdr.IRQ_SEQ) !== this._irqSeen ||
      Atomics.load(this.hdr, Hdr.CTL_SEQ) !== this._ctlSeen
    ) return;
    if (timeoutMs > 0) Atomics.wait(this.hdr, Hdr.VCPU_WAKE, wake, timeoutMs === Infinity ? undefined : timeoutMs);
  }

  // -------------------------------------------------------------------------------------
  // One slice of one vCPU
  // -------------------------------------------------------------------------------------

  private _slice(v: Vcpu): void {
    const b = v.backend;
    if (v.pendingExit !== null) {
      // Resumed in front of a trap: it goes to the device now.
      this._deliver(v, null);
      return;
    }
    this._current = v;
    {
      if (v.pendingVector !== null) {
        b.injectInterrupt(v.pendingVector);
        v.pendingVector = null;
        v.halted = false;
      } else if (this._intrPending(v)) {
        if (b.interruptible) {
          // The APIC's own interrupts first; the 8259's come through LINT0 (virtual wire).
          const vector = v.lapic.pending() >= 0 ? v.lapic.acknowledge() : this.pic.acknowledge();
          if (v.stepTrap || (this.tables.vectorCount !== 0 && this.tables.vectorArmed(vector) && this._vectorBreak(v, vector))) {
            v.pendingVector = vector;
            if (v.stepTrap) this._stopTrap(v, { reason: 'step-trap', vector, text: `step-trap: interrupt ${hex(vector, 2)} about to be delivered` });
            return;
          }
          b.injectInterrupt(vector);
          v.halted = false;
        } else b.setInterruptWindow(true);
      }
    }
    if (v.halted) return;
    const single = v.stepLeft > 0;
    const cfg = (single ? 1 : 0) | (v.stepTrap ? 2 : 0);
    if (cfg !== v.debugCfg) {
      b.setGuestDebug({ singleStep: single, catchAllVectors: v.stepTrap });
      v.debugCfg = cfg;
    }
    const reason = b.run(single ? 1 : SLICE);
    if (reason !== ExitReason.IO && reason !== ExitReason.MMIO) this._sliceEnded = true;
    switch (reason) {
      case ExitReason.IO:
      case ExitReason.MMIO:
        this._trap(v, reason);
        break;
      case ExitReason.HLT:
        v.halted = true;
        if (single) this._stepped(v);
        break;
      case ExitReason.IRQ_WINDOW:
        b.setInterruptWindow(false);
        break;
      case ExitReason.INTR:
        Atomics.store(this.hdr, Hdr.KICK, 0);
        break;
      case ExitReason.DEBUG:
        this._debugExit(v);
        break;
      case ExitReason.SHUTDOWN: {
        const s = b.getState();
        const msg = `guest triple-faulted at ${hex(s.cs.selector, 4)}:${hex(s.eip, 8)} (linear ${hex(s.cs.base + s.eip, 8)}); the VM is stopped`;
        this._stopAll(v, { vcpu: v.index, reason: 'triple-fault', message: msg, text: msg });
        break;
      }
      case ExitReason.INTERNAL_ERROR:
        this._stopAll(v, { vcpu: v.index, reason: 'internal-error', message: b.exit.message, text: `CPU internal error: ${b.exit.message}` });
        break;
      default:
        break;
    }
  }

  private _stepped(v: Vcpu): void {
    if (v.finishEsp >= 0 && v.stepLeft > 0) {
      // finish: a return has executed once the stack pointer climbed above where it was.
      const s = v.backend.getState();
      const esp = (s.ss.attr & 0x4000 ? s.esp : s.esp & 0xffff) >>> 0;
      const start = (s.ss.attr & 0x4000 ? v.finishEsp : v.finishEsp & 0xffff) >>> 0;
      if (esp > start && this._lastWasReturn) {
        v.finishEsp = -1;
        v.stepLeft = 0;
        this._stop(v, { vcpu: v.index, reason: 'step', addr: (s.cs.base + s.eip) >>> 0, text: `finish: returned to ${hex(s.cs.selector, 4)}:${hex(s.eip, 8)}` });
        return;
      }
      this._lastWasReturn = this._atReturn(v);
      if (--v.stepLeft === 0) {
        v.finishEsp = -1;
        this._stop(v, { vcpu: v.index, reason: 'step', addr: (s.cs.base + s.eip) >>> 0, text: `finish: no return within ${FINISH_LIMIT} instructions` });
      }
      return;
    }
    if (v.stepLeft > 0 && --v.stepLeft === 0) {
      const s = v.backend.getState();
      this._stop(v, { vcpu: v.index, reason: 'step', addr: (s.cs.base + s.eip) >>> 0, text: `step: ${hex(s.cs.selector, 4)}:${hex(s.eip, 8)}` });
    }
  }

  private _lastWasReturn = false;

  // -------------------------------------------------------------------------------------
  // Inter-processor interrupts (SDM vol. 3A 10.6, and 8.4.4 for the INIT-SIPI-SIPI start-up)
  // -------------------------------------------------------------------------------------

  private _ipi(from: Lapic, ipi: Ipi): void {
    const targets = this.vcpus.filter((v) => {
      switch (ipi.shorthand) {
        case Shorthand.SELF: return v.lapic === from;
        case Shorthand.ALL: return true;
        case Shorthand.OTHERS: return v.lapic !== from;
        default: return v.lapic.matches(ipi);
      }
    });
    // Lowest priority: the first target stands in for the arbitration.
    for (const v of ipi.mode === DeliveryMode.LOWEST ? targets.slice(0, 1) : targets) {
      switch (ipi.mode) {
        case DeliveryMode.FIXED:
        case DeliveryMode.LOWEST:
          v.lapic.accept(ipi.vector, ipi.level);
          break;
        case DeliveryMode.NMI:
          v.backend.injectNmi();
          v.halted = false;
          break;
        case DeliveryMode.INIT:
          // INIT level de-assert (level-triggered, deassert) is only a synchronisation message.
          if (ipi.level && !ipi.assert) break;
          v.backend.reset();
          v.lapic.reset();
          v.pendingVector = null;
          v.pendingExit = null;
          v.halted = false;
          v.waitSipi = true;
          break;
        case DeliveryMode.STARTUP:
          if (!v.waitSipi) break;
          // The AP starts in real mode at vector × 4 KiB: CS = vector << 8, IP = 0.
          v.backend.setState({ ...v.backend.getState(), cs: realSegment(ipi.vector << 8, 0x009b), eip: 0 });
          v.waitSipi = false;
          v.halted = false;
          break;
      }
    }
  }

  /** An APIC has something to deliver, or stopped having it: sleeping vCPUs look again. */
  private _apicKicked(): void {
    Atomics.store(this.hdr, Hdr.KICK, 1);
  }

  /** Is the instruction at CS:EIP a return (RET, RET imm, RETF, IRET), after prefixes? */
  private _atReturn(v: Vcpu): boolean {
    const s = v.backend.getState();
    for (let i = 0; i < 15; i++) {
      const lin = (s.cs.base + ((s.eip + i) & (s.cs.attr & 0x4000 ? 0xffffffff : 0xffff))) >>> 0;
      const t = v.backend.translate(lin, false, false);
      if (!t.ok) return false;
      const b = new Uint8Array(1);
      this.mem.read(t.phys, b);
      const op = b[0];
      if ([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3].includes(op)) continue;
      return op === 0xc3 || op === 0xc2 || op === 0xcb || op === 0xca || op === 0xcf;
    }
    return false;
  }

  // -------------------------------------------------------------------------------------
  // Traps: port I/O and MMIO
  // -------------------------------------------------------------------------------------

  private _trap(v: Vcpu, reason: ExitReason.IO | ExitReason.MMIO): void {
    const pio = reason === ExitReason.IO;
    if (v.stepTrap) {
      v.pendingExit = reason;
      this._stopTrap(v, { reason: 'step-trap', text: '' });
      return;
    }
    if (pio ? this.tables.ioCount !== 0 : this.tables.mmioCount !== 0) {
      const id = this._trapBreak(v, pio);
      if (id !== 0) {
        v.pendingExit = reason;
        this._stopTrap(v, { reason: pio ? 'io-breakpoint' : 'mmio-breakpoint', breakpoint: id, text: '' });
        return;
      }
    }
    v.pendingExit = reason;
    this._deliver(v, null);
  }

  /**
   * The trap fast path (TrapFastPath) of a vCPU: the access is delivered from inside run(),
   * exactly as _trap/_deliver would deliver it (same bus, trap log, device-error stop), unless
   * the debugger must see it first - step-trap, or an I/O or MMIO breakpoint armed on that
   * address (the tables' count makes "none armed" one load) - in which case it declines and
   * the CPU takes the exit. Nothing is allocated per access.
   */
  private _fastPath(v: Vcpu): TrapFastPath {
    return {
      read: (kind, addr, size, ip) => this._fastAccess(v, kind === ExitReason.IO, false, addr, size as AccessSize, 0, ip),
      // A write inside the last posted MMIO region (VGA memory) goes straight to the ring: a
      // screen update is thousands of them in a row.
      write: (kind, addr, size, value, ip) =>
        (kind !== ExitReason.IO && addr >= this._postedBase && addr + size <= this._postedEnd && !v.stepTrap &&
          this.tables.mmioCount === 0 && this._post(v, false, addr, size as AccessSize, value, ip, this._postedRegion)) ||
        this._fastAccess(v, kind === ExitReason.IO, true, addr, size as AccessSize, value, ip) >= 0,
      // A REP STOS chunk into a posted region (a screen clear): one ring entry and one trap
      // record for all of it, as for a string I/O exit, where each element would take its own.
      fill: (addr, size, count, value, down, ip) => {
        const lo = down ? addr - (count - 1) * size : addr;
        const hi = (down ? addr : addr + (count - 1) * size) + size;
        if (v.stepTrap || this.tables.mmioCount !== 0 || !this._postedWindow(lo, hi)) return false;
        if (!v.client.fill(IoreqType.COPY, addr, size as AccessSize, count, value, down)) return false;
        this.trapLog.record(v.index, ip, trapInfo(false, false, size as AccessSize, false), addr, value, count, this._postedRegion, null);
        this._traps++;
        return true;
      },
    };
  }

  /**
   * Is [lo, hi) inside one posted MMIO region? Makes that region the last posted one (see
   * _postedBase) if it was not.
   */
  private _postedWindow(lo: number, hi: number): boolean {
    if (lo >= this._postedBase && hi <= this._postedEnd) return true;
    const region = this._mmioRegion(lo);
    if (region < 0 || this._regionKind[region] !== RegionKind.POSTED || hi > this._regionEnd[region]) return false;
    this._setPosted(region);
    return true;
  }

  /** The index of the MMIO region at `addr`, or -1 (the last one found is remembered). */
  private _mmioRegion(addr: number): number {
    const hit = this.mmio.find(addr);
    if (hit === null) return -1;
    if (hit.region === this._lastMmio) return this._lastMmioIdx;
    const region = this._regionIndex.get(hit.region) ?? -1;
    this._lastMmio = hit.region;
    this._lastMmioIdx = region;
    return region;
  }

  private _setPosted(region: number): void {
    this._postedBase = this._regionBase[region];
    this._postedEnd = this._regionEnd[region];
    this._postedRegion = region;
  }

  private _fastAccess(v: Vcpu, pio: boolean, write: boolean, addr: number, size: AccessSize, value: number, ip: number): number {
    if (v.stepTrap) return -1;
    const t = this.tables;
    let region: number;
    if (pio) {
      region = this._pioIdx[addr & 0xffff];
      if (region === PIO_ARMED) return -1;
    } else {
      if (t.mmioCount !== 0 && t.mmioHit(addr, size, write ? Access.WRITE : Access.READ) !== 0) return -1;
      region = this._mmioRegion(addr);
    }
    const kind = region >= 0 ? this._regionKind[region] : RegionKind.OTHER;
    if (kind === RegionKind.POSTED && write && addr + size <= this._regionEnd[region] && this._post(v, pio, addr, size, value, ip, region)) {
      if (!pio) this._setPosted(region);
      return value >>> 0;
    }
    const remote = kind === RegionKind.REMOTE || kind === RegionKind.POSTED;
    if (remote) {
      // The slot is free between requests; it is not when the monitor's `io` command holds it.
      if (v.client.busy) return -1;
      this._timeRemote(v);
    }
    let result: number;
    if (region >= 0 && addr + size <= this._regionEnd[region]) {
      // Inside one region: what the bus would do once it had found it.
      const r = this._regionObj[region];
      const off = addr - this._regionBase[region];
      if (write) {
        dispatchWrite(r, off, size, value);
        result = value >>> 0;
      } else result = dispatchRead(r, off, size);
    } else {
      // Straddling two regions, or nobody's: the bus splits it or answers open bus.
      const bus = (pio ? this.pio : this.mmio) as IoBus<'pio' | 'mmio'>;
      if (write) {
        bus.write(addr as never, size, value);
        result = value >>> 0;
      } else result = bus.read(addr as never, size);
    }
    const failed = remote && v.client.lastFailed;
    const info = trapInfo(pio, !write, size, !remote) | (failed ? TrapInfo.FAILED : 0);
    this.trapLog.record(v.index, ip, info, addr, result, 1, region, remote && v.client.timing ? v.client.hops : null);
    this._traps++;
    const cpu = (v.backend as InterpVcpu).cpu;
    if (failed) {
      this._deviceFailed(v, this._regionInfo[region]?.name);
      cpu.requestStop();
    } else if (remote) {
      // The device model moved an interrupt line while answering, changed the memory map
      // (PAM shadowing, A20) or mapped a range (a PCI BAR): the loop looks at it before the
      // next instruction, as it would have after an exit, and run() picks up the new map.
      const hdr = this.hdr;
      if (Atomics.load(hdr, Hdr.IRQ_SEQ) !== this._irqSeen || Atomics.load(hdr, Hdr.CTL_SEQ) !== this._ctlSeen || cpu.stale) {
        cpu.requestStop();
      }
    } else if (kind === RegionKind.LAPIC && write) {
      // EOI, ICR (IPIs to other vCPUs), timer: let the loop deliver and schedule.
      cpu.requestStop();
    } else if (kind === RegionKind.PIC && write && v.index === 0 && this.pic.intr && v.lapic.passesExtInt) {
      // The 8259's output rose (an unmask, an EOI, a PIT reprogram): deliver it now, or ask for
      // the interrupt window, as the loop does for a pending interrupt.
      if (v.backend.interruptible) cpu.requestStop();
      else v.backend.setInterruptWindow(true);
    }
    return result;
  }

  /**
   * A posted write: the access is in the ring, in order, and nothing comes back (a device-model
   * failure stops the VM when the daemon applies it). What the daemon does in answer (an IRQ, a
   * new mapping) is seen at the next turn of the loop, as after any posted write. False when the
   * ring is full (the caller makes it a round trip, which waits for the ring to drain).
   */
  private _post(v: Vcpu, pio: boolean, addr: number, size: AccessSize, value: number, ip: number, region: number): boolean {
    if (!v.client.post(pio ? IoreqType.PIO : IoreqType.COPY, addr, size, value)) return false;
    this.trapLog.record(v.index, ip, trapInfo(pio, false, size, false), addr, value, 1, region, null);
    this._traps++;
    return true;
  }

  /**
   * Rebuilds _pioIdx (after a change of the regions or of the breakpoints): each port's region,
   * then PIO_ARMED on the ports whose accesses an enabled I/O breakpoint may stop: each port it
   * covers and the three below it (a word or dword access starting there reaches it). The
   * marks arrive with the definitions, before the shared tables arm them, so `break` is in
   * force on the fast path once it returns; the marked ports' accesses exit, and _trapBreak
   * decides exactly. Unmarked ports cost nothing per access, however many are armed.
   */
  private _portTable(): void {
    const idx = this._pioIdx;
    idx.fill(-1);
    for (const index of this._regionIndex.values()) {
      const info = this._regionInfo[index];
      if (info.space === 'pio') idx.fill(index, info.base, Math.min(0x10000, info.base + info.size));
    }
    for (const { def } of this._breakpoints.values()) {
      if (def.type !== 'io' || !def.enabled) continue;
      for (let p = def.addr - 3; p <= Math.min(def.end, 0xffff); p++) idx[p & 0xffff] = PIO_ARMED;
    }
  }

  /** Which armed I/O or MMIO breakpoint (if any) stops this access: 0 for none. */
  private _trapBreak(v: Vcpu, pio: boolean): number {
    const ex = v.backend.exit;
    const write = ex.dir === IoDir.WRITE;
    if (pio) {
      let armed = false;
      for (let p = ex.addr; p < ex.addr + ex.size; p++) if (this.tables.ioArmed(p & 0xffff)) armed = true;
      if (!armed) return 0;
    } else if (this.tables.mmioHit(ex.addr, ex.size, write ? Access.WRITE : Access.READ) === 0) return 0;
    for (const bp of this._breakpoints.values()) {
      const d = bp.def;
      if (d.type !== (pio ? 'io' : 'mmio') || !d.enabled) continue;
      if (ex.addr + ex.size - 1 < d.addr || ex.addr > d.end) continue;
      if ((d.access === 'r' && write) || (d.access === 'w' && !write)) continue;
      if (this._crossing(v, bp, (n) => {
        switch (n) {
          case 'value': return write ? ex.value() & (ex.size === 4 ? 0xffffffff : (1 << (ex.size * 8)) - 1) : undefined;
          case 'port': return pio ? ex.addr : undefined;
          case 'addr': return ex.addr;
          case 'size': return ex.size;
          case 'write': return write ? 1 : 0;
        }
        return undefined;
      })) return d.id;
    }
    return 0;
  }

  private _vectorBreak(v: Vcpu, vector: number): boolean {
    for (const bp of this._breakpoints.values()) {
      const d = bp.def;
      if (d.type !== 'interrupt' || !d.enabled || vector < d.addr || vector > d.end) continue;
      if (this._crossing(v, bp, (n) => (n === 'vector' ? vector : undefined))) {
        this._stopTrap(v, { reason: 'interrupt', breakpoint: d.id, vector, text: `interrupt breakpoint ${d.id}: vector ${hex(vector, 2)}` });
        return true;
      }
    }
    return false;
  }

  /**
   * A breakpoint's address matched: apply its vCPU filter, condition, hit and ignore counts
   * (gdb's order: a crossing whose condition is false does not count). True = stop here.
   */
  private _crossing(v: Vcpu, bp: ArmedBreakpoint, vars: (n: string) => number | undefined): boolean {
    const d = bp.def;
    if (d.vcpu !== undefined && d.vcpu !== v.index) return false;
    if (bp.cond) {
      let state: CpuState | null = null;
      const lookup = (n: string): number | undefined => {
        if (n.startsWith('$')) {
          state ??= v.backend.getState();
          return readRegister(state, n.slice(1));
        }
        return vars(n);
      };
      try {
        if (!bp.cond.test(lookup)) return false;
      } catch {
        // A condition that cannot be evaluated here stops, as gdb does, so it is noticed.
      }
    }
    Atomics.add(this.hits, d.id, 1);
    if (d.ignore > 0) {
      d.ignore--;
      return false;
    }
    if (d.temporary) {
      d.enabled = false;
      this._emit({ t: 'temporary-hit', id: d.id });
    }
    return true;
  }

  /** The pending request of a stopped vCPU, as the user sees it. */
  private _pending(v: Vcpu): PendingIoreq | undefined {
    if (v.pendingExit === null) return undefined;
    const ex = v.backend.exit;
    const pio = v.pendingExit === ExitReason.IO;
    const hit = (pio ? this.pio : this.mmio).find(ex.addr);
    const write = ex.dir === IoDir.WRITE;
    const reg = hit?.region.registerName?.(ex.addr - hit.base, write ? 'write' : 'read') ?? null;
    const mask = ex.size === 4 ? 0xffffffff : (1 << (ex.size * 8)) - 1;
    return {
      space: pio ? 'pio' : 'mmio', addr: ex.addr, size: ex.size, dir: write ? 'write' : 'read',
      value: write ? (ex.value() & mask) >>> 0 : null, count: ex.count,
      device: hit?.region.name ?? null, register: reg,
    };
  }

  /**
   * Delivers the pending trap to its device (or, with `answer`, answers a read without it)
   * and completes the instruction.
   */
  private _deliver(v: Vcpu, override: { answer?: number; skip?: boolean } | null): void {
    const kind = v.pendingExit!;
    v.pendingExit = null;
    const b = v.backend;
    const ex = b.exit;
    const pio = kind === ExitReason.IO;
    const bus = (pio ? this.pio : this.mmio) as IoBus<'pio' | 'mmio'>;
    const hit = bus.find(ex.addr);
    const remote = hit !== null && hit.region instanceof RemoteRange;
    const read = ex.dir === IoDir.READ;
    if (remote) this._timeRemote(v);
    let value = 0;
    let info = trapInfo(pio, read, ex.size, !remote);
    if (override?.answer !== undefined || override?.skip) {
      // Fault injection / skip: the device never sees it. A skipped read floats high.
      const mask = ex.size === 4 ? 0xffffffff : (1 << (ex.size * 8)) - 1;
      value = override.answer !== undefined ? override.answer & mask : mask;
      if (read) for (let i = 0; i < ex.count; i++) for (let k = 0; k < ex.size; k++) ex.data[i * ex.size + k] = (value >>> (8 * k)) & 0xff;
      info |= TrapInfo.STOPPED;
    } else if (read) {
      if (ex.count === 1) {
        value = bus.read(ex.addr as never, ex.size);
        ex.setValue(value);
      } else bus.readRep(ex.addr as never, ex.size, ex.count, ex.data);
    } else {
      value = ex.value();
      if (ex.count === 1) bus.write(ex.addr as never, ex.size, value);
      else bus.writeRep(ex.addr as never, ex.size, ex.count, ex.data);
    }
    const failed = remote && v.client.lastFailed && override === null;
    if (failed) info |= TrapInfo.FAILED;
    const region = hit ? this._regionIndex.get(hit.region) ?? -1 : -1;
    this.trapLog.record(v.index, ex.ip, info, ex.addr, value, ex.count, region, remote && override === null && v.client.timing ? v.client.hops : null);
    this._traps++;
    b.completeIo();
    if (failed) this._deviceFailed(v, hit?.region.name);
  }

  /** The next remote trap is timed if one is due (see _timeNext). */
  private _timeRemote(v: Vcpu): void {
    v.client.timing = this._timeNext;
    this._timeNext = false;
  }

  /** A device model threw while answering this vCPU: the VM stops, naming the device. */
  private _deviceFailed(v: Vcpu, regionName: string | undefined): void {
    this._drainDm();
    const e = this._lastDeviceError;
    const msg = e ? `device ${e.device} failed: ${e.message}` : `device ${regionName ?? '?'} failed`;
    this._stopAll(v, { vcpu: v.index, reason: 'device-error', message: msg, text: `${msg}; the VM is stopped` });
  }

  // -------------------------------------------------------------------------------------
  // Debug exits from the backend
  // -------------------------------------------------------------------------------------

  private _debugExit(v: Vcpu): void {
    const ex = v.backend.exit;
    switch (ex.debug) {
      case 'step':
        this._stepped(v);
        return;
      case 'breakpoint': {
        const id = this.tables.execAt(ex.debugAddr);
        const bp = this._breakpoints.get(id);
        if (bp && bp.def.enabled && this._crossing(v, bp, (n) => (n === 'addr' ? ex.debugAddr : undefined))) {
          this._stop(v, { vcpu: v.index, reason: 'breakpoint', breakpoint: id, addr: ex.debugAddr, text: `breakpoint ${id} at ${hex(ex.debugAddr, 8)}` });
        } else v.backend.skipBreakpointOnce();
        return;
      }
      case 'watch': {
        const access = ex.watchWrite ? Access.WRITE : Access.READ;
        for (const bp of this._breakpoints.values()) {
          const d = bp.def;
          if (d.type !== 'watch' || !d.enabled) continue;
          if (ex.debugAddr + ex.watchSize - 1 < d.addr || ex.debugAddr > d.end) continue;
          if ((d.access === 'r' && access === Access.WRITE) || (d.access === 'w' && access === Access.READ)) continue;
          if (this._crossing(v, bp, (n) => (n === 'addr' ? ex.debugAddr : n === 'size' ? ex.watchSize : n === 'write' ? +ex.watchWrite : undefined))) {
            this._stop(v, {
              vcpu: v.index, reason: 'watchpoint', breakpoint: d.id, addr: ex.debugAddr, size: ex.watchSize, write: ex.watchWrite,
              text: `watchpoint ${d.id}: ${ex.watchWrite ? 'write' : 'read'} of ${ex.watchSize} bytes at ${hex(ex.debugAddr, 8)}`,
            });
            return;
          }
        }
        if (v.stepLeft > 0) this._stepped(v);
        return;
      }
      case 'vector': {
        if (v.stepTrap) {
          this._stopTrap(v, { reason: 'step-trap', vector: ex.vector, errorCode: ex.errorCode, text: '' });
          return;
        }
        if (this._vectorBreak(v, ex.vector)) return;
        return;
      }
    }
  }

  // -------------------------------------------------------------------------------------
  // Stopping and resuming
  // -------------------------------------------------------------------------------------

  private _describeTrap(p: PendingIoreq): string {
    const what = p.space === 'pio'
      ? `${p.dir === 'read' ? 'in' : 'out'}${p.size === 1 ? 'b' : p.size === 2 ? 'w' : 'l'} ${hex(p.addr, 4)}`
      : `${p.dir} ${p.size} bytes at ${hex(p.addr, 8)}`;
    const dev = p.device ? ` (${p.device}${p.register ? ' ' + p.register : ''})` : ' (unassigned)';
    const val = p.value !== null ? ` <- ${hex(p.value, p.size * 2)}` : '';
    const rep = p.count > 1 ? ` ×${p.count}` : '';
    return what + dev + val + rep;
  }

  /** Stop in front of a trap (I/O, MMIO, interrupt or exception delivery). */
  private _stopTrap(v: Vcpu, s: Omit<StopInfo, 'vcpu'>): void {
    const info: StopInfo = { vcpu: v.index, ...s };
    info.ioreq = this._pending(v);
    if (v.stepTrap) v.stepTrap = false;
    const label = s.reason === 'step-trap' ? 'step-trap' : s.breakpoint !== undefined ? `${s.reason} ${s.breakpoint}` : s.reason;
    if (info.ioreq) info.text = `${label}: ${this._describeTrap(info.ioreq)}`;
    else if (s.vector !== undefined && !s.text) info.text = `${label}: vector ${hex(s.vector, 2)}${s.errorCode !== undefined && s.errorCode >= 0 ? ` error code ${hex(s.errorCode)}` : ''} about to be delivered`;
    if (v.pendingExit !== null) info.addr = v.backend.exit.ip;
    this._stop(v, info);
  }

  /**
   * The vCPU that hit something stops. In all-stop mode (the default) the others stop with it,
   * each with its own 'pause' stop; in non-stop mode they run on. Machine-wide failures (triple
   * fault, device error) stop everything in either mode.
   */
  private _stop(v: Vcpu, info: StopInfo, everything = false): void {
    v.stepLeft = 0;
    v.finishEsp = -1;
    v.stepTrap = false;
    v.stop = info;
    v.running = false;
    this._emit({ t: 'stop', info });
    if (!this._nonStop || everything) {
      for (const x of this.vcpus) {
        if (!x.running) continue;
        x.running = false;
        x.stop = { vcpu: x.index, reason: 'pause', text: `paused because vCPU ${v.index} stopped` };
        this._emit({ t: 'stop', info: x.stop });
      }
    }
    if (!this.vcpus.some((x) => x.running)) this.clock.freeze();
  }

  /** Non-stop mode: a breakpoint or step stops only its own vCPU. */
  private _nonStop = false;

  private _stopAll(v: Vcpu, info: StopInfo): void {
    this._stop(v, info, true);
  }

  private _resume(which: number | undefined, quiet = false): void {
    for (const v of this.vcpus) {
      if (which !== undefined && v.index !== which) continue;
      if (v.stop?.reason === 'triple-fault' || v.stop?.reason === 'device-error' || v.stop?.reason === 'internal-error') {
        throw new Error(`vCPU ${v.index} cannot continue after ${v.stop.reason.replace('-', ' ')}; use system_reset`);
      }
      this._passBreakpoint(v);
      v.running = true;
      v.stop = null;
      if (!quiet) this._emit({ t: 'resume', vcpu: v.index });
    }
    this.clock.thaw();
  }

  private _pause(which: number | undefined, quiet: boolean): void {
    const targets = this.vcpus.filter((v) => v.running && (which === undefined || v.index === which));
    for (const v of targets) {
      v.running = false;
      v.stop = { vcpu: v.index, reason: 'pause', text: 'paused' };
      if (!quiet) this._emit({ t: 'stop', info: v.stop });
    }
    if (!this.vcpus.some((v) => v.running)) this.clock.freeze();
  }

  private _resetCpus(): void {
    for (const v of this.vcpus) {
      v.backend.reset();
      if (v.index === 0 && this.init.boot) v.backend.setState({ ...v.backend.getState(), ...this.init.boot });
      v.halted = false;
      v.waitSipi = v.index !== 0;
      v.lapic.powerOn();
      v.pendingExit = null;
      v.pendingVector = null;
      v.stepLeft = 0;
      v.stepTrap = false;
      if (v.stop && v.stop.reason !== 'pause') v.stop = { vcpu: v.index, reason: 'pause', text: 'paused' };
    }
    for (const d of this.coreDevices) if (!(d instanceof Lapic)) d.reset();
    this._daemonLevels = 0;
    this._coreLevels = 0;
  }

  // -------------------------------------------------------------------------------------
  // Commands
  // -------------------------------------------------------------------------------------

  private _vcpu(i: number | undefined): Vcpu {
    const v = this.vcpus[i ?? 0];
    if (!v) throw new Error(`there is no vCPU ${i}; this VM has ${this.vcpus.length}`);
    return v;
  }

  private _command(cmd: VcpuCommand): void {
    try {
      const result = this._execute(cmd);
      this._emit({ t: 'reply', rid: cmd.rid, ok: true, result: result ?? null });
    } catch (e) {
      this._emit({ t: 'reply', rid: cmd.rid, ok: false, error: errorMessage(e) });
    }
  }

  private _execute(cmd: VcpuCommandBody): unknown {
    switch (cmd.t) {
      case 'pause':
        this._pause(cmd.vcpu, cmd.quiet ?? false);
        return null;
      case 'cont':
        this._resume(cmd.vcpu, cmd.quiet ?? false);
        return null;
      case 'step': {
        const v = this._vcpu(cmd.vcpu);
        if (v.running) throw new Error(`vCPU ${v.index} is running; stop it first`);
        this._resumeFor(v);
        v.stepLeft = Math.max(1, cmd.count);
        return null;
      }
      case 'step-trap': {
        const v = this._vcpu(cmd.vcpu);
        if (v.running) throw new Error(`vCPU ${v.index} is running; stop it first`);
        this._resumeFor(v);
        v.stepTrap = true;
        return null;
      }
      case 'get-state': {
        const v = this._vcpu(cmd.vcpu);
        return { state: v.backend.getState(), stop: v.stop, running: v.running, halted: v.halted, pending: this._pending(v) ?? null };
      }
      case 'set-state': {
        const v = this._vcpu(cmd.vcpu);
        if (v.running) throw new Error(`vCPU ${v.index} is running; stop it before writing registers`);
        v.backend.setState(cmd.state);
        return null;
      }
      case 'ioreq': {
        const v = this._vcpu(cmd.vcpu);
        if (v.running || v.pendingExit === null) throw new Error(`vCPU ${v.index} is not stopped at an I/O or MMIO request`);
        const ex = v.backend.exit;
        const read = ex.dir === IoDir.READ;
        switch (cmd.action) {
          case 'let':
            this._clientRef.current = v.client;
            this._deliver(v, null);
            break;
          case 'set':
            if (read) throw new Error('the pending request is a read; use answer to give its value');
            if (cmd.value === undefined) throw new Error('ioreq set needs a value');
            if (ex.count > 1) throw new Error('cannot change the data of a string I/O request');
            ex.setValue(cmd.value);
            if (v.stop) v.stop.ioreq = this._pending(v);
            return this._pending(v);
          case 'answer':
            if (!read) throw new Error('the pending request is a write; use set to change its value, or skip');
            if (cmd.value === undefined) throw new Error('ioreq answer needs a value');
            this._deliver(v, { answer: cmd.value });
            break;
          case 'skip':
            this._deliver(v, { skip: true });
            break;
        }
        if (v.stop) v.stop.ioreq = undefined;
        return null;
      }
      case 'breakpoints': {
        const next = new Map<number, ArmedBreakpoint>();
        for (const def of cmd.list) {
          const prev = this._breakpoints.get(def.id);
          next.set(def.id, { def, cond: def.condition ? prev?.cond?.source === def.condition ? prev.cond : new Condition(def.condition) : null });
        }
        this._breakpoints = next;
        this._portTable();
        return null;
      }
      case 'translate': {
        const v = this._vcpu(cmd.vcpu);
        return v.backend.translate(cmd.addr >>> 0, cmd.write, false);
      }
      case 'reset': {
        const running = this.vcpus.map((v) => v.running);
        this._resetCpus();
        this.vcpus.forEach((v, i) => (v.running = running[i]));
        return null;
      }
      case 'inspect': {
        const d = this.coreDevices.find((x) => x.id === cmd.id);
        if (!d) throw new Error(`no in-core device ${cmd.id}`);
        return d.inspect();
      }
      case 'snapshot':
        return {
          devices: Object.fromEntries(this.coreDevices.map((d) => [d.id, d.snapshot()])),
          cpus: this.vcpus.map((v) => v.backend.getState()),
        };
      case 'restore':
        for (const d of this.coreDevices) if (cmd.devices[d.id]) d.restore(cmd.devices[d.id]);
        cmd.cpus.forEach((s, i) => this._vcpu(i).backend.setState(s));
        return null;
      case 'stats': {
        const s: VcpuStats = {
          icount: this.vcpus.map((v) => v.backend.icount),
          traps: this.trapLog.total,
          running: this.vcpus.map((v) => v.running),
          halted: this.vcpus.map((v) => v.halted),
          clock: this.clock.now(),
          heapUsed: getHeapStatistics().used_heap_size,
        };
        return s;
      }
      case 'io': {
        const bus = (cmd.space === 'pio' ? this.pio : this.mmio) as IoBus<'pio' | 'mmio'>;
        this._clientRef.current = this.vcpus[0].client;
        if (this.vcpus[0].client?.busy) throw new Error('the ioreq slot is busy; try again');
        const t0 = stamp();
        const hit = bus.find(cmd.addr);
        const region = hit ? this._regionIndex.get(hit.region) ?? -1 : -1;
        let value = cmd.value >>> 0;
        if (cmd.write) bus.write(cmd.addr as never, cmd.size, value);
        else value = bus.read(cmd.addr as never, cmd.size);
        const info = trapInfo(cmd.space === 'pio', !cmd.write, cmd.size, true);
        this.trapLog.record(-1, 0, info, cmd.addr, value, 1, region, Float64Array.of(t0, 0, stamp()));
        // (The reply's _emit publishes the write, if posted, and this entry.)
        return { value };
      }
      case 'finish': {
        const v = this._vcpu(cmd.vcpu);
        if (v.running) throw new Error(`vCPU ${v.index} is running; stop it first`);
        this._resumeFor(v);
        v.finishEsp = v.backend.getState().esp >>> 0;
        v.stepLeft = FINISH_LIMIT;
        this._lastWasReturn = this._atReturn(v);
        return null;
      }
      case 'mode':
        this._nonStop = cmd.nonStop;
        return { nonStop: this._nonStop };
      case 'fail': {
        const v = this.vcpus.find((x) => x.running) ?? this.vcpus[0];
        if (v.stop && v.stop.reason === cmd.reason) return null;
        this._stop(v, { vcpu: v.index, reason: cmd.reason, message: cmd.message, text: `${cmd.message}; the VM is stopped` }, true);
        return null;
      }
      case 'quit':
        this._quit = true;
        return null;
    }
  }

  /** Step and step-trap run one stopped vCPU without announcing a resume. */
  private _resumeFor(v: Vcpu): void {
    if (v.stop?.reason === 'triple-fault' || v.stop?.reason === 'device-error' || v.stop?.reason === 'internal-error') {
      throw new Error(`vCPU ${v.index} cannot run after ${v.stop.reason.replace('-', ' ')}; use system_reset`);
    }
    this._passBreakpoint(v);
    v.running = true;
    v.stop = null;
    this.clock.thaw();
  }

  /**
   * A vCPU stopped on an exec breakpoint that still sits on it executes that instruction when
   * it runs again, instead of stopping at once: what EFLAGS.RF does for a hardware debugger.
   * (Moved elsewhere, by a register write, it stops at a breakpoint there as usual.)
   */
  private _passBreakpoint(v: Vcpu): void {
    const st = v.stop;
    if (st?.reason !== 'breakpoint' || st.addr === undefined) return;
    const s = v.backend.getState();
    if (((s.cs.base + s.eip) >>> 0) === st.addr) v.backend.skipBreakpointOnce();
  }

  get regionInfo(): readonly RegionInfo[] {
    return this._regionInfo;
  }

  get traps(): number {
    return this._traps;
  }
}

/** Entry for the worker: `workerData` carries the init and two ports. */
export function runVcpuThread(init: VcpuThreadInit, main: MessagePort, dm: MessagePort): void {
  let t: VcpuThread;
  try {
    t = new VcpuThread(init, main, dm);
  } catch (e) {
    main.postMessage({ t: 'fatal', message: `vCPU thread failed to start: ${errorMessage(e)}` } satisfies VcpuEvent);
    return;
  }
  t.run();
}
