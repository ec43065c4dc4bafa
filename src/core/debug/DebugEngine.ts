// The debugger engine: one breakpoint table shared by every client (monitor sockets, the TUI,
// gdb), published to the vCPU thread as definitions (conditions, counts) and as the shared
// tables it checks on its hot path. It also gives clients memory by physical or linear
// address and the page walk, so that the monitor and the gdb stub say the same things.

import { HvmonError } from '../../common/errors.js';
import { hex } from '../../common/types.js';
import type { Machine } from '../machine/Machine.js';
import type { DevicePeek } from '../../devices/daemon/protocol.js';
import { PAGE_SIZE } from '../memory/GuestMemory.js';
import { Cr0, Cr4, type CpuState } from '../vcpu/CpuState.js';
import type { TranslateResult } from '../vcpu/VcpuBackend.js';
import { Condition } from './condition.js';
import { Access, WatchSpace, MAX_EXEC, MAX_MMIO, MAX_WATCH } from './DebugTables.js';
import type { AccessKind, BreakpointDef, BreakpointType } from './types.js';

export interface BreakpointRequest {
  type: BreakpointType;
  addr: number;
  end?: number;
  access?: AccessKind;
  space?: 'phys' | 'linear';
  condition?: string | null;
  temporary?: boolean;
  ignore?: number;
  enabled?: boolean;
  vcpu?: number;
  origin?: string;
}

export interface BreakpointView extends BreakpointDef {
  hits: number;
}

const MAX_IDS = 65535;

function accessBits(a: AccessKind): number {
  return (a.includes('r') ? Access.READ : 0) | (a.includes('w') ? Access.WRITE : 0);
}

export class DebugEngine {
  private readonly _bps = new Map<number, BreakpointDef>();
  private _nextId = 1;
  /** Serializes publications so that the vCPU thread sees them in order. */
  private _publishing: Promise<void> = Promise.resolve();
  /** Called after every change (so front ends can refresh). */
  onChange: (() => void) | null = null;

  constructor(readonly machine: Machine) {
    machine.on('temporary-hit', (id) => {
      this._bps.delete(id);
      void this._publish();
    });
    machine.on('reset', () => void this._publish());
  }

  // -------------------------------------------------------------------------------------
  // Breakpoints
  // -------------------------------------------------------------------------------------

  list(): BreakpointView[] {
    return [...this._bps.values()].sort((a, b) => a.id - b.id).map((d) => ({ ...d, hits: Atomics.load(this.machine.hits, d.id) }));
  }

  get(id: number): BreakpointDef {
    const d = this._bps.get(id);
    if (!d) throw new HvmonError(`no breakpoint number ${id}`);
    return d;
  }

  async insert(r: BreakpointRequest): Promise<BreakpointView> {
    const end = r.end ?? r.addr;
    const limits: Record<BreakpointType, number> = { exec: 0xffffffff, watch: 0xffffffff, io: 0xffff, mmio: 0xffffffff, interrupt: 0xff };
    const lim = limits[r.type];
    if (lim === undefined) throw new HvmonError(`unknown breakpoint type ${r.type} (exec, watch, io, mmio, interrupt)`);
    if (!Number.isInteger(r.addr) || r.addr < 0 || r.addr > lim) throw new HvmonError(`${r.type} breakpoint address ${r.addr} is out of range (0-${hex(lim)})`);
    if (!Number.isInteger(end) || end < r.addr || end > lim) throw new HvmonError(`${r.type} breakpoint range ends at ${hex(end)}, before it starts or out of range`);
    if (r.type === 'exec' && end !== r.addr) throw new HvmonError('an exec breakpoint is one address');
    if (r.type === 'io' && end - r.addr >= 0x10000) throw new HvmonError('an I/O breakpoint covers at most 65536 ports');
    const access: AccessKind = r.access ?? (r.type === 'watch' ? 'w' : 'rw');
    if (!['r', 'w', 'rw'].includes(access)) throw new HvmonError(`access must be r, w or rw, not ${access}`);
    if (r.condition) new Condition(r.condition); // throws a clear ConditionError
    if (r.ignore !== undefined && (!Number.isInteger(r.ignore) || r.ignore < 0)) throw new HvmonError('ignore count must be a whole number');
    if (r.vcpu !== undefined && (r.vcpu < 0 || r.vcpu >= this.machine.config.vcpus)) throw new HvmonError(`there is no vCPU ${r.vcpu}`);
    const counts = this._counts();
    const cap = { exec: MAX_EXEC, watch: MAX_WATCH, mmio: MAX_MMIO, io: Infinity, interrupt: Infinity }[r.type];
    if ((counts[r.type] ?? 0) >= cap) throw new HvmonError(`at most ${cap} ${r.type} breakpoints can be set`);
    if (this._nextId > MAX_IDS) throw new HvmonError('breakpoint numbers are used up; restart the monitor session');
    const def: BreakpointDef = {
      id: this._nextId++,
      type: r.type,
      addr: r.addr >>> 0,
      end: end >>> 0,
      access,
      space: r.space ?? (r.type === 'watch' ? 'phys' : 'linear'),
      condition: r.condition ?? null,
      ignore: r.ignore ?? 0,
      temporary: r.temporary ?? false,
      enabled: r.enabled ?? true,
      vcpu: r.vcpu,
      origin: r.origin ?? '',
    };
    Atomics.store(this.machine.hits, def.id, 0);
    this._bps.set(def.id, def);
    await this._publish();
    return { ...def, hits: 0 };
  }

