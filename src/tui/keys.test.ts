import { describe, expect, it } from 'vitest';
import { decodeKeys } from './keys.js';

const names = (s: string): string[] => decodeKeys(s).map((k) => k.name);

describe('decodeKeys', () => {
  it('names the function keys as xterm and tmux send them', () => {
    expect(names('\x1b[15~\x1b[17~\x1b[20~\x1b[21~\x1b[23~\x1b[24~')).toEqual(['f5', 'f6', 'f9', 'f10', 'f11', 'f12']);
    expect(names('\x1bOP\x1bOQ')).toEqual(['f1', 'f2']);
    expect(names('\x1b[[E')).toEqual(['f5']); // the Linux console
  });

  it('names arrows, paging, Tab and Shift-Tab, and modified keys', () => {
    expect(names('\x1b[A\x1b[B\x1b[5~\x1b[6~\t\x1b[Z')).toEqual(['up', 'down', 'pageup', 'pagedown', 'tab', 'shift-tab']);
    expect(names('\x1b[1;5A\x1b[1;2B')).toEqual(['ctrl-up', 'shift-down']);
  });

  it('keeps text, control keys and Escape apart, with the raw bytes for the guest', () => {
    // ESC then x in one read is Escape then x (a fast typist, or a busy TUI), not Alt-x.
    const k = decodeKeys('ab\x1d\x01\r\x7f\x1bx\x1b');
    expect(k.map((x) => x.name)).toEqual(['char', 'char', 'ctrl-]', 'ctrl-a', 'return', 'backspace', 'escape', 'char', 'escape']);
    expect(k.map((x) => x.raw).join('')).toBe('ab\x1d\x01\r\x7f\x1bx\x1b');
    expect(k[0].text).toBe('a');
  });
});
