// `hvmon repl SOCKET [-c CMD …] [-f SCRIPT]`: a line REPL on the monitor protocol. Readline
// with a persistent history, tab completion from the server's command table (device ids and
// registers included), scripts and stdin for automation, and a non-zero exit status when a
// command fails. It never touches core objects: everything goes through QMP.

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { QmpClient } from '../monitor/client.js';
import type { QmpEvent } from '../monitor/protocol.js';
import { resolveTarget } from '../monitor/runtime.js';
import { appendHistory, HISTORY_MAX, loadHistory } from './history.js';

/** How the interactive REPL announces an event ([stopped] …); docs/walkthrough.md is checked against it. */
export function describeEvent(e: QmpEvent): string | null {
  const d = e.data ?? {};
  switch (e.event) {
    case 'DEBUG_STOP': return `[stopped] ${String(d.text ?? d.reason)}`;
    case 'RESUME': return '[running]';
    case 'RESET': return '[reset]';
    case 'SHUTDOWN': return `[shutdown: ${String(d.reason)}]`;
    case 'DEVICE_ERROR': return `[device error] ${String(d.message)}`;
    default: return null;
  }
}

/** Runs the REPL; resolves with the exit status. */
export async function runRepl(target: string, o: { command?: string[]; file?: string }): Promise<number> {
  let client: QmpClient;
  try {
    client = await QmpClient.connect(await resolveTarget(target));
  } catch (e) {
    process.stderr.write(`hvmon: ${(e as Error).message}\n`);
    return 1;
  }
  let status = 0;
  const runLine = async (line: string): Promise<boolean> => {
    const t = line.trim();
    if (!t || t.startsWith('#')) return true;
    try {
      const out = await client.hmp(t);
      if (out) process.stdout.write(out.endsWith('\n') ? out : out + '\n');
      return true;
    } catch (e) {
      process.stderr.write(`${(e as Error).message}\n`);
      status = 1;
      return false;
    }
  };

  const batch = o.command?.length || o.file;
  if (batch) {
    const lines = [...(o.command ?? [])];
    if (o.file) {
      try {
        lines.push(...readFileSync(o.file === '-' ? 0 : o.file, 'utf8').split('\n'));
      } catch (e) {
        process.stderr.write(`hvmon: cannot read ${o.file}: ${(e as Error).message}\n`);
        client.close();
        return 1;
      }
    }
    for (const l of lines) {
      // A script stops at its first failing command, as a shell with -e does.
      if (!(await runLine(l))) break;
      if (/^\s*(quit|q)\s*$/.test(l)) break;
    }
    client.close();
    return status;
  }

  const interactive = process.stdin.isTTY === true;
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    prompt: '(hvmon) ',
    terminal: interactive,
    // readline wants the newest first.
    history: interactive ? loadHistory().reverse() : [],
    historySize: HISTORY_MAX,
    completer: (line: string, cb: (err: Error | null, result: [string[], string]) => void) => {
      client.execute<string[]>('hmp-complete', { line }).then(
        (c) => cb(null, [c, line.split(/\s+/).pop() ?? '']),
        () => cb(null, [[], line]),
      );
    },
  });
  // Commands typed and not yet answered: an event meanwhile gets no prompt of its own, since
  // the answer is followed by one.
  let busy = 0;
  let leaving = false;
  if (interactive) {
    client.on('event', (e) => {
      const text = describeEvent(e);
      if (text) {
        process.stdout.write(`\r${text}\n`);
        if (busy === 0) rl.prompt(true);
      }
    });
  }
  client.on('close', () => {
    if (interactive && !leaving) process.stdout.write('\n[the VM host has gone]\n');
    rl.close();
  });
  return new Promise((resolve) => {
    let queue = Promise.resolve();
    rl.on('line', (line) => {
      busy++;
      queue = queue.then(async () => {
        if (interactive) appendHistory(line);
        await runLine(line);
        busy--;
        if (/^\s*(quit|q)\s*$/.test(line)) rl.close();
        else if (interactive && busy === 0) rl.prompt();
      });
    });
    rl.on('close', () => {
      leaving = true;
      void queue.then(() => {
        client.close();
        resolve(status);
      });
    });
    if (interactive) rl.prompt();
  });
}
