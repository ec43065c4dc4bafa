// The ioreq ABI between the hypervisor core (vCPU side) and the device model (daemon side),
// after Xen's public/hvm/ioreq.h: one synchronous slot per vCPU with the same fields and the
// same four-state handshake, plus a buffered ring for posted writes.
//
// One SharedArrayBuffer holds everything:
//   header   Int32[HDR_WORDS]                     doorbell, IRQ levels, counters
//   slots    nvcpu × SLOT_BYTES                   one ioreq each (+ a page of string-I/O data)
//   ring     Int32[Ring.ENTRIES + RING_ENTRIES × 2]  buffered writes (read/write pointers first,
//                                                 each on its own cache line)
//
// State machine of a slot (Xen's): NONE → READY (vCPU published a request)
//   → IN_PROCESS (device model took it) → RESP_READY (answer written) → NONE (vCPU took it).
// A backward transition other than RESP_READY → NONE is a protocol error.

export const enum IoreqState {
  NONE = 0,
  READY = 1,
  IN_PROCESS = 2,
  RESP_READY = 3,
}

export const enum IoreqType {
  /** IOREQ_TYPE_PIO */
  PIO = 0,
  /** IOREQ_TYPE_COPY: MMIO */
  COPY = 1,
}

/** Word indices of the shared header. */
export const enum Hdr {
  /** Incremented (and notified) by a vCPU when it publishes work and the daemon sleeps. */
  DOORBELL = 0,
  /** 1 while the daemon is asleep on DOORBELL: only then does a vCPU pay for a notify. */
  DAEMON_SLEEPING = 1,
  /** Bit n = level of ISA IRQ n as driven by the device model. */
  IRQ_LEVELS = 2,
  /** Bumped after every IRQ_LEVELS change. */
  IRQ_SEQ = 3,
  /** Wake word of the vCPU thread: bumped + notified on IRQ changes and control messages. */
  VCPU_WAKE = 4,
  /** Bumped by the daemon after it posted control messages (map/unmap ranges, …) to the core. */
  CTL_SEQ = 5,
  /** 1 once the daemon has stopped serving (shut down or crashed). */
  DAEMON_DEAD = 10,
  /** Pause requests and debugger kicks for the vCPU thread (nonzero = leave run() soon). */
  KICK = 11,
  /** Bumped by the main thread after it posted a command to the vCPU thread. */
  MAIL = 12,
  /**
   * Per ISA line n, word IRQ_RISES + n counts rising edges: a line that went up and down
   * again before the core looked at IRQ_LEVELS still delivers its edge.
   */
  IRQ_RISES = 16,
  // Statistics for `info ioreq`, on a cache line of their own: the daemon bumps them on every
  // batch, and the words above are read by the vCPU on every trap.
  /** Requests served, for `info ioreq`. */
  SERVED = 32,
  /** Buffered writes drained. */
  DRAINED = 33,
  /** Times a vCPU found the ring full and fell back to a synchronous request. */
  RING_FULL = 34,
  /** Times a waiter had to sleep (Atomics.wait) rather than catching the answer by spinning. */
  SLEEPS = 35,
}
export const HDR_WORDS = 48;

/** Word indices inside a slot. */
export const enum Slot {
  STATE = 0,
  TYPE = 1,
  /** IoDir: 0 write, 1 read (Xen: IOREQ_WRITE 0, IOREQ_READ 1). */
  DIR = 2,
  SIZE = 3,
  COUNT = 4,
  /** Direction flag for string I/O (unused: data travels in the slot's data page). */
  DF = 5,
  /** 1 when COUNT × SIZE bytes of data are in the slot's data page rather than DATA. */
  DATA_IS_PTR = 6,
  ADDR = 7,
  DATA = 8,
  /** 1 while the vCPU sleeps waiting for RESP_READY. */
  VCPU_SLEEPING = 9,
  /** Sequence number of the request, so tests can see nothing is lost or reordered. */
  SEQ = 10,
  /** Nonzero when the device model failed the request; the text goes to the machine. */
  ERROR = 11,
}

/** Float64 indices (of the slot's Float64 view, after the Int32 words) of the hop timestamps (ms, epoch). */
export const enum SlotTime {
  SUBMIT = 8,
  PICKUP = 9,
  DONE = 10,
}
export const SLOT_HDR_BYTES = 128;
export const SLOT_DATA_BYTES = 4096;
export const SLOT_BYTES = SLOT_HDR_BYTES + SLOT_DATA_BYTES;

/**
 * Buffered ring: Xen's buffered_iopage, whose entries (buf_ioreq_t) are 8 bytes: type, size
 * and a 20-bit address in one word, the data in the other. Ours: word 0 is the address in bits
 * 0-27 (RING_ADDR_LIMIT: the VGA window, ports), the size (1, 2 or 4) in bits 28-30 and the
 * type in bit 31; word 1 is the data. A write whose address does not fit is made synchronous.
 * (Entries of 12 bytes cost ~7 % of the posted-write rate: the ring's lines are what moves
 * between the two threads' cores.) Unlike Xen's page the two pointers sit 64 bytes apart: the
 * consumer stores READ_PTR while the producer stores WRITE_PTR, and on one cache line each
 * store would evict the other side's copy.
 */
export const RING_ENTRIES = 4096;
export const RING_ADDR_LIMIT = 1 << 28;
export const enum Ring {
  READ_PTR = 0,
  WRITE_PTR = 16,
  ENTRIES = 32,
}
const RING_WORDS = Ring.ENTRIES + RING_ENTRIES * 2;

export interface IoreqLayout {
  buffer: SharedArrayBuffer;
  vcpus: number;
}

export function createIoreqBuffer(vcpus: number): SharedArrayBuffer {
  return new SharedArrayBuffer(HDR_WORDS * 4 + vcpus * SLOT_BYTES + RING_WORDS * 4);
}

/** Views on one ioreq buffer; both sides build the same views. */
export class IoreqViews {
  readonly hdr: Int32Array;
  readonly slots: Int32Array[] = [];
  readonly slotF64: Float64Array[] = [];
  readonly slotData: Uint8Array[] = [];
  readonly ring: Int32Array;

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly vcpus: number,
  ) {
    this.hdr = new Int32Array(buffer, 0, HDR_WORDS);
    for (let v = 0; v < vcpus; v++) {
      const off = HDR_WORDS * 4 + v * SLOT_BYTES;
      this.slots.push(new Int32Array(buffer, off, SLOT_HDR_BYTES / 4));
      this.slotF64.push(new Float64Array(buffer, off, SLOT_HDR_BYTES / 8));
      this.slotData.push(new Uint8Array(buffer, off + SLOT_HDR_BYTES, SLOT_DATA_BYTES));
    }
    this.ring = new Int32Array(buffer, HDR_WORDS * 4 + vcpus * SLOT_BYTES, RING_WORDS);
  }
}

const ORIGIN = performance.timeOrigin;

/** A wall-clock timestamp in ms that is comparable between threads (each has its own timeOrigin). */
export function stamp(): number {
  return ORIGIN + performance.now();
}
