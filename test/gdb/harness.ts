// What the gdb tests share: a VM host started as a user would start it
// (`hvmon run IMAGE --display none -S --gdb tcp::PORT`), the real gdb in batch mode against
// it, the line REPL as a second monitor client, and a minimal RSP client over a real socket
// for the protocol and fuzz tests. Every host is killed by its pid when the test ends.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QmpClient } from '../../src/monitor/client.js';
import { defaultSocket } from '../../src/monitor/runtime.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const GUESTS = join(ROOT, 'test/gdb/guests');
const HVMON = join(ROOT, 'bin/hvmon.js');

export function hasGdb(): boolean {
  return spawnSync('gdb', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface VmHost {
  name: string;
  port: number;
  proc: ChildProcess;
  /** Everything the host printed so far (stdout and stderr). */
  output(): string;
  /** Runs human monitor commands through `hvmon repl NAME -c …` (another client). */
  repl(...commands: string[]): string;
  /** Runs human monitor commands over the host's QMP socket (another client, faster). */
  hmp(...commands: string[]): Promise<string>;
  stop(): Promise<void>;
}

let hostCount = 0;

/**
 * Starts `hvmon run IMAGE --display none -S --gdb tcp::PORT` (without --gdb when `gdb` is
 * false: the stub is then started with the gdbserver command) and waits for its banner.
 */
export async function startHost(image: string, extra: string[] = [], opts: { gdb?: boolean } = {}): Promise<VmHost> {
  const port = await freePort();
  const name = `gdbt${process.pid}x${hostCount++}`;
  const dir = mkdtempSync(join(tmpdir(), 'hvmon-gdb-'));
  const proc = spawn(process.execPath, [
    HVMON, 'run', image, '--display', 'none', '-S', '--name', name, ...(opts.gdb === false ? [] : ['--gdb', `tcp::${port}`]),
    '--serial', `file:${join(dir, 'com1.txt')}`, ...extra,
  ], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  // The banner is printed after the monitor socket and the gdb stub listen.
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the VM host did not start:\n${out}`)), 30_000);
    const check = (): void => {
      if (out.includes(`[hvmon] ${name}:`)) {
        clearTimeout(t);
        resolve();
      }
    };
    proc.stderr!.on('data', check);
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`the VM host exited (${code}):\n${out}`));
    });
  });
  let qmp: QmpClient | null = null;
  return {
    name, port, proc,
    output: () => out,
    hmp: async (...commands) => {
      qmp ??= await QmpClient.connect(defaultSocket(name));
      const outs: string[] = [];
      for (const c of commands) outs.push(String(await qmp.execute('human-monitor-command', { 'command-line': c })));
      return outs.join('\n');
    },
    repl: (...commands) => {
      const r = spawnSync(process.execPath, [HVMON, 'repl', name, ...commands.flatMap((c) => ['-c', c])], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
      return (r.stdout ?? '') + (r.stderr ?? '');
    },
    stop: async () => {
      qmp?.close();
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs gdb in batch mode with these commands against the host's stub; returns what it
 * printed. With `interruptWhen`, gdb gets SIGINT (the user's Ctrl-C, which it passes on as
 * the interrupt byte) once that check, polled, says so. (gdb's output is block-buffered on a
 * pipe, so what it prints cannot tell when it is waiting.)
 */
export function runGdb(
  port: number, commands: string[], opts: { timeoutMs?: number; interruptWhen?: () => Promise<boolean> } = {},
): Promise<{ out: string; code: number | null }> {
  const args = ['-batch', '-nx', '-ex', 'set confirm off', '-ex', `target remote 127.0.0.1:${port}`, ...commands.flatMap((c) => ['-ex', c])];
  return new Promise((resolve) => {
    // One pipe for stdout and stderr, so that what gdb prints stays in its order.
    const p = spawn('sh', ['-c', 'exec "$0" "$@" 2>&1', 'gdb', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    let exited = false;
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const when = opts.interruptWhen;
    if (when) {
      void (async () => {
        while (!exited && !(await when().catch(() => false))) await sleep(200);
        if (!exited) p.kill('SIGINT');
      })();
    }
    const timer = setTimeout(() => {
      out += '\n<<gdb timed out>>';
      p.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    p.on('exit', (code) => {
      exited = true;
      clearTimeout(timer);
      resolve({ out, code });
    });
  });
}

/** The output of each -ex command, split on a marker echoed between them. */
export function gdbScript(commands: string[]): string[] {
  return commands.flatMap((c, i) => [`echo <<${i}>>\\n`, c]);
}

export function section(out: string, i: number): string {
  const start = out.indexOf(`<<${i}>>\n`);
  if (start < 0) return '';
  const end = out.indexOf(`<<${i + 1}>>\n`, start);
  return out.slice(start + `<<${i}>>\n`.length, end < 0 ? undefined : end);
}

// ---------------------------------------------------------------------------------------
// A minimal RSP client: framing, acks and replies, for tests that speak the wire themselves.
// ---------------------------------------------------------------------------------------

export function frame(payload: string): string {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) sum = (sum + payload.charCodeAt(i)) & 0xff;
  return `$${payload}#${sum.toString(16).padStart(2, '0')}`;
}

export class RspClient {
  private _buf = '';
  private _waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this._buf += d;
      for (const w of this._waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this._waiters.splice(0)) w();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<RspClient> {
    return new Promise((resolve, reject) => {
      const s = new Socket();
      s.once('error', reject);
      s.connect(port, '127.0.0.1', () => {
        s.off('error', reject);
        resolve(new RspClient(s));
      });
    });
  }

  write(raw: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw);
  }

  /** Sends a packet (framed) and returns the next packet's payload, acking it. */
  async request(payload: string, timeoutMs = 10_000): Promise<string> {
    this.write(frame(payload));
    return this.nextPacket(timeoutMs);
  }

  /** The next raw byte that is not part of a packet (+ or -), or a packet. */
  async next(timeoutMs = 10_000): Promise<{ kind: 'ack' | 'nack' } | { kind: 'packet'; data: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this._buf = this._buf.replace(/^[^$+-]+/, '');
      if (this._buf[0] === '+' || this._buf[0] === '-') {
        const c = this._buf[0];
        this._buf = this._buf.slice(1);
        return { kind: c === '+' ? 'ack' : 'nack' };
      }
      const m = /^\$([^#]*)#([0-9a-f]{2})/.exec(this._buf);
      if (m) {
        this._buf = this._buf.slice(m[0].length);
        this.write('+');
        return { kind: 'packet', data: m[1] };
      }
      if (this.closed) throw new Error('the stub closed the connection');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms (buffer: ${JSON.stringify(this._buf.slice(0, 80))})`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this._waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async nextPacket(timeoutMs = 10_000): Promise<string> {
    for (;;) {
      const n = await this.next(timeoutMs);
      if (n.kind === 'packet') return n.data;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

export function hexText(s: string): string {
  return Buffer.from(s, 'utf8').toString('hex');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
