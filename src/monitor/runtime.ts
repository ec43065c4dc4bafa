// Where VM hosts put their monitor sockets so that `hvmon ls` and `hvmon attach NAME` find
// them: $XDG_RUNTIME_DIR/hvmon, else /tmp/hvmon-UID, a directory only the user can enter.
// Each host writes NAME.qmp (the socket) and NAME.json (who it is).

import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { HvmonError } from '../common/errors.js';
import { socketAlive } from './MonitorServer.js';

export interface HostRecord {
  name: string;
  pid: number;
  socket: string;
  started: string;
  guest: string;
  gdb?: string;
  tcp?: string[];
}

export function runtimeDir(): string {
  const base = process.env.XDG_RUNTIME_DIR ? join(process.env.XDG_RUNTIME_DIR, 'hvmon') : join(tmpdir(), `hvmon-${process.getuid?.() ?? 'user'}`);
  mkdirSync(base, { recursive: true, mode: 0o700 });
  try {
    chmodSync(base, 0o700);
  } catch {
    // Not ours to change (shared XDG dir): the sockets themselves are 0600.
  }
  return base;
}

export function defaultSocket(name: string): string {
  return join(runtimeDir(), `${name}.qmp`);
}

export function writeHostRecord(r: HostRecord): string {
  const p = join(runtimeDir(), `${r.name}.json`);
  writeFileSync(p, JSON.stringify(r, null, 2) + '\n', { mode: 0o600 });
  return p;
}

export function removeHostRecord(name: string): void {
  for (const f of [`${name}.json`]) {
    try {
      unlinkSync(join(runtimeDir(), f));
    } catch {
      // Already gone.
    }
  }
}

/** Running hosts (records whose socket answers); stale records are cleaned up. */
export async function listHosts(): Promise<HostRecord[]> {
  const dir = runtimeDir();
  const out: HostRecord[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    let r: HostRecord;
    try {
      r = JSON.parse(readFileSync(join(dir, f), 'utf8')) as HostRecord;
    } catch {
      continue;
    }
    let alive = false;
    try {
      alive = statSync(r.socket).isSocket() && (await socketAlive(r.socket));
    } catch {
      alive = false;
    }
    if (alive) out.push(r);
    else removeHostRecord(r.name);
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** A name no running host has: vm0, vm1, … */
export async function freeName(): Promise<string> {
  const taken = new Set((await listHosts()).map((h) => h.name));
  for (let i = 0; ; i++) if (!taken.has(`vm${i}`)) return `vm${i}`;
}

/** `hvmon attach X`: X is a socket path, unix:/tcp: spec, or a host name from `hvmon ls`. */
export async function resolveTarget(x: string): Promise<string> {
  if (/^(unix|tcp):/.test(x) || x.includes('/')) return x;
  const hosts = await listHosts();
  const h = hosts.find((r) => r.name === x);
  if (h) return h.socket;
  // A socket in the current directory, named without a path.
  if (existsSync(x)) return x;
  const running = hosts.map((r) => r.name).join(', ');
  throw new HvmonError(`no VM host named ${x} is running (${running ? `running: ${running}` : 'none is; start one with hvmon run'})`);
}
