// npm run bench [-- --json] [-- --compare] [-- --only KEY,KEY] [-- --quick]
//
// Figures from real guests (guests/bench/bench.img). Each rate comes from the difference
// between a run of N iterations and one of 2N, so start-up and the exit path cancel out; it is
// the median of 5 such pairs. With --compare, the same guest runs under qemu-system-i386 (TCG)
// and the ratios are printed beside ours. Each daemon round-trip figure is also given as a
// ratio to the bare ioreq channel timed right before each of its pairs (see Channel). The 64
// armed breakpoints' cost compares the fastest armed and unarmed runs, interleaved.
//
// One figure is a time, not a rate: Debian's SeaBIOS booting a boot sector that exits at once
// (test/guests/exitcode.img), from the start of the VM to its exit, as `hvmon run --bios`
// users wait for it (median of 3; skipped without the seabios package). Its ratio is QEMU's
// time over ours, so above 1x is faster than QEMU, as for the rates.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, openSync, closeSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Machine } from '../src/core/machine/Machine.js';
import { SEAVGABIOS_ISA } from '../src/core/machine/boards/pc.js';
import { createIoreqBuffer, IoreqType, IoreqViews } from '../src/core/ioreq/abi.js';
import { IoreqClient } from '../src/core/ioreq/channel.js';
import { spawnWorker } from '../src/core/machine/spawn.js';
import { IoDir } from '../src/core/vcpu/VcpuBackend.js';
import { DebugEngine } from '../src/core/debug/DebugEngine.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const IMAGE = join(ROOT, 'guests', 'bench', 'bench.img');
const MODE_ADDR = 0x7c03;
const COUNT_ADDR = 0x7c07;
const REPEATS = 5;
const SEABIOS = '/usr/share/seabios/bios.bin';
const BOOT_SECTOR = join(ROOT, 'test', 'guests', 'exitcode.img');
const BOOT_REPEATS = 3;
/** qemu-system-i386 as every comparison runs it: TCG, 32 MiB, no display, no default devices. */
const QEMU_ARGS = ['-accel', 'tcg', '-m', '32', '-display', 'none', '-nodefaults', '-serial', 'null', '-no-reboot'];

interface Workload {
  key: string;
  label: string;
  mode: number;
  /** Guest instructions per iteration (for instructions/s), or 1 for "operations". */
  perIter: number;
  unit: 'instr/s' | 'ops/s';
  /** 64 I/O breakpoints armed on ports nobody uses during the run. */
  armed?: boolean;
  /** VGA memory writes as round trips (--global vga.posted=off) rather than posted. */
  unposted?: boolean;
  /** Each access is a round trip to the device model: paired with the bare channel (see Channel). */
  roundTrip?: boolean;
}

const WORKLOADS: Workload[] = [
  { key: 'alu16', label: '16-bit ALU loop', mode: 0, perIter: 6, unit: 'instr/s' },
  { key: 'alu32', label: '32-bit ALU loop', mode: 1, perIter: 6, unit: 'instr/s' },
  { key: 'pio-core-out', label: 'port writes, in-core device (PIC IMR)', mode: 2, perIter: 1, unit: 'ops/s' },
  { key: 'pio-core-in', label: 'port reads, in-core device (PIC IMR)', mode: 3, perIter: 1, unit: 'ops/s' },
  { key: 'pio-daemon-out', label: 'port writes, daemon device (UART SCR)', mode: 4, perIter: 1, unit: 'ops/s', roundTrip: true },
  { key: 'pio-daemon-in', label: 'port reads, daemon device (UART SCR)', mode: 5, perIter: 1, unit: 'ops/s', roundTrip: true },
  { key: 'mmio-daemon-read', label: 'MMIO reads, daemon device (VGA memory)', mode: 6, perIter: 1, unit: 'ops/s', roundTrip: true },
  { key: 'mmio-daemon-write', label: 'MMIO writes, daemon device (VGA memory, vga.posted=off)', mode: 7, perIter: 1, unit: 'ops/s', unposted: true, roundTrip: true },
  { key: 'mmio-posted-write', label: 'MMIO writes, posted (VGA memory)', mode: 7, perIter: 1, unit: 'ops/s' },
  { key: 'rep-stosw-vga', label: 'REP STOSW to VGA memory, posted (a screen clear)', mode: 8, perIter: 2000, unit: 'ops/s' },
  { key: 'pio-daemon-out-64bp', label: 'port writes, daemon device, 64 I/O breakpoints armed elsewhere', mode: 4, perIter: 1, unit: 'ops/s', armed: true },
  { key: 'pio-core-out-64bp', label: 'port writes, in-core device, 64 I/O breakpoints armed elsewhere', mode: 2, perIter: 1, unit: 'ops/s', armed: true },
];


