// Bundles of hvmon's TypeScript entry points (the CLI, the worker threads), so that a start does
// not pay for a TypeScript loader. hvmon runs from its sources with no build step to go stale;
// registering tsx costs ~200 ms in each thread, though (Node starts a hooks thread for it), and
// a VM has three: the CLI, the device model and the vCPU thread.
//
// esbuild (what tsx transpiles with) writes each bundle into node_modules/.cache/hvmon, with
// the list of source files that went into it, their sizes and times. Every start checks the
// list, and any change rebuilds the bundle (~0.1-0.3 s), so it is never stale. Files are named
// by their content's hash, so builds by concurrent processes (parallel test files) never
// clash, and a chunk loaded late (the TUI, the gdb stub) is still there after a rebuild.
// Packages stay imports of node_modules, resolved from the cache as from the sources. Where no
// bundle can be made (a read-only tree) the caller falls back to tsx.

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CACHE = join(ROOT, 'node_modules', '.cache', 'hvmon');
/** Output files of earlier builds are removed once they are this old (a running host may still load one). */
const KEEP_MS = 24 * 3600 * 1000;
const require = createRequire(import.meta.url);

/**
 * In a bundle every module has the bundle's location, so `import.meta.url` in a source file
 * becomes that file's own URL (what the sources resolve their neighbours against).
 */
const ownUrl = {
  name: 'hvmon-own-url',
  setup(build) {
    build.onLoad({ filter: /\.[jt]sx?$/ }, (args) => {
      if (relative(ROOT, args.path).split(/[\\/]/)[0] === 'node_modules') return undefined;
      return {
        contents: readFileSync(args.path, 'utf8').replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
        loader: args.path.slice(args.path.lastIndexOf('.') + 1),
      };
    });
  },
};

/** Is every source the list names as it was when the bundle was built? */
function fresh(list) {
  if (list.root !== ROOT) return false;
  for (const [path, [size, mtime]] of Object.entries(list.inputs)) {
    try {
      const st = statSync(join(ROOT, path));
      if (st.size !== size || st.mtimeMs !== mtime) return false;
    } catch {
      return false;
    }
  }
  try {
    for (const f of list.files) statSync(join(CACHE, f));
    return true;
  } catch {
    return false;
  }
}

function writeAtomically(path, data) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Removes the lists of entries whose sources are gone, and old output files no list uses. */
function collectGarbage() {
  const used = new Set();
  const names = readdirSync(CACHE);
  for (const f of names) {
    if (!f.endsWith('.json')) continue;
    try {
      const list = JSON.parse(readFileSync(join(CACHE, f), 'utf8'));
      if (Object.keys(list.inputs).some((path) => !existsSync(join(ROOT, path)))) unlinkSync(join(CACHE, f));
      else for (const g of list.files) used.add(g);
    } catch {
      // Being replaced by another process.
    }
  }
  const now = Date.now();
  for (const f of names) {
    if (used.has(f) || f.endsWith('.json')) continue;
    try {
      if (now - statSync(join(CACHE, f)).mtimeMs > KEEP_MS) unlinkSync(join(CACHE, f));
    } catch {
      // Removed by another process meanwhile.
    }
  }
}

/**
 * The bundle of a TypeScript entry module (an absolute path): the path of its JavaScript,
 * rebuilt first if any of its sources changed; null when none can be made.
 */
export async function bundle(entry) {
  const name = relative(ROOT, entry).replace(/[\\/]/g, '_').replace(/\.tsx?$/, '');
  const listPath = join(CACHE, `${name}.json`);
  try {
    const list = JSON.parse(readFileSync(listPath, 'utf8'));
    if (fresh(list)) return join(CACHE, list.entry);
  } catch {
    // No bundle yet, or an unreadable list: build one.
  }
  try {
    const { build } = require('esbuild');
    mkdirSync(CACHE, { recursive: true });
    const result = await build({
      entryPoints: { [name]: entry }, outdir: CACHE, entryNames: '[name]-[hash]', chunkNames: 'chunk-[hash]',
      bundle: true, splitting: true, format: 'esm', platform: 'node', target: 'node20', packages: 'external',
      sourcemap: 'linked', absWorkingDir: ROOT, metafile: true, write: false, logLevel: 'silent', plugins: [ownUrl],
    });
    const files = [];
    for (const f of result.outputFiles) {
      writeAtomically(f.path, f.contents);
      files.push(basename(f.path));
    }
    const inputs = {};
    for (const path of Object.keys(result.metafile.inputs)) {
      const st = statSync(resolve(ROOT, path));
      inputs[path] = [st.size, st.mtimeMs];
    }
    // (Modules the entry imports dynamically are entry points too, named as chunks.)
    const out = files.find((f) => f.startsWith(`${name}-`) && f.endsWith('.js'));
    writeAtomically(listPath, JSON.stringify({ root: ROOT, entry: out, files, inputs }));
    collectGarbage();
    return join(CACHE, out);
  } catch {
    return null;
  }
}
