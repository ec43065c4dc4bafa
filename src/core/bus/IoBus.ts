// One bus type serves both address spaces; a bus is created for one space and takes only
// that space's address type, so a port cannot be passed where a physical address goes.
//
// The bus owns the rules every device would otherwise repeat:
//  - map() rejects a region that overlaps another and names both owners;
//  - an access must fit inside one region; one that straddles a boundary is split into
//    bytes, each dispatched on its own (as QEMU's flatview dispatch does);
//  - accesses wider than a region implements are split, narrower ones widened, from
//    region.impl (QEMU's access_with_adjusted_size);
//  - a read that no region claims returns all ones (open bus); such a write goes nowhere.

import { BusOverlapError, HvmonError } from '../../common/errors.js';
import type { IoRegion, MappedRegion } from '../../common/io.js';
import { type AccessSize, type AddrOf, type Space, hex, openBus, sizeMask } from '../../common/types.js';

export interface BusHit {
  region: IoRegion;
  base: number;
}

const PIO_SPACE = 0x10000;
const MMIO_SPACE = 0x100000000;

export class IoBus<S extends Space> {
  /** Sorted by base; never overlapping. */
  private _entries: MappedRegion[] = [];
  /** Port → index into _entries + 1 (0 = nothing): O(1) dispatch for port I/O. */
  private _portIndex: Uint16Array | null;
  /** The region the last lookup found, and its range as plain numbers (empty: none). */
  private _last: MappedRegion | null = null;
  private _lastBase = 0;
  private _lastEnd = 0;

  constructor(readonly space: S) {
    this._portIndex = space === 'pio' ? new Uint16Array(PIO_SPACE) : null;
  }

  get regions(): readonly MappedRegion[] {
    return this._entries;
  }

  map(region: IoRegion, base: AddrOf<S>): void {
    if (region.space !== this.space) {
      throw new HvmonError(`region ${region.name} is ${region.space}, cannot map it on the ${this.space} bus`);
    }
    const limit = this.space === 'pio' ? PIO_SPACE : MMIO_SPACE;
    if (region.size <= 0 || base < 0 || base + region.size > limit) {
      throw new HvmonError(`region ${region.name} (${hex(base)}+${hex(region.size)}) does not fit the ${this.space} space`);
    }
    const end = base + region.size;
    for (const e of this._entries) {
      if (base < e.base + e.region.size && e.base < end) {
        throw new BusOverlapError(
          `${region.name} at ${hex(base)}-${hex(end - 1)} overlaps ${e.region.name} at ` +
            `${hex(e.base)}-${hex(e.base + e.region.size - 1)} on the ${this.space} bus`,
        );
      }
    }
    this._entries.push({ region, base });
    this._entries.sort((a, b) => a.base - b.base);
    this._reindex();
  }

  /** Removes the region mapped at base (or the given region wherever it is). */
  unmap(regionOrBase: IoRegion | AddrOf<S>): void {
    const i = this._entries.findIndex((e) =>
      typeof regionOrBase === 'number' ? e.base === regionOrBase : e.region === regionOrBase,
    );
    if (i < 0) throw new HvmonError(`nothing mapped there on the ${this.space} bus`);
    this._entries.splice(i, 1);
    this._reindex();
  }

  private _reindex(): void {
    this._last = null;
    this._lastBase = this._lastEnd = 0;
    const idx = this._portIndex;
    if (!idx) return;
    idx.fill(0);
    this._entries.forEach((e, i) => idx.fill(i + 1, e.base, e.base + e.region.size));
  }