  private _counts(): Partial<Record<BreakpointType, number>> {
    const c: Partial<Record<BreakpointType, number>> = {};
    for (const d of this._bps.values()) c[d.type] = (c[d.type] ?? 0) + 1;
    return c;
  }

  async delete(ids: number[] | 'all'): Promise<number[]> {
    const list = ids === 'all' ? [...this._bps.keys()] : ids;
    for (const id of list) this.get(id);
    for (const id of list) this._bps.delete(id);
    await this._publish();
    return list;
  }

  async update(id: number, change: { enabled?: boolean; condition?: string | null; ignore?: number }): Promise<BreakpointView> {
    const d = this.get(id);
    if (change.condition) new Condition(change.condition);
    if (change.ignore !== undefined && (!Number.isInteger(change.ignore) || change.ignore < 0)) throw new HvmonError('ignore count must be a whole number');
    if (change.enabled !== undefined) d.enabled = change.enabled;
    if (change.condition !== undefined) d.condition = change.condition || null;
    if (change.ignore !== undefined) d.ignore = change.ignore;
    await this._publish();
    return { ...d, hits: Atomics.load(this.machine.hits, id) };
  }

  /** Definitions to the vCPU thread first, then the shared tables that arm them. */
  private _publish(): Promise<void> {
    const run = async (): Promise<void> => {
      const enabled = [...this._bps.values()].filter((d) => d.enabled);
      await this.machine.vcpu({ t: 'breakpoints', list: [...this._bps.values()] }).catch(() => undefined);
      this.machine.tables.publish({
        exec: enabled.filter((d) => d.type === 'exec').map((d) => ({ addr: d.addr, id: d.id })),
        watch: enabled.filter((d) => d.type === 'watch').map((d) => ({
          start: d.addr, end: (d.end + 1) >>> 0 || 0xffffffff, access: accessBits(d.access),
          space: d.space === 'linear' ? WatchSpace.LINEAR : WatchSpace.PHYS, id: d.id,
        })),
        io: enabled.filter((d) => d.type === 'io').map((d) => ({ start: d.addr, end: d.end })),
        mmio: enabled.filter((d) => d.type === 'mmio').map((d) => ({ start: d.addr, end: (d.end + 1) >>> 0 || 0xffffffff, access: accessBits(d.access), id: d.id })),
        vectors: [...new Set(enabled.filter((d) => d.type === 'interrupt').flatMap((d) => range(d.addr, d.end)))],
      });
      this.onChange?.();
    };
    this._publishing = this._publishing.then(run, run);
    return this._publishing;
  }

  // -------------------------------------------------------------------------------------
  // Memory
  // -------------------------------------------------------------------------------------

  /** Linear → physical through vCPU `vcpu`'s page tables (no A/D side effects). */
  async translate(linear: number, vcpu = 0, write = false): Promise<TranslateResult> {
    return this.machine.vcpu<TranslateResult>({ t: 'translate', vcpu, addr: linear >>> 0, write });
  }

  /** Reads guest memory. Linear reads go page by page through the page tables. */
  async read(addr: number, length: number, space: 'phys' | 'linear', vcpu = 0): Promise<Uint8Array> {
    if (!Number.isInteger(length) || length < 0 || length > 16 << 20) throw new HvmonError('read length must be 0-16 MiB');
    const out = new Uint8Array(length);
    if (space === 'phys') {
      await this._readPhys(addr >>> 0, out);
      return out;
    }
    for (let i = 0; i < length; ) {
      const lin = (addr + i) >>> 0;
      const chunk = Math.min(PAGE_SIZE - (lin & (PAGE_SIZE - 1)), length - i);
      const t = await this.translate(lin, vcpu);
      if (!t.ok) throw new HvmonError(`cannot read linear ${hex(lin, 8)}: ${t.fault}`);
      await this._readPhys(t.phys, out.subarray(i, i + chunk));
      i += chunk;
    }
    return out;
  }