interface Figure {
  key: string;
  label: string;
  value: number;
  unit: string;
  qemu?: number;
  /** Armed workloads: how much slower than the same workload unarmed, in %. */
  overheadPct?: number;
  /** Round-trip workloads: the bare channel's rate measured alongside (ops/s). */
  channel?: number;
  /** Round-trip workloads: median of (workload / bare channel) over the paired runs. */
  channelRatio?: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

function u32(n: number): Uint8Array {
  return Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
}

async function timeRun(m: Machine, mode: number, count: number): Promise<number> {
  await m.reset();
  m.mem.write(MODE_ADDR, u32(mode));
  m.mem.write(COUNT_ADDR, u32(count));
  const exited = new Promise<void>((r) => m.once('exit', () => r()));
  const t0 = performance.now();
  await m.resume();
  await exited;
  const t = performance.now() - t0;
  await m.pause();
  return t;
}

/** N, grown from 2000 until a run of N takes at least `minMs`. */
async function sizeRun(run: (n: number) => Promise<number>, minMs: number): Promise<number> {
  let n = 2000;
  while ((await run(n)) < minMs) n *= 4;
  return n;
}

/** Iterations/s from one pair of runs, N and 2N (NaN if the 2N run was not the longer). */
async function pairRate(run: (n: number) => Promise<number>, n: number): Promise<number> {
  const t1 = await run(n);
  const t2 = await run(2 * n);
  return t2 > t1 ? n / ((t2 - t1) / 1000) : NaN;
}

/** Iterations/s from N vs 2N pairs, N grown until a run takes at least `minMs`. */
async function rate(run: (n: number) => Promise<number>, minMs: number): Promise<number> {
  const n = await sizeRun(run, minMs);
  const rates: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const r = await pairRate(run, n);
    if (!Number.isNaN(r)) rates.push(r);
  }
  return rates.length ? median(rates) : NaN;
}

