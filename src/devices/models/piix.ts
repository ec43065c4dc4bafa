// The PC chipset functions on PCI bus 0, presented as QEMU's `pc` machine presents them
// (SeaBIOS recognises the machine by these ids and the Red Hat subsystem ids on 00:00.0):
//   00:00.0 i440FX host bridge (PMC)  8086:1237 rev 02, class 060000
//   00:01.0 PIIX3 PCI-to-ISA bridge   8086:7000 rev 00, class 060100, multi-function
//   00:01.1 PIIX3 IDE                 8086:7010 rev 00, class 010180 (compatibility mode, bus-master capable)
//   00:01.3 PIIX4 ACPI power mgmt     8086:7113 rev 03, class 068000, INTA#
//
// References: Intel 82441FX PCI and Memory Controller (PMC) datasheet, "PAM[6:0]: Programmable
// Attribute Map Registers (59h-5Fh)" and "SMRAM: System Management RAM Control Register (72h)";
// Intel 82371FB/82371SB (PIIX/PIIX3) datasheet, "PIRQRC[A:D]: PIRQx Route Control Registers
// (60h-63h)", "IDETIM: IDE Timing Register (40-41h/42-43h)", "BMIBA (20h)"; Intel 82371AB
// (PIIX4) datasheet, "Power Management Function (Function 3)": PMBA (40h), DEVACTB (58h),
// PMREGMISC (80h), SMBBA (90h), and "Power Management I/O Space Registers" (PMSTS, PMEN,
// PMCNTRL, PMTMR, GLBCTL, ...), "APM Control/Status (B2h/B3h)". ACPI 1.0b section 4.7.3 (PM1
// event/control, PM timer).
//
// PAM and the core — the `map-memory` request (DeviceContext.request):
//   Each of the 13 PAM segments (0C0000h-0EFFFFh in 16 KiB pieces, 0F0000h-0FFFFFh as one
//   64 KiB piece) is sent as one request { kind: 'map-memory', base, size, read, write }
//   covering exactly that segment, whenever its RE/WE bits change, and for all 13 on reset()
//   and restore(). From then on, CPU accesses in [base, base+size) go:
//     read:  'ram'  → guest RAM at the same physical address (RE=1);
//            'rom'  → "the PCI/ISA side" (RE=0): the ROM the machine placed there — the last
//                     128 KiB of the system BIOS at 0E0000h-0FFFFFh (the same image that
//                     appears at 4 GiB - 128 KiB), option ROM images in 0C0000h-0DFFFFh — and
//                     open bus (FFh) where nothing is placed;
//            'none' → open bus (never sent for PAM; reserved for holes).
//     write: 'ram'  → guest RAM at the same physical address (WE=1);
//            'none' → forwarded to the PCI/ISA side, where a ROM ignores it (WE=0).
//   RAM and ROM are separate stores: turning reads from 'rom' to 'ram' shows what RAM holds,
//   not a copy of the ROM (SeaBIOS copies itself from the 4 GiB alias after setting PAM to
//   33h/30h). Write-only (WE=1, RE=0) is how BIOSes shadow in place: read the ROM, write RAM.
//   The reset state (all PAM 00h) is read 'rom' / write 'none' everywhere; the core's initial
//   map must match it. Device DMA (ctx.dma) always sees RAM.
//
// NOT modelled: SMRAM decoding (72h is stored with its D_LCK rule, but 0A0000h-0BFFFFh always
// reaches the VGA: no map-memory is sent for it, and there is no SMM; DEVACTB bit 25 starts
// set, as QEMU's pc without SMM does, so SeaBIOS skips SMM setup), the i440FX DRAM timing and
// error registers (plain storage), PIRQ routing (stored; no PCI function raises INTx), the
// PIIX3 IDE bus-master interface (BMIBA reads 0 and cannot be sized, so SeaBIOS and Linux's
// ata_piix fall back to PIO; the legacy ports are decoded whatever IDETIM's IDE Decode Enable
// says), the PIIX4 SMBus controller (SMBBA is stored, its I/O is not decoded), GPIO, the
// throttling and device-monitoring logic behind the PIIX4 registers (stored), sleep states
// other than soft-off, and the PMBA/SMBBA BARs moving: the PM I/O block is decoded only at the
// `pmBase` prop (default B000h, where SeaBIOS 1.16 on QEMU's pc puts it; older firmware used
// 600h) and only while PMREGMISC.PMIOSE is set and
// PMBA equals it.
//
// Constructor (uniform across hvmon models): new I440fx(id, props, ctx, backends = {}), where
//   props = { iobase = 0xcf8, acpi = true (add 00:01.3), pmBase = 0xb000, sciIrq = 9, apmBase = 0xb2 }

