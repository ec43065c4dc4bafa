// VGA: the register set of the IBM VGA and its 256 KiB of display memory as four 64 KiB
// planes, with the CPU's view of them through the 0A0000h-0BFFFFh window; the screen is read
// back as 80x25-style text (characters from plane 0, attributes from plane 1).
//
// Reference: IBM "VGA (Video Graphics Array) Technical Reference" / IBM PS/2 Hardware Interface
// Technical Reference, "Video Subsystem": General Registers (Miscellaneous Output 3C2h/3CCh,
// Input Status 0 3C2h, Input Status 1 3BAh/3DAh, Feature Control), Sequencer (3C4h/3C5h:
// SR00-SR04), CRT Controller (3B4h/3D4h, 3B5h/3D5h: CR00-CR18), Graphics Controller (3CEh/3CFh:
// GR00-GR08, write modes 0-3, read modes 0-1, latches), Attribute Controller (3C0h/3C1h with
// its index/data flip-flop reset by reading Input Status 1), Video DAC (3C6h-3C9h), and
// "Memory organization" (odd/even, chain-4, memory map select). Mode 3 register values are the
// standard ones of that reference's mode tables.
//
// Modelled: every register a VGA BIOS (SeaVGABIOS's stdvga code) programs; the Miscellaneous
// Output I/O address select (CRTC and Input Status 1 at 3Bxh or 3Dxh, the other set not
// decoded) and RAM enable; the graphics controller memory map select (which part of the window
// answers) with odd/even, chain-4 and planar addressing and the full write/read pipeline; the
// CRTC write protect bit (CR11 bit 7); the DAC with its read/write indexes and 6-bit palette;
// Input Status 1 retrace bits that toggle on every read and also follow a 70 Hz frame on the
// device clock (so both "poll until it changes" and time-based loops finish). The debugger
// reads display memory through `peek`, which the latches and counters do not see.
//
// NOT modelled: displaying graphics modes (the planes hold the data, `screen()` reports
// mode 'graphics' and no cells), the font (plane 2 is kept but characters are shown by code
// point through CP437), horizontal pel panning, split screen (line compare), the cursor skew,
// blinking as time, the Miscellaneous Output O/E page bit, light pen, vertical retrace
// interrupt, Bochs/QEMU VBE extensions (ports 1CEh/1CFh: SeaVGABIOS probes them, finds none and
// runs as a plain VGA), and the PCI VGA function (this is the ISA VGA that QEMU's `-vga std`
// on isapc / `isa-vga` presents, driven by vgabios-isavga.bin).
//
// `textmode` (default true): reset() leaves the card in mode 3 as a VGA BIOS would (80x25
// colour text at 0B8000h, blank screen of grey spaces), so guests that start without a video
// BIOS can print; the real chip powers up unprogrammed, which `textmode=false` gives.
//
// `posted` (default true): writes to display memory go through the buffered ring and the
// guest goes on at once (Xen's buffered ioreq for stdvga); `posted=false` makes each one a
// round trip, as every other trapped write is.
//
// Constructor (uniform across hvmon models): new Vga(id, props, ctx, backends), where
//   props    = { iobase = 0x3b0 (ports 3B0h-3DFh), membase = 0xa0000, textmode = true, posted = true }
//   backends = {} (none)

import type { DeviceContext, DeviceModel, Inspection, PropValue, RegisterView } from '../../common/device.js';
import type { MappedRegion } from '../../common/io.js';
import { type DeviceState, type StateDesc, loadState, saveState } from '../../common/vmstate.js';

/** Port offsets from 3B0h. */
const enum VgaPort {
  /** CRTC Address register, monochrome (3B4h). */
  CRTC_INDEX_MONO = 0x04,
  /** CRTC Data register, monochrome (3B5h). */
  CRTC_DATA_MONO = 0x05,
  /** Input Status 1 (read) / Feature Control (write), monochrome (3BAh). */
  ST1_MONO = 0x0a,
  /** Attribute Address/Data register (3C0h). */
  AR_INDEX = 0x10,
  /** Attribute Data read (3C1h). */
  AR_DATA_READ = 0x11,
  /** Miscellaneous Output (write) / Input Status 0 (read) (3C2h). */
  MISC_WRITE = 0x12,
  /** Video Subsystem Enable (3C3h). */
  VSE = 0x13,
  /** Sequencer Address register (3C4h). */
  SR_INDEX = 0x14,
  /** Sequencer Data register (3C5h). */
  SR_DATA = 0x15,
  /** PEL Mask (3C6h). */
  DAC_MASK = 0x16,
  /** DAC Address Read Mode (write) / DAC State (read) (3C7h). */
  DAC_READ_INDEX = 0x17,
  /** DAC Address Write Mode (3C8h). */
  DAC_WRITE_INDEX = 0x18,
  /** DAC Data register (3C9h). */
  DAC_DATA = 0x19,
  /** Feature Control read (3CAh). */
  FCR_READ = 0x1a,
  /** Miscellaneous Output read (3CCh). */
  MISC_READ = 0x1c,
  /** Graphics Controller Address register (3CEh). */
  GR_INDEX = 0x1e,
  /** Graphics Controller Data register (3CFh). */
  GR_DATA = 0x1f,
  /** CRTC Address register, colour (3D4h). */
  CRTC_INDEX_COLOR = 0x24,
  /** CRTC Data register, colour (3D5h). */
  CRTC_DATA_COLOR = 0x25,
  /** Input Status 1 (read) / Feature Control (write), colour (3DAh). */
  ST1_COLOR = 0x2a,
}

