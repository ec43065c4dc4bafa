// Both ends of the ioreq channel. The vCPU side publishes a request and waits for the answer;
// the device-model side takes requests, dispatches them and answers. Ordering rules (Xen's):
//  - a side writes every field of a request/response BEFORE the Atomics.store of its state
//    word (REQ_STATE, RESP_STATE: see abi.ts);
//  - the device model drains the buffered ring BEFORE it takes a synchronous request, so a
//    posted write always lands before any later read or write that waits for an answer.
// Waiting spins first (a round trip costs well under a microsecond when both threads are
// busy) and only then sleeps in Atomics.wait; a sleeper announces itself so that the other
// side pays for Atomics.notify only when someone is actually asleep.

import { HvmonError } from '../../common/errors.js';
import type { AccessSize } from '../../common/types.js';
import { IoDir } from '../vcpu/VcpuBackend.js';
import {
  Hdr, IoreqState, IoreqType, IoreqViews, RING_ADDR_LIMIT, RING_ENTRIES, RING_REPEAT, RING_REPEAT_DOWN, Ring, SEQ_MASK,
  SLOT_DATA_BYTES, Slot, SlotTime,
  slotState, stamp, stateWord, wordSeq,
} from './abi.js';

/** Spins before a waiter sleeps. ~20-50 µs of polling on current machines. */
const SPIN_LIMIT = 20000;
/** The serving loop reads the clock once per this many polls (a power of two). */
const POLLS_PER_CLOCK = 64;
/**
 * Iterations of a register-only loop between two polls of the serving loop: ~150 ns on the
 * machines measured (a count, not a time, so it shrinks with a faster CPU as the vCPU's own
 * turnaround does). Polling flat out, the device model read the slot's line again right after
 * each answer, while the vCPU was still between reading that answer and storing its next
 * request; the vCPU's stores then had to take the line back first, and the device model's
 * next look fetched it once more. Daemon round trips (bench modes 4-6, pause lengths switched
 * every 0.4 s in one machine): 1.28-1.69 M/s without the pause, 2.34-2.62 M/s with 20
 * iterations. Below ~16 the gain falls off a cliff (15: 1.5-2.0; 16: 1.6-1.8 where 20 gave
 * 1.9-2.2); 20, 25 and 30 measured alike, each ahead in some phases of the host, 40 and 50 no
 * better; 25 stays clear of the cliff. Posted writes alike with or without it.
 */
const POLL_PAUSE = 25;
let pauseSink = 0;

/** Busy-waits a little without touching shared memory (JS has no PAUSE instruction). */
function pause(n: number): void {
  let x = pauseSink;
  for (let i = 0; i < n; i++) x = (x * 31 + i) | 0;
  pauseSink = x;
}

export class DeviceModelGoneError extends HvmonError {}

/** One request as the device model sees it. */
export interface Ioreq {
  vcpu: number;
  type: IoreqType;
  dir: IoDir;
  addr: number;
  size: AccessSize;
  count: number;
  /** Write value (count 1) / read result is returned by the handler. */
  data: number;
  /** The slot's data page for count > 1: packed count*size bytes. */
  page: Uint8Array | null;
}

/**
 * Last request's hop timestamps (ms, epoch-based): HOP_SUBMIT, HOP_PICKUP, HOP_DONE. A typed
 * array, so that passing them on to the trap log boxes no doubles (an allocation per trap).
 */
export type HopTimes = Float64Array;
export const HOP_SUBMIT = 0;
export const HOP_PICKUP = 1;
export const HOP_DONE = 2;

// ---------------------------------------------------------------------------------------
// vCPU side
// ---------------------------------------------------------------------------------------

/** Wakes the device model if it sleeps (only then is a notify paid for). */
function ringDoorbell(hdr: Int32Array): void {
  if (Atomics.load(hdr, Hdr.DAEMON_SLEEPING) !== 0) {
    Atomics.add(hdr, Hdr.DOORBELL, 1);
    Atomics.notify(hdr, Hdr.DOORBELL);
  }
}

