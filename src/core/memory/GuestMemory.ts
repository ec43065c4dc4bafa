// Guest physical memory: RAM and ROM images in one SharedArrayBuffer that every thread maps
// (vCPU workers, the device model, the monitor), and a page map that says, for each 4 KiB
// page of the 4 GiB physical space, where reads and writes of that page land.
//
// readMap[page] / writeMap[page] hold the byte offset of the page inside the buffer, or
// PAGE_NONE when the access leaves RAM: an MMIO hole, unassigned space, or a write to ROM.
// Those are the accesses that trap. Keeping reads and writes apart is what lets ROM, the
// i440FX PAM shadow modes (read ROM, write RAM) and self-modifying-code tracking share one
// mechanism. Nothing here copies guest RAM.

import { HvmonError } from '../../common/errors.js';
import { hex } from '../../common/types.js';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
export const PAGE_NONE = -1;
const PAGES = 1 << 20; // 4 GiB / 4 KiB
const LOW_PAGES = 256; // the first MiB

/** Indices into the control words shared by every thread. */
export const enum MemCtl {
  /** 1 when the A20 gate is open (address bit 20 passes), 0 when it is forced low. */
  A20 = 0,
  /** Bumped after any change to the page map or A20; a CPU flushes its TLB when it moves. */
  GENERATION = 1,
  /**
   * Bumped when write() (DMA, the monitor) lands on a page a CPU compiled code from (see
   * `code`): the CPUs drop that page's compiled blocks before they run any of them again.
   */
  CODE_WRITES = 2,
  SIZE = 4,
}

export interface RomImage {
  name: string;
  /** Byte offset of the image inside the shared buffer. */
  host: number;
  size: number;
}

/** What crosses to another thread so it can attach to the same memory. */
export interface SharedMemoryDesc {
  buffer: SharedArrayBuffer;
  readMap: SharedArrayBuffer;
  writeMap: SharedArrayBuffer;
  ctl: SharedArrayBuffer;
  /**
   * Per page of the first MiB: what a read there reaches when the chipset routes it to the
   * PCI/ISA side rather than RAM (the ROM the machine placed there: host offset, or -1).
   */
  romLayer: SharedArrayBuffer;
  /** One byte per 4 KiB page of `buffer`: see GuestMemory.code. (Older descriptors lack it.) */
  code?: SharedArrayBuffer;
  ramSize: number;
  roms: RomImage[];
}

export interface MemMapEntry {
  base: number;
  /** Inclusive end, as `info mtree` prints. */
  end: number;
  kind: 'ram' | 'rom' | 'ram-readonly' | 'ram-writeonly';
  name: string;
  /** Offset of `base` inside the backing object (RAM or the ROM image). */
  offset: number;
}

export interface RomSpec {
  name: string;
  data: Uint8Array;
}

export class GuestMemory {
  readonly u8: Uint8Array;
  readonly readMap: Int32Array;
  readonly writeMap: Int32Array;
  readonly ctl: Int32Array;
  readonly romLayer: Int32Array;
  /**
   * Per 4 KiB page of the buffer (host page, not guest page): 0, or 1 when a CPU has compiled
   * guest code from it (the interpreter's block compiler sets it before it reads the bytes),
   * or 2 when write() has since changed it. The CPU's own stores are tracked by its TLB.
   */
  readonly code: Uint8Array;

  private constructor(readonly desc: SharedMemoryDesc) {
    desc.code ??= new SharedArrayBuffer(Math.ceil(desc.buffer.byteLength / PAGE_SIZE));
    this.code = new Uint8Array(desc.code);
    this.u8 = new Uint8Array(desc.buffer);
    this.readMap = new Int32Array(desc.readMap);
    this.writeMap = new Int32Array(desc.writeMap);
    this.ctl = new Int32Array(desc.ctl);
    this.romLayer = new Int32Array(desc.romLayer);
  }

