// Character device backends for the UARTs and debugcon, named with QEMU's -serial syntax:
//
//   null | none                       discard output, no input
//   stdio[,signal=on|off]             the terminal (raw mode on a TTY; Ctrl-C still interrupts
//                                     hvmon unless signal=off, as QEMU's stdio chardev)
//   file:PATH[,append]                output to a file, truncated on open unless append (QEMU's
//                                     file chardev); no input
//   tcp:[HOST]:PORT[,server][,nowait][,nodelay]
//                                     TCP on loopback (HOST empty = 127.0.0.1): a client, or
//                                     with `server` a listener that serves one client at a time
//   unix:PATH[,server][,nowait]       the same on a unix socket (created mode 0600)
//
// `server=on|off` and `wait=on|off` are accepted too, and ",," is a literal comma in a path.
//
// Opening is synchronous (the daemon builds devices synchronously); what needs the event loop
// (listening, connecting, the first client) completes later and is visible through `ready`:
//  - a client resolves `ready` once connected and buffers output until then;
//  - a server resolves `ready` when listening with `nowait`, or when the first client arrives
//    otherwise. QEMU's `wait` holds the VM until a client connects; here output is kept (up
//    to 64 KiB) until the first client connects, so that client still sees everything from
//    the start, and the caller may await `ready` to hold the VM. After a client leaves, output
//    is dropped until the next one connects, as in QEMU. A second client while one is
//    connected is refused (closed at once).
// Errors after opening (a refused connection, a failed write) go to `onError` and never into
// the guest's I/O path.

import * as fs from 'node:fs';
import * as net from 'node:net';
import type { CharBackend } from '../../common/device.js';
import { BackendError, UsageError, errorMessage } from '../../common/errors.js';
import { parseOnOff, splitOptions } from './disk.js';

export type ChardevSpec =
  | { type: 'null' }
  | { type: 'stdio'; signal: boolean }
  | { type: 'file'; path: string; append: boolean }
  | { type: 'tcp'; host: string; port: number; server: boolean; wait: boolean; nodelay: boolean }
  | { type: 'unix'; path: string; server: boolean; wait: boolean };

/** Output kept for a client that has not connected yet (see the header). */
const EARLY_OUTPUT_MAX = 64 * 1024;
/** Input kept while no device has set its input handler yet. */
const EARLY_INPUT_MAX = 64 * 1024;

const SYNTAX =
  'expected null, stdio, file:PATH[,append], tcp:[HOST]:PORT[,server][,nowait] or unix:PATH[,server][,nowait]';

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Splits "head,opt,opt" at the first comma that is not ",," (a literal comma). */
function splitHead(spec: string): [string, string] {
  for (let i = 0; i < spec.length; i++) {
    if (spec[i] !== ',') continue;
    if (spec[i + 1] === ',') {
      i++;
      continue;
    }
    return [spec.slice(0, i).replace(/,,/g, ','), spec.slice(i + 1)];
  }
  return [spec.replace(/,,/g, ','), ''];
}

