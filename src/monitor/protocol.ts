// The monitor's wire vocabulary, shared by the server and every client (the REPL and the TUI
// import only this and client.ts). The framing is QMP's: one JSON object per line; a greeting;
// `qmp_capabilities` first; then {"execute", "arguments", "id"} → {"return"} or {"error":
// {"class", "desc"}} with the same id; and {"event", "data", "timestamp"} at any time.

export interface QmpGreeting {
  QMP: {
    version: { qemu: { major: number; minor: number; micro: number }; package: string };
    capabilities: string[];
  };
}

export interface QmpCommand {
  execute: string;
  arguments?: Record<string, unknown>;
  id?: unknown;
}

export type QmpErrorClass = 'GenericError' | 'CommandNotFound' | 'DeviceNotFound' | 'KVMMissingCap';

export interface QmpReturn {
  return: unknown;
  id?: unknown;
}

export interface QmpError {
  error: { class: QmpErrorClass; desc: string };
  id?: unknown;
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

export type QmpMessage = QmpGreeting | QmpReturn | QmpError | QmpEvent;

/** Events a client receives only after `subscribe`: they are streams, not state changes. */
export const STREAM_EVENTS = ['SERIAL_OUTPUT', 'VGA_UPDATE', 'TRAP'] as const;
export type StreamEvent = (typeof STREAM_EVENTS)[number];

/** What query-status returns (QEMU's shape). */
export interface StatusInfo {
  running: boolean;
  singlestep: boolean;
  status: 'running' | 'paused' | 'debug' | 'shutdown' | 'internal-error' | 'prelaunch';
}

/** What DEBUG_STOP and query-stop carry. */
export interface StopView {
  vcpu: number;
  reason: string;
  text: string;
  breakpoint?: number;
  addr?: number;
  vector?: number;
  errorCode?: number;
  message?: string;
  ioreq?: {
    space: 'pio' | 'mmio';
    addr: number;
    size: number;
    dir: 'read' | 'write';
    value: number | null;
    count: number;
    device: string | null;
    register: string | null;
  };
}

export interface BreakpointInfo {
  id: number;
  type: 'exec' | 'watch' | 'io' | 'mmio' | 'interrupt';
  addr: number;
  end: number;
  access: 'r' | 'w' | 'rw';
  space: 'phys' | 'linear';
  condition: string | null;
  ignore: number;
  temporary: boolean;
  enabled: boolean;
  vcpu?: number;
  origin: string;
  hits: number;
}

export interface VgaScreenView {
  cols: number;
  rows: number;
  /** One string per row (Unicode from CP437). */
  text: string[];
  /** Attribute bytes per row, as hex strings of 2 digits per cell. */
  attrs: string[];
  cursor: { x: number; y: number; visible: boolean };
  generation: number;
}

export interface CpuView {
  vcpu: number;
  mode: 'real' | 'v86' | 'prot16' | 'prot32';
  cpl: number;
  running: boolean;
  halted: boolean;
  /** Every register by name (eax… gs, eip, eflags, cr0…), as numbers. */
  regs: Record<string, number>;
  /** The full backend-neutral state (segments with descriptor caches, tables, DRs). */
  state: Record<string, unknown>;
}

export interface TrapView {
  seq: number;
  vcpu: number;
  ip: number;
  space: 'pio' | 'mmio';
  dir: 'read' | 'write';
  size: number;
  addr: number;
  value: number;
  count: number;
  device: string | null;
  register: string | null;
  inCore: boolean;
  failed: boolean;
  time: number;
  pickupUs: number | null;
  serviceUs: number | null;
  totalUs: number;
}