export class IoreqClient {
  private readonly _slot: Int32Array;
  private readonly _f64: Float64Array;
  private readonly _hdr: Int32Array;
  /** Sequence number of the last request published. */
  private _seq: number;
  /** A request of ours is published and not answered (known here without a look at the slot). */
  private _busy = false;
  private readonly _writer: RingWriter;
  /** Record hop timestamps (costs two clock reads per request). */
  timing = true;
  /** SUBMIT in the slot holds a stamp of ours. */
  private _stamped = false;
  readonly hops: HopTimes = new Float64Array(3);
  readonly page: Uint8Array;

  /** `writer`: the thread's producer end of the ring, shared by all of its clients. */
  constructor(
    views: IoreqViews,
    readonly vcpu: number,
    writer?: RingWriter,
  ) {
    this._slot = views.slots[vcpu];
    this._f64 = views.slotF64[vcpu];
    this._hdr = views.hdr;
    this._writer = writer ?? new RingWriter(views);
    this.page = views.slotData[vcpu];
    this._seq = wordSeq(Atomics.load(this._slot, Slot.REQ_STATE));
  }

  /** Is a request of ours waiting for its answer (the monitor's `io` command, say)? */
  get busy(): boolean {
    return this._busy;
  }

  /**
   * A synchronous request. For count > 1 the data travels in `page` (count*size bytes):
   * filled by the caller for writes, by the device model for reads. Returns the read value
   * (count 1) or 0. Throws DeviceModelGoneError if the daemon has stopped serving.
   */
  submit(type: IoreqType, dir: IoDir, addr: number, size: AccessSize, count: number, data: number): number {
    const s = this._slot;
    if (count * size > SLOT_DATA_BYTES) throw new HvmonError(`ioreq of ${count}×${size} bytes exceeds the slot's data page`);
    if (this._busy) throw new HvmonError(`ioreq slot ${this.vcpu} is busy (state ${slotState(s)})`);
    // Posted writes issued before this request must reach the device model first: it drains
    // what is published before it takes the request.
    this._writer.flush();
    s[Slot.TYPE] = type;
    s[Slot.DIR] = dir;
    s[Slot.SIZE] = size;
    s[Slot.COUNT] = count;
    s[Slot.DF] = 0;
    s[Slot.DATA_IS_PTR] = count > 1 ? 1 : 0;
    s[Slot.ADDR] = addr | 0;
    s[Slot.DATA] = data | 0;
    const seq = (this._seq = (this._seq + 1) & SEQ_MASK);
    // The device model stamps pickup and answer only when SUBMIT is set: an untimed request
    // clears a stamp left by an earlier timed one (else every later request paid for the two
    // clock reads of a timed one).
    if (this.timing) {
      this._f64[SlotTime.SUBMIT] = stamp();
      this._stamped = true;
    } else if (this._stamped) {
      this._f64[SlotTime.SUBMIT] = 0;
      this._stamped = false;
    }
    // Every field above is written before this store publishes the request.
    Atomics.store(s, Slot.REQ_STATE, stateWord(seq, IoreqState.READY));
    this._busy = true;
    ringDoorbell(this._hdr);
    this._await(stateWord(seq, IoreqState.RESP_READY));
    this._busy = false;
    const v = s[Slot.RESP_DATA] >>> 0;
    if (this.timing) {
      const h = this.hops;
      const f = this._f64;
      h[HOP_SUBMIT] = f[SlotTime.SUBMIT];
      h[HOP_PICKUP] = f[SlotTime.PICKUP];
      h[HOP_DONE] = f[SlotTime.DONE];
    }
    // RESP_READY → NONE: with the answer read the slot is free again, with no store (abi.ts).
    if (s[Slot.ERROR] !== 0) return this._failed(size);
    return v;
  }

  /** The device model answered with an error (already reported to the machine): open bus. */
  private _failed(size: AccessSize): number {
    return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
  }

  /** Did the last request fail in the device model? */
  get lastFailed(): boolean {
    return this._slot[Slot.ERROR] !== 0;
  }

