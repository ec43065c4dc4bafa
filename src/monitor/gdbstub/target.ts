// What gdb is told about the vCPU: the target description (GDB manual, "Target Descriptions"
// → "i386 Features") and the register layout of the g/G/p/P packets that follows from it.
//
// gdb's i386 architecture insists on the whole `org.gnu.gdb.i386.core` feature: the sixteen
// integer registers in its order (eax ecx edx ebx esp ebp esi edi eip eflags cs ss ds es fs gs)
// and the x87 registers after them. The interpreter has no FPU state, so st0-st7 and the x87
// control registers read as after FNINIT and writes to them are ignored. There is no
// `org.gnu.gdb.i386.sse` feature: gdb accepts a core-only description (an x87-only CPU).
//
// After the core come our own registers in a feature gdb does not know, which it shows as
// extra registers in the "system" group (`info registers system`, `$cr0`, `$cs_base`): the
// control registers and the segment descriptor caches' bases, so that a real-mode user can
// write `x/4i $cs_base + $eip`.
//
// The description names the architecture: `i8086` while the vCPU is in real mode (gdb then
// disassembles 16-bit code), `i386` otherwise. gdb reads it once per connection.

import { readRegister, writeRegister } from '../../core/debug/registers.js';
import { cpuMode, type CpuState } from '../../core/vcpu/CpuState.js';
import { le32Hex, RspError } from './rsp.js';

export interface GdbRegister {
  name: string;
  bits: 32 | 80;
  type: string;
  group?: 'general' | 'float' | 'system';
  /** hvmon's name for it (registers.ts); undefined: not modelled (x87). */
  hv?: string;
  /** Value of an unmodelled register: FNINIT's. */
  fixed?: number;
}

const r32 = (name: string, type: string, hv: string, group?: GdbRegister['group']): GdbRegister => ({ name, bits: 32, type, hv, group });
const x87 = (name: string, fixed: number): GdbRegister => ({ name, bits: 32, type: 'int', group: 'float', fixed });

/** Every register in gdb's numbering: the `p`/`P` index is the position here. */
export const GDB_REGISTERS: readonly GdbRegister[] = [
  r32('eax', 'int32', 'eax'), r32('ecx', 'int32', 'ecx'), r32('edx', 'int32', 'edx'), r32('ebx', 'int32', 'ebx'),
  r32('esp', 'data_ptr', 'esp'), r32('ebp', 'data_ptr', 'ebp'), r32('esi', 'int32', 'esi'), r32('edi', 'int32', 'edi'),
  r32('eip', 'code_ptr', 'eip'), r32('eflags', 'i386_eflags', 'eflags'),
  r32('cs', 'int32', 'cs'), r32('ss', 'int32', 'ss'), r32('ds', 'int32', 'ds'),
  r32('es', 'int32', 'es'), r32('fs', 'int32', 'fs'), r32('gs', 'int32', 'gs'),
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((i): GdbRegister => ({ name: `st${i}`, bits: 80, type: 'i387_ext', group: 'float', fixed: 0 })),
  // FNINIT: control word 037Fh, status 0, every tag empty (FFFFh), no last instruction.
  x87('fctrl', 0x037f), x87('fstat', 0), x87('ftag', 0xffff), x87('fiseg', 0),
  x87('fioff', 0), x87('foseg', 0), x87('fooff', 0), x87('fop', 0),
  r32('cr0', 'int32', 'cr0', 'system'), r32('cr2', 'data_ptr', 'cr2', 'system'),
  r32('cr3', 'int32', 'cr3', 'system'), r32('cr4', 'int32', 'cr4', 'system'),
  ...(['es', 'cs', 'ss', 'ds', 'fs', 'gs'] as const).map((s) => r32(`${s}_base`, 'int32', `${s}.base`, 'system')),
];

/** Index of the first register of our own feature (after gdb's core). */
const CORE_COUNT = 32;

export const REG_EIP = 8;
export const REG_ESP = 4;
export const REG_EBP = 5;

function regXml(r: GdbRegister, regnum: number): string {
  const group = r.group ? ` group="${r.group}"` : '';
  return `    <reg name="${r.name}" bitsize="${r.bits}" type="${r.type}" regnum="${regnum}"${group}/>`;
}

