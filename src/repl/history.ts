// The monitor's command history, shared by the REPL and the TUI: one line per command in
// $HVMON_HISTORY or ~/.hvmon_history (mode 0600), oldest first, the last HISTORY_MAX kept.

import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const HISTORY_MAX = 1000;

export function historyFile(): string {
  return process.env.HVMON_HISTORY || join(homedir(), '.hvmon_history');
}

/** The saved commands, oldest first. */
export function loadHistory(): string[] {
  try {
    return readFileSync(historyFile(), 'utf8').split('\n').filter((l) => l.trim()).slice(-HISTORY_MAX);
  } catch {
    return [];
  }
}

/** Appends one command; now and then rewrites the file down to the last HISTORY_MAX lines. */
export function appendHistory(line: string): void {
  const t = line.trim();
  if (!t) return;
  try {
    appendFileSync(historyFile(), t + '\n', { mode: 0o600 });
    const all = readFileSync(historyFile(), 'utf8').split('\n').filter(Boolean);
    if (all.length > 2 * HISTORY_MAX) writeFileSync(historyFile(), all.slice(-HISTORY_MAX).join('\n') + '\n', { mode: 0o600 });
  } catch {
    // A read-only home is no reason to stop.
  }
}
