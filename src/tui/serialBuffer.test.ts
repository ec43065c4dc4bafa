import { describe, expect, it } from 'vitest';
import { SerialBuffer } from './serialBuffer.js';

describe('SerialBuffer', () => {
  it('turns CR LF into lines and lets CR and BS overwrite', () => {
    const b = new SerialBuffer();
    b.write('Hello\r\nworld\rW');
    b.write('x\bO');
    expect(b.text()).toBe('Hello\nWOrld');
  });

  it('drops ANSI escape sequences, even split across writes', () => {
    const b = new SerialBuffer();
    b.write('\x1b[1;3');
    b.write('1mred\x1b[0m \x1b]0;title\x07ok');
    expect(b.text()).toBe('red ok');
  });

  it('expands tabs and keeps only the last lines', () => {
    const b = new SerialBuffer(3);
    b.write('a\tb\n1\n2\n3\n');
    expect(b.tail(10)).toEqual(['2', '3', '']);
    const t = new SerialBuffer();
    t.write('a\tb');
    expect(t.text()).toBe('a       b');
  });

  it('scrolls back from the bottom', () => {
    const b = new SerialBuffer();
    b.write('1\n2\n3\n4');
    expect(b.tail(2, 1)).toEqual(['2', '3']);
  });
});
