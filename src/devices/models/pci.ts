// PCI configuration mechanism #1 and a PCI bus 0 of device functions with type-0 config space.
//
// Reference: PCI Local Bus Specification 2.1/3.0, section 3.2.2.3.2 "Software Generation of
// Configuration Transactions" (CONFIG_ADDRESS at 0CF8h, dword access only; CONFIG_DATA at
// 0CFCh-0CFFh, any size), section 6.1 "Configuration Space Organization" (type-0 header),
// 6.2.5 "Base Addresses" (BAR sizing: write all ones, read back the mask). The PIIX3 Reset
// Control register that shares the 0CF8h dword (byte access to 0CF9h) is in the 82371SB
// datasheet, "Reset Control Register (RC)".
//
// The chipset functions (i440FX host bridge, PIIX3 ISA/IDE, PIIX4 ACPI PM) are in piix.ts;
// its `new I440fx(id, props, ctx)` is a PciHost with the set QEMU's `pc` machine presents:
//   00:00.0 8086:1237 rev 02 host bridge, 00:01.0 8086:7000 ISA bridge (multi-function),
//   00:01.1 8086:7010 IDE (prog-if 80h), 00:01.3 8086:7113 rev 03 ACPI (unless acpi=false).
//
// NOT modelled: configuration mechanism #2 (byte accesses to 0CF8h/0CFAh read as open bus and
// are dropped), buses other than 0 and PCI-to-PCI bridges, expansion ROM BARs, capabilities,
// INTx delivery (no function here raises a PCI interrupt), and BAR decoding: a BAR can be
// sized and programmed but moves nothing (every function here decodes fixed legacy ranges).
//
// Constructor (uniform across hvmon models): new PciHost(id, props, ctx, backends), where
//   props    = { iobase = 0xcf8 } (the functions take theirs)
//   backends = { functions: PciFunction[] }   (I440fx in piix.ts fills in the pc set)

import type { DeviceContext, DeviceModel, Inspection, PropValue, RegisterView } from '../../common/device.js';
import type { MappedRegion } from '../../common/io.js';
import type { AccessSize } from '../../common/types.js';
import { type DeviceState, type FieldDecl, type JsonValue, type StateDesc, loadState, saveState } from '../../common/vmstate.js';

/** Type-0 configuration header offsets (PCI 3.0 section 6.1). */
export const enum PciCfg {
  /** Vendor ID. */
  VENDOR_ID = 0x00,
  /** Device ID. */
  DEVICE_ID = 0x02,
  /** Command register. */
  COMMAND = 0x04,
  /** Status register. */
  STATUS = 0x06,
  /** Revision ID. */
  REVISION_ID = 0x08,
  /** Class Code: programming interface. */
  PROG_IF = 0x09,
  /** Class Code: sub-class. */
  SUBCLASS = 0x0a,
  /** Class Code: base class. */
  CLASS = 0x0b,
  /** Cache Line Size. */
  CACHE_LINE_SIZE = 0x0c,
  /** Latency Timer. */
  LATENCY_TIMER = 0x0d,
  /** Header Type (bit 7: multi-function device). */
  HEADER_TYPE = 0x0e,
  /** BIST. */
  BIST = 0x0f,
  /** Base Address Register 0 (BAR1-5 follow, 4 bytes apart). */
  BAR0 = 0x10,
  /** Subsystem Vendor ID. */
  SUBSYSTEM_VENDOR_ID = 0x2c,
  /** Subsystem ID. */
  SUBSYSTEM_ID = 0x2e,
  /** Expansion ROM Base Address. */
  ROM_ADDRESS = 0x30,
  /** Interrupt Line. */
  INTERRUPT_LINE = 0x3c,
  /** Interrupt Pin (1 = INTA#). */
  INTERRUPT_PIN = 0x3d,
}

/** Command register bits. */
export const enum PciCommand {
  /** I/O Space enable. */
  IO = 0x0001,
  /** Memory Space enable. */
  MEMORY = 0x0002,
  /** Bus Master enable. */
  MASTER = 0x0004,
  /** Parity Error Response. */
  PARITY = 0x0040,
  /** SERR# enable. */
  SERR = 0x0100,
  /** Interrupt Disable. */
  INTX_DISABLE = 0x0400,
}

/** CONFIG_ADDRESS fields (mechanism #1). */
const enum ConfigAddress {
  /** Enable bit: CONFIG_DATA accesses become configuration cycles. */
  ENABLE = 0x80000000,
}