  /** Waits until RESP_STATE holds `answered`. */
  private _await(answered: number): void {
    const s = this._slot;
    for (let i = 0; i < SPIN_LIMIT; i++) {
      if (Atomics.load(s, Slot.RESP_STATE) === answered) return;
    }
    for (;;) {
      const st = Atomics.load(s, Slot.RESP_STATE);
      if (st === answered) return;
      if (Atomics.load(this._hdr, Hdr.DAEMON_DEAD) !== 0) {
        // The request stays READY in the slot: nobody will take it.
        this._busy = false;
        throw new DeviceModelGoneError('the device model has stopped; the request cannot be answered');
      }
      Atomics.store(s, Slot.VCPU_SLEEPING, 1);
      Atomics.add(this._hdr, Hdr.SLEEPS, 1);
      Atomics.wait(s, Slot.RESP_STATE, st, 200);
      Atomics.store(s, Slot.VCPU_SLEEPING, 0);
    }
  }

  /**
   * A posted write through the buffered ring. Returns false when the ring is full or the
   * address does not fit an entry (RING_ADDR_LIMIT): the caller then makes it a synchronous
   * request, which drains the ring first.
   */
  post(type: IoreqType, addr: number, size: AccessSize, value: number): boolean {
    return this._writer.post(type, addr, size, value);
  }

  /** `count` posted writes of `value` (a REP STOS): see RingWriter.fill. */
  fill(type: IoreqType, addr: number, size: AccessSize, count: number, value: number, down: boolean): boolean {
    return this._writer.fill(type, addr, size, count, value, down);
  }

}

/**
 * Entries a producer writes before it publishes them with one store of WRITE_PTR (a store that
 * waits for the line the device model polls). Posted VGA writes, steady state: 13.0-13.5 M/s
 * with 32, 14.4-15.2 with 256, 15.2-15.6 with 1024; a sixteenth of the ring keeps the device
 * model applying one batch while the next is written.
 */
export const PUBLISH_BATCH = 256;

/**
 * Writes the device model may have to catch up on before RingWriter.fill takes another: as
 * many as the ring holds entries (1.5-3 ms of VGA writes), the bound single posts have.
 */
export const FILL_BACKLOG = RING_ENTRIES;

/**
 * The producer end of the buffered ring, one per thread that posts (every IoreqClient of a
 * thread shares it). Entries become visible to the device model in batches, like KVM's
 * coalesced MMIO ring: one store of WRITE_PTR (and one look at the doorbell) per
 * PUBLISH_BATCH writes instead of per write, so the cache line the consumer polls changes
 * hands once per batch. The owner flushes whenever the order matters to somebody else: before
 * a synchronous request (submit does it) and whenever the thread stops running guest code.
 */
export class RingWriter {
  private readonly _ring: Int32Array;
  private readonly _hdr: Int32Array;
  /** Next entry to write (the producer's own copy of WRITE_PTR). */
  private _w: number;
  /** WRITE_PTR as last published. */
  private _published: number;
  /** The ring's read pointer as last loaded (it only moves forward). */
  private _readSeen: number;
  /**
   * Writes posted less entries written (a repeat entry stands for its count, and takes one):
   * _w + _extra is the number of writes posted, what Hdr.DRAINED counts. Kept by fill() alone,
   * so that post() pays nothing for it.
   */
  private _extra: number;
  /** Hdr.DRAINED, writes the device model has applied, as last loaded. */
  private _drainedSeen: number;

  constructor(views: IoreqViews) {
    this._ring = views.ring;
    this._hdr = views.hdr;
    this._w = this._published = Atomics.load(this._ring, Ring.WRITE_PTR);
    this._readSeen = Atomics.load(this._ring, Ring.READ_PTR);
    this._drainedSeen = Atomics.load(this._hdr, Hdr.DRAINED);
    this._extra = (this._drainedSeen - this._w) | 0;
  }

  /** Entries written but not yet published. */
  get unpublished(): number {
    return (this._w - this._published) | 0;
  }

  post(type: IoreqType, addr: number, size: AccessSize, value: number): boolean {
    if (addr >>> 0 >= RING_ADDR_LIMIT) return false;
    const r = this._ring;
    const w = this._w;
    // The read pointer is looked at only when the last one seen says the ring is full. (The
    // entry is written out here rather than through _entry: this is the posted-write hot path.)
    if (((w - this._readSeen) | 0) >= RING_ENTRIES && !this._room(1)) return false;
    const o = Ring.ENTRIES + (w & (RING_ENTRIES - 1)) * 2;
    r[o] = addr | (size << 28) | (type << 31);
    r[o + 1] = value | 0;
    this._w = (w + 1) | 0;
    if (((this._w - this._published) | 0) >= PUBLISH_BATCH) this.flush();
    return true;
  }

