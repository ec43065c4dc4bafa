// The TUI's components and key handling, rendered by ink-testing-library against a fake
// monitor connection: what is on the screen after events and keys.

import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from './App.js';
import { Controller } from './controller.js';
import { FakeLink, settle } from './fakeLink.test-helper.js';
import { decodeKeys } from './keys.js';
import { REDRAW_MS, TuiStore } from './store.js';

const W = 80;
const H = 23;
let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup) c();
  cleanup = [];
});

/** Lets the store's async work finish, publishes, and waits out ink's frame throttle (30 fps). */
async function drawn(store: TuiStore): Promise<void> {
  await settle();
  store.flush();
  await new Promise((r) => setTimeout(r, 60));
}

async function setup(opts: { ownHost?: boolean } = {}): Promise<{ link: FakeLink; store: TuiStore; ctl: Controller; frame: () => string; quits: string[]; press: (s: string) => Promise<void> }> {
  const link = new FakeLink();
  const store = new TuiStore(link, { ownHost: opts.ownHost });
  const quits: string[] = [];
  const ctl = new Controller(store, { detach: () => quits.push('detach'), quitVm: () => quits.push('quit') });
  await store.start();
  const r = render(<App store={store} width={W} height={H} />);
  cleanup.push(() => {
    r.unmount();
    store.close();
  });
  const frame = (): string => r.lastFrame() ?? '';
  const press = async (s: string): Promise<void> => {
    ctl.input(s, decodeKeys);
    await drawn(store);
  };
  return { link, store, ctl, frame, quits, press };
}

describe('the TUI screen', () => {
  it('fits 80×24: a status line, the panes, and the command line, no line wider than the terminal', async () => {
    const { frame } = await setup();
    const lines = frame().split('\n');
    expect(lines.length).toBe(H);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(W);
    expect(lines[0]).toMatch(/vm0\s+PAUSED\s+vCPU 0\/1 real 16/);
    expect(frame()).toMatch(/1 Console: serial COM1/);
    expect(frame()).toMatch(/EIP 00007c00/);
    expect(frame()).toMatch(/▶ 00007c00\s+nop/);
    expect(lines[H - 1]).toMatch(/F5 cont/);
  });

  it('shows serial output, and the VGA screen once it has text', async () => {
    const { link, store, frame } = await setup();
    link.event('SERIAL_OUTPUT', { device: 'com1', data: 'Hello over serial\r\n' });
    await settle(() => store.state.serialSeq > 0);
    await drawn(store);
    expect(frame()).toContain('Hello over serial');
    const text = Array.from({ length: 25 }, (_, y) => (y === 0 ? 'Hello on VGA'.padEnd(80) : ' '.repeat(80)));
    link.event('VGA_UPDATE', { device: 'vga', cols: 80, rows: 25, text, attrs: text.map(() => '1f'.repeat(80)), cursor: { x: 12, y: 0, visible: true }, generation: 1 });
    await drawn(store);
    expect(frame()).toMatch(/Console: VGA text/);
    expect(frame()).toContain('Hello on VGA');
  });

  it('keeps each character device apart and shows COM1 unless told otherwise', async () => {
    const { link, store, frame, press } = await setup();
    link.event('SERIAL_OUTPUT', { device: 'debugcon0', data: 'firmware log\n' });
    link.event('SERIAL_OUTPUT', { device: 'com1', data: 'guest says hi\n' });
    await settle(() => store.state.serialSeq >= 2);
    await drawn(store);
    // COM1 had not spoken, so the first device that did is shown; it stays until the user switches.
    expect(frame()).toMatch(/Console: serial DEBUGCON0/);
    expect(frame()).toContain('firmware log');
    expect(frame()).not.toContain('guest says hi');
    await press(':console serial com1\r');
    expect(frame()).toMatch(/Console: serial COM1/);
    expect(frame()).toContain('guest says hi');
    expect(frame()).not.toContain('firmware log');
  });

  it('scrolls the serial backlog in the focused console', async () => {
    const { link, store, frame, press } = await setup();
    link.event('SERIAL_OUTPUT', { device: 'com1', data: Array.from({ length: 40 }, (_, i) => `out ${i}`).join('\r\n') });
    await settle(() => store.state.serialSeq > 0);
    await drawn(store);
    expect(frame()).toContain('out 39');
    await press('\x1b[5~'); // PgUp: ten lines back
    expect(frame()).toMatch(/Console: serial COM1 \[10 lines back\]/);
    expect(frame()).toContain('out 29');
    expect(frame()).not.toContain('out 39');
  });

  it('redraws at a bounded rate however chatty the guest is', async () => {
    const { link, store } = await setup();
    let publishes = 0;
    store.subscribe(() => publishes++);
    const t0 = Date.now();
    for (let i = 0; i < 5000; i++) link.event('SERIAL_OUTPUT', { device: 'com1', data: `line ${i}\n` });
    await new Promise((r) => setTimeout(r, 3 * REDRAW_MS));
    const elapsed = Date.now() - t0;
    expect(store.state.serial.tail(2)).toEqual(['line 4999', '']);
    expect(publishes).toBeLessThanOrEqual(Math.ceil(elapsed / REDRAW_MS) + 1);
  });
});

