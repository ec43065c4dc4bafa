// `hvmon run` options → MachineConfig. Flags are shaped like QEMU's so muscle memory carries
// over; every bad value is one clear line (UsageError), which the CLI turns into status 2.

import { UsageError } from './common/errors.js';
import type { MachineConfig } from './core/machine/Machine.js';
import type { ExtraDevice } from './core/machine/boards/pc.js';
import { parseDriveSpec } from './devices/backends/disk.js';
import { parseNetdevSpec } from './devices/backends/net.js';
import { parseEndpoint, type Endpoint } from './monitor/MonitorServer.js';

export interface RunOptions {
  memory?: string;
  smp?: string;
  bios?: string;
  kernel?: string;
  append?: string;
  drive?: string[];
  serial?: string[];
  device?: string[];
  global?: string[];
  netdev?: string[];
  qmp?: string[];
  gdb?: string;
  S?: boolean;
  display?: string;
  name?: string;
  daemonize?: boolean;
}

export interface RunPlan {
  machine: MachineConfig;
  qmp: Endpoint[];
  gdb: string | null;
  display: 'tui' | 'none';
  name: string | null;
  daemonize: boolean;
}

/** QEMU's -m: a number of MiB, or with a suffix K, M, G (also KiB, MB, …). */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`-m ${text}: expected a size such as 32, 64M or 1G`);
  const unit = { '': 1 << 20, k: 1 << 10, m: 1 << 20, g: 1 << 30, t: 2 ** 40 }[m[2].toLowerCase() as ''];
  const bytes = Math.round(parseFloat(m[1]) * unit);
  if (bytes < 1 << 20) throw new UsageError(`-m ${text}: a PC needs at least 1 MiB of RAM`);
  if (bytes > 3.5 * 2 ** 30) throw new UsageError(`-m ${text}: at most 3.5 GiB (no memory above 4 GiB)`);
  if (bytes % 4096 !== 0) throw new UsageError(`-m ${text}: must be a whole number of 4 KiB pages`);
  return bytes;
}

function parseNumber(key: string, v: string): number {
  const n = /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : /^\d+$/.test(v) ? parseInt(v, 10) : NaN;
  if (!Number.isFinite(n)) throw new UsageError(`${key}=${v}: expected a number (decimal or 0x hex)`);
  return n;
}

const CHARDEV = /^(stdio|null|vc|none|file:.+|tcp:[^,]*:\d+(,server)?(,nowait)?(,wait=(on|off))?|unix:[^,]+(,server)?(,nowait)?(,wait=(on|off))?)$/;

export function checkChardev(what: string, spec: string): string {
  if (!CHARDEV.test(spec)) {
    throw new UsageError(`${what} ${spec}: expected stdio, file:PATH, tcp:HOST:PORT[,server], unix:PATH[,server], vc or none`);
  }
  return spec === 'none' ? 'null' : spec;
}

/** `--device isa-debugcon,iobase=0x402,chardev=file:out.log` and friends. */
export function parseDevice(spec: string): ExtraDevice {
  const parts = spec.split(',');
  const kind = parts[0];
  const props: Record<string, number | string | boolean> = {};
  let chardev: string | undefined;
  const allowed: Record<string, string[]> = {
    'isa-debugcon': ['iobase', 'chardev', 'readback'],
    'isa-debug-exit': ['iobase', 'iosize'],
  };
  if (!allowed[kind]) throw new UsageError(`--device ${kind}: unknown device (hvmon adds isa-debugcon and isa-debug-exit; the PC's own devices are always there)`);
  for (const p of parts.slice(1)) {
    const eq = p.indexOf('=');
    if (eq < 0) throw new UsageError(`--device ${spec}: '${p}' should be KEY=VALUE`);
    const k = p.slice(0, eq);
    const v = p.slice(eq + 1);
    if (!allowed[kind].includes(k)) throw new UsageError(`--device ${kind}: unknown property '${k}' (known: ${allowed[kind].join(', ')})`);
    if (k === 'chardev') chardev = checkChardev(`--device ${kind},chardev=`, v);
    else props[k] = parseNumber(k, v);
  }
  if (props.iobase !== undefined && ((props.iobase as number) < 0 || (props.iobase as number) > 0xffff)) {
    throw new UsageError(`--device ${kind}: iobase ${props.iobase} is not a port number`);
  }
  if (kind === 'isa-debugcon') {
    props.iobase ??= 0xe9;
    chardev ??= 'vc';
  } else props.iobase ??= 0x501;
  return { kind, props, chardev };
}