  /**
   * Physical memory as the guest would read it: RAM and ROM from guest memory, device memory
   * (VGA) from the device model without a read's side effects; the rest reads as 0xFF, as
   * open bus does. (In-core MMIO, the local APIC, is not shown: its reads are registers.)
   */
  private async _readPhys(phys: number, into: Uint8Array): Promise<void> {
    const mem = this.machine.mem;
    if (mem.read(phys, into) === into.length) return;
    // Runs of pages that are not RAM or ROM.
    for (let i = 0; i < into.length; ) {
      const a = (phys + i) >>> 0;
      const chunk = Math.min(PAGE_SIZE - (a & (PAGE_SIZE - 1)), into.length - i);
      if (mem.hostRead(a) >= 0) {
        i += chunk;
        continue;
      }
      let end = i + chunk;
      while (end < into.length && mem.hostRead((phys + end) >>> 0) < 0) end += Math.min(PAGE_SIZE, into.length - end);
      let dev: DevicePeek;
      try {
        dev = await this.machine.peekDevices(a, end - i);
      } catch {
        return; // The device model is gone (the VM is quitting): open bus it stays.
      }
      for (let k = 0; k < dev.known.length; k++) if (dev.known[k]) into[i + k] = dev.data[k];
      i = end;
    }
  }

  async write(addr: number, data: Uint8Array, space: 'phys' | 'linear', vcpu = 0): Promise<void> {
    const check = (phys: number, len: number): void => {
      for (let i = 0; i < len; i++) {
        if (this.machine.mem.hostWrite(this.machine.mem.gate(phys + i)) < 0) {
          throw new HvmonError(`cannot write ${hex(phys + i, 8)}: not RAM (ROM, device memory or unassigned)`);
        }
      }
    };
    if (space === 'phys') {
      check(addr >>> 0, data.length);
      this.machine.mem.write(addr >>> 0, data);
      return;
    }
    const parts: [number, number, number][] = [];
    for (let i = 0; i < data.length; ) {
      const lin = (addr + i) >>> 0;
      const chunk = Math.min(PAGE_SIZE - (lin & (PAGE_SIZE - 1)), data.length - i);
      const t = await this.translate(lin, vcpu, true);
      if (!t.ok) throw new HvmonError(`cannot write linear ${hex(lin, 8)}: ${t.fault}`);
      check(t.phys, chunk);
      parts.push([t.phys, i, chunk]);
      i += chunk;
    }
    for (const [phys, i, chunk] of parts) this.machine.mem.write(phys, data.subarray(i, i + chunk));
  }

  /** The page-table walk for a linear address, as text lines (CR3 → PDE → PTE → physical). */
  async pageWalk(linear: number, vcpu = 0): Promise<string[]> {
    const { state: s } = await this.machine.getState(vcpu);
    return walkText(s, linear >>> 0, (a) => {
      const b = new Uint8Array(4);
      this.machine.mem.read(a, b);
      return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
    });
  }
}

function range(a: number, b: number): number[] {
  const out: number[] = [];
  for (let i = a; i <= b; i++) out.push(i);
  return out;
}

function bitsOf(e: number, big: boolean): string {
  const f: [number, string][] = [[1, 'P'], [2, 'W'], [4, 'U'], [8, 'PWT'], [16, 'PCD'], [32, 'A'], [64, 'D']];
  if (big) f.push([128, 'PS']);
  return f.filter(([m]) => e & m).map(([, n]) => n).join(' ') || '-';
}

/** The 386 two-level walk (with 4 MiB PSE pages), as text. */
export function walkText(s: CpuState, linear: number, read32: (phys: number) => number): string[] {
  const lines: string[] = [];
  if (!(s.cr0 & Cr0.PE)) {
    lines.push(`real mode: linear ${hex(linear, 8)} is physical ${hex(linear, 8)}`);
    return lines;
  }
  if (!(s.cr0 & Cr0.PG)) {
    lines.push(`paging off (CR0.PG=0): linear ${hex(linear, 8)} is physical ${hex(linear, 8)}`);
    return lines;
  }
  const cr3 = s.cr3 & 0xfffff000;
  const pdi = linear >>> 22;
  const pti = (linear >>> 12) & 0x3ff;
  const pdeAddr = (cr3 + pdi * 4) >>> 0;
  const pde = read32(pdeAddr);
  lines.push(`CR3=${hex(s.cr3, 8)}`);
  lines.push(`PDE[${pdi}] at ${hex(pdeAddr, 8)} = ${hex(pde, 8)} (${bitsOf(pde, true)})`);
  if (!(pde & 1)) {
    lines.push(`not present: a page fault at ${hex(linear, 8)}`);
    return lines;
  }
  if (pde & 0x80 && s.cr4 & Cr4.PSE) {
    const phys = ((pde & 0xffc00000) | (linear & 0x3fffff)) >>> 0;
    lines.push(`4 MiB page: linear ${hex(linear, 8)} -> physical ${hex(phys, 8)}`);
    return lines;
  }
  const pteAddr = ((pde & 0xfffff000) + pti * 4) >>> 0;
  const pte = read32(pteAddr);
  lines.push(`PTE[${pti}] at ${hex(pteAddr, 8)} = ${hex(pte, 8)} (${bitsOf(pte, false)})`);
  if (!(pte & 1)) {
    lines.push(`not present: a page fault at ${hex(linear, 8)}`);
    return lines;
  }
  const phys = ((pte & 0xfffff000) | (linear & 0xfff)) >>> 0;
  lines.push(`4 KiB page: linear ${hex(linear, 8)} -> physical ${hex(phys, 8)}`);
  return lines;
}