describe('keys', () => {
  it('F10 steps and highlights what changed; F5 and F6 continue and pause', async () => {
    const { link, store, press, frame } = await setup();
    link.eax = 5;
    await press('\x1b[21~');
    expect(link.called('step')).toHaveLength(1);
    await settle(() => store.state.changed.has('eip'));
    await drawn(store);
    expect(frame()).toMatch(/EIP 00007c01/);
    expect([...store.state.changed].sort()).toEqual(expect.arrayContaining(['eax', 'eip']));
    await press('\x1b[15~');
    await press('\x1b[17~');
    expect(link.called('cont')).toHaveLength(1);
    expect(link.called('stop')).toHaveLength(1);
    await press('\x1b[23~');
    expect(link.called('step-trap')).toHaveLength(1);
  });

  it('F9 toggles an exec breakpoint at the disassembly cursor', async () => {
    const { link, store, press } = await setup();
    await press('\t\t'); // console → registers → disassembly
    expect(store.state.focus).toBe('disasm');
    await press('\x1b[B\x1b[B');
    expect(store.state.disasmCursor).toBe(0x7c02);
    await press('\x1b[20~');
    expect(link.called('break-insert')[0].args).toMatchObject({ type: 'exec', addr: 0x7c02 });
  });

  it('has a command line with completion, history and the monitor\'s output', async () => {
    const { link, store, press, frame } = await setup();
    await press(':info reg');
    expect(frame()).toContain('(hvmon) info reg');
    await press('\t');
    expect(store.state.cmdline.text).toBe('info registers ');
    await press('\r');
    expect(link.called('human-monitor-command')[0].args['command-line']).toBe('info registers');
    expect(frame()).toContain('ran info registers');
    await press(':\x1b[A');
    expect(store.state.cmdline.text).toBe('info registers');
    await press('\x1b');
    expect(store.state.cmdline.active).toBe(false);
  });

  it('Ctrl-] sends keystrokes to the guest, and back', async () => {
    const { link, store, press, frame } = await setup();
    await press('\x1d');
    expect(store.state.input).toBe('guest');
    expect(frame()).toMatch(/KEYS→GUEST/);
    await press('ab:\t');
    const w = link.called('serial-write');
    expect(w.map((c) => Buffer.from(String(c.args.data), 'base64').toString())).toEqual(['ab:\t']);
    await press('\x1d');
    expect(store.state.input).toBe('monitor');
  });

  it('toggles panes with digits, cycles focus with Tab, and opens the help with ?', async () => {
    const { store, press, frame } = await setup();
    await press('5');
    expect(store.state.visible.has('breakpoints')).toBe(true);
    expect(frame()).toMatch(/5 Breakpoints/);
    await press('5');
    expect(frame()).not.toMatch(/5 Breakpoints/);
    await press('?');
    expect(frame()).toMatch(/hvmon TUI keys/);
    await press('x');
    expect(frame()).not.toMatch(/hvmon TUI keys/);
  });

  it('q detaches from a remote host, and asks before quitting its own VM', async () => {
    const remote = await setup();
    await remote.press('q');
    expect(remote.quits).toEqual(['detach']);
    const own = await setup({ ownHost: true });
    await own.press('q');
    expect(own.frame()).toContain('Quit the VM? (y/n)');
    await own.press('n');
    expect(own.quits).toEqual([]);
    await own.press('qy');
    expect(own.quits).toEqual(['quit']);
    await own.press('\x01x');
    expect(own.quits).toEqual(['quit', 'quit']);
  });

  it('the memory pane follows a register, and the trap filter is set from the command line', async () => {
    const { link, store, press, frame } = await setup();
    await press(':mem esp\r');
    expect(store.state.mem.follow).toBe('esp');
    expect(frame()).toMatch(/Memory @esp/);
    // A 38-column pane: 4 bytes a row, so that the ASCII column fits.
    expect(frame()).toMatch(/00007c00 {2}48 65 6c 6c Hell/);
    expect(frame()).toMatch(/00007c04 {2}6f 00 00 00 o\.\.\./);
    await press(':filter device com1 out\r');
    expect(store.state.trapFilter).toEqual({ device: 'com1', dir: 'write' });
    expect(link.called('trap-log').pop()!.args).toMatchObject({ device: 'com1', dir: 'write' });
  });
});
