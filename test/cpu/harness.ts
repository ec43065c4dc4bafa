// Small helpers shared by the CPU tests: ready-made CpuState values and a machine with
// RAM and a ROM for the NASM guests (COM1 polled output, isa-debug-exit at 0xF4).

import type { CpuState, SegmentCache } from '../../src/core/vcpu/CpuState.js';
import { DebugTables } from '../../src/core/debug/DebugTables.js';
import { ExitReason, IoDir } from '../../src/core/vcpu/VcpuBackend.js';
import { GuestMemory } from '../../src/core/memory/GuestMemory.js';
import { InterpVcpu } from '../../src/core/vcpu/interp/InterpVcpu.js';
import type { JitOptions } from '../../src/core/vcpu/interp/jit.js';
import { readFileSync } from 'node:fs';


const seg = (sel: number, base: number, limit: number, attr: number): SegmentCache => ({ selector: sel, base, limit, attr });

function baseState(): CpuState {
  const z = seg(0, 0, 0xffff, 0x93);
  return {
    eax: 0, ecx: 0, edx: 0, ebx: 0, esp: 0, ebp: 0, esi: 0, edi: 0, eip: 0, eflags: 2,
    es: z, cs: seg(0, 0, 0xffff, 0x9b), ss: z, ds: z, fs: z, gs: z,
    ldtr: seg(0, 0, 0xffff, 0x82), tr: seg(0, 0, 0xffff, 0x8b),
    gdtr: { base: 0, limit: 0xffff }, idtr: { base: 0, limit: 0x3ff },
    cr0: 0x10, cr2: 0, cr3: 0, cr4: 0, dr: [0, 0, 0, 0, 0xffff0ff0, 0x400], tsc: 0, msrs: {},
    halted: false, interruptShadow: false, nmiPending: false, icount: 0,
  };
}

/** Real mode at cs:ip, all data segments 0, SP 0xFFF0. */
export function realState(cs: number, ip: number): CpuState {
  const s = baseState();
  s.cs = seg(cs, cs << 4, 0xffff, 0x9b);
  s.eip = ip;
  s.esp = 0xfff0;
  return s;
}

/** Flat 32-bit protected mode, CPL 0, no paging, no GDT behind the caches. */
export function flatState(eip: number): CpuState {
  const s = baseState();
  const data = seg(0x10, 0, 0xffffffff, 0xc093);
  s.cs = seg(0x08, 0, 0xffffffff, 0xc09b);
  s.ds = s.es = s.ss = s.fs = s.gs = data;
  s.cr0 = 0x11;
  s.eip = eip;
  s.esp = 0x9000;
  return s;
}

// ---- a tiny machine for the NASM guests ----


export interface GuestResult {
  /** Text written to COM1 (and to the debugcon port 0xE9). */
  serial: string;
  /** Value written to isa-debug-exit (0xF4), or null when the guest never wrote it. */
  exitValue: number | null;
  /** Why the run ended: 'exit', 'shutdown', 'hlt', 'budget' or an error message. */
  end: string;
  instructions: number;
}

/**
 * Runs a 64 KiB ROM image the way `qemu-system-i386 -bios` maps it (at 0xF0000 and at
 * 0xFFFF0000), with 640 KiB of RAM, answering the guest's port I/O itself: COM1 LSR reads
 * 0x60 (transmitter empty), THR writes are collected, a write to 0xF4 ends the run.
 */
export function runGuest(rom: Uint8Array | string, maxInstructions = 50_000_000, jit: JitOptions | false = {}): GuestResult {
  const image = typeof rom === 'string' ? new Uint8Array(readFileSync(rom)) : rom;
  const mem = GuestMemory.create(0xa0000, [{ name: 'bios', data: image }]);
  mem.mapRam(0, 0xa0000);
  mem.mapRom('bios', 0xf0000, 0x10000);
  mem.mapRom('bios', 0xffff0000, 0x10000);
  const cpu = new InterpVcpu(mem, new Int32Array(new SharedArrayBuffer(4)), new DebugTables(), { jit });
  cpu.reset();
  const x = cpu.exit;
  let serial = '';
  let exitValue: number | null = null;
  let end = 'budget';
  loop: while (cpu.icount < maxInstructions) {
    const r = cpu.run(1_000_000);
    switch (r) {
      case ExitReason.IO:
        if (x.dir === IoDir.READ) {
          const v = x.addr === 0x3fd ? 0x60 : 0xff;
          x.data.fill(v, 0, x.size * x.count);
          cpu.completeIo();
        } else if (x.addr === 0x3f8 || x.addr === 0xe9) {
          for (let i = 0; i < x.count; i++) serial += String.fromCharCode(x.data[i * x.size]);
        } else if (x.addr === 0xf4) {
          exitValue = x.value() & 0xff;
          end = 'exit';
          break loop;
        }
        break;
      case ExitReason.MMIO:
        if (x.dir === IoDir.READ) {
          x.data.fill(0xff, 0, x.size);
          cpu.completeIo();
        }
        break;
      case ExitReason.INTR:
        break;
      case ExitReason.HLT:
        end = 'hlt';
        break loop;
      case ExitReason.SHUTDOWN:
        end = 'shutdown';
        break loop;
      default:
        end = `exit ${r}: ${x.message}`;
        break loop;
    }
  }
  return { serial, exitValue, end, instructions: cpu.icount };
}
