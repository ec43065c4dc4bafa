// The CLI as a user meets it: the README's run command, exit statuses, and bad input.
import { describe, expect, it } from 'vitest';
import { connectMonitor, runHvmon } from './helpers.js';

describe('hvmon run', () => {
  it('prints the hello guest\'s greeting with the monitor attached, and quits over the socket', async () => {
    const h = runHvmon(['run', 'guests/hello.img', '--display', 'none', '--name', 'hello']);
    try {
      await h.waitFor(/Hello from hvmon! This guest talks to COM1 and VGA with no BIOS\./);
      expect(h.stderr()).toContain('monitor on');
      const c = await connectMonitor(h.socket('hello'));
      expect(await c.execute('query-status')).toEqual({ running: true, singlestep: false, status: 'running' });
      await c.execute('quit');
      expect(await h.exited).toBe(0);
    } finally {
      await h.kill();
    }
  });

  it('sets a board device property with --global: VGA memory writes as round trips', async () => {
    const h = runHvmon(['run', 'guests/hello.img', '--display', 'none', '--name', 'unposted', '--global', 'vga.posted=off']);
    try {
      await h.waitFor(/Hello from hvmon!/);
      const c = await connectMonitor(h.socket('unposted'));
      const mtree = await c.hmp('info mtree');
      expect(mtree).toMatch(/vga\.vram \[device model\]\n/);
      expect(mtree).not.toMatch(/vga\.vram.*\[posted\]/);
      const screen = await c.execute<{ text: string[] }>('vga-screen');
      expect(screen.text[0]).toContain('Hello from hvmon!');
      const q = await c.execute<{ drained: number }>('query-ioreq');
      expect(q.drained).toBe(0);
      await c.execute('quit');
    } finally {
      await h.kill();
    }
  });

  it.each([
    [['test/guests/exitcode.img', '--device', 'isa-debug-exit'], 85, /exiting with 0x2a/],
    [['--bios', 'test/guests/rom.bin', '--device', 'isa-debug-exit,iobase=0xf4,iosize=1'], 35, /reset vector jump found/],
    [['--kernel', 'test/guests/multiboot.elf', '--device', 'isa-debug-exit,iobase=0xf4,iosize=1'], 99, /magic ok/],
  ])('exits with isa-debug-exit\'s (value << 1) | 1: %s', async (args, status, text) => {
    const h = runHvmon(['run', ...args, '--display', 'none']);
    try {
      expect(await h.exited).toBe(status);
      expect(h.stdout()).toMatch(text);
    } finally {
      await h.kill();
    }
  });

  it.each([
    [['run', 'guests/hello.img', '--frobnicate'], /unknown option '--frobnicate'/],
    [['run', 'guests/hello.img', '-m', 'lots'], /-m lots: expected a size/],
    [['run', 'guests/hello.img', '-m', '512K'], /at least 1 MiB/],
    [['run', 'does-not-exist.img', '--display', 'none'], /disk image does-not-exist.img does not exist/],
    [['run', 'guests/hello.asm', '--display', 'none'], /not bootable: no 55 AA signature/],
    [['run', 'guests/hello.img', '--serial', 'carrier-pigeon'], /--serial carrier-pigeon: expected stdio/],
    [['run', 'guests/hello.img', '--device', 'sb16'], /--device sb16: unknown device/],
    [['run', 'guests/hello.img', '--device', 'isa-debugcon,iobase=zz'], /iobase=zz: expected a number/],
    [['run', 'guests/hello.img', '--global', 'vga'], /--global vga: expected DEVICE.PROPERTY=VALUE/],
    [['run', 'guests/hello.img', '--global', 'com1.iobase=0x2f8'], /--global com1.iobase: not a property --global sets \(known: vga.posted, vga.textmode\)/],
    [['run', 'guests/hello.img', '--global', 'vga.posted=maybe'], /--global vga.posted=maybe: expected on or off/],
    [['run', 'guests/hello.img', '--drive', 'file=missing.img'], /missing\.img/],
    [['run', 'guests/hello.img', '--qmp', 'carrier:1'], /--qmp carrier:1: expected unix:PATH or tcp/],
    [['run', '--bios', 'test/guests/rom.bin', '--kernel', 'x'], /--bios and --kernel cannot be used together/],
    [['run'], /nothing to run/],
    [['frob'], /unknown command 'frob'/],
  ])('rejects bad input with one clear line and status 2: %s', async (args, message) => {
    const h = runHvmon(args as string[]);
    try {
      expect(await h.exited).toBe(2);
      const lines = h.stderr().trim().split('\n');
      expect(lines.length).toBe(1);
      expect(lines[0]).toMatch(/^hvmon: /);
      expect(lines[0]).toMatch(message as RegExp);
    } finally {
      await h.kill();
    }
  });

  it('runs a host in the background with --daemonize; a late client gets the serial history', async () => {
    const d = runHvmon(['run', 'guests/hello.img', '--daemonize', '--name', 'bg']);
    let pid = 0;
    try {
      expect(await d.exited).toBe(0);
      const m = /^bg: running in the background \(pid (\d+)\); monitor on (\S+); output in (\S+)$/m.exec(d.stdout());
      expect(m).not.toBeNull();
      pid = Number(m![1]);
      const c = await connectMonitor(m![2]);
      let h = { data: '' };
      for (let i = 0; i < 200 && !h.data.includes('Hello from hvmon!'); i++) {
        h = await c.execute<{ data: string }>('serial-history', { device: 'com1' });
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(h.data).toContain('Hello from hvmon!');
      const ls = runHvmon(['ls'], { runtime: d.runtime });
      expect(await ls.exited).toBe(0);
      expect(ls.stdout()).toMatch(/^bg\s+pid \d+/m);
      await c.execute('quit');
      c.close();
    } finally {
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone after quit.
        }
      }
      await d.kill();
    }
  });

  it('lists running hosts with hvmon ls', async () => {
    const h = runHvmon(['run', 'guests/hello.img', '--display', 'none', '--name', 'listed']);
    try {
      await h.waitFor(/Hello/);
      const ls = runHvmon(['ls'], { runtime: h.runtime });
      expect(await ls.exited).toBe(0);
      expect(ls.stdout()).toMatch(/^listed\s+pid \d+\s+\S+listed\.qmp\s+guests\/hello\.img/m);
    } finally {
      await h.kill();
    }
  });
});