  /**
   * `count` writes of `value`, the first at `addr`, each next one `size` bytes above it (below
   * it when `down`): one entry and a repeat entry (see Ring in abi.ts), where a REP STOS would
   * take `count` entries. False when the ring has no room for both, an address does not fit, or
   * the device model is more than FILL_BACKLOG writes behind: in entries, the ring would let it
   * fall seconds behind, and every synchronous request waits for the ring to drain.
   */
  fill(type: IoreqType, addr: number, size: AccessSize, count: number, value: number, down: boolean): boolean {
    const last = down ? addr - (count - 1) * size : addr + (count - 1) * size;
    if (addr >>> 0 >= RING_ADDR_LIMIT || last < 0 || last >= RING_ADDR_LIMIT || !this._room(2)) return false;
    if (((this._w + this._extra - this._drainedSeen) | 0) + count > FILL_BACKLOG) {
      this.flush();
      this._drainedSeen = Atomics.load(this._hdr, Hdr.DRAINED);
      if (((this._w + this._extra - this._drainedSeen) | 0) + count > FILL_BACKLOG) return false;
    }
    this._entry(addr | (size << 28) | (type << 31), value);
    if (count > 1) {
      this._entry(down ? RING_REPEAT_DOWN : RING_REPEAT, count - 1);
      this._extra = (this._extra + count - 2) | 0;
    }
    if (((this._w - this._published) | 0) >= PUBLISH_BATCH) this.flush();
    return true;
  }

  /** Is there room for n more entries? The read pointer is loaded only when the last one seen says no. */
  private _room(n: number): boolean {
    if (((this._w + n - this._readSeen) | 0) <= RING_ENTRIES) return true;
    this.flush();
    this._readSeen = Atomics.load(this._ring, Ring.READ_PTR);
    if (((this._w + n - this._readSeen) | 0) <= RING_ENTRIES) return true;
    Atomics.add(this._hdr, Hdr.RING_FULL, 1);
    return false;
  }

  private _entry(word0: number, word1: number): void {
    const w = this._w;
    const o = Ring.ENTRIES + (w & (RING_ENTRIES - 1)) * 2;
    this._ring[o] = word0;
    this._ring[o + 1] = word1 | 0;
    this._w = (w + 1) | 0;
  }

  flush(): void {
    if (this._w === this._published) return;
    // Every entry is complete before the write pointer makes it visible.
    Atomics.store(this._ring, Ring.WRITE_PTR, this._w);
    this._published = this._w;
    ringDoorbell(this._hdr);
  }
}

// ---------------------------------------------------------------------------------------
// Device-model side
// ---------------------------------------------------------------------------------------

export interface IoreqHandler {
  /** Returns the read value (count 1); fills req.page for count > 1 reads. Throws on device failure. */
  handle(req: Ioreq): number;
  /**
   * A posted write from the ring (vCPU 0's view, count 1): what handle() does with that
   * request, without building it. Throws on device failure.
   */
  posted(type: IoreqType, addr: number, size: AccessSize, data: number): void;
  /** Called when handle() threw: the request is answered with all ones and ERROR set. */
  failed(req: Ioreq, error: unknown): void;
}

export class IoreqServer {
  private readonly _req: Ioreq = { vcpu: 0, type: IoreqType.PIO, dir: IoDir.WRITE, addr: 0, size: 1, count: 1, data: 0, page: null };
  /** Per vCPU, stateWord(seq, READY) of the last request taken: a new request changes REQ_STATE. */
  private readonly _taken: number[];
  /** Sequence gaps or reorders seen (must stay 0; tests check it). */
  seqErrors = 0;

  constructor(
    readonly views: IoreqViews,
    private readonly _handler: IoreqHandler,
  ) {
    // (A request published before this server, and not taken yet, is still new to it.)
    this._taken = views.slots.map((s) => stateWord(wordSeq(Atomics.load(s, Slot.TAKEN)), IoreqState.READY));
  }