/** The workloads in one VM; with `unposted`, VGA memory writes are round trips, and the heap and pause figures are left out. */
async function benchWorkloads(which: Workload[], minMs: number, channel: Channel | null, unposted = false): Promise<Figure[]> {
  const m = await Machine.start({
    ramSize: 32 << 20, vcpus: 1, startPaused: true, boot: { kind: 'bootsector', image: IMAGE },
    pc: {
      ramSize: 32 << 20, serial: ['null', 'null'], drives: [], netdevs: [], extra: [{ kind: 'isa-debug-exit', props: { iobase: 0xf4, iosize: 1 } }],
      ...(unposted ? { globals: { vga: { posted: false } } } : {}),
    },
  });
  const debug = new DebugEngine(m);
  const out: Figure[] = [];
  try {
    for (const w of which) {
      let r: number;
      let overhead: number | undefined;
      let paired: { channel: number; channelRatio: number } | undefined;
      const run = (n: number): Promise<number> => timeRun(m, w.mode, n);
      if (w.armed) {
        // 64 breakpoints on ports the workload never touches. The effect is smaller than the
        // host's swings, and a pair's rate (a difference of two times) doubles a hiccup in
        // either: pairs of unarmed and armed runs in a row, always unarmed first, once put the
        // breakpoints at 41 % dear, and unarmed-armed-armed-unarmed at -38 %. So the runs of N
        // and of 2N are repeated unarmed, armed, armed, unarmed, and each side's rate comes
        // from its fastest N and fastest 2N run: a preemption only ever adds time, and both
        // sides are sampled over the same stretch of the host's phases.
        const n = await sizeRun(run, minMs);
        const times = { plain: [[], []] as number[][], armed: [[], []] as number[][] };
        const sample = async (k: 'plain' | 'armed'): Promise<void> => {
          times[k][0].push(await run(n));
          times[k][1].push(await run(2 * n));
        };
        for (let i = 0; i < REPEATS; i++) {
          await sample('plain');
          const ids: number[] = [];
          for (let k = 0; k < 64; k++) ids.push((await debug.insert({ type: 'io', addr: 0x600 + k * 2, access: 'rw' })).id);
          await sample('armed');
          await sample('armed');
          await debug.delete(ids);
          await sample('plain');
        }
        const fastest = (k: 'plain' | 'armed'): number => n / ((Math.min(...times[k][1]) - Math.min(...times[k][0])) / 1000);
        r = fastest('armed');
        overhead = (1 - r / fastest('plain')) * 100;
      } else if (w.roundTrip && channel) {
        // Each N/2N pair of the guest right after one of the bare channel with the same N.
        const n = await sizeRun(run, minMs);
        const rates: number[] = [];
        const bare: number[] = [];
        const ratios: number[] = [];
        for (let i = 0; i < REPEATS; i++) {
          const c = await pairRate(channel.run, n);
          const a = await pairRate(run, n);
          if (Number.isNaN(a) || Number.isNaN(c)) continue;
          rates.push(a);
          bare.push(c);
          ratios.push(a / c);
        }
        r = rates.length ? median(rates) : NaN;
        if (rates.length) paired = { channel: median(bare), channelRatio: median(ratios) };
      } else r = await rate(run, minMs);
      out.push({ key: w.key, label: w.label, value: r * w.perIter, unit: w.unit, ...(overhead !== undefined ? { overheadPct: overhead } : {}), ...paired });
      const note = overhead !== undefined ? ` (${overhead.toFixed(1)} % slower than unarmed, interleaved)`
        : paired ? ` (${paired.channelRatio.toFixed(2)}x the bare channel, ${fmt(paired.channel)}/s alongside)` : '';
      process.stderr.write(`  ${w.label}: ${fmt(r * w.perIter)} ${w.unit}${note}\n`);
    }
    if (unposted) return out;
    // The vCPU thread's heap while a guest runs the ALU loop and in-core and daemon port
    // writes: sampled every 100 ms; what it grows by between samples is what was allocated
    // (less anything a GC freed meanwhile, which then shows as a drop).
    for (const mode of [0, 2, 4]) {
      await m.reset();
      m.mem.write(MODE_ADDR, u32(mode));
      m.mem.write(COUNT_ADDR, u32(0xffffffff));
      await m.resume();
      await new Promise((r) => setTimeout(r, 300));
      const first = await m.stats();
      let prev = first.heapUsed;
      let grown = 0;
      let drops = 0;
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const h = (await m.stats()).heapUsed;
        if (h >= prev) grown += h - prev;
        else drops++;
        prev = h;
      }
      const last = await m.stats();
      await m.pause();
      const ops = last.icount[0] - first.icount[0];
      const w = WORKLOADS.find((x) => x.mode === mode)!;
      const label = `vCPU heap growth, ${w.label}`;
      out.push({ key: `heap-${w.key}`, label, value: grown / Math.max(1, ops), unit: 'B/instr' });
      process.stderr.write(`  ${label}: ${(grown / 1024).toFixed(0)} KiB over ${fmt(ops)} instructions in 2 s, ${drops} drops (GCs)\n`);
    }
    // Pause latency: stop → the STOP reaching us, while the ALU loop runs.
    await m.reset();
    m.mem.write(MODE_ADDR, u32(0));
    m.mem.write(COUNT_ADDR, u32(0xffffffff));
    const lat: number[] = [];
    for (let i = 0; i < 21; i++) {
      await m.resume();
      await new Promise((r) => setTimeout(r, 20));
      const stopped = new Promise<void>((r) => m.once('stop', () => r()));
      const t0 = performance.now();
      void m.pause();
      await stopped;
      lat.push((performance.now() - t0) * 1000);
    }
    out.push({ key: 'pause-latency', label: 'pause latency (stop → STOP event)', value: median(lat), unit: 'µs' });
    process.stderr.write(`  pause latency: ${median(lat).toFixed(0)} µs\n`);
  } finally {
    await m.quit();
  }
  return out;
}

