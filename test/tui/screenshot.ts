// Screenshots of the TUI for docs/: hvmon runs in tmux, keys are sent as a user would, and
// `tmux capture-pane -e` (the cells with their SGR colours) is drawn into a PNG with the VGA
// ROM's own 8×16 font, found in SeaBIOS's VGA BIOS. No network, no ImageMagick: a small
// SGR parser, a glyph blitter and a PNG writer (zlib from Node).
//
//   node --import tsx test/tui/screenshot.ts      → docs/tui-80x24.png, docs/tui-wide.png

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { HELLO, HVMON, ROOT, Sandbox, Tmux } from './tmux.js';

// ---- the font ---------------------------------------------------------------------------------

const VGABIOS = ['/usr/share/seabios/vgabios-isavga.bin', '/usr/share/seabios/vgabios-stdvga.bin', '/usr/share/qemu/vgabios-stdvga.bin'];
// Glyph 41h ('A') of the standard 8×16 VGA font: the font starts 41h glyphs before it.
const GLYPH_A = [0, 0, 0x10, 0x38, 0x6c, 0xc6, 0xc6, 0xfe, 0xc6, 0xc6, 0xc6, 0xc6, 0, 0, 0, 0];

function loadFont(): Uint8Array {
  for (const f of VGABIOS) {
    let d: Buffer;
    try {
      d = readFileSync(f);
    } catch {
      continue;
    }
    const at = d.indexOf(Buffer.from(GLYPH_A));
    if (at >= 0x41 * 16) return new Uint8Array(d.subarray(at - 0x41 * 16, at - 0x41 * 16 + 256 * 16));
  }
  throw new Error(`no VGA BIOS with an 8x16 font found (${VGABIOS.join(', ')}); apt-get install seabios`);
}

/** Unicode → code page 437, for the characters the TUI draws. */
const CP437: Record<string, number> = {
  '─': 0xc4, '│': 0xb3, '┌': 0xda, '┐': 0xbf, '└': 0xc0, '┘': 0xd9, '▶': 0x10, '●': 0x07, '○': 0x09, '■': 0xfe,
  '→': 0x1a, '⇄': 0x1d, '↑': 0x18, '↓': 0x19, '…': 0xfa, '•': 0x07, '░': 0xb0, '▒': 0xb1, '▓': 0xb2, '█': 0xdb,
};

// ---- colours ------------------------------------------------------------------------------------

const BASE16 = [
  [0, 0, 0], [0xcd, 0, 0], [0, 0xcd, 0], [0xcd, 0xcd, 0], [0x24, 0x72, 0xc8], [0xbc, 0x3f, 0xbc], [0x11, 0xa8, 0xcd], [0xe5, 0xe5, 0xe5],
  [0x66, 0x66, 0x66], [0xf1, 0x4c, 0x4c], [0x23, 0xd1, 0x8b], [0xf5, 0xf5, 0x43], [0x3b, 0x8e, 0xea], [0xd6, 0x70, 0xd6], [0x29, 0xb8, 0xdb], [0xff, 0xff, 0xff],
];

function color256(n: number): number[] {
  if (n < 16) return BASE16[n];
  if (n < 232) {
    const c = n - 16;
    const v = (x: number): number => (x ? 55 + x * 40 : 0);
    return [v(Math.floor(c / 36)), v(Math.floor(c / 6) % 6), v(c % 6)];
  }
  const g = 8 + (n - 232) * 10;
  return [g, g, g];
}

const DEFAULT_FG = [0xd0, 0xd0, 0xd0];
const DEFAULT_BG = [0x12, 0x12, 0x18];

interface Cell {
  ch: string;
  fg: number[];
  bg: number[];
}