/**
 * What --global may set: properties of the board's own devices that change how they behave
 * rather than where they sit (ports and IRQs are the board's).
 */
const GLOBALS: Record<string, Record<string, 'bool'>> = {
  vga: { posted: 'bool', textmode: 'bool' },
};

/** `--global vga.posted=off`: DEVICE.PROP=VALUE for a device of the board (QEMU's -global). */
export function parseGlobal(spec: string, into: Record<string, Record<string, boolean>>): void {
  const m = /^([\w-]+)\.([\w-]+)=(.*)$/.exec(spec);
  if (!m) throw new UsageError(`--global ${spec}: expected DEVICE.PROPERTY=VALUE`);
  const [, dev, prop, value] = m;
  const known = Object.entries(GLOBALS).flatMap(([d, ps]) => Object.keys(ps).map((p) => `${d}.${p}`)).join(', ');
  if (!GLOBALS[dev]?.[prop]) throw new UsageError(`--global ${dev}.${prop}: not a property --global sets (known: ${known})`);
  const on = ['on', 'true', 'yes', '1'].includes(value);
  if (!on && !['off', 'false', 'no', '0'].includes(value)) throw new UsageError(`--global ${spec}: expected on or off`);
  (into[dev] ??= {})[prop] = on;
}

export function buildRunPlan(image: string | undefined, o: RunOptions): RunPlan {
  const ramSize = parseSize(o.memory ?? '32');
  const vcpus = o.smp === undefined ? 1 : Number(o.smp);
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > 8) throw new UsageError(`--smp ${o.smp}: expected 1-8`);
  if (o.bios && o.kernel) throw new UsageError('--bios and --kernel cannot be used together');
  if (o.append !== undefined && !o.kernel) throw new UsageError('--append needs --kernel');
  const drives: string[] = [];
  const slots: (string | null)[] = [null, null, null, null];
  if (image) slots[0] = `file=${image}`;
  for (const d of o.drive ?? []) {
    const spec = parseDriveSpec(d);
    const idx = spec.index ?? slots.findIndex((x) => x === null);
    if (idx < 0) throw new UsageError(`--drive ${d}: all four IDE positions are taken`);
    if (slots[idx] !== null) throw new UsageError(`--drive ${d}: IDE position ${idx} is already taken${idx === 0 && image ? ` by ${image}` : ''}`);
    slots[idx] = d;
  }
  for (let i = 0; i < 4; i++) drives.push(slots[i] ?? '');
  while (drives.length && drives[drives.length - 1] === '') drives.pop();
  const display = o.display ?? 'tui';
  if (display !== 'tui' && display !== 'none') throw new UsageError(`--display ${display}: expected tui or none`);
  const serial = (o.serial ?? []).map((s, i) => checkChardev(`--serial`, s) + (i > 1 ? '' : ''));
  if (serial.length > 2) throw new UsageError('--serial: at most two serial ports (COM1, COM2)');
  for (const n of o.netdev ?? []) parseNetdevSpec(n);
  const globals: Record<string, Record<string, boolean>> = {};
  for (const g of o.global ?? []) parseGlobal(g, globals);
  const qmp = (o.qmp ?? []).map((q) => parseEndpoint(q));
  if (o.gdb !== undefined) parseEndpoint(o.gdb.replace(/^tcp::/, 'tcp:127.0.0.1:'), '--gdb');
  if (o.name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(o.name)) throw new UsageError(`--name ${o.name}: letters, digits, '.', '_' and '-' only`);
  let boot: MachineConfig['boot'];
  if (o.bios) boot = { kind: 'bios', path: o.bios };
  else if (o.kernel) boot = { kind: 'kernel', path: o.kernel, cmdline: o.append ?? '' };
  else if (image) boot = { kind: 'bootsector', image };
  else {
    const first = drives.find((d) => d);
    if (!first) throw new UsageError('nothing to run: give a disk IMAGE, --drive, --bios or --kernel');
    boot = { kind: 'bootsector', image: parseDriveSpec(first).file };
  }
  return {
    machine: {
      ramSize, vcpus, boot, startPaused: o.S ?? false,
      pc: {
        ramSize, serial: [serial[0] ?? 'vc', serial[1] ?? 'null'],
        drives: drives.map((d) => d), netdevs: o.netdev ?? [], extra: (o.device ?? []).map(parseDevice),
        ...(Object.keys(globals).length ? { globals } : {}),
      },
    },
    qmp, gdb: o.gdb ?? null, display, name: o.name ?? null, daemonize: o.daemonize ?? false,
  };
}
