// The TUI's model: everything the screen shows, kept up to date from the monitor over QMP
// (events, and commands on stops and on a slow poll), and every action a key can trigger.
// It has no React in it, so the components are pure views and the tests can drive it with a
// fake link. Changes are published at most every REDRAW_MS: a guest that prints a megabyte a
// second costs a few string appends per event and one redraw per frame, never one per byte.

import { hx, parseNumber } from './format.js';
import { SerialBuffer } from './serialBuffer.js';
import type {
  BreakpointInfo, CpuRow, CpuView, DeviceInspection, DeviceRow, DisasmLine, MonitorLink, QmpEvent, StatsView, StatusInfo,
  StopView, TrapView, VgaScreenView,
} from './wire.js';

export type PaneId = 'console' | 'registers' | 'disasm' | 'memory' | 'breakpoints' | 'traps' | 'devices' | 'cpus' | 'output';

/** The panes a user can toggle, with their key (1-8) and title. */
export const PANES: { id: PaneId; key: string; title: string }[] = [
  { id: 'console', key: '1', title: 'Console' },
  { id: 'registers', key: '2', title: 'Registers' },
  { id: 'disasm', key: '3', title: 'Disassembly' },
  { id: 'memory', key: '4', title: 'Memory' },
  { id: 'breakpoints', key: '5', title: 'Breakpoints' },
  { id: 'traps', key: '6', title: 'Trap log' },
  { id: 'devices', key: '7', title: 'Devices' },
  { id: 'cpus', key: '8', title: 'vCPUs' },
  { id: 'output', key: '9', title: 'Monitor' },
];

export const REDRAW_MS = 50;
const POLL_MS = 1000;
const TRAP_POLL_MS = 500;
const DISASM_FETCH = 64;
const MEM_FETCH = 512;
const LOG_MAX = 1000;

export interface TrapFilter {
  device?: string;
  start?: number;
  end?: number;
  dir?: 'read' | 'write';
  space?: 'pio' | 'mmio';
}

export interface LogLine {
  kind: 'cmd' | 'out' | 'err' | 'event';
  text: string;
}

export interface TuiState {
  /** Name of the VM host (query-name), for the status line. */
  name: string;
  connected: boolean;
  status: StatusInfo['status'] | 'unknown';
  running: boolean;
  vcpu: number;
  vcpuCount: number;
  stop: StopView | null;
  cpu: CpuView | null;
  /** Registers whose value differs from the previous stop. */
  changed: ReadonlySet<string>;
  disasm: DisasmLine[];
  /** Linear address of the disassembly cursor (F9 toggles a breakpoint there). */
  disasmCursor: number | null;
  /** Linear address of CS:EIP. */
  ipLinear: number | null;
  mem: { addr: number; follow: string | null; data: Uint8Array; error: string | null };
  breakpoints: BreakpointInfo[];
  bpCursor: number;
  traps: TrapView[];
  trapFilter: TrapFilter;
  devices: DeviceRow[];
  deviceCursor: number;
  inspection: DeviceInspection | null;
  cpus: CpuRow[];
  ips: number;
  tps: number;
  icount: number;
  /** The output of the character device the console shows (serialDevice), one buffer per device. */
  serial: SerialBuffer;
  serials: ReadonlyMap<string, SerialBuffer>;
  serialDevice: string;
  serialSeq: number;
  /** Lines scrolled back from the bottom in the console (serial) and the monitor's output. */
  serialScroll: number;
  logScroll: number;
  vga: VgaScreenView | null;
  /** What the console pane shows; 'auto' is VGA once the screen has text, else serial. */
  consoleMode: 'auto' | 'serial' | 'vga';
  log: LogLine[];
  visible: ReadonlySet<PaneId>;
  focus: PaneId;
  /** Where plain keystrokes go. */
  input: 'monitor' | 'guest';
  cmdline: { active: boolean; text: string; cursor: number };
  help: boolean;
  confirm: string | null;
  message: string | null;
  /** True when this TUI's VM host is this very process (hvmon run): leaving it quits the VM. */
  ownHost: boolean;
}

export interface StoreOptions {
  ownHost?: boolean;
  history?: string[];
  saveHistory?(line: string): void;
  /** Panes shown at start. */
  visible?: PaneId[];
}

const segFor = (reg: string): string => {
  const r = reg.replace(/^e/, '');
  if (r === 'sp' || r === 'bp') return 'ss';
  if (r === 'ip') return 'cs';
  if (r === 'di') return 'es';
  return 'ds';
};

