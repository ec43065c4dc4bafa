// Messages between the machine (main thread) and the vCPU thread. Commands carry an id and
// get exactly one reply; events flow the other way unasked. All plain data (structured clone).

import type { CpuState } from './CpuState.js';
import type { BreakpointDef, StopInfo } from '../debug/types.js';
import type { DeviceState } from '../../common/vmstate.js';
import type { Inspection } from '../../common/device.js';
import type { SharedMemoryDesc } from '../memory/GuestMemory.js';
import type { TranslateResult } from './VcpuBackend.js';

export type IoreqAction = 'let' | 'set' | 'answer' | 'skip';

export type VcpuCommandBody =
  | { t: 'pause'; vcpu?: number; quiet?: boolean }
  | { t: 'cont'; vcpu?: number; quiet?: boolean }
  | { t: 'step'; vcpu: number; count: number }
  | { t: 'step-trap'; vcpu: number }
  | { t: 'get-state'; vcpu: number }
  | { t: 'set-state'; vcpu: number; state: CpuState }
  | { t: 'ioreq'; vcpu: number; action: IoreqAction; value?: number }
  | { t: 'breakpoints'; list: BreakpointDef[] }
  | { t: 'translate'; vcpu: number; addr: number; write: boolean }
  | { t: 'reset' }
  | { t: 'inspect'; id: string }
  | { t: 'snapshot' }
  | { t: 'restore'; devices: Record<string, DeviceState>; cpus: CpuState[] }
  | { t: 'stats' }
  /** A port or MMIO access made by the monitor (`i`, `o`), through the core's bus. */
  | { t: 'io'; space: 'pio' | 'mmio'; addr: number; size: 1 | 2 | 4; write: boolean; value: number }
  /** All-stop (false, the default) or non-stop (true): does a breakpoint stop every vCPU? */
  | { t: 'mode'; nonStop: boolean }
  /** Single-step until a return at this stack depth has executed (gdb's finish). */
  | { t: 'finish'; vcpu: number }
  /** Stop every vCPU because something outside them failed (a device timer threw). */
  | { t: 'fail'; reason: 'device-error'; message: string }
  | { t: 'quit' };

export type VcpuCommand = VcpuCommandBody & { rid: number };

export interface VcpuStats {
  icount: number[];
  traps: number;
  running: boolean[];
  halted: boolean[];
  /** Virtual clock, ns. */
  clock: number;
  /** The vCPU thread's V8 heap in use, bytes (flat while a guest runs: nothing is allocated per instruction or trap). */
  heapUsed: number;
}

export interface RegionInfo {
  index: number;
  name: string;
  space: 'pio' | 'mmio';
  base: number;
  size: number;
  inCore: boolean;
  posted: boolean;
  /** [read name, write name] per offset, for small regions. */
  registers?: [string | null, string | null][];
}

export type VcpuEvent =
  | { t: 'reply'; rid: number; ok: true; result: unknown }
  | { t: 'reply'; rid: number; ok: false; error: string }
  | { t: 'ready' }
  | { t: 'stop'; info: StopInfo }
  | { t: 'resume'; vcpu: number }
  | { t: 'temporary-hit'; id: number }
  | { t: 'regions'; list: RegionInfo[] }
  | { t: 'fatal'; message: string };

/** Core devices as the board wires them (props per device). */
export interface PlatformSpec {
  pic: Record<string, number>;
  pit: Record<string, number>;
  port61: Record<string, number>;
}

export interface VcpuThreadInit {
  mem: SharedMemoryDesc;
  ioreq: SharedArrayBuffer;
  vcpus: number;
  debug: SharedArrayBuffer;
  trapLog: SharedArrayBuffer;
  /** Int32 per breakpoint id: hit counts, shared with the debugger. */
  hits: SharedArrayBuffer;
  platform: PlatformSpec;
  /** CPU state to apply after every reset (a loader's entry state), or null for the reset vector. */
  boot: Partial<CpuState> | null;
  startPaused: boolean;
}

export type { Inspection, TranslateResult };