/** Miscellaneous Output register bits. */
const enum Misc {
  /** I/OAS: 1 = CRTC at 3Dxh (colour), 0 = 3Bxh (monochrome). */
  IOAS = 0x01,
  /** RAM Enable: CPU access to display memory. */
  RAM_ENABLE = 0x02,
  /** Clock Select (bits 3:2). */
  CLOCK_SELECT = 0x0c,
  /** O/E Page select. */
  OE_PAGE = 0x20,
  /** HSYNC polarity. */
  HSYNCP = 0x40,
  /** VSYNC polarity. */
  VSYNCP = 0x80,
}

/** Input Status 1 bits. */
const enum St1 {
  /** DD: display disabled (in horizontal or vertical retrace). */
  DD = 0x01,
  /** VRetrace: vertical retrace in progress. */
  VRETRACE = 0x08,
}

/** Sequencer registers. */
const enum Sr {
  /** SR00 Reset. */
  RESET = 0x00,
  /** SR01 Clocking Mode (bit 5: screen off). */
  CLOCKING_MODE = 0x01,
  /** SR02 Map Mask: planes the CPU writes. */
  MAP_MASK = 0x02,
  /** SR03 Character Map Select. */
  CHAR_MAP_SELECT = 0x03,
  /** SR04 Sequencer Memory Mode. */
  MEMORY_MODE = 0x04,
}

/** SR04 Memory Mode bits. */
const enum SrMem {
  /** Extended Memory (more than 64 KiB). */
  EXT_MEM = 0x02,
  /** O/E Dis.: odd/even host addressing disabled (sequential). */
  OE_DISABLE = 0x04,
  /** Chain 4: address bits 1:0 select the plane. */
  CHAIN4 = 0x08,
}

/** Graphics controller registers. */
const enum Gr {
  /** GR00 Set/Reset. */
  SET_RESET = 0x00,
  /** GR01 Enable Set/Reset. */
  ENABLE_SET_RESET = 0x01,
  /** GR02 Color Compare. */
  COLOR_COMPARE = 0x02,
  /** GR03 Data Rotate (bits 2:0 count, 4:3 logical operation). */
  DATA_ROTATE = 0x03,
  /** GR04 Read Map Select. */
  READ_MAP_SELECT = 0x04,
  /** GR05 Graphics Mode (bits 1:0 write mode, bit 3 read mode, bit 4 host odd/even). */
  MODE = 0x05,
  /** GR06 Miscellaneous Graphics (bit 0 graphics mode, bit 1 chain odd/even, bits 3:2 memory map). */
  MISC = 0x06,
  /** GR07 Color Don't Care. */
  COLOR_DONT_CARE = 0x07,
  /** GR08 Bit Mask. */
  BIT_MASK = 0x08,
}

/** CRT controller registers used here by number. */
const enum Cr {
  /** CR01 End Horizontal Display. */
  H_DISPLAY_END = 0x01,
  /** CR07 Overflow. */
  OVERFLOW = 0x07,
  /** CR09 Maximum Scan Line. */
  MAX_SCAN_LINE = 0x09,
  /** CR0A Cursor Start (bit 5: cursor off). */
  CURSOR_START = 0x0a,
  /** CR0B Cursor End. */
  CURSOR_END = 0x0b,
  /** CR0C Start Address High. */
  START_HI = 0x0c,
  /** CR0D Start Address Low. */
  START_LO = 0x0d,
  /** CR0E Cursor Location High. */
  CURSOR_HI = 0x0e,
  /** CR0F Cursor Location Low. */
  CURSOR_LO = 0x0f,
  /** CR11 Vertical Retrace End (bit 7: protect CR00-CR07). */
  V_RETRACE_END = 0x11,
  /** CR12 Vertical Display End. */
  V_DISPLAY_END = 0x12,
  /** CR13 Offset (words per row / 2). */
  OFFSET = 0x13,
  /** CR14 Underline Location (bit 6: doubleword mode). */
  UNDERLINE = 0x14,
  /** CR17 CRTC Mode Control (bit 6: byte mode). */
  MODE_CONTROL = 0x17,
}

/** Attribute controller. */
const enum Ar {
  /** PAS: palette address source; 0 = the CPU owns the palette and the screen is blank. */
  PAS = 0x20,
  /** AR10 Attribute Mode Control. */
  MODE_CONTROL = 0x10,
  /** AR11 Overscan Color. */
  OVERSCAN = 0x11,
  /** AR12 Color Plane Enable. */
  COLOR_PLANE_ENABLE = 0x12,
  /** AR13 Horizontal PEL Panning. */
  PEL_PANNING = 0x13,
  /** AR14 Color Select. */
  COLOR_SELECT = 0x14,
}

const PLANE = 0x10000;
const SR_NAMES = ['Reset', 'Clocking Mode', 'Map Mask', 'Character Map Select', 'Sequencer Memory Mode'];
const GR_NAMES = ['Set/Reset', 'Enable Set/Reset', 'Color Compare', 'Data Rotate', 'Read Map Select',
  'Graphics Mode', 'Miscellaneous Graphics', "Color Don't Care", 'Bit Mask'];
const CR_NAMES = ['Horizontal Total', 'End Horizontal Display', 'Start Horizontal Blanking', 'End Horizontal Blanking',
  'Start Horizontal Retrace', 'End Horizontal Retrace', 'Vertical Total', 'Overflow', 'Preset Row Scan',
  'Maximum Scan Line', 'Cursor Start', 'Cursor End', 'Start Address High', 'Start Address Low',
  'Cursor Location High', 'Cursor Location Low', 'Vertical Retrace Start', 'Vertical Retrace End',
  'Vertical Display End', 'Offset', 'Underline Location', 'Start Vertical Blanking', 'End Vertical Blanking',
  'CRTC Mode Control', 'Line Compare'];
const AR_NAMES = ['Attribute Mode Control', 'Overscan Color', 'Color Plane Enable', 'Horizontal PEL Panning', 'Color Select'];

