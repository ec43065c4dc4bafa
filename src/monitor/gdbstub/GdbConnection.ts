// One gdb on the stub: the packets of the GDB Remote Serial Protocol (GDB manual, "Remote
// Protocol" → "Packets", "Stop Reply Packets", "General Query Packets") answered from the
// monitor's shared state. gdb is one more monitor client: its breakpoints are rows of the
// DebugEngine's one table (they show in every other client's `info breakpoints`), its run
// control is the machine's stop/cont/step, and `monitor CMD` is a human monitor command.
//
// gdb runs in all-stop mode: after `c`, `s` or `vCont` it waits for one stop reply, and the
// only thing it sends meanwhile is the interrupt byte. Stops that happen while gdb believes
// the target stopped (another client stepping, `monitor stepi`) are not reported; gdb reads
// the registers afresh before it shows anything anyway.
//
// Each vCPU is a thread, numbered from 1 (vCPU 0 is thread 1): thread ids 0 ("any") and -1
// ("all") are gdb's own. A step runs only the stepped vCPU; the others stay paused.
//
// Attach, detach and disconnect (docs/gdb.md says the same to users):
//  - a new connection pauses the VM (gdb expects a stopped target);
//  - `detach` (D) removes gdb's breakpoints and watchpoints and resumes the VM;
//  - `kill` (k, vKill) and a dropped connection remove them and leave the VM as it is;
//    a paused VM stays paused for the next client, `monitor quit` ends it.
//
// Nothing a client sends may take the host down: every handler's failure becomes an error
// reply, the framing layer bounds what it buffers, and a client that floods us is throttled
// by pausing its socket.

import type { Socket } from 'node:net';
import { errorMessage } from '../../common/errors.js';
import type { StopInfo } from '../../core/debug/types.js';
import { cpuMode, type CpuState } from '../../core/vcpu/CpuState.js';
import { Session, type Monitor } from '../Monitor.js';
import {
  encodePacket, escapeBinary, fromHex, hexToText, PacketReader, parseHexNumber, RspError, textToHex, toHex,
  unescapeBinary,
} from './rsp.js';
import { allRegistersHex, GDB_REGISTERS, registerHex, targetXml, writeAllRegisters, writeRegisterBytes } from './target.js';

/** The largest packet we accept (announced in hex as PacketSize). */
export const PACKET_SIZE = 0x4000;
/** Largest memory transfer per m packet: what fits a reply of PACKET_SIZE. */
const MAX_MEMORY_READ = (PACKET_SIZE - 16) >> 1;
/** Packets waiting for their turn before we stop reading the socket. */
const QUEUE_HIGH = 64;
const QUEUE_LOW = 16;
/** Replies gdb may leave unread before the connection is dropped. */
const MAX_UNREAD = 8 << 20;
/** Retransmissions of one reply after `-` before we give up on it. */
const MAX_RETRIES = 8;

/** gdb's signal numbers (its own numbering, which matches Linux's for these). */
const enum Signal {
  INT = 2,
  TRAP = 5,
  ABRT = 6,
  KILL = 9,
  SEGV = 11,
}

/** The Z/z packet types: software and hardware breakpoint, write, read and access watchpoint. */
const enum Ztype {
  SW_BREAK = 0,
  HW_BREAK = 1,
  WRITE_WATCH = 2,
  READ_WATCH = 3,
  ACCESS_WATCH = 4,
}

interface GdbBreakpoint {
  type: Ztype;
  addr: number;
  len: number;
  /** The DebugEngine's number for it. */
  id: number;
  /**
   * inserted: gdb has it in; removed: gdb sent z, the row still fires until gdb resumes;
   * parked: disabled because gdb resumed without it.
   */
  state: 'inserted' | 'removed' | 'parked';
}

type Action = { op: 'c' | 's' | 't'; tid: number | undefined };

