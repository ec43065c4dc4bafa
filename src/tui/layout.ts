// Where the panes go. 80×24 is the floor: a status line, the console, a row of debugger panes,
// the monitor's output and the command line. A wider terminal (≥ 150 columns) puts the console
// and the output on the left at full VGA width and stacks the debugger panes on the right; a
// taller one gives the console its 25 VGA rows. Every box gets an exact size, so the panes
// render exactly the lines that fit.

import type { PaneId } from './store.js';
import { PANES } from './store.js';

export type LayoutNode =
  | { kind: 'pane'; id: PaneId; w: number; h: number }
  | { kind: 'row' | 'col'; children: LayoutNode[]; w: number; h: number }
  | { kind: 'empty'; w: number; h: number };

const MIN_PANE_H = 5;
const clamp = (v: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, v));

/** Splits n into k parts that differ by at most one, the larger ones first. */
function split(n: number, k: number): number[] {
  const base = Math.floor(n / k);
  return Array.from({ length: k }, (_, i) => base + (i < n % k ? 1 : 0));
}

/** A grid of the debugger panes in w×h; those that do not fit are left out, the focused one never. */
function grid(ids: PaneId[], w: number, h: number, focus: PaneId, maxCols: number): LayoutNode {
  if (!ids.length || h < 3) return { kind: 'empty', w, h };
  const cols = clamp(Math.floor(w / 38), 1, Math.min(maxCols, ids.length));
  const maxRows = Math.max(1, Math.floor(h / MIN_PANE_H));
  let shown = ids;
  const cap = cols * maxRows;
  if (ids.length > cap) {
    // Keep the focused pane and the ones after it in order, so Tab pages through them.
    const at = Math.max(0, ids.indexOf(focus));
    const start = Math.min(at, ids.length - cap);
    shown = ids.slice(start, start + cap);
  }
  const rows = Math.ceil(shown.length / cols);
  const heights = split(h, rows);
  const children: LayoutNode[] = [];
  for (let r = 0; r < rows; r++) {
    const rowIds = shown.slice(r * cols, r * cols + cols);
    const widths = split(w, rowIds.length);
    children.push({ kind: 'row', w, h: heights[r], children: rowIds.map((id, i) => ({ kind: 'pane', id, w: widths[i], h: heights[r] })) });
  }
  return { kind: 'col', w, h, children };
}

/** The main area (between the status line and the command line) for a w×h terminal body. */
export function layout(visible: ReadonlySet<PaneId>, focus: PaneId, w: number, h: number): LayoutNode {
  const order = PANES.map((p) => p.id).filter((p) => visible.has(p));
  const debug = order.filter((p) => p !== 'console' && p !== 'output');
  const hasConsole = visible.has('console');
  const hasOutput = visible.has('output');

  if (w >= 150 && hasConsole && debug.length) {
    const leftW = Math.min(84, Math.floor(w / 2));
    const consoleH = hasOutput ? clamp(h - 6, 5, 27) : h;
    const left: LayoutNode = hasOutput
      ? { kind: 'col', w: leftW, h, children: [{ kind: 'pane', id: 'console', w: leftW, h: consoleH }, { kind: 'pane', id: 'output', w: leftW, h: h - consoleH }] }
      : { kind: 'pane', id: 'console', w: leftW, h };
    return { kind: 'row', w, h, children: [left, grid(debug, w - leftW, h, focus, 2)] };
  }

  const outputH = hasOutput ? clamp(Math.round(h * 0.2), 3, 12) : 0;
  let consoleH = 0;
  if (hasConsole) consoleH = debug.length ? clamp(Math.round(h * 0.38), 4, 27) : h - outputH;
  const debugH = h - consoleH - outputH;
  const children: LayoutNode[] = [];
  if (hasConsole) children.push({ kind: 'pane', id: 'console', w, h: consoleH });
  if (debug.length) children.push(grid(debug, w, debugH, focus, 3));
  if (hasOutput) children.push({ kind: 'pane', id: 'output', w, h: debug.length || hasConsole ? outputH : h });
  if (!children.length) return { kind: 'empty', w, h };
  return { kind: 'col', w, h, children };
}

/** The panes a layout shows, for tests. */
export function panesOf(n: LayoutNode): PaneId[] {
  if (n.kind === 'pane') return [n.id];
  if (n.kind === 'empty') return [];
  return n.children.flatMap(panesOf);
}
