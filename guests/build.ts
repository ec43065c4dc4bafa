// npm run guests: rebuild every NASM guest in guests/ and test/guests/ next to its source
// (.asm → .img, or the name its first line gives).
// A source's first line may say `; output: NAME.bin` to choose the image name; the default is
// NAME.img. Built images are committed so that running a guest never needs nasm.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const top = join(root, '..');
const only = process.argv.slice(2);

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) yield* sources(p);
    else if (e.endsWith('.asm')) yield p;
  }
}

let built = 0;
for (const d of [root, join(top, 'test', 'guests')]) {
  for (const src of sources(d)) {
    if (only.length && !only.some((o) => src.includes(o))) continue;
    const text = readFileSync(src, 'utf8');
    // Files that are only %include'd say so on their first line.
    if (/^;\s*include-only/.test(text.split('\n')[0] ?? '')) continue;
    const m = /^;\s*output:\s*(\S+)/m.exec(text.split('\n')[0] ?? '');
    const out = join(dirname(src), m ? m[1] : src.replace(/^.*\//, '').replace(/\.asm$/, '.img'));
    execFileSync('nasm', ['-f', 'bin', '-I', dirname(src) + '/', '-o', out, src], { stdio: 'inherit' });
    console.log(`${relative(top, src)} -> ${relative(top, out)}`);
    built++;
  }
}
console.log(`${built} guests built`);
