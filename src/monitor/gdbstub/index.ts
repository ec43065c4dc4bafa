// The gdb stub: a TCP listener speaking the GDB Remote Serial Protocol, started by
// `hvmon run --gdb tcp::PORT` or the `gdbserver` monitor command. It listens on loopback
// unless a host is given, like the monitor's sockets. One gdb at a time: while one is attached
// a second connection is closed at once (two debuggers driving one all-stop target would
// answer each other's stops). See GdbConnection for the protocol and docs/gdb.md for users.

import { createServer, type Server, type Socket } from 'node:net';
import { HvmonError, UsageError, errorMessage } from '../../common/errors.js';
import type { Monitor } from '../Monitor.js';
import { GdbConnection } from './GdbConnection.js';

export { GdbConnection, PACKET_SIZE } from './GdbConnection.js';

export interface GdbStubHandle {
  /** Where it listens, as the user would write it: `tcp:127.0.0.1:1234`. */
  listening: string;
  close(): Promise<void>;
}

/** `tcp::PORT` (loopback), `tcp:HOST:PORT`, or a bare PORT as QEMU's gdbserver takes it. */
export function parseGdbSpec(spec: string): { host: string; port: number } {
  const s = spec.trim();
  const m = /^(?:tcp:(\[[^\]]*\]|[^:]*):)?(\d{1,5})$/.exec(s);
  if (!m) throw new UsageError(`gdb stub '${spec}': expected tcp::PORT or tcp:HOST:PORT`);
  const port = Number(m[2]);
  if (port > 65535) throw new UsageError(`gdb stub '${spec}': port ${port} is out of range`);
  return { host: (m[1] ?? '').replace(/^\[|\]$/g, '') || '127.0.0.1', port };
}

class GdbServer {
  private readonly _server: Server;
  private _client: GdbConnection | null = null;
  private _closing = false;

  constructor(readonly monitor: Monitor) {
    this._server = createServer((socket) => this._accept(socket));
  }

  listen(host: string, port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        const why = e.code === 'EADDRINUSE' ? 'the port is in use' : e.code === 'EACCES' ? 'permission denied' : errorMessage(e);
        reject(new HvmonError(`the gdb stub cannot listen on tcp:${host}:${port}: ${why}`));
      };
      this._server.once('error', onError);
      this._server.listen(port, host, () => {
        this._server.off('error', onError);
        // Later errors (a failed accept) must not take the VM host down.
        this._server.on('error', () => undefined);
        const a = this._server.address();
        const actual = a && typeof a === 'object' ? a.port : port;
        resolve(`tcp:${host.includes(':') ? `[${host}]` : host}:${actual}`);
      });
    });
  }

  private _accept(socket: Socket): void {
    socket.on('error', () => undefined);
    if (this._closing || (this._client && !this._client.closed)) {
      socket.destroy();
      return;
    }
    const conn = new GdbConnection(this.monitor, socket, `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`);
    this._client = conn;
    conn.onClose = () => {
      if (this._client === conn) this._client = null;
    };
    // Reading starts only once the VM is paused, so that gdb's first `?` sees a stop.
    socket.pause();
    void conn.attach().finally(() => {
      if (!conn.closed) socket.resume();
    });
  }

  async close(): Promise<void> {
    if (this._closing) return;
    this._closing = true;
    await this._client?.close(true).catch(() => undefined);
    await new Promise<void>((r) => this._server.close(() => r()));
  }
}

/** Starts a stub for this monitor's machine; resolves once it listens. */
export async function startGdbStub(monitor: Monitor, spec: string): Promise<GdbStubHandle> {
  const { host, port } = parseGdbSpec(spec);
  const server = new GdbServer(monitor);
  const listening = await server.listen(host, port);
  monitor.machine.on('quit', () => void server.close());
  return { listening, close: () => server.close() };
}
