// A fast slice of the SingleStepTests 80286 suite (the first tests of every opcode file,
// committed in sst80286-slice): everything must pass except the known 286-vs-386 differences.
// The whole sample runs with `npm run cpu-tests`.

import { describe, expect, it } from 'vitest';
import { MooRig, mooFiles, readRevocations, runMooFile } from './moo.js';

const PER_FILE = 12;
const SLICE_DIR = new URL('./sst80286-slice', import.meta.url).pathname;

describe('SingleStepTests 80286 (slice)', () => {
  it.each([
    ['blocks compiled once hot', {}],
    ['every block compiled at its first execution', { threshold: 1 }],
  ] as const)(`the first ${PER_FILE} tests of every opcode pass, or fail only for a known 286-vs-386 reason (%s)`, (_name, jit) => {
    const rig = new MooRig(true, jit);
    const revoked = readRevocations(SLICE_DIR);
    let passed = 0;
    const unexplained: string[] = [];
    for (const path of mooFiles(SLICE_DIR)) {
      const s = runMooFile(rig, path, revoked, PER_FILE);
      passed += s.passed;
      for (const f of s.failures) if (!f.why) unexplained.push(`${s.file} #${f.index} ${f.name}: ${f.diffs.join('; ')}`);
    }
    expect(unexplained).toEqual([]);
    expect(passed).toBeGreaterThan(PER_FILE * 190);
  });
});
