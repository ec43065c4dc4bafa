// The TUI's React tree: a status line, the panes in their layout, and the command line. It only
// draws: the state comes from the store (useSyncExternalStore, published at most every
// REDRAW_MS) and the content of each pane from panes.ts.

import { Box, Text } from 'ink';
import { memo, useSyncExternalStore } from 'react';
import { layout, type LayoutNode } from './layout.js';
import { helpLines, padLine, RENDERERS, statusLine, stopReason, type Line, type Seg } from './panes.js';
import { PANES, type TuiState, type TuiStore } from './store.js';

function SegText({ s }: { s: Seg }): React.JSX.Element {
  return (
    <Text color={s.fg} backgroundColor={s.bg} bold={s.bold} inverse={s.inverse} dimColor={s.dim}>
      {s.text}
    </Text>
  );
}

const LineView = memo(function LineView({ line }: { line: Line }): React.JSX.Element {
  return (
    <Text wrap="truncate">
      {line.map((s, i) => (
        <SegText key={i} s={s} />
      ))}
    </Text>
  );
});

/** A pane in a single-line frame with its key and title in the top border. */
function Frame({ title, w, h, focused, lines }: { title: string; w: number; h: number; focused: boolean; lines: Line[] }): React.JSX.Element {
  const color = focused ? 'cyan' : 'gray';
  const label = ` ${title} `;
  const top = `┌─${label}${'─'.repeat(Math.max(0, w - 4 - label.length))}─┐`.slice(0, w);
  const bottom = `└${'─'.repeat(Math.max(0, w - 2))}┘`;
  return (
    <Box flexDirection="column" width={w} height={h}>
      <Text color={color} bold={focused} wrap="truncate">
        {top}
      </Text>
      {lines.map((l, i) => (
        <Text key={i} wrap="truncate">
          <Text color={color}>│</Text>
          <LineView line={l} />
          <Text color={color}>│</Text>
        </Text>
      ))}
      <Text color={color} wrap="truncate">
        {bottom}
      </Text>
    </Box>
  );
}

function paneTitle(s: TuiState, id: string, shows: 'serial' | 'vga'): string {
  const p = PANES.find((x) => x.id === id)!;
  if (id === 'console') {
    const back = shows === 'serial' && s.serialScroll ? ` [${s.serialScroll} lines back]` : '';
    return `${p.key} Console: ${shows === 'vga' ? 'VGA text' : `serial ${s.serialDevice.toUpperCase()}`}${s.input === 'guest' ? ' [keys→guest]' : ''}${back}`;
  }
  if (id === 'output' && s.logScroll) return `${p.key} Monitor [${s.logScroll} lines back]`;
  if (id === 'memory') return `${p.key} Memory${s.mem.follow ? ` @${s.mem.follow}` : ''}`;
  if (id === 'traps') return `${p.key} Trap log (${s.traps.length})`;
  return `${p.key} ${p.title}`;
}

function Node({ n, s, shows }: { n: LayoutNode; s: TuiState; shows: 'serial' | 'vga' }): React.JSX.Element {
  if (n.kind === 'empty') return <Box width={n.w} height={n.h} />;
  if (n.kind === 'pane') {
    const focused = s.focus === n.id;
    const lines = RENDERERS[n.id](s, Math.max(0, n.w - 2), Math.max(0, n.h - 2), focused, shows);
    return <Frame title={paneTitle(s, n.id, shows)} w={n.w} h={n.h} focused={focused} lines={lines} />;
  }
  return (
    <Box flexDirection={n.kind === 'row' ? 'row' : 'column'} width={n.w} height={n.h}>
      {n.children.map((c, i) => (
        <Node key={i} n={c} s={s} shows={shows} />
      ))}
    </Box>
  );
}

const HINT = 'F5 cont F6 pause F10 step F11 trap F9 bp  : command  Tab pane  ? help';

function bottomLine(s: TuiState, w: number): Line {
  if (s.confirm) return padLine([{ text: s.confirm, fg: 'yellow', bold: true }], w);
  if (s.cmdline.active) {
    const { text, cursor } = s.cmdline;
    const prompt = '(hvmon) ';
    // Scroll the line so the cursor stays in view.
    const room = Math.max(1, w - prompt.length - 1);
    const start = Math.max(0, cursor - room + 1);
    const vis = text.slice(start, start + room);
    const c = cursor - start;
    return padLine([
      { text: prompt, bold: true },
      { text: vis.slice(0, c) },
      { text: vis[c] ?? ' ', inverse: true },
      { text: vis.slice(c + 1) },
    ], w);
  }
  if (s.message) return padLine([{ text: s.message, fg: 'yellow' }], w);
  // The status line has no room for a long stop reason in a narrow terminal: say it here.
  const reason = stopReason(s);
  if (reason && s.input === 'monitor' && w < 140 && s.stop?.reason !== 'pause') return padLine([{ text: `stopped: ${reason}`, fg: 'red', bold: true }], w);
  const leave = s.ownHost ? 'q quit' : 'q detach';
  return padLine([{ text: s.input === 'guest' ? 'keys go to the guest: Ctrl-] back to the monitor' : `${HINT}  ${leave}`, dim: true }], w);
}

export function App({ store, width, height }: { store: TuiStore; width: number; height: number }): React.JSX.Element {
  const s = useSyncExternalStore(store.subscribe, store.getSnapshot);
  const shows = store.consoleShows(s);
  const bodyH = Math.max(1, height - 2);
  return (
    <Box flexDirection="column" width={width} height={height}>
      <LineView line={statusLine(s, width, shows)} />
      {s.help ? (
        <Frame title="Help (any key closes)" w={width} h={bodyH} focused lines={helpLines(width - 2, bodyH - 2)} />
      ) : (
        <Node n={layout(s.visible, s.focus, width, bodyH)} s={s} shows={shows} />
      )}
      <LineView line={bottomLine(s, width)} />
    </Box>
  );
}