export class TuiStore {
  private _s: TuiState;
  private _snap: TuiState;
  private readonly _listeners = new Set<() => void>();
  private _emitTimer: NodeJS.Timeout | null = null;
  private _lastEmit = 0;
  private _pollTimer: NodeJS.Timeout | null = null;
  private _trapTimer: NodeJS.Timeout | null = null;
  private _lastStats: { t: number; icount: number; traps: number } | null = null;
  private _stopRegs: Record<string, number> | null = null;
  private _refreshing: Promise<void> | null = null;
  private _refreshAgain = false;
  private _closed = false;
  private readonly _history: string[];
  private _histIndex = -1;
  private _histDraft = '';
  private _completions: string[] = [];
  private _confirmAction: (() => void) | null = null;

  constructor(
    private readonly _link: MonitorLink,
    private readonly _opts: StoreOptions = {},
  ) {
    this._history = [...(_opts.history ?? [])];
    this._s = {
      name: '', connected: true, status: 'unknown', running: false, vcpu: 0, vcpuCount: 1, stop: null, cpu: null,
      changed: new Set(), disasm: [], disasmCursor: null, ipLinear: null,
      mem: { addr: 0, follow: null, data: new Uint8Array(0), error: null },
      breakpoints: [], bpCursor: 0, traps: [], trapFilter: {}, devices: [], deviceCursor: 0, inspection: null, cpus: [],
      ips: 0, tps: 0, icount: 0, serial: new SerialBuffer(), serials: new Map(), serialDevice: 'com1', serialSeq: 0, serialScroll: 0, logScroll: 0, vga: null, consoleMode: 'auto',
      log: [], visible: new Set(_opts.visible ?? ['console', 'registers', 'disasm', 'output']), focus: 'console',
      input: 'monitor', cmdline: { active: false, text: '', cursor: 0 }, help: false, confirm: null, message: null,
      ownHost: _opts.ownHost ?? false,
    };
    this._snap = { ...this._s };
  }

  // ---- publishing ------------------------------------------------------------------------

  /** The live state, for the controller (keys act on what is true now, not on the last frame). */
  get state(): TuiState {
    return this._s;
  }

  subscribe = (fn: () => void): (() => void) => {
    this._listeners.add(fn);
    return () => this._listeners.delete(fn);
  };

  getSnapshot = (): TuiState => this._snap;

  /** Marks the state changed; listeners hear of it at most once per REDRAW_MS. */
  private _changed(): void {
    if (this._emitTimer || this._closed) return;
    const wait = Math.max(0, this._lastEmit + REDRAW_MS - Date.now());
    this._emitTimer = setTimeout(() => {
      this._emitTimer = null;
      this._lastEmit = Date.now();
      this._snap = { ...this._s };
      for (const l of this._listeners) l();
    }, wait);
  }

  /** Publishes now (tests, and before the first frame). */
  flush(): void {
    if (this._emitTimer) clearTimeout(this._emitTimer);
    this._emitTimer = null;
    this._lastEmit = Date.now();
    this._snap = { ...this._s };
    for (const l of this._listeners) l();
  }

  private _set(p: Partial<TuiState>): void {
    Object.assign(this._s, p);
    this._changed();
  }

  log(kind: LogLine['kind'], text: string): void {
    const lines = text.replace(/\n$/, '').split('\n').map((t) => ({ kind, text: t }));
    const log = [...this._s.log, ...lines];
    this._set({ log: log.length > LOG_MAX ? log.slice(-LOG_MAX) : log, logScroll: 0 });
  }

  private _messageTimer: NodeJS.Timeout | null = null;

  /** A note on the bottom line; it goes away after a few seconds (or on Esc). */
  message(text: string | null): void {
    if (this._messageTimer) clearTimeout(this._messageTimer);
    this._messageTimer = text && !this._closed ? setTimeout(() => this._set({ message: null }), 5000) : null;
    this._messageTimer?.unref();
    this._set({ message: text });
  }

  setOwnHost(own: boolean): void {
    this._set({ ownHost: own });
  }

  // ---- connection ----------------------------------------------------------------------

  /** Subscribes to the streams first (output must not be lost), then reads the current state. */
  async attach(): Promise<void> {
    if (this._attached) return;
    this._attached = true;
    this._link.on('event', (e) => this._event(e));
    this._link.on('close', () => {
      this._set({ connected: false, running: false, status: 'shutdown' });
      this.log('event', '[the VM host has gone]');
    });
    // history: what the guest printed before we came (hvmon attach) arrives first, without gaps.
    await this._link.execute('subscribe', { events: ['SERIAL_OUTPUT', 'VGA_UPDATE'], history: true });
  }

