// What each pane shows, as plain data: a pane is a function of the state and its inner size
// that returns exactly `h` lines of coloured segments. The React side only draws segments, so
// these functions are where the TUI's content is decided and tested.

import { describeFilter, PANES, type PaneId, type TuiState } from './store.js';
import { fit, hx, modeText, si } from './format.js';

export interface Seg {
  text: string;
  fg?: string;
  bg?: string;
  bold?: boolean;
  inverse?: boolean;
  dim?: boolean;
}
export type Line = Seg[];

/** Pads a line of segments to exactly w columns (cutting what is past it). */
export function padLine(line: Line, w: number): Line {
  const out: Line = [];
  let used = 0;
  for (const s of line) {
    if (used >= w) break;
    const t = s.text.slice(0, w - used);
    if (t) out.push({ ...s, text: t });
    used += t.length;
  }
  if (used < w) out.push({ text: ' '.repeat(w - used) });
  return out;
}

function pad(lines: Line[], w: number, h: number): Line[] {
  const out = lines.slice(0, h).map((l) => padLine(l, w));
  while (out.length < h) out.push([{ text: ' '.repeat(w) }]);
  return out;
}

/** A window of `h` rows out of `n` that keeps row `at` in view, a little above the middle. */
function windowAround(n: number, h: number, at: number): number {
  if (n <= h || at < 0) return 0;
  return Math.max(0, Math.min(n - h, at - Math.floor(h / 3)));
}

// ---- the console ---------------------------------------------------------------------------

/** The 16 colours of the VGA text palette (attribute nibbles). */
export const VGA_PALETTE = [
  '#000000', '#0000aa', '#00aa00', '#00aaaa', '#aa0000', '#aa00aa', '#aa5500', '#aaaaaa',
  '#555555', '#5555ff', '#55ff55', '#55ffff', '#ff5555', '#ff55ff', '#ffff55', '#ffffff',
];

function vgaLines(s: TuiState, w: number, h: number): Line[] {
  const v = s.vga!;
  // The screen is 25 rows; a smaller pane shows the rows around the cursor (or the top).
  let last = v.rows - 1;
  while (last > 0 && !v.text[last]?.trim() && last > v.cursor.y) last--;
  const top = Math.max(0, Math.min(v.rows - h, last + 1 - h));
  const out: Line[] = [];
  for (let y = top; y < Math.min(v.rows, top + h); y++) {
    const text = v.text[y] ?? '';
    const attrs = v.attrs[y] ?? '';
    const line: Line = [];
    let run = '';
    let runAttr = -1;
    let runCursor = false;
    const push = (): void => {
      if (!run) return;
      const fg = VGA_PALETTE[runAttr & 0xf];
      const bg = VGA_PALETTE[(runAttr >> 4) & 0x7];
      line.push(runCursor ? { text: run, fg, bg, inverse: true } : { text: run, fg, bg });
      run = '';
    };
    for (let x = 0; x < Math.min(w, v.cols); x++) {
      const a = parseInt(attrs.slice(x * 2, x * 2 + 2), 16) || 7;
      const cur = v.cursor.visible && v.cursor.x === x && v.cursor.y === y;
      if (a !== runAttr || cur || runCursor) {
        push();
        runAttr = a;
        runCursor = cur;
      }
      run += text[x] ?? ' ';
    }
    push();
    out.push(line);
  }
  return out;
}

export function consolePane(s: TuiState, w: number, h: number, shows: 'serial' | 'vga'): Line[] {
  if (shows === 'vga' && s.vga) return pad(vgaLines(s, w, h), w, h);
  const lines = s.serial.tail(h, s.serialScroll).map((t) => [{ text: t }]);
  return pad(lines, w, h);
}

// ---- registers -------------------------------------------------------------------------------

const FLAG_BITS: [number, string][] = [[11, 'O'], [10, 'D'], [9, 'I'], [7, 'S'], [6, 'Z'], [4, 'A'], [2, 'P'], [0, 'C']];

