// The monitor's sockets: QMP's wire format on a unix socket (created mode 0600) and, when
// asked, on loopback TCP. Every connection is a Session of the one Monitor, so all clients see
// the same breakpoints and events. A client may send garbage, disconnect mid-command or flood
// requests: it gets a clear error or is dropped, and nothing else notices. Answering a client
// never blocks the vCPUs (they run in their own thread).

import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { HvmonError, UsageError, errorMessage } from '../common/errors.js';
import { CommandError, Session, type Monitor, type MonitorEvent } from './Monitor.js';
import type { QmpGreeting, StreamEvent } from './protocol.js';
import { STREAM_EVENTS } from './protocol.js';

/** Longest line a client may send. */
const MAX_LINE = 1 << 20;
/** Requests a client may have in flight before we stop reading its socket. */
const MAX_IN_FLIGHT = 64;
/** Output a client may leave unread before it is dropped. */
const MAX_UNREAD = 32 << 20;

export type Endpoint = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** Parses `unix:PATH` or `tcp:HOST:PORT` / `tcp::PORT` (loopback unless a host is given). */
export function parseEndpoint(spec: string, what = '--qmp'): Endpoint {
  const m = /^unix:(.+)$/.exec(spec);
  if (m) return { kind: 'unix', path: m[1].replace(/,server.*$/, '').replace(/,nowait$/, '') };
  const t = /^tcp:(\[[^\]]*\]|[^:]*):(\d+)(?:,.*)?$/.exec(spec);
  if (t) {
    const port = Number(t[2]);
    if (port > 65535) throw new UsageError(`${what} ${spec}: port ${port} is out of range`);
    return { kind: 'tcp', host: t[1].replace(/^\[|\]$/g, '') || '127.0.0.1', port };
  }
  throw new UsageError(`${what} ${spec}: expected unix:PATH or tcp:[HOST]:PORT`);
}

export function endpointText(e: Endpoint): string {
  return e.kind === 'unix' ? `unix:${e.path}` : `tcp:${e.host}:${e.port}`;
}

function timestamp(): { seconds: number; microseconds: number } {
  const now = Date.now() * 1000 + Math.floor((performance.now() % 1) * 1000);
  return { seconds: Math.floor(now / 1e6), microseconds: now % 1e6 };
}

class Connection {
  readonly session: Session;
  private _buf = '';
  private _negotiated = false;
  private _inFlight = 0;
  /** Responses are written in request order, even when commands finish out of order. */
  private _order: Promise<void> = Promise.resolve();
  private _closed = false;
  /** Our side is ended (after the client's): nothing more can be written. */
  private _ending = false;
  private readonly _onEvent = (e: MonitorEvent): void => this._event(e);