  private _attached = false;

  /** attach(), then reads the current state and starts the polls. */
  async start(): Promise<void> {
    await this.attach();
    try {
      const n = await this._link.execute<{ name?: string }>('query-name');
      this._s.name = n.name ?? '';
    } catch {
      // An older host: no name.
    }
    try {
      this._s.vga = await this._link.execute<VgaScreenView>('vga-screen');
    } catch {
      this._s.vga = null;
    }
    try {
      this._s.devices = await this._link.execute<DeviceRow[]>('device-list');
    } catch {
      this._s.devices = [];
    }
    await this.refresh(true);
    this._pollTimer = setInterval(() => void this._poll(), POLL_MS);
    this._trapTimer = setInterval(() => {
      if (this._s.visible.has('traps') && this._s.running) void this._refreshTraps().then(() => this._changed());
    }, TRAP_POLL_MS);
    this.flush();
  }

  close(): void {
    this._closed = true;
    if (this._pollTimer) clearInterval(this._pollTimer);
    if (this._trapTimer) clearInterval(this._trapTimer);
    if (this._emitTimer) clearTimeout(this._emitTimer);
    if (this._messageTimer) clearTimeout(this._messageTimer);
  }

  private _event(e: QmpEvent): void {
    const d = (e.data ?? {}) as Record<string, unknown>;
    switch (e.event) {
      case 'SERIAL_OUTPUT':
        this._serialOutput(String(d.device ?? 'com1'), String(d.data ?? ''));
        this._changed();
        return;
      case 'VGA_UPDATE':
        this._set({ vga: d as unknown as VgaScreenView });
        return;
      case 'RESUME':
        this._set({ running: true, status: 'running', stop: null });
        return;
      case 'STOP':
        this._set({ running: false });
        return;
      case 'DEBUG_STOP': {
        const st = d as unknown as StopView;
        if (st.reason !== 'pause') this.log('event', `[stopped] ${st.text}`);
        this._set({ stop: st.vcpu === this._s.vcpu ? st : this._s.stop });
        void this.refresh(true);
        return;
      }
      case 'RESET':
        this.log('event', '[reset]');
        void this.refresh(false);
        return;
      case 'SHUTDOWN':
        this.log('event', `[shutdown: ${String(d.reason ?? '')}]`);
        return;
      case 'BREAKPOINTS_CHANGED':
        void this._refreshBreakpoints().then(() => this._changed());
        return;
      case 'DEVICE_ERROR':
        this.log('err', `[device error] ${String(d.message ?? '')}`);
        return;
    }
  }

  private _serialChosen = false;

  private _serialOutput(device: string, data: string): void {
    const map = this._s.serials as Map<string, SerialBuffer>;
    let buf = map.get(device);
    if (!buf) {
      buf = device === this._s.serialDevice && !map.size ? this._s.serial : new SerialBuffer();
      map.set(device, buf);
      // Until the user picks one, the console shows COM1, or the first device that speaks.
      if (!this._serialChosen && !map.has(this._s.serialDevice)) this._showSerial(device);
    }
    buf.write(data);
    this._s.serialSeq++;
    this._changed();
  }

  private _showSerial(device: string): void {
    const map = this._s.serials as Map<string, SerialBuffer>;
    if (!map.has(device)) map.set(device, new SerialBuffer());
    this._s.serialDevice = device;
    this._s.serial = map.get(device)!;
    this._s.serialScroll = 0;
  }

  // ---- refreshing ------------------------------------------------------------------------

  /**
   * Re-reads what the panes show. `atStop` makes this stop the new reference for the
   * changed-register highlight and puts the disassembly cursor back on IP.
   */
  refresh(atStop = false): Promise<void> {
    if (this._refreshing) {
      this._refreshAgain = true;
      this._pendingAtStop ||= atStop;
      return this._refreshing;
    }
    this._refreshing = (async () => {
      try {
        await this._refreshOnce(atStop);
        while (this._refreshAgain && !this._closed) {
          this._refreshAgain = false;
          const a = this._pendingAtStop;
          this._pendingAtStop = false;
          await this._refreshOnce(a);
        }
      } finally {
        this._refreshing = null;
      }
    })();
    return this._refreshing;
  }

  private _pendingAtStop = false;

