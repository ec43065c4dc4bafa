// The monitor's shared state: one per VM host, whatever the number of clients. It turns the
// machine's events into QMP events, keeps the per-vCPU stop records, and executes machine
// commands for every session (socket clients, the in-process console, the gdb stub's
// `monitor` command). Sessions only add their own subscriptions and current vCPU.

import { EventEmitter } from 'node:events';
import { HvmonError, errorMessage } from '../common/errors.js';
import { DebugEngine } from '../core/debug/DebugEngine.js';
import type { StopInfo } from '../core/debug/types.js';
import type { Machine } from '../core/machine/Machine.js';
import { COMMANDS, type CommandDef } from './commands.js';
import type { StreamEvent } from './protocol.js';

/** Bytes of recent output kept per character device. */
export const SCROLLBACK = 64 * 1024;
/** Traps per TRAP event at most (a busy guest traps millions of times a second). */
const TRAP_BATCH = 256;

export class CommandError extends HvmonError {
  constructor(
    message: string,
    readonly errorClass: 'GenericError' | 'CommandNotFound' | 'DeviceNotFound' = 'GenericError',
  ) {
    super(message);
  }
}

export interface MonitorEvent {
  event: string;
  data: Record<string, unknown>;
}

/** One client's view: what it subscribed to and which vCPU its commands default to. */
export class Session {
  readonly subscriptions = new Set<StreamEvent>();
  cpu = 0;
  /** Where events for this session only go (the connection sets it). */
  deliver: ((e: MonitorEvent) => void) | null = null;
  constructor(
    readonly monitor: Monitor,
    readonly name: string,
  ) {}

  execute(name: string, args: Record<string, unknown> = {}): Promise<unknown> {
    return this.monitor.execute(this, name, args);
  }
}

export interface MonitorHooks {
  /** Starts the gdb stub (`gdbserver`); returns where it listens. */
  startGdb?(spec: string): Promise<string>;
  /** Called by `quit` after the machine has stopped. */
  onQuit?(): void;
  /** Name of this VM host, for query-name and `hvmon ls`. */
  name?: string;
}

export class Monitor extends EventEmitter<{ event: [MonitorEvent] }> {
  readonly debug: DebugEngine;
  private readonly _stopWaiters: ((s: StopInfo) => void)[] = [];
  private _vgaTimer: NodeJS.Timeout | null = null;
  private _vgaGeneration = -1;
  private _vgaSubscribers = 0;
  private _wasRunning: boolean;

  constructor(
    readonly machine: Machine,
    readonly hooks: MonitorHooks = {},
  ) {
    super();
    this.setMaxListeners(1000);
    this.debug = new DebugEngine(machine);
    this.debug.onChange = () => this.emitEvent('BREAKPOINTS_CHANGED', { count: this.debug.list().length });
    this._wasRunning = machine.running;
    machine.on('stop', (info) => {
      if (this._wasRunning && !machine.running) this.emitEvent('STOP', {});
      this._wasRunning = machine.running;
      this.emitEvent('DEBUG_STOP', stopView(info));
      if (info.reason === 'triple-fault') this.emitEvent('SHUTDOWN', { guest: true, reason: 'guest-triple-fault' });
      if (info.reason === 'device-error') this.emitEvent('DEVICE_ERROR', { message: info.message ?? info.text });
      for (const w of this._stopWaiters.splice(0)) w(info);
    });
    machine.on('resume', () => {
      if (!this._wasRunning && machine.running) this.emitEvent('RESUME', {});
      this._wasRunning = machine.running;
    });
    machine.on('reset', (cause) => {
      this.emitEvent('RESET', { guest: cause === 'guest', reason: cause === 'guest' ? 'guest-reset' : 'host-qmp-system-reset' });
      this._wasRunning = machine.running;
    });
    machine.on('output', (device, data) => {
      this._remember(device, data);
      this.emitEvent('SERIAL_OUTPUT', { device, data: Buffer.from(data).toString('latin1') });
    });
    machine.on('device-event', (device, name, data) => this.emitEvent(name, { device, ...data }));
  }

  /** The last SCROLLBACK bytes each device sent, so a front end that attaches late sees them. */
  private readonly _scrollback = new Map<string, Buffer>();

  private _remember(device: string, data: Uint8Array): void {
    const prev = this._scrollback.get(device);
    const next = prev ? Buffer.concat([prev, data]) : Buffer.from(data);
    this._scrollback.set(device, next.length > SCROLLBACK ? next.subarray(next.length - SCROLLBACK) : next);
  }

  /** What a device has sent recently (at most SCROLLBACK bytes), oldest first. */
  scrollback(device: string): Buffer {
    return this._scrollback.get(device) ?? Buffer.alloc(0);
  }

  emitEvent(event: string, data: Record<string, unknown>): void {
    this.emit('event', { event, data });
  }

  /** Resolves at the next stop of any vCPU. */
  nextStop(): Promise<StopInfo> {
    return new Promise((r) => this._stopWaiters.push(r));
  }

  /** Runs a machine command by name after checking its arguments against the table. */
  async execute(session: Session, name: string, args: Record<string, unknown>): Promise<unknown> {
    const def: CommandDef | undefined = COMMANDS.get(name);
    if (!def) throw new CommandError(`The command ${name} has not been found`, 'CommandNotFound');
    const checked = checkArgs(def, args);
    try {
      return await def.run(this, checked, session);
    } catch (e) {
      if (e instanceof CommandError) throw e;
      throw new CommandError(errorMessage(e));
    }
  }