  /**
   * Allocates RAM (mapped at 0, nothing else mapped yet) and room for the given ROM images,
   * which are copied in but not mapped: the board decides where they appear.
   */
  static create(ramSize: number, roms: RomSpec[] = []): GuestMemory {
    if (!Number.isInteger(ramSize) || ramSize < PAGE_SIZE || ramSize % PAGE_SIZE !== 0) {
      throw new HvmonError(`RAM size ${ramSize} must be a positive multiple of 4 KiB`);
    }
    if (ramSize > 0xe0000000) throw new HvmonError(`RAM size ${hex(ramSize)} is above the 3.5 GiB this board supports`);
    let total = ramSize;
    const images: RomImage[] = [];
    for (const r of roms) {
      const size = Math.ceil(r.data.length / PAGE_SIZE) * PAGE_SIZE;
      images.push({ name: r.name, host: total, size });
      total += size;
    }
    const mem = new GuestMemory({
      buffer: new SharedArrayBuffer(total),
      readMap: new SharedArrayBuffer(PAGES * 4),
      writeMap: new SharedArrayBuffer(PAGES * 4),
      ctl: new SharedArrayBuffer(MemCtl.SIZE * 4),
      romLayer: new SharedArrayBuffer(LOW_PAGES * 4),
      code: new SharedArrayBuffer(Math.ceil(total / PAGE_SIZE)),
      ramSize,
      roms: images,
    });
    mem.readMap.fill(PAGE_NONE);
    mem.writeMap.fill(PAGE_NONE);
    mem.romLayer.fill(PAGE_NONE);
    roms.forEach((r, i) => mem.u8.set(r.data, images[i].host));
    mem.ctl[MemCtl.A20] = 1;
    return mem;
  }

  static attach(desc: SharedMemoryDesc): GuestMemory {
    return new GuestMemory(desc);
  }

  get ramSize(): number {
    return this.desc.ramSize;
  }

  get a20(): boolean {
    return Atomics.load(this.ctl, MemCtl.A20) !== 0;
  }

  get generation(): number {
    return Atomics.load(this.ctl, MemCtl.GENERATION);
  }

  setA20(enabled: boolean): void {
    Atomics.store(this.ctl, MemCtl.A20, enabled ? 1 : 0);
    Atomics.add(this.ctl, MemCtl.GENERATION, 1);
  }

  rom(name: string): RomImage {
    const r = this.desc.roms.find((x) => x.name === name);
    if (!r) throw new HvmonError(`no ROM image named ${name}`);
    return r;
  }

  /**
   * Points guest pages [base, base+size) at host bytes. `read`/`write` give the host offset
   * that `base` maps to, or null to make that direction trap. Page-aligned only.
   */
  mapPages(base: number, size: number, read: number | null, write: number | null): void {
    if (base % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0 || size <= 0 || base + size > 0x100000000) {
      throw new HvmonError(`cannot map ${hex(base)}+${hex(size)}: not whole pages inside 4 GiB`);
    }
    for (const host of [read, write]) {
      if (host !== null && (host < 0 || host + size > this.u8.length || host % PAGE_SIZE !== 0)) {
        throw new HvmonError(`host range ${hex(host)}+${hex(size)} is outside guest memory`);
      }
    }
    const first = base >>> PAGE_SHIFT;
    const n = size >>> PAGE_SHIFT;
    for (let i = 0; i < n; i++) {
      this.readMap[first + i] = read === null ? PAGE_NONE : read + i * PAGE_SIZE;
      this.writeMap[first + i] = write === null ? PAGE_NONE : write + i * PAGE_SIZE;
    }
    // Release: a CPU that sees the new generation sees the new map.
    Atomics.add(this.ctl, MemCtl.GENERATION, 1);
  }

  /** RAM at its own address: guest [base, base+size) → RAM bytes [base, base+size). */
  mapRam(base: number, size: number): void {
    if (base + size > this.ramSize) throw new HvmonError(`RAM ${hex(base)}+${hex(size)} is beyond the ${hex(this.ramSize)} bytes of RAM`);
    this.mapPages(base, size, base, base);
  }

  /**
   * A ROM image (or its last `size` bytes) at base: reads hit the image, writes trap and are
   * dropped. Below 1 MiB the ROM also becomes what the chipset's "ROM side" shows (romLayer).
   */
  mapRom(name: string, base: number, size?: number): void {
    const r = this.rom(name);
    const len = size ?? r.size;
    if (len > r.size) throw new HvmonError(`ROM ${name} is only ${hex(r.size)} bytes`);
    const host = r.host + r.size - len;
    this.mapPages(base, len, host, null);
    for (let p = base >>> PAGE_SHIFT; p < Math.min(LOW_PAGES, (base + len) >>> PAGE_SHIFT); p++) {
      this.romLayer[p] = host + (p * PAGE_SIZE - base);
    }
  }

