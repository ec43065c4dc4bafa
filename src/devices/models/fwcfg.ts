// QEMU's firmware configuration device (fw_cfg) on its x86 I/O ports: how a firmware such as
// SeaBIOS learns what the machine is (RAM, CPUs, boot order) and fetches blobs (option ROMs).
//
// Reference: QEMU docs/specs/fw_cfg.rst: "Selector (Control) Register" (16-bit, write only,
// resets the data offset), "Data Register" (8-bit on an I/O port, reads 0 past the item's end,
// writes ignored since QEMU 2.4), "Register Locations" (x86: 0x510 selector, 0x511 data, 0x514
// DMA address), "Signature", "Revision / feature bitmap", "File Directory" (big-endian
// count, then 64-byte entries: size, select, reserved, name[56]) and "Guest-side DMA
// Interface" (a big-endian FWCfgDmaAccess {control, length, address} in guest RAM whose
// address is written to 0x514/0x518; writing the low half starts the transfer; control bits
// Error, Read, Skip, Select, Write; control reads 0 when done). The numbers of the items
// before the file directory are those of Linux's include/uapi/linux/qemu_fw_cfg.h (generic)
// and of QEMU's x86 board (the arch-local ones at 0x8000+).
//
// The device is generic: it serves whatever items it is given. pcFwCfgItems() builds what
// QEMU's `pc` machine puts there, so that the same SeaBIOS binary takes the same paths.
//
// Not modelled: writable items (no item here is writable: a DMA write sets the error bit),
// the MMIO variant of other boards, DMA addresses above 4 GiB (error bit), and the items
// QEMU fills only for direct kernel boot (-kernel/-initrd), ACPI (etc/table-loader) and SMBIOS
// (etc/smbios/*): without them SeaBIOS builds its own tables, as it does on real hardware.

import type { DeviceContext, DeviceModel, Inspection, PropValue } from '../../common/device.js';
import type { IoRegion, MappedRegion } from '../../common/io.js';
import type { AccessSize } from '../../common/types.js';
import type { DeviceState, StateDesc } from '../../common/vmstate.js';
import { loadState, saveState } from '../../common/vmstate.js';

/** Item keys (selector values) with a fixed meaning. */
export const enum FwCfgKey {
  /** FW_CFG_SIGNATURE: "QEMU". */
  SIGNATURE = 0x0000,
  /** FW_CFG_ID: revision / feature bitmap, u32 LE. */
  ID = 0x0001,
  /** FW_CFG_UUID: the VM's 16-byte UUID. */
  UUID = 0x0002,
  /** FW_CFG_RAM_SIZE: u64 LE. */
  RAM_SIZE = 0x0003,
  /** FW_CFG_NOGRAPHIC: u16. */
  NOGRAPHIC = 0x0004,
  /** FW_CFG_NB_CPUS: u16, CPUs at boot. */
  NB_CPUS = 0x0005,
  /** FW_CFG_BOOT_DEVICE: u16, the -boot letter. */
  BOOT_DEVICE = 0x000c,
  /** FW_CFG_NUMA: u64 node count, then a u64 per CPU and per node. */
  NUMA = 0x000d,
  /** FW_CFG_BOOT_MENU: u16, 1 = show the boot menu (SeaBIOS: etc/show-boot-menu). */
  BOOT_MENU = 0x000e,
  /** FW_CFG_MAX_CPUS: u16. */
  MAX_CPUS = 0x000f,
  /** FW_CFG_FILE_DIR: the file directory. */
  FILE_DIR = 0x0019,
  /** FW_CFG_FILE_FIRST: the first key given to a file. */
  FILE_FIRST = 0x0020,
  /** x86 FW_CFG_ACPI_TABLES (the first arch-local key: bit 15 set): u16 count of -acpitable blobs, then the blobs. */
  ACPI_TABLES = 0x8000,
  /** x86 FW_CFG_SMBIOS_ENTRIES: u16 count of legacy SMBIOS fields, then the fields. */
  SMBIOS_ENTRIES = 0x8001,
  /** x86 FW_CFG_IRQ0_OVERRIDE: u32, the PIT is wired to GSI 2 (ACPI/MP tables say so). */
  IRQ0_OVERRIDE = 0x8002,
  /** x86 FW_CFG_E820_TABLE: u32 count, then reservations only (RAM is in etc/e820). */
  E820_TABLE = 0x8003,
}