import type { DeviceContext, IrqLine, PropValue, RegisterView, Timer } from '../../common/device.js';
import type { MappedRegion } from '../../common/io.js';
import type { AccessSize } from '../../common/types.js';
import { PciCfg, PciFunction, PciHost, bitList } from './pci.js';

/** i440FX (82441FX PMC) configuration registers. */
const enum I440fxReg {
  /** PAM0: attributes of 0F0000h-0FFFFFh (bits 7:4). */
  PAM0 = 0x59,
  /** PAM6: the last PAM register. */
  PAM6 = 0x5f,
  /** DRB0: DRAM row boundary 0 (DRB0-7 at 60h-67h). */
  DRB0 = 0x60,
  /** SMRAM: System Management RAM Control. */
  SMRAM = 0x72,
}

/** PAM attribute bits, per nibble. */
const enum Pam {
  /** RE: read enable (reads go to DRAM). */
  RE = 0x1,
  /** WE: write enable (writes go to DRAM). */
  WE = 0x2,
  /** CE: cache enable. */
  CE = 0x4,
}

/** SMRAM register bits. */
const enum Smram {
  /** D_OPEN: SMRAM visible outside SMM. */
  D_OPEN = 0x40,
  /** D_CLS: SMRAM data accesses closed. */
  D_CLS = 0x20,
  /** D_LCK: lock D_OPEN (and this bit) until reset. */
  D_LCK = 0x10,
  /** G_SMRAME: global SMRAM enable. */
  G_SMRAME = 0x08,
  /** C_BASE_SEG: compatible SMRAM at 0A0000h (hardwired 010b). */
  C_BASE_SEG = 0x07,
}

/** PIIX3 function 0 configuration registers. */
const enum Piix3Reg {
  /** IORT: ISA I/O recovery timer. */
  IORT = 0x4c,
  /** XBCS: X-bus chip select. */
  XBCS = 0x4e,
  /** PIRQRCA: PIRQA# route control (B-D at 61h-63h). */
  PIRQRC = 0x60,
  /** TOM: top of memory. */
  TOM = 0x69,
  /** MBIRQ0: motherboard device IRQ route 0. */
  MBIRQ0 = 0x70,
  /** MBIRQ1: motherboard device IRQ route 1. */
  MBIRQ1 = 0x71,
  /** MBDMA0: motherboard device DMA control. */
  MBDMA = 0x76,
  /** PCSC: programmable chip select control. */
  PCSC = 0x78,
  /** SMICNTL: SMI control. */
  SMICNTL = 0xa0,
  /** FTMR: fast-off timer. */
  FTMR = 0xa8,
}

/** PIRQRC bits. */
const enum Pirqrc {
  /** IRQROUTEN: 1 = routing disabled. */
  DISABLE = 0x80,
  /** IRQ number the PIRQ is routed to. */
  IRQ = 0x0f,
}

/** PIIX3 IDE function registers. */
const enum IdeReg {
  /** BMIBA: bus master interface base address (BAR4). */
  BMIBA = 0x20,
  /** IDETIM primary channel (16-bit). */
  IDETIM_PRI = 0x40,
  /** IDETIM secondary channel (16-bit). */
  IDETIM_SEC = 0x42,
  /** SIDETIM: slave IDE timing. */
  SIDETIM = 0x44,
}

/** PIIX4 function 3 configuration registers. */
const enum Piix4PmReg {
  /** PMBA: power management base address (bits 15:6; bit 0 reads 1). */
  PMBA = 0x40,
  /** DEVACTB: device activity B (bit 25 = APMC_EN). */
  DEVACTB = 0x58,
  /** PMREGMISC: bit 0 PMIOSE enables the PM I/O space. */
  PMREGMISC = 0x80,
  /** SMBBA: SMBus base address (bit 0 reads 1). */
  SMBBA = 0x90,
  /** SMBHSTCFG: SMBus host configuration. */
  SMBHSTCFG = 0xd2,
}