export function registersPane(s: TuiState, w: number, h: number): Line[] {
  const c = s.cpu;
  if (!c) return pad([[{ text: '(no registers yet)', dim: true }]], w, h);
  const r = c.regs;
  const reg = (name: string, width = 8): Seg[] => {
    const changed = s.changed.has(name);
    return [
      { text: `${name.toUpperCase().padEnd(3)} `, dim: true },
      { text: hx(r[name] ?? 0, width), ...(changed ? { fg: 'yellow', bold: true } : {}) },
    ];
  };
  const gap: Seg = { text: '  ' };
  const f = r.eflags ?? 0;
  const flags: Seg[] = FLAG_BITS.map(([bit, ch]) => ({
    text: f & (1 << bit) ? ch : '-',
    ...(s.changed.has('eflags') ? { fg: 'yellow' } : {}),
  }));
  const wide = w >= 56;
  const lines: Line[] = wide
    ? [
        [...reg('eax'), gap, ...reg('ebx'), gap, ...reg('ecx'), gap, ...reg('edx')],
        [...reg('esi'), gap, ...reg('edi'), gap, ...reg('ebp'), gap, ...reg('esp')],
        [...reg('eip'), gap, ...reg('eflags'), { text: ' ' }, ...flags],
        [...reg('cs', 4), gap, ...reg('ds', 4), gap, ...reg('es', 4), gap, ...reg('ss', 4), gap, ...reg('fs', 4), gap, ...reg('gs', 4)],
        [...reg('cr0'), gap, ...reg('cr2'), gap, ...reg('cr3'), gap, ...reg('cr4')],
        [{ text: `mode ${modeText(c.mode)}  CPL ${c.cpl}  ${c.halted ? 'halted' : ''}`, dim: true }],
      ]
    : [
        [...reg('eax'), gap, ...reg('ebx')],
        [...reg('ecx'), gap, ...reg('edx')],
        [...reg('esi'), gap, ...reg('edi')],
        [...reg('ebp'), gap, ...reg('esp')],
        [...reg('eip'), { text: ' ' }, ...flags],
        [...reg('cs', 4), { text: ' ' }, ...reg('ds', 4), { text: ' ' }, ...reg('ss', 4)],
        [...reg('es', 4), { text: ' ' }, ...reg('fs', 4), { text: ' ' }, ...reg('gs', 4)],
        [...reg('cr0'), gap, ...reg('cr3')],
        [{ text: `mode ${modeText(c.mode)} CPL ${c.cpl}${c.halted ? ' halted' : ''}`, dim: true }],
      ];
  return pad(lines, w, h);
}

// ---- disassembly -----------------------------------------------------------------------------

export function disasmPane(s: TuiState, w: number, h: number, focused: boolean): Line[] {
  const lines = s.disasm;
  if (!lines.length) return pad([[{ text: '(no code yet)', dim: true }]], w, h);
  const bps = new Map(s.breakpoints.filter((b) => b.type === 'exec').map((b) => [b.addr, b]));
  const cur = lines.findIndex((l) => l.addr === s.disasmCursor);
  const ip = lines.findIndex((l) => l.addr === s.ipLinear);
  const top = windowAround(lines.length, h, cur >= 0 ? cur : ip);
  const bytesW = w >= 60 ? 18 : w >= 48 ? 10 : 0;
  const out: Line[] = [];
  for (const l of lines.slice(top, top + h)) {
    const bp = bps.get(l.addr);
    const isIp = l.addr === s.ipLinear && !s.running;
    const isCur = l.addr === s.disasmCursor && focused;
    const mark: Seg = bp ? { text: bp.enabled ? '●' : '○', fg: 'red', bold: true } : { text: ' ' };
    // At an I/O or MMIO stop EIP is already past the instruction whose request is pending.
    const isTrap = !s.running && s.stop?.ioreq && s.stop.addr === l.addr;
    const arrow: Seg = isIp ? { text: '▶', fg: 'green', bold: true } : isTrap ? { text: '!', fg: 'yellow', bold: true } : { text: ' ' };
    const body = `${hx(l.addr, 8)}  ${bytesW ? fit(l.bytes, bytesW) + ' ' : ''}${l.text}`;
    const style: Omit<Seg, 'text'> = isCur ? { inverse: true } : isIp ? { fg: 'green', bold: true } : {};
    out.push([mark, arrow, { text: ' ' }, { text: fit(body, w - 3), ...style }]);
  }
  return pad(out, w, h);
}

