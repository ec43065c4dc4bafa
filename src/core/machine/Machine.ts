// The machine: the VM's lifecycle on the main thread. It lays out guest memory, starts the
// device-model worker and the vCPU worker, and turns their messages into events
// (stop/resume/reset/shutdown/output) for the monitor, the debugger and the CLI. It never runs
// guest code itself, so the main thread stays free for clients.

import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { HvmonError, UsageError, errorMessage } from '../../common/errors.js';
import type { Inspection } from '../../common/device.js';
import type { DaemonCommandBody, DaemonEvent, DaemonInit, DevicePeek, DeviceListing, DeviceSpec } from '../../devices/daemon/protocol.js';
import { DebugTables } from '../debug/DebugTables.js';
import { TrapLog } from '../debug/TrapLog.js';
import type { StopInfo } from '../debug/types.js';
import { createIoreqBuffer, Hdr, IoreqViews } from '../ioreq/abi.js';
import { GuestMemory } from '../memory/GuestMemory.js';
import type { CpuState } from '../vcpu/CpuState.js';
import type { RegionInfo, VcpuCommandBody, VcpuEvent, VcpuStats, VcpuThreadInit } from '../vcpu/protocol.js';
import { PC, PLATFORM, pcDevices, SEAVGABIOS_ISA, type PcOptions } from './boards/pc.js';
import { biosPlan, bootSectorPlan, multibootPlan, type BootPlan } from './loaders.js';
import { spawnWorker, workerModule } from './spawn.js';

export type BootConfig =
  | { kind: 'bootsector'; image: string }
  | { kind: 'bios'; path: string }
  | { kind: 'kernel'; path: string; cmdline: string }
  | { kind: 'none' };

export interface MachineConfig {
  ramSize: number;
  vcpus: number;
  boot: BootConfig;
  pc: PcOptions;
  startPaused: boolean;
  /** Extra devices for tests, after the board's (rarely needed). */
  devices?: DeviceSpec[];
  /** Device-kind plugin modules for the daemon (see registry.registerDeviceKind). */
  plugins?: string[];
}

export type RunState = 'running' | 'paused' | 'debug' | 'shutdown' | 'internal-error' | 'quit';

export interface MachineEvents {
  stop: [StopInfo];
  resume: [number];
  reset: ['host' | 'guest'];
  /** Bytes from a device's character backend (serial, debugcon). */
  output: [string, Uint8Array];
  'device-event': [string, string, Record<string, unknown>];
  /** The guest asked the host to exit (isa-debug-exit). */
  exit: [number];
  'temporary-hit': [number];
  quit: [];
}

const COMMAND_TIMEOUT_MS = 10_000;
/** How long a stop event waits for the device model to send the output made before it. */
const SETTLE_MS = 250;

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
  what: string;
}

export class Machine extends EventEmitter<MachineEvents> {
  readonly tables = new DebugTables();
  readonly trapLog = new TrapLog();
  readonly hits = new Int32Array(new SharedArrayBuffer(65536 * 4));
  readonly views: IoreqViews;
  regions: RegionInfo[] = [];
  /** Last stop of each vCPU (null while it runs). */
  readonly stops: (StopInfo | null)[];
  private _state: RunState = 'paused';
  private _vcpuWorker: Worker | null = null;
  private _daemonWorker: Worker | null = null;
  private _vcpuPort: MessagePort | null = null;
  private _seq = 0;
  private readonly _pendingVcpu = new Map<number, Pending>();
  private readonly _pendingDaemon = new Map<number, Pending>();
  private _quitting = false;
  /** quit() has begun: workers exiting now is expected, not a crash. */
  private _leaving = false;

  private constructor(
    readonly config: MachineConfig,
    readonly mem: GuestMemory,
    readonly plan: BootPlan,
    readonly devices: DeviceSpec[],
  ) {
    super();
    this.views = new IoreqViews(createIoreqBuffer(config.vcpus), config.vcpus);
    this.stops = new Array<StopInfo | null>(config.vcpus).fill(null);
  }

  static plan(cfg: MachineConfig): BootPlan {
    switch (cfg.boot.kind) {
      case 'bootsector': return bootSectorPlan(cfg.boot.image);
      case 'bios': return biosPlan(cfg.boot.path);
      case 'kernel': return multibootPlan(cfg.boot.path, cfg.boot.cmdline, cfg.ramSize);
      case 'none': return { blobs: [], entry: null, roms: [], describe: 'no firmware' };
    }
  }

