// The monitor through its socket only: a real `hvmon run` process and QMP clients, covering
// every machine command, the human commands through human-monitor-command, events, several
// clients at once, and clients that misbehave.
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QmpClient, QmpError } from '../src/monitor/client.js';
import type { BreakpointInfo, CpuView, QmpEvent, StopView, TrapView, VgaScreenView } from '../src/monitor/protocol.js';
import { connectMonitor, runHvmon, type HvmonProcess } from './helpers.js';

let host: HvmonProcess;
let c: QmpClient;
const events: QmpEvent[] = [];

beforeAll(async () => {
  host = runHvmon(['run', 'test/guests/montest.img', '--display', 'none', '-S', '--name', 'mon']);
  c = await connectMonitor(host.socket('mon'));
  c.on('event', (e) => events.push(e));
});

afterAll(async () => {
  c?.close();
  await host?.kill();
});

const hmp = (line: string): Promise<string> => c.hmp(line);

async function stopped(): Promise<void> {
  const st = await c.execute<{ running: boolean }>('query-status');
  if (st.running) {
    await c.execute('stop');
  }
}

async function runUntilStop(pred: (s: StopView) => boolean = () => true): Promise<StopView> {
  const ev = c.waitEvent('DEBUG_STOP', (e) => pred(e.data as unknown as StopView));
  await c.execute('cont');
  return (await ev).data as unknown as StopView;
}

