// Protocol fuzzing: random bytes, mutated QMP commands and random human command lines thrown at a
// running VM host over real sockets. The host must answer or drop the client, never fall over.
// HVMON_FUZZ_SEED=N replays another stream.
import { createConnection } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { prng } from '../src/devices/models/testing/contract.js';
import type { QmpClient } from '../src/monitor/client.js';
import { connectMonitor, runHvmon, type HvmonProcess } from './helpers.js';

let host: HvmonProcess;
let probe: QmpClient;

beforeAll(async () => {
  host = runHvmon(['run', 'test/guests/montest.img', '--display', 'none', '--name', 'fuzz']);
  probe = await connectMonitor(host.socket('fuzz'));
});

afterAll(async () => {
  if (host && host.proc.exitCode !== null) console.log(`the VM host exited (${host.proc.exitCode}):\n${host.stderr().slice(-3000)}`);
  probe?.close();
  await host?.kill();
});

/** Commands that would end the host or touch the host's files and ports: not fuzzed. */
const EXCLUDED = new Set(['quit', 'memsave', 'pmemsave', 'gdbserver']);
const HMP_EXCLUDED = /^\s*(quit|q|memsave|pmemsave|gdbserver)\b/;

function randomValue(r: () => number, depth = 0): unknown {
  switch (r() % 9) {
    case 0: return r() % 1000;
    case 1: return (r() * 4096 + r()) >>> 0;
    case 2: return -((r() % 100000) + 1);
    case 3: return 'x'.repeat(r() % 40);
    case 4: return r() % 2 === 0;
    case 5: return null;
    case 6: return depth < 2 ? [randomValue(r, depth + 1), randomValue(r, depth + 1)] : 1.5;
    case 7: return depth < 2 ? { a: randomValue(r, depth + 1) } : 'nested';
    default: return ['exec', 'io', 'mmio', 'watch', 'interrupt', 'r', 'w', 'rw', 'phys', 'linear', 'all', '0x10'][r() % 12];
  }
}

const WORDS = ['info', 'registers', 'x', 'xp', '/10xb', '/4i', 'break', 'io', 'mmio', 'int', 'watch', 'delete', 'c', 'stop',
  'si', 'st', 'ioreq', 'let', 'skip', 'set', 'answer', '$eax', 'cs:ip', '0x3f8', '0x3f8-0x3ff', 'w', 'r', 'if', 'value', '&',
  '0x80', '==', '(', ')', 'poke', 'i', 'o', '/b', '/w', 'disable', 'enable', 'condition', 'ignore', 'traps', 'device', 'com1',
  'mtree', 'qtree', 'pic', '+', '-1', '99999999999', 'help', 'screen', 'disas', 'finish', 'tbreak', 'cpu', '0', '1', 'serial', "'a'", '"'];

it('survives random bytes, mutated commands and random human command lines', async () => {
  const r = prng(Number(process.env.HVMON_FUZZ_SEED ?? 0xc0ffee));
  const commands = (await probe.execute<{ name: string }[]>('query-commands')).map((c) => c.name).filter((n) => !EXCLUDED.has(n));
  const clients = await Promise.all(Array.from({ length: 4 }, () => connectMonitor(host.socket('fuzz'))));
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < 2000; i++) {
    const cl = clients[r() % clients.length];
    if (cl.closed) continue;
    const kind = r() % 10;
    if (kind === 0) {
      // Raw noise, sometimes with newlines.
      const bytes = Array.from({ length: r() % 200 }, () => String.fromCharCode(r() % 128));
      cl.sendRaw(bytes.join('') + (r() % 2 ? '\n' : ''));
    } else if (kind === 1) {
      // A valid command with its JSON cut short or doubled.
      const text = JSON.stringify({ execute: commands[r() % commands.length], arguments: { addr: randomValue(r) } });
      cl.sendRaw(text.slice(0, r() % text.length) + (r() % 2 ? '\n' : '}}\n'));
    } else if (kind < 6) {
      const name = commands[r() % commands.length];
      const args: Record<string, unknown> = {};
      for (let k = 0; k < r() % 4; k++) args[['addr', 'size', 'type', 'id', 'vcpu', 'data', 'count', 'name', 'value', 'end', 'access', 'condition', 'events', 'line', 'space', 'zzz'][r() % 16]] = randomValue(r);
      pending.push(cl.execute(name, args).catch(() => undefined));
    } else {
      const line = Array.from({ length: 1 + (r() % 6) }, () => WORDS[r() % WORDS.length]).join(' ');
      if (HMP_EXCLUDED.test(line)) continue;
      pending.push(cl.hmp(line).catch(() => undefined));
    }
    if (i % 100 === 0) {
      // Keep the VM moving between bursts so stops, steps and ioreqs interleave.
      await probe.execute('break-delete', { id: 'all' }).catch(() => undefined);
      await probe.execute('cont').catch(() => undefined);
      await Promise.race([Promise.all(pending.splice(0)), new Promise((res) => setTimeout(res, 500))]);
    }
  }
  await Promise.race([Promise.all(pending), new Promise((res) => setTimeout(res, 5000))]);
  // Oversized lines and abrupt disconnects, on raw sockets.
  for (let i = 0; i < 5; i++) {
    const s = createConnection(host.socket('fuzz'));
    await new Promise((res) => s.once('connect', res));
    s.write(i % 2 ? 'y'.repeat(3 << 20) : '{"execute":"qmp_capabilities"}\n{"execute":"step-trap"}\n');
    s.destroy();
  }
  for (const cl of clients) cl.close();
  // The host is still here and answers.
  expect(host.proc.exitCode).toBeNull();
  await probe.execute('break-delete', { id: 'all' });
  await probe.execute('cont').catch(() => undefined);
  expect(await probe.execute('query-status')).toMatchObject({ singlestep: false });
  const fresh = await connectMonitor(host.socket('fuzz'));
  expect(await fresh.hmp('info status')).toMatch(/^VM status:/);
  fresh.close();
}, 180_000);