  /** Builds memory, starts both workers and waits until they are ready. */
  static async start(cfg: MachineConfig): Promise<Machine> {
    if (cfg.ramSize < 0x100000) throw new HvmonError(`a PC needs at least 1 MiB of RAM (asked for ${cfg.ramSize} bytes)`);
    const plan = Machine.plan(cfg);
    const mem = GuestMemory.create(cfg.ramSize, plan.roms.map((r) => ({ name: r.name, data: r.data })));
    // RAM: conventional memory, then everything above 1 MiB. 0A0000h-0BFFFFh is the VGA
    // window; 0C0000h-0FFFFFh is decided by the chipset's PAM registers (the ROM side at reset).
    mem.mapRam(0, Math.min(cfg.ramSize, PC.LOW_RAM_END));
    if (cfg.ramSize > 0x100000) mem.mapRam(0x100000, cfg.ramSize - 0x100000);
    for (const r of plan.roms) for (const m of r.maps) mem.mapRom(r.name, m.base, m.size);
    // A BIOS gets the VGA option ROM through fw_cfg, as QEMU's isa-vga provides it.
    const vgaRom = cfg.pc.vgaRom !== undefined ? cfg.pc.vgaRom : cfg.boot.kind === 'bios' && existsSync(SEAVGABIOS_ISA) ? SEAVGABIOS_ISA : null;
    const devices = [...pcDevices({ ...cfg.pc, ramSize: cfg.ramSize, cpus: cfg.vcpus, vgaRom }), ...(cfg.devices ?? [])];
    const m = new Machine(cfg, mem, plan, devices);
    m._writeBlobs();
    try {
      await m._startWorkers();
    } catch (e) {
      await m._terminate();
      throw e;
    }
    return m;
  }

  get state(): RunState {
    return this._state;
  }

  get running(): boolean {
    return this._state === 'running';
  }

  private _writeBlobs(): void {
    for (const b of this.plan.blobs) this.mem.write(b.addr, b.data);
  }

  /**
   * Starts the device model and the vCPU thread side by side (each spends most of its start-up
   * loading modules, so on two cores this halves it). The vCPU thread starts paused whatever
   * the configuration says, and runs only once the device model is ready: by then it has
   * announced its ranges, which the vCPU thread picks up before it looks at a command.
   */
  private async _startWorkers(): Promise<void> {
    const dmToCore = new MessageChannel();
    const mainToCore = new MessageChannel();
    const daemonReady = this._startDaemon(dmToCore.port1);
    const vcpuReady = this._startVcpu(mainToCore, dmToCore.port2);
    // Both are awaited, so neither rejection goes unhandled; the first failure is reported.
    const [d, v] = await Promise.allSettled([daemonReady, vcpuReady]);
    if (d.status === 'rejected') throw d.reason;
    if (v.status === 'rejected') throw v.reason;
    if (this.config.startPaused) {
      this._state = 'paused';
      for (let i = 0; i < this.stops.length; i++) this.stops[i] = { vcpu: i, reason: 'pause', text: 'paused (-S)' };
    } else {
      await this.vcpu({ t: 'cont' });
      this._state = 'running';
    }
  }

  private async _startDaemon(core: MessagePort): Promise<void> {
    const daemonInit: DaemonInit = {
      mem: this.mem.desc, ioreq: this.views.buffer, vcpus: this.config.vcpus, devices: this.devices,
      plugins: this.config.plugins ? await Promise.all(this.config.plugins.map(workerModule)) : undefined,
    };
    const daemon = await spawnWorker(new URL('../../devices/daemon/worker.ts', import.meta.url), {
      workerData: { init: daemonInit, core },
      transferList: [core],
    });
    this._daemonWorker = daemon;
    await new Promise<void>((resolve, reject) => {
      const onMsg = (e: DaemonEvent): void => {
        if (e.t === 'ready') {
          daemon.off('error', onErr);
          daemon.off('exit', onExit);
          resolve();
        } else if (e.t === 'fatal') reject(e.usage ? new UsageError(e.message) : new HvmonError(e.message));
        else this._onDaemon(e);
      };
      const onErr = (err: Error): void => reject(new HvmonError(`the device model failed to start: ${err.message}`));
      const onExit = (code: number): void => reject(new HvmonError(`the device model exited during start-up (status ${code})`));
      daemon.on('message', onMsg);
      daemon.once('error', onErr);
      daemon.once('exit', onExit);
    }).finally(() => {
      daemon.removeAllListeners('message');
    });
    daemon.on('message', (e: DaemonEvent) => this._onDaemon(e));
    daemon.on('error', (err) => this._workerDied('device model', err));
    daemon.on('exit', (code) => this._workerExited('device model', code));
  }