  /** TRAP is a stream too: the trap log is read in batches only while someone listens. */
  private _trapTimer: NodeJS.Timeout | null = null;
  private _trapSubscribers = 0;
  private _trapSeen = 0;

  trapSubscribe(delta: 1 | -1): void {
    this._trapSubscribers += delta;
    if (this._trapSubscribers > 0 && !this._trapTimer) {
      this._trapSeen = this.machine.trapLog.total;
      this._trapTimer = setInterval(() => this._pollTraps(), 100);
      this._trapTimer.unref();
    } else if (this._trapSubscribers <= 0 && this._trapTimer) {
      clearInterval(this._trapTimer);
      this._trapTimer = null;
    }
  }

  private _pollTraps(): void {
    const total = this.machine.trapLog.total;
    const fresh = total - this._trapSeen;
    if (fresh <= 0) return;
    this._trapSeen = total;
    const shown = Math.min(fresh, TRAP_BATCH);
    void import('./commands.js').then(({ trapLog }) => {
      this.emitEvent('TRAP', { traps: trapLog(this, { count: shown }), dropped: fresh - shown });
    });
  }

  /** VGA_UPDATE is a stream: the screen is polled only while someone listens. */
  vgaSubscribe(delta: 1 | -1): void {
    this._vgaSubscribers += delta;
    if (this._vgaSubscribers > 0 && !this._vgaTimer) {
      this._vgaGeneration = -1;
      this._vgaTimer = setInterval(() => void this._pollVga(), 100);
      this._vgaTimer.unref();
    } else if (this._vgaSubscribers <= 0 && this._vgaTimer) {
      clearInterval(this._vgaTimer);
      this._vgaTimer = null;
    }
  }

  private _polling = false;
  private async _pollVga(): Promise<void> {
    if (this._polling) return;
    this._polling = true;
    try {
      const s = await this.screen();
      if (s.generation !== this._vgaGeneration) {
        this._vgaGeneration = s.generation;
        this.emitEvent('VGA_UPDATE', { device: 'vga', ...s });
      }
    } catch {
      // The VM may be quitting.
    } finally {
      this._polling = false;
    }
  }

  async screen(id = 'vga'): Promise<import('./protocol.js').VgaScreenView> {
    const s = await this.machine.daemon<{
      cols: number; rows: number; cells: { ch: string; attr: number }[]; text: string[];
      cursor: { x: number; y: number; visible: boolean }; generation: number;
    }>({ t: 'screen', id });
    const attrs: string[] = [];
    for (let y = 0; y < s.rows; y++) {
      let row = '';
      for (let x = 0; x < s.cols; x++) row += (s.cells[y * s.cols + x]?.attr ?? 7).toString(16).padStart(2, '0');
      attrs.push(row);
    }
    return { cols: s.cols, rows: s.rows, text: s.text, attrs, cursor: { x: s.cursor.x, y: s.cursor.y, visible: s.cursor.visible }, generation: s.generation };
  }

  /** Every device that has sent something, with its scrollback. */
  scrollbacks(): [string, Buffer][] {
    return [...this._scrollback.entries()];
  }

  close(): void {
    if (this._vgaTimer) clearInterval(this._vgaTimer);
    if (this._trapTimer) clearInterval(this._trapTimer);
    this._vgaTimer = null;
    this._trapTimer = null;
  }
}

export function stopView(s: StopInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { vcpu: s.vcpu, reason: s.reason, text: s.text };
  for (const k of ['breakpoint', 'addr', 'vector', 'errorCode', 'message', 'ioreq', 'size', 'write'] as const) {
    if (s[k] !== undefined) out[k] = s[k];
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Argument checking, QMP style: unknown and missing parameters and wrong types are errors.
// ---------------------------------------------------------------------------------------

export type ArgType = 'int' | 'str' | 'bool' | 'any' | 'int|str' | 'str[]';

export interface ArgSpec {
  type: ArgType;
  optional?: boolean;
  /** For 'str': the allowed values. */
  values?: readonly string[];
  help: string;
}

function checkArgs(def: CommandDef, args: unknown): Record<string, unknown> {
  if (args === undefined || args === null) args = {};
  if (typeof args !== 'object' || Array.isArray(args)) throw new CommandError("Parameter 'arguments' expects a dictionary");
  const a = args as Record<string, unknown>;
  for (const k of Object.keys(a)) {
    if (!(k in def.args)) throw new CommandError(`Parameter '${k}' is unexpected`);
  }
  for (const [k, spec] of Object.entries(def.args)) {
    const v = a[k];
    if (v === undefined || v === null) {
      if (!spec.optional) throw new CommandError(`Parameter '${k}' is missing`);
      continue;
    }
    const ok =
      spec.type === 'any' ||
      (spec.type === 'int' && typeof v === 'number' && Number.isInteger(v)) ||
      (spec.type === 'str' && typeof v === 'string') ||
      (spec.type === 'bool' && typeof v === 'boolean') ||
      (spec.type === 'int|str' && ((typeof v === 'number' && Number.isInteger(v)) || typeof v === 'string')) ||
      (spec.type === 'str[]' && Array.isArray(v) && v.every((x) => typeof x === 'string'));
    if (!ok) {
      const want = { int: 'integer', str: 'string', bool: 'boolean', any: 'any', 'int|str': 'integer or string', 'str[]': 'array of strings' }[spec.type];
      throw new CommandError(`Invalid parameter type for '${k}', expected: ${want}`);
    }
    if (spec.values && !spec.values.includes(v as string)) {
      throw new CommandError(`Parameter '${k}' does not accept value '${String(v)}' (expected ${spec.values.join(', ')})`);
    }
  }
  return a;
}
