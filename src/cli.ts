// The hvmon command: run | attach | repl | ls. Bad flags and bad values print one clear line
// and exit with status 2; a guest's isa-debug-exit write exits with (value << 1) | 1, as QEMU.

import { Command, CommanderError, Option } from 'commander';
import { HvmonError, UsageError, errorMessage } from './common/errors.js';
import { Machine } from './core/machine/Machine.js';
import { PlainConsole } from './console.js';
import { Monitor, Session } from './monitor/Monitor.js';
import { endpointText, MonitorServer } from './monitor/MonitorServer.js';
import { defaultSocket, freeName, listHosts, removeHostRecord, runtimeDir, writeHostRecord } from './monitor/runtime.js';
import { socketAlive } from './monitor/MonitorServer.js';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildRunPlan, type RunOptions } from './runConfig.js';

type GdbModule = { startGdbStub(monitor: Monitor, spec: string): Promise<{ listening: string; close(): Promise<void> }> };

async function startGdb(monitor: Monitor, spec: string): Promise<{ listening: string; close(): Promise<void> }> {
  let mod: GdbModule;
  try {
    mod = (await import('./monitor/gdbstub/index.js')) as GdbModule;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') throw new HvmonError('this build of hvmon has no gdb stub');
    throw e;
  }
  return mod.startGdbStub(monitor, spec);
}

type TuiModule = { runTui: ((o: { target: string; onExit(): void }) => Promise<void>) | null };

/** The TUI is loaded only when used: a plain run never pays for ink and React. */
async function loadTui(): Promise<TuiModule> {
  try {
    return (await import('./tui/run.js')) as TuiModule;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return { runTui: null };
    throw e;
  }
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function fail(e: unknown): never {
  const usage = e instanceof UsageError;
  process.stderr.write(`hvmon: ${errorMessage(e)}\n`);
  process.exit(usage ? 2 : 1);
}

/**
 * --daemonize: the same command again as a detached child with a plain console whose output
 * goes to NAME.log in the runtime directory; the parent returns once the monitor answers.
 */
async function daemonize(name: string): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a !== '--daemonize');
  const log = join(runtimeDir(), `${name}.log`);
  const fd = openSync(log, 'w', 0o600);
  const child = spawn(process.execPath, [fileURLToPath(new URL('../bin/hvmon.js', import.meta.url)), ...args, '--display', 'none', '--name', name], {
    detached: true, stdio: ['ignore', fd, fd], cwd: process.cwd(), env: process.env,
  });
  closeSync(fd);
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? 1));
  const socket = defaultSocket(name);
  const t0 = Date.now();
  while (exited === null && !(await socketAlive(socket))) {
    if (Date.now() - t0 > 30_000) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (exited !== null || !(await socketAlive(socket))) {
    const tail = readFileSync(log, 'utf8').trim().split('\n').slice(-5).join('\n');
    process.stderr.write(`hvmon: the VM host did not start${tail ? `:\n${tail}` : ''}\n`);
    process.exit(exited === 2 ? 2 : 1);
  }
  child.unref();
  process.stdout.write(`${name}: running in the background (pid ${child.pid}); monitor on ${socket}; output in ${log}\n`);
  process.exit(0);
}

