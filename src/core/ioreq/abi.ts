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
// Departure: Xen keeps the state in one field that both sides store to. Here no cache line of
// a slot is stored to by both threads: the vCPU's line holds the request and REQ_STATE (READY
// with the request's sequence number); the device model's answer line holds the answer and
// RESP_STATE (RESP_READY with the number of the request answered); IN_PROCESS goes to TAKEN,
// on a line of the device model's that the waiting vCPU does not poll. slotState() reads the
// four states from the three words. RESP_READY → NONE is the vCPU reading the answer, with no
// store. With one line written by both, each side had to take the line back before it could
// write: two threads passing requests through the old slot ran 1.2-1.5x slower than through
// this one (in one process, alternating), except in some processes where the shared line ran
// at 1.5-2 M/s, 1.3x faster than this one there.

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
/** 256 bytes, so that slots start on a 128-byte boundary (see Slot). */
export const HDR_WORDS = 64;

/**
 * Word indices inside a slot, by the thread that stores to them: words 0-15 the vCPU, words
 * 32-47 (the answer) and 64-79 (its own) the device model. Each group is a cache line of its
 * own, 128 bytes from the next: CPUs fetch lines in aligned pairs, and with the lines 64 bytes
 * apart (a pair shared by both writers) round trips ran at 0.5-1.0 M/s against 1.3-1.6 M/s.
 */
export const enum Slot {
  /** stateWord(seq, READY), stored after every field of request seq. */
  REQ_STATE = 0,
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
  /** The value written. */
  DATA = 8,
  /** 1 while the vCPU sleeps waiting for the answer. */
  VCPU_SLEEPING = 9,
  /** stateWord(seq, RESP_READY), stored after the answer to request seq. */
  RESP_STATE = 32,
  /** The value read. */
  RESP_DATA = 33,
  /** Nonzero when the device model failed the request; the text goes to the machine. */
  ERROR = 34,
  /** stateWord(seq, IN_PROCESS) once the device model has taken request seq. */
  TAKEN = 64,
}

/** Request sequence numbers have 30 bits: a state word keeps the state in its low two. */
export const SEQ_MASK = 0x3fffffff;

/** The word that puts request `seq` in `state`. */
export function stateWord(seq: number, state: IoreqState): number {
  return ((seq << 2) | state) | 0;
}

/** The request sequence number in a state word. */
export function wordSeq(w: number): number {
  return w >>> 2;
}

/**
 * The slot's state in Xen's terms: NONE once the newest request is answered (or before the
 * first), IN_PROCESS while the device model works on it, READY before it has taken it.
 */
export function slotState(s: Int32Array): IoreqState {
  const req = wordSeq(Atomics.load(s, Slot.REQ_STATE));
  if (wordSeq(Atomics.load(s, Slot.RESP_STATE)) === req) return IoreqState.NONE;
  return wordSeq(Atomics.load(s, Slot.TAKEN)) === req ? IoreqState.IN_PROCESS : IoreqState.READY;
}

/**
 * Float64 indices (of the slot's Float64 view) of the hop timestamps (ms, epoch), each on the
 * line of the thread that takes it.
 */
export const enum SlotTime {
  SUBMIT = 6,
  DONE = 18,
  PICKUP = 34,
}
export const SLOT_HDR_BYTES = 384;
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
/**
 * 64 Ki entries (512 KiB): room for ~3 ms of posted writes, so that a device model that the
 * host deschedules for a time slice does not make the vCPU wait for it (a full ring turns the
 * next write synchronous, and that waits for the whole ring). Posted VGA writes, steady state,
 * interleaved: 13.8-19.7 M/s with 4096 entries (~100 full rings a second), 17.9-21.2 with 65536
 * (~8).
 */
export const RING_ENTRIES = 65536;
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
