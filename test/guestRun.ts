// Running a demo guest the same way under hvmon and under qemu-system-i386, so a test can
// give both the same input and compare what they print on COM1 (and show on the VGA screen).
//
//  - hvmon: a real `hvmon run` process (test/helpers.ts); input through its QMP socket
//    (serial-write, keyboard-type), the screen through vga-screen.
//  - QEMU: `qemu-system-i386 -nodefaults` with COM1 on stdio, the guest's disk on IDE, a VGA
//    (so that B8000h and the CRTC ports exist) and isa-debug-exit at F4h; serial input is
//    written to its stdin, keys go through QMP send-key, the screen is read with pmemsave.
//
// Output is COM1 as the guest wrote it, with CR LF turned into LF.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QmpClient } from '../src/monitor/client.js';
import type { VgaScreenView } from '../src/monitor/protocol.js';
import { ROOT, connectMonitor, runHvmon, type HvmonProcess } from './helpers.js';

export const QEMU = 'qemu-system-i386';

export function haveQemu(): boolean {
  return spawnSync(QEMU, ['--version'], { stdio: 'ignore' }).status === 0;
}

export function haveNasm(): boolean {
  return spawnSync('nasm', ['-v'], { stdio: 'ignore' }).status === 0;
}

/** isa-debug-exit at F4h, as QEMU's tests and our guests use it. */
export const DEBUG_EXIT = 'isa-debug-exit,iobase=0xf4,iosize=1';

export interface GuestOptions {
  /** The disk image (primary IDE master, and the boot sector). */
  image: string;
  /** Open the image with snapshot=on (writes are discarded); otherwise writes land in it. */
  snapshot?: boolean;
  /** hvmon: --netdev udp,listen=PORT,peer=127.0.0.1:PEER[,mac=MAC]; QEMU: -netdev dgram + ne2k_isa. */
  net?: { listen: number; peer: number; mac?: string };
}

export interface GuestRun {
  readonly emulator: 'hvmon' | 'qemu';
  /** COM1 so far, CR LF as LF. */
  out(): string;
  /** Waits until out() matches; rejects after the timeout with what was printed. */
  waitFor(what: string | RegExp, timeoutMs?: number): Promise<void>;
  /** The process's exit status (hvmon and QEMU both give (code << 1) | 1 for isa-debug-exit). */
  readonly exited: Promise<number | null>;
  /** Bytes into COM1's receive side. */
  serial(text: string): Promise<void>;
  /**
   * Text typed on the PS/2 keyboard (US layout; \n is Enter, \x1b is Esc). A key that makes
   * the guest end may end the emulator before it answers: that is not an error.
   */
  keys(text: string): Promise<void>;
  /** The VGA text screen, one string per row, trailing blanks removed. */
  screen(): Promise<string[]>;
  /** What to show when the guest does not do what the test waits for: stderr, CPU state. */
  diagnose(): Promise<string>;
  stop(): Promise<void>;
}

const crlf = (s: string): string => s.replace(/\r\n/g, '\n');

function waiter(out: () => string, done: () => boolean, who: string) {
  // Generous: on a loaded two-CPU host a full test run starts dozens of VM hosts at once.
  return (what: string | RegExp, timeoutMs = 90_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const t0 = Date.now();
      const tick = (): void => {
        const o = out();
        if (typeof what === 'string' ? o.includes(what) : what.test(o)) return resolve();
        if (Date.now() - t0 > timeoutMs || done()) {
          return reject(new Error(`${who}: did not see ${String(what)}${done() ? ' (it has exited)' : ''}; COM1 so far:\n${o}`));
        }
        setTimeout(tick, 25);
      };
      tick();
    });
}

/** Runs f; if it fails because the emulator went away (within 5 s), that is fine. */
async function unlessEnded(exited: Promise<number | null>, f: () => Promise<void>): Promise<void> {
  try {
    await f();
  } catch (e) {
    const gone = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
    if (!gone) throw e;
  }
}

let names = 0;

export function startHvmon(o: GuestOptions): GuestRun {
  const name = `guest${process.pid}-${names++}`;
  const drive = o.snapshot ? ['--drive', `file=${o.image},snapshot=on`] : [o.image];
  const net = o.net ? ['--netdev', `udp,listen=${o.net.listen},peer=127.0.0.1:${o.net.peer}${o.net.mac ? `,mac=${o.net.mac}` : ''}`] : [];
  const host: HvmonProcess = runHvmon(['run', ...drive, '--display', 'none', '--name', name, '--device', DEBUG_EXIT, ...net]);
  let exited = false;
  void host.exited.then(() => (exited = true));
  let qmp: Promise<QmpClient> | null = null;
  const monitor = (): Promise<QmpClient> => (qmp ??= connectMonitor(host.socket(name)));
  const out = (): string => crlf(host.stdout());
  return {
    emulator: 'hvmon',
    out,
    waitFor: waiter(out, () => exited, 'hvmon'),
    exited: host.exited,
    serial: async (text) => void (await (await monitor()).execute('serial-write', { data: text })),
    keys: (text) => unlessEnded(host.exited, async () => void (await (await monitor()).execute('keyboard-type', { text }))),
    screen: async () => (await (await monitor()).execute<VgaScreenView>('vga-screen')).text.map((r) => r.trimEnd()),
    diagnose: async () => {
      let state = '';
      if (!exited) {
        try {
          const c = await monitor();
          for (const cmd of ['info status', 'info cpus', 'info ioreq']) state += `(hvmon) ${cmd}\n${await c.hmp(cmd)}\n`;
        } catch (e) {
          state = `(the monitor did not answer: ${(e as Error).message})\n`;
        }
      }
      return `--- hvmon stderr ---\n${host.stderr()}\n${state}`;
    },
    stop: async () => {
      if (qmp) (await qmp.catch(() => null))?.close();
      await host.kill();
    },
  };
}

