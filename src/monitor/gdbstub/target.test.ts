import { describe, expect, it } from 'vitest';
import { realSegment, type CpuState } from '../../core/vcpu/CpuState.js';
import { fromHex, RspError } from './rsp.js';
import { allRegistersHex, GDB_REGISTERS, REG_EIP, registerHex, targetXml, writeAllRegisters, writeRegisterBytes } from './target.js';

function realModeState(): CpuState {
  const seg = realSegment(0);
  return {
    eax: 0x11223344, ecx: 1, edx: 0x80, ebx: 3, esp: 0x7c00, ebp: 5, esi: 6, edi: 7, eip: 0x7c00, eflags: 0x202,
    es: { ...seg }, cs: realSegment(0, 0x9b), ss: { ...seg }, ds: { ...seg }, fs: { ...seg }, gs: { ...seg },
    ldtr: { selector: 0, base: 0, limit: 0xffff, attr: 0x82 }, tr: { selector: 0, base: 0, limit: 0xffff, attr: 0x8b },
    gdtr: { base: 0, limit: 0xffff }, idtr: { base: 0, limit: 0x3ff },
    cr0: 0x60000010, cr2: 0, cr3: 0, cr4: 0, dr: [0, 0, 0, 0, 0xffff0ff0, 0x400], tsc: 0, msrs: {},
    halted: false, interruptShadow: false, nmiPending: false, icount: 0,
  };
}

describe('the target description and register layout', () => {
  it('says i8086 in real mode and i386 in protected mode, with gdb\'s core register order', () => {
    const s = realModeState();
    const xml = targetXml(s);
    expect(xml).toContain('<architecture>i8086</architecture>');
    expect(targetXml({ ...s, cr0: s.cr0 | 1, cs: { ...s.cs, attr: 0xc09b } })).toContain('<architecture>i386</architecture>');
    const names = [...xml.matchAll(/<reg name="([^"]+)"[^>]*regnum="(\d+)"/g)].map((m) => [m[1], Number(m[2])]);
    expect(names.slice(0, 16).map((n) => n[0])).toEqual(['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'eip', 'eflags', 'cs', 'ss', 'ds', 'es', 'fs', 'gs']);
    expect(names.map((n) => n[1])).toEqual(names.map((_, i) => i));
    expect(names.length).toBe(GDB_REGISTERS.length);
  });

  it('puts every register in the g packet, little-endian, x87 as after FNINIT', () => {
    const g = allRegistersHex(realModeState());
    expect(g.slice(0, 8)).toBe('44332211');
    expect(registerHex(realModeState(), REG_EIP)).toBe('007c0000');
    expect(registerHex(realModeState(), 16)).toBe('00'.repeat(10)); // st0
    expect(registerHex(realModeState(), 24)).toBe('7f030000'); // fctrl
    expect(() => registerHex(realModeState(), GDB_REGISTERS.length)).toThrow(RspError);
  });

  it('writes back what G changes, with real-mode segment bases following their selectors', () => {
    const s = realModeState();
    const g = fromHex(allRegistersHex(s));
    g.set([0x34, 0x12, 0, 0], 0); // eax
    g.set([0x00, 0x10, 0, 0], 13 * 4); // es = 1000h
    const out = writeAllRegisters(s, g);
    expect(out.eax).toBe(0x1234);
    expect(out.es.selector).toBe(0x1000);
    // The stale es_base later in the same packet does not undo the load.
    expect(out.es.base).toBe(0x10000);
    expect(s.eax).toBe(0x11223344);
    expect(() => writeAllRegisters(s, g.subarray(0, 10))).toThrow(RspError);
  });

  it('writes one register with P, and ignores x87 writes', () => {
    const s = realModeState();
    expect(writeRegisterBytes(s, REG_EIP, fromHex('107c0000'))!.eip).toBe(0x7c10);
    expect(writeRegisterBytes(s, 16, new Uint8Array(10))).toBeNull();
    expect(() => writeRegisterBytes(s, REG_EIP, fromHex('10'))).toThrow(RspError);
  });
});
