// The vCPU backend contract. Both backends (the TypeScript interpreter and KVM) use KVM's
// completion model: run() returns at the next exit the run loop must handle, with the
// details in a reused `VcpuRun` record (like kvm_run, so an exit allocates nothing); an IN or
// an MMIO read is finished by the next run() after the loop has put the data in `exit.data`
// and called completeIo(). The interpreter is never re-entered from a device callback.

import type { CpuState } from './CpuState.js';

export const enum ExitReason {
  NONE = 0,
  /** Port I/O: exit.dir/addr(port)/size/count; OUT data in exit.data, IN fills exit.data. */
  IO = 1,
  /** Access outside RAM: exit.dir/addr/size; write data in exit.data[0..size). */
  MMIO = 2,
  /** HLT executed with nothing to wake it (the loop sleeps until an interrupt). */
  HLT = 3,
  /** Interrupt window open, as asked by setInterruptWindow(true): inject now. */
  IRQ_WINDOW = 4,
  /** requestExit(), the kick word, or the instruction budget: the loop has work to do. */
  INTR = 5,
  /** A debug event: exit.debug says which. */
  DEBUG = 6,
  /** The guest shut the CPU down: triple fault (exit.shutdown). */
  SHUTDOWN = 7,
  /** The backend cannot go on (an internal error, not the guest's fault): exit.message. */
  INTERNAL_ERROR = 8,
}

export const enum IoDir {
  /** Xen's IOREQ_WRITE: OUT, or an MMIO write. */
  WRITE = 0,
  /** Xen's IOREQ_READ: IN, or an MMIO read. */
  READ = 1,
}

export type DebugReason = 'step' | 'breakpoint' | 'watch' | 'vector';

/** The exit record. One per vCPU, reused: read it before the next run(). */
export class VcpuRun {
  reason: ExitReason = ExitReason.NONE;
  dir: IoDir = IoDir.WRITE;
  /** Port number (IO) or physical address (MMIO). */
  addr = 0;
  size: 1 | 2 | 4 = 1;
  /** Repeat count for string I/O (REP INS/OUTS); 1 otherwise. */
  count = 1;
  /** Data of the access, little-endian, count*size bytes. A page, as KVM's io data area. */
  readonly data = new Uint8Array(4096);
  /** Guest linear IP of the instruction that made the exit. */
  ip = 0;
  debug: DebugReason = 'step';
  /** Breakpoint address (linear) or watched access address. */
  debugAddr = 0;
  /** Watch hit: access size and direction. */
  watchSize = 0;
  watchWrite = false;
  /** Vector about to be delivered (debug 'vector'). */
  vector = 0;
  /** Error code that goes with that vector, or -1. */
  errorCode = -1;
  shutdown: 'triple-fault' | 'reset' | 'poweroff' = 'triple-fault';
  message = '';

  /** The data of a single access as a number. */
  value(): number {
    const d = this.data;
    return (d[0] | (d[1] << 8) | (d[2] << 16) | (d[3] << 24)) >>> 0;
  }

  setValue(v: number): void {
    const d = this.data;
    d[0] = v; d[1] = v >>> 8; d[2] = v >>> 16; d[3] = v >>> 24;
  }
}

export interface GuestDebug {
  /** Exit with DEBUG/'step' after every instruction. */
  singleStep: boolean;
  /** Exit with DEBUG/'vector' before delivering any interrupt or exception (step-trap). */
  catchAllVectors: boolean;
}

export type TranslateResult =
  | { ok: true; phys: number }
  | { ok: false; fault: string; errorCode: number };

export interface VcpuBackend {
  readonly kind: 'interp' | 'kvm';
  readonly exit: VcpuRun;
  /**
   * Runs until an exit. `budget` caps the instructions executed (the loop uses it to keep
   * timers and messages moving); ExitReason.INTR when it runs out.
   */
  run(budget: number): ExitReason;
  /** The data for the pending IN / MMIO read is in exit.data; the next run() finishes it. */
  completeIo(): void;
  /** Makes run() return INTR soon; safe from another thread via the kick word. */
  requestExit(): void;
  getState(): CpuState;
  setState(s: CpuState): void;
  /** Power-on state (the reset vector F000:FFF0, CS base FFFF0000). */
  reset(): void;
  /** Whether an external interrupt could be taken now (IF=1, no shadow). */
  readonly interruptible: boolean;
  /** Delivers an external interrupt vector at the next instruction boundary. */
  injectInterrupt(vector: number): void;
  injectNmi(): void;
  /** Ask for ExitReason.IRQ_WINDOW as soon as interruptible (KVM's request_interrupt_window). */
  setInterruptWindow(request: boolean): void;
  setGuestDebug(cfg: GuestDebug): void;
  /** Skip the exec-breakpoint check once at the current IP (resuming from a breakpoint). */
  skipBreakpointOnce(): void;
  /** Linear → physical through the guest's page tables, as the CPU would, without side effects. */
  translate(linear: number, write: boolean, user: boolean): TranslateResult;
  /** Instructions retired since reset. */
  readonly icount: number;
  /** Drop cached translations and compiled code: the memory map or A20 changed. */
  flushTlb(): void;
}