export class GdbConnection {
  readonly session: Session;
  /** Called once the connection is gone and gdb's breakpoints are removed. */
  onClose: (() => void) | null = null;
  private readonly _reader = new PacketReader(PACKET_SIZE);
  private _noAck = false;
  private _lastSent: string | null = null;
  private _retries = 0;
  /** Packets waiting for their turn; null stands for an overlong one (answered E01). */
  private readonly _queue: (string | null)[] = [];
  private _pumping = false;
  private _readPaused = false;
  private _closed = false;
  /** gdb sent a resume and waits for a stop reply. */
  private _waiting = false;
  /** Threads named by Hg (registers, memory) and Hc (step); 0 = any, -1 = all. */
  private _gThread = 0;
  private _cThread = 0;
  /** The vCPU of the last stop reported (what "any thread" means). */
  private _stopVcpu = 0;
  private readonly _bps = new Map<string, GdbBreakpoint>();
  /** gdb understands the swbreak/hwbreak stop reasons (from its qSupported). */
  private _swbreak = false;
  private _hwbreak = false;
  /** target.xml as first read at offset 0, so that the chunks of one read agree. */
  private _xml = '';
  private readonly _onStop = (info: StopInfo): void => {
    // Called from the machine's event emitter: nothing may be thrown back into it.
    try {
      this._stopped(info);
    } catch {
      void this.close();
    }
  };

