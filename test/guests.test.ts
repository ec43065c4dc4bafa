// The demo guests in guests/, end to end. Each runs under hvmon (a real `hvmon run` process)
// and under qemu-system-i386 with the same disk, the same input and isa-debug-exit, and both
// must print the expected text on COM1 (so they print the same). Where the two emulators
// legitimately differ, the test checks each one's exact value and then normalizes it:
//  - clock: the RTC time is the host's UTC time, so it is checked against the host clock
//    (within the run, give or take 2 s) and replaced by YYYY-MM-DD hh:mm:ss;
//  - disk: IDENTIFY's model string is the emulator's own ("HVMON HARDDISK", "QEMU HARDDISK"),
//    and a read past the end of the disk is refused with IDNF by hvmon and with ABRT by QEMU
//    (ATA-6 allows either; the status byte differs in DSC accordingly).
// Without QEMU the QEMU half is skipped with a message; hvmon is still checked.

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';
import { freeUdpPorts, haveNasm, haveQemu, startGuest, type GuestRun } from './guestRun.js';

const qemu = haveQemu();
if (!qemu) console.warn('qemu-system-i386 not found: the QEMU half of the demo guest tests is skipped (hvmon is still checked)');
const emulators = (qemu ? ['hvmon', 'qemu'] : ['hvmon']) as ('hvmon' | 'qemu')[];

const img = (name: string): string => join(ROOT, 'guests', `${name}.img`);

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'hvmon-guests-'));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

const running: GuestRun[] = [];
afterAll(async () => {
  await Promise.all(running.map((g) => g.stop()));
});

/** Starts a guest under each emulator (in parallel) and stops them when the test is over. */
function both(o: Parameters<typeof startGuest>[1] | ((e: 'hvmon' | 'qemu') => Parameters<typeof startGuest>[1])): GuestRun[] {
  return emulators.map((e) => {
    const g = startGuest(e, typeof o === 'function' ? o(e) : o);
    running.push(g);
    return g;
  });
}

// Timeouts are generous: a full `npm test` on a two-CPU machine starts dozens of VM hosts at
// once, and a host can take tens of seconds to come up. They only cost time when a test fails.
async function finish(g: GuestRun, timeoutMs = 120_000): Promise<number | null> {
  const t = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs));
  const status = await Promise.race([g.exited, t]);
  if (status === 'timeout') throw new Error(`${g.emulator}: the guest did not end within ${timeoutMs} ms; COM1:\n${g.out()}\n${await g.diagnose()}`);
  return status;
}