// ---- memory ----------------------------------------------------------------------------------

export function memoryPane(s: TuiState, w: number, h: number): Line[] {
  const m = s.mem;
  const head: Line = [{ text: `${hx(m.addr, 8)}${m.follow ? ` = ${m.follow} (follows)` : ''}`, dim: true }];
  if (m.error) return pad([head, [{ text: m.error, fg: 'red' }]], w, h);
  // A row of n bytes takes 8+2+3n+n columns: 16 bytes when there is room (74), else 8 (42),
  // else 4 (26), so that the ASCII column is never cut off (a third of 120 columns is 38).
  const per = w >= 74 ? 16 : w >= 42 ? 8 : 4;
  const out: Line[] = [head];
  for (let off = 0; off + per <= m.data.length && out.length < h; off += per) {
    const bytes = [...m.data.slice(off, off + per)];
    const hex = bytes.map((b) => hx(b, 2)).join(' ');
    const ascii = bytes.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    out.push([{ text: hx(m.addr + off, 8), dim: true }, { text: `  ${hex} ` }, { text: ascii, fg: 'cyan' }]);
  }
  return pad(out, w, h);
}

// ---- breakpoints -----------------------------------------------------------------------------

export function describeBreakpoint(b: TuiState['breakpoints'][number]): string {
  const range = (wd: number): string => `${hx(b.addr, wd)}${b.end !== b.addr ? '-' + hx(b.end, wd) : ''}`;
  switch (b.type) {
    case 'exec': return `exec  ${hx(b.addr, 8)}`;
    case 'io': return `io    ${range(4)} ${b.access}`;
    case 'mmio': return `mmio  ${range(8)} ${b.access}`;
    case 'watch': return `watch ${b.space === 'phys' ? 'p' : 'l'} ${range(8)} ${b.access}`;
    case 'interrupt': return `int   ${range(2)}`;
  }
}

export function breakpointsPane(s: TuiState, w: number, h: number, focused: boolean): Line[] {
  if (!s.breakpoints.length) return pad([[{ text: 'no breakpoints (F9 in disassembly, or :break …)', dim: true }]], w, h);
  const top = windowAround(s.breakpoints.length, h, s.bpCursor);
  const out: Line[] = s.breakpoints.slice(top, top + h).map((b, i) => {
    const sel = focused && top + i === s.bpCursor;
    const hit = s.stop?.breakpoint === b.id;
    const text = `${String(b.id).padStart(3)} ${b.enabled ? 'y' : 'n'} ${describeBreakpoint(b)}${b.condition ? ` if ${b.condition}` : ''}  hits ${b.hits}`;
    return [{ text: fit(text, w), ...(sel ? { inverse: true } : {}), ...(hit ? { fg: 'red', bold: true } : {}), ...(!b.enabled ? { dim: true } : {}) }];
  });
  return pad(out, w, h);
}

// ---- traps -------------------------------------------------------------------------------------

export function trapsPane(s: TuiState, w: number, h: number): Line[] {
  const head: Line = [{ text: `filter: ${describeFilter(s.trapFilter)}  (f to change)`, dim: true }];
  const rows = s.traps.slice(-(h - 1));
  const out: Line[] = [head];
  for (const t of rows) {
    const op = t.space === 'pio' ? (t.dir === 'read' ? 'in' : 'out') + (['', 'b', 'w', '', 'l'][t.size] ?? '') : (t.dir === 'read' ? 'rd' : 'wr') + t.size;
    const addr = t.space === 'pio' ? hx(t.addr, 4) : hx(t.addr, 8);
    const dev = `${t.device ?? '-'}${t.register ? ' ' + t.register : ''}`;
    out.push([
      { text: `${hx(t.ip, 8)} `, dim: true },
      { text: `${op.padEnd(4)} `, fg: t.dir === 'read' ? 'cyan' : 'magenta' },
      { text: `${addr} ${hx(t.value, t.size * 2).padStart(8)} ${dev}${t.count > 1 ? ` x${t.count}` : ''}${t.failed ? ' FAILED' : ''}` },
    ]);
  }
  if (!rows.length) out.push([{ text: 'no traps recorded', dim: true }]);
  return pad(out, w, h);
}

