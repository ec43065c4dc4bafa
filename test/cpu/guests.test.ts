// The NASM guests under hvmon's interpreter, checked against their committed expected
// serial output (recorded from QEMU), and against QEMU itself when it is installed. Each runs
// three ways: as a VM runs (blocks compiled once hot), with every block compiled at its first
// execution (so nearly everything goes through the block compiler), and interpreter only.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runGuest } from './harness.js';
import { haveNasm, haveQemu, runQemu } from './guests/qemu.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'guests');
const guests = readdirSync(dir).filter((f) => f.endsWith('.asm')).map((f) => f.replace(/\.asm$/, '')).sort();
const qemu = haveQemu();
const nasm = haveNasm();
if (!qemu) console.warn('qemu-system-i386 not found: the QEMU half of the differential guest tests is skipped');
if (!nasm) console.warn('nasm not found: not checking that the committed guest images match their sources');

describe('CPU guests', () => {
  for (const g of guests) {
    const bin = join(dir, `${g}.bin`);
    const expected = readFileSync(join(dir, `${g}.txt`), 'latin1');

    it(`${g}: hvmon prints what QEMU printed`, () => {
      const r = runGuest(bin);
      expect(r.end).toBe('exit');
      expect(r.serial).toBe(expected);
    });

    it(`${g}: the same with every block compiled at once, and with the interpreter alone`, () => {
      const jit = runGuest(bin, undefined, { threshold: 1 });
      expect(jit.end).toBe('exit');
      expect(jit.serial).toBe(expected);
      const interp = runGuest(bin, undefined, false);
      expect(interp.end).toBe('exit');
      expect(interp.serial).toBe(expected);
      // Retired instructions are counted the same way on both paths.
      expect(jit.instructions).toBe(interp.instructions);
    });

    it.skipIf(!qemu)(`${g}: QEMU still prints the committed output`, () => {
      expect(runQemu(bin)).toBe(expected);
    });

    it.skipIf(!nasm)(`${g}: the committed image is built from the source`, () => {
      const out = join(mkdtempSync(join(tmpdir(), 'hvmon-guest-')), `${g}.bin`);
      execFileSync('nasm', ['-f', 'bin', '-o', out, `${g}.asm`], { cwd: dir });
      expect(Buffer.compare(readFileSync(out), readFileSync(bin))).toBe(0);
    });
  }
});
