// The PC board: the one wiring table. Every device's address, IRQ and backend is decided here
// and nowhere else (Firecracker's device_manager/legacy.rs idea); moving a device is one line.
// Addresses follow the IBM PC/AT conventions that QEMU's `pc` machine also uses, so that the
// same firmware behaves the same.

import type { PropValue } from '../../../common/device.js';
import type { DeviceSpec } from '../../../devices/daemon/protocol.js';
import type { PlatformSpec } from '../../vcpu/protocol.js';

/** Where the legacy devices sit (IBM PC/AT Technical Reference, I/O address map). */
export const PC = {
  PIC_MASTER: 0x20, PIC_SLAVE: 0xa0, ELCR: 0x4d0,
  PIT: 0x40, PIT_IRQ: 0, PORT61: 0x61,
  KBD: 0x60, KBD_IRQ: 1, MOUSE_IRQ: 12,
  RTC: 0x70, RTC_IRQ: 8,
  POST: 0x80, PORT92: 0x92,
  COM1: 0x3f8, COM1_IRQ: 4, COM2: 0x2f8, COM2_IRQ: 3,
  IDE0: 0x1f0, IDE0_CTL: 0x3f6, IDE0_IRQ: 14,
  IDE1: 0x170, IDE1_CTL: 0x376, IDE1_IRQ: 15,
  NE2000: 0x300, NE2000_IRQ: 9,
  VGA_IO: 0x3b0, VGA_MEM: 0xa0000,
  PCI_CONFIG: 0xcf8,
  DEBUGCON: 0xe9,
  /** QEMU's fw_cfg on x86 (docs/specs/fw_cfg.rst, "Register Locations"). */
  FW_CFG: 0x510, FW_CFG_DMA: 0x514,
  /** QEMU's isa-debug-exit default. */
  DEBUG_EXIT: 0x501,
  /** Conventional memory ends where the VGA window starts. */
  LOW_RAM_END: 0xa0000,
} as const;

export interface ExtraDevice {
  kind: string;
  props: Record<string, PropValue>;
  chardev?: string;
}

export interface PcOptions {
  ramSize: number;
  /** Character backends for COM1 and COM2 ('vc' = the monitor's console only, 'null' = nothing). */
  serial: string[];
  /** --drive specs, in order: primary master, primary slave, secondary master, secondary slave. */
  drives: string[];
  netdevs: string[];
  extra: ExtraDevice[];
  /** vCPUs, as fw_cfg and the CMOS tell the BIOS (default 1). */
  cpus?: number;
  /**
   * VGA option ROM that fw_cfg offers the BIOS as vgaroms/NAME (the ISA VGA has no PCI ROM).
   * Without one, SeaBIOS is told to use COM1 as its console (etc/sercon-port).
   */
  vgaRom?: string | null;
  /** Properties of the board's own devices, by device id (--global vga.posted=off). */
  globals?: Record<string, Record<string, number | string | boolean>>;
}

/** SeaVGABIOS for an ISA VGA, from Debian's seabios package (what QEMU's isa-vga loads). */
export const SEAVGABIOS_ISA = '/usr/share/seabios/vgabios-isavga.bin';

/** The Open Firmware path SeaBIOS matches for IDE position i (QEMU's bootindex paths). */
export function ideBootPath(i: number): string {
  return `/pci@i0cf8/ide@1,1/drive@${i >> 1}/disk@${i & 1}`;
}

export const PLATFORM: PlatformSpec = {
  pic: { masterBase: PC.PIC_MASTER, slaveBase: PC.PIC_SLAVE, elcrBase: PC.ELCR },
  pit: { iobase: PC.PIT, irq: PC.PIT_IRQ },
  port61: { iobase: PC.PORT61 },
};