/** PIIX4 power management I/O registers (offsets from PMBA). */
const enum PmIo {
  /** PMSTS: power management status (write 1 to clear). */
  PMSTS = 0x00,
  /** PMEN: power management resume/SCI enable. */
  PMEN = 0x02,
  /** PMCNTRL: power management control. */
  PMCNTRL = 0x04,
  /** PMTMR: power management timer (24 bits, 3.579545 MHz). */
  PMTMR = 0x08,
  /** GPSTS: general purpose status (write 1 to clear). */
  GPSTS = 0x0c,
  /** GPEN: general purpose enable. */
  GPEN = 0x0e,
  /** PCNTRL: processor control. */
  PCNTRL = 0x10,
  /** PLVL2: enter C2 on read. */
  PLVL2 = 0x14,
  /** PLVL3: enter C3 on read. */
  PLVL3 = 0x15,
  /** GLBSTS: global status (write 1 to clear). */
  GLBSTS = 0x18,
  /** DEVSTS: device status. */
  DEVSTS = 0x1c,
  /** GLBEN: global enable. */
  GLBEN = 0x20,
  /** GLBCTL: global control. */
  GLBCTL = 0x28,
  /** DEVCTL: device control. */
  DEVCTL = 0x2c,
  /** GPIREG: general purpose inputs (read only). */
  GPIREG = 0x30,
  /** GPOREG: general purpose outputs. */
  GPOREG = 0x34,
}

/** PMSTS / PMEN bits (ACPI PM1 event block). */
const enum Pm1 {
  /** TMROF_STS/EN: PM timer bit 23 toggled. */
  TMROF = 0x0001,
  /** BM_STS: bus master activity. */
  BM = 0x0010,
  /** GBL_STS/EN: global (BIOS release) event. */
  GBL = 0x0020,
  /** PWRBTN_STS/EN: power button. */
  PWRBTN = 0x0100,
  /** RTC_STS/EN: RTC alarm. */
  RTC = 0x0400,
  /** WAK_STS: woke from sleep. */
  WAK = 0x8000,
}

/** PMCNTRL bits. */
const enum PmCntrl {
  /** SCI_EN: power management events raise SCI (not SMI). */
  SCI_EN = 0x0001,
  /** BRLD_EN_BM: bus master reload enable. */
  BRLD_EN_BM = 0x0002,
  /** GBL_RLS: global release (to the BIOS). */
  GBL_RLS = 0x0004,
  /** SUS_TYP: suspend type (bits 12:10); 000 = soft off. */
  SUS_TYP = 0x1c00,
  /** SUS_EN: enter the suspend type (write only). */
  SUS_EN = 0x2000,
}

/** Values the OS writes to APMC to hand ACPI over (SeaBIOS's FADT ACPI_ENABLE/ACPI_DISABLE). */
const enum Apmc {
  ACPI_DISABLE = 0xf0,
  ACPI_ENABLE = 0xf1,
}

const PMTMR_HZ = 3579545;

function numProp(props: Readonly<Record<string, PropValue>>, name: string, def: number): number {
  const v = props[name];
  return typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : def;
}

function hex8(n: number): string {
  return '0x' + n.toString(16).padStart(5, '0');
}

// ---- 00:00.0 i440FX ----------------------------------------------------------------------

interface PamSegment {
  reg: number;
  shift: 0 | 4;
  base: number;
  size: number;
}

/** The 13 segments, in register order (PAM0 high nibble, PAM1 low, PAM1 high, ...). */
const PAM_SEGMENTS: readonly PamSegment[] = [
  { reg: I440fxReg.PAM0, shift: 4, base: 0xf0000, size: 0x10000 },
  ...Array.from({ length: 12 }, (_, i): PamSegment => ({
    reg: I440fxReg.PAM0 + 1 + (i >> 1),
    shift: (i & 1) === 0 ? 0 : 4,
    base: 0xc0000 + i * 0x4000,
    size: 0x4000,
  })),
];

export class I440fxHostBridge extends PciFunction {
  constructor(private readonly _ctx: DeviceContext) {
    super('i440fx', 0, 0, { vendor: 0x8086, device: 0x1237, revision: 0x02, classCode: 0x060000 });
    // Chipset registers from 50h up are the BIOS's to program; PAM reserved bits stay 0.
    for (let r = 0x50; r < 0x100; r++) this._wmask[r] = 0xff;
    this._wmask[I440fxReg.PAM0] = 0x70;
    for (let r = I440fxReg.PAM0 + 1; r <= I440fxReg.PAM6; r++) this._wmask[r] = 0x77;
    this._wmask[I440fxReg.SMRAM] = Smram.D_OPEN | Smram.D_CLS | Smram.D_LCK | Smram.G_SMRAME;
    this.cfg[I440fxReg.SMRAM] = 0x02; // C_BASE_SEG = 010b: SMRAM at 0A0000h
    this.state.pamRequests = 0;
    this.fields.push({ name: 'pamRequests', type: 'u32' });
    this.captureDefaults();
  }