/** Selector bits. */
const enum Sel {
  /** Bit 14: "write" items (ignored since QEMU 2.4; writability is per item). */
  WRITE = 0x4000,
  /** The key: bit 15 (arch) and the 14-bit index. */
  KEY_MASK = 0xbfff,
}

/** FW_CFG_ID bits. */
export const enum FwCfgFeature {
  /** Bit 0: the traditional selector/data interface. Always set. */
  TRADITIONAL = 0x01,
  /** Bit 1: the DMA interface. */
  DMA = 0x02,
}

/** FWCfgDmaAccess.control bits. */
export const enum DmaCtl {
  /** Error: something went wrong. */
  ERROR = 0x01,
  /** Read: copy `length` bytes of the item into guest RAM. */
  READ = 0x02,
  /** Skip: advance the data offset by `length`. */
  SKIP = 0x04,
  /** Select: bits 31-16 are the item to select first. */
  SELECT = 0x08,
  /** Write: copy guest RAM into the item. */
  WRITE = 0x10,
}

/** Offsets in the selector/data range. */
export const enum FwCfgReg {
  /** Selector register (16-bit write). */
  SELECTOR = 0,
  /** Data register (8-bit). */
  DATA = 1,
}

/** Offsets in the DMA address range. */
export const enum DmaReg {
  /** DMA address, most significant half (big-endian). */
  HIGH = 0,
  /** DMA address, least significant half: a write starts the transfer. */
  LOW = 4,
}

/** Keys from here on are architecture-specific (selector bit 15). */
const ARCH_LOCAL = 0x8000;

/** What reading the DMA address register returns: "QEMU CFG" in big-endian order. */
const DMA_SIGNATURE = [0x51, 0x45, 0x4d, 0x55, 0x20, 0x43, 0x46, 0x47];
/** Bytes of a file directory entry, and of its name field. */
const DIR_ENTRY = 64;
const NAME_MAX = 56;
/** FWCfgDmaAccess is 16 bytes. */
const DMA_ACCESS = 16;
/** Zero-filling past an item's end goes in chunks of this many bytes. */
const ZERO_CHUNK = 0x10000;

export interface FwCfgFile {
  /** Name in the directory ("etc/e820", "vgaroms/vgabios-isavga.bin"), under 56 bytes. */
  name: string;
  data: Uint8Array;
}

/** The items a fw_cfg serves: numbered ones and named files (the directory is built here). */
export interface FwCfgContent {
  items: [number, Uint8Array][];
  files: FwCfgFile[];
}

interface FwCfgState {
  /** Last value written to the selector register. */
  selector: number;
  /** Data offset in the selected item. */
  offset: number;
  /** DMA address register, most significant half (written first for 64-bit addresses). */
  dmaHigh: number;
  dataReads: number;
  dmaTransfers: number;
  dmaErrors: number;
  /** Items selected since reset, by name, in order (what the firmware asked for). */
  selected: string[];
}

const STATE_DESC: StateDesc = {
  name: 'fw_cfg',
  version: 1,
  fields: [
    { name: 'selector', type: 'u16' }, { name: 'offset', type: 'u32' }, { name: 'dmaHigh', type: 'u32' },
    { name: 'dataReads', type: 'u32' }, { name: 'dmaTransfers', type: 'u32' }, { name: 'dmaErrors', type: 'u32' },
    { name: 'selected', type: 'json' },
  ],
};

const num = (p: PropValue | undefined, dflt: number): number => (typeof p === 'number' ? p : dflt);

const KEY_NAMES: Record<number, string> = {
  [FwCfgKey.SIGNATURE]: 'signature', [FwCfgKey.ID]: 'id', [FwCfgKey.UUID]: 'uuid', [FwCfgKey.RAM_SIZE]: 'ram_size',
  [FwCfgKey.NOGRAPHIC]: 'nographic', [FwCfgKey.NB_CPUS]: 'nb_cpus', [FwCfgKey.BOOT_DEVICE]: 'boot_device',
  [FwCfgKey.NUMA]: 'numa', [FwCfgKey.BOOT_MENU]: 'boot_menu', [FwCfgKey.MAX_CPUS]: 'max_cpus',
  [FwCfgKey.FILE_DIR]: 'file_dir', [FwCfgKey.ACPI_TABLES]: 'acpi_tables', [FwCfgKey.SMBIOS_ENTRIES]: 'smbios_entries',
  [FwCfgKey.IRQ0_OVERRIDE]: 'irq0_override', [FwCfgKey.E820_TABLE]: 'e820_table',
};

const hex = (v: number, w = 4): string => '0x' + v.toString(16).padStart(w, '0');

