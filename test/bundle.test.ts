// bin/bundle.js: the CLI and the worker threads start from bundles of the sources. What must
// hold: a bundle is never stale (a change to any source that went into it rebuilds it), each
// module keeps its own import.meta.url, and a module the entry imports lazily stays lazy.

import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bundle } from '../bin/bundle.js';
import { ROOT } from './helpers.js';

// Inside the tree (bundles resolve packages from it), in a directory of this run's own.
const dir = mkdtempSync(join(ROOT, 'test', 'fixtures', 'bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function load(entry: string): Promise<Record<string, unknown>> {
  const out = await bundle(entry);
  expect(out).not.toBeNull();
  return (await import(pathToFileURL(out!).href)) as Record<string, unknown>;
}

describe('bundles of the sources', () => {
  it('rebuilds when any source that went into it changes, and keeps each module its own URL', async () => {
    const entry = join(dir, 'entry.ts');
    const dep = join(dir, 'dep.ts');
    writeFileSync(dep, 'export const where: string = import.meta.url;\nexport const n: number = 1;\n');
    writeFileSync(entry, "import { n, where } from './dep.js';\nexport const value = n;\nexport const depUrl = where;\nexport const lazy = () => import('./late.js');\n");
    writeFileSync(join(dir, 'late.ts'), 'export const loaded = true;\n');
    const first = await load(entry);
    expect(first.value).toBe(1);
    expect(first.depUrl).toBe(pathToFileURL(dep).href);
    expect(await bundle(entry)).toBe(await bundle(entry));

    // Same size, new content: the list's times catch it.
    writeFileSync(dep, 'export const where: string = import.meta.url;\nexport const n: number = 2;\n');
    utimesSync(dep, new Date(), new Date(Date.now() + 5000));
    const second = await load(entry);
    expect(second.value).toBe(2);
    expect(((await (second.lazy as () => Promise<{ loaded: boolean }>)()).loaded)).toBe(true);
  });

  it('reports no bundle for an entry that does not compile, so the caller can fall back', async () => {
    const broken = join(dir, 'broken.ts');
    writeFileSync(broken, 'export const x = ;\n');
    expect(await bundle(broken)).toBeNull();
  });
});
