// Two vCPUs: an application processor started by INIT/STARTUP IPIs through the local APICs,
// and per-vCPU (non-stop) control from the monitor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QmpClient } from '../src/monitor/client.js';
import type { StopView } from '../src/monitor/protocol.js';
import { connectMonitor, runHvmon, type HvmonProcess } from './helpers.js';

let host: HvmonProcess;
let c: QmpClient;

beforeAll(async () => {
  host = runHvmon(['run', 'test/guests/smp.img', '--smp', '2', '--display', 'none', '--name', 'smp']);
  c = await connectMonitor(host.socket('smp'));
  await host.waitFor(/smp: the application processor is running/);
});

afterAll(async () => {
  c?.close();
  await host?.kill();
});

async function counters(): Promise<[number, number]> {
  const r = await c.execute<{ data: string }>('mem-read', { addr: 0x700, size: 8 });
  const b = Buffer.from(r.data, 'hex');
  return [b.readUInt32LE(0), b.readUInt32LE(4)];
}

async function moving(): Promise<[boolean, boolean]> {
  const a = await counters();
  await new Promise((r) => setTimeout(r, 150));
  const b = await counters();
  return [b[0] !== a[0], b[1] !== a[1]];
}

describe('SMP and non-stop control', () => {
  it('starts the application processor: both vCPUs count', async () => {
    expect(await moving()).toEqual([true, true]);
    const cpus = await c.execute<{ 'cpu-index': number; running: boolean }[]>('query-cpus-fast');
    expect(cpus.map((x) => x.running)).toEqual([true, true]);
    expect(await c.hmp('info device lapic1')).toMatch(/ID\s+0x01/);
  });

  it('pauses and resumes one vCPU while the other and the device model run on', async () => {
    await c.execute('stop', { vcpu: 1 });
    expect(await moving()).toEqual([false, true]);
    expect(await c.execute('query-status')).toMatchObject({ running: true, status: 'running' });
    expect(await c.execute('query-stop', { vcpu: 1 })).toMatchObject({ running: false, reason: 'pause' });
    expect((await c.execute<StopView & { running: boolean }>('query-stop', { vcpu: 0 })).running).toBe(true);
    await c.execute('cont', { vcpu: 1 });
    expect(await moving()).toEqual([true, true]);
  });

  it('stops only the vCPU that hit a breakpoint in non-stop mode, and every vCPU in all-stop mode', async () => {
    await c.hmp('nonstop on');
    const lines = await c.execute<{ addr: number; text: string }[]>('disassemble', { addr: 0x8000, count: 8, bits: 16 });
    const inc = lines.find((l) => l.text.startsWith('inc dword'))!;
    const stopped = c.waitEvent('DEBUG_STOP', (e) => e.data?.reason === 'breakpoint');
    const bp = await c.execute<{ id: number }>('break-insert', { type: 'exec', addr: inc.addr, vcpu: 1 });
    expect((await stopped).data).toMatchObject({ vcpu: 1, breakpoint: bp.id });
    expect(await moving()).toEqual([false, true]);
    await c.hmp('nonstop off');
    const again = c.waitEvent('STOP');
    await c.execute('cont', { vcpu: 1 });
    await again;
    expect(await moving()).toEqual([false, false]);
    expect((await c.execute<{ status: string }>('query-status')).status).toBe('debug');
    await c.execute('break-delete', { id: 'all' });
    await c.execute('cont');
    expect(await moving()).toEqual([true, true]);
  });
});
