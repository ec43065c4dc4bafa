// Device kinds the daemon can host, and how each one gets its backends. The board
// (core/machine/boards/pc.ts) says which devices exist and where; this file only knows how to
// build one of a kind.

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type {
  BlockBackend, CharBackend, DeviceContext, DeviceModel, NetBackend,
} from '../../common/device.js';
import { UsageError } from '../../common/errors.js';
import { openChardev } from '../backends/chardev.js';
import { openDrive } from '../backends/disk.js';
import { openNetdev } from '../backends/net.js';
import { DebugCon } from '../models/debugcon.js';
import { DebugExit } from '../models/debugexit.js';
import { FwCfg, pcFwCfgItems } from '../models/fwcfg.js';
import { I8042 } from '../models/i8042.js';
import { Ide } from '../models/ide.js';
import { Mc146818 } from '../models/mc146818.js';
import { Ne2000 } from '../models/ne2000.js';
import { I440fx } from '../models/piix.js';
import { Port92 } from '../models/port92.js';
import { PostCode } from '../models/postcode.js';
import { Uart16550 } from '../models/uart16550.js';
import { Vga } from '../models/vga.js';
import type { DeviceSpec } from './protocol.js';

export interface OpenedBackends {
  chardev?: CharBackend | null;
  disks?: (BlockBackend | null)[];
  net?: NetBackend | null;
}

export type Factory = (spec: DeviceSpec, ctx: DeviceContext, b: OpenedBackends) => DeviceModel;
export interface DeviceKind {
  make: Factory;
  chardev?: boolean;
  disks?: boolean;
  net?: boolean;
}

const FACTORIES: Record<string, DeviceKind> = {
  uart16550: { make: (s, c, b) => new Uart16550(s.id, s.props, c, b.chardev ?? null), chardev: true },
  mc146818: {
    make: (s, c) => {
      const rtc = new Mc146818(s.id, s.props, c);
      if (s.memorySize !== undefined) rtc.setMemorySize(s.memorySize);
      for (const [i, v] of s.cmos ?? []) rtc.setCmos(i, v);
      return rtc;
    },
  },
  i8042: { make: (s, c) => new I8042(s.id, s.props, c) },
  vga: { make: (s, c) => new Vga(s.id, s.props, c) },
  ide: { make: (s, c, b) => new Ide(s.id, s.props, c, { master: b.disks?.[0] ?? null, slave: b.disks?.[1] ?? null }), disks: true },
  ne2000: { make: (s, c, b) => new Ne2000(s.id, s.props, c, { net: b.net ?? null }), net: true },
  i440fx: { make: (s, c) => new I440fx(s.id, s.props, c) },
  'isa-debugcon': { make: (s, c, b) => new DebugCon(s.id, s.props, c, b.chardev ?? null), chardev: true },
  'isa-debug-exit': { make: (s, c) => new DebugExit(s.id, s.props, c) },
  postcode: { make: (s, c) => new PostCode(s.id, s.props, c) },
  port92: { make: (s, c) => new Port92(s.id, s.props, c) },
  fw_cfg: { make: (s, c) => new FwCfg(s.id, s.props, c, pcFwCfgItems(pcFwCfgOptions(s))) },
};

/** QEMU pc's fw_cfg content from the board's props; the VGA ROM file is read here, at start. */
function pcFwCfgOptions(s: DeviceSpec): Parameters<typeof pcFwCfgItems>[0] {
  const n = (v: unknown, d: number): number => (typeof v === 'number' ? v : d);
  const rom = typeof s.props.vgarom === 'string' ? s.props.vgarom : '';
  let vgaRoms: { name: string; data: Uint8Array }[] = [];
  if (rom) {
    try {
      vgaRoms = [{ name: basename(rom), data: new Uint8Array(readFileSync(rom)) }];
    } catch (e) {
      throw new UsageError(`VGA option ROM ${rom} cannot be read: ${(e as Error).message}`);
    }
  }
  return {
    ramSize: n(s.props.ram, 0), cpus: n(s.props.cpus, 1), vgaRoms, serconPort: n(s.props.sercon, 0),
    bootOrder: typeof s.props.bootorder === 'string' ? s.props.bootorder.split('\n').filter((x) => x) : [],
  };
}

export const DEVICE_KINDS = (): string[] => Object.keys(FACTORIES);

/**
 * Adds a device kind. The daemon calls the `register` export of every plugin module named in
 * DaemonInit.plugins with this function before it builds the board's devices.
 */
export function registerDeviceKind(kind: string, entry: DeviceKind): void {
  if (FACTORIES[kind]) throw new UsageError(`device kind ${kind} exists already`);
  FACTORIES[kind] = entry;
}

/**
 * Opens the spec's backends and builds the model. Character backends are wrapped (`wrapChar`)
 * so that the monitor sees their output; `vc` means "the monitor only".
 */
export function createDevice(
  spec: DeviceSpec,
  ctx: DeviceContext,
  wrapChar: (inner: CharBackend | null) => CharBackend,
): { model: DeviceModel; backends: OpenedBackends } {
  const f = FACTORIES[spec.kind];
  if (!f) throw new UsageError(`unknown device kind ${spec.kind} (known: ${DEVICE_KINDS().join(', ')})`);
  const backends: OpenedBackends = {};
  try {
    if (f.chardev) {
      const inner = !spec.chardev || spec.chardev === 'vc' ? null : openChardev(spec.chardev);
      backends.chardev = wrapChar(inner);
    }
    if (f.disks) backends.disks = (spec.drives ?? []).map((d) => (d ? openDrive(d) : null));
    if (f.net && spec.netdev) backends.net = openNetdev(spec.netdev);
    return { model: f.make(spec, ctx, backends), backends };
  } catch (e) {
    backends.chardev?.close?.();
    for (const d of backends.disks ?? []) d?.close?.();
    backends.net?.close?.();
    throw e;
  }
}
