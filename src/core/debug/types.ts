// The debugger's shared vocabulary: breakpoint definitions as every client and the vCPU
// thread see them, stop reasons, and the pending request shown at an I/O or MMIO stop.

export type BreakpointType = 'exec' | 'watch' | 'io' | 'mmio' | 'interrupt';
export type AccessKind = 'r' | 'w' | 'rw';

export interface BreakpointDef {
  id: number;
  type: BreakpointType;
  /** exec: linear address; watch: start; io: first port; mmio: first address; interrupt: vector. */
  addr: number;
  /** Last address/port/vector covered (inclusive). */
  end: number;
  /** Direction for watch/io/mmio. */
  access: AccessKind;
  /** watch: physical or linear addresses. */
  space: 'phys' | 'linear';
  condition: string | null;
  /** Crossings still to be ignored (gdb's `ignore`). */
  ignore: number;
  temporary: boolean;
  enabled: boolean;
  /** Only this vCPU (undefined: any). */
  vcpu?: number;
  /** As the user wrote it, for `info breakpoints` ("0x3f8-0x3ff w if value & 0x80"). */
  origin: string;
}

/** The request a vCPU is stopped in front of, before the device model has seen it. */
export interface PendingIoreq {
  space: 'pio' | 'mmio';
  addr: number;
  size: 1 | 2 | 4;
  dir: 'read' | 'write';
  /** Write data (count 1), or null for a read. */
  value: number | null;
  count: number;
  /** Region (device) that will receive it, and the register name when known. */
  device: string | null;
  register: string | null;
}

export type StopReason =
  | 'pause' | 'step' | 'breakpoint' | 'watchpoint' | 'io-breakpoint' | 'mmio-breakpoint'
  | 'interrupt' | 'step-trap' | 'triple-fault' | 'shutdown' | 'device-error' | 'internal-error';

export interface StopInfo {
  vcpu: number;
  reason: StopReason;
  breakpoint?: number;
  ioreq?: PendingIoreq;
  /** Linear address of the instruction (exec break), or of the watched access. */
  addr?: number;
  vector?: number;
  errorCode?: number;
  /** Human-readable detail (triple fault, device error). */
  message?: string;
  /** Watch: the access size and direction. */
  size?: number;
  write?: boolean;
  /** What the stop is about, as text: "io-breakpoint 2: out 0x3f8 (com1 THR) <- 0x41". */
  text: string;
}
