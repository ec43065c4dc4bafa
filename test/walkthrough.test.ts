// docs/walkthrough.md, replayed: every command on that page runs against a real VM host and
// must print what the page shows, so the page cannot go stale.
//
// The page is read as a sequence of fenced blocks:
//  - ```sh: shell commands. `node bin/hvmon.js run …` starts a VM host exactly as written, in
//    a pseudo-terminal (script(1), from util-linux), with XDG_RUNTIME_DIR pointing to a
//    private directory; `node bin/hvmon.js repl NAME` must name that host. Other lines (npm ci,
//    npm run guests) are not run.
//  - ```hvmon: a REPL session. `(hvmon) CMD` lines are run as human monitor commands over QMP;
//    the lines after one are what it prints. Lines that start with [stopped], [running],
//    [reset], [shutdown: …] or [device error] are the REPL's announcements of events (the
//    same text as src/repl/repl.ts prints), expected after the command in that order;
//    every other line is the command's own output. `quit` must end the host, and the REPL
//    then says `[the VM host has gone]`.
//  - ```terminal: the host's terminal (the guest's COM1 output and hvmon's notes) as it is
//    at that point of the story, from its first line.
// In expected text, ‹…› stands for anything within one line (a sequence number, a path).
//
// WALKTHROUGH_RECORD=1 prints what each command really printed, in the page's format.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { QmpClient } from '../src/monitor/client.js';
import type { QmpEvent } from '../src/monitor/protocol.js';
import { describeEvent } from '../src/repl/repl.js';
import { ROOT, connectMonitor } from './helpers.js';