/** SeaBIOS to the boot sector's isa-debug-exit, VM start included (ms); null without SeaBIOS. */
async function benchFirmwareBoot(): Promise<Figure | null> {
  if (!existsSync(SEABIOS)) {
    process.stderr.write(`  SeaBIOS boot: skipped (${SEABIOS} is not installed)\n`);
    return null;
  }
  const times: number[] = [];
  for (let i = 0; i < BOOT_REPEATS; i++) {
    const t0 = performance.now();
    const m = await Machine.start({
      ramSize: 32 << 20, vcpus: 1, startPaused: true, boot: { kind: 'bios', path: SEABIOS },
      pc: {
        ramSize: 32 << 20, serial: ['null', 'null'], drives: [`file=${BOOT_SECTOR},snapshot=on`], netdevs: [],
        extra: [{ kind: 'isa-debug-exit', props: { iobase: 0x501, iosize: 2 } }],
      },
    });
    try {
      const exited = new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('SeaBIOS boot: no exit within 60 s')), 60_000);
        m.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
      });
      await m.resume();
      await exited;
      times.push(performance.now() - t0);
    } finally {
      await m.quit();
    }
  }
  const ms = median(times);
  process.stderr.write(`  SeaBIOS boot to the boot sector's exit: ${ms.toFixed(0)} ms\n`);
  return { key: 'boot-seabios', label: 'SeaBIOS to a boot sector that exits, VM start included', value: ms, unit: 'ms' };
}

/** The same boot under qemu-system-i386 (TCG, ISA VGA and the same SeaBIOS), process start included. */
function qemuFirmwareBoot(): number {
  const times: number[] = [];
  for (let i = 0; i < BOOT_REPEATS; i++) {
    const t0 = performance.now();
    spawnSync('qemu-system-i386', [
      ...QEMU_ARGS, '-bios', SEABIOS, ...(existsSync(SEAVGABIOS_ISA) ? ['-device', 'isa-vga'] : []),
      '-drive', `file=${BOOT_SECTOR},format=raw,if=ide,snapshot=on`, '-device', 'isa-debug-exit',
    ], { stdio: 'ignore', timeout: 120_000 });
    times.push(performance.now() - t0);
  }
  const ms = median(times);
  process.stderr.write(`  qemu SeaBIOS boot to the boot sector's exit: ${ms.toFixed(0)} ms\n`);
  return ms;
}

/**
 * The ioreq channel alone: synchronous round trips between this thread and an echo device
 * model (no device, no guest), i.e. what the two threads' caches allow at the moment. On the
 * 2-CPU VMs this was measured on it moves by 2x from one minute to the next as the host places
 * the VM's CPUs, and every daemon round trip moves with it, so those are also reported as a
 * ratio to the channel measured alongside.
 */
interface Channel {
  /** Time (ms) of n round trips. */
  run(n: number): Promise<number>;
  close(): Promise<void>;
}

async function openChannel(): Promise<Channel> {
  const buffer = createIoreqBuffer(1);
  const views = new IoreqViews(buffer, 1);
  const w = await spawnWorker(new URL('../test/fixtures/ioreqEchoDaemon.ts', import.meta.url), { workerData: { buffer, vcpus: 1 } });
  await new Promise((r) => w.once('message', r));
  const c = new IoreqClient(views, 0);
  c.timing = false;
  return {
    run: async (n) => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) c.submit(IoreqType.PIO, IoDir.READ, 0x100, 1, 1, 0);
      return performance.now() - t0;
    },
    close: async () => {
      c.submit(IoreqType.PIO, IoDir.WRITE, 0xffff, 1, 1, 0);
      await w.terminate();
    },
  };
}

async function benchChannel(channel: Channel): Promise<Figure> {
  const r = await rate(channel.run, 200);
  process.stderr.write(`  ioreq channel round trips: ${fmt(r)} /s\n`);
  return { key: 'ioreq-roundtrip', label: 'ioreq channel round trips (no device)', value: r, unit: 'ops/s' };
}