  /** Applies every posted write, in order. */
  drainRing(): number {
    const r = this.views.ring;
    let rp = Atomics.load(r, Ring.READ_PTR);
    const wp = Atomics.load(r, Ring.WRITE_PTR);
    if (rp === wp) return 0;
    // Writes applied (a repeat entry stands for many).
    let n = 0;
    // The last entry's write, which a repeat entry (size 0) repeats.
    let type = IoreqType.COPY;
    let size: AccessSize = 1;
    let addr = 0;
    let data = 0;
    while (rp !== wp) {
      const o = Ring.ENTRIES + (rp & (RING_ENTRIES - 1)) * 2;
      const e = r[o];
      if (((e >>> 28) & 7) === 0) {
        const step = (e & RING_REPEAT_DOWN) !== 0 ? -size : size;
        const count = r[o + 1] >>> 0;
        for (let k = 0; k < count; k++) {
          addr += step;
          this._applyPosted(type, addr, size, data);
        }
        n += count;
      } else {
        type = (e >>> 31) as IoreqType;
        size = ((e >>> 28) & 7) as AccessSize;
        addr = e & (RING_ADDR_LIMIT - 1);
        data = r[o + 1] >>> 0;
        this._applyPosted(type, addr, size, data);
        n++;
      }
      rp = (rp + 1) | 0;
      // Free entries only after they have been applied; a batch at a time (a store that
      // publishes is the dearest step of the loop).
      if ((rp & 63) === 0) Atomics.store(r, Ring.READ_PTR, rp);
    }
    Atomics.store(r, Ring.READ_PTR, rp);
    this.views.hdr[Hdr.DRAINED] += n;
    return n;
  }

  /** One posted write; a failure is reported as the request it was. */
  private _applyPosted(type: IoreqType, addr: number, size: AccessSize, data: number): void {
    try {
      this._handler.posted(type, addr, size, data);
    } catch (err) {
      const req = this._req;
      req.vcpu = 0;
      req.type = type;
      req.dir = IoDir.WRITE;
      req.addr = addr;
      req.size = size;
      req.count = 1;
      req.data = data;
      req.page = null;
      this._handler.failed(req, err);
    }
  }

  /** Serves everything pending now. Returns the number of requests and posted writes handled. */
  poll(): number {
    let n = this.drainRing();
    const views = this.views;
    for (let v = 0; v < views.vcpus; v++) {
      const s = views.slots[v];
      const w = Atomics.load(s, Slot.REQ_STATE);
      if (!this._isNew(v, w)) continue;
      // Posted writes issued before this request must land first.
      n += this.drainRing();
      const seq = wordSeq(w);
      // Plain stores for TAKEN and the counters: nobody waits on them (the monitor reads them,
      // and the answer's RESP_STATE store publishes them to anyone who saw the answer). An
      // Atomics.store or add is a locked instruction on x86, a full fence in the middle of the
      // round trip: dropping the two, daemon round trips went 2.38 -> 2.61 M/s (port reads)
      // and 2.57 -> 2.71 (MMIO reads), medians of 40 windows switched in one machine.
      s[Slot.TAKEN] = stateWord(seq, IoreqState.IN_PROCESS);
      const f = views.slotF64[v];
      const timed = f[SlotTime.SUBMIT] !== 0;
      if (timed) f[SlotTime.PICKUP] = stamp();
      if (seq !== ((wordSeq(this._taken[v]) + 1) & SEQ_MASK)) this.seqErrors++;
      this._taken[v] = w;
      const req = this._req;
      req.vcpu = v;
      req.type = s[Slot.TYPE] as IoreqType;
      req.dir = s[Slot.DIR] as IoDir;
      req.addr = s[Slot.ADDR] >>> 0;
      req.size = s[Slot.SIZE] as AccessSize;
      req.count = s[Slot.COUNT];
      req.data = s[Slot.DATA] >>> 0;
      req.page = s[Slot.DATA_IS_PTR] ? views.slotData[v] : null;
      let result = 0;
      // ERROR is stored only when it changes: each store to the line the vCPU polls may have to
      // take the line back from it.
      try {
        result = this._handler.handle(req);
        if (s[Slot.ERROR] !== 0) s[Slot.ERROR] = 0;
      } catch (e) {
        s[Slot.ERROR] = 1;
        this._handler.failed(req, e);
        result = req.size === 4 ? 0xffffffff : (1 << (req.size * 8)) - 1;
      }
      if (req.dir === IoDir.READ) s[Slot.RESP_DATA] = result | 0;
      if (timed) f[SlotTime.DONE] = stamp();
      // The response is complete before the state word says RESP_READY.
      Atomics.store(s, Slot.RESP_STATE, stateWord(seq, IoreqState.RESP_READY));
      if (Atomics.load(s, Slot.VCPU_SLEEPING) !== 0) Atomics.notify(s, Slot.RESP_STATE);
      views.hdr[Hdr.SERVED]++;
      n++;
    }
    return n;
  }