/** Mode 3 (80x25 16-colour text, 720x400) register values. */
const MODE3 = {
  misc: 0x67,
  sr: [0x03, 0x00, 0x03, 0x00, 0x02],
  cr: [0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00,
    0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff],
  gr: [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff],
  ar: [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
    0x0c, 0x00, 0x0f, 0x08, 0x00],
};

/** Code page 437 as Unicode, for showing text-mode characters. */
export const CP437: readonly string[] = Array.from(
  ' ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼' +
  ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~⌂' +
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀' +
  'αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0',
);

export interface VgaCell {
  ch: string;
  attr: number;
}

export interface VgaScreen {
  mode: 'text' | 'graphics';
  /** Display disabled (attribute palette source PAS=0 or sequencer screen off). */
  blank: boolean;
  cols: number;
  rows: number;
  /** Row-major, cols*rows cells (empty in graphics mode). */
  cells: VgaCell[];
  /** The same characters as lines of text, trailing spaces kept. */
  text: string[];
  cursor: { x: number; y: number; visible: boolean; start: number; end: number };
  /** Attribute bit 7 means blink (true) or bright background (false). */
  blink: boolean;
}

interface VgaState {
  misc: number;
  fcr: number;
  vse: number;
  srIndex: number;
  sr: Uint8Array;
  grIndex: number;
  gr: Uint8Array;
  crIndex: number;
  cr: Uint8Array;
  /** Attribute address register (index with PAS) and the flip-flop: true = next 3C0h write is data. */
  arIndex: number;
  arFlipFlop: boolean;
  ar: Uint8Array;
  dacMask: number;
  dacReadIndex: number;
  dacWriteIndex: number;
  /** Which of R, G, B the next 3C9h access is. */
  dacSub: number;
  /** DAC State read at 3C7h: 00h after a write-index set, 03h after a read-index set. */
  dacState: number;
  dacLatch: Uint8Array;
  palette: Uint8Array;
  latch: Uint8Array;
  vram: Uint8Array;
  st1Toggle: boolean;
  vramReads: number;
  vramWrites: number;
  st1Reads: number;
}

const STATE: StateDesc = {
  name: 'vga',
  version: 1,
  fields: [
    { name: 'misc', type: 'u8' }, { name: 'fcr', type: 'u8' }, { name: 'vse', type: 'u8' },
    { name: 'srIndex', type: 'u8' }, { name: 'sr', type: 'u8[]' },
    { name: 'grIndex', type: 'u8' }, { name: 'gr', type: 'u8[]' },
    { name: 'crIndex', type: 'u8' }, { name: 'cr', type: 'u8[]' },
    { name: 'arIndex', type: 'u8' }, { name: 'arFlipFlop', type: 'bool' }, { name: 'ar', type: 'u8[]' },
    { name: 'dacMask', type: 'u8' }, { name: 'dacReadIndex', type: 'u8' }, { name: 'dacWriteIndex', type: 'u8' },
    { name: 'dacSub', type: 'u8' }, { name: 'dacState', type: 'u8' }, { name: 'dacLatch', type: 'u8[]' },
    { name: 'palette', type: 'bytes' }, { name: 'latch', type: 'u8[]' }, { name: 'vram', type: 'bytes' },
    { name: 'st1Toggle', type: 'bool' },
    { name: 'vramReads', type: 'u32' }, { name: 'vramWrites', type: 'u32' }, { name: 'st1Reads', type: 'u32' },
  ],
};

/** A 70 Hz frame of 449 lines (the 720x400 text timing): retrace lengths on the device clock. */
const FRAME_NS = 1e9 / 70.086;
const LINE_NS = FRAME_NS / 449;
const VRETRACE_NS = 2 * LINE_NS;
const HRETRACE_NS = LINE_NS * (12 / 100);

function numProp(props: Readonly<Record<string, PropValue>>, name: string, def: number): number {
  const v = props[name];
  return typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : def;
}

function bit(v: number, n: number): number {
  return (v >> n) & 1;
}

export class Vga implements DeviceModel {
  readonly kind = 'vga';
  private readonly _s: VgaState;
  private readonly _iobase: number;
  private readonly _membase: number;
  private readonly _textAtReset: boolean;
  private readonly _regions: MappedRegion[];
  private _dirty = 0;
  /** Where _memPeek loads the planes, so that a debugger read leaves the real latches alone. */
  private readonly _peekLatch = new Uint8Array(4);

  constructor(
    readonly id: string,
    readonly props: Readonly<Record<string, PropValue>>,
    private readonly _ctx: DeviceContext,
    _backends: Record<string, never> = {},
  ) {
    this._iobase = numProp(props, 'iobase', 0x3b0);
    this._membase = numProp(props, 'membase', 0xa0000);
    this._textAtReset = props.textmode !== false && props.textmode !== 'off';
    const posted = props.posted !== false && props.posted !== 'off';
    this._s = {
      misc: 0, fcr: 0, vse: 0,
      srIndex: 0, sr: new Uint8Array(8), grIndex: 0, gr: new Uint8Array(16), crIndex: 0, cr: new Uint8Array(32),
      arIndex: 0, arFlipFlop: false, ar: new Uint8Array(32),
      dacMask: 0xff, dacReadIndex: 0, dacWriteIndex: 0, dacSub: 0, dacState: 0, dacLatch: new Uint8Array(3),
      palette: new Uint8Array(768), latch: new Uint8Array(4), vram: new Uint8Array(4 * PLANE),
      st1Toggle: false, vramReads: 0, vramWrites: 0, st1Reads: 0,
    };
    this._regions = [
      {
        base: this._iobase,
        region: {
          name: this.id, space: 'pio', size: 0x30,
          // Every register is a byte; a 16-bit OUT to an index port writes index then data.
          impl: { min: 1, max: 1 },
          ops: { read: (o) => this._portRead(o), write: (o, _s, v) => this._portWrite(o, v) },
          registerName: (o, dir) => this._portName(o, dir),
        },
      },
      {
        base: this._membase,
        region: {
          name: `${this.id}.vram`, space: 'mmio', size: 0x20000, posted,
          // Wider accesses are taken a byte at a time here rather than split by the bus: text
          // output is word writes, and this is the device model's hottest path.
          impl: { min: 1, max: 4 },
          ops: {
            read: (o, size) => {
              let v = this._memRead(o);
              for (let i = 1; i < size; i++) v |= this._memRead(o + i) << (i * 8);
              return v >>> 0;
            },
            peek: (o, size) => {
              let v = this._memPeek(o);
              for (let i = 1; i < size; i++) v |= this._memPeek(o + i) << (i * 8);
              return v >>> 0;
            },
            write: (o, size, v) => {
              if (size === 2 && this._textWrite(o, v)) return;
              this._memWrite(o, v & 0xff);
              for (let i = 1; i < size; i++) this._memWrite(o + i, (v >>> (i * 8)) & 0xff);
            },
          },
          registerName: () => 'VRAM',
        },
      },
    ];
    this.reset();
  }

