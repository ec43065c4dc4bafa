// Small helpers shared by the CPU tests: ready-made CpuState values and a machine with
// RAM and a ROM for the NASM guests (COM1 polled output, isa-debug-exit at 0xF4).

import type { CpuState, SegmentCache } from '../../src/core/vcpu/CpuState.js';

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