  /** Does anything wait to be served? */
  pending(): boolean {
    const views = this.views;
    if (Atomics.load(views.ring, Ring.READ_PTR) !== Atomics.load(views.ring, Ring.WRITE_PTR)) return true;
    for (let v = 0; v < views.vcpus; v++) if (this._isNew(v, Atomics.load(views.slots[v], Slot.REQ_STATE))) return true;
    return false;
  }

  /** Does REQ_STATE word `w` of vCPU v publish a request not taken yet? */
  private _isNew(v: number, w: number): boolean {
    return w !== this._taken[v] && (w & 3) === IoreqState.READY;
  }

  /**
   * The device model's serving loop: spin on the slots while requests keep coming, give the
   * event loop (timers, sockets, files) a turn at least every `sliceMs`, and when idle sleep
   * on the doorbell for at most `sleepMs` so that event-loop work keeps flowing. (Node's
   * Atomics.waitAsync never resolves its timeout inside a worker, so the sleep is a short
   * synchronous Atomics.wait; a vCPU that rings the doorbell ends it at once.)
   */
  async serve(stop: () => boolean, opts: { sliceMs?: number; idleSpinMs?: number; sleepMs?: () => number } = {}): Promise<void> {
    const sliceMs = opts.sliceMs ?? 2;
    const idleSpinMs = opts.idleSpinMs ?? 0.2;
    const hdr = this.views.hdr;
    let lastWork = performance.now();
    while (!stop()) {
      const start = performance.now();
      // The clock is read every POLLS_PER_CLOCK polls: read on every poll it cost more than
      // a posted write does.
      let k = 0;
      let worked = false;
      for (;;) {
        if (this.poll() > 0) worked = true;
        pause(POLL_PAUSE);
        if ((++k & (POLLS_PER_CLOCK - 1)) !== 0) continue;
        const now = performance.now();
        if (worked) {
          lastWork = now;
          worked = false;
        } else if (now - lastWork > idleSpinMs) break;
        if (now - start > sliceMs) break;
      }
      // Let timers and I/O callbacks run.
      await new Promise<void>((r) => setImmediate(r));
      if (stop()) break;
      const idle = performance.now() - lastWork;
      if (idle > idleSpinMs) {
        const bell = Atomics.load(hdr, Hdr.DOORBELL);
        Atomics.store(hdr, Hdr.DAEMON_SLEEPING, 1);
        // The longer nothing has come, the longer the sleep (1 ms up to 20 ms), so that an idle
        // VM costs next to nothing; the next timer bounds it, and a doorbell ends it at once.
        const cap = Math.min(20, Math.max(1, idle / 10));
        const ms = Math.max(0, Math.min(opts.sleepMs?.() ?? cap, cap));
        // Re-check after announcing the sleep: a request published before the announcement
        // did not ring, so it must be seen here.
        if (!this.pending()) Atomics.wait(hdr, Hdr.DOORBELL, bell, ms);
        Atomics.store(hdr, Hdr.DAEMON_SLEEPING, 0);
      }
    }
  }

  /** Marks the device model as gone: waiting vCPUs stop waiting. */
  shutdown(): void {
    Atomics.store(this.views.hdr, Hdr.DAEMON_DEAD, 1);
    for (const s of this.views.slots) Atomics.notify(s, Slot.RESP_STATE);
  }
}