// ---- devices -------------------------------------------------------------------------------

export function devicesPane(s: TuiState, w: number, h: number, focused: boolean): Line[] {
  if (!s.devices.length) return pad([[{ text: '(no devices)', dim: true }]], w, h);
  const listW = Math.min(12, Math.floor(w / 3));
  const top = windowAround(s.devices.length, h, s.deviceCursor);
  const list = s.devices.slice(top, top + h).map((d, i) => {
    const sel = top + i === s.deviceCursor;
    return { text: fit(d.id, listW), ...(sel ? (focused ? { inverse: true } : { bold: true }) : { dim: true }) } as Seg;
  });
  const detail: Line[] = [];
  const ins = s.inspection;
  if (ins) {
    detail.push([{ text: `${ins.id} (${ins.kind})`, bold: true }]);
    for (const r of ins.registers) {
      const off = r.offset !== undefined ? `+${hx(r.offset, 2)} ` : '    ';
      const val = hx(r.value, Math.max(2, Math.ceil(r.width / 4)));
      const bits = r.bits?.filter((b) => b.value !== 0 || b.meaning).map((b) => (b.meaning ? `${b.name}=${b.value}(${b.meaning})` : `${b.name}`)).join(' ') ?? '';
      detail.push([{ text: off, dim: true }, { text: r.name.padEnd(6), fg: 'cyan' }, { text: ` ${val} ` }, { text: bits || (r.note ?? ''), dim: !bits }]);
    }
    for (const [q, items] of Object.entries(ins.queues ?? {})) detail.push([{ text: `queue ${q}: ${items.length ? items.map((b) => hx(b, 2)).join(' ') : '(empty)'}`, dim: true }]);
    const counters = Object.entries(ins.counters ?? {});
    if (counters.length) detail.push([{ text: counters.map(([k, v]) => `${k}=${v}`).join(' '), dim: true }]);
  } else detail.push([{ text: 'loading…', dim: true }]);
  const out: Line[] = [];
  for (let y = 0; y < h; y++) out.push([list[y] ?? { text: ' '.repeat(listW) }, { text: ' │ ', dim: true }, ...padLine(detail[y] ?? [], w - listW - 3)]);
  return pad(out, w, h);
}

// ---- vCPUs -------------------------------------------------------------------------------------

export function cpusPane(s: TuiState, w: number, h: number): Line[] {
  if (!s.cpus.length) return pad([[{ text: '(no vCPUs)', dim: true }]], w, h);
  const out: Line[] = s.cpus.map((c) => {
    const me = c['cpu-index'] === s.vcpu;
    const what = c.running ? (c.halted ? 'halted (hlt)' : 'running') : `stopped: ${c.stop?.text ?? ''}`;
    return [
      { text: `${me ? '*' : ' '}#${c['cpu-index']} `, bold: me },
      { text: c.running ? '● ' : '■ ', fg: c.running ? 'green' : 'red' },
      { text: `${what}  icount ${c.icount}` },
    ];
  });
  return pad(out, w, h);
}

// ---- the monitor's output ----------------------------------------------------------------

export function outputPane(s: TuiState, w: number, h: number): Line[] {
  const end = s.log.length - s.logScroll;
  const lines = s.log.slice(Math.max(0, end - h), end).map((l): Line => {
    switch (l.kind) {
      case 'cmd': return [{ text: l.text, bold: true }];
      case 'err': return [{ text: l.text, fg: 'red' }];
      case 'event': return [{ text: l.text, fg: 'yellow' }];
      default: return [{ text: l.text }];
    }
  });
  return pad(lines, w, h);
}