  /** Bumped on every change that can alter the screen: a UI polls it and redraws when it moved. */
  get dirty(): number {
    return this._dirty;
  }

  regions(): MappedRegion[] {
    return this._regions;
  }

  reset(): void {
    const s = this._s;
    s.misc = s.fcr = s.vse = 0;
    s.srIndex = s.grIndex = s.crIndex = s.arIndex = 0;
    s.sr.fill(0);
    s.gr.fill(0);
    s.cr.fill(0);
    s.ar.fill(0);
    s.arFlipFlop = false;
    s.dacMask = 0xff;
    s.dacReadIndex = s.dacWriteIndex = s.dacSub = s.dacState = 0;
    s.dacLatch.fill(0);
    s.palette.fill(0);
    s.latch.fill(0);
    s.vram.fill(0);
    s.st1Toggle = false;
    s.vramReads = s.vramWrites = s.st1Reads = 0;
    if (this._textAtReset) this._mode3();
    this._dirty++;
  }

  /** The state a VGA BIOS leaves after INT 10h AX=0003h. */
  private _mode3(): void {
    const s = this._s;
    s.misc = MODE3.misc;
    s.sr.set(MODE3.sr);
    s.cr.set(MODE3.cr);
    s.gr.set(MODE3.gr);
    s.ar.set(MODE3.ar);
    s.arIndex = Ar.PAS;
    s.vse = 1;
    // The 64-colour EGA palette in the first 64 DAC entries (6 bits: rgbRGB).
    for (let i = 0; i < 64; i++) {
      s.palette[i * 3] = bit(i, 2) * 0x2a + bit(i, 5) * 0x15;
      s.palette[i * 3 + 1] = bit(i, 1) * 0x2a + bit(i, 4) * 0x15;
      s.palette[i * 3 + 2] = bit(i, 0) * 0x2a + bit(i, 3) * 0x15;
    }
    // A blank screen: spaces (plane 0) in light grey on black (plane 1).
    for (let off = 0; off < 0x8000; off += 2) {
      s.vram[off] = 0x20;
      s.vram[PLANE + off] = 0x07;
    }
  }

  snapshot(): DeviceState {
    return saveState(STATE, this._s);
  }

  restore(st: DeviceState): void {
    loadState(STATE, this._s, st);
    this._dirty++;
  }

  // ---- ports -----------------------------------------------------------------------------

  private get _color(): boolean {
    return (this._s.misc & Misc.IOAS) !== 0;
  }

  private _portRead(o: number): number {
    const s = this._s;
    switch (o) {
      case VgaPort.CRTC_INDEX_MONO: case VgaPort.CRTC_INDEX_COLOR:
        if (this._color !== (o === VgaPort.CRTC_INDEX_COLOR)) return 0xff;
        return s.crIndex;
      case VgaPort.CRTC_DATA_MONO: case VgaPort.CRTC_DATA_COLOR:
        if (this._color !== (o === VgaPort.CRTC_DATA_COLOR)) return 0xff;
        return s.crIndex < 0x19 ? s.cr[s.crIndex] : 0xff;
      case VgaPort.ST1_MONO: case VgaPort.ST1_COLOR:
        if (this._color !== (o === VgaPort.ST1_COLOR)) return 0xff;
        return this._readSt1();
      case VgaPort.AR_INDEX: return s.arIndex;
      case VgaPort.AR_DATA_READ: return (s.arIndex & 0x1f) < 0x15 ? s.ar[s.arIndex & 0x1f] : 0xff;
      case VgaPort.MISC_WRITE: return 0x00; // Input Status 0: no switch sense, no retrace interrupt
      case VgaPort.VSE: return s.vse;
      case VgaPort.SR_INDEX: return s.srIndex;
      case VgaPort.SR_DATA: return s.srIndex < 5 ? s.sr[s.srIndex] : 0xff;
      case VgaPort.DAC_MASK: return s.dacMask;
      case VgaPort.DAC_READ_INDEX: return s.dacState;
      case VgaPort.DAC_WRITE_INDEX: return s.dacWriteIndex;
      case VgaPort.DAC_DATA: {
        const v = s.palette[s.dacReadIndex * 3 + s.dacSub];
        if (++s.dacSub === 3) {
          s.dacSub = 0;
          s.dacReadIndex = (s.dacReadIndex + 1) & 0xff;
        }
        return v;
      }
      case VgaPort.FCR_READ: return s.fcr;
      case VgaPort.MISC_READ: return s.misc;
      case VgaPort.GR_INDEX: return s.grIndex;
      case VgaPort.GR_DATA: return s.grIndex < 9 ? s.gr[s.grIndex] : 0xff;
    }
    return 0xff;
  }

