// Raw terminal input → key events. The TUI reads stdin itself (ink's useInput drops the names
// of function keys, and the guest needs the exact bytes), so this decodes the xterm/VT220
// sequences that terminals and tmux send: CSI n ~ for F5-F12 and the editing keys, SS3 P-S for
// F1-F4, CSI A-D for the arrows, CSI Z for Shift-Tab, and C0 control characters.

export interface Key {
  /** 'char' for printable text, else a name: 'f5', 'up', 'tab', 'return', 'ctrl-a', … */
  name: string;
  /** The printable character for 'char'. */
  text: string;
  /** The bytes as they came, to pass through to the guest. */
  raw: string;
}

const TILDE: Record<number, string> = {
  1: 'home', 2: 'insert', 3: 'delete', 4: 'end', 5: 'pageup', 6: 'pagedown', 7: 'home', 8: 'end',
  11: 'f1', 12: 'f2', 13: 'f3', 14: 'f4', 15: 'f5', 17: 'f6', 18: 'f7', 19: 'f8', 20: 'f9', 21: 'f10', 23: 'f11', 24: 'f12',
};
const CSI_LETTER: Record<string, string> = {
  A: 'up', B: 'down', C: 'right', D: 'left', H: 'home', F: 'end', Z: 'shift-tab', P: 'f1', Q: 'f2', R: 'f3', S: 'f4',
};

/** Splits one chunk of input into keys. A lone ESC at the end of a chunk is the Escape key. */
export function decodeKeys(s: string): Key[] {
  const out: Key[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    const code = s.charCodeAt(i);
    if (code === 0x1b) {
      const n = s[i + 1];
      if (n === '[') {
        // CSI: parameters, then one final byte in @..~ (the Linux console's F1-F5 are CSI [ A..E).
        let j = i + 2;
        if (s[j] === '[' && /[A-E]/.test(s[j + 1] ?? '')) {
          out.push({ name: `f${s.charCodeAt(j + 1) - 64}`, text: '', raw: s.slice(i, j + 2) });
          i = j + 2;
          continue;
        }
        while (j < s.length && !(s.charCodeAt(j) >= 0x40 && s.charCodeAt(j) <= 0x7e)) j++;
        const raw = s.slice(i, j + 1);
        const params = s.slice(i + 2, j).split(';');
        const fin = s[j] ?? '';
        let name = 'unknown';
        if (fin === '~') name = TILDE[Number(params[0])] ?? 'unknown';
        else if (CSI_LETTER[fin]) name = CSI_LETTER[fin];
        // Modifiers (CSI 1;2A = Shift-Up): keep the base name with a prefix.
        const mod = Number(params[1] ?? 1);
        if (mod > 1 && name !== 'unknown') {
          const m = mod - 1;
          name = `${m & 4 ? 'ctrl-' : ''}${m & 2 ? 'alt-' : ''}${m & 1 ? 'shift-' : ''}${name}`;
        }
        out.push({ name, text: '', raw });
        i = j + 1;
        continue;
      }
      if (n === 'O' && i + 2 < s.length) {
        const raw = s.slice(i, i + 3);
        out.push({ name: CSI_LETTER[s[i + 2]] ?? 'unknown', text: '', raw });
        i += 3;
        continue;
      }
      if (n === undefined) {
        out.push({ name: 'escape', text: '', raw: c });
        i++;
        continue;
      }
      if (n === '\x1b') {
        out.push({ name: 'escape', text: '', raw: c });
        i++;
        continue;
      }
      // ESC then a key: Alt-key to some, but a quick Escape then a key to a busy TUI that
      // reads both in one chunk. Nothing here is bound to Alt, so it is Escape, then the key.
      out.push({ name: 'escape', text: '', raw: c });
      i++;
      continue;
    }
    if (c === '\r' || c === '\n') out.push({ name: 'return', text: '', raw: c });
    else if (c === '\t') out.push({ name: 'tab', text: '', raw: c });
    else if (code === 0x7f || code === 0x08) out.push({ name: 'backspace', text: '', raw: c });
    else if (code === 0x1d) out.push({ name: 'ctrl-]', text: '', raw: c });
    else if (code < 0x20) out.push({ name: `ctrl-${String.fromCharCode(code + 96)}`, text: '', raw: c });
    else out.push({ name: 'char', text: c, raw: c });
    i++;
  }
  return out;
}