/** The description gdb reads with qXfer:features:read:target.xml. */
export function targetXml(state: Pick<CpuState, 'cr0' | 'eflags' | 'cs'> | null): string {
  const arch = state && cpuMode(state) === 'real' ? 'i8086' : 'i386';
  const flags = [
    [0, 'CF'], [1, ''], [2, 'PF'], [4, 'AF'], [6, 'ZF'], [7, 'SF'], [8, 'TF'], [9, 'IF'], [10, 'DF'], [11, 'OF'],
    [14, 'NT'], [16, 'RF'], [17, 'VM'], [18, 'AC'], [19, 'VIF'], [20, 'VIP'], [21, 'ID'],
  ] as const;
  const lines = [
    '<?xml version="1.0"?>',
    '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
    '<target version="1.0">',
    `  <architecture>${arch}</architecture>`,
    // A bare machine: without this gdb assumes its host's OS ABI (GNU/Linux), for which it
    // has no i8086 support, and warns.
    '  <osabi>none</osabi>',
    '  <feature name="org.gnu.gdb.i386.core">',
    '    <flags id="i386_eflags" size="4">',
    ...flags.map(([bit, name]) => `      <field name="${name}" start="${bit}" end="${bit}"/>`),
    '    </flags>',
    ...GDB_REGISTERS.slice(0, CORE_COUNT).map((r, i) => regXml(r, i)),
    '  </feature>',
    '  <feature name="org.hvmon.i386.system">',
    ...GDB_REGISTERS.slice(CORE_COUNT).map((r, i) => regXml(r, CORE_COUNT + i)),
    '  </feature>',
    '</target>',
    '',
  ];
  return lines.join('\n');
}

/** One register as the p packet and the g packet carry it: target byte order (little-endian). */
export function registerHex(s: CpuState, index: number): string {
  const r = GDB_REGISTERS[index];
  if (!r) throw new RspError(`there is no register ${index}`);
  if (r.bits === 80) return '00'.repeat(10);
  const v = r.hv !== undefined ? readRegister(s, r.hv) ?? 0 : r.fixed ?? 0;
  return le32Hex(v);
}

/** The g packet's reply: every register in order. */
export function allRegistersHex(s: CpuState): string {
  let out = '';
  for (let i = 0; i < GDB_REGISTERS.length; i++) out += registerHex(s, i);
  return out;
}

function le32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

/**
 * Applies a P packet's value to a copy of the state. Returns null when the register is one we
 * do not model (x87): gdb is told OK and the value is dropped.
 */
export function writeRegisterBytes(s: CpuState, index: number, value: Uint8Array): CpuState | null {
  const r = GDB_REGISTERS[index];
  if (!r) throw new RspError(`there is no register ${index}`);
  if (value.length !== r.bits / 8) throw new RspError(`register ${r.name} takes ${r.bits / 8} bytes, not ${value.length}`);
  if (r.hv === undefined) return null;
  return writeRegister(s, r.hv, le32(value, 0));
}

/**
 * Applies a G packet to a copy of the state: the registers whose value differs are written
 * through registers.ts, so a segment selector written in real mode gets its base as a load
 * would give it. A shorter packet (gdb may leave out trailing registers) changes fewer.
 */
export function writeAllRegisters(s: CpuState, bytes: Uint8Array): CpuState {
  let out = s;
  let at = 0;
  for (let i = 0; i < GDB_REGISTERS.length && at < bytes.length; i++) {
    const r = GDB_REGISTERS[i];
    const size = r.bits / 8;
    if (at + size > bytes.length) throw new RspError('the G packet ends in the middle of a register');
    if (r.hv !== undefined) {
      const v = le32(bytes, at);
      // Compared with the state before the packet: a selector written in real mode moves its
      // base, and the stale base later in the same packet must not move it back.
      if (readRegister(s, r.hv) !== v) out = writeRegister(out, r.hv, v);
    }
    at += size;
  }
  if (at < bytes.length) throw new RspError('the G packet is longer than the register file');
  return out;
}