  protected override onWrite(reg: number, size: number, old: Uint8Array): void {
    const end = reg + size;
    if (reg <= I440fxReg.SMRAM && I440fxReg.SMRAM < end) {
      const was = old[I440fxReg.SMRAM - reg];
      // Once D_LCK is set, D_OPEN, D_LCK and G_SMRAME hold until reset; setting D_LCK closes D_OPEN.
      if (was & Smram.D_LCK) this.cfg[I440fxReg.SMRAM] = was;
      else if (this.cfg[I440fxReg.SMRAM] & Smram.D_LCK) this.cfg[I440fxReg.SMRAM] &= ~Smram.D_OPEN;
    }
    for (const seg of PAM_SEGMENTS) {
      if (seg.reg < reg || seg.reg >= end) continue;
      const before = (old[seg.reg - reg] >> seg.shift) & (Pam.RE | Pam.WE);
      const now = (this.cfg[seg.reg] >> seg.shift) & (Pam.RE | Pam.WE);
      if (before !== now) this._mapSegment(seg);
    }
  }

  protected override onReset(): void {
    this.state.pamRequests = 0;
    this._syncPam();
  }

  override afterRestore(): void {
    this._syncPam();
  }

  /** Tells the core the whole map again (reset, restore); not counted as guest changes. */
  private _syncPam(): void {
    for (const seg of PAM_SEGMENTS) this._mapSegment(seg, false);
  }

  private _mapSegment(seg: PamSegment, count = true): void {
    const attr = (this.cfg[seg.reg] >> seg.shift) & 0xf;
    if (count) this.state.pamRequests = (this.state.pamRequests as number) + 1;
    this._ctx.request({
      kind: 'map-memory',
      base: seg.base,
      size: seg.size,
      read: attr & Pam.RE ? 'ram' : 'rom',
      write: attr & Pam.WE ? 'ram' : 'none',
    });
  }

  override chipRegisters(): RegisterView[] {
    const regs: RegisterView[] = [];
    for (let p = 0; p <= 6; p++) {
      const r = I440fxReg.PAM0 + p;
      const v = this.cfg[r];
      const segs = PAM_SEGMENTS.filter((s) => s.reg === r);
      regs.push({
        name: `PAM${p}`, offset: r, value: v, width: 8,
        bits: segs.flatMap((s) => {
          const a = (v >> s.shift) & 0xf;
          const range = `${hex8(s.base)}-${hex8(s.base + s.size - 1)}`;
          const meaning = `${range}: read ${a & Pam.RE ? 'RAM' : 'ROM/PCI'}, write ${a & Pam.WE ? 'RAM' : 'PCI (dropped)'}`;
          return [
            { name: `${s.shift ? 'HI' : 'LO'}.CE`, value: (a >> 2) & 1 },
            { name: `${s.shift ? 'HI' : 'LO'}.WE`, value: (a >> 1) & 1 },
            { name: `${s.shift ? 'HI' : 'LO'}.RE`, value: a & 1, meaning },
          ];
        }),
      });
    }
    const sm = this.cfg[I440fxReg.SMRAM];
    regs.push({
      name: 'SMRAM', offset: I440fxReg.SMRAM, value: sm, width: 8, note: 'stored only: no SMM',
      bits: [
        ...bitList(sm, [['D_OPEN', Smram.D_OPEN], ['D_CLS', Smram.D_CLS], ['D_LCK', Smram.D_LCK], ['G_SMRAME', Smram.G_SMRAME]]),
        { name: 'C_BASE_SEG', value: sm & Smram.C_BASE_SEG },
      ],
    });
    for (let i = 0; i < 8; i++) regs.push({ name: `DRB${i}`, offset: I440fxReg.DRB0 + i, value: this.cfg[I440fxReg.DRB0 + i], width: 8 });
    return regs;
  }

  override counters(): Record<string, number> {
    return { pamRequests: this.state.pamRequests as number };
  }
}

// ---- 00:01.0 PIIX3 ISA bridge -------------------------------------------------------------

