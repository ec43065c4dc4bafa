// Register access by name over a CpuState, for conditions, `info registers`, `reg-write` and
// the gdb stub: 32-bit, 16-bit and 8-bit GPR names, segments, eip/ip, eflags, CRs and DRs.

import type { CpuState, SegRegName } from '../vcpu/CpuState.js';
import { HvmonError } from '../../common/errors.js';

const GP32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;
const GP16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
const GP8L = ['al', 'cl', 'dl', 'bl'];
const GP8H = ['ah', 'ch', 'dh', 'bh'];
const SEGS: SegRegName[] = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];

export const REGISTER_NAMES: readonly string[] = [
  ...GP32, ...GP16, ...GP8L, ...GP8H, ...SEGS, 'eip', 'ip', 'eflags', 'flags',
  'cr0', 'cr2', 'cr3', 'cr4', 'dr0', 'dr1', 'dr2', 'dr3', 'dr6', 'dr7',
  'gdtr.base', 'gdtr.limit', 'idtr.base', 'idtr.limit', 'ldtr', 'tr',
  ...SEGS.map((s) => `${s}.base`), ...SEGS.map((s) => `${s}.limit`), ...SEGS.map((s) => `${s}.attr`),
];

export function readRegister(s: CpuState, name: string): number | undefined {
  const n = name.toLowerCase();
  let i = (GP32 as readonly string[]).indexOf(n);
  if (i >= 0) return s[GP32[i]] >>> 0;
  if ((i = GP16.indexOf(n)) >= 0) return s[GP32[i]] & 0xffff;
  if ((i = GP8L.indexOf(n)) >= 0) return s[GP32[i]] & 0xff;
  if ((i = GP8H.indexOf(n)) >= 0) return (s[GP32[i]] >>> 8) & 0xff;
  if ((SEGS as string[]).includes(n)) return s[n as SegRegName].selector;
  const dot = n.indexOf('.');
  if (dot > 0) {
    const base = n.slice(0, dot);
    const field = n.slice(dot + 1);
    if ((SEGS as string[]).includes(base)) {
      const seg = s[base as SegRegName];
      if (field === 'base') return seg.base >>> 0;
      if (field === 'limit') return seg.limit >>> 0;
      if (field === 'attr') return seg.attr;
    }
    if ((base === 'gdtr' || base === 'idtr') && (field === 'base' || field === 'limit')) return s[base][field] >>> 0;
    return undefined;
  }
  switch (n) {
    case 'eip': return s.eip >>> 0;
    case 'ip': return s.eip & 0xffff;
    case 'eflags': return s.eflags >>> 0;
    case 'flags': return s.eflags & 0xffff;
    case 'cr0': return s.cr0 >>> 0;
    case 'cr2': return s.cr2 >>> 0;
    case 'cr3': return s.cr3 >>> 0;
    case 'cr4': return s.cr4 >>> 0;
    case 'dr0': return s.dr[0] >>> 0;
    case 'dr1': return s.dr[1] >>> 0;
    case 'dr2': return s.dr[2] >>> 0;
    case 'dr3': return s.dr[3] >>> 0;
    case 'dr6': return s.dr[4] >>> 0;
    case 'dr7': return s.dr[5] >>> 0;
    case 'ldtr': return s.ldtr.selector;
    case 'tr': return s.tr.selector;
  }
  return undefined;
}

/**
 * Writes a register by name into a copy of the state. Segment selectors written this way get
 * a descriptor cache as a real-mode load would make (base = selector × 16) only in real mode;
 * in protected mode only the selector changes, and `cs.base` etc. can be written explicitly.
 */
export function writeRegister(s: CpuState, name: string, value: number): CpuState {
  const n = name.toLowerCase();
  const v = value >>> 0;
  const out: CpuState = structuredClone(s);
  let i = (GP32 as readonly string[]).indexOf(n);
  if (i >= 0) out[GP32[i]] = v;
  else if ((i = GP16.indexOf(n)) >= 0) out[GP32[i]] = ((s[GP32[i]] & ~0xffff) | (v & 0xffff)) >>> 0;
  else if ((i = GP8L.indexOf(n)) >= 0) out[GP32[i]] = ((s[GP32[i]] & ~0xff) | (v & 0xff)) >>> 0;
  else if ((i = GP8H.indexOf(n)) >= 0) out[GP32[i]] = ((s[GP32[i]] & ~0xff00) | ((v & 0xff) << 8)) >>> 0;
  else if ((SEGS as string[]).includes(n)) {
    const seg = out[n as SegRegName];
    seg.selector = v & 0xffff;
    if (!(s.cr0 & 1) || s.eflags & 0x20000) seg.base = (v & 0xffff) << 4;
  } else if (n.includes('.')) {
    const [base, field] = n.split('.');
    if ((SEGS as string[]).includes(base) && (field === 'base' || field === 'limit' || field === 'attr')) {
      out[base as SegRegName][field] = field === 'attr' ? v & 0xffff : v;
    } else if ((base === 'gdtr' || base === 'idtr') && (field === 'base' || field === 'limit')) {
      out[base][field] = field === 'limit' ? v & 0xffff : v;
    } else throw new HvmonError(`unknown register ${name}`);
  } else {
    switch (n) {
      case 'eip': out.eip = v; break;
      case 'ip': out.eip = v & 0xffff; break;
      case 'eflags': out.eflags = (v | 2) >>> 0; break;
      case 'flags': out.eflags = ((s.eflags & ~0xffff) | (v & 0xffff) | 2) >>> 0; break;
      case 'cr0': out.cr0 = v; break;
      case 'cr2': out.cr2 = v; break;
      case 'cr3': out.cr3 = v; break;
      case 'cr4': out.cr4 = v; break;
      case 'dr0': out.dr[0] = v; break;
      case 'dr1': out.dr[1] = v; break;
      case 'dr2': out.dr[2] = v; break;
      case 'dr3': out.dr[3] = v; break;
      case 'dr6': out.dr[4] = v; break;
      case 'dr7': out.dr[5] = v; break;
      default: throw new HvmonError(`unknown register ${name}`);
    }
  }
  return out;
}
