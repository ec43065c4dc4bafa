// The device-model worker's entry point: builds the DeviceHost, answers the machine's
// commands, and serves ioreqs until told to quit.

import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { BackendError, UsageError, errorMessage } from '../../common/errors.js';
import { DeviceHost } from './DeviceHost.js';
import { registerDeviceKind } from './registry.js';
import type { DaemonCommand, DaemonCommandBody, DaemonEvent, DaemonInit } from './protocol.js';

const { init, core } = workerData as { init: DaemonInit; core: MessagePort };
const main = parentPort!;
const emit = (e: DaemonEvent): void => main.postMessage(e);

let host: DeviceHost;
try {
  for (const p of init.plugins ?? []) {
    const mod = (await import(p)) as { register?(r: typeof registerDeviceKind): void };
    if (typeof mod.register !== 'function') throw new Error(`plugin ${p} has no register export`);
    mod.register(registerDeviceKind);
  }
  host = new DeviceHost(init, main, core);
} catch (e) {
  emit({ t: 'fatal', message: errorMessage(e), usage: e instanceof UsageError || e instanceof BackendError });
  process.exit(1);
}

function execute(cmd: DaemonCommandBody): unknown {
  switch (cmd.t) {
    case 'list':
      return host.listing();
    case 'inspect':
      return host.device(cmd.id).model.inspect();
    case 'reset':
      host.resetAll();
      return null;
    case 'snapshot':
      return Object.fromEntries([...host.devices].map(([id, d]) => [id, d.model.snapshot()]));
    case 'restore':
      for (const [id, s] of Object.entries(cmd.devices)) host.device(id).model.restore(s);
      return null;
    case 'input':
      host.inject(cmd.id, cmd.data);
      return null;
    case 'keys': {
      const kbd = host.device(cmd.id).model as unknown as { typeText?(t: string): void };
      if (!kbd.typeText) throw new Error(`device ${cmd.id} is not a keyboard`);
      kbd.typeText(cmd.text);
      return null;
    }
    case 'screen': {
      const vga = host.device(cmd.id).model as unknown as { screen?(): object; dirty?: number };
      if (!vga.screen) throw new Error(`device ${cmd.id} has no screen`);
      return { ...vga.screen(), generation: vga.dirty ?? 0 };
    }
    case 'peek':
      return host.peek(cmd.addr, cmd.length);
    case 'flush':
      host.flushOutput();
      return null;
    case 'quit':
      host.shutdown();
      return null;
  }
}

main.on('message', (cmd: DaemonCommand) => {
  try {
    // Posted writes the vCPU thread has published (it does before it reports a pause) land
    // before anything looks at a device: a screen read after `stop` shows every write.
    host.server.drainRing();
    emit({ t: 'reply', rid: cmd.rid, ok: true, result: execute(cmd) ?? null });
  } catch (e) {
    emit({ t: 'reply', rid: cmd.rid, ok: false, error: errorMessage(e) });
  }
});

emit({ t: 'ready' });
try {
  await host.serve();
} catch (e) {
  emit({ t: 'fatal', message: `device model stopped: ${errorMessage(e)}` });
  host.shutdown();
}
main.close();
