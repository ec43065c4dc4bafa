// Helpers for the firmware tests: which Debian packages are there, booting Debian's SeaBIOS
// through the real `hvmon run`, and building boot-loader disk images from Debian's SYSLINUX
// and GRUB packages into a temporary directory, without loop devices or root.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'vitest';
import { guest, runHvmon } from '../helpers.js';

export const SEABIOS = '/usr/share/seabios/bios.bin';

/**
 * A boot takes 5-15 s on an idle machine (SeaBIOS ~3 s of it); CI machines run test files in
 * parallel, so each test gets two minutes, and a boot that does not finish in 100 s fails with
 * what the guest printed.
 */
export const BOOT_TIMEOUT_MS = 120_000;
const BOOT_DEADLINE_MS = 100_000;
export const SEAVGABIOS = '/usr/share/seabios/vgabios-isavga.bin';

/** A file each package installs, to tell whether it is there (as .ci/run does). */
const PACKAGE_FILES: Record<string, string> = {
  seabios: SEABIOS,
  syslinux: '/usr/bin/syslinux',
  'syslinux-common': '/usr/lib/syslinux/modules/bios/mboot.c32',
  'grub-pc-bin': '/usr/lib/grub/i386-pc/boot.img',
  'grub-common': '/usr/bin/grub-mkimage',
  mtools: '/usr/bin/mcopy',
  dosfstools: '/usr/sbin/mkfs.fat',
};

export function missingPackages(packages: string[]): string[] {
  return packages.filter((p) => !PACKAGE_FILES[p] || !existsSync(PACKAGE_FILES[p]));
}

/**
 * A describe block that runs only when the Debian packages it needs are installed; otherwise
 * it is skipped with the reason in its name and on stderr, so a skip is never silent.
 */
export function firmwareSuite(title: string, packages: string[], body: () => void): void {
  const missing = missingPackages(packages);
  if (missing.length === 0) {
    describe(title, body);
    return;
  }
  const why = `missing Debian packages: ${missing.join(', ')} (.ci/run installs them)`;
  process.stderr.write(`[firmware tests] skipping "${title}": ${why}\n`);
  describe.skip(`${title} [skipped: ${why}]`, body);
}

export interface BootResult {
  /** The process's exit status (isa-debug-exit: (value << 1) | 1), null if it was killed. */
  status: number | null;
  /** COM1, in order. */
  com1: string;
  /** SeaBIOS's debug log (isa-debugcon at 0x402). */
  debugcon: string;
  /** Milliseconds from starting hvmon to SeaBIOS's first debug byte, to the guest's first COM1 byte, to exit. */
  ms: { bios: number | null; com1: number | null; exit: number };
}

/**
 * Boots `drive` with SeaBIOS through `hvmon run`, COM1 and debugcon to files and
 * isa-debug-exit at 0xf4, until the guest exits (or the timeout kills it).
 */
