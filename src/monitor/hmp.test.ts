import { describe, expect, it } from 'vitest';
import { parseFmt, tokenize, unescapeText } from './hmp.js';

describe('human command parsing', () => {
  it('splits words and keeps quoted strings together', () => {
    expect(tokenize(`break io 0x3f8 "a b" 'c d'`)).toEqual(['break', 'io', '0x3f8', 'a b', 'c d']);
  });

  it('reads QEMU\'s /fmt', () => {
    expect(parseFmt('/10xb', { count: 1, format: 'x', size: 4 })).toEqual({ count: 10, format: 'x', size: 1 });
    expect(parseFmt('/4i', { count: 1, format: 'x', size: 4 })).toEqual({ count: 4, format: 'i', size: 4 });
    expect(parseFmt('/c', { count: 1, format: 'x', size: 4 })).toEqual({ count: 1, format: 'c', size: 1 });
    expect(() => parseFmt('/10q', { count: 1, format: 'x', size: 4 })).toThrow(/bad format/);
  });

  it('turns escapes in typed text into bytes', () => {
    expect(unescapeText('ab\\ncd\\e\\x41\\\\n')).toBe('ab\ncd\x1bA\\n');
    expect(unescapeText('no escapes')).toBe('no escapes');
  });
});
