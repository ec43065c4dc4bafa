// Writes test/cpu/sst80286-slice: the first SLICE tests of every file of the SingleStepTests
// 80286 sample (../shared/testdata/sst80286, or DIR), so that `npm test` runs the CPU
// conformance slice from a clone that has no ../shared. Each file keeps its header (with the
// new test count), its META chunk and its first TEST chunks byte for byte; LICENSE and the
// revocation list are copied beside them. Run: node --import tsx test/cpu/make-slice.ts [DIR]
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DEFAULT_MOO_DIR, mooFiles } from './moo.js';

const SLICE = 12;
const src = process.argv[2] ?? DEFAULT_MOO_DIR;
const out = new URL('./sst80286-slice', import.meta.url).pathname;
mkdirSync(out, { recursive: true });
for (const path of mooFiles(src)) {
  const buf = gunzipSync(readFileSync(path));
  const parts: Buffer[] = [];
  let tests = 0;
  for (let at = 0; at < buf.length;) {
    const tag = buf.toString('latin1', at, at + 4);
    const end = at + 8 + buf.readUInt32LE(at + 4);
    if (tag !== 'TEST' || tests++ < SLICE) parts.push(buf.subarray(at, end));
    at = end;
  }
  const file = Buffer.concat(parts);
  file.writeUInt32LE(Math.min(tests, SLICE), 12);
  writeFileSync(join(out, path.split('/').pop()!), gzipSync(file, { level: 9 }));
}
for (const f of ['LICENSE', 'revocation_list.txt']) copyFileSync(join(src, f), join(out, f));