export async function bootSeaBIOS(drive: string, o: { name: string; timeoutMs?: number; args?: string[] }): Promise<BootResult> {
  const dir = mkdtempSync(join(tmpdir(), 'hvmon-fw-'));
  const debugcon = join(dir, 'debugcon.log');
  const com1 = join(dir, 'com1.log');
  const text = (f: string): string => (existsSync(f) ? readFileSync(f, 'latin1') : '');
  const t0 = performance.now();
  const host = runHvmon([
    'run', '--bios', SEABIOS, '--drive', `file=${drive},snapshot=on`,
    '--device', `isa-debugcon,iobase=0x402,chardev=file:${debugcon}`,
    '--device', 'isa-debug-exit,iobase=0xf4,iosize=1',
    // Files, written synchronously by the device model: nothing is lost when the guest exits.
    '--serial', `file:${com1}`, '--display', 'none', '--name', o.name, ...(o.args ?? []),
  ]);
  const ms: BootResult['ms'] = { bios: null, com1: null, exit: 0 };
  const deadline = t0 + (o.timeoutMs ?? BOOT_DEADLINE_MS);
  let done = false;
  void host.exited.then(() => (done = true));
  while (!done) {
    const now = performance.now();
    if (ms.bios === null && existsSync(debugcon) && statSync(debugcon).size > 0) ms.bios = Math.round(now - t0);
    if (ms.com1 === null && existsSync(com1) && statSync(com1).size > 0) ms.com1 = Math.round(now - t0);
    // The console notes every stop that is not a pause (triple fault, CPU or device error)
    // on stderr: the guest will not exit by itself after one.
    const stopped = /\r\n\[hvmon\] (.+)\r\n/.exec(host.stderr());
    if (stopped || now > deadline) {
      await host.kill();
      const why = stopped ? `the VM stopped: ${stopped[1]}` : `no exit within ${o.timeoutMs ?? BOOT_DEADLINE_MS} ms`;
      throw new Error(`${o.name}: ${why}\n--- COM1 ---\n${text(com1)}\n--- debugcon ---\n${text(debugcon)}\n--- stderr ---\n${host.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const status = await host.exited;
  ms.exit = Math.round(performance.now() - t0);
  ms.com1 ??= text(com1).length > 0 ? ms.exit : null;
  return { status, com1: text(com1), debugcon: text(debugcon), ms };
}

/** One line for the test log: how long the boot took. */
export function timing(what: string, r: BootResult): string {
  const f = (v: number | null) => (v === null ? '-' : `${(v / 1000).toFixed(1)} s`);
  return `[firmware] ${what}: SeaBIOS first output ${f(r.ms.bios)}, guest first COM1 output ${f(r.ms.com1)}, exit ${f(r.ms.exit)} after start`;
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): void {
  // mtools checks the geometry of images it did not format itself; these images are plain files.
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MTOOLS_SKIP_CHECK: '1', ...env } });
}

/** The BIOS memory map (INT 15h E820) SeaBIOS builds for 32 MiB from fw_cfg's etc/e820. */
export const E820_32M = [
  'mbkernel: mmap 00000000+0009fc00 type 1',
  'mbkernel: mmap 0009fc00+00000400 type 2',
  'mbkernel: mmap 000f0000+00010000 type 2',
  'mbkernel: mmap 00100000+01efe000 type 1',
  'mbkernel: mmap 01ffe000+00002000 type 2',
  'mbkernel: mmap fffc0000+00040000 type 2',
];

/** The Multiboot kernel in guests/firmware that both boot-loader chains load. */
export const MB_KERNEL = guest('guests/firmware/mbkernel.elf');

/**
 * A FAT disk (no partition table, as a "superfloppy") with SYSLINUX installed by its mtools
 * installer, a syslinux.cfg that turns on the serial console and boots MB_KERNEL through
 * mboot.c32.
 */
export function syslinuxImage(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hvmon-syslinux-'));
  const img = join(dir, 'syslinux.img');
  const cfg = join(dir, 'syslinux.cfg');
  run('mkfs.fat', ['-C', '-n', 'HVMON', img, '4096']);
  run('syslinux', ['--install', img]);
  writeFileSync(cfg, [
    'SERIAL 0 115200', 'PROMPT 0', 'TIMEOUT 1', 'DEFAULT mb',
    'LABEL mb', '  KERNEL mboot.c32', '  APPEND mbkernel.elf hvmon-syslinux-cmdline', '',
  ].join('\n'));
  const modules = '/usr/lib/syslinux/modules/bios';
  run('mcopy', ['-i', img, cfg, `${modules}/mboot.c32`, `${modules}/libcom32.c32`, MB_KERNEL, '::/']);
  return img;
}

/**
 * A partitioned disk as grub-install would leave it, built by hand: GRUB's boot.img in the
 * MBR (its partition table kept), core.img from grub-mkimage in the gap after it (sector 1
 * on, where boot.img and core.img's first-sector blocklist look by default), and a FAT
 * partition at 1 MiB with /boot/grub/grub.cfg and MB_KERNEL. The config turns on the serial
 * console and boots the kernel with no menu.
 */
export function grubImage(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hvmon-grub-'));
  const core = join(dir, 'core.img');
  const part = join(dir, 'part.img');
  const cfg = join(dir, 'grub.cfg');
  const img = join(dir, 'grub.img');
  run('grub-mkimage', [
    '-O', 'i386-pc', '-o', core, '-p', '(hd0,msdos1)/boot/grub',
    'biosdisk', 'part_msdos', 'fat', 'normal', 'multiboot', 'serial', 'terminal', 'echo', 'configfile',
  ]);
  run('mkfs.fat', ['-C', '-n', 'GRUB', part, '8192']);
  run('mmd', ['-i', part, '::/boot', '::/boot/grub']);
  writeFileSync(cfg, [
    'serial --unit=0 --speed=115200', 'terminal_input serial', 'terminal_output serial',
    'echo "hvmon: grub.cfg read"', 'multiboot /boot/mbkernel.elf hvmon-grub-cmdline', 'boot', '',
  ].join('\n'));
  run('mcopy', ['-i', part, cfg, '::/boot/grub/grub.cfg']);
  run('mcopy', ['-i', part, MB_KERNEL, '::/boot/mbkernel.elf']);

  const SECTOR = 512;
  const PART_START = 2048;
  const bootImg = readFileSync('/usr/lib/grub/i386-pc/boot.img');
  const coreImg = readFileSync(core);
  const partImg = readFileSync(part);
  if (coreImg.length > (PART_START - 1) * SECTOR) throw new Error(`core.img (${coreImg.length} bytes) does not fit before the partition`);
  const disk = Buffer.alloc(PART_START * SECTOR + partImg.length);
  // boot.img's code, up to the disk signature at 440 (the partition table is ours).
  bootImg.copy(disk, 0, 0, 440);
  // Partition 1: active, FAT16 (06h), LBA start and size; CHS fields "use LBA" (FEFFFF).
  disk.set([0x80, 0xfe, 0xff, 0xff, 0x06, 0xfe, 0xff, 0xff], 446);
  disk.writeUInt32LE(PART_START, 446 + 8);
  disk.writeUInt32LE(partImg.length / SECTOR, 446 + 12);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  coreImg.copy(disk, SECTOR);
  partImg.copy(disk, PART_START * SECTOR);
  writeFileSync(img, disk);
  return img;
}
