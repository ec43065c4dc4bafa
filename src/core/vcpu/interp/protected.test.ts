// Protected mode: entering it from real mode, segment loads and their checks, unreal mode,
// call gates, task switches, V86 mode with the I/O bitmap, and the 486/Pentium additions.

import { describe, expect, it } from 'vitest';
import { ExitReason } from '../VcpuBackend.js';
import { Rig, asm, haveNasm, recordingHandlers } from './testing/rig.js';

function flat(code: string): Rig {
  const rig = new Rig();
  rig.load(0x3000, recordingHandlers());
  rig.load(0x2000, asm(code, 32, 0x2000));
  rig.flat(0x2000, { idtHandlers: 0x3000 });
  return rig;
}

describe.skipIf(!haveNasm())('protected mode', () => {
  it('enters protected mode from real mode, and back to real mode keeping the limits (unreal mode)', () => {
    const rig = new Rig();
    rig.flat(0); // writes the GDT at 0x500
    rig.desc(0x500, 6, 0, 0xffff, 0x9b, 0);
    rig.load(0x7c00, asm(`
      lgdt [gdtr]
      mov eax, cr0
      or al, 1
      mov cr0, eax
      jmp 0x08:pm
    bits 32
    pm:
      mov ax, 0x10
      mov ds, ax
      jmp 0x30:pm16            ; a 16-bit, 64 KiB code segment first (SDM 9.9.2)
    bits 16
    pm16:
      mov eax, cr0
      and al, 0xfe
      mov cr0, eax
      jmp 0:rm
    rm:
      xor ax, ax
      mov ds, ax
      mov dword [dword 0x200000], 0x600d     ; beyond 64 KiB: the 4 GiB limit is still cached
      hlt
    gdtr: dw 0x37
          dd 0x500`, 16, 0x7c00));
    rig.real(0, 0x7c00);
    expect(rig.run()).toBe(ExitReason.HLT);
    expect(rig.rd32(0x200000)).toBe(0x600d);
    expect(rig.cpu.getState().ds.limit).toBe(0xffffffff);
  });

  it('checks segment loads: null, beyond the table, type, privilege, presence', () => {
    const cases: [string, number, number][] = [
      ['mov ax, 0x38\nmov ds, ax', 11, 0x38],    // not present data: #NP
      ['mov ax, 0x38\nmov ss, ax', 12, 0x38],    // not present stack: #SS
      ['mov ax, 0x40\nmov ds, ax', 13, 0x40],    // execute-only code into DS: #GP
      ['mov ax, 0x1b\nmov ss, ax', 13, 0x18],    // RPL 3 stack at CPL 0: #GP
      ['xor eax, eax\nmov ss, ax', 13, 0],       // null SS: #GP(0)
      ['mov ax, 0x4b\nmov ds, ax', 13, 0x48],    // LDT selector with no LDT: #GP
      ['xor eax, eax\nmov ds, ax\nmov eax, [0]', 13, 0], // null DS used: #GP(0)
    ];
    for (const [code, vec, err] of cases) {
      const rig = flat(`${code}\nhlt`);
      rig.desc(0x500, 7, 0, 0xfffff, 0x13);   // 0x38: data, P=0
      rig.desc(0x500, 8, 0, 0xfffff, 0x99);   // 0x40: execute-only code
      rig.cpu.setState({ ...rig.cpu.getState(), gdtr: { base: 0x500, limit: 0x4f } });
      rig.run();
      expect([rig.u8[0x600], rig.rd32(0x604)], code).toEqual([vec, err]);
    }
  });

  it('sets the accessed bit of a descriptor when it is loaded', () => {
    const rig = flat('mov ax, 0x38\nmov es, ax\nhlt');
    rig.desc(0x500, 7, 0, 0xfffff, 0x92);
    rig.cpu.setState({ ...rig.cpu.getState(), gdtr: { base: 0x500, limit: 0x3f } });
    rig.run();
    expect(rig.u8[0x500 + 0x38 + 5]).toBe(0x93);
  });

  it('enforces expand-down limits', () => {
    const rig = flat('mov ax, 0x38\nmov es, ax\nmov eax, [es:0x2000]\nmov eax, [es:0xfff]\nhlt');
    rig.desc(0x500, 7, 0, 0xfff, 0x97, 0x4); // expand-down, limit 0xfff, B=1
    rig.cpu.setState({ ...rig.cpu.getState(), gdtr: { base: 0x500, limit: 0x3f } });
    rig.run();
    expect(rig.u8[0x600]).toBe(13);
    expect(rig.rd32(0x608)).toBe(0x2000 + 4 + 2 + 6);  // the second access faults
  });

  it('calls through a call gate to ring 0 from ring 3, copying parameters', () => {
    const rig = flat('hlt');
    rig.gate(0x500, 7, 0x08, 0x5000, 0xec, 2);     // 0x38: 32-bit call gate, DPL 3, 2 params
    rig.load(0x4000, asm('push 0x1111\npush 0x2222\ncall 0x3b:0\nhlt', 32, 0x4000));
    rig.load(0x5000, asm('mov eax, [esp+8]\nmov ebx, [esp+12]\nmov ecx, [esp+16]\nmov edx, cs\nretf 8', 32, 0x5000));
    const s = rig.cpu.getState();
    const ucode = { selector: 0x1b, base: 0, limit: 0xffffffff, attr: 0xc0fb };
    const udata = { selector: 0x23, base: 0, limit: 0xffffffff, attr: 0xc0f3 };
    rig.cpu.setState({ ...s, cs: ucode, ss: udata, ds: udata, es: udata, eip: 0x4000, esp: 0x7000, gdtr: { base: 0x500, limit: 0x3f } });
    rig.run();
    const t = rig.cpu.getState();
    // HLT at ring 3 is #GP: the handler recorded it; the registers show the gate's work.
    expect([t.eax, t.ebx, t.ecx, t.edx]).toEqual([0x2222, 0x1111, 0x7000 - 8, 0x08]);
    expect(rig.u8[0x600]).toBe(13);
    expect(rig.rd32(0x60c)).toBe(0x1b);
  });

  it('switches tasks with CALL and back with IRET, maintaining NT, busy bits and the back link', () => {
    const rig = flat('mov ebx, 0xb0b\ncall 0x38:0\nmov ecx, 0xc0c\nhlt');
    const tss = 0x10000;
    rig.desc(0x500, 7, tss, 0x67, 0x89, 0);
    rig.wr32(tss + 0x20, 0x5000);           // EIP
    rig.wr32(tss + 0x24, 2);
    rig.wr32(tss + 0x38, 0x9000);           // ESP
    for (const [off, sel] of [[0x48, 0x10], [0x4c, 0x08], [0x50, 0x10], [0x54, 0x10], [0x58, 0x10], [0x5c, 0x10]]) rig.wr32(tss + off, sel);
    rig.load(0x5000, asm('pushfd\npop eax\nmov edx, [0x10000]\nmov esi, ebx\niretd', 32, 0x5000));
    rig.cpu.setState({ ...rig.cpu.getState(), gdtr: { base: 0x500, limit: 0x3f } });
    rig.run();
    const s = rig.cpu.getState();
    // The called task's registers were saved in its TSS by the IRET.
    expect(rig.rd32(tss + 0x28) & 0x4000).toBe(0x4000); // EAX: NT in the called task
    expect(rig.rd32(tss + 0x30) & 0xffff).toBe(0x28);   // EDX: back link = the old TR
    expect(rig.rd32(tss + 0x40)).toBe(0);               // ESI: its EBX came from its TSS
    expect(rig.rd32(tss + 0x20)).toBe(0x5000 + 11);     // EIP: after the IRETD
    expect([s.ebx, s.ecx]).toEqual([0xb0b, 0xc0c]);
    expect(s.tr.selector).toBe(0x28);
    expect(s.eflags & 0x4000).toBe(0);
    expect(rig.u8[0x500 + 0x38 + 5] & 2).toBe(0); // the returned-from task is available again
    expect(rig.u8[0x500 + 0x28 + 5] & 2).toBe(2);
    expect(s.cr0 & 8).toBe(8);              // CR0.TS set by the switch
  });

  it('raises #DB (DR6.BT) on entering a task whose TSS has the T bit', () => {
    const rig = flat('jmp 0x38:0');
    const tss = 0x10000;
    rig.desc(0x500, 7, tss, 0x67, 0x89, 0);
    rig.wr32(tss + 0x20, 0x5000);
    rig.wr32(tss + 0x24, 2);
    rig.wr32(tss + 0x38, 0x9000);
    for (const [off, sel] of [[0x48, 0x10], [0x4c, 0x08], [0x50, 0x10], [0x54, 0x10]]) rig.wr32(tss + off, sel);
    rig.u8[tss + 0x64] = 1;                 // T
    rig.load(0x5000, [0x90, 0xf4]);
    rig.cpu.setState({ ...rig.cpu.getState(), gdtr: { base: 0x500, limit: 0x3f } });
    rig.run();
    expect([rig.u8[0x600], rig.rd32(0x608)]).toEqual([1, 0x5000]); // before the new task's first instruction
    expect(rig.cpu.getState().dr[4] & 0x8000).toBe(0x8000);
  });

  it('runs V86 code: INT from V86 reaches the 32-bit handler with the segments pushed; I/O bitmap', () => {
    const rig = flat('hlt');
    const tss = 0x10000;
    rig.wr32(tss + 4, 0x8000);
    rig.wr32(tss + 8, 0x10);
    rig.u8[tss + 0x66] = 0x68;
    rig.u8.fill(0xff, tss + 0x68, tss + 0x68 + 0x2001);
    rig.u8[tss + 0x68 + (0x80 >> 3)] = 0xfe; // port 0x80 allowed
    rig.desc(0x500, 5, tss, 0x2068, 0x8b, 0);
    rig.load(0x60000, asm('mov al, 1\nout 0x80, al\nin al, 0x81\nhlt', 16, 0));
    const s = rig.cpu.getState();
    const v = (sel: number): { selector: number; base: number; limit: number; attr: number } => ({ selector: sel, base: sel << 4, limit: 0xffff, attr: 0xf3 });
    rig.cpu.setState({ ...s, eflags: 0x20002, cs: v(0x6000), ss: v(0x5000), ds: v(0x1234), es: v(0x4321), eip: 0, esp: 0x100, tr: { selector: 0x28, base: tss, limit: 0x2068, attr: 0x8b } });
    expect(rig.run()).toBe(ExitReason.HLT);
    expect(rig.outs).toEqual([[0x80, 1, 1]]);
    expect(rig.u8[0x600]).toBe(13);        // IN 0x81: denied by the bitmap
    expect(rig.rd32(0x60c)).toBe(0x6000);  // pushed CS is the V86 segment
    // Above the pushed EFLAGS: ESP, SS, ES, DS, FS, GS of the V86 task.
    const frame = rig.cpu.getState().esp;
    expect([rig.rd32(frame + 4), rig.rd32(frame + 8), rig.rd32(frame + 12), rig.rd32(frame + 16)]).toEqual([0x100, 0x5000, 0x4321, 0x1234]);
    expect(rig.rd32(frame) & 0x20000).toBe(0x20000); // VM in the pushed EFLAGS
    expect(rig.cpu.getState().ds.selector).toBe(0);  // data segments nulled for the handler
  });

  it('implements the 486/Pentium integer instructions', () => {
    const rig = flat(`
      mov eax, 0x11223344
      bswap eax
      mov [0x700], eax
      mov ecx, 5
      mov edx, 7
      xadd ecx, edx            ; ecx = 12, edx = 5
      mov [0x704], ecx
      mov [0x708], edx
      mov eax, 12
      mov ebx, 99
      cmpxchg ecx, ebx         ; equal: ecx = 99
      mov [0x70c], ecx
      mov dword [0x720], 1
      mov dword [0x724], 2
      mov eax, 1
      mov edx, 2
      mov ebx, 0xaaaa
      mov ecx, 0xbbbb
      cmpxchg8b [0x720]
      setz byte [0x710]
      mov esi, 1
      cmp esi, 2
      mov edi, 0x55
      cmovl edi, esi           ; taken
      mov [0x714], edi
      xor eax, eax
      cpuid
      mov [0x730], ebx
      mov [0x734], edx
      mov [0x738], ecx
      mov eax, 1
      cpuid
      mov [0x73c], edx
      rdtsc
      mov [0x740], eax
      mov ecx, 0x10
      rdmsr
      hlt`);
    rig.run();
    expect(rig.rd32(0x700)).toBe(0x44332211);
    expect([rig.rd32(0x704), rig.rd32(0x708), rig.rd32(0x70c)]).toEqual([12, 5, 99]);
    expect([rig.rd32(0x720), rig.rd32(0x724), rig.u8[0x710]]).toEqual([0xaaaa, 0xbbbb, 1]);
    expect(rig.rd32(0x714)).toBe(1);
    expect(Buffer.from(rig.u8.subarray(0x730, 0x73c)).toString('latin1')).toBe('GenuineIntel');
    const features = rig.rd32(0x73c);
    expect(features & 1).toBe(0);           // no FPU
    expect(features & (1 << 8)).not.toBe(0); // CX8
    expect(rig.rd32(0x740)).toBeGreaterThan(0);
  });

  it('raises #GP for an unknown MSR and for RDTSC at CPL 3 with CR4.TSD', () => {
    const rig = flat('mov ecx, 0x1234\nrdmsr\nhlt');
    rig.run();
    expect(rig.u8[0x600]).toBe(13);
    const rig2 = flat('mov ecx, 0x8b\nxor eax, eax\nxor edx, edx\nwrmsr\nrdmsr\nmov ecx, 0x10\nxor edx, edx\nmov eax, 1000\nwrmsr\nrdtsc\nhlt');
    rig2.run();
    expect(rig2.u8[0x600]).toBe(0);
    expect(rig2.cpu.getState().eax).toBe(1000 + 1); // the RDTSC after the WRMSR
    const rig3 = flat('hlt');
    rig3.load(0x4000, asm('rdtsc\nhlt', 32, 0x4000));
    const ucode = { selector: 0x1b, base: 0, limit: 0xffffffff, attr: 0xc0fb };
    const udata = { selector: 0x23, base: 0, limit: 0xffffffff, attr: 0xc0f3 };
    rig3.cpu.setState({ ...rig3.cpu.getState(), cs: ucode, ss: udata, ds: udata, eip: 0x4000, esp: 0x7000, cr4: 4 });
    rig3.run();
    expect(rig3.u8[0x600]).toBe(13);
  });

  it('ESC opcodes: #NM with CR0.EM or CR0.TS, otherwise no coprocessor (FNSTSW leaves its operand)', () => {
    const rig = flat('mov word [0x700], 0x5a5a\nfninit\nfnstsw [0x700]\nhlt');
    rig.run();
    expect(rig.u8[0x600]).toBe(0);           // no exception
    expect(rig.rd32(0x700) & 0xffff).toBe(0x5a5a);
    const rig2 = flat('fninit\nhlt');
    rig2.cpu.setState({ ...rig2.cpu.getState(), cr0: 0x11 | 8 });
    rig2.run();
    expect(rig2.u8[0x600]).toBe(7);
  });

  it('LAR, LSL, VERR, VERW read descriptors without faulting', () => {
    const rig = flat(`
      mov ax, 0x10
      lar ebx, ax
      lsl ecx, ax
      verr ax
      setz [0x700]
      mov ax, 0x40
      verw ax
      setz [0x701]
      mov ax, 0x1f8
      lar edx, ax
      setz [0x702]
      hlt`);
    rig.desc(0x500, 8, 0, 0xfffff, 0x99); // execute-only code: not writable
    rig.cpu.setState({ ...rig.cpu.getState(), gdtr: { base: 0x500, limit: 0x47 } });
    rig.run();
    const s = rig.cpu.getState();
    expect(s.ebx).toBe(0x00cf9300);
    expect(s.ecx).toBe(0xffffffff);
    expect([rig.u8[0x700], rig.u8[0x701], rig.u8[0x702]]).toEqual([1, 0, 0]);
  });
});
