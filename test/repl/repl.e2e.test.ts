// The line REPL against a real VM host: batch commands (-c), scripts (-f FILE, -f -), piped
// stdin, exit statuses, and the interactive prompt in a pseudo-terminal (tmux) with tab
// completion from the server's table and a history that survives a restart.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HVMON, Sandbox, Tmux } from '../tui/tmux.js';

let box: Sandbox;
let name: string;
let term: Tmux | null = null;

beforeAll(async () => {
  box = new Sandbox();
  name = `repl${process.pid}`;
  await box.startHost(name, ['-S']);
});
afterEach(() => {
  term?.kill();
  term = null;
});
afterAll(() => {
  Tmux.killServer();
  box.cleanup();
});

function repl(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [HVMON, 'repl', name, ...args], { env: box.env(), encoding: 'utf8', input, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('hvmon repl, batch', () => {
  it('runs -c commands in order and exits 0', () => {
    const r = repl(['-c', 'info registers', '-c', 'info status']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/EIP=00007c00/);
    expect(r.stdout).toMatch(/VM status: paused/);
  });

  it('exits 1 on a failing command, says why on stderr, and stops there', () => {
    const r = repl(['-c', 'frobnicate', '-c', 'info status']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/unknown command: 'frobnicate'/);
    expect(r.stdout).not.toMatch(/VM status/);
  });

  it('runs a script file, comments and blank lines included', () => {
    const f = join(box.dir, 'script.hvmon');
    writeFileSync(f, '# set a breakpoint and look\nbreak io 0x3f8 w\n\ninfo breakpoints\ndelete\n');
    const r = repl(['-f', f]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/I\/O breakpoint \d+: 0x03f8 w/);
    expect(r.stdout).toMatch(/io\s+keep y\s+0x03f8 w/);
  });

  it('runs a script from stdin with -f -', () => {
    const r = repl(['-f', '-'], 'stepi\nx /4xb 0x7c00\n');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/0000:7c01/);
    expect(r.stdout).toMatch(/00007c00: 0xfa 0x31 0xc0 0x8e/);
  });

  it('reads commands from piped stdin without -f, and fails with status 1 if one fails', () => {
    const ok = repl([], 'info cpus\n');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/CPU #0/);
    const bad = repl([], 'x /4xb\nbogus\ninfo status\n');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/unknown command: 'bogus'/);
  });

  it('exits 1 when the VM host cannot be reached', () => {
    const r = spawnSync(process.execPath, [HVMON, 'repl', join(box.dir, 'nothing.qmp'), '-c', 'info status'], { env: box.env(), encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot connect/);
    const named = spawnSync(process.execPath, [HVMON, 'repl', 'nosuchvm', '-c', 'info status'], { env: box.env(), encoding: 'utf8', cwd: box.dir });
    expect(named.status).toBe(1);
    expect(named.stderr).toBe(`hvmon: no VM host named nosuchvm is running (running: ${name})\n`);
  });
});

describe('hvmon repl, interactive (in a pseudo-terminal)', () => {
  it('completes from the command table, and keeps its history across sessions', async () => {
    term = Tmux.start(`${box.shellEnv()} node ${HVMON} repl ${name}`);
    await term.waitFor('(hvmon)');
    term.type('info reg');
    term.send(['Tab']);
    await term.waitFor('(hvmon) info registers');
    term.send(['Enter']);
    await term.waitFor(/EAX=00000000[\s\S]*mode=real/);
    // Registers complete wherever an expression goes.
    term.type('x /2xb $ei');
    term.send(['Tab']);
    await term.waitFor('(hvmon) x /2xb $eip');
    term.send(['C-u']);
    term.send(['C-d']);
    await term.waitFor('[exited 0]');
    expect(readFileSync(box.history, 'utf8')).toContain('info registers\n');
    term.kill();

    term = Tmux.start(`${box.shellEnv()} node ${HVMON} repl ${name}`);
    await term.waitFor('(hvmon)');
    term.send(['Up']);
    await term.waitFor('(hvmon) info registers');
    term.send(['C-u']);
    // A failing command prints its error; the prompt stays.
    term.type('nosuch');
    term.send(['Enter']);
    await term.waitFor(/unknown command: 'nosuch'[\s\S]*\(hvmon\)\s*$/m);
    // A stop event that arrives while its command runs is printed once, followed by one prompt.
    term.type('cont');
    term.send(['Enter']);
    await term.waitFor('[running]');
    term.type('stop');
    term.send(['Enter']);
    await term.waitFor('[stopped]');
    term.type('info status');
    term.send(['Enter']);
    const screen = await term.waitFor(/VM status: paused\n\(hvmon\)/);
    expect(screen).toMatch(/\n\[stopped\] paused\n\(hvmon\) info status\n/);
    // Ctrl-D leaves the REPL; the VM host is still there, and the REPL does not say otherwise.
    // (Its status is 1: a command of the session failed.)
    term.send(['C-d']);
    const last = await term.waitFor('[exited 1]');
    expect(last).not.toContain('the VM host has gone');
  });
});
