// The breakpoint tables, in shared memory. The DebugEngine on the main thread writes them;
// every vCPU reads them on its hot path without a message. Each check is guarded by a count
// that is zero when nothing of that kind is armed, so an unarmed table costs one load.
//
// Layout of the SharedArrayBuffer (Int32 words unless said):
//   header[HDR_WORDS]            counts and a generation bumped after every change
//   ioBitmap[2048]               one bit per port (65536 ports) with an armed I/O breakpoint
//   vectorBitmap[8]              one bit per interrupt vector with an armed catch
//   exec[MAX_EXEC * 2]           (linear address, breakpoint id) pairs, unsorted
//   watch[MAX_WATCH * 5]         (start, end exclusive, access bits, space, id)
//   mmio[MAX_MMIO * 4]           (start, end exclusive, access bits, id)
//   execPages (Uint8Array 1 MiB) per linear 4 KiB page: how many exec breakpoints fall in it

export const enum DbgHdr {
  GENERATION = 0,
  EXEC_COUNT = 1,
  WATCH_COUNT = 2,
  IO_COUNT = 3,
  MMIO_COUNT = 4,
  VECTOR_COUNT = 5,
}
const HDR_WORDS = 8;
export const MAX_EXEC = 256;
export const MAX_WATCH = 64;
export const MAX_MMIO = 256;

/** Access bits used by watch and mmio entries. */
export const enum Access {
  READ = 1,
  WRITE = 2,
}

export const enum WatchSpace {
  PHYS = 0,
  LINEAR = 1,
}

const IO_OFF = HDR_WORDS;
const VEC_OFF = IO_OFF + 2048;
const EXEC_OFF = VEC_OFF + 8;
const WATCH_OFF = EXEC_OFF + MAX_EXEC * 2;
const MMIO_OFF = WATCH_OFF + MAX_WATCH * 5;
const WORDS = MMIO_OFF + MAX_MMIO * 4;
const PAGES_BYTES = 1 << 20;

export interface ExecEntry { addr: number; id: number }
export interface WatchEntry { start: number; end: number; access: number; space: WatchSpace; id: number }
export interface MmioEntry { start: number; end: number; access: number; id: number }

