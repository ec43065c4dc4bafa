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
// The states live in three words, each stored by one side: REQ_STATE (READY with the request's
// sequence number, by the vCPU), RESP_STATE (RESP_READY with the number of the request
// answered, by the device model) and TAKEN (IN_PROCESS, by the device model, on a line of its
// own that the waiting vCPU does not poll). slotState() reads Xen's four states from them;
// RESP_READY → NONE is the vCPU reading the answer, with no store.
//
// Request and answer share one 64-byte cache line, as in Xen's ioreq_t: a round trip moves
// that one line there and back. That needs the buffer to start on a line, so it is a shared
// WebAssembly.Memory (page-aligned); a `new SharedArrayBuffer` is only 16-byte aligned (ours
// started 16 bytes into a page) and the slot's 64 bytes straddled two lines. Raw channel, no
// device: answer on a line of its own 1.5 M round trips/s; shared line unaligned 1.0-2.1 M/s,
// depending on where the process's buffer fell; shared line aligned 2.1 M/s.

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
  // batch, and the words above are read by the vCPU on every trap. SERVED and DRAINED have one
  // writer, the device model, and are bumped with plain stores; RING_FULL and SLEEPS, bumped
  // by the vCPUs, with Atomics.add.
  /** Requests served, for `info ioreq`. */
  SERVED = 32,
  /** Buffered writes drained. */
  DRAINED = 33,
  /** Times a vCPU found the ring full and fell back to a synchronous request. */
  RING_FULL = 34,
  /** Times a waiter had to sleep (Atomics.wait) rather than catching the answer by spinning. */
  SLEEPS = 35,
}
/** 256 bytes, so that slots start on a 128-byte boundary (see Slot) of the page-aligned buffer. */
export const HDR_WORDS = 64;

/**
 * Word indices inside a slot. Words 0-15 are one cache line: the request (stored by the vCPU)
 * and the answer (RESP_STATE, RESP_DATA, ERROR: by the device model). Words 32-47 are the
 * device model's alone (TAKEN, its timestamps), 128 bytes on so that they are not in the
 * shared line's aligned pair (CPUs fetch lines in pairs).
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
  RESP_STATE = 10,
  /** The value read. */
  RESP_DATA = 11,
  /** Nonzero when the device model failed the request; the text goes to the machine. */
  ERROR = 12,
  /** stateWord(seq, IN_PROCESS) once the device model has taken request seq (a plain store). */
  TAKEN = 32,
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
 * Float64 indices (of the slot's Float64 view) of the hop timestamps (ms, epoch): SUBMIT in
 * the shared line (words 14-15), PICKUP and DONE on the device model's line.
 */
export const enum SlotTime {
  SUBMIT = 7,
  PICKUP = 17,
  DONE = 18,
}
export const SLOT_HDR_BYTES = 256;
export const SLOT_DATA_BYTES = 4096;
export const SLOT_BYTES = SLOT_HDR_BYTES + SLOT_DATA_BYTES;

/**
 * Buffered ring: Xen's buffered_iopage, whose entries (buf_ioreq_t) are 8 bytes: type, size
 * and a 20-bit address in one word, the data in the other. Ours: word 0 is the address in bits
 * 0-27 (RING_ADDR_LIMIT: the VGA window, ports), the size (1, 2 or 4) in bits 28-30 and the
 * type in bit 31; word 1 is the data. A write whose address does not fit is made synchronous.
 * An entry of size 0 repeats the entry before it (a REP STOS, as Xen's ioreq carries a count):
 * word 1 more times, each at the next address, or the one before with bit 0 of word 0 (DF).
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
/** Word 0 of a ring entry that repeats the one before it (size 0); | RING_REPEAT_DOWN with DF. */
export const RING_REPEAT = 0;
export const RING_REPEAT_DOWN = 1;
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

/** The one WebAssembly API used here (Node has it; the project's type libraries do not declare it). */
const Wasm = (globalThis as unknown as {
  WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: true }) => { buffer: SharedArrayBuffer } };
}).WebAssembly;

/**
 * The shared buffer, page-aligned (see the top of this file): a shared WebAssembly.Memory's
 * buffer is a SharedArrayBuffer that starts on a page.
 */
export function createIoreqBuffer(vcpus: number): SharedArrayBuffer {
  const bytes = HDR_WORDS * 4 + vcpus * SLOT_BYTES + RING_WORDS * 4;
  const pages = Math.ceil(bytes / 65536);
  return new Wasm.Memory({ initial: pages, maximum: pages, shared: true }).buffer;
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