/** PIIX3 Reset Control register (0CF9h) bits. */
const enum Rcr {
  /** SRST: system (hard) reset when RCPU goes 0→1. */
  SRST = 0x02,
  /** RCPU: reset CPU; a 0→1 transition starts the reset. */
  RCPU = 0x04,
}

/** The Red Hat/QEMU subsystem ids QEMU puts on every type-0 function; SeaBIOS checks them on 00:00.0 to know it runs under QEMU. */
export const QEMU_SUBSYSTEM_VENDOR = 0x1af4;
export const QEMU_SUBSYSTEM_ID = 0x1100;

export interface PciIds {
  vendor: number;
  device: number;
  revision: number;
  /** Class code as 24 bits: base class, sub-class, programming interface (0x010180). */
  classCode: number;
  headerType?: number;
  interruptPin?: number;
  subsystemVendor?: number;
  subsystem?: number;
  /** Status register reset value (DEVSEL timing, fast back-to-back). */
  status?: number;
}

export interface PciBarDecl {
  index: number;
  size: number;
  io: boolean;
}

const COMMAND_BITS: [string, number][] = [
  ['INTX_DISABLE', PciCommand.INTX_DISABLE], ['SERR', PciCommand.SERR], ['PARITY', PciCommand.PARITY],
  ['MASTER', PciCommand.MASTER], ['MEMORY', PciCommand.MEMORY], ['IO', PciCommand.IO],
];

export function bitList(v: number, names: [string, number][]): { name: string; value: number }[] {
  return names.map(([name, mask]) => ({ name, value: (v & mask) !== 0 ? 1 : 0 }));
}

export function hex(n: number, digits: number): string {
  return (n >>> 0).toString(16).padStart(digits, '0');
}

/**
 * One PCI function: 256 bytes of configuration space, a write mask and a write-1-to-clear mask
 * per byte, BARs that size themselves through the mask, and hooks for chipset registers.
 * Mutable state lives in `state` (always including `cfg`), declared by `fields`.
 */
export class PciFunction {
  readonly cfg = new Uint8Array(256);
  /** Bits the guest may change. */
  protected readonly _wmask = new Uint8Array(256);
  /** Bits the guest clears by writing 1 (Status register error bits). */
  protected readonly _w1cmask = new Uint8Array(256);
  private readonly _defaults = new Uint8Array(256);
  readonly state: Record<string, unknown> = { cfg: this.cfg };
  /** Declared fields of `state`; subclasses append theirs. */
  readonly fields: FieldDecl[] = [{ name: 'cfg', type: 'bytes' }];
  readonly bars: PciBarDecl[] = [];

  constructor(
    /** Short name for the monitor: "i440fx", "piix3-ide". */
    readonly name: string,
    /** Device number on bus 0 (0-31) and function number (0-7). */
    readonly slot: number,
    readonly fn: number,
    ids: PciIds,
  ) {
    const c = this.cfg;
    this.set16(PciCfg.VENDOR_ID, ids.vendor);
    this.set16(PciCfg.DEVICE_ID, ids.device);
    c[PciCfg.REVISION_ID] = ids.revision;
    c[PciCfg.PROG_IF] = ids.classCode & 0xff;
    c[PciCfg.SUBCLASS] = (ids.classCode >> 8) & 0xff;
    c[PciCfg.CLASS] = (ids.classCode >> 16) & 0xff;
    c[PciCfg.HEADER_TYPE] = ids.headerType ?? 0;
    c[PciCfg.INTERRUPT_PIN] = ids.interruptPin ?? 0;
    this.set16(PciCfg.SUBSYSTEM_VENDOR_ID, ids.subsystemVendor ?? QEMU_SUBSYSTEM_VENDOR);
    this.set16(PciCfg.SUBSYSTEM_ID, ids.subsystem ?? QEMU_SUBSYSTEM_ID);
    this.set16(PciCfg.STATUS, ids.status ?? 0);
    // The standard header: command bits, cache line size, latency timer, interrupt line, and
    // the status error bits (write 1 to clear) are the guest's; the rest is read-only.
    this.setMask(PciCfg.COMMAND, 2,
      PciCommand.IO | PciCommand.MEMORY | PciCommand.MASTER | PciCommand.PARITY | PciCommand.SERR | PciCommand.INTX_DISABLE);
    this._w1cmask[PciCfg.STATUS + 1] = 0xf9;
    this._wmask[PciCfg.CACHE_LINE_SIZE] = 0xff;
    this._wmask[PciCfg.LATENCY_TIMER] = 0xff;
    this._wmask[PciCfg.INTERRUPT_LINE] = 0xff;
  }