  /**
   * Input Status 1. Reading it puts the attribute flip-flop back to "index" (the guest does it
   * before programming 3C0h). The retrace bits follow the frame timing on the device clock and
   * also flip on each read, so a guest polling them never waits on a frozen clock.
   */
  private _readSt1(): number {
    const s = this._s;
    s.arFlipFlop = false;
    s.st1Toggle = !s.st1Toggle;
    s.st1Reads++;
    const now = this._ctx.now();
    const vr = (now % FRAME_NS < VRETRACE_NS) !== s.st1Toggle;
    const hr = (now % LINE_NS < HRETRACE_NS) !== s.st1Toggle;
    return (vr ? St1.VRETRACE : 0) | (vr || hr ? St1.DD : 0);
  }

  private _portWrite(o: number, v: number): void {
    const s = this._s;
    this._dirty++;
    switch (o) {
      case VgaPort.CRTC_INDEX_MONO: case VgaPort.CRTC_INDEX_COLOR:
        if (this._color === (o === VgaPort.CRTC_INDEX_COLOR)) s.crIndex = v & 0x3f;
        return;
      case VgaPort.CRTC_DATA_MONO: case VgaPort.CRTC_DATA_COLOR:
        if (this._color === (o === VgaPort.CRTC_DATA_COLOR)) this._crWrite(v);
        return;
      case VgaPort.ST1_MONO: case VgaPort.ST1_COLOR:
        if (this._color === (o === VgaPort.ST1_COLOR)) s.fcr = v & 0x0b;
        return;
      case VgaPort.AR_INDEX:
        // One port, two registers: the flip-flop says whether this byte is the index or the data.
        if (!s.arFlipFlop) {
          s.arIndex = v & 0x3f;
        } else {
          const i = s.arIndex & 0x1f;
          if (i < 0x15) s.ar[i] = i < 0x10 ? v & 0x3f : v;
        }
        s.arFlipFlop = !s.arFlipFlop;
        return;
      case VgaPort.MISC_WRITE: s.misc = v; return;
      case VgaPort.VSE: s.vse = v & 1; return;
      case VgaPort.SR_INDEX: s.srIndex = v & 0x07; return;
      case VgaPort.SR_DATA: if (s.srIndex < 5) s.sr[s.srIndex] = v; return;
      case VgaPort.DAC_MASK: s.dacMask = v; return;
      case VgaPort.DAC_READ_INDEX:
        s.dacReadIndex = v;
        s.dacSub = 0;
        s.dacState = 0x03;
        return;
      case VgaPort.DAC_WRITE_INDEX:
        s.dacWriteIndex = v;
        s.dacSub = 0;
        s.dacState = 0x00;
        return;
      case VgaPort.DAC_DATA:
        // Three 6-bit writes (R, G, B) make one entry; then the index moves on.
        s.dacLatch[s.dacSub] = v & 0x3f;
        if (++s.dacSub === 3) {
          s.palette.set(s.dacLatch, s.dacWriteIndex * 3);
          s.dacSub = 0;
          s.dacWriteIndex = (s.dacWriteIndex + 1) & 0xff;
        }
        return;
      case VgaPort.GR_INDEX: s.grIndex = v & 0x0f; return;
      case VgaPort.GR_DATA: if (s.grIndex < 9) s.gr[s.grIndex] = v; return;
    }
  }

  private _crWrite(v: number): void {
    const s = this._s;
    const i = s.crIndex;
    if (i >= 0x19) return;
    // CR11 bit 7 protects CR00-CR07, except the line compare bit 4 of CR07.
    if (s.cr[Cr.V_RETRACE_END] & 0x80 && i <= Cr.OVERFLOW) {
      if (i === Cr.OVERFLOW) s.cr[i] = (s.cr[i] & ~0x10) | (v & 0x10);
      return;
    }
    s.cr[i] = v;
  }

  /** Port names; static (they do not follow the index registers) because hosts cache them per offset. */
  private _portName(o: number, dir: 'read' | 'write'): string | undefined {
    const r = dir === 'read';
    switch (o) {
      case VgaPort.CRTC_INDEX_MONO: case VgaPort.CRTC_INDEX_COLOR: return 'CRTC Address';
      case VgaPort.CRTC_DATA_MONO: case VgaPort.CRTC_DATA_COLOR: return 'CRTC Data';
      case VgaPort.ST1_MONO: case VgaPort.ST1_COLOR: return r ? 'Input Status 1' : 'Feature Control';
      case VgaPort.AR_INDEX: return r ? 'Attribute Address' : 'Attribute Address/Data';
      case VgaPort.AR_DATA_READ: return 'Attribute Data';
      case VgaPort.MISC_WRITE: return r ? 'Input Status 0' : 'Miscellaneous Output';
      case VgaPort.VSE: return 'Video Subsystem Enable';
      case VgaPort.SR_INDEX: return 'Sequencer Address';
      case VgaPort.SR_DATA: return 'Sequencer Data';
      case VgaPort.DAC_MASK: return 'PEL Mask';
      case VgaPort.DAC_READ_INDEX: return r ? 'DAC State' : 'DAC Address Read Mode';
      case VgaPort.DAC_WRITE_INDEX: return 'DAC Address Write Mode';
      case VgaPort.DAC_DATA: return 'DAC Data';
      case VgaPort.FCR_READ: return 'Feature Control';
      case VgaPort.MISC_READ: return 'Miscellaneous Output';
      case VgaPort.GR_INDEX: return 'Graphics Address';
      case VgaPort.GR_DATA: return 'Graphics Data';
    }
    return undefined;
  }

  // ---- display memory --------------------------------------------------------------------

