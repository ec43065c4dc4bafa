// The region interface every bus speaks: devices see offsets inside their own range, never
// absolute addresses; where a region sits is decided by whoever maps it (boards/pc.ts).

import type { AccessSize, Space } from './types.js';

export interface IoRegionOps {
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
  /**
   * Optional string I/O (REP INS/OUTS): `count` accesses of `size` bytes to the same offset.
   * Devices with a data port (IDE, NE2000) implement it to move a sector in one call.
   */
  readRep?(offset: number, size: AccessSize, count: number, into: Uint8Array): void;
  writeRep?(offset: number, size: AccessSize, count: number, from: Uint8Array): void;
  /**
   * Optional: what read() would return, without what a read does besides (a latch loaded, a
   * counter bumped, a FIFO popped): the debugger's view of device memory (`xp`, gdb's `x`).
   * Only memory-like regions implement it; a register whose read changes the device does not.
   */
  peek?(offset: number, size: AccessSize): number;
}

export interface IoRegion {
  /** Device id owning the region ("com1"), optionally with a suffix ("ide0.ctl"). */
  name: string;
  space: Space;
  size: number;
  ops: IoRegionOps;
  /**
   * Access sizes the device implements. The bus splits wider accesses into several of
   * `max` bytes and widens narrower ones to `min` bytes, as QEMU's memory core does.
   * Default {min: 1, max: 4}: the device takes every size itself.
   */
  impl?: { min: AccessSize; max: AccessSize };
  /** Writes may be posted (buffered, in order) rather than waited for: the VGA window. */
  posted?: boolean;
  /** Register names by offset, for the trap log and breakpoints ("THR/RBR", "LSR"). */
  registerName?(offset: number, dir: 'read' | 'write'): string | undefined;
}

export interface MappedRegion {
  region: IoRegion;
  base: number;
}