  /** The region containing addr, or null. */
  find(addr: number): BusHit | null {
    if (this._portIndex) {
      const i = this._portIndex[addr & 0xffff];
      return i === 0 ? null : this._entries[i - 1];
    }
    if (addr < this._lastEnd && addr >= this._lastBase) return this._last;
    const es = this._entries;
    let lo = 0;
    let hi = es.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const e = es[mid];
      if (addr < e.base) hi = mid - 1;
      else if (addr >= e.base + e.region.size) lo = mid + 1;
      else {
        this._last = e;
        this._lastBase = e.base;
        this._lastEnd = e.base + e.region.size;
        return e;
      }
    }
    return null;
  }

  read(addr: AddrOf<S>, size: AccessSize): number {
    const hit = this.find(addr);
    if (hit && addr + size <= hit.base + hit.region.size) {
      return dispatchRead(hit.region, addr - hit.base, size);
    }
    if (!hit && size === 1) return 0xff;
    return this._readStraddling(addr, size);
  }

  write(addr: AddrOf<S>, size: AccessSize, value: number): void {
    const hit = this.find(addr);
    if (hit && addr + size <= hit.base + hit.region.size) {
      dispatchWrite(hit.region, addr - hit.base, size, value);
      return;
    }
    if (!hit && size === 1) return;
    for (let i = 0; i < size; i++) this.write((addr + i) as AddrOf<S>, 1, (value >>> (i * 8)) & 0xff);
  }

  private _readStraddling(addr: number, size: AccessSize): number {
    if (size === 1) return openBus(1);
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.read((addr + i) as AddrOf<S>, 1) << (i * 8);
    return v >>> 0;
  }

  /** REP INS: `count` reads of `size` at addr into `into` (count*size bytes). */
  readRep(addr: AddrOf<S>, size: AccessSize, count: number, into: Uint8Array): void {
    const hit = this.find(addr);
    if (hit && hit.region.ops.readRep && addr + size <= hit.base + hit.region.size) {
      hit.region.ops.readRep(addr - hit.base, size, count, into);
      return;
    }
    for (let i = 0; i < count; i++) writeLe(into, i * size, size, this.read(addr, size));
  }

  /** REP OUTS: `count` writes of `size` at addr from `from`. */
  writeRep(addr: AddrOf<S>, size: AccessSize, count: number, from: Uint8Array): void {
    const hit = this.find(addr);
    if (hit && hit.region.ops.writeRep && addr + size <= hit.base + hit.region.size) {
      hit.region.ops.writeRep(addr - hit.base, size, count, from);
      return;
    }
    for (let i = 0; i < count; i++) this.write(addr, size, readLe(from, i * size, size));
  }
}

export function readLe(b: Uint8Array, off: number, size: number): number {
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = (v << 8) | b[off + i];
  return v >>> 0;
}

export function writeLe(b: Uint8Array, off: number, size: number, v: number): void {
  for (let i = 0; i < size; i++) b[off + i] = (v >>> (i * 8)) & 0xff;
}

/** A read at `offset` of `size`, split or widened to what the region implements. */
export function dispatchRead(region: IoRegion, offset: number, size: AccessSize): number {
  const impl = region.impl;
  if (!impl || (size >= impl.min && size <= impl.max)) return (region.ops.read(offset, size) & sizeMask(size)) >>> 0;
  if (size > impl.max) {
    // Little-endian merge of several narrower accesses.
    const step = impl.max;
    let v = 0;
    for (let i = 0; i < size; i += step) v |= (region.ops.read(offset + i, step) & sizeMask(step)) << (i * 8);
    return v >>> 0;
  }
  // Narrower than the device takes: read the aligned wider unit and pick our bytes out.
  const min = impl.min;
  const aligned = offset & ~(min - 1);
  const shift = (offset - aligned) * 8;
  return ((region.ops.read(aligned, min) >>> shift) & sizeMask(size)) >>> 0;
}

export function dispatchWrite(region: IoRegion, offset: number, size: AccessSize, value: number): void {
  const impl = region.impl;
  if (!impl || (size >= impl.min && size <= impl.max)) {
    region.ops.write(offset, size, (value & sizeMask(size)) >>> 0);
    return;
  }
  if (size > impl.max) {
    const step = impl.max;
    for (let i = 0; i < size; i += step) region.ops.write(offset + i, step, ((value >>> (i * 8)) & sizeMask(step)) >>> 0);
    return;
  }
  // Widened write: the other bytes of the unit are written as zero, as QEMU does.
  const min = impl.min;
  const aligned = offset & ~(min - 1);
  region.ops.write(aligned, min, ((value & sizeMask(size)) << ((offset - aligned) * 8)) >>> 0);
}