  constructor(
    readonly monitor: Monitor,
    readonly socket: Socket,
    readonly peer: string,
  ) {
    this.session = new Session(monitor, `gdb ${peer}`);
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      // A bug here must cost this connection, never the VM host.
      try {
        this._data(d);
      } catch {
        void this.close();
      }
    });
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
    monitor.machine.on('stop', this._onStop);
  }

  /** Pauses the VM for gdb: it expects a stopped target when it attaches. */
  async attach(): Promise<void> {
    if (this.monitor.machine.stops.some((s) => s === null)) {
      await this.session.execute('stop').catch(() => undefined);
    }
    const first = this.monitor.machine.stops.findIndex((s) => s !== null && s.reason !== 'pause');
    this._stopVcpu = Math.max(0, first);
  }

  /**
   * Ends the connection. With `exited`, a gdb waiting for a stop is told the target exited
   * (the VM host is going away). gdb's breakpoints are removed from the shared table.
   */
  async close(exited = false): Promise<void> {
    if (this._closed) return;
    if (exited && this._waiting) this._send('W00');
    this._closed = true;
    this._waiting = false;
    this.monitor.machine.off('stop', this._onStop);
    this.socket.end();
    this.socket.destroy();
    await this._removeBreakpoints();
    this.onClose?.();
  }

  get closed(): boolean {
    return this._closed;
  }

  // -------------------------------------------------------------------------------------
  // Bytes in, packets out
  // -------------------------------------------------------------------------------------

  private _data(chunk: Buffer): void {
    if (this._closed) return;
    for (const input of this._reader.feed(chunk)) {
      switch (input.kind) {
        case 'packet':
          if (!this._noAck) this._write('+');
          this._enqueue(input.data);
          break;
        case 'bad-checksum':
          // gdb retransmits on `-`. In no-ack mode there is nobody to tell; drop it.
          if (!this._noAck) this._write('-');
          break;
        case 'overlong':
          // Framed correctly but longer than the PacketSize we announced: received, refused.
          if (!this._noAck) this._write('+');
          this._enqueue(null);
          break;
        case 'interrupt':
          this._interrupt();
          break;
        case 'ack':
          this._retries = 0;
          break;
        case 'nack':
          if (!this._noAck && this._lastSent !== null && this._retries++ < MAX_RETRIES) this._write(this._lastSent);
          break;
      }
    }
  }

  private _enqueue(packet: string | null): void {
    this._queue.push(packet);
    if (this._queue.length >= QUEUE_HIGH && !this._readPaused) {
      this._readPaused = true;
      this.socket.pause();
    }
    void this._pump();
  }

  private async _pump(): Promise<void> {
    if (this._pumping) return;
    this._pumping = true;
    try {
      while (this._queue.length && !this._closed) {
        const packet = this._queue.shift()!;
        let reply: string | null;
        try {
          reply = packet === null ? 'E01' : await this._handle(packet);
        } catch (e) {
          reply = e instanceof RspError ? 'E16' : 'E01';
        }
        if (reply !== null) this._send(reply);
        if (this._readPaused && this._queue.length <= QUEUE_LOW) {
          this._readPaused = false;
          this.socket.resume();
        }
      }
    } finally {
      this._pumping = false;
    }
  }

  private _write(text: string): void {
    if (this._closed || this.socket.destroyed) return;
    if (this.socket.writableLength > MAX_UNREAD) {
      // A client that never reads its replies is gone in all but name.
      void this.close();
      return;
    }
    this.socket.write(text, 'latin1');
  }

  private _send(payload: string): void {
    const pkt = encodePacket(payload);
    this._lastSent = pkt;
    this._retries = 0;
    this._write(pkt);
  }

  /** Console output for gdb to print (an O packet), split to fit the packet size. */
  private _console(text: string): void {
    const hex = textToHex(text);
    const step = PACKET_SIZE - 16;
    for (let i = 0; i < hex.length; i += step) this._send('O' + hex.slice(i, i + step));
  }

  // -------------------------------------------------------------------------------------
  // Packets
  // -------------------------------------------------------------------------------------

  /** Answers one packet; null when the answer comes later (a stop reply) or never (k). */
  private async _handle(p: string): Promise<string | null> {
    switch (p[0]) {
      case '?': return this._haltReason();
      case 'q': return this._query(p);
      case 'Q': return this._set(p);
      case 'v': return this._v(p);
      case 'H': return this._setThread(p);
      case 'T': return this._tid(p.slice(1)) > 0 ? 'OK' : 'E01';
      case 'g': return allRegistersHex(await this._state());
      case 'G': return this._writeRegisters(p.slice(1));
      case 'p': return registerHex(await this._state(), parseHexNumber(p.slice(1), 'register number'));
      case 'P': return this._writeRegister(p.slice(1));
      case 'm': return this._readMemory(p.slice(1));
      case 'M': return this._writeMemory(p.slice(1), false);
      case 'X': return this._writeMemory(p.slice(1), true);
      case 'c': case 'C': case 's': case 'S': return this._resumeSimple(p);
      case 'Z': case 'z': return this._breakpoint(p);
      case 'D': return this._detach();
      case 'k':
        await this._kill();
        return null;
      default:
        // An empty reply is the protocol's "not supported".
        return '';
    }
  }

  private async _query(p: string): Promise<string> {
    const [name, ...rest] = p.split(/[:,]/);
    const arg = p.slice(name.length + 1);
    switch (name) {
      case 'qSupported': {
        const features = arg.split(';');
        this._swbreak = features.includes('swbreak+');
        this._hwbreak = features.includes('hwbreak+');
        return `PacketSize=${PACKET_SIZE.toString(16)};qXfer:features:read+;vContSupported+;swbreak+;hwbreak+;QStartNoAckMode+`;
      }
      case 'qXfer':
        return this._xfer(rest);
      case 'qAttached':
        // We attached to a VM that exists on its own: gdb's quit detaches instead of killing.
        return '1';
      case 'qC':
        return `QC${(this._gThread > 0 ? this._gThread : this._stopVcpu + 1).toString(16)}`;
      case 'qfThreadInfo':
        return 'm' + Array.from({ length: this._vcpus }, (_, i) => (i + 1).toString(16)).join(',');
      case 'qsThreadInfo':
        return 'l';
      case 'qThreadExtraInfo': {
        const tid = this._tid(arg);
        if (tid <= 0) return 'E01';
        return textToHex(await this._threadText(tid - 1));
      }
      case 'qRcmd':
        return this._monitorCommand(hexToText(arg));
      case 'qSymbol':
        return 'OK';
      default:
        return '';
    }
  }

  private async _set(p: string): Promise<string | null> {
    if (p === 'QStartNoAckMode') {
      // This packet is still acknowledged, and so is our OK; nothing after it.
      this._send('OK');
      this._noAck = true;
      return null;
    }
    return '';
  }

  private async _v(p: string): Promise<string | null> {
    if (p === 'vCont?') return 'vCont;c;C;s;S;t';
    if (p.startsWith('vCont;')) return this._vCont(p.slice(6));
    if (p === 'vCtrlC') {
      this._interrupt();
      return 'OK';
    }
    if (p.startsWith('vKill')) {
      await this._removeBreakpoints();
      setImmediate(() => void this.close());
      return 'OK';
    }
    return '';
  }

  // ---- threads --------------------------------------------------------------------------

  private get _vcpus(): number {
    return this.monitor.machine.config.vcpus;
  }

  /**
   * A thread id: -1 (all), 0 (any) or a vCPU's thread (1-based). A multiprocess `pP.T` form is
   * accepted too. Returns -2 for one that does not exist.
   */
  private _tid(text: string): number {
    let t = text;
    const mp = /^p[0-9a-fA-F]+\.(.+)$/.exec(t);
    if (mp) t = mp[1];
    if (t === '-1') return -1;
    const n = parseHexNumber(t, 'thread id');
    if (n === 0) return 0;
    return n <= this._vcpus ? n : -2;
  }

  private _setThread(p: string): string {
    const which = p[1];
    const tid = this._tid(p.slice(2));
    if ((which !== 'g' && which !== 'c') || tid === -2) return 'E01';
    if (which === 'g') this._gThread = tid;
    else this._cThread = tid;
    return 'OK';
  }

  /** The vCPU that register and memory packets are about. */
  private get _gVcpu(): number {
    return this._gThread > 0 ? this._gThread - 1 : this._stopVcpu;
  }

  private async _threadText(vcpu: number): Promise<string> {
    const { state, running } = await this.monitor.machine.getState(vcpu);
    const stop = this.monitor.machine.stops[vcpu];
    const mode = { real: 'real mode', v86: 'virtual-8086 mode', prot16: '16-bit protected mode', prot32: '32-bit protected mode' }[cpuMode(state)];
    return `vCPU ${vcpu}, ${mode}, ${running ? 'running' : stop ? stop.text : 'stopped'}`;
  }

  // ---- registers ------------------------------------------------------------------------

  private async _state(vcpu = this._gVcpu): Promise<CpuState> {
    return (await this.monitor.machine.getState(vcpu)).state;
  }

  private async _writeRegisters(hex: string): Promise<string> {
    const cur = await this.monitor.machine.getState(this._gVcpu);
    if (cur.running) return 'E01';
    await this.monitor.machine.setState(this._gVcpu, writeAllRegisters(cur.state, fromHex(hex)));
    return 'OK';
  }

  private async _writeRegister(arg: string): Promise<string> {
    const eq = arg.indexOf('=');
    if (eq < 0) throw new RspError('P needs n=value');
    const index = parseHexNumber(arg.slice(0, eq), 'register number');
    if (index >= GDB_REGISTERS.length) return 'E01';
    const cur = await this.monitor.machine.getState(this._gVcpu);
    if (cur.running) return 'E01';
    const next = writeRegisterBytes(cur.state, index, fromHex(arg.slice(eq + 1)));
    if (next) await this.monitor.machine.setState(this._gVcpu, next);
    return 'OK';
  }

  // ---- memory ---------------------------------------------------------------------------

  /** `addr,length`: linear addresses, through the vCPU's page tables. */
  private _range(text: string): [number, number] {
    const m = /^([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(text);
    if (!m) throw new RspError('expected addr,length');
    return [parseHexNumber(m[1], 'address'), parseHexNumber(m[2], 'length')];
  }

  private async _readMemory(arg: string): Promise<string> {
    const [addr, length] = this._range(arg);
    // A shorter reply than asked is allowed; gdb asks again for the rest.
    const len = Math.min(length, MAX_MEMORY_READ, 0x100000000 - addr);
    try {
      return toHex(await this.monitor.debug.read(addr, len, 'linear', this._gVcpu));
    } catch {
      // Not mapped (a page fault if the guest tried): gdb prints "Cannot access memory".
      return 'E14';
    }
  }

  private async _writeMemory(arg: string, binary: boolean): Promise<string> {
    const colon = arg.indexOf(':');
    if (colon < 0) throw new RspError('expected addr,length:data');
    const [addr, length] = this._range(arg.slice(0, colon));
    const payload = arg.slice(colon + 1);
    const data = binary ? unescapeBinary(payload) : fromHex(payload);
    if (data.length !== length) throw new RspError(`the packet says ${length} bytes but carries ${data.length}`);
    if (length === 0) return 'OK';
    if (addr + length > 0x100000000) return 'E14';
    try {
      await this.monitor.debug.write(addr, data, 'linear', this._gVcpu);
      return 'OK';
    } catch {
      return 'E14';
    }
  }

  // ---- run control ----------------------------------------------------------------------

  /** c [addr], C sig[;addr], s [addr], S sig[;addr]: the signal is not passed to the guest. */
  private async _resumeSimple(p: string): Promise<string | null> {
    const op = p[0].toLowerCase() as 'c' | 's';
    let rest = p.slice(1);
    if (p[0] === 'C' || p[0] === 'S') {
      const semi = rest.indexOf(';');
      parseHexNumber(semi < 0 ? rest : rest.slice(0, semi), 'signal');
      rest = semi < 0 ? '' : rest.slice(semi + 1);
    }
    const vcpu = this._cThread > 0 ? this._cThread - 1 : this._stopVcpu;
    if (rest) {
      const addr = parseHexNumber(rest, 'address');
      const cur = await this.monitor.machine.getState(vcpu);
      if (cur.running) return 'E01';
      await this.monitor.machine.setState(vcpu, { ...cur.state, eip: addr });
    }
    return op === 's' ? this._run('step', vcpu) : this._run('cont');
  }

  private _vCont(text: string): Promise<string | null> | string {
    const actions: Action[] = [];
    for (const part of text.split(';')) {
      const m = /^([cCsStr])([0-9a-fA-F]{0,2}(?:,[0-9a-fA-F]+)*)(?::(.+))?$/.exec(part);
      if (!m) throw new RspError(`'${part.slice(0, 20)}' is not a vCont action`);
      const letter = m[1];
      // r (range step) is stepped one instruction at a time by gdb's rules: a plain step.
      const op = letter === 'c' || letter === 'C' ? 'c' : letter === 't' ? 't' : 's';
      const tid = m[3] === undefined ? undefined : this._tid(m[3]);
      if (tid === -2) continue;
      actions.push({ op, tid: tid === -1 ? undefined : tid === 0 ? this._stopVcpu + 1 : tid });
    }
    // The leftmost action that applies to a thread is the one it takes.
    const per: (Action['op'] | null)[] = Array.from({ length: this._vcpus }, (_, v) => actions.find((a) => a.tid === undefined || a.tid === v + 1)?.op ?? null);
    const step = per.indexOf('s');
    if (step >= 0) return this._run('step', step);
    const conts = per.flatMap((op, v) => (op === 'c' ? [v] : []));
    if (conts.length === this._vcpus) return this._run('cont');
    if (conts.length) return this._run('cont', conts);
    // Only `t` (stop), which all-stop ignores: nothing resumed, so the stop stands.
    return this._haltReason();
  }

  /** Resumes and leaves the answer to the stop that follows. */
  private async _run(kind: 'cont' | 'step', which?: number | number[]): Promise<null> {
    await this._settleBreakpoints();
    this._waiting = true;
    try {
      if (kind === 'step') {
        const vcpu = which as number;
        // The step command resolves at the stop; the stop listener answers gdb.
        void this.session.execute('step', { vcpu }).catch((e: unknown) => this._resumeFailed(e, vcpu));
      } else if (Array.isArray(which)) {
        for (const vcpu of which) await this.session.execute('cont', { vcpu });
      } else await this.session.execute('cont');
    } catch (e) {
      this._resumeFailed(e, Array.isArray(which) ? which[0] : which ?? this._stopVcpu);
    }
    return null;
  }

  /** The VM would not run (a triple fault, say): gdb hears why and gets the stop back. */
  private _resumeFailed(e: unknown, vcpu: number): void {
    if (!this._waiting || this._closed) return;
    this._waiting = false;
    this._console(`[hvmon] cannot resume: ${errorMessage(e)}\n`);
    const stops = this.monitor.machine.stops;
    const info = stops[vcpu] ?? stops.find((s) => s !== null) ?? { vcpu, reason: 'pause', text: 'paused' };
    this._send(this._stopReply(info, true));
  }

  /** Ctrl-C (or vCtrlC): pause the VM; the pause is gdb's stop reply (SIGINT). */
  private _interrupt(): void {
    if (!this._waiting) return;
    void this.session.execute('stop').then(() => {
      // Nothing was running (so no stop event came): answer from the state as it is.
      if (this._waiting && !this._closed) {
        this._waiting = false;
        this._send(`T0${Signal.INT}thread:${(this._stopVcpu + 1).toString(16)};`);
      }
    }, () => undefined);
  }

  private _stopped(info: StopInfo): void {
    if (!this._waiting || this._closed) return;
    this._waiting = false;
    this._stopVcpu = info.vcpu;
    // gdb makes the reported thread its current one (for registers and for stepping).
    this._gThread = this._cThread = info.vcpu + 1;
    this._send(this._stopReply(info, true));
  }

  /** `?`: why the target is stopped now (pausing it first if another client resumed it). */
  private async _haltReason(): Promise<string> {
    this._waiting = false;
    const stops = this.monitor.machine.stops;
    if (stops.every((s) => s === null)) await this.session.execute('stop');
    const vcpu = this._gThread > 0 ? this._gThread - 1 : Math.max(0, stops.findIndex((s) => s !== null && s.reason !== 'pause'));
    const info = stops[vcpu] ?? { vcpu, reason: 'pause', text: 'paused' };
    this._stopVcpu = info.vcpu;
    return this._stopReply(info, false);
  }

  /**
   * A T stop reply: the signal, the thread, and why (swbreak/hwbreak for gdb's own
   * breakpoints, watch/rwatch/awatch with the data address for its watchpoints). Stops gdb
   * has no words for (I/O, MMIO and interrupt breakpoints, other clients' breakpoints, a
   * triple fault) are a SIGTRAP or a fatal signal, and their text goes to gdb's console.
   */
  private _stopReply(info: StopInfo, resumed: boolean): string {
    let signal = Signal.TRAP;
    let why = '';
    let tell = false;
    switch (info.reason) {
      case 'pause':
        if (resumed) signal = Signal.INT;
        break;
      case 'step':
        break;
      case 'breakpoint': {
        const own = [...this._bps.values()].filter((b) => b.type <= Ztype.HW_BREAK && b.addr === info.addr && b.state !== 'parked');
        if (own.some((b) => b.type === Ztype.SW_BREAK)) why = this._swbreak ? 'swbreak:;' : '';
        else if (own.length) why = this._hwbreak ? 'hwbreak:;' : '';
        else tell = true;
        break;
      }
      case 'watchpoint': {
        const w = this._watchFor(info);
        if (w) {
          const name = w.type === Ztype.WRITE_WATCH ? 'watch' : w.type === Ztype.READ_WATCH ? 'rwatch' : 'awatch';
          why = `${name}:${Math.max(info.addr ?? w.addr, w.addr).toString(16)};`;
        } else tell = true;
        break;
      }
      case 'triple-fault':
        signal = Signal.SEGV;
        tell = true;
        break;
      case 'shutdown':
        signal = Signal.KILL;
        tell = true;
        break;
      case 'device-error':
      case 'internal-error':
        signal = Signal.ABRT;
        tell = true;
        break;
      default:
        // io-breakpoint, mmio-breakpoint, interrupt, step-trap: a trap gdb did not set.
        tell = true;
        break;
    }
    if (tell && resumed) this._console(`[hvmon] ${info.text}\n`);
    return `T${signal.toString(16).padStart(2, '0')}thread:${(info.vcpu + 1).toString(16)};${why}`;
  }

  private _watchFor(info: StopInfo): GdbBreakpoint | undefined {
    const start = info.addr ?? 0;
    const end = start + Math.max(1, info.size ?? 1) - 1;
    for (const b of this._bps.values()) {
      if (b.type < Ztype.WRITE_WATCH || b.state === 'parked') continue;
      if (end < b.addr || start > b.addr + b.len - 1) continue;
      if (b.type === Ztype.WRITE_WATCH && info.write === false) continue;
      if (b.type === Ztype.READ_WATCH && info.write === true) continue;
      return b;
    }
    return undefined;
  }

  // ---- breakpoints ----------------------------------------------------------------------
  //
  // gdb (breakpoint always-inserted off, its default) removes every breakpoint with z when
  // the target stops and inserts them again with Z before it resumes. Followed to the letter,
  // gdb's breakpoints would vanish from the shared table whenever anyone looks at it, and
  // come back with new numbers. So a z only marks the row; the marked rows are settled when
  // gdb resumes: a row gdb did not insert again is disabled for that run (gdb stepping over
  // it), and deleted at the next resume if gdb still has not inserted it (gdb deleted it).

  private async _breakpoint(p: string): Promise<string> {
    const m = /^([zZ])([0-9]),([0-9a-fA-F]+),([0-9a-fA-F]+)(;.*)?$/.exec(p);
    if (!m) throw new RspError('expected Ztype,addr,kind');
    const type = Number(m[2]) as Ztype;
    if (type > Ztype.ACCESS_WATCH) return '';
    const addr = parseHexNumber(m[3], 'address');
    const kind = parseHexNumber(m[4], 'kind');
    const watch = type >= Ztype.WRITE_WATCH;
    // For breakpoints the kind is the instruction length gdb would patch; we patch nothing.
    const key = `${type}:${addr}:${watch ? kind : 0}`;
    const b = this._bps.get(key);
    if (m[1] === 'z') {
      if (b && b.state === 'inserted') b.state = 'removed';
      return 'OK';
    }
    if (b) {
      if (this.monitor.debug.list().some((x) => x.id === b.id)) {
        if (b.state === 'parked') await this.session.execute('break-update', { id: b.id, enabled: true });
        b.state = 'inserted';
        return 'OK';
      }
      // Another client deleted it: insert it anew.
      this._bps.delete(key);
    }
    if (watch && (kind < 1 || addr + kind > 0x100000000)) return 'E16';
    const hexAddr = `0x${addr.toString(16)}`;
    const req = watch
      ? {
          type: 'watch', addr, end: addr + kind - 1, space: 'linear',
          access: type === Ztype.WRITE_WATCH ? 'w' : type === Ztype.READ_WATCH ? 'r' : 'rw',
          origin: `gdb ${type === Ztype.WRITE_WATCH ? 'watch' : type === Ztype.READ_WATCH ? 'rwatch' : 'awatch'} ${hexAddr}+${kind}`,
        }
      : { type: 'exec', addr, origin: `gdb ${type === Ztype.SW_BREAK ? 'break' : 'hbreak'} *${hexAddr}` };
    try {
      const made = (await this.session.execute('break-insert', req)) as { id: number };
      if (this._closed) {
        // gdb went away while we inserted it; close() has already cleaned up without it.
        await this.session.execute('break-delete', { id: made.id }).catch(() => undefined);
        return 'E01';
      }
      this._bps.set(key, { type, addr, len: watch ? kind : 1, id: made.id, state: 'inserted' });
      return 'OK';
    } catch {
      // Out of watchpoint slots, say: gdb says it could not insert it.
      return 'E01';
    }
  }

  /** Before a resume: what gdb removed and did not insert again must not fire. */
  private async _settleBreakpoints(): Promise<void> {
    for (const [key, b] of [...this._bps]) {
      if (b.state === 'removed') {
        b.state = 'parked';
        await this.session.execute('break-update', { id: b.id, enabled: false }).catch(() => undefined);
      } else if (b.state === 'parked') {
        this._bps.delete(key);
        await this.session.execute('break-delete', { id: b.id }).catch(() => undefined);
      }
    }
  }

  private async _removeBreakpoints(): Promise<void> {
    const ids = [...this._bps.values()].map((b) => b.id);
    this._bps.clear();
    // Another client may have deleted some already; they are gone either way.
    for (const id of ids) await this.session.execute('break-delete', { id }).catch(() => undefined);
  }

  // ---- detach, kill, monitor ------------------------------------------------------------

  private async _detach(): Promise<string | null> {
    await this._removeBreakpoints();
    this._send('OK');
    // A detached program runs on. (A VM that cannot resume, after a triple fault, stays.)
    await this.session.execute('cont').catch(() => undefined);
    setImmediate(() => void this.close());
    return null;
  }

  private async _kill(): Promise<void> {
    // gdb's kill would end a process; a VM has other clients, so it only loses gdb.
    await this._removeBreakpoints();
    await this.close();
  }

  /** `monitor CMD`: a human monitor command; its output goes to gdb's console. */
  private async _monitorCommand(line: string): Promise<string> {
    let out: string;
    try {
      out = String((await this.session.execute('human-monitor-command', { 'command-line': line })) ?? '');
    } catch (e) {
      this._console(`${errorMessage(e)}\n`);
      return 'E01';
    }
    if (out) this._console(out.endsWith('\n') ? out : out + '\n');
    return 'OK';
  }

  // ---- qXfer ----------------------------------------------------------------------------

  /** qXfer:features:read:target.xml:offset,length — the only object we offer. */
  private async _xfer(parts: string[]): Promise<string> {
    const [object, op, annex, offset, length] = parts;
    if (object !== 'features' || op !== 'read') return '';
    if (annex !== 'target.xml') return 'E00';
    const off = parseHexNumber(offset ?? '', 'offset');
    const len = parseHexNumber(length ?? '', 'length');
    if (off === 0 || !this._xml) this._xml = targetXml(await this._state().catch(() => null));
    if (off >= this._xml.length) return 'l';
    const chunk = this._xml.slice(off, off + Math.min(len, PACKET_SIZE - 16));
    return (off + chunk.length >= this._xml.length ? 'l' : 'm') + escapeBinary(chunk);
  }
}
