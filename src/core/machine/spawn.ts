// Starting a worker thread on one of our TypeScript modules. hvmon runs from its sources
// through tsx; a worker does not inherit the parent's loader hooks on Node 20, so the worker
// starts from a two-line bootstrap that registers tsx and then imports the module.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

const require = createRequire(import.meta.url);
/** tsx's ESM API entry (require.resolve would give its CommonJS twin, which cannot register hooks here). */
const TSX_API = (() => {
  const pkgPath = require.resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, { import?: { default?: string } | string }> };
  const entry = pkg.exports['./esm/api'].import;
  const rel = typeof entry === 'string' ? entry : entry!.default!;
  return pathToFileURL(join(dirname(pkgPath), rel)).href;
})();

export function spawnWorker(moduleUrl: URL, opts: WorkerOptions = {}): Worker {
  if (!moduleUrl.pathname.endsWith('.ts')) return new Worker(moduleUrl, opts);
  const code =
    `import(${JSON.stringify(TSX_API)}).then((api) => { api.register(); ` +
    `return import(${JSON.stringify(moduleUrl.href)}); });`;
  return new Worker(code, { ...opts, eval: true });
}