  /**
   * The i440FX PAM attribute of a piece of 0C0000h-0FFFFFh: reads from RAM, from the ROM side
   * (romLayer; open bus where no ROM sits) or nowhere; writes to RAM or nowhere.
   */
  setShadow(base: number, size: number, read: 'ram' | 'rom' | 'none', write: 'ram' | 'none'): void {
    if (base % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0 || base + size > LOW_PAGES * PAGE_SIZE) {
      throw new HvmonError(`shadow range ${hex(base)}+${hex(size)} is not whole pages below 1 MiB`);
    }
    for (let p = base >>> PAGE_SHIFT; p < (base + size) >>> PAGE_SHIFT; p++) {
      const ram = p * PAGE_SIZE < this.ramSize ? p * PAGE_SIZE : PAGE_NONE;
      this.readMap[p] = read === 'ram' ? ram : read === 'rom' ? this.romLayer[p] : PAGE_NONE;
      this.writeMap[p] = write === 'ram' ? ram : PAGE_NONE;
    }
    Atomics.add(this.ctl, MemCtl.GENERATION, 1);
  }

  unmapPages(base: number, size: number): void {
    this.mapPages(base, size, null, null);
  }

  /** Physical address after the A20 gate. */
  gate(addr: number): number {
    return this.a20 ? addr >>> 0 : (addr & ~0x100000) >>> 0;
  }

  /** Host offset of a physical byte for reading, or -1 when it is not RAM/ROM. */
  hostRead(addr: number): number {
    const p = this.readMap[addr >>> PAGE_SHIFT];
    return p === PAGE_NONE ? -1 : p + (addr & (PAGE_SIZE - 1));
  }

  hostWrite(addr: number): number {
    const p = this.writeMap[addr >>> PAGE_SHIFT];
    return p === PAGE_NONE ? -1 : p + (addr & (PAGE_SIZE - 1));
  }

  /**
   * Copies physical memory out, as a device's DMA or the monitor sees it. Bytes that are not
   * RAM or ROM read as 0xFF; returns how many bytes were backed.
   */
  read(addr: number, into: Uint8Array): number {
    let backed = 0;
    for (let i = 0; i < into.length; ) {
      const a = (addr + i) >>> 0;
      const chunk = Math.min(PAGE_SIZE - (a & (PAGE_SIZE - 1)), into.length - i);
      const h = this.hostRead(a);
      if (h < 0) into.fill(0xff, i, i + chunk);
      else {
        into.set(this.u8.subarray(h, h + chunk), i);
        backed += chunk;
      }
      i += chunk;
    }
    return backed;
  }

  /** Copies into physical memory; bytes that land on ROM or holes are dropped. Returns bytes written. */
  write(addr: number, from: Uint8Array): number {
    let done = 0;
    for (let i = 0; i < from.length; ) {
      const a = (addr + i) >>> 0;
      const chunk = Math.min(PAGE_SIZE - (a & (PAGE_SIZE - 1)), from.length - i);
      const h = this.hostWrite(a);
      if (h >= 0) {
        this.u8.set(from.subarray(i, i + chunk), h);
        done += chunk;
        // The bytes are in place before the mark, and the compare-exchange is also the fence
        // that keeps the look at the mark from passing the copy (a plain load could, and miss
        // a CPU that marked the page and read the old bytes meanwhile): a CPU that compiled
        // from this page sees 2 and recompiles from the new bytes.
        if (Atomics.compareExchange(this.code, h >>> PAGE_SHIFT, 1, 2) === 1) {
          Atomics.add(this.ctl, MemCtl.CODE_WRITES, 1);
        }
      }
      i += chunk;
    }
    return done;
  }

  /** The RAM/ROM part of the physical map, as runs of pages with the same backing. */
  map(): MemMapEntry[] {
    const out: MemMapEntry[] = [];
    let cur: MemMapEntry | null = null;
    for (let page = 0; page < PAGES; page++) {
      const r = this.readMap[page];
      const w = this.writeMap[page];
      const addr = page * PAGE_SIZE;
      if (r === PAGE_NONE && w === PAGE_NONE) {
        cur = null;
        continue;
      }
      const host = r !== PAGE_NONE ? r : w;
      const kind: MemMapEntry['kind'] =
        r !== PAGE_NONE && w !== PAGE_NONE ? 'ram' : w === PAGE_NONE ? (r < this.ramSize ? 'ram-readonly' : 'rom') : 'ram-writeonly';
      const [name, offset] = this._backing(host);
      if (cur && cur.kind === kind && cur.name === name && cur.offset + (addr - cur.base) === offset && cur.end === addr - 1) {
        cur.end = addr + PAGE_SIZE - 1;
        continue;
      }
      cur = { base: addr, end: addr + PAGE_SIZE - 1, kind, name, offset };
      out.push(cur);
    }
    return out;
  }

  private _backing(host: number): [string, number] {
    if (host < this.ramSize) return ['ram', host];
    for (const r of this.desc.roms) if (host >= r.host && host < r.host + r.size) return [r.name, host - r.host];
    return ['?', host];
  }
}
