// `runTui({ target, onExit })`: the TUI of `hvmon run` and `hvmon attach`. It connects to the
// VM host's monitor socket like any other client, takes over the terminal (alternate screen,
// raw keys), and gives it back as it found it on every way out: detach, quit, the host going
// away, a signal, or a crash.
//
// Leaving: for `hvmon attach`, q (or :detach, Ctrl-A d) detaches and the VM keeps running;
// attaching again shows its current state. For `hvmon run` the TUI is the VM's own terminal,
// as QEMU's window is: q asks, then quits the VM; Ctrl-A x quits at once in either case.

import { PassThrough } from 'node:stream';
import { QmpClient } from '../monitor/client.js';
import { listHosts } from '../monitor/runtime.js';
import { appendHistory, loadHistory } from '../repl/history.js';
import { TuiStore } from './store.js';

export interface TuiOptions {
  target: string;
  onExit(): void;
}

const ENTER = '\x1b[?1049h\x1b[?25l';
const LEAVE = '\x1b[?25h\x1b[?1049l';

export async function runTui(o: TuiOptions): Promise<void> {
  // The VM may be resumed the moment this function first waits (hvmon run starts it paused,
  // calls runTui, then resumes): connect and subscribe to the output streams before anything
  // slow, such as loading ink and React, so the guest's first words reach the console.
  const client = await QmpClient.connect(o.target);
  const store = new TuiStore(client, { history: loadHistory(), saveHistory: appendHistory });
  await store.attach();

  // ink renders only the last frame when it believes it runs under CI (CI=true): right for
  // logs, wrong for a terminal the user is looking at. Decide before ink is loaded.
  if (process.stdout.isTTY) {
    delete process.env.CI;
    delete process.env.CONTINUOUS_INTEGRATION;
  }
  // React's development build checks and times every render (and keeps the timings): several
  // times the CPU and a heap that grows while a chatty guest prints. Use the production build
  // unless someone asked for another on purpose.
  process.env.NODE_ENV ??= 'production';
  const [{ render }, React, { App }, { Controller }, { decodeKeys }] = await Promise.all([
    import('ink'), import('react'), import('./App.js'), import('./controller.js'), import('./keys.js'),
  ]);
  const own = (await listHosts()).some((h) => h.pid === process.pid && (h.socket === o.target || `unix:${h.socket}` === o.target));
  store.setOwnHost(own);

  const out = process.stdout;
  const stdin = process.stdin;
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    try {
      if (stdin.isTTY) stdin.setRawMode(false);
    } catch {
      // The terminal may be gone (SIGHUP).
    }
    try {
      out.write(LEAVE);
    } catch {
      // As above.
    }
  };

  let finish: () => void = () => undefined;
  const done = new Promise<void>((r) => (finish = r));
  let ended = false;
  const end = (note?: string): void => {
    if (ended) return;
    ended = true;
    store.close();
    stdin.off('data', onData);
    stdin.pause();
    instance.unmount();
    restore();
    removeGuards();
    if (note) process.stderr.write(`[hvmon] ${note}\n`);
    client.close();
    finish();
    o.onExit();
  };

  const quitVm = (): void => {
    store.message('quitting the VM…');
    void client.execute('quit').catch(() => undefined).finally(() => end('the VM was stopped'));
  };
  const detach = (): void => {
    if (own) store.ask('Leaving this TUI stops the VM it runs. Quit the VM? (y/n)', quitVm);
    else end(`detached; the VM keeps running (hvmon attach ${o.target} to come back)`);
  };
  const controller = new Controller(store, { detach, quitVm });
  store.onDetach = detach;
  client.on('close', () => {
    if (!ended) setTimeout(() => end('the VM host has gone'), 300);
  });

  // Guards: whatever happens, the terminal is given back.
  const onCrash = (e: unknown): void => {
    restore();
    process.stderr.write(`hvmon: the TUI crashed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  };
  const onSignal = (): void => end();
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGINT'];
  const ownSignals = signals.filter((s) => process.listenerCount(s) === 0);
  process.on('exit', restore);
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  for (const s of ownSignals) process.on(s, onSignal);
  function removeGuards(): void {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    for (const s of ownSignals) process.off(s, onSignal);
  }

  out.write(ENTER);
  const size = (): { width: number; height: number } => ({
    width: Math.max(40, out.columns || 80),
    // One row short of the terminal: ink redraws a frame that fills the screen by clearing it.
    height: Math.max(10, (out.rows || 24) - 1),
  });
  // ink gets a stdin of its own that never speaks: the keys are read below, raw, so the guest
  // receives exact bytes and function keys keep their names.
  const inkStdin = new PassThrough() as unknown as NodeJS.ReadStream;
  const element = (): React.ReactElement => React.createElement(App, { store, ...size() });
  const instance = render(element(), { stdout: out, stdin: inkStdin, exitOnCtrlC: false, patchConsole: true, maxFps: 20, incrementalRendering: false });
  out.on('resize', () => {
    if (!ended) instance.rerender(element());
  });
  instance.waitUntilExit().catch((e: unknown) => onCrash(e));

  const onData = (d: Buffer | string): void => controller.input(typeof d === 'string' ? d : d.toString('utf8'), decodeKeys);
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.resume();

  try {
    await store.start();
  } catch (e) {
    end(`cannot read the VM's state: ${(e as Error).message}`);
  }
  return done;
}