const PAGE = join(ROOT, 'docs', 'walkthrough.md');
const haveScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
if (!haveScript) console.warn('script(1) from util-linux not found: the walkthrough replay is skipped (it runs the VM host in a pseudo-terminal)');
const RECORD = process.env.WALKTHROUGH_RECORD === '1';
const PLACEHOLDER = '‹…›';
const EVENT_LINE = /^\[(stopped|running|reset|shutdown|device error)\b/;

interface Block {
  lang: string;
  lines: string[];
  /** 1-based line of the opening fence, for messages. */
  at: number;
}

function blocks(text: string): Block[] {
  const out: Block[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^```(\S*)\s*$/.exec(lines[i]);
    if (!m) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    out.push({ lang: m[1], lines: body, at: start + 1 });
  }
  return out;
}

/** A regular expression for expected text with ‹…› placeholders (each within one line). */
function pattern(expected: string[]): RegExp {
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const body = expected.map((l) => l.trimEnd().split(PLACEHOLDER).map(esc).join('[^\\n]*?')).join('\n');
  return new RegExp(`^${body}$`);
}

const tidy = (s: string): string => s.replace(/\r\n/g, '\n').replace(/\r/g, '').split('\n').map((l) => l.trimEnd()).join('\n').replace(/\n+$/, '');

// Generous: a full `npm test` on a small machine starts many VM hosts at once.
async function until<T>(what: string, f: () => T | undefined, timeoutMs = 90_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

class Host {
  readonly proc: ChildProcess;
  private _out = '';
  readonly exited: Promise<number | null>;
  private _exitCode: number | null | undefined;

  constructor(readonly command: string, readonly name: string, readonly runtime: string) {
    // The page's command line, run in a terminal as a user would: script(1) gives it a
    // pseudo-terminal, so the console behaves as in terminal 1 (raw keys, its Ctrl-A help
    // line) and the host's notes (stderr) interleave with the guest's output as they do there.
    this.proc = spawn('script', ['-qfec', `exec ${command}`, '/dev/null'], {
      cwd: ROOT, env: { ...process.env, XDG_RUNTIME_DIR: runtime }, stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.proc.stdout!.setEncoding('latin1').on('data', (d: string) => (this._out += d));
    this.exited = new Promise((r) => this.proc.on('exit', (code) => {
      this._exitCode = code;
      r(code);
    }));
  }

  get terminal(): string {
    return tidy(this._out);
  }

  get running(): boolean {
    return this._exitCode === undefined;
  }

  async kill(): Promise<void> {
    if (this.running) {
      this.proc.kill('SIGTERM');
      await this.exited;
    }
  }
}

const page = readFileSync(PAGE, 'utf8');
const all = blocks(page);
const hosts: Host[] = [];
const clients: QmpClient[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(hosts.map((h) => h.kill()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('docs/walkthrough.md', () => {
  it('has sh, hvmon and terminal blocks to replay', () => {
    expect(all.filter((b) => b.lang === 'hvmon').length).toBeGreaterThan(3);
    expect(all.some((b) => b.lang === 'terminal')).toBe(true);
    for (const b of all) expect(['sh', 'hvmon', 'terminal'], `block at line ${b.at}`).toContain(b.lang);
  });

  it.skipIf(!haveScript)('every command prints what the page shows', { timeout: 600_000 }, async () => {
    let host: Host | null = null;
    let client: QmpClient | null = null;
    let events: QmpEvent[] = [];
    const record: string[] = [];

    for (const b of all) {
      const where = `docs/walkthrough.md:${b.at}`;
      if (b.lang === 'sh') {
        for (const line of b.lines) {
          const run = /^node bin\/hvmon\.js run .*--name (\S+)/.exec(line);
          const repl = /^node bin\/hvmon\.js repl (\S+)$/.exec(line);
          if (run) {
            const runtime = mkdtempSync(join(tmpdir(), 'hvmon-walk-'));
            dirs.push(runtime);
            host = new Host(line, run[1], runtime);
            hosts.push(host);
            const socket = join(runtime, 'hvmon', `${run[1]}.qmp`);
            client = await connectMonitor(socket, 120_000);
            clients.push(client);
            events = [];
            client.on('event', (e) => events.push(e));
          } else if (repl) {
            expect(repl[1], `${where}: the REPL attaches to the host started above`).toBe(host?.name);
          }
        }
      } else if (b.lang === 'terminal') {
        expect(host, `${where}: a terminal block before any host`).not.toBeNull();
        const h = host!;
        // Blank lines aside: the console's notices ("[hvmon] watchpoint 2 ...") come from the
        // vCPU thread and the guest's output from the device model, so a notice can land just
        // before the end of the guest's line instead of just after it.
        const re = pattern(b.lines.filter((l) => l.trim() !== ''));
        const shown = (): string => h.terminal.split('\n').filter((l) => l.trim() !== '').join('\n');
        if (RECORD) {
          await new Promise((r) => setTimeout(r, 1000));
          record.push(`${where}\n\`\`\`terminal\n${h.terminal}\n\`\`\``);
          continue;
        }
        await until(`${where}: the terminal to show\n${b.lines.join('\n')}\n--- it shows ---\n${h.terminal}`, () => (re.test(shown()) ? true : undefined));
      } else if (b.lang === 'hvmon') {
        expect(client, `${where}: an hvmon block before any host`).not.toBeNull();
        const c = client!;
        const h = host!;
        // Split the block into commands and what each prints.
        const steps: { cmd: string; out: string[]; ev: string[] }[] = [];
        for (const line of b.lines) {
          const m = /^\(hvmon\) (.*)$/.exec(line);
          if (m) steps.push({ cmd: m[1], out: [], ev: [] });
          else if (!steps.length) throw new Error(`${where}: output before the first (hvmon) command`);
          else if (EVENT_LINE.test(line)) steps[steps.length - 1].ev.push(line);
          else steps[steps.length - 1].out.push(line);
        }
        const transcript: string[] = [];
        for (const s of steps) {
          const what = `${where}: (hvmon) ${s.cmd}`;
          const seen = events.length;
          if (/^(quit|q)$/.test(s.cmd.trim())) {
            // The host goes: the REPL announces the shutdown, then says the connection is gone.
            await c.hmp(s.cmd).catch(() => undefined);
            expect(await h.exited, `${what}: the host exits`).toBe(0);
            const announced = events.slice(seen).map(describeEvent).filter((x): x is string => x !== null);
            transcript.push(`(hvmon) ${s.cmd}`, ...announced, '[the VM host has gone]');
            if (RECORD) continue;
            expect(announced.join('\n'), `${what}: announcements`).toMatch(pattern(s.ev));
            expect(s.out, `${what}: what the REPL says when the host has gone`).toEqual(['[the VM host has gone]']);
            expect(readFileSync(join(ROOT, 'src', 'repl', 'repl.ts'), 'utf8'), 'the REPL still says so').toContain('[the VM host has gone]');
            continue;
          }
          // A screen or status right after start may come before the guest has drawn it.
          const retry = /^(screen|info status)\b/.test(s.cmd) && !RECORD;
          let out = '';
          const t0 = Date.now();
          for (;;) {
            out = tidy(await c.hmp(s.cmd));
            if (!retry || pattern(s.out).test(out) || Date.now() - t0 > 60_000) break;
            await new Promise((r) => setTimeout(r, 100));
          }
          const announced = (): string[] => events.slice(seen).map(describeEvent).filter((x): x is string => x !== null);
          if (RECORD) {
            await new Promise((r) => setTimeout(r, 1500));
            transcript.push(`(hvmon) ${s.cmd}`, ...announced(), ...(out ? out.split('\n') : []));
            continue;
          }
          expect(out, what).toMatch(pattern(s.out));
          // The announcements: wait for as many as the page shows, then make sure no other came.
          await until(`${what}: the announcements ${JSON.stringify(s.ev)} (seen ${JSON.stringify(announced())})`,
            () => (announced().length >= s.ev.length ? true : undefined));
          await new Promise((r) => setTimeout(r, 150));
          expect(announced().join('\n'), `${what}: announcements`).toMatch(pattern(s.ev));
        }
        if (RECORD) record.push(`${where}\n\`\`\`hvmon\n${transcript.join('\n')}\n\`\`\``);
      }
    }
    if (RECORD) console.log(record.join('\n\n'));
    for (const h of hosts) await h.kill();
  });
});