  get devfn(): number {
    return (this.slot << 3) | this.fn;
  }

  /** "00:01.1" */
  get address(): string {
    return `00:${hex(this.slot, 2)}.${this.fn}`;
  }

  get16(off: number): number {
    return this.cfg[off] | (this.cfg[off + 1] << 8);
  }
  get32(off: number): number {
    return (this.get16(off) | (this.get16(off + 2) << 16)) >>> 0;
  }
  protected set16(off: number, v: number): void {
    this.cfg[off] = v & 0xff;
    this.cfg[off + 1] = (v >> 8) & 0xff;
  }
  /** Makes `bytes` bytes at `off` writable with the given bit mask (little-endian). */
  protected setMask(off: number, bytes: number, mask: number): void {
    for (let i = 0; i < bytes; i++) this._wmask[off + i] = (mask / 2 ** (8 * i)) & 0xff;
  }

  /** A BAR of `size` bytes (power of two): the address bits above the size are writable. */
  protected addBar(index: number, size: number, io: boolean): void {
    const off = PciCfg.BAR0 + 4 * index;
    const typeBits = io ? 0x1 : 0x0;
    const addrMask = (~(size - 1) & (io ? 0xfffffffc : 0xfffffff0)) >>> 0;
    this.setMask(off, 4, addrMask);
    this.cfg[off] = (this.cfg[off] & ~0x0f) | typeBits;
    this.bars.push({ index, size, io });
  }

  /** Call at the end of a subclass constructor: what reset() returns to. */
  protected captureDefaults(): void {
    this._defaults.set(this.cfg);
  }

  reset(): void {
    this.cfg.set(this._defaults);
    this.onReset();
  }

  read(reg: number, size: AccessSize): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.readByte(reg + i) << (8 * i);
    return v >>> 0;
  }

  protected readByte(reg: number): number {
    return this.cfg[reg & 0xff];
  }

  write(reg: number, size: AccessSize, value: number): void {
    const old = this.cfg.slice(reg, reg + size);
    for (let i = 0; i < size; i++) {
      const r = (reg + i) & 0xff;
      const b = (value >>> (8 * i)) & 0xff;
      const wm = this._wmask[r];
      const w1c = this._w1cmask[r];
      this.cfg[r] = ((this.cfg[r] & ~wm) | (b & wm)) & ~(b & w1c);
    }
    this.onWrite(reg, size, old);
  }

  /** After a config write of `size` bytes at `reg`; `old` holds the bytes before it. */
  protected onWrite(_reg: number, _size: number, _old: Uint8Array): void {}
  protected onReset(): void {}
  /** After restore(): push derived state (memory map, IRQ level) back out. */
  afterRestore(): void {}
  /** Extra regions this function decodes (fixed legacy ranges). */
  regions(): MappedRegion[] {
    return [];
  }

  /** The standard header, by its spec names. */
  headerRegisters(): RegisterView[] {
    const cmd = this.get16(PciCfg.COMMAND);
    const regs: RegisterView[] = [
      { name: 'Vendor ID', offset: PciCfg.VENDOR_ID, value: this.get16(PciCfg.VENDOR_ID), width: 16 },
      { name: 'Device ID', offset: PciCfg.DEVICE_ID, value: this.get16(PciCfg.DEVICE_ID), width: 16 },
      { name: 'Command', offset: PciCfg.COMMAND, value: cmd, width: 16, bits: bitList(cmd, COMMAND_BITS) },
      { name: 'Status', offset: PciCfg.STATUS, value: this.get16(PciCfg.STATUS), width: 16 },
      { name: 'Revision ID', offset: PciCfg.REVISION_ID, value: this.cfg[PciCfg.REVISION_ID], width: 8 },
      { name: 'Class Code', offset: PciCfg.PROG_IF, value: this.get32(PciCfg.REVISION_ID) >>> 8, width: 24 },
      { name: 'Header Type', offset: PciCfg.HEADER_TYPE, value: this.cfg[PciCfg.HEADER_TYPE], width: 8 },
    ];
    for (const b of this.bars) {
      regs.push({ name: `BAR${b.index}`, offset: PciCfg.BAR0 + 4 * b.index, value: this.get32(PciCfg.BAR0 + 4 * b.index), width: 32,
        note: `${b.io ? 'I/O' : 'memory'}, ${b.size} bytes` });
    }
    regs.push(
      { name: 'Subsystem Vendor ID', offset: PciCfg.SUBSYSTEM_VENDOR_ID, value: this.get16(PciCfg.SUBSYSTEM_VENDOR_ID), width: 16 },
      { name: 'Subsystem ID', offset: PciCfg.SUBSYSTEM_ID, value: this.get16(PciCfg.SUBSYSTEM_ID), width: 16 },
      { name: 'Interrupt Line', offset: PciCfg.INTERRUPT_LINE, value: this.cfg[PciCfg.INTERRUPT_LINE], width: 8 },
      { name: 'Interrupt Pin', offset: PciCfg.INTERRUPT_PIN, value: this.cfg[PciCfg.INTERRUPT_PIN], width: 8 },
    );
    return regs;
  }

  /** Chipset registers, by their datasheet names. */
  chipRegisters(): RegisterView[] {
    return [];
  }

  counters(): Record<string, number> {
    return {};
  }

  get desc(): StateDesc {
    return { name: this.name, version: 1, fields: this.fields };
  }
}