/** Parses a QEMU-style character device spec (see the file header). Throws UsageError. */
export function parseChardev(spec: string): ChardevSpec {
  const [head, rest] = splitHead(spec.trim());
  const opts = splitOptions(rest);
  const colon = head.indexOf(':');
  const kind = colon < 0 ? head : head.slice(0, colon);
  const arg = colon < 0 ? null : head.slice(colon + 1);
  const fail = (why: string): never => {
    throw new UsageError(`chardev ${JSON.stringify(spec)}: ${why}`);
  };
  const allow = (...names: string[]): Map<string, string> => {
    const m = new Map<string, string>();
    for (const [k, v] of opts) {
      if (!names.includes(k)) fail(`unknown option ${k}${names.length ? ` (allowed: ${names.join(', ')})` : ''}`);
      m.set(k, v);
    }
    return m;
  };
  const onOff = (key: string, v: string): boolean => {
    try {
      return parseOnOff(key, v);
    } catch (e) {
      return fail(errorMessage(e));
    }
  };
  const serverWait = (m: Map<string, string>): { server: boolean; wait: boolean } => {
    const server = m.has('server') ? onOff('server', m.get('server')!) : false;
    let wait = true;
    if (m.has('wait')) wait = onOff('wait', m.get('wait')!);
    if (m.has('nowait')) wait = false;
    if (!server && (m.has('wait') || m.has('nowait'))) fail('wait/nowait only apply to a server');
    return { server, wait };
  };
  switch (kind) {
    case 'null':
    case 'none':
      if (arg !== null) fail(`${kind} takes no argument`);
      allow();
      return { type: 'null' };
    case 'stdio': {
      if (arg !== null) fail('stdio takes no argument');
      const m = allow('signal');
      return { type: 'stdio', signal: m.has('signal') ? onOff('signal', m.get('signal')!) : true };
    }
    case 'file': {
      if (!arg) fail('file needs a path: file:PATH');
      const m = allow('append');
      return { type: 'file', path: arg!, append: m.has('append') ? onOff('append', m.get('append')!) : false };
    }
    case 'tcp': {
      const hp = /^\[([^\]]*)\]:(\d+)$/.exec(arg ?? '') ?? /^([^:]*):(\d+)$/.exec(arg ?? '');
      if (!hp) fail('expected tcp:[HOST]:PORT (HOST may be empty for 127.0.0.1)');
      const host = hp![1] === '' ? '127.0.0.1' : hp![1];
      const port = Number(hp![2]);
      if (port > 65535) fail(`port ${port} is out of range`);
      if (!isLoopback(host)) fail(`host ${host} is not a loopback address (127.0.0.0/8, localhost, ::1)`);
      const m = allow('server', 'wait', 'nowait', 'nodelay');
      const sw = serverWait(m);
      if (port === 0 && !sw.server) fail('a client needs a port to connect to');
      return { type: 'tcp', host, port, ...sw, nodelay: m.has('nodelay') ? onOff('nodelay', m.get('nodelay')!) : false };
    }
    case 'unix': {
      if (!arg) fail('unix needs a path: unix:PATH');
      const m = allow('server', 'wait', 'nowait');
      return { type: 'unix', path: arg!, ...serverWait(m) };
    }
    default:
      return fail(SYNTAX);
  }
}

/** The canonical spec string, for `info chardev` and the device's backend name. */
export function formatChardev(s: ChardevSpec): string {
  const esc = (p: string): string => p.replace(/,/g, ',,');
  switch (s.type) {
    case 'null': return 'null';
    case 'stdio': return s.signal ? 'stdio' : 'stdio,signal=off';
    case 'file': return `file:${esc(s.path)}${s.append ? ',append' : ''}`;
    case 'tcp': {
      const host = s.host.includes(':') ? `[${s.host}]` : s.host;
      return `tcp:${host}:${s.port}${s.server ? ',server' : ''}${s.server && !s.wait ? ',nowait' : ''}${s.nodelay ? ',nodelay' : ''}`;
    }
    case 'unix': return `unix:${esc(s.path)}${s.server ? ',server' : ''}${s.server && !s.wait ? ',nowait' : ''}`;
  }
}

/** A character backend as hvmon opens it. */
export interface Chardev extends CharBackend {
  readonly spec: ChardevSpec;
  /** Resolves when the backend carries data (see the header); rejects if it never will. */
  readonly ready: Promise<void>;
  /** Errors after opening: refused connections, failed writes. */
  onError: ((e: BackendError) => void) | null;
  /** A client connected to or left a socket backend. */
  onConnection: ((connected: boolean) => void) | null;
  /** Closes files and sockets; resolves when they are closed. */
  close(): Promise<void>;
}

/** Common input plumbing: input arriving before a device listens is kept (bounded). */
abstract class ChardevBase implements Chardev {
  onError: ((e: BackendError) => void) | null = null;
  onConnection: ((connected: boolean) => void) | null = null;
  abstract readonly ready: Promise<void>;
  private _handler: ((d: Uint8Array) => void) | null = null;
  private _earlyIn: Uint8Array[] = [];
  private _earlyInBytes = 0;

  constructor(
    readonly spec: ChardevSpec,
    readonly name: string = formatChardev(spec),
  ) {}

  abstract write(data: Uint8Array): void;
  abstract close(): Promise<void>;

  setInputHandler(cb: ((data: Uint8Array) => void) | null): void {
    this._handler = cb;
    if (cb && this._earlyIn.length) {
      const early = this._earlyIn;
      this._earlyIn = [];
      this._earlyInBytes = 0;
      for (const d of early) cb(d);
    }
  }

