// Starting a worker thread on one of our TypeScript modules. A worker runs the module's bundle
// (bin/bundle.js: kept fresh from the sources, so nothing can go stale), which starts in a
// fraction of the time tsx takes to register in a new thread. Where no bundle can be made, the
// worker registers tsx and imports the source: a worker does not inherit the parent's loader
// hooks on Node 20.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { bundle } from '../../../bin/bundle.js';

const require = createRequire(import.meta.url);
/** tsx's ESM API entry (require.resolve would give its CommonJS twin, which cannot register hooks here). */
const TSX_API = (() => {
  const pkgPath = require.resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, { import?: { default?: string } | string }> };
  const entry = pkg.exports['./esm/api'].import;
  const rel = typeof entry === 'string' ? entry : entry!.default!;
  return pathToFileURL(join(dirname(pkgPath), rel)).href;
})();

/**
 * What a worker imports for a module it is given by URL (a device plugin): the bundle of a
 * TypeScript file, so that a worker without tsx can load it; anything else as it is.
 */
export async function workerModule(href: string): Promise<string> {
  if (!href.startsWith('file:') || !/\.tsx?$/.test(href)) return href;
  const out = await bundle(fileURLToPath(href));
  return out ? pathToFileURL(out).href : href;
}

export async function spawnWorker(moduleUrl: URL, opts: WorkerOptions = {}): Promise<Worker> {
  if (!moduleUrl.pathname.endsWith('.ts')) return new Worker(moduleUrl, opts);
  const out = await bundle(fileURLToPath(moduleUrl));
  // Started from a one-line bootstrap either way: a worker started on a file would inherit the
  // parent's `--import tsx` and register it after all. (With --enable-source-maps, stack traces
  // name the TypeScript sources: the bundle's map is linked.)
  const code = out
    ? `import(${JSON.stringify(pathToFileURL(out).href)});`
    : `import(${JSON.stringify(TSX_API)}).then((api) => { api.register(); return import(${JSON.stringify(moduleUrl.href)}); });`;
  return new Worker(code, { ...opts, eval: true });
}
