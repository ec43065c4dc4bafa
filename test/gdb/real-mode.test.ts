// The real gdb against a real-mode guest (test/gdb/guests/real16.asm), judged by what gdb
// prints: attach, registers, a breakpoint, continue, stepi, x/8xb, a register write, a
// watchpoint, `monitor` commands including an I/O breakpoint that stops gdb with SIGTRAP,
// and detach, after which gdb's breakpoints are gone from the shared table and the VM runs.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { GUESTS, gdbScript, hasGdb, runGdb, section, startHost, type VmHost } from './harness.js';

describe.skipIf(!hasGdb())('gdb against a real-mode guest', () => {
  let host: VmHost;
  beforeAll(async () => {
    host = await startHost(join(GUESTS, 'real16.img'));
  });
  afterAll(async () => {
    await host?.stop();
  });

  it('runs a whole debugging session', async () => {
    const cmds = [
      'show architecture', // 0
      'info registers', // 1
      'x/2i $pc', // 2
      'break *0x7c20', // 3
      'continue', // 4
      'monitor info breakpoints', // 5
      'stepi', // 6
      'x/8xb 0x7c20', // 7
      'x/1xh 0x7d00', // 8
      'set $eax = 0x1234abcd', // 9
      'p/x $eax', // 10
      'monitor info registers', // 11
      'delete', // 12
      'watch *(short*)0x7d00', // 13
      'continue', // 14
      'delete', // 15
      'monitor break io 0x3f8 w', // 16
      'continue', // 17
      'info registers eip', // 18
      'info threads', // 19
      'monitor delete', // 20
      'monitor x /4xb 0x07c0:0x0000', // 21
      'detach', // 22
    ];
    const { out } = await runGdb(host.port, gdbScript(cmds));
    const s = (i: number): string => section(out, i);

    // Attach: the VM was started with -S; the description says i8086 while in real mode.
    expect(s(0)).toMatch(/currently "i8086"/);
    expect(s(1)).toMatch(/^eip\s+0x7c00\s/m);
    expect(s(1)).toMatch(/^edx\s+0x80\s/m);
    expect(s(1)).toMatch(/^cs\s+0x0\s/m);
    expect(s(1)).toMatch(/^cr0\s+0x60000010\s/m);
    // 16-bit disassembly: `xor ax, ax` is 31 C0 in 16-bit code.
    expect(s(2)).toMatch(/0x7c00:\s+cli/);
    expect(s(2)).toMatch(/0x7c01:\s+xor\s+%ax,%ax/);

    // A breakpoint, hit; it is a row of the shared table that another client sees.
    expect(s(3)).toContain('Breakpoint 1 at 0x7c20');
    expect(s(4)).toMatch(/Breakpoint 1, 0x00007c20 in \?\? \(\)/);
    expect(s(5)).toMatch(/breakpoint\s+keep y\s+0x00007c20/);
    expect(s(5)).toContain('breakpoint already hit 1 time');

    // stepi executes `inc word [0x7d00]` (4 bytes).
    expect(s(6)).toContain('0x00007c24 in ?? ()');
    expect(s(7)).toMatch(/0x7c20:\s+0xff\s+0x06\s+0x00\s+0x7d\s+0x75\s+0xfa\s+0xff\s+0x06/);
    expect(s(8)).toMatch(/0x7d00:\s+0x0001/);

    // Register write, seen by gdb and by the monitor.
    expect(s(10)).toContain('$1 = 0x1234abcd');
    expect(s(11)).toContain('EAX=1234abcd');
    expect(s(11)).toContain('EIP=00007c24');

    // A write watchpoint on the counter: gdb shows the old and the new value.
    expect(s(13)).toContain('Hardware watchpoint 2: *(short*)0x7d00');
    expect(s(14)).toMatch(/Old value = 1\s+New value = 2/);

    // An I/O breakpoint set through `monitor` stops gdb with SIGTRAP, and says why.
    expect(s(16)).toMatch(/I\/O breakpoint \d+: 0x03f8 w/);
    expect(s(17)).toMatch(/\[hvmon\] io-breakpoint \d+: outb 0x03f8 \(com1[^)]*\) <- 0x2e/);
    expect(s(17)).toContain('Program received signal SIGTRAP, Trace/breakpoint trap.');
    expect(s(18)).toMatch(/^eip\s+0x7c2e\s/m);
    expect(s(19)).toMatch(/\* 1\s+Thread 1 \(vCPU 0, real mode, io-breakpoint/);

    // Monitor commands take seg:off in real mode: 07C0:0000 is linear 7C00h.
    expect(s(21)).toMatch(/0x?0*7c00:\s+0xfa 0x31 0xc0 0x8e/);
    expect(s(22)).toContain('[Inferior 1 (Remote target) detached]');
    expect(out).not.toMatch(/Remote connection closed|Protocol error|<<gdb timed out>>/);

    // Detach removed gdb's breakpoints and resumed the VM.
    const after = host.repl('info breakpoints', 'info status');
    expect(after).toContain('No breakpoints or watchpoints.');
    expect(after).toContain('VM status: running');
  });

  it('stops a running VM when the user presses Ctrl-C in gdb', async () => {
    const cmds = ['continue', 'info registers eip', 'monitor info status', 'detach'];
    // Paused first, so that "running" below means gdb has let it run; then Ctrl-C.
    await host.hmp('stop');
    const running = async (): Promise<boolean> => (await host.hmp('info status')).includes('running');
    const { out } = await runGdb(host.port, gdbScript(cmds), { interruptWhen: running });
    const s = (i: number): string => section(out, i);
    expect(s(0)).toContain('Program received signal SIGINT, Interrupt.');
    expect(s(1)).toMatch(/^eip\s+0x7c2[0-9a-f]\s/m);
    expect(s(2)).toContain('VM status: paused');
    expect(s(3)).toContain('detached');
  });

  it('continues past a breakpoint another client set, and reports it as a plain SIGTRAP', async () => {
    await host.hmp('break 0x7c24');
    const cmds = [
      'continue', // 0
      'x/1xh 0x7d00', // 1
      'continue', // 2
      'x/1xh 0x7d00', // 3
      'monitor delete', // 4
      'detach', // 5
    ];
    const { out } = await runGdb(host.port, gdbScript(cmds));
    const s = (i: number): string => section(out, i);
    expect(s(0)).toMatch(/\[hvmon\] breakpoint \d+ at 0x00007c24/);
    expect(s(0)).toContain('Program received signal SIGTRAP');
    expect(s(0)).toContain('0x00007c24 in ?? ()');
    expect(s(2)).toContain('0x00007c24 in ?? ()');
    const a = parseInt(/0x7d00:\s+(0x[0-9a-f]+)/.exec(s(1))![1], 16);
    const b = parseInt(/0x7d00:\s+(0x[0-9a-f]+)/.exec(s(3))![1], 16);
    // One more round of the loop between the two stops.
    expect((b - a) & 0xffff).toBe(1);
    expect(s(5)).toContain('detached');
  });
});
