// Driving hvmon in a real terminal: a private tmux server (its own -L socket, so a user's tmux
// is never touched), a session of a given size running a command, send-keys, and
// capture-pane polled until the expected text shows. VM hosts started by a test live in a
// runtime directory of its own, so cleanup can find and end exactly those.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const HVMON = join(ROOT, 'bin/hvmon.js');
export const HELLO = join(ROOT, 'guests/hello.img');

/** A runtime dir (sockets, host records) and a history file for one test file. */
export class Sandbox {
  readonly dir = mkdtempSync(join(tmpdir(), 'hvmon-e2e-'));
  readonly runtime = join(this.dir, 'run');
  readonly history = join(this.dir, 'history');
  private readonly _children: ChildProcess[] = [];

  env(): Record<string, string> {
    const e: Record<string, string> = { ...(process.env as Record<string, string>), XDG_RUNTIME_DIR: this.runtime, HVMON_HISTORY: this.history, TERM: 'xterm-256color' };
    // ink shows only the last frame under CI; a terminal user never has CI set.
    delete e.CI;
    delete e.CONTINUOUS_INTEGRATION;
    return e;
  }

  /** `env …` prefix for a shell command line in tmux. */
  shellEnv(): string {
    return `env -u CI -u CONTINUOUS_INTEGRATION XDG_RUNTIME_DIR=${this.runtime} HVMON_HISTORY=${this.history} TERM=xterm-256color`;
  }

  /** Starts a VM host in the background (no terminal): `hvmon run … --display none`. */
  async startHost(name: string, args: string[] = []): Promise<string> {
    const p = spawn(process.execPath, [HVMON, 'run', HELLO, '--display', 'none', '--name', name, ...args], {
      cwd: ROOT, env: this.env(), stdio: ['pipe', 'ignore', 'ignore'],
    });
    this._children.push(p);
    const sock = join(this.runtime, 'hvmon', `${name}.qmp`);
    await until(() => existsSync(sock) && existsSync(join(this.runtime, 'hvmon', `${name}.json`)), 30_000, `the VM host ${name} to listen`);
    return sock;
  }

  /** Pids of the VM hosts whose records are in this sandbox. */
  hostPids(): number[] {
    const d = join(this.runtime, 'hvmon');
    if (!existsSync(d)) return [];
    const out: number[] = [];
    for (const f of readdirSync(d)) {
      if (!f.endsWith('.json')) continue;
      try {
        out.push((JSON.parse(readFileSync(join(d, f), 'utf8')) as { pid: number }).pid);
      } catch {
        // Half-written.
      }
    }
    return out;
  }

  /** The pid of the VM host called name, from its record (null once it has gone). */
  hostPid(name: string): number | null {
    try {
      return (JSON.parse(readFileSync(join(this.runtime, 'hvmon', `${name}.json`), 'utf8')) as { pid: number }).pid;
    } catch {
      return null;
    }
  }

  /** Ends every VM host this sandbox started, then removes it. */
  cleanup(): void {
    for (const pid of this.hostPids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    for (const c of this._children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls pred; `what` names what was awaited (a function: described as it was at the timeout). */
export async function until(pred: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let serial = 0;

export class Tmux {
  readonly server = `hvmon-test-${process.pid}`;
  readonly session: string;

  private constructor(session: string) {
    this.session = session;
  }

  private static _run(server: string, args: string[]): string {
    return execFileSync('tmux', ['-L', server, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  }

  /** Starts `command` (a shell line) in a detached session of cols×rows. */
  static start(command: string, cols = 80, rows = 24): Tmux {
    const t = new Tmux(`s${++serial}`);
    // A session that outlives the tests' own: tmux exits with its last session, and a new
    // session started while it is exiting fails.
    if (serial === 1) Tmux._run(t.server, ['new-session', '-d', '-s', 'keeper', 'sleep 3600']);
    // `; sleep` keeps the pane (and what the program printed last) after the program exits.
    Tmux._run(t.server, ['new-session', '-d', '-s', t.session, '-x', String(cols), '-y', String(rows), '-c', ROOT, `${command}; echo "[exited $?]"; sleep 600`]);
    Tmux._run(t.server, ['set-option', '-t', t.session, 'remain-on-exit', 'on']);
    return t;
  }

  /** tmux key names (F5, Enter, C-a, Up) or literal text with literal = true. */
  send(keys: string[], literal = false): void {
    Tmux._run(this.server, ['send-keys', '-t', this.session, ...(literal ? ['-l'] : []), ...keys]);
  }

  type(text: string): void {
    this.send([text], true);
  }

  capture(escapes = false): string {
    return Tmux._run(this.server, ['capture-pane', '-p', '-t', this.session, ...(escapes ? ['-e'] : [])]);
  }

  /** Polls the screen until it matches; returns it. Fails with the last screen in the message. */
  async waitFor(what: string | RegExp | ((screen: string) => boolean), timeoutMs = 45_000, escapes = false): Promise<string> {
    const test = typeof what === 'function' ? what : (s: string): boolean => (typeof what === 'string' ? s.includes(what) : what.test(s));
    const end = Date.now() + timeoutMs;
    let screen = '';
    while (Date.now() < end) {
      screen = this.capture(escapes);
      if (test(screen)) return screen;
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error(`timed out waiting for ${String(what)}; the screen was:\n${screen}`);
  }

  kill(): void {
    try {
      Tmux._run(this.server, ['kill-session', '-t', this.session]);
    } catch {
      // Already gone.
    }
  }

  static killServer(): void {
    try {
      Tmux._run(`hvmon-test-${process.pid}`, ['kill-server']);
    } catch {
      // No server.
    }
  }
}