  protected _input(d: Uint8Array): void {
    if (this._handler) {
      this._handler(d);
    } else if (this._earlyInBytes + d.length <= EARLY_INPUT_MAX) {
      this._earlyIn.push(d.slice());
      this._earlyInBytes += d.length;
    }
  }

  protected _error(msg: string): void {
    const e = new BackendError(`${this.name}: ${msg}`);
    if (this.onError) this.onError(e);
  }
}

/** Discards output; never has input. */
export class NullChardev extends ChardevBase {
  readonly ready = Promise.resolve();
  constructor() {
    super({ type: 'null' });
  }
  write(): void {}
  async close(): Promise<void> {}
}

/** Output to a file, written synchronously so that nothing is lost when hvmon stops. */
export class FileChardev extends ChardevBase {
  readonly ready = Promise.resolve();
  private _fd: number | null;
  /** Bytes that could not be written (the error went to onError). */
  lost = 0;

  constructor(spec: Extract<ChardevSpec, { type: 'file' }>) {
    super(spec);
    try {
      this._fd = fs.openSync(spec.path, spec.append ? 'a' : 'w');
    } catch (e) {
      throw new BackendError(`cannot open chardev file ${spec.path}: ${errorMessage(e)}`);
    }
  }

  write(data: Uint8Array): void {
    if (this._fd === null) return;
    try {
      let off = 0;
      while (off < data.length) off += fs.writeSync(this._fd, data, off, data.length - off);
    } catch (e) {
      this.lost += data.length;
      this._error(`write failed: ${errorMessage(e)}`);
    }
  }

  async close(): Promise<void> {
    if (this._fd !== null) fs.closeSync(this._fd);
    this._fd = null;
  }
}

/** The streams StdioChardev talks to (process.stdin/stdout unless a test gives others). */
export interface StdioStreams {
  input: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  output: NodeJS.WritableStream;
}

/** The terminal. In raw mode, Ctrl-C interrupts hvmon unless signal=off. */
export class StdioChardev extends ChardevBase {
  readonly ready = Promise.resolve();
  private readonly _io: StdioStreams;
  private _raw = false;
  private readonly _onData = (chunk: Buffer | string): void => {
    const d = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : new Uint8Array(chunk);
    const s = this.spec as Extract<ChardevSpec, { type: 'stdio' }>;
    if (s.signal && this._raw && d.includes(0x03)) {
      process.kill(process.pid, 'SIGINT');
      return;
    }
    this._input(d);
  };

  constructor(spec: Extract<ChardevSpec, { type: 'stdio' }>, io?: StdioStreams) {
    super(spec);
    this._io = io ?? { input: process.stdin, output: process.stdout };
    const inp = this._io.input;
    if (inp.isTTY && inp.setRawMode) {
      inp.setRawMode(true);
      this._raw = true;
    }
    inp.on('data', this._onData);
    inp.resume();
  }

  write(data: Uint8Array): void {
    this._io.output.write(data);
  }

  async close(): Promise<void> {
    const inp = this._io.input;
    inp.removeListener('data', this._onData);
    inp.pause();
    if (this._raw && inp.setRawMode) inp.setRawMode(false);
    this._raw = false;
  }
}

/** TCP or unix socket, as a client or a one-client-at-a-time server. */
export class SocketChardev extends ChardevBase {
  readonly ready: Promise<void>;
  private _server: net.Server | null = null;
  private _sock: net.Socket | null = null;
  private _everConnected = false;
  private _earlyOut: Uint8Array[] = [];
  private _earlyOutBytes = 0;
  private _closed = false;
  /** Bytes dropped because no client was connected. */
  dropped = 0;

  constructor(spec: Extract<ChardevSpec, { type: 'tcp' | 'unix' }>) {
    super(spec);
    if (spec.type === 'unix' && spec.server) removeStaleSocket(spec.path);
    this.ready = spec.server ? this._listen(spec) : this._connect(spec);
    // `ready` is also reported through onError; a caller that does not await it must not
    // crash the process with an unhandled rejection.
    this.ready.catch(() => {});
  }

  /** The address a server listens on (its port, for tcp:…:0), or null. */
  address(): net.AddressInfo | string | null {
    return this._server?.address() ?? null;
  }

  get connected(): boolean {
    return this._sock !== null;
  }