/**
 * `new FwCfg(id, props, ctx, content)`; props: `iobase` (0x510: selector, data at +1),
 * `dmabase` (0x514; 0 = no DMA interface, feature bit 1 clear).
 */
export class FwCfg implements DeviceModel {
  readonly kind = 'fw_cfg';
  readonly props: Readonly<Record<string, PropValue>>;
  private _s: FwCfgState = newState();
  private readonly _items = new Map<number, Uint8Array>();
  private readonly _names = new Map<number, string>();
  private readonly _regions: MappedRegion[];
  private readonly _dma: boolean;

  constructor(
    readonly id: string,
    props: Readonly<Record<string, PropValue>>,
    private readonly _ctx: DeviceContext,
    content: FwCfgContent,
  ) {
    this.props = { ...props, iobase: num(props.iobase, 0x510), dmabase: num(props.dmabase, 0x514) };
    this._dma = (this.props.dmabase as number) !== 0;
    this._add(FwCfgKey.SIGNATURE, ascii('QEMU'));
    this._add(FwCfgKey.ID, le(4, FwCfgFeature.TRADITIONAL | (this._dma ? FwCfgFeature.DMA : 0)));
    for (const [key, data] of content.items) this._add(key & Sel.KEY_MASK, data);
    // Files get keys from FILE_FIRST on, in name order, and a directory entry each.
    const files = [...content.files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const dir = new Uint8Array(4 + files.length * DIR_ENTRY);
    const dv = new DataView(dir.buffer);
    dv.setUint32(0, files.length, false);
    files.forEach((f, i) => {
      const name = ascii(f.name);
      if (name.length >= NAME_MAX) throw new Error(`fw_cfg file name ${f.name} is longer than ${NAME_MAX - 1} bytes`);
      const key = FwCfgKey.FILE_FIRST + i;
      const at = 4 + i * DIR_ENTRY;
      dv.setUint32(at, f.data.length, false);
      dv.setUint16(at + 4, key, false);
      dir.set(name, at + 8);
      this._add(key, f.data, f.name);
    });
    this._add(FwCfgKey.FILE_DIR, dir);
    const regions: MappedRegion[] = [{ region: this._portRegion(), base: this.props.iobase as number }];
    if (this._dma) regions.push({ region: this._dmaRegion(), base: this.props.dmabase as number });
    this._regions = regions;
  }

  private _add(key: number, data: Uint8Array, name?: string): void {
    this._items.set(key, data);
    this._names.set(key, name ?? KEY_NAMES[key] ?? hex(key));
  }

  regions(): MappedRegion[] {
    return this._regions;
  }

  reset(): void {
    this._s = newState();
  }

  snapshot(): DeviceState {
    return saveState(STATE_DESC, this._s);
  }

  restore(st: DeviceState): void {
    loadState(STATE_DESC, this._s, st);
  }

  inspect(): Inspection {
    const s = this._s;
    const key = s.selector & Sel.KEY_MASK;
    const item = this._items.get(key);
    const files: Record<string, number> = {};
    for (const [k, name] of this._names) if (k >= FwCfgKey.FILE_FIRST && k < ARCH_LOCAL) files[name] = this._items.get(k)!.length;
    return {
      id: this.id,
      kind: this.kind,
      registers: [
        {
          name: 'selector', offset: FwCfgReg.SELECTOR, value: s.selector, width: 16,
          note: `${this._names.get(key) ?? 'no such item'}${item ? ` (${item.length} bytes)` : ''}`,
        },
        { name: 'data offset', value: s.offset, width: 32 },
        { name: 'DMA address high', value: s.dmaHigh, width: 32, note: this._dma ? `DMA at ${hex(this.props.dmabase as number)}` : 'no DMA interface' },
      ],
      counters: { dataReads: s.dataReads, dmaTransfers: s.dmaTransfers, dmaErrors: s.dmaErrors },
      extra: { files, selected: s.selected.slice() },
    };
  }

  /** The selector register: choose an item, data offset back to 0. */
  private _select(selector: number): void {
    const s = this._s;
    s.selector = selector & 0xffff;
    s.offset = 0;
    const name = this._names.get(selector & Sel.KEY_MASK) ?? hex(selector & 0xffff);
    // Remember what the firmware looked at (bounded: each name once, most recent last).
    const i = s.selected.indexOf(name);
    if (i >= 0) s.selected.splice(i, 1);
    s.selected.push(name);
    if (s.selected.length > 64) s.selected.shift();
  }

  /** The next byte of the selected item through the data register; 0 past its end. */
  private _dataByte(): number {
    const s = this._s;
    const item = this._items.get(s.selector & Sel.KEY_MASK);
    if (!item || s.offset >= item.length) return 0;
    return item[s.offset++];
  }

  private _portRegion(): IoRegion {
    return {
      name: this.id,
      space: 'pio',
      size: 2,
      impl: { min: 1, max: 2 },
      ops: {
        // The two ports overlap (the spec says they cannot be mapped apart): a read at either
        // returns data bytes, a 16-bit write at the first selects, byte writes are data
        // writes, which QEMU 2.4 and later ignore.
        read: (_off: number, size: AccessSize) => {
          this._s.dataReads++;
          let v = 0;
          for (let i = 0; i < size; i++) v |= this._dataByte() << (8 * i);
          return v >>> 0;
        },
        write: (off: number, size: AccessSize, v: number) => {
          if (size === 2 && off === FwCfgReg.SELECTOR) this._select(v);
        },
        // REP INSB on the data port: SeaBIOS without DMA reads a whole item this way.
        readRep: (_off: number, size: AccessSize, count: number, into: Uint8Array) => {
          this._s.dataReads += count;
          for (let i = 0; i < size * count; i++) into[i] = this._dataByte();
        },
      },
      registerName: (off, dir) => (off === FwCfgReg.SELECTOR && dir === 'write' ? 'selector' : 'data'),
    };
  }

  private _dmaRegion(): IoRegion {
    return {
      name: `${this.id}.dma`,
      space: 'pio',
      size: 8,
      impl: { min: 1, max: 4 },
      ops: {
        // Reading the address register gives the DMA signature, byte by byte in port order.
        read: (off: number, size: AccessSize) => {
          let v = 0;
          for (let i = 0; i < size; i++) v |= (DMA_SIGNATURE[off + i] ?? 0xff) << (8 * i);
          return v >>> 0;
        },
        // The register is big-endian: the first port holds the most significant byte, so a
        // 32-bit OUT of the value the guest byte-swapped arrives here as bswap(address half).
        write: (off: number, size: AccessSize, v: number) => {
          if (size !== 4) return;
          if (off === DmaReg.HIGH) this._s.dmaHigh = bswap32(v);
          else if (off === DmaReg.LOW) {
            const high = this._s.dmaHigh;
            // The register reads 0 again after an operation.
            this._s.dmaHigh = 0;
            this._dmaTransfer(high, bswap32(v));
          }
        },
      },
      registerName: (off, dir) => (dir === 'read' ? 'DMA signature' : off < DmaReg.LOW ? 'DMA address high' : 'DMA address low'),
    };
  }

  /**
   * One DMA operation: the guest has put an FWCfgDmaAccess at `addr` and is waiting for its
   * control field to read 0 (done) or Error. It completes before the guest's OUT does.
   */
  private _dmaTransfer(high: number, addr: number): void {
    const s = this._s;
    s.dmaTransfers++;
    if (high !== 0) {
      // Nowhere to write the result either: RAM is below 4 GiB.
      s.dmaErrors++;
      return;
    }
    const acc = new Uint8Array(DMA_ACCESS);
    let error = false;
    try {
      this._ctx.dma.read(addr, acc);
      const dv = new DataView(acc.buffer);
      const control = dv.getUint32(0, false);
      const length = dv.getUint32(4, false);
      const target = dv.getUint32(12, false);
      const targetHigh = dv.getUint32(8, false);
      if (control & DmaCtl.SELECT) this._select(control >>> 16);
      if (control & DmaCtl.READ) {
        if (targetHigh !== 0 || target + length > 0x100000000) error = true;
        else this._dmaRead(target, length);
      } else if (control & DmaCtl.WRITE) {
        // No item of this device is writable: QEMU rejects the write with the error bit.
        error = true;
      } else if (control & DmaCtl.SKIP) {
        const item = this._items.get(s.selector & Sel.KEY_MASK);
        s.offset = Math.min(s.offset + length, item?.length ?? 0);
      }
    } catch {
      // The access structure or the target is not guest memory.
      error = true;
    }
    if (error) s.dmaErrors++;
    try {
      this._ctx.dma.write(addr, be32(error ? DmaCtl.ERROR : 0));
    } catch {
      // Nothing more to report to a guest whose structure is not in RAM.
    }
  }

  /** Copies `length` bytes of the selected item from the data offset; zeros past its end. */
  private _dmaRead(target: number, length: number): void {
    const s = this._s;
    const item = this._items.get(s.selector & Sel.KEY_MASK);
    const avail = item ? Math.max(0, Math.min(length, item.length - s.offset)) : 0;
    if (avail > 0) {
      this._ctx.dma.write(target, item!.subarray(s.offset, s.offset + avail));
      s.offset += avail;
    }
    const zeros = new Uint8Array(Math.min(ZERO_CHUNK, length - avail));
    for (let done = avail; done < length; done += zeros.length) {
      this._ctx.dma.write(target + done, zeros.subarray(0, Math.min(zeros.length, length - done)));
    }
  }
}

/** Names and strings here are ASCII (the spec recommends plain ASCII item names). */
function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

function newState(): FwCfgState {
  return { selector: 0, offset: 0, dmaHigh: 0, dataReads: 0, dmaTransfers: 0, dmaErrors: 0, selected: [] };
}

function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

function be32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, false);
  return b;
}