// ---- status line and help ------------------------------------------------------------------

export function statusLine(s: TuiState, w: number, shows: 'serial' | 'vga'): Line {
  const state = !s.connected ? 'GONE' : s.status === 'unknown' ? 'ATTACHING' : s.running ? 'RUNNING' : s.status === 'shutdown' ? 'SHUTDOWN' : 'PAUSED';
  const stateColor = !s.connected ? 'red' : s.running ? 'green' : 'yellow';
  const mode = s.cpu ? modeText(s.cpu.mode) : '?';
  const parts: Line = [
    { text: ` ${s.name || 'hvmon'} `, bold: true, inverse: true },
    { text: ` ${state} `, fg: 'black', bg: stateColor, bold: true },
    { text: ` vCPU ${s.vcpu}/${s.vcpuCount} ${mode} ` },
    { text: `${si(s.ips)} ins/s ${si(s.tps)} traps/s `, dim: true },
    { text: s.input === 'guest' ? ' KEYS→GUEST ' : ' KEYS→MON ', inverse: s.input === 'guest', fg: s.input === 'guest' ? 'magenta' : 'cyan' },
    { text: ` ${shows === 'vga' ? 'VGA' : 'serial'} `, dim: true },
  ];
  const reason = stopReason(s);
  if (reason) parts.push({ text: ` ${reason}`, fg: 'red', bold: true });
  return padLine(parts, w);
}

/** Why the current vCPU is stopped, or '' while it runs. */
export function stopReason(s: TuiState): string {
  return s.stop && !s.running ? s.stop.text : '';
}

export const HELP_TEXT = `hvmon TUI keys (docs/tui.md has more)

 F5 c  continue          F6 p  pause          F10 s  step one instruction
 F11 t run to the next trap, stop before it   F9 b   breakpoint at cursor
 Ctrl-]  keystrokes to the guest / back to the monitor (KEYS→ on top)
 Ctrl-A  QEMU's escape: c guest/monitor, x quit the VM, d detach, h help
 :       command line: any monitor command; Tab, Up/Down history, Esc
 Tab     next pane (Shift-Tab back)   1-9  show/hide a pane   ? F1  this help
 ↑ ↓ PgUp PgDn j k    move in the focused pane
 Enter   disasm: breakpoint; breakpoints: on/off; console: serial/VGA
 d Del   delete the selected breakpoint        v   console: serial ⇄ VGA
 f       memory: follow esp, eip, …; trap log: edit the filter
 g       memory: go to an address  (:mem ADDR|REG  :filter …  :console …)
 q       leave: attach detaches (VM runs on); run asks, then quits the VM

panes: ${PANES.slice(0, 5).map((p) => `${p.key} ${p.title}`).join('  ')}
       ${PANES.slice(5).map((p) => `${p.key} ${p.title}`).join('  ')}`;

export function helpLines(w: number, h: number): Line[] {
  return pad(HELP_TEXT.split('\n').map((t) => [{ text: t }]), w, h);
}

export type PaneRenderer = (s: TuiState, w: number, h: number, focused: boolean, shows: 'serial' | 'vga') => Line[];

export const RENDERERS: Record<PaneId, PaneRenderer> = {
  console: (s, w, h, _f, shows) => consolePane(s, w, h, shows),
  registers: (s, w, h) => registersPane(s, w, h),
  disasm: (s, w, h, f) => disasmPane(s, w, h, f),
  memory: (s, w, h) => memoryPane(s, w, h),
  breakpoints: (s, w, h, f) => breakpointsPane(s, w, h, f),
  traps: (s, w, h) => trapsPane(s, w, h),
  devices: (s, w, h, f) => devicesPane(s, w, h, f),
  cpus: (s, w, h) => cpusPane(s, w, h),
  output: (s, w, h) => outputPane(s, w, h),
};
