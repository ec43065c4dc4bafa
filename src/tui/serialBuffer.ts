// The guest's serial output as a terminal would show it, kept as a bounded list of lines.
// Guests write CR LF, bare LF, backspaces and sometimes ANSI escape sequences; the pane shows
// text, so escapes are dropped (their colours are not worth a terminal emulator here), CR
// returns to the start of the line and BS steps back. Appending is O(bytes): a chatty guest
// costs the TUI little, and the view is drawn at most at the redraw rate.

const ESC = 0x1b;

export class SerialBuffer {
  private _lines: string[] = [''];
  private _col = 0;
  /** 0: text; 1: after ESC; 2: inside CSI; 3: inside OSC (until BEL or ST). */
  private _esc = 0;
  /** Bytes seen, for tests and the status line. */
  total = 0;

  constructor(private readonly _max = 2000) {}

  /** Appends bytes given as a latin1 string (SERIAL_OUTPUT's data). */
  write(data: string): void {
    this.total += data.length;
    let line = this._lines[this._lines.length - 1];
    for (let i = 0; i < data.length; i++) {
      const c = data.charCodeAt(i);
      if (this._esc === 1) {
        this._esc = c === 0x5b ? 2 : c === 0x5d ? 3 : 0;
        continue;
      }
      if (this._esc === 2) {
        if (c >= 0x40 && c <= 0x7e) this._esc = 0;
        continue;
      }
      if (this._esc === 3) {
        if (c === 7 || c === 0x5c) this._esc = 0;
        continue;
      }
      if (c === ESC) this._esc = 1;
      else if (c === 10) {
        this._lines[this._lines.length - 1] = line;
        this._lines.push('');
        line = '';
        this._col = 0;
      } else if (c === 13) this._col = 0;
      else if (c === 8) this._col = Math.max(0, this._col - 1);
      else if (c === 9) {
        const n = 8 - (this._col % 8);
        line = this._put(line, ' '.repeat(n));
      } else if (c >= 0x20 && c !== 0x7f) line = this._put(line, data[i]);
    }
    this._lines[this._lines.length - 1] = line;
    if (this._lines.length > this._max) this._lines.splice(0, this._lines.length - this._max);
  }

  private _put(line: string, s: string): string {
    const out = line.length < this._col ? line.padEnd(this._col) : line;
    const next = out.slice(0, this._col) + s + out.slice(this._col + s.length);
    this._col += s.length;
    return next;
  }

  /** The last n lines (ending `scroll` lines above the bottom). */
  tail(n: number, scroll = 0): string[] {
    const end = Math.max(0, this._lines.length - scroll);
    return this._lines.slice(Math.max(0, end - n), end);
  }

  get lineCount(): number {
    return this._lines.length;
  }

  /** Everything, for tests. */
  text(): string {
    return this._lines.join('\n');
  }
}
