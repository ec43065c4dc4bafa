// cpu.ts and exec.ts keep local copies of the enums in consts.ts (and of ExitReason/IoDir)
// so that esbuild inlines them on the hot path. They must agree with the originals.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as consts from './consts.js';

/** Parses `const enum Name { A = 1, B = 2 | C, ... }` blocks out of a source file. */
function enums(file: string): Map<string, Record<string, number>> {
  const src = readFileSync(new URL(file, import.meta.url), 'utf8');
  const out = new Map<string, Record<string, number>>();
  for (const m of src.matchAll(/const enum (\w+) \{([^}]*)\}/g)) {
    const vals: Record<string, number> = {};
    for (const line of m[2].split(/[,\n]/)) {
      const kv = line.replace(/\/\*.*?\*\/|\/\/.*$/g, '').trim().match(/^(\w+) = (.+)$/);
      if (!kv) continue;
      const expr = kv[2].replace(/\b([A-Z_][A-Z0-9_]*)\b/g, (name) => String(vals[name]));
      vals[kv[1]] = Function(`return (${expr});`)() as number;
    }
    out.set(m[1], vals);
  }
  return out;
}

describe('local enum copies', () => {
  const canonical = enums('./consts.ts');
  const backend = enums('../VcpuBackend.ts');
  canonical.set('Xr', backend.get('ExitReason')!);
  canonical.set('Dir', backend.get('IoDir')!);
  for (const file of ['./cpu.ts', './exec.ts', './jit.ts']) {
    it(`${file} agrees with consts.ts and VcpuBackend.ts`, () => {
      const local = enums(file);
      expect(local.size).toBeGreaterThan(file === './jit.ts' ? 0 : 3);
      for (const [name, vals] of local) {
        const want = canonical.get(name);
        expect(want, `${file}: ${name} has no original`).toBeDefined();
        for (const [k, v] of Object.entries(vals)) expect(v, `${file}: ${name}.${k}`).toBe(want![k]);
      }
    });
  }
  it('consts.ts parses', () => {
    expect(canonical.get('Reg')).toMatchObject({ EAX: 0, ESP: 4, EDI: 7 });
    expect(canonical.get('Xr')).toMatchObject({ NONE: 0, IO: 1, INTERNAL_ERROR: 8 });
    expect(consts.CPU_SIGNATURE).toBe(0x611);
  });
});