  private async _startVcpu(mainToCore: MessageChannel, dm: MessagePort): Promise<void> {
    const vcpuInit: VcpuThreadInit = {
      mem: this.mem.desc, ioreq: this.views.buffer, vcpus: this.config.vcpus, debug: this.tables.buffer,
      trapLog: this.trapLog.buffer, hits: this.hits.buffer as SharedArrayBuffer, platform: PLATFORM,
      boot: this.plan.entry, startPaused: true,
    };
    const vcpu = await spawnWorker(new URL('../vcpu/worker.ts', import.meta.url), {
      workerData: { init: vcpuInit, main: mainToCore.port2, dm },
      transferList: [mainToCore.port2, dm],
    });
    this._vcpuWorker = vcpu;
    this._vcpuPort = mainToCore.port1;
    await new Promise<void>((resolve, reject) => {
      this._vcpuPort!.on('message', (e: VcpuEvent) => {
        if (e.t === 'ready') resolve();
        else if (e.t === 'fatal' && this._state !== 'running') reject(new HvmonError(e.message));
        this._onVcpu(e);
      });
      vcpu.once('error', (err) => reject(new HvmonError(`the vCPU thread failed to start: ${err.message}`)));
    });
    vcpu.on('error', (err) => this._workerDied('vCPU thread', err));
    vcpu.on('exit', (code) => this._workerExited('vCPU thread', code));
  }

  private _workerDied(what: string, err: Error): void {
    if (this._quitting || this._leaving) return;
    this._state = 'internal-error';
    const info: StopInfo = { vcpu: 0, reason: 'internal-error', message: `${what} crashed: ${err.message}`, text: `${what} crashed: ${err.message}` };
    this.stops.fill(info);
    this.emit('stop', info);
  }

  private _workerExited(what: string, code: number): void {
    if (this._quitting || this._leaving) return;
    this._workerDied(what, new Error(`exited with status ${code}`));
  }

  // -------------------------------------------------------------------------------------
  // Messages from the workers
  // -------------------------------------------------------------------------------------

  private _onVcpu(e: VcpuEvent): void {
    switch (e.t) {
      case 'reply': {
        const p = this._pendingVcpu.get(e.rid);
        if (!p) return;
        this._pendingVcpu.delete(e.rid);
        clearTimeout(p.timer);
        if (e.ok) p.resolve(e.result);
        else p.reject(new HvmonError(e.error));
        return;
      }
      case 'stop':
        this.stops[e.info.vcpu] = e.info;
        // With other vCPUs still running (non-stop), the VM as a whole still runs.
        if (this.stops.some((s) => s === null)) this._state = 'running';
        else if (e.info.reason !== 'pause' || this._state === 'running') this._state = stateFor(this._worstStop());
        // A guest stopped by itself (a breakpoint, a step, a fault) may have just printed: its
        // output comes from the device model's thread, so the stop waits for it.
        this._inOrder(e.info.reason !== 'pause', () => this.emit('stop', e.info));
        return;
      case 'resume':
        this.stops[e.vcpu] = null;
        if (this.stops.every((s) => s === null)) this._state = 'running';
        this._inOrder(false, () => this.emit('resume', e.vcpu));
        return;
      case 'regions':
        this.regions = e.list;
        return;
      case 'temporary-hit':
        this.emit('temporary-hit', e.id);
        return;
      case 'fatal':
        this._workerDied('vCPU thread', new Error(e.message));
        return;
      case 'ready':
        return;
    }
  }

  private _onDaemon(e: DaemonEvent): void {
    switch (e.t) {
      case 'reply': {
        const p = this._pendingDaemon.get(e.rid);
        if (!p) return;
        this._pendingDaemon.delete(e.rid);
        clearTimeout(p.timer);
        if (e.ok) p.resolve(e.result);
        else p.reject(new HvmonError(e.error));
        return;
      }
      case 'output':
        this.emit('output', e.device, e.data);
        return;
      case 'event':
        this.emit('device-event', e.device, e.name, e.data);
        return;
      case 'device-error':
        // The vCPU that made the request stops by itself; a failure outside a request
        // (a device timer) stops the VM from here.
        setTimeout(() => {
          if (this._state === 'running') {
            this.vcpu({ t: 'fail', reason: 'device-error', message: `device ${e.device} failed: ${e.message}` }).catch(() => undefined);
          }
        }, 20);
        return;
      case 'request':
        if (e.kind === 'reset') void this.reset('guest').catch(() => undefined);
        else this.emit('exit', e.status);
        return;
      case 'screen-dirty':
      case 'ready':
        return;
      case 'fatal':
        this._workerDied('device model', new Error(e.message));
        return;
    }
  }