interface HostState {
  /** CONFIG_ADDRESS as last written. */
  configAddress: number;
  /** PIIX3 Reset Control register. */
  rcr: number;
  configReads: number;
  configWrites: number;
}

const HOST_FIELDS: readonly FieldDecl[] = [
  { name: 'configAddress', type: 'u32' },
  { name: 'rcr', type: 'u8' },
  { name: 'configReads', type: 'u32' },
  { name: 'configWrites', type: 'u32' },
];

export interface PciHostBackends {
  functions?: PciFunction[];
}

export class PciHost implements DeviceModel {
  readonly kind: string = 'pci-host';
  private readonly _s: HostState = { configAddress: 0, rcr: 0, configReads: 0, configWrites: 0 };
  private readonly _fns: PciFunction[];
  private readonly _byDevfn = new Map<number, PciFunction>();
  private readonly _desc: StateDesc;
  private readonly _regions: MappedRegion[];

  constructor(
    readonly id: string,
    readonly props: Readonly<Record<string, PropValue>>,
    private readonly _ctx: DeviceContext,
    backends: PciHostBackends = {},
  ) {
    this._fns = backends.functions ?? [];
    for (const f of this._fns) {
      if (this._byDevfn.has(f.devfn)) throw new Error(`PCI ${f.address} is taken twice`);
      this._byDevfn.set(f.devfn, f);
    }
    this._desc = {
      name: 'pci-host',
      version: 1,
      fields: [...HOST_FIELDS, ...this._fns.map((f): FieldDecl => ({ name: this._key(f), type: 'json' }))],
    };
    this._regions = [
      {
        base: typeof props.iobase === 'number' ? props.iobase : 0xcf8,
        region: {
          name: this.id,
          space: 'pio',
          size: 8,
          ops: { read: (o, sz) => this._read(o, sz), write: (o, sz, v) => this._write(o, sz, v) },
          registerName: (o) => (o < 4 ? (o === 1 ? 'RC' : 'CONFIG_ADDRESS') : 'CONFIG_DATA'),
        },
      },
      // Functions name their regions by function ("piix4-pm.io"); the monitor wants the device id first.
      ...this._fns.flatMap((f) => f.regions().map((r) => ({ base: r.base, region: { ...r.region, name: `${this.id}.${r.region.name}` } }))),
    ];
    this.reset();
  }

  /** The function at 00:slot.fn, for the board and the monitor. */
  fn(slot: number, fn = 0): PciFunction | undefined {
    return this._byDevfn.get((slot << 3) | fn);
  }

  get functions(): readonly PciFunction[] {
    return this._fns;
  }

  private _key(f: PciFunction): string {
    return `fn_${hex(f.slot, 2)}_${f.fn}`;
  }

  regions(): MappedRegion[] {
    return this._regions;
  }

  reset(): void {
    this._s.configAddress = 0;
    this._s.rcr = 0;
    this._s.configReads = 0;
    this._s.configWrites = 0;
    for (const f of this._fns) f.reset();
  }

