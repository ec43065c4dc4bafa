import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { monitorDoc } from './gendocs.js';

it('docs/monitor.md is generated from the current command tables (run npm run docs)', () => {
  expect(readFileSync(new URL('../../docs/monitor.md', import.meta.url), 'utf8')).toBe(monitorDoc());
});
