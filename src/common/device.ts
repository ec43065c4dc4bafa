// The device-model contract. A model is pure: time, interrupt lines and backends are
// injected through DeviceContext, so the same file runs in the daemon, in the core or in a test.

import type { MappedRegion } from './io.js';
import type { DeviceState, JsonValue } from './vmstate.js';

export type PropValue = string | number | boolean;

/** One register as `info device` shows it, under its datasheet name. */
export interface RegisterView {
  name: string;
  /** Offset in the device's range (absent for internal registers). */
  offset?: number;
  value: number;
  /** Width in bits, for formatting. */
  width: number;
  /** Decoded bit fields, most significant first: { name: 'DLAB', value: 1 }. */
  bits?: { name: string; value: number; meaning?: string }[];
  note?: string;
}

export interface Inspection {
  id: string;
  kind: string;
  registers: RegisterView[];
  /** FIFOs and queues, oldest first. */
  queues?: Record<string, number[]>;
  counters?: Record<string, number>;
  /** Anything else worth showing (screen text, backend names). */
  extra?: Record<string, JsonValue>;
}

export interface DeviceModel {
  /** Stable instance id: the monitor's name, the snapshot key, the trace label. */
  readonly id: string;
  /** Chip name: "uart16550". */
  readonly kind: string;
  readonly props: Readonly<Record<string, PropValue>>;
  regions(): MappedRegion[];
  reset(): void;
  snapshot(): DeviceState;
  restore(s: DeviceState): void;
  inspect(): Inspection;
  /** Release backends (close files, sockets). */
  destroy?(): void;
}

/** An interrupt line as a device drives it: level-triggered from the device's side. */
export interface IrqLine {
  set(level: boolean): void;
}

export interface Timer {
  /** Fires once at the given time on the context's clock (ns); replaces any earlier setting. */
  setAt(ns: number): void;
  cancel(): void;
  readonly pending: boolean;
}

/** What the host gives a device model. */
export interface DeviceContext {
  /** Nanoseconds on the device model's clock (monotonic). */
  now(): number;
  createTimer(cb: () => void): Timer;
  /** ISA interrupt line n (0..15). */
  irq(n: number): IrqLine;
  /** Guest physical memory, for devices that move data into it. */
  dma: DmaMemory;
  /** Side effects outside the device (A20, reset, exit): see HostRequest. */
  request(r: HostRequest): void;
  /** An event for the monitor (disk write error, …). */
  event(name: string, data: Record<string, JsonValue>): void;
}

export interface DmaMemory {
  read(addr: number, into: Uint8Array): void;
  write(addr: number, from: Uint8Array): void;
}

/** Things only the machine can do, asked for by a device. */
export type HostRequest =
  | { kind: 'a20'; enabled: boolean }
  | { kind: 'reset' }
  | { kind: 'exit'; status: number }
  | { kind: 'map-memory'; base: number; size: number; read: 'ram' | 'rom' | 'none'; write: 'ram' | 'none' };

/** Character device backend (stdio, file, socket): bytes out, bytes in. */
export interface CharBackend {
  readonly name: string;
  write(data: Uint8Array): void;
  /** Input arrives through this callback; the device decides whether it can take it. */
  setInputHandler(cb: ((data: Uint8Array) => void) | null): void;
  close?(): void;
}

/** Block backend (raw image, copy-on-write overlay). Synchronous: the daemon owns its thread. */
export interface BlockBackend {
  readonly name: string;
  readonly size: number;
  readonly readOnly: boolean;
  read(offset: number, into: Uint8Array): void;
  /** Throws BackendError when the host write fails; the device turns it into an ATA error. */
  write(offset: number, from: Uint8Array): void;
  flush(): void;
  close?(): void;
}

/** Network backend: one Ethernet frame at a time. */
export interface NetBackend {
  readonly name: string;
  send(frame: Uint8Array): void;
  setReceiveHandler(cb: ((frame: Uint8Array) => void) | null): void;
  close?(): void;
}