describe('demo guests, under hvmon and QEMU', { timeout: 300_000 }, () => {
  it('hello: greets on COM1 and ends through isa-debug-exit', async () => {
    for (const g of both({ image: img('hello'), snapshot: true })) {
      expect(await finish(g), g.emulator).toBe(1);
      expect(g.out(), g.emulator).toBe('Hello from hvmon! This guest talks to COM1 and VGA with no BIOS.\n');
    }
  });

  it('clock: PIT ticks on IRQ 0 and the RTC, once a second for three seconds', async () => {
    const t0 = Date.now();
    const runs = both({ image: img('clock'), snapshot: true });
    const status = await Promise.all(runs.map((g) => finish(g)));
    const t1 = Date.now();
    for (const [i, g] of runs.entries()) {
      expect(status[i], g.emulator).toBe(1);
      const times = [...g.out().matchAll(/RTC (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/g)].map((m) => Date.parse(`${m[1].replace(' ', 'T')}Z`));
      expect(times, g.emulator).toHaveLength(3);
      for (const t of times) {
        expect(t, `${g.emulator}: the RTC follows the host's clock`).toBeGreaterThanOrEqual(Math.floor(t0 / 1000) * 1000 - 2000);
        expect(t, `${g.emulator}: the RTC follows the host's clock`).toBeLessThanOrEqual(t1 + 2000);
      }
      expect(times[1], g.emulator).toBeGreaterThanOrEqual(times[0]);
      expect(times[2], g.emulator).toBeGreaterThan(times[0]);
      expect(g.out().replace(/RTC \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/g, 'RTC YYYY-MM-DD hh:mm:ss UTC'), g.emulator).toBe([
        'clock: PIT channel 0 at 100 Hz on IRQ 0, RTC on CMOS ports 70h/71h',
        'clock: 1 s (100 ticks of IRQ 0), RTC YYYY-MM-DD hh:mm:ss UTC',
        'clock: 2 s (200 ticks of IRQ 0), RTC YYYY-MM-DD hh:mm:ss UTC',
        'clock: 3 s (300 ticks of IRQ 0), RTC YYYY-MM-DD hh:mm:ss UTC',
        'clock: done',
        '',
      ].join('\n'));
    }
  });

  it('echo: COM1 receive interrupts and keyboard interrupts, echoed to COM1 and the screen', async () => {
    const runs = both({ image: img('echo'), snapshot: true });
    await Promise.all(runs.map(async (g) => {
      await g.waitFor('echo: ready\n');
      // At most 8 bytes at a time, each chunk echoed before the next: a vCPU thread starved by a
      // loaded host must not lose bytes to FIFO overruns (hvmon's wire runs on host time).
      const line = 'hello from the serial line';
      for (let i = 0; i < line.length; i += 8) {
        await g.serial(line.slice(i, i + 8));
        await g.waitFor(`[com1] ${line.slice(0, i + 8)}`);
      }
      await g.serial('\r');
      await g.waitFor(`[com1] ${line}\n`);
      await g.keys('Typed on the keyboard: 42!\n');
      await g.waitFor('[kbd] Typed on the keyboard: 42!\n');
    }));
    const screens = await Promise.all(runs.map((g) => g.screen()));
    for (const [i, g] of runs.entries()) {
      expect(screens[i].slice(0, 5), g.emulator).toEqual([
        'echo: COM1 receive interrupts (IRQ 4) and keyboard (IRQ 1); Esc ends',
        'echo: ready',
        '[com1] hello from the serial line',
        '[kbd] Typed on the keyboard: 42!',
        '',
      ]);
      await g.keys('\x1b');
    }
    for (const g of runs) {
      expect(await finish(g), g.emulator).toBe(1);
      expect(g.out(), g.emulator).toBe([
        'echo: COM1 receive interrupts (IRQ 4) and keyboard (IRQ 1); Esc ends',
        'echo: ready',
        '[com1] hello from the serial line',
        '[kbd] Typed on the keyboard: 42!',
        'echo: 27 bytes from COM1, 28 keys, 0 line errors; bye',
        '',
      ].join('\n'));
    }
  });

  it('disk: ATA PIO IDENTIFY, reads with a checksum, writes read back, an error on purpose', async () => {
    const original = readFileSync(img('disk'));
    const copies = new Map<string, string>();
    const runs = both((e) => {
      const copy = join(scratch, `disk-${e}.img`);
      copyFileSync(img('disk'), copy);
      copies.set(e, copy);
      return { image: copy };
    });
    const differs = {
      hvmon: { model: 'HVMON HARDDISK', refused: 'status 51h, error 10h (IDNF)' },
      qemu: { model: 'QEMU HARDDISK', refused: 'status 41h, error 04h (ABRT)' },
    };
    for (const g of runs) {
      expect(await finish(g), g.emulator).toBe(1);
      const d = differs[g.emulator];
      const out = g.out();
      expect(out, g.emulator).toContain(`model "${d.model}"`);
      expect(out, g.emulator).toContain(`(past the end): error: ${d.refused}\n`);
      expect(out.replace(d.model, '<model>').replace(d.refused, '<status and error>'), g.emulator).toBe([
        'disk: ATA PIO driver on the primary channel (1F0h-1F7h, 3F6h), IRQ 14',
        'disk: reset: ATA signature in the task file (count 01, LBA 01 00 00)',
        'disk: IDENTIFY: model "<model>", 64 sectors (LBA28)',
        'disk: read 1 sector at LBA 32: header "hvmon disk demo", 8 data sectors at LBA 33, checksum 776afe00',
        'disk: read 8 sectors at LBA 33 in one command: checksum 776afe00, as the header says',
        'disk: wrote 2 sectors at LBA 48, flushed the cache, read them back: identical',
        'disk: read 1 sector at LBA 64 (past the end): error: <status and error>',
        'disk: refused, as it should be',
        'disk: all checks passed',
        '',
      ].join('\n'));
      // The write reached the image file, and nothing else changed.
      const after = readFileSync(copies.get(g.emulator)!);
      expect(after.length).toBe(original.length);
      expect(Buffer.compare(after.subarray(0, 48 * 512), original.subarray(0, 48 * 512)), g.emulator).toBe(0);
      expect(Buffer.compare(after.subarray(50 * 512), original.subarray(50 * 512)), g.emulator).toBe(0);
      for (const s of [0, 1]) {
        const sector = after.subarray((48 + s) * 512, (49 + s) * 512);
        const text = `written by the disk guest, sector ${s}\0`;
        expect(sector.subarray(0, text.length).toString('latin1'), g.emulator).toBe(text);
        for (let i = text.length; i < 512; i++) if (sector[i] !== ((s * 512 + i) & 0xff)) throw new Error(`${g.emulator}: byte ${i} of LBA ${48 + s} is ${sector[i]}`);
      }
    }
  });

  it('pm32: paging, a ring-3 task, system calls and a page fault', async () => {
    for (const g of both({ image: img('pm32'), snapshot: true })) {
      expect(await finish(g), g.emulator).toBe(1);
      expect(g.out(), g.emulator).toBe([
        'pm32: protected mode, paging on (CR3 = 00010000), kernel in ring 0',
        'pm32: ring-3 task: code at linear 08048000 (physical 00105000), data at 08049000 (00106000), stack at bffff000 (00107000)',
        '[task] hello from ring 3, running at linear 08048000',
        '[task] my segments: cs=001b ss=0023',
        "[task] stored 600df00d at 08049000; now reading the kernel's memory at 00007c00",
        'pm32: page fault in the ring-3 task at eip 08048068: cr2 = 00007c00, error 5 (user-mode read, protection violation)',
        'pm32: the task is ended',
        'pm32: done',
        '',
      ].join('\n'));
    }
  });

  it('buggy-uart: hangs before its first byte (on QEMU too), with its banner on the screen', async () => {
    const runs = both({ image: img('buggy-uart'), snapshot: true });
    await Promise.all(runs.map(async (g) => {
      // The banner says the guest is running; two seconds later COM1 has still said nothing.
      const t0 = Date.now();
      while ((await g.screen())[0] !== 'buggy-uart: sending a greeting on COM1...') {
        if (Date.now() - t0 > 120_000) throw new Error(`${g.emulator}: no banner on the screen\n${await g.diagnose()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 2000));
      expect(g.out(), g.emulator).toBe('');
    }));
  });
});

describe('the net guest: two VMs on a wire ping each other', { timeout: 300_000 }, () => {
  const expected = (me: string, peer: string): string => {
    const ip = (mac: string): string => `10.0.2.${parseInt(mac.slice(-2), 16)}`;
    return [
      `net: NE2000 at 300h, IRQ 9, MAC ${me} (from its PROM), IP ${ip(me)}`,
      `net: peer ${ip(peer)} is at ${peer}`,
      ...[1, 2, 3, 4].map((n) => `net: reply from ${ip(peer)}: icmp_seq=${n} ttl=64`),
      "net: 4 echo requests sent, 4 replies; answered the peer's 4 echo requests",
      'net: done',
      '',
    ].join('\n');
  };
  const A = '52:54:00:12:34:56';
  const B = '52:54:00:12:34:57';

  async function pair(ea: 'hvmon' | 'qemu', eb: 'hvmon' | 'qemu'): Promise<void> {
    const [pa, pb] = await freeUdpPorts(2);
    const a = startGuest(ea, { image: img('net'), snapshot: true, net: { listen: pa, peer: pb, mac: A } });
    const b = startGuest(eb, { image: img('net'), snapshot: true, net: { listen: pb, peer: pa, mac: B } });
    running.push(a, b);
    const [sa, sb] = await Promise.all([finish(a), finish(b)]);
    expect([sa, sb], `${ea} and ${eb}:\n${a.out()}\n${b.out()}`).toEqual([1, 1]);
    expect(a.out(), `${ea} (A)`).toBe(expected(A, B));
    expect(b.out(), `${eb} (B)`).toBe(expected(B, A));
  }

  // One pair at a time: on a loaded host, six emulators at once starve each other.
  it('two hvmon VMs on the UDP hub', () => pair('hvmon', 'hvmon'));
  it.skipIf(!qemu)('two QEMU VMs on -netdev dgram print the same', () => pair('qemu', 'qemu'));
  it.skipIf(!qemu)('hvmon and QEMU on one wire: the hub speaks -netdev dgram', () => pair('hvmon', 'qemu'));
});

describe.skipIf(!haveNasm())('the committed guest images', () => {
  const sources = readdirSync(join(ROOT, 'guests')).filter((f) => f.endsWith('.asm'));
  it.each(sources)('%s is what nasm builds from it', (src) => {
    const out = join(scratch, src.replace(/\.asm$/, '.img'));
    execFileSync('nasm', ['-f', 'bin', '-I', join(ROOT, 'guests') + '/', '-o', out, join(ROOT, 'guests', src)]);
    expect(Buffer.compare(readFileSync(out), readFileSync(join(ROOT, 'guests', src.replace(/\.asm$/, '.img')))), src).toBe(0);
  });
});
