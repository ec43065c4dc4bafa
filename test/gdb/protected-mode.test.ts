// The real gdb against a paged 32-bit protected-mode guest (test/gdb/guests/prot32.asm):
// gdb attaches in real mode at the boot sector, runs into the paged 32-bit loop on a hardware
// breakpoint, and then does the whole session there. Memory at linear 0x400000 lives at
// physical 0x20000, so what gdb reads and watches went through the guest's page tables.
// A second gdb attaching to the running VM is told i386 and pauses it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { GUESTS, gdbScript, hasGdb, runGdb, section, startHost, type VmHost } from './harness.js';

describe.skipIf(!hasGdb())('gdb against a paged protected-mode guest', () => {
  let host: VmHost;
  beforeAll(async () => {
    host = await startHost(join(GUESTS, 'prot32.img'));
  });
  afterAll(async () => {
    await host?.stop();
  });

  it('runs a whole debugging session', async () => {
    const cmds = [
      'show architecture', // 0
      'hbreak *0x7cc0', // 1
      'continue', // 2
      // The description was read in real mode; the CPU is in 32-bit code now.
      'set architecture i386', // 3
      'info registers', // 4
      'x/3i $pc', // 5
      'stepi', // 6
      'x/8xb 0x400000', // 7
      'monitor xp /4xb 0x20000', // 8
      'monitor info breakpoints', // 9
      'set $ebx = 0xcafe', // 10
      'info registers ebx', // 11
      'monitor info registers', // 12
      'delete', // 13
      'watch *(int*)0x400000', // 14
      'continue', // 15
      'delete', // 16
      'rwatch *(int*)0x400000', // 17
      'continue', // 18
      'delete', // 19
      'monitor break io 0x3f8 w', // 20
      'continue', // 21
      'info registers eip', // 22
      'monitor delete', // 23
      'detach', // 24
    ];
    const { out } = await runGdb(host.port, gdbScript(cmds));
    const s = (i: number): string => section(out, i);

    expect(s(0)).toMatch(/currently "i8086"/);
    expect(s(1)).toContain('Hardware assisted breakpoint 1 at 0x7cc0');
    expect(s(2)).toMatch(/Breakpoint 1, 0x00007cc0 in \?\? \(\)/);

    // Protected mode with paging: CR0.PE|PG, CR3 the page directory, flat selectors.
    expect(s(4)).toMatch(/^eip\s+0x7cc0\s/m);
    expect(s(4)).toMatch(/^cs\s+0x8\s/m);
    expect(s(4)).toMatch(/^ds\s+0x10\s/m);
    expect(s(4)).toMatch(/^cr0\s+0xe0000011\s/m);
    expect(s(4)).toMatch(/^cr3\s+0x10000\s/m);
    expect(s(5)).toMatch(/0x7cc0:\s+incl\s+0x400000/);
    expect(s(5)).toMatch(/0x7cc6:\s+testl\s+\$0xffff,0x400000/);

    // stepi increments the counter; gdb reads it at its linear address, the monitor at its
    // physical one.
    expect(s(6)).toContain('0x00007cc6 in ?? ()');
    expect(s(7)).toMatch(/0x400000:\s+0x01\s+0x00\s+0x00\s+0x00\s+0x00\s+0x00\s+0x00\s+0x00/);
    expect(s(8)).toMatch(/0x01 0x00 0x00 0x00/);
    expect(s(9)).toMatch(/breakpoint\s+keep \w\s+0x00007cc0/);

    expect(s(11)).toMatch(/^ebx\s+0xcafe\s/m);
    expect(s(12)).toContain('EBX=0000cafe');
    expect(s(12)).toContain('CR3=00010000');

    // Watchpoints, by linear address through the page tables.
    expect(s(14)).toContain('Hardware watchpoint 2: *(int*)0x400000');
    expect(s(15)).toMatch(/Old value = 1\s+New value = 2/);
    expect(s(17)).toContain('Hardware read watchpoint 3: *(int*)0x400000');
    expect(s(18)).toMatch(/Hardware read watchpoint 3: \*\(int\*\)0x400000\s+Value = \d+/);

    // The I/O breakpoint from `monitor` stops gdb with SIGTRAP in front of the OUT's delivery.
    expect(s(21)).toMatch(/\[hvmon\] io-breakpoint \d+: outb 0x03f8 \(com1[^)]*\) <- 0x2a/);
    expect(s(21)).toContain('Program received signal SIGTRAP, Trace/breakpoint trap.');
    expect(s(22)).toMatch(/^eip\s+0x7cd6\s/m);
    expect(s(24)).toContain('[Inferior 1 (Remote target) detached]');
    expect(out).not.toMatch(/Remote connection closed|Protocol error|<<gdb timed out>>/);

    const after = await host.hmp('info breakpoints', 'info status');
    expect(after).toContain('No breakpoints or watchpoints.');
    expect(after).toContain('VM status: running');
  });

  it('attaches to the running VM in protected mode: i386, paused, and detaches again', async () => {
    const cmds = [
      'show architecture', // 0
      'monitor info status', // 1
      'x/1i $pc', // 2
      'info registers cr0', // 3
      'detach', // 4
    ];
    const { out } = await runGdb(host.port, gdbScript(cmds));
    const s = (i: number): string => section(out, i);
    expect(s(0)).toMatch(/currently "i386"/);
    expect(s(1)).toContain('VM status: paused');
    expect(s(2)).toMatch(/0x7c[cd][0-9a-f]:\s+(incl|testl|jne|mov|nop|out|jmp)/);
    expect(s(3)).toMatch(/cr0\s+0xe0000011/);
    expect(s(4)).toContain('detached');
    expect(await host.hmp('info status')).toContain('VM status: running');
  });
});
