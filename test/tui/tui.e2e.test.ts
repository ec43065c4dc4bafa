// The TUI as a user sees it: hvmon in a real terminal (tmux), keys sent, the screen read back.
// Each test starts its own VM host and ends it; nothing here depends on timing beyond polling
// the screen until the expected text appears.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { alive, HELLO, HVMON, Sandbox, Tmux, until } from './tmux.js';

const ESC = String.fromCharCode(27);
let box: Sandbox;
let term: Tmux | null = null;
let n = 0;

beforeAll(() => {
  box = new Sandbox();
});
afterEach(() => {
  term?.kill();
  term = null;
});
afterAll(() => {
  Tmux.killServer();
  box.cleanup();
});

/** `hvmon run hello.img` in a terminal, with the TUI. */
function runGuest(args = '', cols = 80, rows = 24): { t: Tmux; name: string } {
  const name = `tui${process.pid}x${++n}`;
  term = Tmux.start(`${box.shellEnv()} node ${HVMON} run ${HELLO} --name ${name} ${args}`, cols, rows);
  return { t: term, name };
}

function repl(name: string, ...cmds: string[]): string {
  return execFileSync(process.execPath, [HVMON, 'repl', name, ...cmds.flatMap((c) => ['-c', c])], { env: box.env(), encoding: 'utf8' });
}

