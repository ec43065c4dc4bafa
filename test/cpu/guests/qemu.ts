// Running a guest ROM under QEMU the way the differential tests compare it:
//   qemu-system-i386 -bios X.bin -display none -serial stdio \
//     -device isa-debug-exit,iobase=0xf4,iosize=1 -nodefaults
// The guest ends with `out 0xf4, al`, which QEMU turns into its own exit status.

import { execFileSync, spawnSync } from 'node:child_process';

export const QEMU = 'qemu-system-i386';

export function haveQemu(): boolean {
  try {
    execFileSync(QEMU, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function haveNasm(): boolean {
  try {
    execFileSync('nasm', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The guest's COM1 output under QEMU (stdout of -serial stdio). */
export function runQemu(bin: string, timeoutMs = 20_000): string {
  const r = spawnSync(QEMU, ['-bios', bin, '-display', 'none', '-serial', 'stdio',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=1', '-nodefaults'], { timeout: timeoutMs, encoding: 'latin1' });
  if (r.error) throw r.error;
  return r.stdout;
}