describe('machine commands over QMP', () => {
  it('greets like QMP and describes itself', async () => {
    expect(c.greeting?.QMP.version.package).toMatch(/^hvmon /);
    expect(await c.execute('query-version')).toMatchObject({ package: expect.stringMatching(/hvmon/) });
    expect(await c.execute('query-name')).toEqual({ name: 'mon' });
    const names = (await c.execute<{ name: string }[]>('query-commands')).map((x) => x.name);
    for (const n of ['qmp_capabilities', 'query-status', 'stop', 'cont', 'system_reset', 'quit', 'human-monitor-command',
      'memsave', 'pmemsave', 'query-cpus-fast', 'break-insert', 'break-delete', 'break-list', 'step', 'step-trap',
      'query-stop', 'ioreq-complete', 'ioreq-skip', 'mem-read', 'mem-write', 'reg-read', 'reg-write', 'device-list',
      'device-inspect', 'query-mtree', 'trap-log']) expect(names).toContain(n);
  });

  it('starts paused (-S), runs on cont with STOP/RESUME events, and stops on stop', async () => {
    expect(await c.execute('query-status')).toEqual({ running: false, singlestep: false, status: 'paused' });
    const resume = c.waitEvent('RESUME');
    await c.execute('cont');
    await resume;
    await host.waitFor(/tick 3/);
    const stop = c.waitEvent('STOP');
    await c.execute('stop');
    await stop;
    expect(await c.execute('query-stop')).toMatchObject({ vcpu: 0, reason: 'pause', running: false });
    const cpus = await c.execute<{ 'cpu-index': number; running: boolean; icount: number }[]>('query-cpus-fast');
    expect(cpus[0]['cpu-index']).toBe(0);
    expect(cpus[0].running).toBe(false);
    expect(cpus[0].icount).toBeGreaterThan(1000);
  });

  it('reads and writes registers', async () => {
    const r = await c.execute<CpuView>('reg-read');
    expect(r.mode).toBe('real');
    expect(r.regs.cs).toBe(0);
    expect(r.regs.ss).toBe(0);
    expect((r.state as { cs: { attr: number } }).cs.attr & 0x80).toBe(0x80);
    const regs = await c.execute<Record<string, number>>('reg-write', { name: 'ebx', value: 0x12345678 });
    expect(regs.ebx).toBe(0x12345678);
    expect(regs.bx).toBe(0x5678);
    expect((await c.execute<CpuView>('reg-read')).regs.bh).toBe(0x56);
    await expect(c.execute('reg-write', { name: 'xyz', value: 1 })).rejects.toThrow(/unknown register xyz/);
  });

  it('reads and writes memory by physical and linear address, and saves it to files', async () => {
    const m = await c.execute<{ data: string }>('mem-read', { addr: 0x7c00, size: 4 });
    expect(m.data).toBe('fa31c08e');
    await c.execute('mem-write', { addr: 0x500, data: 'deadbeef' });
    expect((await c.execute<{ data: string }>('mem-read', { addr: 0x500, size: 4, space: 'linear' })).data).toBe('deadbeef');
    await expect(c.execute('mem-write', { addr: 0xf0000, data: '00' })).rejects.toThrow(/not RAM/);
    await expect(c.execute('mem-write', { addr: 0x500, data: 'xyz' })).rejects.toThrow(/hex string/);
    const dir = mkdtempSync(join(tmpdir(), 'hvmon-mon-'));
    await c.execute('pmemsave', { val: 0x7c00, size: 512, filename: join(dir, 'p.bin') });
    await c.execute('memsave', { val: 0x7c00, size: 512, filename: join(dir, 'v.bin') });
    const p = readFileSync(join(dir, 'p.bin'));
    expect(p.length).toBe(512);
    expect(p[510]).toBe(0x55);
    expect(readFileSync(join(dir, 'v.bin'))).toEqual(p);
    expect(await c.execute('translate', { addr: 0x7c00 })).toEqual({ ok: true, phys: 0x7c00 });
    expect((await c.execute<{ lines: string[] }>('page-walk', { addr: 0x7c00 })).lines[0]).toMatch(/real mode/);
  });

  it('disassembles in the CPU\'s mode', async () => {
    const d = await c.execute<{ addr: number; text: string }[]>('disassemble', { addr: 0x7c00, count: 3 });
    expect(d.map((x) => x.text)).toEqual(['cli', 'xor ax, ax', 'mov ds, ax']);
  });

  it('steps instructions and reports the stop', async () => {
    const before = (await c.execute<CpuView>('reg-read')).state as { eip: number; icount: number };
    const s = await c.execute<StopView>('step', { count: 3 });
    expect(s.reason).toBe('step');
    const after = (await c.execute<CpuView>('reg-read')).state as { eip: number; icount: number };
    expect(after.icount - before.icount).toBe(3);
  });

  it('breaks on execution and continues past it', async () => {
    const bp = await c.execute<BreakpointInfo>('break-insert', { type: 'exec', addr: 0x7c00 + 0x24 });
    // 0x7c24 is not necessarily an instruction start: use the round label from the listing.
    await c.execute('break-delete', { id: bp.id });
    const lines = await c.execute<{ addr: number; text: string }[]>('disassemble', { addr: 0x7c00, count: 40 });
    const inc = lines.find((l) => l.text.startsWith('inc word'))!;
    const b = await c.execute<BreakpointInfo>('break-insert', { type: 'exec', addr: inc.addr });
    const s = await runUntilStop((x) => x.reason === 'breakpoint');
    expect(s).toMatchObject({ reason: 'breakpoint', breakpoint: b.id, addr: inc.addr });
    const again = await runUntilStop((x) => x.reason === 'breakpoint');
    expect(again.breakpoint).toBe(b.id);
    const list = await c.execute<BreakpointInfo[]>('break-list');
    expect(list.find((x) => x.id === b.id)!.hits).toBeGreaterThanOrEqual(2);
    await c.execute('break-update', { id: b.id, enabled: false });
    expect((await c.execute<BreakpointInfo[]>('break-list'))[0].enabled).toBe(false);
    await c.execute('break-delete', { id: 'all' });
    expect(await c.execute('break-list')).toEqual([]);
  });

  it('stops before an I/O request reaches the device, shows it, and lets it through changed', async () => {
    const out0 = host.stdout().length;
    const b = await c.execute<BreakpointInfo>('break-insert', { type: 'io', addr: 0x3f8, access: 'w', condition: "value == 't'" });
    const s = await runUntilStop((x) => x.reason === 'io-breakpoint');
    expect(s.breakpoint).toBe(b.id);
    expect(s.ioreq).toEqual({ space: 'pio', addr: 0x3f8, size: 1, dir: 'write', value: 0x74, count: 1, device: 'com1', register: 'THR/DLL' });
    expect(s.text).toBe("io-breakpoint 1: outb 0x03f8 (com1 THR/DLL) <- 0x74".replace('1', String(b.id)));
    expect((await c.execute<StopView>('query-stop')).ioreq?.value).toBe(0x74);
    // The device has not seen it: nothing new on COM1 ends in 't' yet.
    await c.execute('break-delete', { id: b.id });
    await c.execute('ioreq-complete', { value: 0x54 }); // 'T'
    await c.execute('cont');
    await host.waitFor(/Tick \d+/);
    expect(host.stdout().slice(out0)).toMatch(/Tick \d+/);
    await stopped();
  });

  it('answers a read by hand (fault injection) and skips a write', async () => {
    // Every LSR read is answered "data ready, transmitter empty" by hand until the guest, seeing
    // a byte waiting, reads RBR; that read is answered with a 'Z' no device ever received.
    const lsr = await c.execute<BreakpointInfo>('break-insert', { type: 'io', addr: 0x3fd, access: 'r' });
    const rbr = await c.execute<BreakpointInfo>('break-insert', { type: 'io', addr: 0x3f8, access: 'r' });
    let s = await runUntilStop((x) => x.reason === 'io-breakpoint');
    expect(s.ioreq).toMatchObject({ addr: 0x3fd, dir: 'read', value: null, device: 'com1' });
    for (let i = 0; i < 100 && s.breakpoint === lsr.id; i++) {
      await c.execute('ioreq-complete', { value: 0x61 });
      s = await runUntilStop((x) => x.reason === 'io-breakpoint');
    }
    expect(s.ioreq).toMatchObject({ addr: 0x3f8, dir: 'read', device: 'com1' });
    expect(s.breakpoint).toBe(rbr.id);
    await c.execute('break-delete', { id: 'all' });
    await c.execute('ioreq-complete', { value: 0x5a }); // 'Z' as if typed
    await c.execute('cont');
    await host.waitFor(/got Z/);
    await stopped();
    const w = await c.execute<BreakpointInfo>('break-insert', { type: 'io', addr: 0x3f8, access: 'w', condition: "value == 'k'" });
    await runUntilStop((x) => x.reason === 'io-breakpoint');
    await c.execute('ioreq-skip');
    await c.execute('break-delete', { id: w.id });
    const st = await c.execute<StopView>('query-stop');
    expect(st.ioreq).toBeUndefined();
  });

  it('stops before an MMIO access with direction and range', async () => {
    const b = await c.execute<BreakpointInfo>('break-insert', { type: 'mmio', addr: 0xb8000, end: 0xb8fff, access: 'r' });
    const s = await runUntilStop((x) => x.reason === 'mmio-breakpoint');
    expect(s.ioreq).toMatchObject({ space: 'mmio', addr: 0xb8000, dir: 'read', size: 1, device: 'vga.vram' });
    await c.execute('break-update', { id: b.id, enabled: false });
    const w = await c.execute<BreakpointInfo>('break-insert', { type: 'mmio', addr: 0xb8002, access: 'w' });
    const s2 = await runUntilStop((x) => x.reason === 'mmio-breakpoint');
    expect(s2.ioreq).toMatchObject({ addr: 0xb8002, dir: 'write', value: 0x4d });
    await c.execute('break-delete', { id: 'all' });
    void w;
  });

  it('stops on an interrupt vector before it is delivered', async () => {
    const b = await c.execute<BreakpointInfo>('break-insert', { type: 'interrupt', addr: 0x30 });
    const s = await runUntilStop((x) => x.reason === 'interrupt');
    expect(s).toMatchObject({ reason: 'interrupt', breakpoint: b.id, vector: 0x30 });
    await c.execute('break-delete', { id: b.id });
  });

  it('runs to the next trap with step-trap and stops in front of it', async () => {
    const s = await c.execute<StopView>('step-trap');
    expect(s.reason).toBe('step-trap');
    expect(s.ioreq ?? s.vector).toBeDefined();
    await c.execute('ioreq-complete').catch(() => undefined);
  });

  it('watches a memory location and stops after the write', async () => {
    const w = await c.execute<BreakpointInfo>('break-insert', { type: 'watch', addr: 0x600, end: 0x601, access: 'w', space: 'phys' });
    const s = await runUntilStop((x) => x.reason === 'watchpoint');
    expect(s).toMatchObject({ reason: 'watchpoint', breakpoint: w.id, addr: 0x600, write: true });
    await c.execute('break-delete', { id: w.id });
  });

  it('shows devices, the memory map, the trap log and the ioreq channel', async () => {
    const devs = await c.execute<{ id: string; kind: string }[]>('device-list');
    const ids = devs.map((d) => d.id);
    for (const id of ['pic', 'pit', 'com1', 'com2', 'rtc', 'kbd', 'vga', 'ide0', 'ide1', 'pci']) expect(ids).toContain(id);
    const uart = await c.execute<{ registers: { name: string; value: number }[] }>('device-inspect', { id: 'com1' });
    expect(uart.registers.map((r) => r.name)).toEqual(expect.arrayContaining(['LSR', 'LCR', 'IER', 'MCR']));
    await expect(c.execute('device-inspect', { id: 'nope' })).rejects.toMatchObject({ errorClass: 'DeviceNotFound' });
    const mt = await c.execute<{ memory: { base: number; kind: string }[]; regions: { name: string; space: string }[] }>('query-mtree');
    expect(mt.memory[0]).toMatchObject({ base: 0, kind: 'ram' });
    expect(mt.regions.some((r) => r.name === 'com1' && r.space === 'pio')).toBe(true);
    const traps = await c.execute<TrapView[]>('trap-log', { count: 50, device: 'com1', dir: 'write' });
    expect(traps.length).toBeGreaterThan(0);
    expect(traps.every((t) => t.device === 'com1' && t.dir === 'write')).toBe(true);
    expect(traps.some((t) => t.register === 'THR/DLL')).toBe(true);
    const ranged = await c.execute<TrapView[]>('trap-log', { count: 20, start: 0x3fd, end: 0x3fd });
    expect(ranged.every((t) => t.addr === 0x3fd)).toBe(true);
    const q = await c.execute<{ slots: { state: string }[]; served: number }>('query-ioreq');
    expect(q.slots[0].state).toBe('NONE');
    expect(q.served).toBeGreaterThan(0);
  });

  it('types into the UART and reads the VGA screen; streams arrive after subscribe', async () => {
    await c.execute('subscribe', { events: ['SERIAL_OUTPUT', 'VGA_UPDATE'] });
    let text = '';
    const serial = c.waitEvent('SERIAL_OUTPUT', (e) => (text += String(e.data?.data)).includes('got q'));
    const vga = c.waitEvent('VGA_UPDATE');
    await c.execute('serial-write', { data: 'q' });
    await c.execute('cont');
    expect((await serial).data?.device).toBe('com1');
    const v = (await vga).data as unknown as VgaScreenView;
    expect(v.cols).toBe(80);
    expect(v.text[0][1]).toBe('M');
    const screen = await c.execute<VgaScreenView>('vga-screen');
    expect(screen.attrs[0].slice(2, 4)).toBe('2e');
    // Memory reads show VGA memory as the guest reads it, from the device model (it is not RAM).
    expect((await c.execute<{ data: string }>('mem-read', { addr: 0xb8002, size: 2 })).data).toBe('4d2e');
    expect(await hmp('xp /2bx 0xb8002')).toMatch(/^00000000000b8002: 0x4d 0x2e$/);
    await c.execute('subscribe', { events: ['SERIAL_OUTPUT', 'VGA_UPDATE'], unsubscribe: true });
    await stopped();
  });

  it('replays recent serial output to a late subscriber, and streams traps in batches', async () => {
    const late = await QmpClient.connect(host.socket('mon'));
    const first = late.waitEvent('SERIAL_OUTPUT');
    await late.execute('subscribe', { events: ['SERIAL_OUTPUT'], history: true });
    const h = await first;
    expect(h.data).toMatchObject({ device: 'com1', history: true });
    expect(String(h.data?.data)).toContain('montest ready');
    expect(await late.execute('serial-history', { device: 'com1', bytes: 5 })).toMatchObject({ device: 'com1' });
    const traps = late.waitEvent('TRAP');
    await late.execute('subscribe', { events: ['TRAP'] });
    await c.execute('cont');
    const t = (await traps).data as { traps: TrapView[]; dropped: number };
    expect(t.traps.length).toBeGreaterThan(0);
    expect(t.traps.some((x) => x.device === 'com1')).toBe(true);
    late.close();
    await stopped();
  });

  it('resets the system, with a RESET event', async () => {
    await stopped();
    const reset = c.waitEvent('RESET');
    await c.execute('system_reset');
    expect((await reset).data).toEqual({ guest: false, reason: 'host-qmp-system-reset' });
    expect((await c.execute<CpuView>('reg-read')).regs.eip).toBe(0x7c00);
  });
});