  /** Offset in the 128 KiB window → offset the memory map select lets through, or -1. */
  private _windowOffset(o: number): number {
    if ((this._s.misc & Misc.RAM_ENABLE) === 0) return -1;
    switch ((this._s.gr[Gr.MISC] >> 2) & 3) {
      case 0: return o; // A0000h-BFFFFh, 128 KiB
      case 1: return o < 0x10000 ? o : -1; // A0000h-AFFFFh
      case 2: return o >= 0x10000 && o < 0x18000 ? o - 0x10000 : -1; // B0000h-B7FFFh
      default: return o >= 0x18000 ? o - 0x18000 : -1; // B8000h-BFFFFh
    }
  }

  private _memRead(o: number): number {
    const a = this._windowOffset(o);
    if (a < 0) return 0xff;
    this._s.vramReads++;
    return this._readPlanes(a, this._s.latch);
  }

  /** What _memRead returns, leaving the latches and the read count as they are (the debugger's view). */
  private _memPeek(o: number): number {
    const a = this._windowOffset(o);
    return a < 0 ? 0xff : this._readPlanes(a, this._peekLatch);
  }

  /** A CPU read of display memory at window offset `a` (Graphics Mode register: read mode 0 or 1); the planes go through `latch`. */
  private _readPlanes(a: number, latch: Uint8Array): number {
    const s = this._s;
    const mm = s.sr[Sr.MEMORY_MODE];
    if (mm & SrMem.CHAIN4) return s.vram[(a & 3) * PLANE + ((a >> 2) & 0xffff)];
    let off: number;
    let plane: number;
    if ((mm & SrMem.OE_DISABLE) === 0 || (s.gr[Gr.MODE] & 0x10) !== 0) {
      // Odd/even: A0 picks plane 0/1 (or 2/3 through Read Map Select bit 1) at the even address.
      off = a & 0xfffe;
      plane = (s.gr[Gr.READ_MAP_SELECT] & 2) | (a & 1);
    } else {
      off = a & 0xffff;
      plane = s.gr[Gr.READ_MAP_SELECT] & 3;
    }
    for (let p = 0; p < 4; p++) latch[p] = s.vram[p * PLANE + off];
    if ((s.gr[Gr.MODE] & 0x08) === 0) return latch[plane];
    // Read mode 1: colour compare over the planes that are not "don't care".
    let diff = 0;
    for (let p = 0; p < 4; p++) {
      if ((s.gr[Gr.COLOR_DONT_CARE] >> p) & 1) diff |= latch[p] ^ ((s.gr[Gr.COLOR_COMPARE] >> p) & 1 ? 0xff : 0);
    }
    return ~diff & 0xff;
  }

  /**
   * A word write at an even address in odd/even mode with write mode 0 and nothing in the way
   * (text output: a character and its attribute): what _memWrite does for its two bytes, the
   * even one to planes 0 and 2 and the odd one to planes 1 and 3, at one offset. False when
   * the state asks for the general path.
   */
  private _textWrite(o: number, v: number): boolean {
    const s = this._s;
    if ((o & 1) !== 0 || (s.sr[Sr.MEMORY_MODE] & (SrMem.CHAIN4 | SrMem.OE_DISABLE)) !== 0) return false;
    if (!this._plainWrite()) return false;
    const a = this._windowOffset(o);
    if (a < 0) return false;
    s.vramWrites += 2;
    this._dirty += 2;
    const mapMask = s.sr[Sr.MAP_MASK];
    const off = a & 0xfffe;
    const vram = s.vram;
    if (mapMask & 1) vram[off] = v;
    if (mapMask & 2) vram[PLANE + off] = v >>> 8;
    if (mapMask & 4) vram[2 * PLANE + off] = v;
    if (mapMask & 8) vram[3 * PLANE + off] = v >>> 8;
    return true;
  }

  /**
   * Write mode 0 with nothing in the way (what text output and most software use): no rotate,
   * no set/reset, every bit of the bit mask, so a written byte reaches the planes as it is.
   */
  private _plainWrite(): boolean {
    const gr = this._s.gr;
    return (gr[Gr.MODE] & 3) === 0 && gr[Gr.DATA_ROTATE] === 0 && gr[Gr.ENABLE_SET_RESET] === 0 && gr[Gr.BIT_MASK] === 0xff;
  }

  private _memWrite(o: number, v: number): void {
    const s = this._s;
    const a = this._windowOffset(o);
    if (a < 0) return;
    s.vramWrites++;
    this._dirty++;
    const mm = s.sr[Sr.MEMORY_MODE];
    const mapMask = s.sr[Sr.MAP_MASK] & 0x0f;
    let off: number;
    let planes: number;
    if (mm & SrMem.CHAIN4) {
      off = (a >> 2) & 0xffff;
      planes = mapMask & (1 << (a & 3));
    } else if ((mm & SrMem.OE_DISABLE) === 0) {
      // Odd/even: even addresses reach planes 0 and 2, odd ones planes 1 and 3.
      off = a & 0xfffe;
      planes = mapMask & (a & 1 ? 0x0a : 0x05);
    } else {
      off = a & 0xffff;
      planes = mapMask;
    }
    if (planes === 0) return;
    if (this._plainWrite()) {
      // The byte itself reaches every enabled plane.
      if (planes & 1) s.vram[off] = v;
      if (planes & 2) s.vram[PLANE + off] = v;
      if (planes & 4) s.vram[2 * PLANE + off] = v;
      if (planes & 8) s.vram[3 * PLANE + off] = v;
      return;
    }
    const gr = s.gr;
    const mode = gr[Gr.MODE] & 3;
    const rot = gr[Gr.DATA_ROTATE] & 7;
    const op = (gr[Gr.DATA_ROTATE] >> 3) & 3;
    const rotated = ((v >> rot) | (v << (8 - rot))) & 0xff;
    let mask = gr[Gr.BIT_MASK];
    if (mode === 3) mask &= rotated;
    for (let p = 0; p < 4; p++) {
      if (((planes >> p) & 1) === 0) continue;
      const latch = s.latch[p];
      let d: number;
      if (mode === 1) {
        s.vram[p * PLANE + off] = latch;
        continue;
      } else if (mode === 0) {
        d = (gr[Gr.ENABLE_SET_RESET] >> p) & 1 ? ((gr[Gr.SET_RESET] >> p) & 1 ? 0xff : 0) : rotated;
      } else if (mode === 2) {
        d = (v >> p) & 1 ? 0xff : 0;
      } else {
        d = (gr[Gr.SET_RESET] >> p) & 1 ? 0xff : 0;
      }
      if (op === 1) d &= latch;
      else if (op === 2) d |= latch;
      else if (op === 3) d ^= latch;
      s.vram[p * PLANE + off] = (d & mask) | (latch & ~mask & 0xff);
    }
  }