export class Piix3Isa extends PciFunction {
  constructor() {
    super('piix3', 1, 0, {
      vendor: 0x8086, device: 0x7000, revision: 0x00, classCode: 0x060100,
      headerType: 0x80, // multi-function: scanners look at 01.1-01.7 too
      status: 0x0200, // DEVSEL medium
    });
    this.set16(PciCfg.COMMAND, 0x0007);
    for (let r = 0x4c; r < 0x100; r++) this._wmask[r] = 0xff;
    for (let i = 0; i < 4; i++) {
      this._wmask[Piix3Reg.PIRQRC + i] = Pirqrc.DISABLE | Pirqrc.IRQ;
      this.cfg[Piix3Reg.PIRQRC + i] = Pirqrc.DISABLE;
    }
    // Datasheet reset values of the chipset registers.
    this.cfg[Piix3Reg.IORT] = 0x4d;
    this.cfg[Piix3Reg.XBCS] = 0x03;
    this.cfg[Piix3Reg.TOM] = 0x02;
    this.cfg[Piix3Reg.MBIRQ0] = 0x80;
    this.cfg[Piix3Reg.MBIRQ1] = 0x80;
    this.cfg[Piix3Reg.MBDMA] = 0x0c;
    this.cfg[Piix3Reg.MBDMA + 1] = 0x0c;
    this.cfg[Piix3Reg.PCSC] = 0x02;
    this.cfg[Piix3Reg.SMICNTL] = 0x08;
    this.cfg[Piix3Reg.FTMR] = 0x0f;
    this.captureDefaults();
  }

  override chipRegisters(): RegisterView[] {
    const regs: RegisterView[] = [];
    for (let i = 0; i < 4; i++) {
      const v = this.cfg[Piix3Reg.PIRQRC + i];
      regs.push({
        name: `PIRQRC${'ABCD'[i]}`, offset: Piix3Reg.PIRQRC + i, value: v, width: 8,
        bits: [
          { name: 'IRQROUTEN', value: v >> 7, meaning: v & Pirqrc.DISABLE ? 'routing disabled' : `PIRQ${'ABCD'[i]}# → IRQ${v & Pirqrc.IRQ}` },
          { name: 'IRQ', value: v & Pirqrc.IRQ },
        ],
      });
    }
    regs.push(
      { name: 'IORT', offset: Piix3Reg.IORT, value: this.cfg[Piix3Reg.IORT], width: 8 },
      { name: 'XBCS', offset: Piix3Reg.XBCS, value: this.get16(Piix3Reg.XBCS), width: 16 },
      { name: 'TOM', offset: Piix3Reg.TOM, value: this.cfg[Piix3Reg.TOM], width: 8 },
      { name: 'MBIRQ0', offset: Piix3Reg.MBIRQ0, value: this.cfg[Piix3Reg.MBIRQ0], width: 8 },
      { name: 'MBIRQ1', offset: Piix3Reg.MBIRQ1, value: this.cfg[Piix3Reg.MBIRQ1], width: 8 },
    );
    return regs;
  }
}

// ---- 00:01.1 PIIX3 IDE --------------------------------------------------------------------

export class Piix3Ide extends PciFunction {
  constructor() {
    super('piix3-ide', 1, 1, {
      vendor: 0x8086, device: 0x7010, revision: 0x00,
      classCode: 0x010180, // IDE, compatibility mode on both channels, bus-master capable
      status: 0x0280, // DEVSEL medium, fast back-to-back
    });
    for (let r = IdeReg.IDETIM_PRI; r <= IdeReg.SIDETIM; r++) this._wmask[r] = 0xff;
    // BMIBA (BAR4) is left unimplemented: it reads 0 and sizes to 0, so firmware and
    // drivers see no bus-master interface and use PIO.
    this.captureDefaults();
  }

  override chipRegisters(): RegisterView[] {
    const pri = this.get16(IdeReg.IDETIM_PRI);
    const sec = this.get16(IdeReg.IDETIM_SEC);
    return [
      { name: 'BMIBA', offset: IdeReg.BMIBA, value: this.get32(IdeReg.BMIBA), width: 32, note: 'not implemented (reads 0)' },
      { name: 'IDETIM (primary)', offset: IdeReg.IDETIM_PRI, value: pri, width: 16, bits: [{ name: 'IDE', value: pri >> 15, meaning: 'IDE decode enable (ports decoded regardless)' }] },
      { name: 'IDETIM (secondary)', offset: IdeReg.IDETIM_SEC, value: sec, width: 16, bits: [{ name: 'IDE', value: sec >> 15 }] },
      { name: 'SIDETIM', offset: IdeReg.SIDETIM, value: this.cfg[IdeReg.SIDETIM], width: 8 },
    ];
  }
}

// ---- 00:01.3 PIIX4 power management -------------------------------------------------------

