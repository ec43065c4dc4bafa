// Helpers for end-to-end tests: start hvmon as a user would (a child process running the
// real CLI), wait for what it prints, talk to its monitor socket, and always clean up.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QmpClient } from '../src/monitor/client.js';
import { Machine, type MachineConfig } from '../src/core/machine/Machine.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const HVMON = join(ROOT, 'bin', 'hvmon.js');

export interface HvmonProcess {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Resolves when stdout (or stderr) has matched; rejects after the timeout with what was seen. */
  waitFor(re: RegExp, opts?: { stream?: 'stdout' | 'stderr'; timeoutMs?: number }): Promise<RegExpMatchArray>;
  kill(): Promise<void>;
  /** A private runtime directory, so parallel tests do not see each other's hosts. */
  runtime: string;
  socket(name: string): string;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export function runHvmon(args: string[], opts: { stdin?: string; runtime?: string; env?: Record<string, string> } = {}): HvmonProcess {
  const runtime = opts.runtime ?? mkdtempSync(join(tmpdir(), 'hvmon-test-'));
  const proc = spawn(process.execPath, [HVMON, ...args], {
    cwd: ROOT,
    env: { ...process.env, XDG_RUNTIME_DIR: runtime, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(proc);
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('latin1').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  if (opts.stdin !== undefined) proc.stdin!.end(opts.stdin);
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => {
    live.delete(proc);
    r(code);
  }));
  return {
    proc, runtime, exited,
    stdout: () => out,
    stderr: () => err,
    socket: (name) => join(runtime, 'hvmon', `${name}.qmp`),
    waitFor: (re, o = {}) => new Promise((resolve, reject) => {
      const timeout = o.timeoutMs ?? 20_000;
      const t0 = Date.now();
      const tick = (): void => {
        const m = (o.stream === 'stderr' ? err : out).match(re);
        if (m) return resolve(m);
        if (Date.now() - t0 > timeout || proc.exitCode !== null) {
          return reject(new Error(`did not see ${re} (exit ${proc.exitCode})\n--- stdout ---\n${out}\n--- stderr ---\n${err}`));
        }
        setTimeout(tick, 25);
      };
      tick();
    }),
    kill: async () => {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/** Connects to a host's monitor socket once it exists. */
export async function connectMonitor(path: string, timeoutMs = 20_000): Promise<QmpClient> {
  const t0 = Date.now();
  for (;;) {
    try {
      return await QmpClient.connect(path);
    } catch (e) {
      if (Date.now() - t0 > timeoutMs) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** A machine in this process (for tests that need the Machine API itself). */
export async function startMachine(overrides: Partial<MachineConfig> & Pick<MachineConfig, 'boot'>): Promise<Machine> {
  return Machine.start({
    ramSize: 32 << 20,
    vcpus: 1,
    startPaused: false,
    ...overrides,
    pc: { ramSize: overrides.ramSize ?? 32 << 20, serial: ['vc', 'null'], drives: [], netdevs: [], extra: [], ...overrides.pc },
  });
}

export function guest(path: string): string {
  return join(ROOT, path);
}