  private async _refreshOnce(atStop: boolean): Promise<void> {
    if (!this._s.connected) return;
    try {
      const status = await this._link.execute<StatusInfo>('query-status');
      this._s.status = status.status;
      this._s.running = status.running;
      const stop = await this._link.execute<StopView & { running: boolean; reason: string | null }>('query-stop', { vcpu: this._s.vcpu });
      this._s.stop = stop.running ? null : stop;
      await this._refreshRegs(atStop);
      await Promise.all([this._refreshDisasm(atStop), this._refreshMemory(), this._refreshBreakpoints(), this._refreshCpus(), this._refreshTraps(), this._refreshInspection()]);
    } catch (e) {
      if (this._s.connected) this.message((e as Error).message);
    }
    this._changed();
  }

  private async _refreshRegs(atStop: boolean): Promise<void> {
    const cpu = await this._link.execute<CpuView>('reg-read', { vcpu: this._s.vcpu });
    const regs = cpu.regs;
    if (atStop && !cpu.running) {
      // A stop is often refreshed twice (the command's answer and its DEBUG_STOP event): the
      // second read sees the same registers and must not clear the highlight.
      const prev = this._stopRegs;
      const same = prev !== null && Object.keys(regs).every((k) => prev[k] === regs[k]);
      if (!same) {
        this._stopRegs = regs;
        const changed = new Set<string>();
        if (prev) for (const k of Object.keys(regs)) if (prev[k] !== regs[k]) changed.add(k);
        this._s.changed = changed;
      }
    }
    this._s.cpu = cpu;
    this._s.ipLinear = ((regs['cs.base'] ?? 0) + (regs.eip ?? 0)) >>> 0;
  }

  private async _refreshDisasm(atStop: boolean): Promise<void> {
    const ip = this._s.ipLinear;
    if (ip === null) return;
    const cur = this._s.disasm;
    const at = cur.findIndex((l) => l.addr === ip);
    let start: number;
    if (!atStop && cur.length) start = cur[0].addr;
    else if (at >= 0 && at < cur.length - 8) start = cur[0].addr;
    else start = await this._startBefore(ip, 4);
    this._s.disasm = await this._link.execute<DisasmLine[]>('disassemble', { addr: start, count: DISASM_FETCH, vcpu: this._s.vcpu });
    if (atStop || this._s.disasmCursor === null) this._s.disasmCursor = ip;
  }

  /**
   * Where to start disassembling so that `back` instructions before `addr` show. x86 cannot be
   * decoded backwards, so this tries starts a few bytes earlier and keeps one whose decoding
   * lands exactly on `addr` (it resynchronises on real code almost always); else `addr` itself.
   */
  private async _startBefore(addr: number, back: number): Promise<number> {
    for (const delta of [24, 16, 12, 8, 6, 4]) {
      if (addr < delta) continue;
      try {
        const lines = await this._link.execute<DisasmLine[]>('disassemble', { addr: addr - delta, count: delta + 1, vcpu: this._s.vcpu });
        const i = lines.findIndex((l) => l.addr === addr);
        if (i > 0) return lines[Math.max(0, i - back)].addr;
      } catch {
        // Unreadable memory before addr: try closer.
      }
    }
    return addr;
  }

  private _memAddr(): number {
    const m = this._s.mem;
    if (!m.follow || !this._s.cpu) return m.addr;
    const r = this._s.cpu.regs;
    return ((r[`${segFor(m.follow)}.base`] ?? 0) + (r[m.follow] ?? 0)) >>> 0;
  }

  private async _refreshMemory(): Promise<void> {
    if (!this._s.visible.has('memory')) return;
    const addr = this._memAddr();
    try {
      const r = await this._link.execute<{ data: string }>('mem-read', { addr, size: MEM_FETCH, space: 'linear', vcpu: this._s.vcpu });
      this._s.mem = { ...this._s.mem, addr, data: Uint8Array.from(Buffer.from(r.data, 'hex')), error: null };
    } catch (e) {
      this._s.mem = { ...this._s.mem, addr, data: new Uint8Array(0), error: (e as Error).message };
    }
  }

  private async _refreshBreakpoints(): Promise<void> {
    const list = await this._link.execute<BreakpointInfo[]>('break-list');
    this._s.breakpoints = list;
    this._s.bpCursor = Math.min(this._s.bpCursor, Math.max(0, list.length - 1));
  }

  private async _refreshCpus(): Promise<void> {
    this._s.cpus = await this._link.execute<CpuRow[]>('query-cpus-fast');
    this._s.vcpuCount = this._s.cpus.length || 1;
  }

  private async _refreshTraps(): Promise<void> {
    if (!this._s.visible.has('traps') || !this._s.connected) return;
    try {
      this._s.traps = await this._link.execute<TrapView[]>('trap-log', { count: 200, ...this._s.trapFilter });
    } catch (e) {
      this.message(`trap log: ${(e as Error).message}`);
    }
  }