export class Piix4Pm extends PciFunction {
  /** PM I/O registers as bytes (timer bytes unused: computed from the clock). */
  readonly io = new Uint8Array(64);
  private readonly _sci: IrqLine;
  private readonly _timer: Timer;

  constructor(
    private readonly _ctx: DeviceContext,
    private readonly _pmBase: number,
    private readonly _sciIrq: number,
    private readonly _apmBase = 0xb2,
  ) {
    super('piix4-pm', 1, 3, {
      vendor: 0x8086, device: 0x7113, revision: 0x03, classCode: 0x068000,
      interruptPin: 1, status: 0x0280,
    });
    this._sci = _ctx.irq(_sciIrq);
    this._timer = _ctx.createTimer(() => this._tick());
    this.cfg[Piix4PmReg.PMBA] = 0x01; // I/O space indicator
    this._wmask[Piix4PmReg.PMBA] = 0xc0;
    this._wmask[Piix4PmReg.PMBA + 1] = 0xff;
    for (let r = 0x44; r < 0x80; r++) this._wmask[r] = 0xff;
    this._wmask[Piix4PmReg.PMREGMISC] = 0x01;
    this.cfg[Piix4PmReg.SMBBA] = 0x01;
    this._wmask[Piix4PmReg.SMBBA] = 0xf0;
    this._wmask[Piix4PmReg.SMBBA + 1] = 0xff;
    for (let r = Piix4PmReg.SMBHSTCFG; r < 0x100; r++) this._wmask[r] = 0xff;
    // DEVACTB.APMC_EN preset: "SMM already set up", so firmware does not try to enter SMM.
    this.cfg[Piix4PmReg.DEVACTB + 3] = 0x02;
    Object.assign(this.state, { io: this.io, apmc: 0, apms: 0, tmrEpoch: 0, sciLevel: false, sciCount: 0 });
    this.fields.push(
      { name: 'io', type: 'bytes' }, { name: 'apmc', type: 'u8' }, { name: 'apms', type: 'u8' },
      { name: 'tmrEpoch', type: 'f64' }, { name: 'sciLevel', type: 'bool' }, { name: 'sciCount', type: 'u32' },
    );
    this.captureDefaults();
  }

  private get _decoding(): boolean {
    return (this.cfg[Piix4PmReg.PMREGMISC] & 1) !== 0 && (this.get16(Piix4PmReg.PMBA) & 0xffc0) === this._pmBase;
  }

  /** PM timer ticks since the clock's zero, split so that large clocks stay exact. */
  private _ticks(): number {
    const now = this._ctx.now();
    const sec = Math.floor(now / 1e9);
    return sec * PMTMR_HZ + Math.floor(((now - sec * 1e9) * PMTMR_HZ) / 1e9);
  }

  private _io16(off: number): number {
    return this.io[off] | (this.io[off + 1] << 8);
  }

  /** TMROF_STS is set each time bit 23 of the timer toggles; checked lazily and by the timer. */
  private _updateOverflow(): void {
    const epoch = Math.floor(this._ticks() / 0x800000);
    if (epoch !== this.state.tmrEpoch) {
      this.state.tmrEpoch = epoch;
      this.io[PmIo.PMSTS] |= Pm1.TMROF;
    }
  }

  private _updateSci(): void {
    const sts = this._io16(PmIo.PMSTS);
    const en = this._io16(PmIo.PMEN);
    const level = (this._io16(PmIo.PMCNTRL) & PmCntrl.SCI_EN) !== 0 &&
      (sts & en & (Pm1.TMROF | Pm1.GBL | Pm1.PWRBTN | Pm1.RTC)) !== 0;
    if (level && !this.state.sciLevel) this.state.sciCount = (this.state.sciCount as number) + 1;
    this.state.sciLevel = level;
    this._sci.set(level);
    // Wake up at the next overflow only while it could raise SCI.
    if ((en & Pm1.TMROF) && (this._io16(PmIo.PMCNTRL) & PmCntrl.SCI_EN)) {
      const next = ((this.state.tmrEpoch as number) + 1) * 0x800000;
      this._timer.setAt(Math.ceil((next * 1e9) / PMTMR_HZ));
    } else {
      this._timer.cancel();
    }
  }

  private _tick(): void {
    this._updateOverflow();
    this._updateSci();
  }

  protected override onReset(): void {
    this.io.fill(0);
    this.state.apmc = 0;
    this.state.apms = 0;
    this.state.sciCount = 0;
    this.state.sciLevel = false;
    this.state.tmrEpoch = Math.floor(this._ticks() / 0x800000);
    this._updateSci();
  }