  private _eventChain: Promise<void> = Promise.resolve();
  private _eventsQueued = 0;

  /**
   * Emits a stop or resume in the order the vCPU thread sent them. With `settle`, first the
   * device model sends all its output so far, so that a client sees what the guest printed
   * before the stop ahead of the stop (the two come from different threads). A device model
   * that does not answer within SETTLE_MS does not hold the event back.
   */
  private _inOrder(settle: boolean, emit: () => void): void {
    if (!settle && this._eventsQueued === 0) {
      emit();
      return;
    }
    this._eventsQueued++;
    this._eventChain = this._eventChain.then(async () => {
      if (settle && this._daemonWorker && !this._quitting) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          this.daemon({ t: 'flush' }).catch(() => undefined),
          new Promise<void>((r) => (timer = setTimeout(r, SETTLE_MS))),
        ]);
        clearTimeout(timer);
      }
      this._eventsQueued--;
      try {
        emit();
      } catch {
        // A listener's failure is its own; later events still go out.
      }
    });
  }

  /** The stop that describes the VM: a failure or a debug stop rather than a plain pause. */
  private _worstStop(): StopInfo {
    const all = this.stops.filter((s): s is StopInfo => s !== null);
    return all.find((s) => s.reason !== 'pause') ?? all[0];
  }

  // -------------------------------------------------------------------------------------
  // Commands to the workers
  // -------------------------------------------------------------------------------------

  /** A command to the vCPU thread; resolves with its reply. */
  vcpu<T = unknown>(body: VcpuCommandBody): Promise<T> {
    if (!this._vcpuPort || this._quitting) return Promise.reject(new HvmonError('the VM is not running'));
    const id = ++this._seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pendingVcpu.delete(id);
        reject(new HvmonError(`the vCPU thread did not answer ${body.t} within ${COMMAND_TIMEOUT_MS / 1000} s`));
      }, COMMAND_TIMEOUT_MS);
      this._pendingVcpu.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, what: body.t });
      this._vcpuPort!.postMessage({ ...body, rid: id });
      // The vCPU thread looks at its port only when MAIL moves; KICK makes a running guest
      // leave run() promptly and the wake makes a sleeping thread look now.
      const hdr = this.views.hdr;
      Atomics.add(hdr, Hdr.MAIL, 1);
      Atomics.store(hdr, Hdr.KICK, 1);
      Atomics.add(hdr, Hdr.VCPU_WAKE, 1);
      Atomics.notify(hdr, Hdr.VCPU_WAKE);
    });
  }

  /** A command to the device model. */
  daemon<T = unknown>(body: DaemonCommandBody): Promise<T> {
    if (!this._daemonWorker || this._quitting) return Promise.reject(new HvmonError('the VM is not running'));
    const id = ++this._seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pendingDaemon.delete(id);
        reject(new HvmonError(`the device model did not answer ${body.t} within ${COMMAND_TIMEOUT_MS / 1000} s`));
      }, COMMAND_TIMEOUT_MS);
      this._pendingDaemon.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, what: body.t });
      this._daemonWorker!.postMessage({ ...body, rid: id });
    });
  }

  // -------------------------------------------------------------------------------------
  // Lifecycle
  // -------------------------------------------------------------------------------------

  async pause(vcpu?: number): Promise<void> {
    await this.vcpu({ t: 'pause', vcpu });
  }

  async resume(vcpu?: number): Promise<void> {
    await this.vcpu({ t: 'cont', vcpu });
  }

  /**
   * System reset, as the reset button: every device and CPU back to power-on, the loader's
   * blobs copied in again. The VM keeps running if it was.
   */
  async reset(cause: 'host' | 'guest' = 'host'): Promise<void> {
    const wasRunning = this.stops.map((s) => s === null);
    await this.vcpu({ t: 'pause', quiet: true });
    await this.daemon({ t: 'reset' });
    this.mem.setA20(true);
    this._writeBlobs();
    await this.vcpu({ t: 'reset' });
    for (let i = 0; i < this.stops.length; i++) {
      if (wasRunning[i]) {
        this.stops[i] = null;
      } else this.stops[i] = { vcpu: i, reason: 'pause', text: 'paused' };
    }
    if (wasRunning.some((x) => x)) {
      await this.vcpu({ t: 'cont', quiet: true });
      this._state = 'running';
    } else this._state = 'paused';
    this.emit('reset', cause);
  }

  async getState(vcpu = 0): Promise<{ state: CpuState; stop: StopInfo | null; running: boolean; halted: boolean }> {
    return this.vcpu({ t: 'get-state', vcpu });
  }

  async setState(vcpu: number, state: CpuState): Promise<void> {
    await this.vcpu({ t: 'set-state', vcpu, state });
  }

  async stats(): Promise<VcpuStats> {
    return this.vcpu({ t: 'stats' });
  }

  async deviceList(): Promise<DeviceListing[]> {
    const daemon = await this.daemon<DeviceListing[]>({ t: 'list' });
    const core: DeviceListing[] = [
      { id: 'pic', kind: 'i8259', props: PLATFORM.pic, regions: this._regionsOf('pic'), backends: [] },
      { id: 'pit', kind: 'i8254', props: PLATFORM.pit, regions: this._regionsOf('pit'), backends: [] },
      { id: 'port61', kind: 'port61', props: PLATFORM.port61, regions: this._regionsOf('port61'), backends: [] },
      ...Array.from({ length: this.config.vcpus }, (_, i) => ({
        id: `lapic${i}`, kind: 'lapic', props: { apicId: i, bsp: i === 0 }, backends: [],
        regions: [{ space: 'mmio' as const, base: 0xfee00000, size: 0x1000, name: 'lapic' }],
      })),
    ];
    return [...core, ...daemon];
  }

  private _regionsOf(id: string): DeviceListing['regions'] {
    return this.regions
      .filter((r) => r.inCore && (r.name === id || r.name.startsWith(id + '.')))
      .map((r) => ({ space: r.space, base: r.base, size: r.size, name: r.name }));
  }

  async inspect(id: string): Promise<Inspection> {
    if (['pic', 'pit', 'port61'].includes(id) || /^lapic\d+$/.test(id)) return this.vcpu<Inspection>({ t: 'inspect', id });
    return this.daemon<Inspection>({ t: 'inspect', id });
  }

  /** Device memory in the device model as reads would show it, without their side effects (see DeviceHost.peek). */
  async peekDevices(addr: number, length: number): Promise<DevicePeek> {
    return this.daemon<DevicePeek>({ t: 'peek', addr, length });
  }

  /** Types bytes into a device's character backend (a UART's receive side). */
  async input(id: string, data: Uint8Array): Promise<void> {
    await this.daemon({ t: 'input', id, data });
  }

  async quit(): Promise<void> {
    if (this._quitting || this._leaving) return;
    this._leaving = true;
    // Ask both workers to finish and give them a moment to exit by themselves (closing files,
    // writing a profile) before they are terminated.
    const exited = (w: Worker | null): Promise<unknown> => (w ? new Promise((r) => w.once('exit', r)) : Promise.resolve());
    const gone = Promise.all([exited(this._vcpuWorker), exited(this._daemonWorker)]);
    void this.vcpu({ t: 'quit' }).catch(() => undefined);
    void this.daemon({ t: 'quit' }).catch(() => undefined);
    await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
    this._quitting = true;
    this._state = 'quit';
    await this._terminate();
    this.emit('quit');
  }

  private async _terminate(): Promise<void> {
    this._quitting = true;
    for (const p of [...this._pendingVcpu.values(), ...this._pendingDaemon.values()]) {
      clearTimeout(p.timer);
      p.reject(new HvmonError('the VM has quit'));
    }
    this._pendingVcpu.clear();
    this._pendingDaemon.clear();
    // Waiting vCPUs must not wait for a daemon that is gone.
    Atomics.store(this.views.hdr, Hdr.DAEMON_DEAD, 1);
    this._vcpuPort?.close();
    await Promise.all([this._vcpuWorker?.terminate(), this._daemonWorker?.terminate()].map((p) => p?.catch(() => undefined)));
  }
}

function stateFor(s: StopInfo): RunState {
  switch (s.reason) {
    case 'pause': return 'paused';
    case 'triple-fault': case 'shutdown': return 'shutdown';
    case 'device-error': case 'internal-error': return 'internal-error';
    default: return 'debug';
  }
}

export { errorMessage };
