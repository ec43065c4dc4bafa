// Firmware and kernel loaders: what the machine puts in memory before the first instruction,
// and where the CPU starts. Like QEMU's ROM blobs, `blobs` are copied into RAM again on every
// system reset, and `entry` is applied to the boot CPU after each reset.
//
//  - bootSector: the tiny built-in firmware. The disk's first sector goes to 0000:7C00 and the
//    CPU starts there in real mode with DL = 80h, as a BIOS would hand over, but there are no
//    BIOS services: the guest talks to the hardware itself.
//  - bios: a ROM image at the top of the first MiB (its last 128 KiB at most) and at the top
//    of the 4 GiB space; the CPU starts at the reset vector. As QEMU's -bios.
//  - multiboot: a Multiboot v1 kernel (as QEMU's -kernel): loaded where its header or ELF
//    program headers say, entered in 32-bit protected mode with EAX = 2BADB002h and EBX
//    pointing at the Multiboot information structure (Multiboot Specification 0.6.96, 3.2/3.3).

import { readFileSync } from 'node:fs';
import { UsageError, errorMessage } from '../../common/errors.js';
import { hex } from '../../common/types.js';
import type { CpuState, SegmentCache } from '../vcpu/CpuState.js';
import { realSegment } from '../vcpu/CpuState.js';

export interface Blob {
  addr: number;
  data: Uint8Array;
  name: string;
}

export interface BootPlan {
  blobs: Blob[];
  entry: Partial<CpuState> | null;
  /** ROM images and where they appear (base addresses), for GuestMemory. */
  roms: { name: string; data: Uint8Array; maps: { base: number; size?: number }[] }[];
  describe: string;
}

function readImage(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`${what} ${path} does not exist`);
    if (code === 'EACCES') throw new UsageError(`${what} ${path} cannot be read (permission denied)`);
    if (code === 'EISDIR') throw new UsageError(`${what} ${path} is a directory`);
    throw new UsageError(`${what} ${path} cannot be read: ${errorMessage(e)}`);
  }
}

export function bootSectorPlan(path: string): BootPlan {
  const img = readImage(path, 'disk image');
  if (img.length < 512) throw new UsageError(`disk image ${path} is ${img.length} bytes, smaller than one 512-byte sector`);
  if (img[510] !== 0x55 || img[511] !== 0xaa) {
    throw new UsageError(`disk image ${path} is not bootable: no 55 AA signature at the end of its first sector`);
  }
  return {
    blobs: [{ addr: 0x7c00, data: img.slice(0, 512), name: 'boot sector' }],
    entry: {
      cs: realSegment(0, 0x009b), ds: realSegment(0), es: realSegment(0), ss: realSegment(0),
      fs: realSegment(0), gs: realSegment(0),
      eip: 0x7c00, esp: 0x7c00, edx: 0x80, eflags: 0x2,
    },
    roms: [],
    describe: `boot sector of ${path} at 0000:7c00`,
  };
}

export function biosPlan(path: string): BootPlan {
  const img = readImage(path, 'BIOS image');
  if (img.length === 0 || img.length % 0x1000 !== 0 || img.length > 16 << 20) {
    throw new UsageError(`BIOS image ${path} is ${img.length} bytes; it must be a whole number of 4 KiB pages, at most 16 MiB`);
  }
  const isa = Math.min(img.length, 0x20000);
  return {
    blobs: [],
    entry: null,
    roms: [{ name: 'bios', data: img, maps: [{ base: 0x100000000 - img.length }, { base: 0x100000 - isa, size: isa }] }],
    describe: `BIOS ${path} (${img.length / 1024} KiB) at ${hex(0x100000000 - img.length, 8)} and ${hex(0x100000 - isa, 5)}`,
  };
}

const MB_MAGIC = 0x1badb002;
const MB_BOOTLOADER_MAGIC = 0x2badb002;
/** Where the Multiboot information structure and the command line go (free low memory). */
const MB_INFO_ADDR = 0x9000;

function flat(selector: number, code: boolean): SegmentCache {
  // Present, DPL 0, S=1, 32-bit, 4 KiB granularity: execute/read code or read/write data, accessed.
  return { selector, base: 0, limit: 0xffffffff, attr: (code ? 0x9b : 0x93) | 0xc000 };
}

