// The shapes of the monitor's answers that the TUI reads, as they travel on the wire. The TUI
// speaks only QMP (ARCHITECTURE.md: tui → monitor protocol), so answers whose types live
// beside core or device code are restated here as plain JSON views: the fields the TUI uses.

export type { BreakpointInfo, CpuView, StatusInfo, StopView, TrapView, VgaScreenView, QmpEvent } from '../monitor/protocol.js';

/** One line of `disassemble`. */
export interface DisasmLine {
  addr: number;
  ip: number;
  bytes: string;
  text: string;
  length: number;
}

/** One row of `device-list`. */
export interface DeviceRow {
  id: string;
  kind: string;
  props: Record<string, string | number | boolean>;
  regions: { space: 'pio' | 'mmio'; base: number; size: number; name: string }[];
  backends: string[];
}

/** What `device-inspect` returns: registers by datasheet name with decoded bits. */
export interface DeviceInspection {
  id: string;
  kind: string;
  registers: {
    name: string;
    offset?: number;
    value: number;
    width: number;
    bits?: { name: string; value: number; meaning?: string }[];
    note?: string;
  }[];
  queues?: Record<string, number[]>;
  counters?: Record<string, number>;
  extra?: Record<string, unknown>;
}

/** What `query-stats` returns. */
export interface StatsView {
  icount: number[];
  traps: number;
  running: boolean[];
  halted: boolean[];
  clock: number;
}

/** One row of `query-cpus-fast`. */
export interface CpuRow {
  'cpu-index': number;
  running: boolean;
  halted: boolean;
  icount: number;
  stop: import('../monitor/protocol.js').StopView | null;
}

/** What the TUI needs of a monitor connection; QmpClient is one, tests pass a fake. */
export interface MonitorLink {
  execute<T = unknown>(name: string, args?: Record<string, unknown>): Promise<T>;
  on(ev: 'event', fn: (e: import('../monitor/protocol.js').QmpEvent) => void): unknown;
  on(ev: 'close', fn: () => void): unknown;
  close(): void;
}
