import { describe, expect, it } from 'vitest';
import { layout, panesOf, type LayoutNode } from './layout.js';
import type { PaneId } from './store.js';

/** Every pane's box, with its position, to check that the boxes tile the area. */
function boxes(n: LayoutNode, x = 0, y = 0): { id: string; x: number; y: number; w: number; h: number }[] {
  if (n.kind === 'pane') return [{ id: n.id, x, y, w: n.w, h: n.h }];
  if (n.kind === 'empty') return [];
  const out: ReturnType<typeof boxes> = [];
  let cx = x;
  let cy = y;
  for (const c of n.children) {
    out.push(...boxes(c, cx, cy));
    if (n.kind === 'row') cx += c.w;
    else cy += c.h;
  }
  return out;
}

const v = (...ids: PaneId[]): Set<PaneId> => new Set(ids);

describe('layout', () => {
  it('fits the default panes in 80×24 without overlap', () => {
    const l = layout(v('console', 'registers', 'disasm', 'output'), 'console', 80, 21);
    const b = boxes(l);
    expect(b.map((x) => x.id)).toEqual(['console', 'registers', 'disasm', 'output']);
    for (const x of b) {
      expect(x.x + x.w).toBeLessThanOrEqual(80);
      expect(x.y + x.h).toBeLessThanOrEqual(21);
      expect(x.h).toBeGreaterThanOrEqual(3);
    }
    expect(b.reduce((a, x) => a + x.w * x.h, 0)).toBe(80 * 21);
  });

  it('puts the console beside the debugger panes in a wide terminal, at VGA size', () => {
    const l = layout(v('console', 'registers', 'disasm', 'memory', 'output'), 'console', 200, 60);
    const b = boxes(l);
    const con = b.find((x) => x.id === 'console')!;
    expect(con.w).toBe(84);
    expect(con.h).toBe(27);
    expect(b.find((x) => x.id === 'registers')!.x).toBe(84);
  });

  it('shows the focused pane when not all fit', () => {
    const all = v('console', 'registers', 'disasm', 'memory', 'breakpoints', 'traps', 'devices', 'cpus', 'output');
    expect(panesOf(layout(all, 'cpus', 80, 21))).toContain('cpus');
    expect(panesOf(layout(all, 'registers', 80, 21))).toContain('registers');
  });
});
