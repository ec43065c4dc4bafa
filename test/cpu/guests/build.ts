// Builds the CPU test guests: every guests/*.asm becomes a 64 KiB .bin beside it (commit
// both). With --expect, also records each guest's serial output under QEMU as the expected
// .txt (commit it too; the vitest file checks hvmon against it, and against QEMU when
// qemu-system-i386 is installed).
//   node --import tsx test/cpu/guests/build.ts [--expect]

import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runQemu } from './qemu.js';

const dir = dirname(fileURLToPath(import.meta.url));
const expect = process.argv.includes('--expect');
for (const f of readdirSync(dir).filter((x) => x.endsWith('.asm')).sort()) {
  const base = f.replace(/\.asm$/, '');
  execFileSync('nasm', ['-f', 'bin', '-o', join(dir, `${base}.bin`), f], { cwd: dir, stdio: 'inherit' });
  if (expect) {
    const out = runQemu(join(dir, `${base}.bin`));
    writeFileSync(join(dir, `${base}.txt`), out);
    console.log(`${base}: ${out.split('\n').length - 1} lines from QEMU`);
  } else console.log(`${base}.bin`);
}