export class DebugTables {
  readonly words: Int32Array;
  readonly execPages: Uint8Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(WORDS * 4 + PAGES_BYTES)) {
    this.words = new Int32Array(buffer, 0, WORDS);
    this.execPages = new Uint8Array(buffer, WORDS * 4, PAGES_BYTES);
  }

  get generation(): number {
    return Atomics.load(this.words, DbgHdr.GENERATION);
  }
  get execCount(): number {
    return this.words[DbgHdr.EXEC_COUNT];
  }
  get watchCount(): number {
    return this.words[DbgHdr.WATCH_COUNT];
  }
  get ioCount(): number {
    return this.words[DbgHdr.IO_COUNT];
  }
  get mmioCount(): number {
    return this.words[DbgHdr.MMIO_COUNT];
  }
  get vectorCount(): number {
    return this.words[DbgHdr.VECTOR_COUNT];
  }

  // ---- reader side (vCPU) ----

  /** Is any I/O breakpoint armed on this port? */
  ioArmed(port: number): boolean {
    return (this.words[IO_OFF + (port >>> 5)] & (1 << (port & 31))) !== 0;
  }

  vectorArmed(vector: number): boolean {
    return (this.words[VEC_OFF + (vector >>> 5)] & (1 << (vector & 31))) !== 0;
  }

  /** Id of the exec breakpoint at this linear address, or 0. */
  execAt(linear: number): number {
    if (this.execPages[linear >>> 12] === 0) return 0;
    const w = this.words;
    const n = w[DbgHdr.EXEC_COUNT];
    for (let i = 0; i < n; i++) if (w[EXEC_OFF + i * 2] >>> 0 === linear >>> 0) return w[EXEC_OFF + i * 2 + 1];
    return 0;
  }

  /** Watch entries overlapping [addr, addr+size) in the given space with the given access; id or 0. */
  watchHit(space: WatchSpace, addr: number, size: number, access: Access): number {
    const w = this.words;
    const n = w[DbgHdr.WATCH_COUNT];
    const a = addr >>> 0;
    for (let i = 0; i < n; i++) {
      const o = WATCH_OFF + i * 5;
      if (w[o + 3] !== space || (w[o + 2] & access) === 0) continue;
      if (a < w[o + 1] >>> 0 && w[o] >>> 0 < a + size) return w[o + 4];
    }
    return 0;
  }

  /** Does any watch of this space overlap the 4 KiB page? (TLB fill uses it to mark slow pages.) */
  watchOnPage(space: WatchSpace, page: number): boolean {
    return this.watchHit(space, page << 12, 4096, Access.READ | Access.WRITE) !== 0;
  }

  /** MMIO breakpoints overlapping the access with that direction: first id or 0. */
  mmioHit(addr: number, size: number, access: Access): number {
    const w = this.words;
    const n = w[DbgHdr.MMIO_COUNT];
    const a = addr >>> 0;
    for (let i = 0; i < n; i++) {
      const o = MMIO_OFF + i * 4;
      if ((w[o + 2] & access) === 0) continue;
      if (a < w[o + 1] >>> 0 && w[o] >>> 0 < a + size) return w[o + 3];
    }
    return 0;
  }

  // ---- writer side (DebugEngine, main thread) ----

  /** Rewrites every table from the armed breakpoints. Called after each change; rare. */
  publish(t: { exec: ExecEntry[]; watch: WatchEntry[]; io: { start: number; end: number }[]; mmio: MmioEntry[]; vectors: number[] }): void {
    if (t.exec.length > MAX_EXEC) throw new RangeError(`at most ${MAX_EXEC} exec breakpoints can be armed`);
    if (t.watch.length > MAX_WATCH) throw new RangeError(`at most ${MAX_WATCH} watchpoints can be armed`);
    if (t.mmio.length > MAX_MMIO) throw new RangeError(`at most ${MAX_MMIO} MMIO breakpoints can be armed`);
    const w = this.words;
    // Counts go to zero first so a reader never walks a half-written list.
    for (const k of [DbgHdr.EXEC_COUNT, DbgHdr.WATCH_COUNT, DbgHdr.IO_COUNT, DbgHdr.MMIO_COUNT, DbgHdr.VECTOR_COUNT]) {
      Atomics.store(w, k, 0);
    }
    w.fill(0, IO_OFF, VEC_OFF + 8);
    this.execPages.fill(0);
    t.exec.forEach((e, i) => {
      w[EXEC_OFF + i * 2] = e.addr | 0;
      w[EXEC_OFF + i * 2 + 1] = e.id;
      const p = e.addr >>> 12;
      this.execPages[p] = Math.min(255, this.execPages[p] + 1);
    });
    t.watch.forEach((e, i) => {
      const o = WATCH_OFF + i * 5;
      w[o] = e.start | 0; w[o + 1] = e.end | 0; w[o + 2] = e.access; w[o + 3] = e.space; w[o + 4] = e.id;
    });
    t.mmio.forEach((e, i) => {
      const o = MMIO_OFF + i * 4;
      w[o] = e.start | 0; w[o + 1] = e.end | 0; w[o + 2] = e.access; w[o + 3] = e.id;
    });
    let ioPorts = 0;
    for (const r of t.io) {
      for (let p = r.start; p <= r.end && p <= 0xffff; p++) {
        w[IO_OFF + (p >>> 5)] |= 1 << (p & 31);
        ioPorts++;
      }
    }
    for (const v of t.vectors) w[VEC_OFF + (v >>> 5)] |= 1 << (v & 31);
    Atomics.store(w, DbgHdr.EXEC_COUNT, t.exec.length);
    Atomics.store(w, DbgHdr.WATCH_COUNT, t.watch.length);
    Atomics.store(w, DbgHdr.IO_COUNT, ioPorts);
    Atomics.store(w, DbgHdr.MMIO_COUNT, t.mmio.length);
    Atomics.store(w, DbgHdr.VECTOR_COUNT, t.vectors.length);
    Atomics.add(w, DbgHdr.GENERATION, 1);
  }
}