describe('hvmon run: the TUI', () => {
  it('shows the guest\'s VGA text screen, and its serial output on v', async () => {
    // -S, then F5: hvmon run resumes the VM while the TUI is still connecting, so without -S
    // the guest's first bytes can be printed before the TUI has subscribed to them.
    const { t } = runGuest('-S');
    await t.waitFor('PAUSED');
    t.send(['F5']);
    await t.waitFor(/Console: VGA text[\s\S]*Hello from hvmon! This guest talks to COM1 and VGA/);
    // The VGA cells keep their colours: white on blue (attribute 1Fh).
    await t.waitFor(new RegExp(`${ESC}\\[[0-9;]*48;5;(19|4|18)m[^\\n]*Hello from hvmon`), 45_000, true);
    // The cursor the guest parks after its text (CRTC 0Eh/0Fh, just after) is drawn in inverse video.
    await t.waitFor(new RegExp(`no BIOS\\.(${ESC}\\[[0-9;]*m)*${ESC}\\[[0-9;]*7m(${ESC}\\[[0-9;]*m)* `), 45_000, true);
    t.type('v');
    await t.waitFor(/Console: serial COM1[\s\S]*Hello from hvmon! This guest talks to COM1 and VGA with no BIOS\./);
    await t.waitFor('RUNNING');
  });

  it('steps with F10 and shows the registers, changed ones highlighted', async () => {
    const { t } = runGuest('-S');
    await t.waitFor(/PAUSED[\s\S]*EIP 00007c00/);
    t.send(['F10']);
    await t.waitFor('EIP 00007c01');
    t.send(['F10']); // xor ax, ax: sets ZF and PF
    const s = await t.waitFor('EIP 00007c03');
    expect(s).toMatch(/EIP 00007c03 ----Z-P-/);
    expect(s).toMatch(/▶ 00007c03\s+mov ds, ax/);
    // EIP changed since the last stop: drawn in yellow; EBX did not.
    const e = t.capture(true);
    const yellow = (v: string): RegExp => new RegExp(`${ESC}\\[[0-9;]*(33|93|38;5;(3|11|226))m(${ESC}\\[[0-9;]*m)*${v}`);
    expect(e).toMatch(yellow('00007c03'));
    expect(e).not.toMatch(yellow('00000000'));
  });

  it('stops at an I/O breakpoint on the UART and shows the pending OUT', async () => {
    const { t } = runGuest('-S');
    await t.waitFor('PAUSED');
    t.type(':break io 0x3f8 w');
    t.send(['Enter']);
    await t.waitFor('I/O breakpoint 1: 0x03f8 w');
    t.send(['F5']);
    const s = await t.waitFor(/stopped: io-breakpoint 1: outb 0x03f8 \(com1 [^)]*\) <- 0x01/);
    expect(s).toContain('PAUSED');
    // The instruction whose request is pending is marked, IP is past it.
    await t.waitFor(/! [0-9a-f]{8}\s+out dx, al/);
    t.type('5');
    await t.waitFor(/Breakpoints[\s\S]*1 y io\s+03f8 w\s+hits 1/);
    // Continue: the next write to 3F8h is the first character, 'H'.
    t.send(['F5']);
    await t.waitFor(/io-breakpoint 1: outb 0x03f8 .*<- 0x48/);
  });

  it('runs to the next trap with F11', async () => {
    const { t } = runGuest('-S');
    await t.waitFor('PAUSED');
    t.send(['F11']);
    await t.waitFor(/stopped: .*outb 0x03f9/);
  });

  it('toggles a breakpoint at the disassembly cursor with F9 and stops there', async () => {
    const { t } = runGuest('-S');
    await t.waitFor(/▶ 00007c00/);
    t.send(['Tab']); // console → registers
    t.send(['Tab']); // → disassembly
    await t.waitFor(/┌─ 3 Disassembly/);
    t.send(['Down']);
    t.send(['Down']);
    t.send(['F9']);
    t.type('5');
    await t.waitFor(/1 y exec\s+00007c03/);
    const s = t.capture();
    expect(s).toMatch(/● .?00007c03/);
    t.send(['F5']);
    await t.waitFor(/stopped: breakpoint 1/);
    await t.waitFor(/▶ 00007c03/);
  });

  it('has a command line with completion and history, and a help overlay', async () => {
    const { t } = runGuest('-S');
    await t.waitFor('PAUSED');
    t.type(':info reg');
    t.send(['Tab']);
    await t.waitFor('(hvmon) info registers');
    t.send(['Enter']);
    await t.waitFor(/mode=real icount=0/);
    t.type(':');
    t.send(['Up']);
    await t.waitFor('(hvmon) info registers');
    t.send(['Escape']);
    // The bottom line is the hints again once the command line is closed.
    await t.waitFor((x) => x.trimEnd().split('\n').pop()!.startsWith('F5 cont'));
    t.type('?');
    await t.waitFor(/hvmon TUI keys[\s\S]*F5\s+c\s+continue/);
    t.type('x');
    await t.waitFor((s) => !s.includes('hvmon TUI keys'));
  });

  it('shows the trap log with a filter, the devices decoded and the vCPUs', async () => {
    const { t } = runGuest();
    await t.waitFor('Hello from hvmon!');
    t.type(':filter device com1 out');
    t.send(['Enter']);
    await t.waitFor(/Trap log[\s\S]*filter: device com1 out[\s\S]*outb 03f8\s+0a com1 THR/);
    t.type('6'); // hide the trap log
    t.type('7');
    await t.waitFor(/Devices[\s\S]*pic\s+│ pic \(i8259\)/);
    t.type('8');
    await t.waitFor(/vCPUs[\s\S]*#0 ● (running|halted)/);
  });

  it('passes keystrokes to the guest after Ctrl-]', async () => {
    const { t, name } = runGuest('-S');
    await t.waitFor('PAUSED');
    // Keys go to COM1 while the console shows serial (to the PS/2 keyboard on VGA).
    t.type(':console serial');
    t.send(['Enter']);
    await t.waitFor('(hvmon) console serial');
    await t.waitFor('Console: serial COM1');
    t.send(['C-]']);
    await t.waitFor('KEYS→GUEST');
    t.type('hi');
    // The guest never enabled the FIFO (16450 mode) nor reads RBR: 'h' waits in RBR, and 'i'
    // waits on the wire for room rather than overrunning it.
    let dev = '';
    await until(() => /rxBytes=1\b[\s\S]*wirePending=1\b/.test((dev = repl(name, 'info device com1'))), 20_000,
      () => `the UART to receive "h" and hold "i" (${dev})`);
    t.send(['C-]']);
    await t.waitFor('KEYS→MON');
  });

  it('uses a large terminal: console at VGA size beside the debugger panes', async () => {
    const { t } = runGuest('', 180, 50);
    const s = await t.waitFor(/Console: VGA text.*2 Registers/);
    expect(s.split('\n')[1].length).toBeGreaterThan(150);
    // Shrinking the terminal brings back the stacked layout.
    execFileSync('tmux', ['-L', t.server, 'resize-window', '-t', t.session, '-x', '80', '-y', '24']);
    await t.waitFor((x) => /Console: VGA text ─+┐/.test(x) && !/2 Registers/.test(x.split('\n')[1]));
  });

  it('stays responsive while the guest floods the serial port', async () => {
    // A boot sector that prints a line to COM1 forever, without waiting for THRE:
    //   cli; xor ax,ax; mov ds,ax; mov ss,ax; mov sp,7C00h; xor cx,cx
    //   l: mov si,msg; n: lodsb; test al,al; jz d; mov dx,3F8h; out dx,al; jmp n; d: inc cx; jmp l
    const code = Buffer.from('fa31c08ed88ed0bc007c31c9be1d7cac84c07406baf803eeebf541ebef', 'hex');
    const img = Buffer.alloc(512);
    code.copy(img);
    img.write('chatty guest line of text 0123456789\r\n\0', code.length, 'latin1');
    img.writeUInt16LE(0xaa55, 510);
    const file = join(box.dir, 'chatty.img');
    writeFileSync(file, img);
    const name = `tui${process.pid}x${++n}`;
    term = Tmux.start(`${box.shellEnv()} node ${HVMON} run ${file} --name ${name}`);
    const t = term;
    await t.waitFor(/chatty guest line of text 0123456789\s*│\n│chatty guest line/);
    await t.waitFor(/RUNNING.* [1-9][0-9.]*k? traps\/s/);
    t.type('?');
    await t.waitFor('hvmon TUI keys');
    t.type('x');
    await t.waitFor('Console: serial COM1');
    t.send(['F6']);
    await t.waitFor(/PAUSED/);
    t.send(['F5']);
    await t.waitFor(/RUNNING/);
  });

  it('gives the terminal back when killed', async () => {
    const name = `sig${process.pid}`;
    await box.startHost(name);
    term = Tmux.start(`${box.shellEnv()} node ${HVMON} attach ${name}`);
    await term.waitFor('Hello from hvmon!');
    const tuiPid = Number(execFileSync('tmux', ['-L', term.server, 'display-message', '-p', '-t', term.session, '#{pane_pid}'], { encoding: 'utf8' }));
    // The pane runs sh -c "…; echo; sleep": the TUI is the shell's child.
    const child = Number(execFileSync('pgrep', ['-P', String(tuiPid), '-f', 'hvmon.js attach'], { encoding: 'utf8' }).trim().split('\n')[0]);
    process.kill(child, 'SIGTERM');
    const after = await term.waitFor('[exited');
    expect(after).not.toContain('┌─ 1 Console');
    // Raw mode is off again: the terminal echoes what is typed, as a cooked tty does.
    term.type('echo-check');
    await term.waitFor('echo-check');
    expect(repl(name, 'info status')).toContain('running');
  });

  it('quits the VM from its own TUI after asking, and gives the terminal back', async () => {
    const { t, name } = runGuest();
    await t.waitFor('Hello from hvmon!');
    await until(() => box.hostPid(name) !== null, 20_000, 'the host record');
    const pid = box.hostPid(name)!;
    t.type('q');
    await t.waitFor('Quit the VM? (y/n)');
    t.type('n');
    await t.waitFor((s) => !s.includes('Quit the VM?'));
    t.type('q');
    await t.waitFor('Quit the VM? (y/n)');
    t.type('y');
    const s = await t.waitFor('[exited');
    // The alternate screen is gone: the shell's screen is back, without the TUI's frames.
    expect(s).not.toContain('┌─ 1 Console');
    await until(() => !alive(pid), 20_000, `the VM host ${name} to exit`);
  });
});

describe('hvmon attach', () => {
  it('detaches leaving the VM running, and shows its current state when attached again', async () => {
    const name = `att${process.pid}`;
    await box.startHost(name);
    const pid = box.hostPid(name)!;
    term = Tmux.start(`${box.shellEnv()} node ${HVMON} attach ${name}`);
    await term.waitFor('Hello from hvmon!');
    await term.waitFor('RUNNING');
    term.send(['F6']);
    await term.waitFor('PAUSED');
    term.type('q');
    const s = await term.waitFor('[exited 0]');
    expect(s).toContain('detached; the VM keeps running');
    expect(repl(name, 'info status')).toContain('VM status: paused');
    term.kill();

    term = Tmux.start(`${box.shellEnv()} node ${HVMON} attach ${name}`);
    await term.waitFor(/PAUSED[\s\S]*Hello from hvmon!/);
    term.send(['F5']);
    await term.waitFor('RUNNING');
    // Ctrl-A x: QEMU's key to quit the VM.
    term.send(['C-a']);
    term.type('x');
    await term.waitFor('[exited 0]');
    await until(() => !alive(pid), 20_000, 'the VM host to exit');
  });
});