describe('human commands through human-monitor-command', () => {
  it('runs the HMP set and answers in QEMU\'s formats', async () => {
    await stopped();
    expect(await hmp('info status')).toMatch(/^VM status: paused/);
    expect(await hmp('info registers')).toMatch(/^EAX=[0-9a-f]{8} EBX=/);
    expect(await hmp('x /4xb 0x7c00')).toBe('00007c00: 0xfa 0x31 0xc0 0x8e');
    expect(await hmp('xp /2xw 0x7c00')).toMatch(/^0000000000007c00: 0x8ec031fa 0x/);
    expect(await hmp('x /3i 0x7c00')).toMatch(/cli\n.*xor ax, ax\n.*mov ds, ax/);
    expect(await hmp('i /b 0x3fd')).toMatch(/^portb\[0x03fd\] = 0x6[0-9a-f]$/);
    await hmp('o /b 0x3ff 0x5a');
    expect(await hmp('i /b 0x3ff')).toBe('portb[0x03ff] = 0x5a');
    expect(await hmp('info mtree')).toMatch(/address-space: I\/O[\s\S]*00000000000003f8-00000000000003ff \(prio 0, i\/o\): com1/);
    expect(await hmp('info qtree')).toMatch(/dev: uart16550, id "com1"/);
    expect(await hmp('info pic')).toMatch(/^pic0: irr=/);
    expect(await hmp('info devices')).toMatch(/^pic\s+i8259/m);
    expect(await hmp('info device com1')).toMatch(/LSR\s+0x6/);
    expect(await hmp('info ioreq')).toMatch(/slot 0: NONE/);
    expect(await hmp('info cpus')).toMatch(/^\* CPU #0: pc=0x00007c[0-9a-f]{2} mode=real stopped: paused icount=\d+$/);
    expect(await hmp('help')).toMatch(/break\|b/);
    expect(await hmp('help break')).toMatch(/break io PORT/);
  });

  it('sets, lists, conditions, ignores, disables and deletes breakpoints', async () => {
    expect(await hmp('break io 0x3f8-0x3ff w if value & 0x80')).toMatch(/^I\/O breakpoint (\d+): 0x03f8-0x03ff w if value & 0x80$/);
    expect(await hmp('tbreak 0x7c10')).toMatch(/^Temporary breakpoint \d+ at 0x00007c10$/);
    expect(await hmp('watch -p 0x600+2')).toMatch(/^Watchpoint \d+: phys 0x00000600-0x00000601 w$/);
    expect(await hmp('break mmio 0xb8000+4000 w')).toMatch(/MMIO breakpoint \d+: 0x000b8000-0x000b8f9f w/);
    expect(await hmp('break int 0x30')).toMatch(/Interrupt breakpoint \d+: vector 0x30/);
    const list = await hmp('info breakpoints');
    expect(list).toMatch(/^Num\s+Type\s+Disp Enb What/);
    expect(list).toMatch(/io\s+keep y\s+0x03f8-0x03ff w\n\tstop only if value & 0x80/);
    expect(list).toMatch(/breakpoint\s+del\s+y\s+0x00007c10/);
    const ids = [...list.matchAll(/^(\d+)\s/gm)].map((m) => m[1]);
    await hmp(`condition ${ids[0]} value == 0x41`);
    expect(await hmp('info breakpoints')).toMatch(/stop only if value == 0x41/);
    expect(await hmp(`ignore ${ids[0]} 3`)).toBe(`Will ignore next 3 crossings of breakpoint ${ids[0]}.`);
    await hmp(`disable ${ids[0]}`);
    expect(await hmp('info breakpoints')).toMatch(new RegExp(`^${ids[0]}\\s+io\\s+keep n`, 'm'));
    await hmp('enable');
    await hmp('delete');
    expect(await hmp('info breakpoints')).toBe('No breakpoints or watchpoints.');
  });

  it('steps, runs to traps, shows and edits the pending request, and finishes a function', async () => {
    await hmp('system_reset');
    expect(await hmp('si')).toMatch(/^0000:7c01 31 c0\s+xor ax, ax$/);
    expect(await hmp('stepi 2')).toMatch(/^0000:7c05/);
    await hmp("break io 0x3f8 w if value == 'm'");
    const stop = c.waitEvent('DEBUG_STOP');
    await hmp('c');
    const st = await stop;
    expect((st.data as unknown as StopView).reason).toBe('io-breakpoint');
    expect(await hmp('ioreq')).toMatch(/stopped before: io-breakpoint \d+: outb 0x03f8 \(com1 THR\/DLL\) <- 0x6d\n\s+space pio\s+address 0x03f8\s+size 1\s+write\s+value 0x6d\n\s+device com1\s+register THR\/DLL/);
    expect(await hmp('ioreq set 0x4d')).toBe('pending write now carries 0x4d');
    expect(await hmp('ioreq let')).toBe('delivered');
    await hmp('delete');
    const trap = await hmp('st');
    expect(trap).toMatch(/^step-trap: /);
    await hmp('ioreq let').catch(() => undefined);
    await hmp('delete');
    const lines = await c.execute<{ addr: number; text: string }[]>('disassemble', { addr: 0x7c00, count: 60 });
    const work = lines.find((l) => l.text === 'push bx')!;
    await hmp(`break ${work.addr}`);
    const atWork = c.waitEvent('DEBUG_STOP');
    await hmp('c');
    await atWork;
    await hmp('delete');
    expect(await hmp('finish')).toMatch(/^finish: returned to 0x0000:0x00007c/);
    expect(await hmp('info stop')).toMatch(/finish: returned/);
    expect(await hmp('x /2xb ds:0x600')).toMatch(/^00000600: 0x/);
    expect(await hmp('poke /w 0x600 0x1234')).toBe('wrote 2 bytes at linear 0x00000600');
    expect(await hmp('x /1xh 0x600')).toBe('00000600: 0x1234');
    await hmp('set $ax = 0x4242');
    expect(await hmp('info registers')).toMatch(/EAX=....4242/);
    expect(await hmp('gva2gpa 0x7c00')).toBe('gpa: 0x7c00');
    expect(await hmp('disas 0x7c00 2')).toMatch(/7c00: fa\s+cli/);
  });

  it('shows the trap log with filters and the screen', async () => {
    expect(await hmp('info traps 5 device com1')).toMatch(/com1/);
    expect(await hmp('info traps ports 0x3fd-0x3fd in')).toMatch(/inb\s+0x03fd/);
    expect(await hmp('screen')).toMatch(/\[cursor/);
  });

  it('gives clear errors for malformed commands', async () => {
    await expect(hmp('frobnicate')).rejects.toThrow("unknown command: 'frobnicate' (type help)");
    await expect(hmp('x /10q 0')).rejects.toThrow(/bad format '\/10q'/);
    await expect(hmp('break io')).rejects.toThrow(/needs a port range/);
    await expect(hmp('break io 0x3f8 sideways')).rejects.toThrow(/'sideways' is not a direction/);
    await expect(hmp('break 0x100 if valu == 1')).rejects.toThrow(/unknown name 'valu'/);
    await expect(hmp('x /4xb 0x100 +')).rejects.toThrow(/bad expression|ends too early/);
    await expect(hmp('info frob')).rejects.toThrow(/unknown subcommand 'frob'/);
    await expect(hmp('delete 99')).rejects.toThrow(/no breakpoint number 99/);
    await expect(hmp('ioreq let')).rejects.toThrow(/not stopped at an I\/O or MMIO request/);
    await expect(hmp('i /q 0x80')).rejects.toThrow(/fmt must be/);
  });

  it('completes commands, subcommands, device ids and registers from the table', async () => {
    expect(await c.execute('hmp-complete', { line: 'inf' })).toEqual(['info']);
    expect(await c.execute('hmp-complete', { line: 'info dev' })).toEqual(['device', 'devices']);
    expect(await c.execute('hmp-complete', { line: 'info device co' })).toEqual(['com1', 'com2']);
    expect(await c.execute('hmp-complete', { line: 'set $ea' })).toEqual(['$eax']);
    const table = await c.execute<{ name: string }[]>('query-hmp-commands');
    expect(table.map((t) => t.name)).toContain('info registers');
  });
});

describe('misbehaving and concurrent clients', () => {
  it('negotiates capabilities before anything else', async () => {
    const raw = await QmpClient.connect(host.socket('mon'), { negotiate: false });
    await expect(raw.execute('query-status')).rejects.toMatchObject({ errorClass: 'CommandNotFound', message: "Expecting capabilities negotiation with 'qmp_capabilities'" });
    await raw.execute('qmp_capabilities');
    await expect(raw.execute('qmp_capabilities')).rejects.toMatchObject({ errorClass: 'CommandNotFound' });
    raw.close();
  });

  it('answers bad JSON, unknown commands and wrong argument types with errors, and keeps serving', async () => {
    const k = await QmpClient.connect(host.socket('mon'));
    await expect(k.execute('no-such-command')).rejects.toMatchObject({ errorClass: 'CommandNotFound', message: 'The command no-such-command has not been found' });
    await expect(k.execute('mem-read', { addr: 'zero', size: 4 })).rejects.toThrow("Invalid parameter type for 'addr', expected: integer");
    await expect(k.execute('mem-read', { addr: 0 })).rejects.toThrow("Parameter 'size' is missing");
    await expect(k.execute('mem-read', { addr: 0, size: 1, colour: 'red' })).rejects.toThrow("Parameter 'colour' is unexpected");
    await expect(k.execute('break-insert', { type: 'sideways', addr: 0 })).rejects.toThrow(/does not accept value 'sideways'/);
    k.sendRaw('{"execute": \n');
    k.sendRaw('[1,2,3]\n');
    k.sendRaw('{"exec": "stop"}\n');
    expect(await k.execute('query-status')).toMatchObject({ singlestep: false });
    k.close();
  });

  it('drops a client that sends an oversized line, and others do not notice', async () => {
    const k = await QmpClient.connect(host.socket('mon'));
    const closed = new Promise<void>((r) => k.once('close', () => r()));
    k.sendRaw('x'.repeat(2 << 20));
    await closed;
    expect(await c.execute('query-status')).toMatchObject({ singlestep: false });
  });

  it('answers, in order, everything a script sent before it shut its side (socat piping a file)', async () => {
    const sock = createConnection(host.socket('mon'));
    let text = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (text += d));
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    // A command that needs the device model, then bad JSON, then one more with no newline.
    sock.end([
      '{"execute":"qmp_capabilities"}',
      '{"execute":"human-monitor-command","arguments":{"command-line":"xp /2bx 0xb8002"}}',
      '{bad json',
      '{"execute":"query-status","id":7}',
    ].join('\n'));
    await closed;
    const lines = text.trim().split('\r\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => Object.keys(l)[0])).toEqual(['QMP', 'return', 'return', 'error', 'return']);
    expect(lines[2].return).toMatch(/^00000000000b8002: 0x[0-9a-f]{2} 0x[0-9a-f]{2}$/);
    expect((lines[3].error as { desc: string }).desc).toMatch(/^JSON parse error/);
    expect(lines[4]).toMatchObject({ id: 7, return: { running: false } });
  });

  it('survives a client that disconnects mid-command and a flood of requests', async () => {
    const k = await QmpClient.connect(host.socket('mon'));
    void k.execute('step-trap').catch(() => undefined);
    k.close();
    const f = await QmpClient.connect(host.socket('mon'));
    const all = await Promise.all(Array.from({ length: 500 }, () => f.execute('query-status')));
    expect(all).toHaveLength(500);
    f.close();
    await stopped();
    expect(await c.execute('query-status')).toMatchObject({ running: false });
  });

  it('shares breakpoints and events between clients', async () => {
    const other = await QmpClient.connect(host.socket('mon'));
    const bp = await other.execute<BreakpointInfo>('break-insert', { type: 'io', addr: 0x3f8, access: 'w' });
    expect((await c.execute<BreakpointInfo[]>('break-list')).map((b) => b.id)).toContain(bp.id);
    const seen = other.waitEvent('DEBUG_STOP', (e) => e.data?.reason === 'io-breakpoint');
    await c.execute('cont');
    expect((await seen).data?.breakpoint).toBe(bp.id);
    await c.execute('break-delete', { id: bp.id });
    expect(await other.execute('break-list')).toEqual([]);
    await c.execute('ioreq-complete');
    other.close();
  });

  it('creates its socket mode 0600', () => {
    expect(existsSync(host.socket('mon'))).toBe(true);
    expect(statSync(host.socket('mon')).mode & 0o777).toBe(0o600);
  });

  it('quits on quit with a SHUTDOWN event', async () => {
    const sd = c.waitEvent('SHUTDOWN');
    await c.execute('quit');
    expect((await sd).data).toEqual({ guest: false, reason: 'host-qmp-quit' });
    expect(await host.exited).toBe(0);
    expect(events.some((e) => e.event === 'STOP')).toBe(true);
  });
});

export { QmpError };