/** QEMU's key names (qcodes) for the characters the tests type. */
function qcodes(ch: string): string[] {
  const shifted: Record<string, string> = { ':': 'semicolon', '!': '1', '?': 'slash', '"': 'apostrophe' };
  const plain: Record<string, string> = {
    ' ': 'spc', '\n': 'ret', '\x1b': 'esc', ';': 'semicolon', ',': 'comma', '.': 'dot', '-': 'minus', '/': 'slash', "'": 'apostrophe',
  };
  if (/^[a-z0-9]$/.test(ch)) return [ch];
  if (/^[A-Z]$/.test(ch)) return ['shift', ch.toLowerCase()];
  if (plain[ch]) return [plain[ch]];
  if (shifted[ch]) return ['shift', shifted[ch]];
  throw new Error(`the tests cannot type ${JSON.stringify(ch)} on QEMU`);
}

export function startQemu(o: GuestOptions): GuestRun {
  const dir = mkdtempSync(join(tmpdir(), 'hvmon-qemu-'));
  const sock = join(dir, 'qmp.sock');
  const net = o.net
    ? [
      '-netdev', `dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port=${o.net.listen},remote.type=inet,remote.host=127.0.0.1,remote.port=${o.net.peer}`,
      '-device', `ne2k_isa,netdev=n0${o.net.mac ? `,mac=${o.net.mac}` : ''}`,
    ]
    : [];
  const proc: ChildProcess = spawn(QEMU, [
    '-nodefaults', '-display', 'none', '-m', '32',
    '-drive', `file=${o.image},format=raw${o.snapshot ? ',snapshot=on' : ''}`,
    '-serial', 'stdio', '-device', 'VGA', '-device', DEBUG_EXIT,
    '-qmp', `unix:${sock},server=on,wait=off`, ...net,
  ], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let raw = '';
  let err = '';
  let exited = false;
  proc.stdout!.setEncoding('latin1').on('data', (d: string) => (raw += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exitedP = new Promise<number | null>((r) => proc.on('exit', (code) => {
    exited = true;
    r(code);
  }));
  let qmp: Promise<QmpClient> | null = null;
  const monitor = (): Promise<QmpClient> => (qmp ??= connectMonitor(sock));
  const out = (): string => crlf(raw);
  const wait = waiter(out, () => exited, 'qemu');
  return {
    emulator: 'qemu',
    out,
    waitFor: (what, timeoutMs) => wait(what, timeoutMs).catch((e: Error) => {
      throw new Error(`${e.message}\n--- qemu stderr ---\n${err}`);
    }),
    exited: exitedP,
    serial: async (text) => {
      proc.stdin!.write(Buffer.from(text, 'latin1'));
    },
    keys: (text) => unlessEnded(exitedP, async () => {
      const c = await monitor();
      for (const ch of text) {
        await c.execute('send-key', { keys: qcodes(ch).map((k) => ({ type: 'qcode', data: k })), 'hold-time': 20 });
      }
    }),
    diagnose: async () => `--- qemu stderr ---\n${err}`,
    screen: async () => {
      const file = join(dir, 'vram.bin');
      await (await monitor()).execute('pmemsave', { val: 0xb8000, size: 80 * 25 * 2, filename: file });
      const v = readFileSync(file);
      const rows: string[] = [];
      for (let r = 0; r < 25; r++) {
        let s = '';
        for (let c = 0; c < 80; c++) s += String.fromCharCode(v[(r * 80 + c) * 2]);
        rows.push(s.trimEnd());
      }
      return rows;
    },
    stop: async () => {
      if (qmp) (await qmp.catch(() => null))?.close();
      if (!exited) {
        proc.kill('SIGTERM');
        await exitedP;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function startGuest(emulator: 'hvmon' | 'qemu', o: GuestOptions): GuestRun {
  return emulator === 'hvmon' ? startHvmon(o) : startQemu(o);
}

/** UDP ports the OS says are free on loopback right now. */
export async function freeUdpPorts(n: number): Promise<number[]> {
  const socks = await Promise.all(Array.from({ length: n }, () => new Promise<ReturnType<typeof createSocket>>((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = socks.map((s) => s.address().port);
  await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}