export function multibootPlan(path: string, cmdline: string, ramSize: number): BootPlan {
  const img = readImage(path, 'kernel');
  const dv = new DataView(img.buffer, img.byteOffset, img.byteLength);
  let hdrOff = -1;
  for (let o = 0; o + 12 <= Math.min(img.length, 8192); o += 4) {
    const magic = dv.getUint32(o, true);
    const flags = dv.getUint32(o + 4, true);
    const sum = dv.getUint32(o + 8, true);
    if (magic === MB_MAGIC && ((magic + flags + sum) >>> 0) === 0) {
      hdrOff = o;
      break;
    }
  }
  if (hdrOff < 0) throw new UsageError(`kernel ${path} has no Multiboot header in its first 8 KiB`);
  const flags = dv.getUint32(hdrOff + 4, true);
  if (flags & 0xfffc) {
    const unknown = flags & 0xfff8;
    if (unknown) throw new UsageError(`kernel ${path} asks for Multiboot features hvmon does not provide (flags ${hex(flags)})`);
  }
  const blobs: Blob[] = [];
  let entry: number;
  let kernelEnd = 0;
  if (flags & 0x10000) {
    // a.out kludge: load addresses are in the header.
    const headerAddr = dv.getUint32(hdrOff + 12, true);
    const loadAddr = dv.getUint32(hdrOff + 16, true);
    const loadEndAddr = dv.getUint32(hdrOff + 20, true);
    const bssEndAddr = dv.getUint32(hdrOff + 24, true);
    entry = dv.getUint32(hdrOff + 28, true);
    const fileOff = hdrOff - (headerAddr - loadAddr);
    const len = loadEndAddr ? loadEndAddr - loadAddr : img.length - fileOff;
    if (fileOff < 0 || fileOff + len > img.length) throw new UsageError(`kernel ${path}: the Multiboot load addresses do not fit the file`);
    blobs.push({ addr: loadAddr, data: img.slice(fileOff, fileOff + len), name: 'kernel' });
    kernelEnd = Math.max(loadAddr + len, bssEndAddr);
    if (bssEndAddr > loadAddr + len) blobs.push({ addr: loadAddr + len, data: new Uint8Array(bssEndAddr - loadAddr - len), name: 'kernel bss' });
  } else {
    // ELF32: load every PT_LOAD segment at its physical address.
    if (dv.getUint32(0, false) !== 0x7f454c46 || img[4] !== 1 || img[5] !== 1 || dv.getUint16(18, true) !== 3) {
      throw new UsageError(`kernel ${path} is neither an ELF32 i386 file nor uses the Multiboot a.out kludge`);
    }
    entry = dv.getUint32(24, true);
    const phoff = dv.getUint32(28, true);
    const phentsize = dv.getUint16(42, true);
    const phnum = dv.getUint16(44, true);
    for (let i = 0; i < phnum; i++) {
      const p = phoff + i * phentsize;
      if (dv.getUint32(p, true) !== 1) continue;
      const off = dv.getUint32(p + 4, true);
      const paddr = dv.getUint32(p + 12, true);
      const filesz = dv.getUint32(p + 16, true);
      const memsz = dv.getUint32(p + 20, true);
      if (off + filesz > img.length) throw new UsageError(`kernel ${path}: segment ${i} runs past the end of the file`);
      const data = new Uint8Array(memsz);
      data.set(img.subarray(off, off + filesz));
      blobs.push({ addr: paddr, data, name: `kernel segment ${i}` });
      kernelEnd = Math.max(kernelEnd, paddr + memsz);
    }
  }
  for (const b of blobs) {
    if (b.addr + b.data.length > ramSize || (b.addr < 0x100000 && b.addr + b.data.length > 0xa0000)) {
      throw new UsageError(`kernel ${path} wants ${hex(b.addr)}-${hex(b.addr + b.data.length - 1)}, which is not RAM of this VM`);
    }
  }
  // Multiboot information: flags (mem, cmdline, boot loader name), mem_lower/upper in KiB.
  const info = new Uint8Array(0x1000);
  const iv = new DataView(info.buffer);
  const cmdOff = 0x100;
  const nameOff = 0x800;
  const enc = new TextEncoder();
  // As QEMU and GRUB do, the command line starts with the kernel's own name.
  const cmd = enc.encode((cmdline ? `${path} ${cmdline}` : path).slice(0, 0x6ff));
  info.set(cmd, cmdOff);
  info.set(enc.encode('hvmon'), nameOff);
  iv.setUint32(0, (1 << 0) | (1 << 2) | (1 << 9), true);
  iv.setUint32(4, 640, true);
  iv.setUint32(8, Math.floor((ramSize - 0x100000) / 1024), true);
  iv.setUint32(16, MB_INFO_ADDR + cmdOff, true);
  iv.setUint32(64, MB_INFO_ADDR + nameOff, true);
  void kernelEnd;
  blobs.push({ addr: MB_INFO_ADDR, data: info, name: 'multiboot info' });
  return {
    blobs,
    entry: {
      cr0: 0x11, // PE, ET
      cs: flat(0x08, true), ds: flat(0x10, false), es: flat(0x10, false), ss: flat(0x10, false),
      fs: flat(0x10, false), gs: flat(0x10, false),
      eip: entry >>> 0, eax: MB_BOOTLOADER_MAGIC, ebx: MB_INFO_ADDR, eflags: 0x2,
      gdtr: { base: 0, limit: 0 }, idtr: { base: 0, limit: 0x3ff },
    },
    roms: [],
    describe: `Multiboot kernel ${path}, entry ${hex(entry, 8)}`,
  };
}
