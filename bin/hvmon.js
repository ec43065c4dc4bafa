#!/usr/bin/env node
// The hvmon command. hvmon is written in TypeScript and runs from its sources: a fresh clone
// needs nothing but `npm ci`. It starts from a bundle of the sources that bin/bundle.js keeps
// fresh (rebuilt whenever a source changes, so it cannot go stale); where none can be made, it
// registers tsx and imports the sources.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundle } from './bundle.js';

const out = await bundle(fileURLToPath(new URL('../src/cli.ts', import.meta.url)));
if (out) await import(pathToFileURL(out).href);
else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli.ts');
}