  override afterRestore(): void {
    this._updateSci();
  }

  private _ioRead(off: number, size: AccessSize): number {
    if (!this._decoding) return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    // The timer is read once per access, as the chipset latches it. Read per byte, a carry
    // between two bytes' reads made a value up to 255 ticks ahead, and the next read then
    // looked as if the timer went back: SeaBIOS takes that for a 24-bit wrap (4.7 s) and its
    // PS/2 timeouts expired at once.
    const t = off < PmIo.PMTMR + 4 && off + size > PmIo.PMTMR ? this._ticks() % 0x1000000 : 0;
    let v = 0;
    for (let i = 0; i < size; i++) v |= this._ioReadByte(off + i, t) << (8 * i);
    return v >>> 0;
  }

  /** One byte of the PM I/O space; `t` is the timer value this access reads. */
  private _ioReadByte(off: number, t: number): number {
    if (off >= PmIo.PMTMR && off < PmIo.PMTMR + 4) {
      // 24-bit counter; the top byte reads 0 (TMR_VAL_EXT = 0).
      return off === PmIo.PMTMR + 3 ? 0 : (t >>> (8 * (off - PmIo.PMTMR))) & 0xff;
    }
    if (off === PmIo.PMSTS) this._updateOverflow();
    if (off === PmIo.PMCNTRL + 1) return this.io[off] & ~(PmCntrl.SUS_EN >> 8);
    return this.io[off];
  }

  private _ioWrite(off: number, size: AccessSize, v: number): void {
    if (!this._decoding) return;
    for (let i = 0; i < size; i++) this._ioWriteByte(off + i, (v >>> (8 * i)) & 0xff);
    this._updateSci();
  }

  private _ioWriteByte(off: number, b: number): void {
    switch (off) {
      case PmIo.PMSTS: case PmIo.PMSTS + 1:
      case PmIo.GPSTS: case PmIo.GPSTS + 1:
      case PmIo.GLBSTS: case PmIo.GLBSTS + 1:
        this.io[off] &= ~b; // status bits: write 1 to clear
        return;
      case PmIo.PMCNTRL + 1:
        this.io[off] = b & ~(PmCntrl.SUS_EN >> 8);
        // SUS_EN with SUS_TYP 000b: soft off, the guest powers the machine down.
        if ((b & (PmCntrl.SUS_EN >> 8)) && ((b << 8) & PmCntrl.SUS_TYP) === 0) this._ctx.request({ kind: 'exit', status: 0 });
        return;
    }
    if (off >= PmIo.PMTMR && off < PmIo.PMTMR + 4) return;
    if (off === PmIo.PLVL2 || off === PmIo.PLVL3 || (off >= PmIo.GPIREG && off < PmIo.GPIREG + 4)) return;
    this.io[off] = b;
  }

  private _apmWrite(off: number, b: number): void {
    if (off === 0) {
      this.state.apmc = b;
      // What the SMI handler would do: hand PM events to the OS as SCI, or take them back.
      if (b === Apmc.ACPI_ENABLE) this.io[PmIo.PMCNTRL] |= PmCntrl.SCI_EN;
      else if (b === Apmc.ACPI_DISABLE) this.io[PmIo.PMCNTRL] &= ~PmCntrl.SCI_EN;
      this._updateSci();
    } else {
      this.state.apms = b;
    }
  }

  override regions(): MappedRegion[] {
    const pmNames: Record<number, string> = {
      [PmIo.PMSTS]: 'PMSTS', [PmIo.PMEN]: 'PMEN', [PmIo.PMCNTRL]: 'PMCNTRL', [PmIo.PMTMR]: 'PMTMR',
      [PmIo.GPSTS]: 'GPSTS', [PmIo.GPEN]: 'GPEN', [PmIo.PCNTRL]: 'PCNTRL', [PmIo.PLVL2]: 'PLVL2', [PmIo.PLVL3]: 'PLVL3',
      [PmIo.GLBSTS]: 'GLBSTS', [PmIo.DEVSTS]: 'DEVSTS', [PmIo.GLBEN]: 'GLBEN', [PmIo.GLBCTL]: 'GLBCTL',
      [PmIo.DEVCTL]: 'DEVCTL', [PmIo.GPIREG]: 'GPIREG', [PmIo.GPOREG]: 'GPOREG',
    };
    return [
      {
        base: this._apmBase,
        region: {
          name: 'piix4-pm.apm', space: 'pio', size: 2, impl: { min: 1, max: 1 },
          ops: {
            read: (o) => (o === 0 ? this.state.apmc : this.state.apms) as number,
            write: (o, _s, v) => this._apmWrite(o, v),
          },
          registerName: (o) => (o === 0 ? 'APMC' : 'APMS'),
        },
      },
      {
        base: this._pmBase,
        region: {
          name: 'piix4-pm.io', space: 'pio', size: 64,
          ops: { read: (o, s) => this._ioRead(o, s), write: (o, s, v) => this._ioWrite(o, s, v) },
          registerName: (o) => pmNames[o],
        },
      },
    ];
  }