/** CMOS bytes a PC BIOS reads beyond the memory size (IBM PC/AT "CMOS RAM Address Map"). */
function cmosSetup(o: PcOptions): [number, number][] {
  const hasDisk = o.drives.length > 0;
  return [
    // Equipment byte: no floppy, 80x25 colour display (bits 5-4 = 00: EGA/VGA), no FPU.
    [0x14, 0x00],
    // Floppy types: none.
    [0x10, 0x00],
    // Hard disk types: "type 47, see extended bytes" when a disk is attached (as QEMU sets).
    [0x12, hasDisk ? 0xf0 : 0x00],
    // Boot order for SeaBIOS without fw_cfg (0x3D: first/second, 0x38 high nibble: third):
    // 2 = hard disk, 3 = CD-ROM, 1 = floppy.
    [0x3d, 0x32],
    [0x38, 0x10],
    // CPUs at boot, minus one (QEMU's "BIOS SMP count" byte, read when fw_cfg is absent).
    [0x5f, (o.cpus ?? 1) - 1],
    // Century (BCD) is kept by the RTC itself.
  ];
}

export function pcDevices(o: PcOptions): DeviceSpec[] {
  const devices: DeviceSpec[] = [
    { kind: 'i440fx', id: 'pci', props: { iobase: PC.PCI_CONFIG } },
    {
      kind: 'fw_cfg', id: 'fwcfg',
      props: {
        iobase: PC.FW_CFG, dmabase: PC.FW_CFG_DMA, ram: o.ramSize, cpus: o.cpus ?? 1,
        bootorder: o.drives.flatMap((d, i) => (d ? [ideBootPath(i)] : [])).join('\n'),
        vgarom: o.vgaRom ?? '', sercon: o.vgaRom ? 0 : PC.COM1,
      },
    },
    { kind: 'mc146818', id: 'rtc', props: { iobase: PC.RTC, irq: PC.RTC_IRQ }, memorySize: o.ramSize, cmos: cmosSetup(o) },
    { kind: 'i8042', id: 'kbd', props: { iobase: PC.KBD, irq: PC.KBD_IRQ, auxIrq: PC.MOUSE_IRQ } },
    { kind: 'port92', id: 'port92', props: { iobase: PC.PORT92 } },
    { kind: 'postcode', id: 'post', props: { iobase: PC.POST } },
    { kind: 'vga', id: 'vga', props: { iobase: PC.VGA_IO, membase: PC.VGA_MEM } },
    { kind: 'uart16550', id: 'com1', props: { iobase: PC.COM1, irq: PC.COM1_IRQ }, chardev: o.serial[0] ?? 'vc' },
    { kind: 'uart16550', id: 'com2', props: { iobase: PC.COM2, irq: PC.COM2_IRQ }, chardev: o.serial[1] ?? 'vc' },
    {
      kind: 'ide', id: 'ide0', props: { iobase: PC.IDE0, iobase2: PC.IDE0_CTL, irq: PC.IDE0_IRQ },
      drives: [o.drives[0] || null, o.drives[1] || null],
    },
    {
      kind: 'ide', id: 'ide1', props: { iobase: PC.IDE1, iobase2: PC.IDE1_CTL, irq: PC.IDE1_IRQ },
      drives: [o.drives[2] || null, o.drives[3] || null],
    },
  ];
  for (const d of devices) {
    const g = o.globals?.[d.id];
    if (g) d.props = { ...d.props, ...g };
  }
  o.netdevs.forEach((n, i) => {
    // mac= belongs to the NIC (the run options checked its form); the rest to the backend.
    // Without one, NICs count up from 52:54:00:12:34:56 as QEMU's do, so that two NICs on
    // one segment do not share an address.
    const mac = /(?:^|,)mac=([^,]+)/.exec(n)?.[1] ?? `52:54:00:12:34:${(0x56 + i).toString(16).padStart(2, '0')}`;
    devices.push({
      kind: 'ne2000', id: `ne2k${i}`, props: { iobase: PC.NE2000 + i * 0x20, irq: PC.NE2000_IRQ + i, mac }, netdev: n,
    });
  });
  const count = new Map<string, number>();
  for (const x of o.extra) {
    const n = count.get(x.kind) ?? 0;
    count.set(x.kind, n + 1);
    const short = x.kind === 'isa-debugcon' ? 'debugcon' : x.kind === 'isa-debug-exit' ? 'debugexit' : x.kind;
    devices.push({ kind: x.kind, id: `${short}${n}`, props: x.props, chardev: x.chardev });
  }
  return devices;
}