  private async _refreshInspection(): Promise<void> {
    if (!this._s.visible.has('devices')) return;
    const d = this._s.devices[this._s.deviceCursor];
    if (!d) return;
    try {
      this._s.inspection = await this._link.execute<DeviceInspection>('device-inspect', { id: d.id });
    } catch (e) {
      this._s.inspection = null;
      this.message((e as Error).message);
    }
  }

  /** The slow poll: rates from query-stats deltas, and the live panes while the guest runs. */
  private async _poll(): Promise<void> {
    if (!this._s.connected || this._closed) return;
    try {
      const st = await this._link.execute<StatsView>('query-stats');
      const now = Date.now();
      const icount = st.icount.reduce((a, b) => a + b, 0);
      if (this._lastStats) {
        const dt = (now - this._lastStats.t) / 1000;
        if (dt > 0) {
          this._s.ips = Math.max(0, (icount - this._lastStats.icount) / dt);
          this._s.tps = Math.max(0, (st.traps - this._lastStats.traps) / dt);
        }
      }
      this._lastStats = { t: now, icount, traps: st.traps };
      this._s.icount = icount;
      await this._refreshCpus();
      if (this._s.running) {
        // Running: the panes show a live sample, without moving the stop reference.
        await this._refreshRegs(false);
        await Promise.all([this._refreshMemory(), this._s.visible.has('devices') ? this._refreshInspection() : undefined]);
      }
    } catch {
      // The host may be going away; the close event says so.
    }
    this._changed();
  }

  // ---- execution control ------------------------------------------------------------------