  // ---- the screen, for the monitor ---------------------------------------------------------

  /** Characters and attributes as the CRTC would scan them out in text mode. */
  screen(): VgaScreen {
    const s = this._s;
    const cr = s.cr;
    const graphics = (s.gr[Gr.MISC] & 1) !== 0 || (s.ar[Ar.MODE_CONTROL] & 1) !== 0;
    let cols = cr[Cr.H_DISPLAY_END] + 1;
    if (cols < 2 || cols > 132) cols = 80;
    const charHeight = (cr[Cr.MAX_SCAN_LINE] & 0x1f) + 1;
    const vde = cr[Cr.V_DISPLAY_END] | ((cr[Cr.OVERFLOW] & 0x02) << 7) | ((cr[Cr.OVERFLOW] & 0x40) << 3);
    let lines = vde + 1;
    if (cr[Cr.MAX_SCAN_LINE] & 0x80) lines >>= 1;
    let rows = Math.floor(lines / charHeight);
    if (rows < 1 || rows > 100) rows = 25;
    const stride = cr[Cr.OFFSET] !== 0 ? cr[Cr.OFFSET] * 2 : cols;
    const start = (cr[Cr.START_HI] << 8) | cr[Cr.START_LO];
    // Word mode (CR17 bit 6 clear) doubles the CRTC address; doubleword mode (CR14 bit 6) quadruples it.
    const shift = cr[Cr.UNDERLINE] & 0x40 ? 2 : cr[Cr.MODE_CONTROL] & 0x40 ? 0 : 1;
    const cells: VgaCell[] = [];
    const text: string[] = [];
    if (!graphics) {
      for (let r = 0; r < rows; r++) {
        let line = '';
        for (let c = 0; c < cols; c++) {
          const off = ((start + r * stride + c) << shift) & 0xffff;
          const ch = CP437[s.vram[off]];
          cells.push({ ch, attr: s.vram[PLANE + off] });
          line += ch;
        }
        text.push(line);
      }
    }
    const loc = (cr[Cr.CURSOR_HI] << 8) | cr[Cr.CURSOR_LO];
    const rel = loc - start;
    const x = rel >= 0 ? rel % stride : 0;
    const y = rel >= 0 ? Math.floor(rel / stride) : 0;
    const cs = cr[Cr.CURSOR_START] & 0x1f;
    const ce = cr[Cr.CURSOR_END] & 0x1f;
    const visible = !graphics && (cr[Cr.CURSOR_START] & 0x20) === 0 && cs <= ce && rel >= 0 && x < cols && y < rows;
    return {
      mode: graphics ? 'graphics' : 'text',
      blank: (s.arIndex & Ar.PAS) === 0 || (s.sr[Sr.CLOCKING_MODE] & 0x20) !== 0,
      cols, rows, cells, text,
      cursor: { x, y, visible, start: cs, end: ce },
      blink: (s.ar[Ar.MODE_CONTROL] & 0x08) !== 0,
    };
  }

