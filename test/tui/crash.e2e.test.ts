// The terminal is given back when the TUI itself fails. A fake VM host (a QMP server in this
// test process) answers `reg-read` with registers the TUI cannot draw; the render throws, and
// hvmon attach must leave the alternate screen, turn raw mode off, say what happened, and
// exit 1.

import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HVMON, Sandbox, Tmux } from './tmux.js';

let box: Sandbox;
let server: Server;
let sock: string;
const clients: Socket[] = [];

function answer(execute: string): unknown {
  switch (execute) {
    case 'query-status': return { running: false, singlestep: false, status: 'paused' };
    case 'query-stop': return { vcpu: 0, running: false, reason: 'pause', text: 'paused' };
    case 'query-name': return { name: 'fake' };
    // What no hvmon sends: a CPU without registers. Drawing it throws.
    case 'reg-read': return { vcpu: 0, mode: 'real', cpl: 0, running: false, halted: false, regs: null, state: {} };
    case 'vga-screen': return null;
    case 'query-stats': return { icount: [0], traps: 0, running: [false], halted: [false], clock: 0 };
    case 'query-cpus-fast':
    case 'device-list':
    case 'break-list':
    case 'trap-log':
    case 'disassemble': return [];
    default: return {};
  }
}

beforeAll(async () => {
  box = new Sandbox();
  sock = join(box.dir, 'fake.qmp');
  server = createServer((c) => {
    clients.push(c);
    c.write(JSON.stringify({ QMP: { version: { qemu: { major: 0, minor: 1, micro: 0 }, package: 'fake' }, capabilities: [] } }) + '\n');
    let buf = '';
    c.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { execute: string; id?: unknown };
        buf = buf.slice(nl + 1);
        c.write(JSON.stringify({ return: answer(msg.execute), id: msg.id }) + '\n');
      }
    });
    c.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(sock, r));
});

afterAll(async () => {
  Tmux.killServer();
  for (const c of clients) c.destroy();
  await new Promise((r) => server.close(r));
  box.cleanup();
});

it('restores the terminal and exits 1 when the TUI crashes', async () => {
  const t = Tmux.start(`${box.shellEnv()} node ${HVMON} attach ${sock}`);
  try {
    const s = await t.waitFor('[exited 1]');
    expect(s).toContain('hvmon: the TUI crashed');
    expect(s).not.toContain('┌─ 1 Console');
    t.type('still-cooked');
    await t.waitFor('still-cooked');
  } finally {
    t.kill();
  }
});
