import { describe, expect, it } from 'vitest';
import { Condition } from './condition.js';

const vars = (m: Record<string, number>) => (n: string) => m[n];

describe('breakpoint conditions', () => {
  it('evaluates C-like expressions over the access and registers', () => {
    expect(new Condition('value & 0x80').test(vars({ value: 0x81 }))).toBe(true);
    expect(new Condition('value & 0x80').test(vars({ value: 0x41 }))).toBe(false);
    expect(new Condition('$eax == 3 && port == 0x3f8').test(vars({ $eax: 3, port: 0x3f8 }))).toBe(true);
    expect(new Condition('!(value & 1) || $al == \'A\'').test(vars({ value: 1, $al: 65 }))).toBe(true);
    expect(new Condition('1 + 2 * 3 == 7').test(vars({}))).toBe(true);
    expect(new Condition('(value >> 4) & 0xf == 0xa').evaluate(vars({ value: 0xa5 }))).toBe(0);
    expect(new Condition('~0').evaluate(vars({}))).toBe(0xffffffff);
    expect(new Condition('0b101 == 5').test(vars({}))).toBe(true);
  });

  it('names what is wrong with a malformed condition', () => {
    expect(() => new Condition('value &')).toThrow(/ends too early/);
    expect(() => new Condition('valu == 1')).toThrow(/unknown name 'valu'/);
    expect(() => new Condition('value == 1)')).toThrow(/unexpected '\)'/);
    expect(() => new Condition('value # 1')).toThrow(/unexpected character '#'/);
    expect(() => new Condition('')).toThrow(/empty/);
    expect(() => new Condition('$eax == 1').evaluate(vars({}))).toThrow(/'\$eax' has no value/);
  });

  it('lists the registers it reads', () => {
    expect(new Condition('$eax == 1 || $CS != $eax').registers()).toEqual(['eax', 'cs']);
  });
});