  inspect(): Inspection {
    const s = this._s;
    const regs: RegisterView[] = [
      {
        name: 'Miscellaneous Output', offset: VgaPort.MISC_WRITE, value: s.misc, width: 8,
        bits: [
          { name: 'VSYNCP', value: bit(s.misc, 7) }, { name: 'HSYNCP', value: bit(s.misc, 6) },
          { name: 'O/E Page', value: bit(s.misc, 5) }, { name: 'Clock Select', value: (s.misc & Misc.CLOCK_SELECT) >> 2 },
          { name: 'RAM En.', value: bit(s.misc, 1) },
          { name: 'I/OAS', value: bit(s.misc, 0), meaning: this._color ? 'CRTC at 3D4h, status at 3DAh' : 'CRTC at 3B4h, status at 3BAh' },
        ],
      },
      { name: 'Feature Control', value: s.fcr, width: 8 },
      { name: 'Video Subsystem Enable', offset: VgaPort.VSE, value: s.vse, width: 8 },
      { name: 'Sequencer Address', offset: VgaPort.SR_INDEX, value: s.srIndex, width: 8 },
    ];
    SR_NAMES.forEach((n, i) => {
      const v = s.sr[i];
      const r: RegisterView = { name: `SR0${i} ${n}`, value: v, width: 8 };
      if (i === Sr.CLOCKING_MODE) r.bits = [{ name: 'Screen Off', value: bit(v, 5) }, { name: '9/8 Dot Mode', value: bit(v, 0) }];
      if (i === Sr.MAP_MASK) r.bits = [3, 2, 1, 0].map((p) => ({ name: `Plane ${p}`, value: bit(v, p) }));
      if (i === Sr.MEMORY_MODE) r.bits = [{ name: 'Chain 4', value: bit(v, 3) }, { name: 'O/E Dis.', value: bit(v, 2) }, { name: 'Ext. Mem', value: bit(v, 1) }];
      regs.push(r);
    });
    regs.push({ name: 'Graphics Address', offset: VgaPort.GR_INDEX, value: s.grIndex, width: 8 });
    GR_NAMES.forEach((n, i) => {
      const v = s.gr[i];
      const r: RegisterView = { name: `GR0${i} ${n}`, value: v, width: 8 };
      if (i === Gr.DATA_ROTATE) r.bits = [{ name: 'Logical Operation', value: (v >> 3) & 3, meaning: ['none', 'AND', 'OR', 'XOR'][(v >> 3) & 3] }, { name: 'Rotate Count', value: v & 7 }];
      if (i === Gr.MODE) r.bits = [{ name: 'Shift256', value: bit(v, 6) }, { name: 'Shift Reg.', value: bit(v, 5) }, { name: 'Host O/E', value: bit(v, 4) }, { name: 'Read Mode', value: bit(v, 3) }, { name: 'Write Mode', value: v & 3 }];
      if (i === Gr.MISC) {
        const mm = (v >> 2) & 3;
        r.bits = [
          { name: 'Memory Map Select', value: mm, meaning: ['A0000h-BFFFFh', 'A0000h-AFFFFh', 'B0000h-B7FFFh', 'B8000h-BFFFFh'][mm] },
          { name: 'Chain O/E', value: bit(v, 1) }, { name: 'Alpha Dis.', value: bit(v, 0), meaning: v & 1 ? 'graphics' : 'text' },
        ];
      }
      regs.push(r);
    });
    regs.push({ name: 'CRTC Address', value: s.crIndex, width: 8 });
    CR_NAMES.forEach((n, i) => {
      const v = s.cr[i];
      const r: RegisterView = { name: `CR${i.toString(16).padStart(2, '0').toUpperCase()} ${n}`, value: v, width: 8 };
      if (i === Cr.CURSOR_START) r.bits = [{ name: 'CD', value: bit(v, 5), meaning: v & 0x20 ? 'cursor off' : 'cursor on' }, { name: 'Cursor Scan Line Start', value: v & 0x1f }];
      if (i === Cr.CURSOR_END) r.bits = [{ name: 'Cursor Skew', value: (v >> 5) & 3 }, { name: 'Cursor Scan Line End', value: v & 0x1f }];
      if (i === Cr.V_RETRACE_END) r.bits = [{ name: 'Protect', value: bit(v, 7) }, { name: 'Vertical Retrace End', value: v & 0x0f }];
      if (i === Cr.MAX_SCAN_LINE) r.bits = [{ name: 'Scan Doubling', value: bit(v, 7) }, { name: 'Maximum Scan Line', value: v & 0x1f }];
      if (i === Cr.MODE_CONTROL) r.bits = [{ name: 'SE', value: bit(v, 7) }, { name: 'Word/Byte', value: bit(v, 6), meaning: v & 0x40 ? 'byte mode' : 'word mode' }];
      regs.push(r);
    });
    regs.push({ name: 'Attribute Address', offset: VgaPort.AR_INDEX, value: s.arIndex, width: 8,
      bits: [{ name: 'PAS', value: bit(s.arIndex, 5), meaning: s.arIndex & Ar.PAS ? 'display on' : 'palette owned by CPU, screen blank' }, { name: 'Attribute Address', value: s.arIndex & 0x1f }],
      note: `flip-flop: next 3C0h write is ${s.arFlipFlop ? 'data' : 'the index'}` });
    for (let i = 0; i < 16; i++) regs.push({ name: `AR${i.toString(16).padStart(2, '0').toUpperCase()} Palette ${i}`, value: s.ar[i], width: 8 });
    AR_NAMES.forEach((n, i) => {
      const v = s.ar[0x10 + i];
      const r: RegisterView = { name: `AR${(0x10 + i).toString(16).toUpperCase()} ${n}`, value: v, width: 8 };
      if (i === 0) r.bits = [{ name: 'P54S', value: bit(v, 7) }, { name: '8BIT', value: bit(v, 6) }, { name: 'PPM', value: bit(v, 5) }, { name: 'BLINK', value: bit(v, 3) }, { name: 'LGA', value: bit(v, 2) }, { name: 'MONO', value: bit(v, 1) }, { name: 'ATGE', value: bit(v, 0) }];
      regs.push(r);
    });
    regs.push(
      { name: 'PEL Mask', offset: VgaPort.DAC_MASK, value: s.dacMask, width: 8 },
      { name: 'DAC State', offset: VgaPort.DAC_READ_INDEX, value: s.dacState, width: 8, note: s.dacState ? 'read mode' : 'write mode' },
      { name: 'DAC Address Read Mode', value: s.dacReadIndex, width: 8 },
      { name: 'DAC Address Write Mode', offset: VgaPort.DAC_WRITE_INDEX, value: s.dacWriteIndex, width: 8, note: `next component ${'RGB'[s.dacSub]}` },
    );
    const sc = this.screen();
    return {
      id: this.id,
      kind: this.kind,
      registers: regs,
      queues: { latches: Array.from(s.latch) },
      counters: { vramReads: s.vramReads, vramWrites: s.vramWrites, inputStatus1Reads: s.st1Reads },
      extra: {
        mode: sc.mode, blank: sc.blank, cols: sc.cols, rows: sc.rows,
        cursor: sc.cursor,
        screen: sc.text,
        palette: Array.from({ length: 16 }, (_, i) => {
          const e = s.ar[i] & 0x3f;
          return Array.from(s.palette.subarray(e * 3, e * 3 + 3), (x) => x.toString(16).padStart(2, '0')).join('');
        }),
      },
    };
  }
}
