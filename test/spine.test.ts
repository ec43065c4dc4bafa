// The spine end to end, in process: a Machine with its two workers runs real NASM guests.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Machine } from '../src/core/machine/Machine.js';
import type { StopInfo } from '../src/core/debug/types.js';
import { Monitor, Session } from '../src/monitor/Monitor.js';
import { runHuman } from '../src/monitor/hmp.js';
import { asm, haveNasm } from '../src/core/vcpu/interp/testing/rig.js';
import { guest, startMachine } from './helpers.js';

let machine: Machine | null = null;
afterEach(async () => {
  await machine?.quit();
  machine = null;
});

function collect(m: Machine, device = 'com1'): () => string {
  let text = '';
  m.on('output', (d, data) => {
    if (d === device) text += Buffer.from(data).toString('latin1');
  });
  return () => text;
}

async function until(pred: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function nextStop(m: Machine, timeoutMs = 15_000): Promise<StopInfo> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no stop within ${timeoutMs} ms`)), timeoutMs);
    m.once('stop', (s) => {
      clearTimeout(t);
      resolve(s);
    });
  });
}

/**
 * A paused machine whose boot sector runs `setup` once and then `body` in a loop, counting the
 * rounds in the word at 0x600; with a monitor session on it and a reader of the count.
 */
async function loopGuest(setup: string, body: string): Promise<{ m: Machine; s: Session; rounds: () => number }> {
  const m = (machine = await startMachine({ boot: { kind: 'bootsector', image: guest('guests/bench/bench.img') }, startPaused: true }));
  m.mem.write(0x7c00, asm(`
      xor ax, ax
      mov ds, ax
      mov ss, ax
      mov sp, 0x7c00
      mov word [0x600], 0
${setup}
    l:
${body}
      inc word [0x600]
      jmp l`, 16, 0x7c00));
  const word = new Uint8Array(2);
  const rounds = (): number => {
    m.mem.read(0x600, word);
    return word[0] | (word[1] << 8);
  };
  return { m, s: new Session(new Monitor(m), 'test'), rounds };
}

describe('the machine', () => {
  it('runs the hello guest: COM1 through the daemon, VGA text through posted writes', async () => {
    machine = await startMachine({ boot: { kind: 'bootsector', image: guest('guests/hello.img') } });
    const out = collect(machine);
    await until(() => out().includes('Hello from hvmon!'), 'the greeting');
    const mon = new Monitor(machine);
    const screen = await mon.screen();
    expect(screen.text[0]).toContain('Hello from hvmon!');
    expect(screen.attrs[0].slice(0, 2)).toBe('1f');
    mon.close();
  });

  it('shows every posted VGA write made before a breakpoint stop', async () => {
    // hello clears the screen with REP STOSW (2000 posted writes of 0720h, published to the
    // device model in batches) before it prints; stop right after that, then read the screen.
    const image = guest('guests/hello.img');
    const bytes = readFileSync(image);
    const after = 0x7c00 + bytes.indexOf(Buffer.from([0xf3, 0xab, 0xbe])) + 2;
    machine = await startMachine({ boot: { kind: 'bootsector', image }, startPaused: true });
    const s = new Session(new Monitor(machine), 'test');
    await runHuman(s, `break 0x${after.toString(16)}`);
    const stopped = nextStop(machine);
    await machine.resume();
    expect((await stopped).reason).toBe('breakpoint');
    const screen = await new Monitor(machine).screen();
    expect(screen.attrs.join('')).toBe('07'.repeat(80 * 25));
    expect(screen.text.join('').trim()).toBe('');
  });

  it.runIf(haveNasm())('stops at I/O breakpoints set while the guest runs, on in-core and empty ports, words included', async () => {
    // Port accesses the vCPU thread answers itself (the PIC's IMR; a port nothing decodes)
    // never leave run() unless a breakpoint may stop them: a breakpoint set while the loop
    // runs must be in force once `break` returns, also for a word access that only reaches
    // its port with its second byte, and must not stop accesses next to it.
    const { m, s, rounds } = await loopGuest('', `
      mov dx, 0x21
      mov al, 0xff
      out dx, al
      mov dx, 0x500
      mov ax, 0xab12
      out dx, ax`);
    let stops = 0;
    m.on('stop', () => stops++);
    await m.resume();
    await until(() => rounds() > 1000, 'the loop to run');
    // Beside the word access (0x500-0x501) and the byte one: nothing may stop.
    await runHuman(s, 'break io 0x502 w');
    await runHuman(s, 'break io 0x20 rw');
    await runHuman(s, 'break io 0x4ff r');
    const before = rounds();
    await until(() => ((rounds() - before) & 0xffff) > 5000, 'the loop to go on past the neighbouring breakpoints');
    expect(stops).toBe(0);
    expect(await runHuman(s, 'info breakpoints')).not.toMatch(/already hit/);
    // The word write's second byte is port 0x501.
    let stopped = nextStop(m);
    await runHuman(s, 'break io 0x501 w');
    let stop = await stopped;
    expect(stop.reason).toBe('io-breakpoint');
    expect(stop.text).toMatch(/outw 0x0500 .*<- 0xab12/);
    // The in-core device's register, armed while the loop runs again.
    await runHuman(s, 'delete');
    await m.resume();
    const again = rounds();
    await until(() => ((rounds() - again) & 0xffff) > 1000, 'the loop to run again after delete');
    stopped = nextStop(m);
    await runHuman(s, 'break io 0x21 w if value == 0xff');
    stop = await stopped;
    expect(stop.reason).toBe('io-breakpoint');
    expect(stop.text).toMatch(/outb 0x0021 .*<- 0xff/);
  });

  it.runIf(haveNasm())('stops at an MMIO breakpoint set while the guest streams posted writes into VGA memory', async () => {
    // Once a write has gone to the posted VGA region, the next ones take a shorter path
    // straight to the ring; a breakpoint armed meanwhile must still stop the first write it covers.
    const { m, s, rounds } = await loopGuest(`
      mov ax, 0xb800
      mov es, ax`, `
      mov word [es:0x100], 0x0741
      mov word [es:0x102], 0x0742`);
    await m.resume();
    await until(() => rounds() > 1000, 'the loop to run');
    const stopped = nextStop(m);
    await runHuman(s, 'break mmio 0xb8102 w');
    // In force once `break` returns: the loop goes round once more at most.
    const armedAt = rounds();
    const stop = await stopped;
    expect(stop.reason).toBe('mmio-breakpoint');
    expect(stop.text).toMatch(/0x000b8102.*<- 0x0742/);
    expect((rounds() - armedAt) & 0xffff).toBeLessThanOrEqual(1);
    // The write before it went out: the screen shows it.
    expect((await new Monitor(m).screen()).text[1].slice(48, 49)).toBe('A');
  });

  it.runIf(haveNasm())('hands a REP STOSW into VGA memory over as one trap per page, upward and downward, and still stops on its element', async () => {
    // A screen clear is one ring entry and one trap record per page, as a string I/O exit is;
    // what the screen shows is what element-by-element writes would have left.
    const { m, s, rounds } = await loopGuest(`
      mov ax, 0xb800
      mov es, ax`, `
      cld
      mov di, 0x10
      mov cx, 40
      mov ax, 0x0741
      rep stosw
      std
      mov di, 0x200
      mov cx, 5
      mov ax, 0x0742
      rep stosw
      cld`);
    await m.resume();
    await until(() => rounds() > 1000, 'the loop to run');
    await m.pause();
    const row = (await new Monitor(m).screen()).text;
    expect(row[0].slice(0, 50)).toBe(' '.repeat(8) + 'A'.repeat(40) + '  ');
    expect(row[3].slice(10, 18)).toBe('  BBBBB ');
    const traps = await runHuman(s, 'info traps 4 mmio');
    expect(traps).toMatch(/wr2 +0x000b8010 +0x0741 +vga\S* x40/);
    expect(traps).toMatch(/wr2 +0x000b8200 +0x0742 +vga\S* x5/);
    // A breakpoint on one element: the debugger sees the elements one by one again.
    await m.resume();
    const stopped = nextStop(m);
    await runHuman(s, 'break mmio 0xb801e w');
    const stop = await stopped;
    expect(stop.reason).toBe('mmio-breakpoint');
    expect(stop.text).toMatch(/0x000b801e.*<- 0x0741/);
  });

  it('starts paused with -S and runs on cont; pause, resume and reset work', async () => {
    machine = await startMachine({ boot: { kind: 'bootsector', image: guest('guests/hello.img') }, startPaused: true });
    const out = collect(machine);
    expect(machine.state).toBe('paused');
    const s0 = await machine.getState();
    expect(s0.state.eip).toBe(0x7c00);
    expect(s0.state.icount).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(out()).toBe('');
    await machine.resume();
    await until(() => out().includes('Hello'), 'output after cont');
    await machine.pause();
    expect(machine.state).toBe('paused');
    const n = out().length;
    await machine.reset();
    expect(machine.state).toBe('paused');
    expect((await machine.getState()).state.eip).toBe(0x7c00);
    await machine.resume();
    await until(() => out().slice(n).includes('Hello from hvmon!'), 'the greeting again after reset');
  });

  it('stops a guest that triple-faults with a clear message; the host and monitor stay usable', async () => {
    machine = await startMachine({ boot: { kind: 'bootsector', image: guest('test/guests/triple.img') } });
    const out = collect(machine);
    // What the guest printed before it stopped reaches a client before the stop does (the
    // output comes from the device model's thread, the stop from the vCPU thread).
    const seenAtStop = new Promise<string>((r) => machine!.once('stop', () => r(out())));
    const stop = await nextStop(machine);
    expect(await seenAtStop).toContain('about to triple-fault\r\n');
    expect(stop.reason).toBe('triple-fault');
    expect(stop.text).toMatch(/guest triple-faulted at 0x0000:0x00007c1[0-9a-f]/);
    expect(machine.state).toBe('shutdown');
    expect(out()).toContain('about to triple-fault');
    expect(out()).not.toContain('went on');
    const s = new Session(new Monitor(machine), 'test');
    expect(await runHuman(s, 'info status')).toBe('VM status: paused (shutdown)');
    expect(await runHuman(s, 'info registers')).toMatch(/EIP=00007c1/);
    await expect(s.execute('cont')).rejects.toThrow(/cannot continue after triple fault; use system_reset/);
    await runHuman(s, 'system_reset');
    await machine.resume();
    const again = await nextStop(machine);
    expect(again.reason).toBe('triple-fault');
  });

  it('stops the VM with an error naming the device when a device model throws; the host stays up', async () => {
    machine = await startMachine({
      boot: { kind: 'bootsector', image: guest('test/guests/faulty.img') },
      devices: [{ kind: 'test-faulty', id: 'faulty0', props: {} }],
      plugins: [new URL('./fixtures/faultyDevice.ts', import.meta.url).href],
    });
    const out = collect(machine);
    const stop = await nextStop(machine);
    expect(stop.reason).toBe('device-error');
    expect(stop.text).toContain('device faulty0 failed: simulated fault in register 0');
    expect(machine.state).toBe('internal-error');
    // (Output comes from the device-model thread, the stop from the vCPU thread.)
    await until(() => out().includes('reading the faulty register'), 'the output before the fault');
    expect(out()).not.toContain('read returned');
    // Everything else still answers.
    expect((await machine.inspect('com1')).kind).toBe('uart16550');
    expect((await machine.getState()).state.cs.selector).toBe(0);
  });

  it('stops the VM when a device timer throws, naming the device', async () => {
    machine = await startMachine({
      boot: { kind: 'bootsector', image: guest('guests/hello.img') },
      devices: [{ kind: 'test-faulty', id: 'faulty1', props: {} }],
      plugins: [new URL('./fixtures/faultyDevice.ts', import.meta.url).href],
    });
    const out = collect(machine);
    await until(() => out().includes('Hello'), 'the greeting');
    const s = new Session(new Monitor(machine), 'test');
    const stopped = nextStop(machine);
    await runHuman(s, 'o /b 0x701 1');
    const stop = await stopped;
    expect(stop.reason).toBe('device-error');
    expect(stop.text).toContain('device faulty1 failed: timer: timer callback fell over');
  });

  it('keeps the device model running while every vCPU is paused: serial input, RTC time', async () => {
    machine = await startMachine({ boot: { kind: 'bootsector', image: guest('test/guests/montest.img') } });
    const out = collect(machine);
    await until(() => out().includes('tick 2'), 'the guest running');
    await machine.pause();
    const seconds = async (): Promise<number> => (await machine!.inspect('rtc')).registers.find((r) => r.name === 'Seconds')!.value;
    const s0 = await seconds();
    await machine.input('com1', new TextEncoder().encode('h'));
    await new Promise((r) => setTimeout(r, 1100));
    const uart = await machine.inspect('com1');
    expect(uart.registers.find((r) => r.name === 'LSR')!.value & 1).toBe(1);
    expect(await seconds()).not.toBe(s0);
    expect(machine.state).toBe('paused');
    const n = out().length;
    await machine.resume();
    await until(() => out().slice(n).includes('got h'), 'the guest reading the byte typed while it was paused');
  });

  it('boots a ROM with --bios semantics: reset vector through the 4 GiB alias, F0000 copy', async () => {
    machine = await startMachine({
      boot: { kind: 'bios', path: guest('test/guests/rom.bin') },
      pc: { ramSize: 32 << 20, serial: ['vc', 'null'], drives: [], netdevs: [], extra: [{ kind: 'isa-debug-exit', props: { iobase: 0xf4, iosize: 1 } }] },
    });
    const out = collect(machine);
    const status = await new Promise<number>((r) => machine!.once('exit', r));
    expect(status).toBe((0x11 << 1) | 1);
    expect(out()).toContain('rom: reset vector jump found in the F000 copy');
    const map = machine.mem.map();
    expect(map).toContainEqual({ base: 0xffff0000, end: 0xffffffff, kind: 'rom', name: 'bios', offset: 0 });
  });

  it('loads a Multiboot kernel with --kernel semantics: 32-bit entry, magic, memory sizes, command line', async () => {
    machine = await startMachine({
      boot: { kind: 'kernel', path: guest('test/guests/multiboot.elf'), cmdline: 'a=1 b' },
      pc: { ramSize: 32 << 20, serial: ['vc', 'null'], drives: [], netdevs: [], extra: [{ kind: 'isa-debug-exit', props: { iobase: 0xf4, iosize: 1 } }] },
    });
    const out = collect(machine);
    const status = await new Promise<number>((r) => machine!.once('exit', r));
    expect(out()).toContain('multiboot: magic ok');
    expect(out()).toContain('mem_lower=640 mem_upper=31744');
    expect(out()).toMatch(/cmdline=\S*multiboot\.elf a=1 b/);
    expect(status).toBe(99);
  });
});
