// A QMP client: what the REPL, the TUI, the tests and scripts use to talk to a VM host. It
// speaks only the wire protocol (protocol.ts), never core objects.

import { EventEmitter } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import type { QmpEvent, QmpGreeting } from './protocol.js';

export class QmpError extends Error {
  constructor(
    readonly errorClass: string,
    desc: string,
  ) {
    super(desc);
    this.name = 'QmpError';
  }
}

export interface QmpClientEvents {
  event: [QmpEvent];
  greeting: [];
  close: [];
}

export class QmpClient extends EventEmitter<QmpClientEvents> {
  greeting: QmpGreeting | null = null;
  private _buf = '';
  private _id = 0;
  private readonly _pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private _closed = false;

  private constructor(private readonly _sock: Socket) {
    super();
    _sock.setEncoding('utf8');
    _sock.on('data', (d: string) => this._data(d));
    _sock.on('close', () => this._close(new Error('the VM host closed the connection')));
    _sock.on('error', (e) => this._close(e));
  }

  /** Connects to `unix:PATH`, `tcp:HOST:PORT`, or a bare socket path, and negotiates. */
  static async connect(target: string, opts: { negotiate?: boolean; timeoutMs?: number } = {}): Promise<QmpClient> {
    const m = /^tcp:(\[[^\]]*\]|[^:]*):(\d+)$/.exec(target);
    const sock = m
      ? createConnection({ host: m[1].replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(m[2]) })
      : createConnection(target.replace(/^unix:/, ''));
    const c = new QmpClient(sock);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no QMP greeting from ${target}`)), opts.timeoutMs ?? 5000);
      sock.once('error', (e) => {
        clearTimeout(t);
        reject(new Error(`cannot connect to ${target}: ${e.message}`));
      });
      c.once('greeting', () => {
        clearTimeout(t);
        resolve();
      });
    });
    if (opts.negotiate !== false) await c.execute('qmp_capabilities');
    return c;
  }

  get closed(): boolean {
    return this._closed;
  }

  private _close(e: Error): void {
    if (this._closed) return;
    this._closed = true;
    for (const p of this._pending.values()) p.reject(e);
    this._pending.clear();
    this.emit('close');
  }

  private _data(d: string): void {
    this._buf += d;
    for (;;) {
      const nl = this._buf.indexOf('\n');
      if (nl < 0) return;
      const line = this._buf.slice(0, nl).trim();
      this._buf = this._buf.slice(nl + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if ('QMP' in msg) {
        this.greeting = msg as unknown as QmpGreeting;
        this.emit('greeting');
      } else if ('event' in msg) {
        this.emit('event', msg as unknown as QmpEvent);
      } else if (typeof msg.id === 'number' && this._pending.has(msg.id)) {
        const p = this._pending.get(msg.id)!;
        this._pending.delete(msg.id);
        if ('error' in msg) {
          const err = msg.error as { class: string; desc: string };
          p.reject(new QmpError(err.class, err.desc));
        } else p.resolve(msg.return);
      }
    }
  }

  /** Runs a machine command; rejects with QmpError on an error answer. */
  execute<T = unknown>(name: string, args?: Record<string, unknown>): Promise<T> {
    if (this._closed) return Promise.reject(new Error('the connection to the VM host is closed'));
    const id = ++this._id;
    return new Promise<T>((resolve, reject) => {
      this._pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this._sock.write(JSON.stringify(args ? { execute: name, arguments: args, id } : { execute: name, id }) + '\n');
    });
  }

  /** Runs a human command; resolves with its text output. */
  hmp(line: string): Promise<string> {
    return this.execute<string>('human-monitor-command', { 'command-line': line });
  }

  /** Resolves with the next event of that name (optionally matching a predicate). */
  waitEvent(name: string, pred: (e: QmpEvent) => boolean = () => true, timeoutMs = 30_000): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('event', on);
        reject(new Error(`no ${name} event within ${timeoutMs} ms`));
      }, timeoutMs);
      const on = (e: QmpEvent): void => {
        if (e.event === name && pred(e)) {
          clearTimeout(t);
          this.off('event', on);
          resolve(e);
        }
      };
      this.on('event', on);
    });
  }

  /** Sends raw bytes (tests use it for malformed input). */
  sendRaw(text: string): void {
    this._sock.write(text);
  }

  close(): void {
    this._sock.end();
    this._sock.destroy();
    this._close(new Error('closed'));
  }
}