  constructor(
    readonly monitor: Monitor,
    readonly socket: Socket,
    name: string,
  ) {
    this.session = new Session(monitor, name);
    this.session.deliver = (e) => this._send({ event: e.event, data: e.data, timestamp: timestamp() });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => this._data(d));
    socket.on('end', () => this._end());
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
    monitor.on('event', this._onEvent);
    const greeting: QmpGreeting = {
      QMP: { version: { qemu: { major: 0, minor: 1, micro: 0 }, package: 'hvmon 0.1.0' }, capabilities: [] },
    };
    this._send(greeting);
  }

  close(): void {
    if (this._closed) return;
    this._closed = true;
    this.monitor.off('event', this._onEvent);
    if (this.session.subscriptions.has('VGA_UPDATE')) this.monitor.vgaSubscribe(-1);
    if (this.session.subscriptions.has('TRAP')) this.monitor.trapSubscribe(-1);
    this.socket.destroy();
  }

  /**
   * The client has sent all it will (a script piping commands into socat shuts its side down
   * after the last one): answer every command it sent, as QEMU does, then hang up. (The
   * server allows half-open sockets; otherwise Node would end ours at once and lose them.)
   */
  private _end(): void {
    const rest = this._buf.trim();
    this._buf = '';
    if (rest) this._line(rest);
    this._order = this._order.then(() => {
      if (this._closed || this._ending) return;
      this._ending = true;
      this.socket.end();
    });
  }

  /** An answer that needs no command run: it still goes out after the answers to earlier requests. */
  private _answer(obj: unknown): void {
    this._order = this._order.then(() => this._send(obj));
  }

  private _send(obj: unknown): void {
    if (this._closed || this._ending) return;
    if (this.socket.writableLength > MAX_UNREAD) {
      // A client that does not read its answers cannot hold the host's memory hostage.
      this.close();
      return;
    }
    this.socket.write(JSON.stringify(obj) + '\r\n');
  }

  private _event(e: MonitorEvent): void {
    if (!this._negotiated) return;
    if ((STREAM_EVENTS as readonly string[]).includes(e.event) && !this.session.subscriptions.has(e.event as StreamEvent)) return;
    this._send({ event: e.event, data: e.data, timestamp: timestamp() });
  }

  private _data(d: string): void {
    this._buf += d;
    for (;;) {
      const nl = this._buf.indexOf('\n');
      if (nl < 0) break;
      const line = this._buf.slice(0, nl).trim();
      this._buf = this._buf.slice(nl + 1);
      if (line) this._line(line);
      if (this._closed) return;
    }
    if (this._buf.length > MAX_LINE) {
      this._send({ error: { class: 'GenericError', desc: `request longer than ${MAX_LINE} bytes; closing the connection` } });
      this.socket.end();
      this.close();
    }
  }

  private _line(line: string): void {
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch (e) {
      this._answer({ error: { class: 'GenericError', desc: `JSON parse error, ${errorMessage(e)}` } });
      return;
    }
    if (typeof req !== 'object' || req === null || Array.isArray(req)) {
      this._answer({ error: { class: 'GenericError', desc: 'QMP input must be a JSON object' } });
      return;
    }
    const r = req as Record<string, unknown>;
    const id = r.id;
    const reply = (body: Record<string, unknown>): Record<string, unknown> => (id !== undefined ? { ...body, id } : body);
    if ('exec-oob' in r) {
      this._answer(reply({ error: { class: 'GenericError', desc: 'out-of-band execution is not supported; use execute' } }));
      return;
    }
    const name = r.execute;
    if (typeof name !== 'string') {
      this._answer(reply({ error: { class: 'GenericError', desc: "QMP input member 'execute' must be a string" } }));
      return;
    }
    for (const k of Object.keys(r)) {
      if (k !== 'execute' && k !== 'arguments' && k !== 'id') {
        this._answer(reply({ error: { class: 'GenericError', desc: `QMP input member '${k}' is unexpected` } }));
        return;
      }
    }
    const args = r.arguments;
    if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) {
      this._answer(reply({ error: { class: 'GenericError', desc: "QMP input member 'arguments' must be an object" } }));
      return;
    }
    if (!this._negotiated) {
      if (name !== 'qmp_capabilities') {
        this._answer(reply({ error: { class: 'CommandNotFound', desc: "Expecting capabilities negotiation with 'qmp_capabilities'" } }));
        return;
      }
    } else if (name === 'qmp_capabilities') {
      this._answer(reply({ error: { class: 'CommandNotFound', desc: 'Capabilities negotiation is already complete, command ignored' } }));
      return;
    }
    this._inFlight++;
    if (this._inFlight >= MAX_IN_FLIGHT) this.socket.pause();
    const work = this.session.execute(name, (args as Record<string, unknown>) ?? {}).then(
      (ret) => reply({ return: ret ?? {} }),
      (e: unknown) => reply({
        error: { class: e instanceof CommandError ? e.errorClass : 'GenericError', desc: errorMessage(e) },
      }),
    );
    if (name === 'qmp_capabilities') {
      // Negotiation takes effect before the next line is read.
      this._negotiated = true;
    }
    this._order = this._order.then(async () => {
      const msg = await work;
      this._send(msg);
      this._inFlight--;
      if (this._inFlight < MAX_IN_FLIGHT && !this._closed) this.socket.resume();
    });
  }
}

export class MonitorServer {
  private readonly _servers: { server: Server; endpoint: Endpoint }[] = [];
  private readonly _conns = new Set<Connection>();
  private _count = 0;

  constructor(readonly monitor: Monitor) {}

  get endpoints(): Endpoint[] {
    return this._servers.map((s) => s.endpoint);
  }

  get clients(): number {
    return this._conns.size;
  }

  async listen(e: Endpoint): Promise<Endpoint> {
    const server = createServer({ allowHalfOpen: true }, (sock) => {
      const c = new Connection(this.monitor, sock, `client${++this._count}`);
      this._conns.add(c);
      sock.on('close', () => this._conns.delete(c));
    });
    server.maxConnections = 64;
    if (e.kind === 'unix') {
      if (existsSync(e.path)) {
        if (await socketAlive(e.path)) throw new HvmonError(`${e.path} is in use by another VM host`);
        unlinkSync(e.path);
      }
      const old = process.umask(0o177);
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(e.path, () => resolve());
        });
      } finally {
        process.umask(old);
      }
      chmodSync(e.path, 0o600);
      this._servers.push({ server, endpoint: e });
      return e;
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new HvmonError(`cannot listen on ${e.host}:${e.port}: ${err.message}`)));
      server.listen(e.port, e.host, () => resolve());
    });
    const addr = server.address();
    const bound: Endpoint = { kind: 'tcp', host: e.host, port: typeof addr === 'object' && addr ? addr.port : e.port };
    this._servers.push({ server, endpoint: bound });
    return bound;
  }

  async close(): Promise<void> {
    for (const c of this._conns) c.close();
    await Promise.all(this._servers.map(({ server, endpoint }) => new Promise<void>((r) => {
      server.close(() => r());
      if (endpoint.kind === 'unix') {
        try {
          unlinkSync(endpoint.path);
        } catch {
          // Already gone.
        }
      }
    })));
    this._servers.length = 0;
  }
}

/** Is somebody listening on this unix socket? */
export function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const done = (v: boolean): void => {
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    setTimeout(() => done(false), 500).unref();
  });
}
