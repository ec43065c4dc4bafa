// Messages between the machine (main thread) and the device-model daemon.

import type { Inspection, PropValue } from '../../common/device.js';
import type { DeviceState, JsonValue } from '../../common/vmstate.js';
import type { SharedMemoryDesc } from '../../core/memory/GuestMemory.js';

/** One device as the board wires it. Backends are given as QEMU-like specs. */
export interface DeviceSpec {
  kind: string;
  id: string;
  props: Record<string, PropValue>;
  /** Character backend: stdio | file:PATH | tcp:HOST:PORT[,server] | unix:PATH[,server] | null | vc. */
  chardev?: string;
  /** Disks for an IDE channel: [master, slave], each a --drive spec or null. */
  drives?: (string | null)[];
  /** Network backend spec for a NIC. */
  netdev?: string;
  /** RTC/CMOS: bytes the board's setup fills in ([index, value]), after the memory size. */
  cmos?: [number, number][];
  /** RTC/CMOS: RAM below 4 GiB, for the memory-size bytes. */
  memorySize?: number;
}

export interface DaemonInit {
  mem: SharedMemoryDesc;
  ioreq: SharedArrayBuffer;
  vcpus: number;
  devices: DeviceSpec[];
  /** Modules whose `register(registerDeviceKind)` export adds device kinds (tests use it). */
  plugins?: string[];
}

export type DaemonCommandBody =
  | { t: 'list' }
  | { t: 'inspect'; id: string }
  | { t: 'reset' }
  | { t: 'snapshot' }
  | { t: 'restore'; devices: Record<string, DeviceState> }
  | { t: 'input'; id: string; data: Uint8Array }
  | { t: 'keys'; id: string; text: string }
  | { t: 'screen'; id: string }
  /** Device memory as reads would show it, without their side effects (see IoRegionOps.peek). */
  | { t: 'peek'; addr: number; length: number }
  /** Answered after every byte of device output produced so far has been sent (it goes first). */
  | { t: 'flush' }
  | { t: 'quit' };

export type DaemonCommand = DaemonCommandBody & { rid: number };

/** The answer to `peek`: `known[i]` is 1 where a device showed byte i, 0 where data[i] is only 0xFF. */
export interface DevicePeek {
  data: Uint8Array;
  known: Uint8Array;
}

export interface DeviceListing {
  id: string;
  kind: string;
  props: Record<string, PropValue>;
  regions: { space: 'pio' | 'mmio'; base: number; size: number; name: string }[];
  backends: string[];
}

export type DaemonEvent =
  | { t: 'reply'; rid: number; ok: true; result: unknown }
  | { t: 'reply'; rid: number; ok: false; error: string }
  | { t: 'ready' }
  /** The daemon cannot go on. `usage`: the user's input (a file, a spec) is at fault. */
  | { t: 'fatal'; message: string; usage?: boolean }
  /** A device model threw while handling a guest access. */
  | { t: 'device-error'; device: string; message: string }
  /** A device asked for something only the machine can do. */
  | { t: 'request'; device: string; kind: 'reset' }
  | { t: 'request'; device: string; kind: 'exit'; status: number }
  /** Bytes a device sent to its character backend (serial, debugcon), batched. */
  | { t: 'output'; device: string; data: Uint8Array }
  | { t: 'event'; device: string; name: string; data: Record<string, JsonValue> }
  /** The VGA screen changed (generation counter). */
  | { t: 'screen-dirty'; device: string };

export type { Inspection };
