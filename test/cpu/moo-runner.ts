// `npm run cpu-tests -- [DIR] [--only XX] [--limit N] [--386] [--jit|--interp] [-v]`: runs the
// SingleStepTests 80286 real-mode suite (MOO files) against the interpreter, prints a per-opcode
// table, and ends with the line `N passed, M failed`. Exit status 1 when anything failed. --386
// turns off the interpreter's 286 profile (see MooRig) to show plain 386 behaviour on the same
// tests. --jit compiles every block at its first execution, so each test's instruction runs
// through the block compiler wherever it takes it; --interp turns the compiler off.

import { DEFAULT_MOO_DIR, MooRig, mooFiles, readRevocations, runMooFile, type FileSummary } from './moo.js';

function main(argv: string[]): number {
  let dir = DEFAULT_MOO_DIR;
  let only: string | null = null;
  let limit = Infinity;
  let verbose = false;
  let compat286 = true;
  let jit: { threshold: number } | false | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--only') only = argv[++i].toUpperCase();
    else if (a === '--limit') limit = Number(argv[++i]);
    else if (a === '-v' || a === '--verbose') verbose = true;
    else if (a === '--386') compat286 = false;
    else if (a === '--jit') jit = { threshold: 1 };
    else if (a === '--interp') jit = false;
    else if (a.startsWith('-')) {
      console.error(`unknown option ${a}`);
      return 2;
    } else dir = a;
  }
  const revoked = readRevocations(dir);
  const rig = new MooRig(compat286, jit ?? {});
  if (jit) console.log('block compiler: every block compiled at its first execution');
  if (jit === false) console.log('block compiler: off');
  console.log(compat286
    ? 'profile: compat286 (LOCK anywhere, no IOPL/NT in real mode, as on the 80286 that recorded the suite)'
    : 'profile: plain 386');
  const sums: FileSummary[] = [];
  const t0 = performance.now();
  for (const path of mooFiles(dir)) {
    const name = path.split('/').pop()!.replace(/\.MOO\.gz$/, '');
    if (only && name !== only && name.split('.')[0] !== only) continue;
    sums.push(runMooFile(rig, path, revoked, limit));
  }
  const secs = (performance.now() - t0) / 1000;
  console.log('opcode  mnemonic   passed  failed  skipped');
  for (const s of sums) {
    console.log(`${s.file.padEnd(7)} ${s.mnemonic.padEnd(9)} ${String(s.passed).padStart(7)} ${String(s.failed).padStart(7)} ${String(s.skipped).padStart(8)}`);
  }
  const failures = sums.flatMap((s) => s.failures.map((f) => ({ file: s.file, ...f })));
  if (failures.length) {
    console.log(`\nfailures${verbose ? '' : ' (first 3 per opcode; -v for all)'}:`);
    for (const s of sums) {
      for (const f of verbose ? s.failures : s.failures.slice(0, 3)) {
        console.log(`  ${s.file} #${f.index} ${f.name} [${f.bytes}]: ${f.why ?? 'UNEXPLAINED'}: ${f.diffs.join('; ')}`);
      }
    }
  }
  const why = new Map<string, number>();
  for (const f of failures) why.set(f.why ?? 'UNEXPLAINED', (why.get(f.why ?? 'UNEXPLAINED') ?? 0) + 1);
  if (why.size) {
    console.log('\nfailures by cause:');
    for (const [k, n] of [...why].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(5)}  ${k}`);
  }
  const passed = sums.reduce((n, s) => n + s.passed, 0);
  const failed = sums.reduce((n, s) => n + s.failed, 0);
  const skipped = sums.reduce((n, s) => n + s.skipped, 0);
  console.log(`\n${skipped} revoked tests skipped; ${(100 * passed / Math.max(1, passed + failed)).toFixed(3)} % pass; ${secs.toFixed(1)} s`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