async function qemuRates(which: Workload[], minMs: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const dir = mkdtempSync(join(tmpdir(), 'hvmon-bench-'));
  const img = join(dir, 'bench.img');
  copyFileSync(IMAGE, img);
  for (const w of which) {
    if (w.armed) continue;
    const run = async (n: number): Promise<number> => {
      const fd = openSync(img, 'r+');
      writeSync(fd, u32(w.mode), 0, 4, MODE_ADDR - 0x7c00);
      writeSync(fd, u32(n), 0, 4, COUNT_ADDR - 0x7c00);
      closeSync(fd);
      const t0 = performance.now();
      spawnSync('qemu-system-i386', [
        ...QEMU_ARGS, '-vga', 'std', '-drive', `file=${img},format=raw,if=ide`, '-device', 'isa-debug-exit,iobase=0xf4,iosize=1',
      ], { stdio: 'ignore', timeout: 600_000 });
      return performance.now() - t0;
    };
    const r = await rate(run, Math.max(minMs, 1000));
    out.set(w.key, r * w.perIter);
    process.stderr.write(`  qemu ${w.label}: ${fmt(r * w.perIter)} ${w.unit}\n`);
  }
  return out;
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  if (n >= 1e9) return (n / 1e9).toFixed(2) + ' G';
  if (n >= 1e6) return (n / 1e6).toFixed(2) + ' M';
  if (n >= 1e3) return (n / 1e3).toFixed(1) + ' k';
  return n.toFixed(1);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const compare = args.includes('--compare');
  const quick = args.includes('--quick');
  const onlyIdx = args.indexOf('--only');
  const only = onlyIdx >= 0 ? (args[onlyIdx + 1] ?? '').split(',') : null;
  const which = WORKLOADS.filter((w) => !only || only.includes(w.key));
  const minMs = quick ? 100 : 300;
  process.stderr.write(`hvmon bench (${new Date().toISOString()}), median of ${REPEATS} N/2N pairs\n`);
  const figures: Figure[] = [];
  const channel = !only || only.includes('ioreq-roundtrip') || which.some((w) => w.roundTrip) ? await openChannel() : null;
  try {
    if (channel && (!only || only.includes('ioreq-roundtrip'))) figures.push(await benchChannel(channel));
    const unposted = which.filter((w) => w.unposted);
    if (unposted.length) figures.push(...(await benchWorkloads(unposted, minMs, channel, true)));
    figures.push(...(await benchWorkloads(which.filter((w) => !w.unposted), minMs, channel)));
  } finally {
    await channel?.close();
  }
  const boot = !only || only.includes('boot-seabios') ? await benchFirmwareBoot() : null;
  if (boot) figures.push(boot);
  // The table in WORKLOADS order, then the heap and pause figures.
  const rank = (f: Figure): number => (f.key === 'ioreq-roundtrip' ? -1 : WORKLOADS.findIndex((w) => w.key === f.key) >>> 0);
  figures.sort((a, b) => rank(a) - rank(b));
  if (compare) {
    const hasQemu = spawnSync('qemu-system-i386', ['--version'], { stdio: 'ignore' }).status === 0;
    if (!hasQemu) process.stderr.write('--compare: qemu-system-i386 is not installed; skipping\n');
    else {
      const q = await qemuRates(which, minMs);
      if (boot) q.set(boot.key, qemuFirmwareBoot());
      for (const f of figures) if (q.has(f.key)) f.qemu = q.get(f.key);
    }
  }
  if (json) {
    process.stdout.write(JSON.stringify({ date: new Date().toISOString(), node: process.version, figures }, null, 2) + '\n');
    return;
  }
  const lines = [`${'figure'.padEnd(66)} ${'hvmon'.padStart(14)}${compare ? `${'qemu-tcg'.padStart(14)}${'ratio'.padStart(8)}` : ''}`];
  for (const f of figures) {
    const show = (x: number): string => (f.unit === 'µs' || f.unit === 'ms' ? `${x.toFixed(0)} ${f.unit}` : f.unit === 'B/instr' ? `${x.toFixed(4)} B/instr`
      : `${fmt(x)}${f.unit === 'instr/s' ? 'ips' : 'op/s'}`);
    let row = `${f.label.padEnd(66)} ${show(f.value).padStart(14)}`;
    // A time's ratio is QEMU's over ours: above 1x is faster than QEMU, as for a rate.
    if (compare) row += f.qemu ? `${show(f.qemu).padStart(14)}${(f.unit === 'ms' ? f.qemu / f.value : f.value / f.qemu).toFixed(2).padStart(7)}x` : '';
    lines.push(row);
  }
  for (const f of figures) {
    if (f.channelRatio !== undefined) lines.push(`${f.label}: ${f.channelRatio.toFixed(2)}x the bare ioreq channel (${fmt(f.channel!)}op/s alongside; median of ${REPEATS} paired runs)`);
  }
  for (const f of figures) {
    if (f.overheadPct !== undefined) lines.push(`64 armed I/O breakpoints elsewhere: ${f.overheadPct.toFixed(1)} % slower, ${f.label.replace(/, 64 I\/O.*/, '')} (fastest of ${2 * REPEATS} interleaved N/2N runs each)`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

await main();
process.exit(0);