/** `bytes` little-endian bytes of v (up to 2^53). */
function le(bytes: number, v: number): Uint8Array {
  const b = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) {
    b[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return b;
}

// -----------------------------------------------------------------------------------------
// What QEMU's pc machine puts in fw_cfg
// -----------------------------------------------------------------------------------------

/** E820 address range types (ACPI specification, "Address Range Types"). */
export const enum E820Type {
  RAM = 1,
  RESERVED = 2,
}

export interface PcFwCfgOptions {
  /** Guest RAM in bytes (all below 4 GiB). */
  ramSize: number;
  cpus: number;
  /**
   * Open Firmware device paths in boot priority order (the "bootorder" file, one per line),
   * e.g. "/pci@i0cf8/ide@1,1/drive@0/disk@0". Empty: no file, the CMOS boot order rules.
   */
  bootOrder: string[];
  /** VGA option ROMs for "vgaroms/NAME": SeaBIOS runs them (the ISA VGA has no PCI ROM BAR). */
  vgaRoms: FwCfgFile[];
  /** SeaBIOS's serial console (etc/sercon-port): BIOS text to this UART; 0 = none. */
  serconPort: number;
}

/**
 * The items QEMU's pc machine provides that SeaBIOS reads (its qemu_cfg_init and friends):
 * the numbered items of fw_cfg_common_realize and the x86 board, plus the files etc/e820,
 * etc/boot-cpus, bootorder and vgaroms/.
 */
export function pcFwCfgItems(o: PcFwCfgOptions): FwCfgContent {
  const u16 = (v: number) => le(2, v);
  const e820 = new Uint8Array(20);
  // struct e820_entry { u64 address; u64 length; u32 type; } little-endian, packed.
  e820.set(le(8, 0), 0);
  e820.set(le(8, o.ramSize), 8);
  e820.set(le(4, E820Type.RAM), 16);
  const items: [number, Uint8Array][] = [
    [FwCfgKey.UUID, new Uint8Array(16)],
    [FwCfgKey.RAM_SIZE, le(8, o.ramSize)],
    [FwCfgKey.NOGRAPHIC, u16(0)],
    [FwCfgKey.NB_CPUS, u16(o.cpus)],
    [FwCfgKey.MAX_CPUS, u16(o.cpus)],
    [FwCfgKey.BOOT_DEVICE, u16(0x63)], // 'c': the first hard disk
    // No boot menu unless asked for (QEMU's -boot menu=off default): no 2.5 s "Press ESC".
    [FwCfgKey.BOOT_MENU, u16(0)],
    // No NUMA nodes: a zero count, then one u64 per CPU (its node).
    [FwCfgKey.NUMA, new Uint8Array(8 * (1 + o.cpus))],
    [FwCfgKey.ACPI_TABLES, u16(0)],
    [FwCfgKey.SMBIOS_ENTRIES, u16(0)],
    [FwCfgKey.IRQ0_OVERRIDE, le(4, 1)],
    [FwCfgKey.E820_TABLE, le(4, 0)],
  ];
  const files: FwCfgFile[] = [
    { name: 'etc/e820', data: e820 },
    { name: 'etc/boot-cpus', data: u16(o.cpus) },
    ...o.vgaRoms.map((r) => ({ name: `vgaroms/${r.name}`, data: r.data })),
  ];
  if (o.bootOrder.length > 0) files.push({ name: 'bootorder', data: ascii(o.bootOrder.join('\n') + '\0') });
  if (o.serconPort) files.push({ name: 'etc/sercon-port', data: u16(o.serconPort) });
  return { items, files };
}