  private _listen(spec: Extract<ChardevSpec, { type: 'tcp' | 'unix' }>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const server = net.createServer((sock) => {
        if (this._sock || this._closed) {
          sock.destroy(); // one client at a time
          return;
        }
        this._attach(sock, spec.type === 'tcp' && spec.nodelay);
        resolve();
      });
      this._server = server;
      server.on('error', (e) => {
        const err = new BackendError(`${this.name}: cannot listen: ${errorMessage(e)}`);
        this.onError?.(err);
        reject(err);
      });
      const onListening = (): void => {
        if (spec.type === 'unix') {
          try {
            fs.chmodSync(spec.path, 0o600);
          } catch {}
        }
        if (!spec.wait) resolve();
      };
      if (spec.type === 'tcp') {
        server.listen({ host: spec.host, port: spec.port }, onListening);
      } else {
        server.listen(spec.path, onListening);
      }
    });
  }

  private _connect(spec: Extract<ChardevSpec, { type: 'tcp' | 'unix' }>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const sock = spec.type === 'tcp' ? net.connect({ host: spec.host, port: spec.port }) : net.connect(spec.path);
      const onError = (e: Error): void => {
        const err = new BackendError(`${this.name}: cannot connect: ${errorMessage(e)}`);
        this.onError?.(err);
        reject(err);
      };
      sock.once('error', onError);
      sock.once('connect', () => {
        sock.removeListener('error', onError);
        this._attach(sock, spec.type === 'tcp' && spec.nodelay);
        resolve();
      });
    });
  }

  private _attach(sock: net.Socket, nodelay: boolean): void {
    this._sock = sock;
    if (nodelay) sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => this._input(new Uint8Array(d.buffer, d.byteOffset, d.length)));
    sock.on('error', (e) => this._error(`connection: ${errorMessage(e)}`));
    sock.on('close', () => {
      if (this._sock === sock) this._sock = null;
      if (!this._closed) this.onConnection?.(false);
    });
    const first = !this._everConnected;
    this._everConnected = true;
    this.onConnection?.(true);
    if (first && this._earlyOut.length) {
      for (const d of this._earlyOut) sock.write(d);
      this._earlyOut = [];
      this._earlyOutBytes = 0;
    }
  }

  write(data: Uint8Array): void {
    if (this._sock) {
      this._sock.write(data.slice());
      return;
    }
    const s = this.spec as Extract<ChardevSpec, { type: 'tcp' | 'unix' }>;
    // Before the first connection, keep output for a client we wait for (see the header).
    const keep = !this._everConnected && !this._closed && (!s.server || s.wait);
    if (keep && this._earlyOutBytes + data.length <= EARLY_OUTPUT_MAX) {
      this._earlyOut.push(data.slice());
      this._earlyOutBytes += data.length;
    } else {
      this.dropped += data.length;
    }
  }

  async close(): Promise<void> {
    this._closed = true;
    const waits: Promise<void>[] = [];
    const sock = this._sock;
    if (sock) {
      waits.push(new Promise<void>((res) => sock.once('close', () => res())));
      sock.end();
      sock.destroy();
    }
    const server = this._server;
    if (server?.listening) waits.push(new Promise<void>((res) => server.close(() => res())));
    await Promise.all(waits);
    const s = this.spec;
    if (s.type === 'unix' && s.server) {
      try {
        fs.unlinkSync(s.path);
      } catch {}
    }
  }
}

/** A unix socket left behind by an earlier run is removed; any other file is an error. */
function removeStaleSocket(path: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new BackendError(`cannot listen on ${path}: it exists and is not a socket`);
  fs.unlinkSync(path);
}

/**
 * Opens a character backend from a spec string (or a parsed spec). Synchronous: bad specs
 * throw UsageError and files that cannot be opened throw BackendError at once; socket
 * progress is reported through `ready` and `onError`.
 */
export function openChardev(spec: string | ChardevSpec, stdio?: StdioStreams): Chardev {
  const s = typeof spec === 'string' ? parseChardev(spec) : spec;
  switch (s.type) {
    case 'null': return new NullChardev();
    case 'stdio': return new StdioChardev(s, stdio);
    case 'file': return new FileChardev(s);
    case 'tcp':
    case 'unix': return new SocketChardev(s);
  }
}