  snapshot(): DeviceState {
    const view: Record<string, unknown> = { ...this._s };
    for (const f of this._fns) view[this._key(f)] = saveState(f.desc, f.state) as unknown as JsonValue;
    return saveState(this._desc, view);
  }

  restore(st: DeviceState): void {
    const view: Record<string, unknown> = { ...this._s };
    for (const f of this._fns) view[this._key(f)] = null;
    loadState(this._desc, view, st);
    // Check every function's part before changing anything.
    for (const f of this._fns) {
      const scratch: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(f.state)) scratch[k] = v instanceof Uint8Array ? v.slice() : v;
      loadState(f.desc, scratch, view[this._key(f)] as unknown as DeviceState);
    }
    for (const f of this._fns) loadState(f.desc, f.state, view[this._key(f)] as unknown as DeviceState);
    for (const k of HOST_FIELDS) (this._s as unknown as Record<string, unknown>)[k.name] = view[k.name];
    for (const f of this._fns) f.afterRestore();
  }

  /** The function CONFIG_ADDRESS points at, or null (master abort). */
  private _target(): PciFunction | null {
    const a = this._s.configAddress;
    if ((a & ConfigAddress.ENABLE) === 0) return null;
    if (((a >>> 16) & 0xff) !== 0) return null;
    return this._byDevfn.get((a >>> 8) & 0xff) ?? null;
  }

  private _read(off: number, size: AccessSize): number {
    if (off === 0 && size === 4) return this._s.configAddress;
    if (off === 1 && size === 1) return this._s.rcr;
    if (off < 4) return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    const f = this._target();
    this._s.configReads++;
    const reg = (this._s.configAddress & 0xfc) + (off - 4);
    // No function there: the cycle is master-aborted and reads all ones.
    if (!f || reg + size > 256) return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    return f.read(reg, size);
  }

  private _write(off: number, size: AccessSize, v: number): void {
    if (off === 0 && size === 4) {
      // Bits 1:0 are reserved and read back as 0; bits 30:24 are reserved too.
      this._s.configAddress = (v & 0x80fffffc) >>> 0;
      return;
    }
    if (off === 1 && size === 1) {
      const was = this._s.rcr;
      this._s.rcr = v & Rcr.SRST;
      // The guest asks for a reset by setting RCPU (0→1); SRST picks hard over soft, which
      // is the same thing for a virtual machine.
      if ((v & Rcr.RCPU) && !(was & Rcr.RCPU)) this._ctx.request({ kind: 'reset' });
      return;
    }
    if (off < 4) return;
    const f = this._target();
    this._s.configWrites++;
    const reg = (this._s.configAddress & 0xfc) + (off - 4);
    if (!f || reg + size > 256) return;
    f.write(reg, size, v);
  }

  inspect(): Inspection {
    const a = this._s.configAddress;
    const registers: RegisterView[] = [
      {
        name: 'CONFIG_ADDRESS', offset: 0, value: a, width: 32,
        bits: [
          { name: 'Enable', value: a >>> 31 },
          { name: 'Bus', value: (a >>> 16) & 0xff },
          { name: 'Device', value: (a >>> 11) & 0x1f },
          { name: 'Function', value: (a >>> 8) & 7 },
          { name: 'Register', value: a & 0xfc },
        ],
      },
      { name: 'RC', offset: 1, value: this._s.rcr, width: 8, note: 'PIIX3 Reset Control (0CF9h)',
        bits: bitList(this._s.rcr, [['RCPU', Rcr.RCPU], ['SRST', Rcr.SRST]]) },
    ];
    const counters: Record<string, number> = { configReads: this._s.configReads, configWrites: this._s.configWrites };
    const functions: JsonValue[] = [];
    for (const f of this._fns) {
      for (const r of [...f.headerRegisters(), ...f.chipRegisters()]) registers.push({ ...r, name: `${f.address} ${r.name}` });
      for (const [k, v] of Object.entries(f.counters())) counters[`${f.address} ${k}`] = v;
      functions.push({
        address: f.address,
        name: f.name,
        id: `${hex(f.get16(PciCfg.VENDOR_ID), 4)}:${hex(f.get16(PciCfg.DEVICE_ID), 4)}`,
        class: hex(f.get32(PciCfg.REVISION_ID) >>> 8, 6),
        revision: f.cfg[PciCfg.REVISION_ID],
      });
    }
    return { id: this.id, kind: this.kind, registers, counters, extra: { functions } };
  }
}