  override chipRegisters(): RegisterView[] {
    const sts = this._io16(PmIo.PMSTS);
    const en = this._io16(PmIo.PMEN);
    const cnt = this._io16(PmIo.PMCNTRL);
    const pm1Bits: [string, number][] = [['WAK', Pm1.WAK], ['RTC', Pm1.RTC], ['PWRBTN', Pm1.PWRBTN], ['GBL', Pm1.GBL], ['BM', Pm1.BM], ['TMROF', Pm1.TMROF]];
    return [
      { name: 'PMBA', offset: Piix4PmReg.PMBA, value: this.get32(Piix4PmReg.PMBA), width: 32, note: `I/O decoded at 0x${this._pmBase.toString(16)} only` },
      { name: 'DEVACTB', offset: Piix4PmReg.DEVACTB, value: this.get32(Piix4PmReg.DEVACTB), width: 32, bits: [{ name: 'APMC_EN', value: (this.get32(Piix4PmReg.DEVACTB) >>> 25) & 1 }] },
      { name: 'PMREGMISC', offset: Piix4PmReg.PMREGMISC, value: this.cfg[Piix4PmReg.PMREGMISC], width: 8, bits: [{ name: 'PMIOSE', value: this.cfg[Piix4PmReg.PMREGMISC] & 1 }] },
      { name: 'SMBBA', offset: Piix4PmReg.SMBBA, value: this.get32(Piix4PmReg.SMBBA), width: 32, note: 'SMBus not modelled' },
      { name: 'PMSTS', value: sts, width: 16, note: 'PM I/O +00h', bits: bitList(sts, pm1Bits) },
      { name: 'PMEN', value: en, width: 16, note: 'PM I/O +02h', bits: bitList(en, pm1Bits.filter(([n]) => n !== 'WAK' && n !== 'BM')) },
      {
        name: 'PMCNTRL', value: cnt, width: 16, note: 'PM I/O +04h',
        bits: [
          { name: 'SUS_TYP', value: (cnt & PmCntrl.SUS_TYP) >> 10 },
          ...bitList(cnt, [['GBL_RLS', PmCntrl.GBL_RLS], ['BRLD_EN_BM', PmCntrl.BRLD_EN_BM], ['SCI_EN', PmCntrl.SCI_EN]]),
        ],
      },
      { name: 'GLBCTL', value: (this.io[PmIo.GLBCTL] | (this.io[PmIo.GLBCTL + 1] << 8) | (this.io[PmIo.GLBCTL + 2] << 16) | (this.io[PmIo.GLBCTL + 3] << 24)) >>> 0, width: 32, note: 'PM I/O +28h' },
      { name: 'APMC', value: this.state.apmc as number, width: 8, note: 'port 0B2h' },
      { name: 'APMS', value: this.state.apms as number, width: 8, note: 'port 0B3h' },
    ];
  }

  override counters(): Record<string, number> {
    return { sciRaised: this.state.sciCount as number, sciIrq: this._sciIrq };
  }
}

/** The function set of QEMU's pc machine. */
export function pcPciFunctions(ctx: DeviceContext, props: Readonly<Record<string, PropValue>>): PciFunction[] {
  const fns: PciFunction[] = [new I440fxHostBridge(ctx), new Piix3Isa(), new Piix3Ide()];
  if (props.acpi !== false && props.acpi !== 'off') {
    fns.push(new Piix4Pm(ctx, numProp(props, 'pmBase', 0xb000), numProp(props, 'sciIrq', 9), numProp(props, 'apmBase', 0xb2)));
  }
  return fns;
}

/** The PCI host of the pc machine: mechanism #1 at 0CF8h plus the i440FX/PIIX3/PIIX4 functions. */
export class I440fx extends PciHost {
  override readonly kind = 'i440fx';
  constructor(id: string, props: Readonly<Record<string, PropValue>>, ctx: DeviceContext, _backends: Record<string, never> = {}) {
    super(id, props, ctx, { functions: pcPciFunctions(ctx, props) });
  }
}
