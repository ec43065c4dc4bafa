// The trap log: a ring of the most recent traps in shared memory. The vCPU thread writes one
// entry per trapped access (no allocation, no message); the monitor reads the ring when asked.
//
// Entry (Int32 words, then Float64 timestamps):
//   SEQ      sequence number + 1, written LAST so a reader can tell a half-written entry
//   VCPU, IP (linear), INFO (space | dir<<1 | size<<4 | inCore<<8 | stopped<<9 | failed<<10
//   | timed<<11), ADDR, VALUE, COUNT, REGION (index into the name table the vCPU thread
//   publishes)
//   T_SUBMIT, T_PICKUP, T_DONE (ms since the epoch), valid only when INFO says timed. In-core
//   traps carry none (they take well under a microsecond); remote traps carry them for a
//   sample (see VcpuThread).

export const TRAP_LOG_ENTRIES = 4096;
const I32_PER = 8;
const F64_PER = 3;
const HDR = 4;
/** The writer moves the header's total once per this many entries (a power of two), and at publish(). */
const PUBLISH_EVERY = 64;

export const enum TrapInfo {
  MMIO = 1,
  READ = 2,
  IN_CORE = 1 << 8,
  STOPPED = 1 << 9,
  FAILED = 1 << 10,
  /** The entry's timestamps are written (else they are left as they were). */
  TIMED = 1 << 11,
}

export interface TrapRecord {
  seq: number;
  vcpu: number;
  ip: number;
  space: 'pio' | 'mmio';
  dir: 'read' | 'write';
  size: number;
  addr: number;
  value: number;
  count: number;
  region: number;
  inCore: boolean;
  failed: boolean;
  /** Start of the trap, ms since the epoch. */
  time: number;
  /** µs from the vCPU's request to the device model picking it up, and to its answer. */
  pickupUs: number | null;
  serviceUs: number | null;
  totalUs: number;
}

export class TrapLog {
  readonly i32: Int32Array;
  readonly f64: Float64Array;

  /**
   * Writer side: entries written, from the total an earlier writer on this buffer (an earlier
   * vCPU thread of the machine) published. The header's total lags it by less than PUBLISH_EVERY.
   */
  private _written: number;

  constructor(readonly buffer: SharedArrayBuffer = TrapLog.allocate()) {
    this.i32 = new Int32Array(buffer, 0, HDR + TRAP_LOG_ENTRIES * I32_PER);
    this.f64 = new Float64Array(buffer, (HDR + TRAP_LOG_ENTRIES * I32_PER) * 4, TRAP_LOG_ENTRIES * F64_PER);
    this._written = Atomics.load(this.i32, 0);
  }

  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer((HDR + TRAP_LOG_ENTRIES * I32_PER) * 4 + TRAP_LOG_ENTRIES * F64_PER * 8);
  }

  /** Total traps ever recorded. */
  get total(): number {
    return Atomics.load(this.i32, 0) >>> 0;
  }


  /**
   * Writer side (one thread). Entries are plain stores; the header's total, an atomic store,
   * publishes them every PUBLISH_EVERY entries and at publish(). (With an atomic store per
   * entry, a fence on x86, a trap-bound guest spent a third of its time here: the fence waits
   * for the ring entries the device model is reading.) recent() says how a reader copes.
   */
  record(
    vcpu: number, ip: number, info: number, addr: number, value: number, count: number, region: number,
    hops: Float64Array | null,
  ): void {
    const i = this.i32;
    const seq = this._written;
    const slot = seq & (TRAP_LOG_ENTRIES - 1);
    const o = HDR + slot * I32_PER;
    i[o] = 0;
    i[o + 1] = vcpu;
    i[o + 2] = ip | 0;
    i[o + 4] = addr | 0;
    i[o + 5] = value | 0;
    i[o + 6] = count;
    i[o + 7] = region;
    // hops: submit, pickup, done (IoreqClient.hops), or none (then the slot's old times stay:
    // 3 stores and a cache line of the ring fewer per trap, a tenth of a posted write).
    if (hops !== null) {
      const f = slot * F64_PER;
      const t = this.f64;
      t[f] = hops[0];
      t[f + 1] = hops[1];
      t[f + 2] = hops[2];
      i[o + 3] = info | TrapInfo.TIMED;
    } else i[o + 3] = info;
    i[o] = seq + 1;
    this._written = (seq + 1) | 0;
    if ((this._written & (PUBLISH_EVERY - 1)) === 0) Atomics.store(i, 0, this._written);
  }

  /** Writer side: makes every entry written so far count in `total` (the vCPU thread calls it after each slice). */
  publish(): void {
    if (this.i32[0] !== this._written) Atomics.store(this.i32, 0, this._written);
  }

  /**
   * Reader side: up to `count` most recent entries, oldest first. Entries below the total read
   * first are complete (the total was stored after them). While the vCPU runs it may be
   * rewriting the oldest slots meanwhile: it is at most PUBLISH_EVERY entries past the total
   * read afterwards, so an entry is kept only if no entry written by then can share its slot,
   * and only if its SEQ word is the same before and after its fields were read.
   */
  recent(count: number): TrapRecord[] {
    const total = this.total;
    const n = Math.min(count, total, TRAP_LOG_ENTRIES);
    const out: TrapRecord[] = [];
    const i = this.i32;
    for (let seq = total - n; seq < total; seq++) {
      const slot = seq & (TRAP_LOG_ENTRIES - 1);
      const o = HDR + slot * I32_PER;
      if (i[o] !== ((seq + 1) | 0)) continue; // overwritten or half-written
      const info = i[o + 3];
      const f = slot * F64_PER;
      const timed = (info & TrapInfo.TIMED) !== 0;
      const t0 = timed ? this.f64[f] : 0;
      const tp = timed ? this.f64[f + 1] : 0;
      const td = timed ? this.f64[f + 2] : 0;
      out.push({
        seq,
        vcpu: i[o + 1],
        ip: i[o + 2] >>> 0,
        space: info & TrapInfo.MMIO ? 'mmio' : 'pio',
        dir: info & TrapInfo.READ ? 'read' : 'write',
        size: (info >>> 4) & 0xf,
        addr: i[o + 4] >>> 0,
        value: i[o + 5] >>> 0,
        count: i[o + 6],
        region: i[o + 7],
        inCore: (info & TrapInfo.IN_CORE) !== 0,
        failed: (info & TrapInfo.FAILED) !== 0,
        time: t0,
        pickupUs: tp && t0 ? (tp - t0) * 1000 : null,
        serviceUs: tp && td ? (td - tp) * 1000 : null,
        totalUs: td && t0 ? (td - t0) * 1000 : 0,
      });
      if (i[o] !== ((seq + 1) | 0)) out.pop();
    }
    const safe = this.total + PUBLISH_EVERY - TRAP_LOG_ENTRIES;
    let k = 0;
    while (k < out.length && out[k].seq < safe) k++;
    return k === 0 ? out : out.slice(k);
  }
}
