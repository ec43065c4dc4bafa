// When firmware or what it boots goes wrong, the monitor stays usable: a boot sector that
// triple-faults under SeaBIOS stops the VM with the CPU state and the trap log intact (and a
// reset boots SeaBIOS again); SeaBIOS hanging with no bootable disk can be stopped, looked at
// (registers, disassembly, trap log, screen) and resumed. Through the real `hvmon run` and
// its QMP socket, as a user's client would.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { QmpClient } from '../../src/monitor/client.js';
import type { CpuView, StopView, TrapView, VgaScreenView } from '../../src/monitor/protocol.js';
import { connectMonitor, guest, runHvmon, type HvmonProcess } from '../helpers.js';
import { BOOT_TIMEOUT_MS, firmwareSuite, SEABIOS } from './firmware.js';

let host: HvmonProcess | null = null;
let c: QmpClient | null = null;
afterEach(async () => {
  c?.close();
  c = null;
  await host?.kill();
  host = null;
});

async function start(name: string, args: string[]): Promise<{ qmp: QmpClient; debugcon: () => string }> {
  const log = join(mkdtempSync(join(tmpdir(), 'hvmon-fw-')), 'debugcon.log');
  host = runHvmon(['run', '--bios', SEABIOS, '--device', `isa-debugcon,iobase=0x402,chardev=file:${log}`,
    '--serial', 'stdio', '--display', 'none', '--name', name, ...args]);
  c = await connectMonitor(host.socket(name));
  return { qmp: c, debugcon: () => readFileSync(log, 'latin1') };
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 90_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}\n${host?.stdout()}\n${host?.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

firmwareSuite('the monitor when firmware goes wrong', ['seabios'], () => {
  it('a boot sector that triple-faults under SeaBIOS: stopped, registers and trap log there, reset boots again', async () => {
    const { qmp } = await start('fw-triple', ['--drive', `file=${guest('test/guests/triple.img')},snapshot=on`]);
    const stop = await until('the triple fault', async () => {
      const s = await qmp.execute<StopView & { running: boolean }>('query-stop');
      return s.reason === 'triple-fault' ? s : null;
    });
    expect(stop.text).toMatch(/guest triple-faulted at 0x0000:0x00007c1[0-9a-f]/);
    await until('its last words on COM1', () => host!.stdout().includes('about to triple-fault\r\n'));
    expect(await qmp.execute('query-status')).toMatchObject({ running: false, status: 'shutdown' });
    // Where it died: real mode, in the boot sector SeaBIOS loaded at 0000:7C00, at the INT3
    // whose vector lies beyond the empty IDT.
    const cpu = await qmp.execute<CpuView>('reg-read');
    expect(cpu.mode).toBe('real');
    expect(cpu.regs.cs).toBe(0);
    expect(cpu.regs.eip).toBeGreaterThanOrEqual(0x7c00);
    expect(await qmp.hmp('info registers')).toMatch(/IDT= +00000000 00000000/);
    expect(await qmp.hmp(`x /1i ${cpu.regs.eip}`)).toMatch(/int3/);
    // The trap log still shows how it got there: the BIOS reading the disk, then the guest's COM1 line.
    const ide = await qmp.execute<TrapView[]>('trap-log', { count: 4096, device: 'ide0' });
    expect(ide.length).toBeGreaterThan(0);
    expect(ide.every((t) => t.ip >= 0xc0000)).toBe(true);
    const serial = await qmp.execute<TrapView[]>('trap-log', { count: 50, device: 'com1', dir: 'write' });
    expect(serial.at(-1)).toMatchObject({ ip: expect.any(Number), addr: 0x3f8, value: 0x0a });
    expect(serial.at(-1)!.ip).toBeLessThan(0x7e00);
    await expect(qmp.execute('cont')).rejects.toThrow(/triple fault/);
    // system_reset is the way on: the BIOS (its shadow copy dropped by the PAM reset) boots again.
    await qmp.execute('system_reset');
    await qmp.execute('cont');
    await until('the second boot', () => host!.stdout().split('about to triple-fault').length === 3);
    await until('the second triple fault', async () => (await qmp.execute<StopView>('query-stop')).reason === 'triple-fault');
  }, BOOT_TIMEOUT_MS);

  it('SeaBIOS waiting with no bootable disk: stop, look at it, resume', async () => {
    const { qmp, debugcon } = await start('fw-hang', []);
    const WAITING = 'No bootable device.  Retrying in 60 seconds.';
    await until('No bootable device', () => debugcon().includes('No bootable device.'));
    const onScreen = async () => (await qmp.execute<VgaScreenView>('vga-screen')).text.map((l) => l.trimEnd()).includes(WAITING);
    await until('the message on the screen', onScreen);
    await qmp.execute('stop');
    expect(await qmp.execute('query-stop')).toMatchObject({ vcpu: 0, reason: 'pause', running: false });
    // Inside the firmware: SeaBIOS (F000) in its wait loop, or SeaVGABIOS (C000) drawing.
    const cpu = await qmp.execute<CpuView>('reg-read');
    expect(cpu.mode).toBe('real');
    expect([0xc000, 0xf000]).toContain(cpu.regs.cs);
    expect(await qmp.hmp('x /2i cs:eip')).toMatch(/^ +000[cf][0-9a-f]{4}: /);
    const traps = await qmp.execute<TrapView[]>('trap-log', { count: 20 });
    expect(traps.length).toBe(20);
    expect(traps.every((t) => t.ip >= 0xc0000 && t.ip < 0x100000), JSON.stringify(traps)).toBe(true);
    expect(await onScreen()).toBe(true);
    const icount = cpu.state.icount as number;
    await qmp.execute('cont');
    expect(await qmp.execute('query-status')).toMatchObject({ running: true, status: 'running' });
    await until('the BIOS to run on', async () => ((await qmp.execute<CpuView>('reg-read')).state.icount as number) > icount);
  }, BOOT_TIMEOUT_MS);
});