async function run(image: string | undefined, o: RunOptions): Promise<void> {
  let plan;
  try {
    plan = buildRunPlan(image, o);
  } catch (e) {
    fail(e);
  }
  const name = plan.name ?? (await freeName());
  if (plan.daemonize) return daemonize(name);
  let machine: Machine;
  try {
    // The VM starts paused so that the monitor, its sockets and the console are in place
    // before the first instruction: no early output or event is lost. -S keeps it paused.
    machine = await Machine.start({ ...plan.machine, startPaused: true });
  } catch (e) {
    fail(e instanceof HvmonError ? e : new HvmonError(errorMessage(e)));
  }
  let quitting = false;
  const gdbStubs: { close(): Promise<void> }[] = [];
  const monitor: Monitor = new Monitor(machine, {
    name,
    onQuit: () => void shutdown(0),
    startGdb: async (spec) => {
      const stub = await startGdb(monitor, spec);
      gdbStubs.push(stub);
      return stub.listening;
    },
  });
  const server = new MonitorServer(monitor);
  const socket = defaultSocket(name);
  try {
    await server.listen({ kind: 'unix', path: socket });
    for (const q of plan.qmp) await server.listen(q);
    if (plan.gdb) await monitor.hooks.startGdb!(plan.gdb);
  } catch (e) {
    await machine.quit();
    fail(e);
  }
  writeHostRecord({
    name, pid: process.pid, socket, started: new Date().toISOString(), guest: image ?? o.bios ?? o.kernel ?? '',
    tcp: server.endpoints.filter((x) => x.kind === 'tcp').map(endpointText),
  });

  let console_: PlainConsole | null = null;
  async function shutdown(status: number): Promise<void> {
    if (quitting) return;
    quitting = true;
    console_?.stop();
    for (const g of gdbStubs) await g.close().catch(() => undefined);
    await machine.quit().catch(() => undefined);
    monitor.close();
    await server.close().catch(() => undefined);
    removeHostRecord(name);
    process.exit(status);
  }
  machine.on('exit', (status) => {
    // Output already on its way to stdout is flushed by process.exit's final write.
    void shutdown(status);
  });
  process.on('SIGINT', () => void shutdown(130));
  process.on('SIGTERM', () => void shutdown(143));
  process.on('SIGHUP', () => void shutdown(129));

  const session = new Session(monitor, 'console');
  const vcDevices = plan.machine.pc.serial[0] === 'vc' ? ['com1'] : [];
  for (const e of plan.machine.pc.extra) if (e.chardev === 'vc') vcDevices.push(`${e.kind === 'isa-debugcon' ? 'debugcon' : e.kind}${plan.machine.pc.extra.filter((x) => x.kind === e.kind).indexOf(e)}`);
  process.stderr.write(`[hvmon] ${name}: ${machine.plan.describe}; monitor on ${socket}${server.endpoints.length > 1 ? ' and ' + server.endpoints.slice(1).map(endpointText).join(', ') : ''}\n`);
  if (plan.display === 'tui' && process.stdout.isTTY && process.stdin.isTTY) {
    const { runTui } = await loadTui();
    if (runTui) {
      const tui = runTui({ target: socket, onExit: () => void shutdown(0) });
      if (!plan.machine.startPaused) await machine.resume();
      await tui;
      return;
    }
  }
  console_ = new PlainConsole(session, { devices: vcDevices, inputDevice: vcDevices.includes('com1') ? 'com1' : null, onQuit: () => void shutdown(0) });
  console_.start();
  if (!plan.machine.startPaused) await machine.resume();
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('hvmon')
    .description('A hypervisor for unmodified x86 guests, with a monitor and debugger attached')
    .version('0.1.0')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str.replace(/^error: /, 'hvmon: ')) });

  program
    .command('run')
    .description('start a VM host running a guest, with the monitor attached')
    .argument('[image]', 'disk image: primary IDE master, and booted by the built-in loader unless --bios/--kernel')
    .option('-m, --memory <size>', 'RAM (MiB, or with K/M/G suffix)', '32')
    .option('--smp <n>', 'number of vCPUs')
    .option('--bios <file>', 'firmware ROM at the top of the first MiB and of 4 GiB (as QEMU -bios)')
    .option('--kernel <file>', 'Multiboot kernel (as QEMU -kernel)')
    .option('--append <cmdline>', 'kernel command line')
    .option('--drive <spec>', 'file=F[,format=raw][,readonly=on][,snapshot=on][,index=N]', collect)
    .option('--serial <spec>', 'COM1 then COM2: stdio | file:F | tcp:HOST:PORT[,server] | unix:F[,server] | vc | none', collect)
    .option('--device <spec>', 'isa-debugcon,iobase=N,chardev=SPEC | isa-debug-exit,iobase=N', collect)
    .option('--global <spec>', 'DEVICE.PROP=on|off for the board\'s devices: vga.posted (VGA memory writes posted, default on), vga.textmode', collect)
    .option('--netdev <spec>', 'udp,listen=PORT,peer=HOST:PORT[,pcap=F][,mac=MAC]: adds an NE2000', collect)
    .option('--qmp <spec>', 'another monitor socket: unix:PATH | tcp:127.0.0.1:PORT', collect)
    .option('--gdb <spec>', 'gdb stub: tcp::PORT (loopback) or tcp:HOST:PORT')
    .option('-S', 'start with the vCPUs paused')
    .addOption(new Option('--display <kind>', 'tui (default) or none (plain console)'))
    .option('--name <name>', 'name of this VM host for hvmon ls / attach')
    .option('--daemonize', 'run in the background (attach later with hvmon attach NAME)')
    .action((image: string | undefined, o: RunOptions) => run(image, o));

  program
    .command('ls')
    .description('list the running VM hosts and their monitor sockets')
    .action(async () => {
      const hosts = await listHosts();
      if (!hosts.length) {
        process.stdout.write('no VM hosts are running\n');
        return;
      }
      for (const h of hosts) process.stdout.write(`${h.name.padEnd(10)} pid ${String(h.pid).padEnd(8)} ${h.socket}  ${h.guest}\n`);
    });

  program
    .command('repl')
    .description('a line REPL on a VM host\'s monitor')
    .argument('<socket>', 'NAME from hvmon ls, a socket path, unix:PATH or tcp:HOST:PORT')
    .option('-c, --command <cmd>', 'run this command (repeatable) and exit', collect)
    .option('-f, --file <script>', 'run the commands in this file and exit')
    .action(async (target: string, o: { command?: string[]; file?: string }) => {
      const { runRepl } = await import('./repl/repl.js');
      process.exitCode = await runRepl(target, o);
    });

  program
    .command('attach')
    .description('attach the TUI to a running VM host')
    .argument('<socket>', 'NAME from hvmon ls, a socket path, unix:PATH or tcp:HOST:PORT')
    .action(async (target: string) => {
      const { runTui } = await loadTui();
      if (!runTui) fail(new HvmonError('this build of hvmon has no TUI; use hvmon repl'));
      const { resolveTarget } = await import('./monitor/runtime.js');
      await runTui({ target: await resolveTarget(target), onExit: () => process.exit(0) });
    });
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
      process.exit(2);
    }
    fail(e);
  }
}

await main(process.argv);