  private async _do(what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.log('err', `${what}: ${(e as Error).message}`);
      this.message(`${what}: ${(e as Error).message}`);
    }
  }

  cont(): Promise<void> {
    return this._do('cont', () => this._link.execute('cont'));
  }

  pause(): Promise<void> {
    return this._do('stop', () => this._link.execute('stop'));
  }

  step(): Promise<void> {
    return this._do('step', async () => {
      if (this._s.running) throw new Error('the vCPU is running; pause it first (F6)');
      await this._link.execute('step', { vcpu: this._s.vcpu, count: 1 });
      await this.refresh(true);
    });
  }

  stepTrap(): Promise<void> {
    return this._do('step-trap', async () => {
      if (this._s.running) throw new Error('the vCPU is running; pause it first (F6)');
      const st = await this._link.execute<StopView>('step-trap', { vcpu: this._s.vcpu });
      this.log('event', `[stopped] ${st.text}`);
      await this.refresh(true);
    });
  }

  /** F9: an exec breakpoint at the disassembly cursor, removed if one is there. */
  toggleBreakpoint(): Promise<void> {
    return this._do('breakpoint', async () => {
      const addr = this._s.disasmCursor;
      if (addr === null) throw new Error('no disassembly cursor yet');
      const existing = this._s.breakpoints.find((b) => b.type === 'exec' && b.addr === addr);
      if (existing) {
        await this._link.execute('break-delete', { id: existing.id });
        this.message(`deleted breakpoint ${existing.id} at ${hx(addr, 8)}`);
      } else {
        const b = await this._link.execute<BreakpointInfo>('break-insert', { type: 'exec', addr, origin: `0x${hx(addr, 8)}` });
        this.message(`breakpoint ${b.id} at ${hx(addr, 8)}`);
      }
      await this._refreshBreakpoints();
      this._changed();
    });
  }

  // ---- panes -----------------------------------------------------------------------------

  togglePane(id: PaneId): void {
    const v = new Set(this._s.visible);
    if (v.has(id)) v.delete(id);
    else v.add(id);
    let focus = this._s.focus;
    if (!v.has(focus)) focus = this._order(v)[0] ?? 'console';
    else if (v.has(id)) focus = id;
    this._set({ visible: v, focus });
    if (v.has(id)) void this.refresh(false);
  }

  private _order(v: ReadonlySet<PaneId>): PaneId[] {
    return PANES.map((p) => p.id).filter((p) => v.has(p));
  }

  cycleFocus(dir: 1 | -1): void {
    const order = this._order(this._s.visible);
    if (!order.length) return;
    const i = order.indexOf(this._s.focus);
    this._set({ focus: order[(i + dir + order.length) % order.length] });
  }

  focusPane(id: PaneId): void {
    if (!this._s.visible.has(id)) this.togglePane(id);
    else this._set({ focus: id });
  }

  setConsoleMode(mode: TuiState['consoleMode']): void {
    this._set({ consoleMode: mode });
  }

  /** Which screen the console pane shows now. */
  consoleShows(s: TuiState = this._s): 'serial' | 'vga' {
    if (s.consoleMode !== 'auto') return s.consoleMode;
    return s.vga && s.vga.text.some((l) => l.trim()) ? 'vga' : 'serial';
  }

  toggleHelp(on?: boolean): void {
    this._set({ help: on ?? !this._s.help });
  }

  setInput(target: 'monitor' | 'guest'): void {
    this._set({ input: target, message: target === 'guest' ? 'keys go to the guest: Ctrl-] returns to the monitor' : null });
  }

  /** Arrow keys and friends in the focused pane. */
  move(delta: number): void {
    switch (this._s.focus) {
      case 'disasm': void this._moveDisasm(delta); return;
      case 'memory': {
        const m = this._s.mem;
        const addr = Math.max(0, this._memAddr() + delta * 16);
        this._s.mem = { ...m, addr, follow: null };
        void this._refreshMemory().then(() => this._changed());
        return;
      }
      case 'breakpoints':
        this._set({ bpCursor: Math.max(0, Math.min(this._s.breakpoints.length - 1, this._s.bpCursor + delta)) });
        return;
      case 'devices': {
        const n = this._s.devices.length;
        if (!n) return;
        this._s.deviceCursor = Math.max(0, Math.min(n - 1, this._s.deviceCursor + delta));
        this._s.inspection = null;
        this._changed();
        void this._refreshInspection().then(() => this._changed());
        return;
      }
      case 'console':
        this._set({ serialScroll: Math.max(0, Math.min(this._s.serial.lineCount - 1, this._s.serialScroll - delta)) });
        return;
      case 'output':
        this._set({ logScroll: Math.max(0, Math.min(this._s.log.length - 1, this._s.logScroll - delta)) });
        return;
      case 'cpus': {
        const v = Math.max(0, Math.min(this._s.vcpuCount - 1, this._s.vcpu + delta));
        if (v !== this._s.vcpu) {
          this._s.vcpu = v;
          this._stopRegs = null;
          void this.refresh(true);
        }
        return;
      }
      default:
    }
  }

  private async _moveDisasm(delta: number): Promise<void> {
    const lines = this._s.disasm;
    if (!lines.length) return;
    let i = lines.findIndex((l) => l.addr === this._s.disasmCursor);
    if (i < 0) i = 0;
    const j = i + delta;
    if (j >= 0 && j < lines.length - 4) {
      this._set({ disasmCursor: lines[j].addr });
      return;
    }
    // Off the fetched window: fetch again around the new place.
    try {
      if (j < 0) {
        const start = await this._startBefore(lines[0].addr, Math.min(16, -j + 8));
        this._s.disasm = await this._link.execute<DisasmLine[]>('disassemble', { addr: start, count: DISASM_FETCH, vcpu: this._s.vcpu });
        const k = this._s.disasm.findIndex((l) => l.addr === lines[0].addr);
        this._s.disasmCursor = this._s.disasm[Math.max(0, k + j)]?.addr ?? start;
      } else {
        const target = lines[Math.min(j, lines.length - 1)];
        const base = lines[Math.max(0, Math.min(j, lines.length - 1) - 16)];
        this._s.disasm = await this._link.execute<DisasmLine[]>('disassemble', { addr: base.addr, count: DISASM_FETCH, vcpu: this._s.vcpu });
        this._s.disasmCursor = target.addr;
      }
    } catch (e) {
      this.message((e as Error).message);
    }
    this._changed();
  }

  /** Enter or Space in the focused pane. */
  activate(): void {
    if (this._s.focus === 'breakpoints') {
      const b = this._s.breakpoints[this._s.bpCursor];
      if (b) void this._do('breakpoint', () => this._link.execute('break-update', { id: b.id, enabled: !b.enabled }));
    } else if (this._s.focus === 'disasm') void this.toggleBreakpoint();
    else if (this._s.focus === 'console') this.setConsoleMode(this.consoleShows() === 'vga' ? 'serial' : 'vga');
  }

  /** Delete in the breakpoints pane. */
  deleteSelected(): void {
    if (this._s.focus !== 'breakpoints') return;
    const b = this._s.breakpoints[this._s.bpCursor];
    if (b) void this._do('delete', () => this._link.execute('break-delete', { id: b.id }));
  }

  /** The memory pane follows a register (null: a fixed address). */
  followRegister(reg: string | null): void {
    this._s.mem = { ...this._s.mem, follow: reg, addr: this._memAddr() };
    if (!this._s.visible.has('memory')) this.togglePane('memory');
    void this._refreshMemory().then(() => this._changed());
  }

  private static readonly _followCycle = [null, 'esp', 'eip', 'esi', 'edi', 'ebx', 'ebp'];

  /** `f` in the memory pane: the next register to follow. */
  cycleFollow(): void {
    const c = TuiStore._followCycle;
    const i = c.indexOf(this._s.mem.follow);
    this.followRegister(c[(i + 1) % c.length]);
    this.message(`memory follows ${this._s.mem.follow ?? 'a fixed address'}`);
  }

  // ---- guest input -----------------------------------------------------------------------

  /** Keystrokes for the guest: the UART when the console shows serial, else the PS/2 keyboard. */
  sendToGuest(raw: string): void {
    if (!raw) return;
    if (this.consoleShows() === 'vga' && this._s.devices.some((d) => d.id === 'kbd')) {
      void this._do('keyboard', () => this._link.execute('keyboard-type', { text: raw.replace(/\r/g, '\n') }));
    } else {
      const device = /^com\d+$/.test(this._s.serialDevice) ? this._s.serialDevice : 'com1';
      void this._do('serial', () => this._link.execute('serial-write', { device, data: Buffer.from(raw, 'utf8').toString('base64'), format: 'base64' }));
    }
  }

  // ---- confirmation --------------------------------------------------------------------

  ask(question: string, yes: () => void): void {
    this._confirmAction = yes;
    this._set({ confirm: question });
  }

  answer(yes: boolean): void {
    const a = this._confirmAction;
    this._confirmAction = null;
    this._set({ confirm: null });
    if (yes) a?.();
  }

  // ---- the command line ----------------------------------------------------------------

  openCommandLine(text = ''): void {
    this._histIndex = -1;
    this._set({ cmdline: { active: true, text, cursor: text.length }, help: false });
  }

  closeCommandLine(): void {
    this._set({ cmdline: { active: false, text: '', cursor: 0 } });
  }

  /** Edits the command line: insert text, move, delete, recall history. */
  edit(op: 'insert' | 'backspace' | 'delete' | 'left' | 'right' | 'home' | 'end' | 'up' | 'down' | 'kill', text = ''): void {
    let { text: t, cursor: c } = this._s.cmdline;
    switch (op) {
      case 'insert': t = t.slice(0, c) + text + t.slice(c); c += text.length; break;
      case 'backspace': if (c > 0) { t = t.slice(0, c - 1) + t.slice(c); c--; } break;
      case 'delete': t = t.slice(0, c) + t.slice(c + 1); break;
      case 'left': c = Math.max(0, c - 1); break;
      case 'right': c = Math.min(t.length, c + 1); break;
      case 'home': c = 0; break;
      case 'end': c = t.length; break;
      case 'kill': t = t.slice(0, c); break;
      case 'up':
      case 'down': {
        const h = this._history;
        if (!h.length) return;
        if (this._histIndex === -1) this._histDraft = t;
        // _history is oldest first; _histIndex counts back from the newest.
        const i = Math.max(-1, Math.min(h.length - 1, this._histIndex + (op === 'up' ? 1 : -1)));
        this._histIndex = i;
        t = i === -1 ? this._histDraft : h[h.length - 1 - i];
        c = t.length;
        break;
      }
    }
    this._completions = [];
    this._set({ cmdline: { active: true, text: t, cursor: c } });
  }

  get history(): readonly string[] {
    return this._history;
  }

  /** Tab on the command line: completes from the server's command table (hmp-complete). */
  async complete(): Promise<void> {
    const { text, cursor } = this._s.cmdline;
    const head = text.slice(0, cursor);
    let cands: string[];
    try {
      cands = await this._link.execute<string[]>('hmp-complete', { line: head });
    } catch (e) {
      this.message((e as Error).message);
      return;
    }
    const word = head.split(/\s+/).pop() ?? '';
    if (!cands.length) {
      this.message('no completions');
      return;
    }
    let common = cands[0];
    for (const c of cands) while (!c.startsWith(common)) common = common.slice(0, -1);
    const add = (cands.length === 1 ? cands[0] + ' ' : common).slice(word.length);
    if (cands.length > 1) this.message(cands.join('  '));
    if (add) {
      const t = head + add + text.slice(cursor);
      this._set({ cmdline: { active: true, text: t, cursor: cursor + add.length } });
    }
    this._completions = cands;
  }

  /** Enter on the command line. */
  async submit(): Promise<void> {
    const line = this._s.cmdline.text.trim();
    this.closeCommandLine();
    if (!line) return;
    if (this._history[this._history.length - 1] !== line) {
      this._history.push(line);
      this._opts.saveHistory?.(line);
    }
    await this.runCommand(line);
  }

  /** Callbacks for the commands that end the TUI; run.tsx sets them. */
  onDetach: () => void = () => undefined;

  /** Runs a command line: the TUI's own words first, then the human monitor. */
  async runCommand(line: string): Promise<void> {
    this.log('cmd', `(hvmon) ${line}`);
    const [word, ...rest] = line.split(/\s+/);
    const arg = rest.join(' ');
    switch (word) {
      case 'detach':
        this.onDetach();
        return;
      case 'mem':
      case 'memory':
        this._memCommand(arg);
        return;
      case 'filter':
        this._filterCommand(arg);
        return;
      case 'pane': {
        const p = PANES.find((x) => x.id === arg || x.title.toLowerCase() === arg.toLowerCase());
        if (!p) this.log('err', `pane: one of ${PANES.map((x) => x.id).join(', ')}`);
        else this.togglePane(p.id);
        return;
      }
      case 'console': {
        const [mode, dev] = arg.split(/\s+/);
        if (mode === 'serial' || mode === 'vga' || mode === 'auto') this.setConsoleMode(mode);
        else {
          this.log('err', 'console: serial [DEVICE], vga or auto');
          return;
        }
        if (mode === 'serial' && dev) {
          this._serialChosen = true;
          this._showSerial(dev);
          this._changed();
        }
      }
        return;
      case 'cpu': {
        const n = parseNumber(arg);
        if (n !== null) {
          this._s.vcpu = n;
          this._stopRegs = null;
        }
        break;
      }
      default:
    }
    try {
      const out = await this._link.execute<string>('human-monitor-command', { 'command-line': line, 'cpu-index': this._s.vcpu });
      if (out) this.log('out', out);
    } catch (e) {
      this.log('err', (e as Error).message);
    }
    await this.refresh(false);
  }

  private _memCommand(arg: string): void {
    const t = arg.trim().toLowerCase().replace(/^\$/, '');
    if (!t) {
      this.log('err', 'mem ADDR | mem REGISTER (follow it) | mem fixed');
      return;
    }
    if (t === 'fixed' || t === 'nofollow') {
      this.followRegister(null);
      return;
    }
    if (this._s.cpu && t in this._s.cpu.regs && !/^\d/.test(t)) {
      this.followRegister(t);
      return;
    }
    const n = parseNumber(t);
    if (n === null) {
      this.log('err', `mem: '${arg}' is neither a number nor a register`);
      return;
    }
    this._s.mem = { ...this._s.mem, addr: n, follow: null };
    if (!this._s.visible.has('memory')) this.togglePane('memory');
    void this._refreshMemory().then(() => this._changed());
  }

  /** `filter [device ID] [ports A-B] [in|out] [pio|mmio] | filter clear`, like `info traps`. */
  private _filterCommand(arg: string): void {
    const t = arg.trim().split(/\s+/).filter(Boolean);
    const f: TrapFilter = {};
    for (let i = 0; i < t.length; i++) {
      const w = t[i].toLowerCase();
      if (w === 'clear' || w === 'none') continue;
      if (w === 'device' && t[i + 1]) f.device = t[++i];
      else if ((w === 'ports' || w === 'port' || w === 'addr') && t[i + 1]) {
        const [a, b] = t[++i].split('-');
        const x = parseNumber(a);
        const y = b === undefined ? x : parseNumber(b);
        if (x === null || y === null) {
          this.log('err', `filter: bad range ${t[i]}`);
          return;
        }
        f.start = x;
        f.end = y;
      } else if (w === 'in' || w === 'read') f.dir = 'read';
      else if (w === 'out' || w === 'write') f.dir = 'write';
      else if (w === 'pio' || w === 'mmio') f.space = w;
      else f.device = t[i];
    }
    this._s.trapFilter = f;
    if (!this._s.visible.has('traps')) this.togglePane('traps');
    this.log('out', `trap filter: ${describeFilter(f)}`);
    void this._refreshTraps().then(() => this._changed());
  }
}

export function describeFilter(f: TrapFilter): string {
  const parts: string[] = [];
  if (f.device) parts.push(`device ${f.device}`);
  if (f.start !== undefined) parts.push(`ports ${hx(f.start, 4)}-${hx(f.end ?? f.start, 4)}`);
  if (f.dir) parts.push(f.dir === 'read' ? 'in' : 'out');
  if (f.space) parts.push(f.space);
  return parts.length ? parts.join(' ') : 'all';
}