/** Parses capture-pane -e output into rows of cells. */
function parseScreen(text: string, cols: number, rows: number): Cell[][] {
  const screen: Cell[][] = [];
  let fg: number[] | null = null;
  let bg: number[] | null = null;
  let bold = false;
  let dim = false;
  let inverse = false;
  for (const line of text.split('\n').slice(0, rows)) {
    const row: Cell[] = [];
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (c === '\x1b' && line[i + 1] === '[') {
        const end = line.slice(i + 2).search(/[A-Za-z]/);
        const params = line.slice(i + 2, i + 2 + end);
        const fin = line[i + 2 + end];
        i += 2 + end;
        if (fin !== 'm') continue;
        const p = params === '' ? [0] : params.split(';').map(Number);
        for (let k = 0; k < p.length; k++) {
          const v = p[k];
          if (v === 0) [fg, bg, bold, dim, inverse] = [null, null, false, false, false];
          else if (v === 1) bold = true;
          else if (v === 2) dim = true;
          else if (v === 7) inverse = true;
          else if (v === 22) [bold, dim] = [false, false];
          else if (v === 27) inverse = false;
          else if (v >= 30 && v <= 37) fg = BASE16[v - 30];
          else if (v >= 90 && v <= 97) fg = BASE16[v - 90 + 8];
          else if (v >= 40 && v <= 47) bg = BASE16[v - 40];
          else if (v >= 100 && v <= 107) bg = BASE16[v - 100 + 8];
          else if (v === 39) fg = null;
          else if (v === 49) bg = null;
          else if ((v === 38 || v === 48) && p[k + 1] === 5) {
            const col = color256(p[k + 2]);
            if (v === 38) fg = col;
            else bg = col;
            k += 2;
          } else if ((v === 38 || v === 48) && p[k + 1] === 2) {
            const col = [p[k + 2], p[k + 3], p[k + 4]];
            if (v === 38) fg = col;
            else bg = col;
            k += 4;
          }
        }
        continue;
      }
      let f = fg ?? DEFAULT_FG;
      let b = bg ?? DEFAULT_BG;
      if (bold && fg === null) f = [0xff, 0xff, 0xff];
      if (dim) f = f.map((x) => Math.round(x * 0.6));
      if (inverse) [f, b] = [b === DEFAULT_BG ? [0xe0, 0xe0, 0xe0] : b, f === DEFAULT_FG ? DEFAULT_BG : f];
      row.push({ ch: c, fg: f, bg: b });
    }
    while (row.length < cols) row.push({ ch: ' ', fg: DEFAULT_FG, bg: DEFAULT_BG });
    screen.push(row.slice(0, cols));
    // Colours carry over lines in capture-pane output only when set again; reset per line.
    [fg, bg, bold, dim, inverse] = [null, null, false, false, false];
  }
  while (screen.length < rows) screen.push(Array.from({ length: cols }, () => ({ ch: ' ', fg: DEFAULT_FG, bg: DEFAULT_BG })));
  return screen;
}

// ---- PNG ------------------------------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

function png(width: number, height: number, rgb: Uint8Array): Buffer {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    Buffer.from(rgb.buffer, rgb.byteOffset + y * width * 3, width * 3).copy(raw, y * (width * 3 + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

export function renderPng(captured: string, cols: number, rows: number, font: Uint8Array = loadFont()): Buffer {
  const cells = parseScreen(captured, cols, rows);
  const W = cols * 8;
  const H = rows * 16;
  const rgb = new Uint8Array(W * H * 3);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      const c = cells[y][x];
      const code = c.ch.charCodeAt(0) < 0x80 ? c.ch.charCodeAt(0) : (CP437[c.ch] ?? 0x3f);
      for (let gy = 0; gy < 16; gy++) {
        const bits = font[code * 16 + gy];
        for (let gx = 0; gx < 8; gx++) {
          const col = bits & (0x80 >> gx) ? c.fg : c.bg;
          const o = ((y * 16 + gy) * W + x * 8 + gx) * 3;
          rgb[o] = col[0];
          rgb[o + 1] = col[1];
          rgb[o + 2] = col[2];
        }
      }
    }
  }
  return png(W, H, rgb);
}

// ---- the shots ------------------------------------------------------------------------------

async function shoot(file: string, cols: number, rows: number, script: (t: Tmux) => Promise<void>): Promise<void> {
  const box = new Sandbox();
  const t = Tmux.start(`${box.shellEnv()} node ${HVMON} run ${HELLO} --name demo -S`, cols, rows);
  try {
    await script(t);
    await new Promise((r) => setTimeout(r, 1500));
    writeFileSync(join(ROOT, 'docs', file), renderPng(t.capture(true), cols, rows));
    process.stdout.write(`docs/${file}\n`);
  } finally {
    t.kill();
    box.cleanup();
  }
}

async function main(): Promise<void> {
  await shoot('tui-80x24.png', 80, 24, async (t) => {
    await t.waitFor('PAUSED');
    t.type(':break io 0x3f8 w if value == 0x48');
    t.send(['Enter']);
    await t.waitFor('I/O breakpoint 1');
    t.send(['F5']);
    await t.waitFor(/stopped: io-breakpoint 1/);
    await t.waitFor(/! [0-9a-f]{8}\s+out dx, al/);
  });
  await shoot('tui-wide.png', 180, 50, async (t) => {
    await t.waitFor('PAUSED');
    for (const k of ['4', '5', '6', '7', '8']) t.type(k);
    t.type(':break io 0x3d4-0x3d5 w');
    t.send(['Enter']);
    await t.waitFor('I/O breakpoint 1');
    t.type(':mem esp');
    t.send(['Enter']);
    t.send(['F5']);
    await t.waitFor(/stopped: io-breakpoint 1/);
    t.send(['Tab']);
    await t.waitFor('Hello from hvmon!');
  });
  Tmux.killServer();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
