// Intel 8042-compatible keyboard controller of the PC/AT and PS/2, with a PS/2 (MF2) keyboard
// on its first port and a minimal PS/2 mouse on the auxiliary port.
//
// References:
//  - IBM PC/AT Technical Reference, "Keyboard Controller": status register, command byte,
//    input and output ports, commands 20h-3Fh, 60h-7Fh, AAh, ABh, ADh, AEh, C0h, D0h, D1h,
//    E0h, F0h-FFh; IBM PS/2 Hardware Interface Technical Reference, "Keyboard/Auxiliary
//    Device Controller": A7h-A9h, D2h-D4h, the auxiliary output buffer (status bit 5).
//  - IBM PS/2 Hardware Interface Technical Reference, "Keyboard and Auxiliary Device": the
//    keyboard commands EDh-FFh, scan code sets 1 and 2, the "translate" function (command byte
//    bit 6) that turns set 2 into set 1, and the mouse commands E6h-FFh with the 3-byte
//    stream packet.
//
// The controller has one output buffer. Its replies to commands go first, then bytes from
// the keyboard (translated to set 1 when XLAT is set), then bytes from the mouse; a port whose
// interface is disabled holds its bytes. IRQ 1 / IRQ 12 follow "output buffer full" for the
// keyboard / auxiliary source when the command byte enables them, so each byte is one level
// change. After the guest reads a byte the next one is loaded REFILL_NS later, so that every
// byte is a fresh rising edge on an edge-triggered PIC, as the real serial link guarantees.
//
// Host input: keyDown/keyUp by key name (QEMU's qcode names: "a", "ret", "shift", "ctrl_r",
// "f1", "kp_enter", ...), typeText() for ASCII (shift and ctrl added as needed), sendKeys()
// for raw set-2 bytes. Host keystrokes wait in a typing queue until the keyboard's 16-byte
// buffer has room and scanning is enabled, so nothing typed is lost.
//
// Not modelled: scan code set 3 (F0h 03h is accepted, keys are still sent in set 2), typematic
// repeat (keys do not auto-repeat; F3h is stored), the keyboard's BAT delay (AAh follows the
// ACK of FFh at once), controller password commands (A4h answers "not installed", A5h/A6h
// are ignored), input port polling C1h/C2h, the diagnostic dump ACh, the mouse's scaling
// arithmetic and wrap mode beyond echoing, parity and timeout errors (status bits 6 and 7
// stay 0). Output-port A20 and port 92h A20 are separate requests to the machine; the
// chipset's OR of the two is the machine's business.

import type { DeviceContext, DeviceModel, Inspection, IrqLine, PropValue, RegisterView, Timer } from '../../common/device.js';
import { UsageError } from '../../common/errors.js';
import type { IoRegion, MappedRegion } from '../../common/io.js';
import type { DeviceState, StateDesc } from '../../common/vmstate.js';
import { loadState, saveState } from '../../common/vmstate.js';

/** Status register bits (read at 0x64). */
export const enum KbcStatus {
  /** Output buffer full. */
  OBF = 0x01,
  /** Input buffer full. */
  IBF = 0x02,
  /** System flag. */
  SYS = 0x04,
  /** A2: last write was a command (0x64) rather than data (0x60). */
  A2 = 0x08,
  /** Inhibit switch: 1 = keyboard not inhibited. */
  INH = 0x10,
  /** Auxiliary output buffer full (the byte is from the mouse). */
  AUXB = 0x20,
  /** General time-out. */
  TIMEOUT = 0x40,
  /** Parity error. */
  PARITY = 0x80,
}

/** Controller command byte bits (RAM location 0). */
export const enum Ccb {
  /** INT: interrupt (IRQ 1) on keyboard output buffer full. */
  INT = 0x01,
  /** INT2: interrupt (IRQ 12) on auxiliary output buffer full. */
  INT2 = 0x02,
  /** SYS: system flag. */
  SYS = 0x04,
  /** Ignore the keyboard inhibit switch (AT). */
  OVR = 0x08,
  /** EN: disable the keyboard interface (clock held low). */
  DISABLE_KBD = 0x10,
  /** EN2: disable the auxiliary interface. */
  DISABLE_AUX = 0x20,
  /** XLAT: translate keyboard scan codes to set 1. */
  XLAT = 0x40,
}

/** Output port bits (read with D0h, written with D1h). */
export const enum OutPort {
  /** System reset (active low). */
  RESET_N = 0x01,
  /** Gate A20. */
  A20 = 0x02,
  /** Auxiliary data. */
  AUX_DATA = 0x04,
  /** Auxiliary clock. */
  AUX_CLOCK = 0x08,
  /** Output buffer full (keyboard): IRQ 1. */
  KBD_OBF = 0x10,
  /** Auxiliary output buffer full: IRQ 12. */
  AUX_OBF = 0x20,
  /** Keyboard clock. */
  KBD_CLOCK = 0x40,
  /** Keyboard data. */
  KBD_DATA = 0x80,
}

/** Controller commands (written to 0x64). */
export const enum KbcCmd {
  /** Read RAM location 0 (the command byte); 21h-3Fh read the other locations. */
  READ_CCB = 0x20,
  /** Write the command byte; 61h-7Fh write the other locations. */
  WRITE_CCB = 0x60,
  /** Test password installed. */
  PASSWORD_TEST = 0xa4,
  /** Disable auxiliary interface. */
  AUX_DISABLE = 0xa7,
  /** Enable auxiliary interface. */
  AUX_ENABLE = 0xa8,
  /** Auxiliary interface test. */
  AUX_TEST = 0xa9,
  /** Self-test: answers 55h. */
  SELF_TEST = 0xaa,
  /** Keyboard interface test. */
  KBD_TEST = 0xab,
  /** Disable keyboard interface. */
  KBD_DISABLE = 0xad,
  /** Enable keyboard interface. */
  KBD_ENABLE = 0xae,
  /** Read input port. */
  READ_INPUT = 0xc0,
  /** Read output port. */
  READ_OUTPUT = 0xd0,
  /** Write output port. */
  WRITE_OUTPUT = 0xd1,
  /** Write keyboard output buffer. */
  WRITE_KBD_OB = 0xd2,
  /** Write auxiliary output buffer. */
  WRITE_AUX_OB = 0xd3,
  /** Write to auxiliary device. */
  WRITE_AUX = 0xd4,
  /** Disable A20 (HP Vectra style controllers). */
  A20_OFF = 0xdd,
  /** Enable A20. */
  A20_ON = 0xdf,
  /** Read test inputs. */
  READ_TEST = 0xe0,
  /** Pulse output port: F0h-FFh, bits 3-0 low are pulsed. */
  PULSE = 0xf0,
}

/** Keyboard commands and replies. */
export const enum KbdCmd {
  /** Set/reset mode indicators (LEDs). */
  SET_LEDS = 0xed,
  /** Echo. */
  ECHO = 0xee,
  /** Select alternate scan codes. */
  SCANCODE_SET = 0xf0,
  /** Read ID. */
  READ_ID = 0xf2,
  /** Set typematic rate/delay. */
  TYPEMATIC = 0xf3,
  /** Enable. */
  ENABLE = 0xf4,
  /** Default disable. */
  DISABLE = 0xf5,
  /** Set default. */
  SET_DEFAULT = 0xf6,
  /** Resend. */
  RESEND = 0xfe,
  /** Reset. */
  RESET = 0xff,
  /** Acknowledge. */
  ACK = 0xfa,
  /** Basic assurance test passed. */
  BAT_OK = 0xaa,
}

/** How long after a read of the output buffer the next byte is loaded. */
export const REFILL_NS = 100_000;
const KBD_BUFFER = 16;
const TYPE_QUEUE_MAX = 65536;
const AUX_QUEUE_MAX = 256;
/** Replies a command can leave waiting (controller or keyboard) before more are dropped. */
const REPLY_MAX = 16;
/** Marks a controller-queue entry that goes out as auxiliary data (D3h). */
const AUX_TAG = 0x100;

/**
 * The controller's set-2 → set-1 translation (PS/2 Hardware Interface Technical Reference,
 * keyboard scan code tables): index a set-2 code 00h-7Fh, get the set-1 code. 83h (F7) maps
 * to 41h; other bytes from 80h up pass unchanged; F0h makes the next code a break (bit 7).
 */
const XLAT: readonly number[] = [
  0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
  0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
  0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
  0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
  0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
  0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
  0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
  0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
];

/** Set-2 make codes by key name (QEMU qcode names, plus a few aliases). */
const SET2: Record<string, number[]> = {
  esc: [0x76], '1': [0x16], '2': [0x1e], '3': [0x26], '4': [0x25], '5': [0x2e], '6': [0x36], '7': [0x3d],
  '8': [0x3e], '9': [0x46], '0': [0x45], minus: [0x4e], equal: [0x55], backspace: [0x66], tab: [0x0d],
  q: [0x15], w: [0x1d], e: [0x24], r: [0x2d], t: [0x2c], y: [0x35], u: [0x3c], i: [0x43], o: [0x44],
  p: [0x4d], bracket_left: [0x54], bracket_right: [0x5b], ret: [0x5a], ctrl: [0x14], a: [0x1c],
  s: [0x1b], d: [0x23], f: [0x2b], g: [0x34], h: [0x33], j: [0x3b], k: [0x42], l: [0x4b],
  semicolon: [0x4c], apostrophe: [0x52], grave_accent: [0x0e], shift: [0x12], backslash: [0x5d],
  z: [0x1a], x: [0x22], c: [0x21], v: [0x2a], b: [0x32], n: [0x31], m: [0x3a], comma: [0x41],
  dot: [0x49], slash: [0x4a], shift_r: [0x59], kp_multiply: [0x7c], alt: [0x11], spc: [0x29],
  caps_lock: [0x58], f1: [0x05], f2: [0x06], f3: [0x04], f4: [0x0c], f5: [0x03], f6: [0x0b],
  f7: [0x83], f8: [0x0a], f9: [0x01], f10: [0x09], f11: [0x78], f12: [0x07], num_lock: [0x77],
  scroll_lock: [0x7e], kp_7: [0x6c], kp_8: [0x75], kp_9: [0x7d], kp_subtract: [0x7b], kp_4: [0x6b],
  kp_5: [0x73], kp_6: [0x74], kp_add: [0x79], kp_1: [0x69], kp_2: [0x72], kp_3: [0x7a], kp_0: [0x70],
  kp_decimal: [0x71], less: [0x61], kp_enter: [0xe0, 0x5a], ctrl_r: [0xe0, 0x14],
  kp_divide: [0xe0, 0x4a], alt_r: [0xe0, 0x11], home: [0xe0, 0x6c], up: [0xe0, 0x75],
  pgup: [0xe0, 0x7d], left: [0xe0, 0x6b], right: [0xe0, 0x74], end: [0xe0, 0x69], down: [0xe0, 0x72],
  pgdn: [0xe0, 0x7a], insert: [0xe0, 0x70], delete: [0xe0, 0x71], meta_l: [0xe0, 0x1f],
  meta_r: [0xe0, 0x27], menu: [0xe0, 0x2f], print: [0xe0, 0x12, 0xe0, 0x7c],
  pause: [0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77],
};

const ALIASES: Record<string, string> = {
  enter: 'ret', return: 'ret', space: 'spc', escape: 'esc', ctrl_l: 'ctrl', shift_l: 'shift',
  alt_l: 'alt', altgr: 'alt_r', asterisk: 'kp_multiply', sysrq: 'print', page_up: 'pgup',
  page_down: 'pgdn', del: 'delete', ins: 'insert', win: 'meta_l', capslock: 'caps_lock',
};

/** Set-2 bytes of pressing (make) or releasing (break) a key. */
export function keyCodes(name: string, down: boolean): number[] {
  const key = ALIASES[name.toLowerCase()] ?? name.toLowerCase();
  const make = SET2[key];
  if (!make) throw new UsageError(`unknown key "${name}" (key names are QEMU's: a, ret, shift, ctrl_r, f1, kp_enter, …)`);
  if (down) return make.slice();
  if (key === 'pause') return []; // Pause has no break code
  if (key === 'print') return [0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12];
  return make.length === 2 ? [0xe0, 0xf0, make[1]] : [0xf0, make[0]];
}

const SHIFTED: Record<string, string> = {
  '!': '1', '@': '2', '#': '3', $: '4', '%': '5', '^': '6', '&': '7', '*': '8', '(': '9', ')': '0',
  _: 'minus', '+': 'equal', '{': 'bracket_left', '}': 'bracket_right', '|': 'backslash', ':': 'semicolon',
  '"': 'apostrophe', '~': 'grave_accent', '<': 'comma', '>': 'dot', '?': 'slash',
};
const PLAIN: Record<string, string> = {
  '-': 'minus', '=': 'equal', '[': 'bracket_left', ']': 'bracket_right', '\\': 'backslash', ';': 'semicolon',
  "'": 'apostrophe', '`': 'grave_accent', ',': 'comma', '.': 'dot', '/': 'slash', ' ': 'spc',
  '\n': 'ret', '\r': 'ret', '\t': 'tab', '\b': 'backspace', '\x1b': 'esc',
};

/** Set-2 bytes that type `text` on a US keyboard. */
export function textCodes(text: string): number[] {
  const out: number[] = [];
  const press = (key: string, mod?: string): void => {
    if (mod) out.push(...keyCodes(mod, true));
    out.push(...keyCodes(key, true), ...keyCodes(key, false));
    if (mod) out.push(...keyCodes(mod, false));
  };
  for (const ch of text) {
    if (/^[a-z0-9]$/.test(ch)) press(ch);
    else if (/^[A-Z]$/.test(ch)) press(ch.toLowerCase(), 'shift');
    else if (PLAIN[ch]) press(PLAIN[ch]);
    else if (SHIFTED[ch]) press(SHIFTED[ch], 'shift');
    else if (ch.charCodeAt(0) >= 1 && ch.charCodeAt(0) <= 26) press(String.fromCharCode(0x60 + ch.charCodeAt(0)), 'ctrl');
    else throw new UsageError(`cannot type ${JSON.stringify(ch)}: only ASCII text and control characters`);
  }
  return out;
}

interface KbcState {
  /** Controller RAM 00h-1Fh; location 0 is the command byte. */
  ram: Uint8Array;
  outPort: number;
  /** The output buffer and where its byte came from. */
  ob: number;
  obFull: boolean;
  obAux: boolean;
  /** Status A2: the last write went to the command port. */
  lastWasCommand: boolean;
  /** Controller command waiting for its data byte (0 = none). */
  pendingCmd: number;
  /** Controller replies, oldest first; AUX_TAG marks auxiliary data. */
  ctrlQueue: number[];
  /** Keyboard: replies to commands go before its buffered key bytes. */
  kbdReplies: number[];
  kbdQueue: number[];
  /** Host keystrokes (set 2) waiting for room in the keyboard buffer. */
  typeQueue: number[];
  auxQueue: number[];
  /** Clock time the output buffer may take its next byte. */
  refillAt: number;
  /** Translation state: an F0h prefix was swallowed. */
  xlatBreak: boolean;
  /** The keyboard's own set-1 conversion when the guest selected set 1. */
  nativeBreak: boolean;
  kbdScanning: boolean;
  kbdSet: number;
  kbdLeds: number;
  kbdTypematic: number;
  /** Keyboard command waiting for its parameter (0 = none). */
  kbdExpect: number;
  kbdLast: number;
  mouseReporting: boolean;
  mouseRemote: boolean;
  mouseWrap: boolean;
  mouseRate: number;
  mouseResolution: number;
  mouseScaling21: boolean;
  mouseExpect: number;
  mouseLast: number;
  mouseButtons: number;
  keys: number;
  irq1Count: number;
  irq12Count: number;
}

const STATE_DESC: StateDesc = {
  name: 'i8042',
  version: 1,
  fields: [
    { name: 'ram', type: 'bytes' }, { name: 'outPort', type: 'u8' }, { name: 'ob', type: 'u8' },
    { name: 'obFull', type: 'bool' }, { name: 'obAux', type: 'bool' }, { name: 'lastWasCommand', type: 'bool' },
    { name: 'pendingCmd', type: 'u8' }, { name: 'ctrlQueue', type: 'u16[]' }, { name: 'kbdReplies', type: 'u8[]' },
    { name: 'kbdQueue', type: 'u8[]' }, { name: 'typeQueue', type: 'u8[]' }, { name: 'auxQueue', type: 'u8[]' },
    { name: 'refillAt', type: 'f64' }, { name: 'xlatBreak', type: 'bool' }, { name: 'nativeBreak', type: 'bool' },
    { name: 'kbdScanning', type: 'bool' }, { name: 'kbdSet', type: 'u8' }, { name: 'kbdLeds', type: 'u8' },
    { name: 'kbdTypematic', type: 'u8' }, { name: 'kbdExpect', type: 'u8' }, { name: 'kbdLast', type: 'u8' },
    { name: 'mouseReporting', type: 'bool' }, { name: 'mouseRemote', type: 'bool' }, { name: 'mouseWrap', type: 'bool' },
    { name: 'mouseRate', type: 'u8' }, { name: 'mouseResolution', type: 'u8' }, { name: 'mouseScaling21', type: 'bool' },
    { name: 'mouseExpect', type: 'u8' }, { name: 'mouseLast', type: 'u8' }, { name: 'mouseButtons', type: 'u8' },
    { name: 'keys', type: 'u32' }, { name: 'irq1Count', type: 'u32' }, { name: 'irq12Count', type: 'u32' },
  ],
};

/** Command byte after power-on: keyboard interrupt, translation on. */
const CCB_RESET = Ccb.INT | Ccb.XLAT;
/** Output port after power-on: not in reset, A20 open, clock and data lines idle high. */
const OUTPORT_RESET = OutPort.RESET_N | OutPort.A20 | OutPort.AUX_DATA | OutPort.AUX_CLOCK | OutPort.KBD_CLOCK | OutPort.KBD_DATA;
/** Input port: keyboard not inhibited (bit 7), colour display (bit 6 = 0), no jumper (bit 5). */
const INPUT_PORT = 0xa0;

function translate(b: number): number {
  return b < 0x80 ? XLAT[b] : b === 0x83 ? 0x41 : b;
}

const num = (p: PropValue | undefined, dflt: number): number => (typeof p === 'number' ? p : dflt);

/**
 * The keyboard controller with its keyboard and mouse.
 *
 * `new I8042(id, props, ctx)`; props: `iobase` (0x60: the data port), `commandPort` (iobase + 4),
 * `irq` (1), `auxIrq` (12). Regions: [data, status/command]. A20 and reset go to ctx.request().
 */
export class I8042 implements DeviceModel {
  readonly kind = 'i8042';
  readonly props: Readonly<Record<string, PropValue>>;

  private _s!: KbcState;
  private readonly _irq1: IrqLine;
  private readonly _irq12: IrqLine;
  private readonly _timer: Timer;
  private readonly _regions: MappedRegion[];

  constructor(
    readonly id: string,
    props: Readonly<Record<string, PropValue>>,
    private readonly _ctx: DeviceContext,
  ) {
    const iobase = num(props.iobase, 0x60);
    this.props = { iobase, commandPort: num(props.commandPort, iobase + 4), irq: num(props.irq, 1), auxIrq: num(props.auxIrq, 12) };
    this._irq1 = _ctx.irq(this.props.irq as number);
    this._irq12 = _ctx.irq(this.props.auxIrq as number);
    this._timer = _ctx.createTimer(() => this._sync());
    this._regions = [
      { region: this._dataRegion(), base: iobase },
      { region: this._commandRegion(), base: this.props.commandPort as number },
    ];
    this.reset();
  }

  regions(): MappedRegion[] {
    return this._regions;
  }

  // ---- host input -------------------------------------------------------------------------

  /** Presses a key (QEMU key names: "a", "ret", "shift", "ctrl_r", "f1", …). */
  keyDown(name: string): void {
    this.sendKeys(keyCodes(name, true));
  }

  /** Releases a key. */
  keyUp(name: string): void {
    this.sendKeys(keyCodes(name, false));
  }

  /** Types ASCII text (US layout), pressing shift or ctrl where needed. */
  typeText(text: string): void {
    this.sendKeys(textCodes(text));
  }

  /** Raw set-2 bytes from the keyboard, as if keys produced them. */
  sendKeys(bytes: ArrayLike<number>): void {
    const s = this._s;
    for (let i = 0; i < bytes.length; i++) {
      if (s.typeQueue.length >= TYPE_QUEUE_MAX) break;
      s.typeQueue.push(bytes[i] & 0xff);
    }
    s.keys += bytes.length;
    this._sync();
  }

  /** Mouse movement (dx right, dy up, clamped to ±255) and buttons (bit 0 left, 1 right, 2 middle). */
  mouseMove(dx: number, dy: number, buttons = this._s.mouseButtons): void {
    const s = this._s;
    s.mouseButtons = buttons & 7;
    if (!s.mouseReporting || s.mouseRemote) return;
    this._auxSend(this._mousePacket(dx, dy));
    this._sync();
  }

  // ---- DeviceModel ----------------------------------------------------------------------

  reset(): void {
    const typed = this._s ? this._s.typeQueue : [];
    const ram = new Uint8Array(32);
    ram[0] = CCB_RESET;
    this._s = {
      ram, outPort: OUTPORT_RESET, ob: 0, obFull: false, obAux: false, lastWasCommand: false,
      pendingCmd: 0, ctrlQueue: [], kbdReplies: [], kbdQueue: [], typeQueue: typed, auxQueue: [],
      refillAt: 0, xlatBreak: false, nativeBreak: false,
      kbdScanning: true, kbdSet: 2, kbdLeds: 0, kbdTypematic: 0x2b, kbdExpect: 0, kbdLast: 0,
      mouseReporting: false, mouseRemote: false, mouseWrap: false, mouseRate: 100, mouseResolution: 2,
      mouseScaling21: false, mouseExpect: 0, mouseLast: 0, mouseButtons: 0,
      keys: 0, irq1Count: 0, irq12Count: 0,
    };
    this._sync();
  }

  snapshot(): DeviceState {
    return saveState(STATE_DESC, this._s);
  }

  restore(st: DeviceState): void {
    loadState(STATE_DESC, this._s, st);
    this._sync();
  }

  inspect(): Inspection {
    const s = this._s;
    const ccb = s.ram[0];
    const st = this._status();
    const op = this._outPortValue();
    const bit = (v: number, m: number): number => (v & m ? 1 : 0);
    const registers: RegisterView[] = [
      {
        name: 'status', offset: 0x4, value: st, width: 8,
        bits: [
          { name: 'PARITY', value: bit(st, KbcStatus.PARITY) }, { name: 'TIMEOUT', value: bit(st, KbcStatus.TIMEOUT) },
          { name: 'AUXB', value: bit(st, KbcStatus.AUXB), meaning: 'output buffer holds mouse data' },
          { name: 'INH', value: bit(st, KbcStatus.INH), meaning: 'keyboard not inhibited' },
          { name: 'A2', value: bit(st, KbcStatus.A2), meaning: st & KbcStatus.A2 ? 'last write: command' : 'last write: data' },
          { name: 'SYS', value: bit(st, KbcStatus.SYS) }, { name: 'IBF', value: bit(st, KbcStatus.IBF) },
          { name: 'OBF', value: bit(st, KbcStatus.OBF) },
        ],
      },
      {
        name: 'command byte', value: ccb, width: 8,
        bits: [
          { name: 'XLAT', value: bit(ccb, Ccb.XLAT), meaning: 'translate to set 1' },
          { name: 'EN2', value: bit(ccb, Ccb.DISABLE_AUX), meaning: ccb & Ccb.DISABLE_AUX ? 'aux disabled' : 'aux enabled' },
          { name: 'EN', value: bit(ccb, Ccb.DISABLE_KBD), meaning: ccb & Ccb.DISABLE_KBD ? 'keyboard disabled' : 'keyboard enabled' },
          { name: 'OVR', value: bit(ccb, Ccb.OVR) }, { name: 'SYS', value: bit(ccb, Ccb.SYS) },
          { name: 'INT2', value: bit(ccb, Ccb.INT2), meaning: 'IRQ 12 enable' },
          { name: 'INT', value: bit(ccb, Ccb.INT), meaning: 'IRQ 1 enable' },
        ],
      },
      {
        name: 'output port', value: op, width: 8,
        bits: [
          { name: 'KBD_DATA', value: bit(op, OutPort.KBD_DATA) }, { name: 'KBD_CLOCK', value: bit(op, OutPort.KBD_CLOCK) },
          { name: 'AUX_OBF (IRQ 12)', value: bit(op, OutPort.AUX_OBF) }, { name: 'KBD_OBF (IRQ 1)', value: bit(op, OutPort.KBD_OBF) },
          { name: 'AUX_CLOCK', value: bit(op, OutPort.AUX_CLOCK) }, { name: 'AUX_DATA', value: bit(op, OutPort.AUX_DATA) },
          { name: 'GATE_A20', value: bit(op, OutPort.A20) }, { name: 'RESET#', value: bit(op, OutPort.RESET_N) },
        ],
      },
      { name: 'output buffer', offset: 0x0, value: s.ob, width: 8, note: s.obFull ? (s.obAux ? 'full (mouse)' : 'full (keyboard/controller)') : 'empty' },
      { name: 'input port', value: INPUT_PORT, width: 8 },
      {
        name: 'keyboard LEDs', value: s.kbdLeds, width: 8,
        bits: [
          { name: 'Caps Lock', value: bit(s.kbdLeds, 4) }, { name: 'Num Lock', value: bit(s.kbdLeds, 2) },
          { name: 'Scroll Lock', value: bit(s.kbdLeds, 1) },
        ],
      },
      { name: 'keyboard typematic', value: s.kbdTypematic, width: 8 },
    ];
    return {
      id: this.id,
      kind: this.kind,
      registers,
      queues: {
        controller: s.ctrlQueue.slice(), keyboard: [...s.kbdReplies, ...s.kbdQueue],
        typing: s.typeQueue.slice(0, 64), aux: s.auxQueue.slice(),
      },
      counters: { keyBytes: s.keys, irq1: s.irq1Count, irq12: s.irq12Count, typingPending: s.typeQueue.length },
      extra: {
        keyboard: `scan code set ${s.kbdSet}${ccb & Ccb.XLAT ? ' (translated to set 1)' : ''}, scanning ${s.kbdScanning ? 'on' : 'off'}`,
        mouse: `reporting ${s.mouseReporting ? 'on' : 'off'}, ${s.mouseRemote ? 'remote' : 'stream'} mode, ${s.mouseRate}/s, resolution ${s.mouseResolution}`,
        pendingCommand: s.pendingCmd ? '0x' + s.pendingCmd.toString(16) : 'none',
      },
    };
  }

  // ---- controller -------------------------------------------------------------------------

  private _status(): number {
    const s = this._s;
    return (
      (s.obFull ? KbcStatus.OBF : 0) | (s.ram[0] & Ccb.SYS ? KbcStatus.SYS : 0) |
      (s.lastWasCommand ? KbcStatus.A2 : 0) | KbcStatus.INH | (s.obFull && s.obAux ? KbcStatus.AUXB : 0)
    );
  }

  private _outPortValue(): number {
    const s = this._s;
    const obf = s.obFull && !s.obAux ? OutPort.KBD_OBF : 0;
    const aux = s.obFull && s.obAux ? OutPort.AUX_OBF : 0;
    return (s.outPort & ~(OutPort.KBD_OBF | OutPort.AUX_OBF)) | obf | aux;
  }

  private _writeOutPort(v: number): void {
    const s = this._s;
    const old = s.outPort;
    s.outPort = v & ~(OutPort.KBD_OBF | OutPort.AUX_OBF);
    if ((old ^ v) & OutPort.A20) this._ctx.request({ kind: 'a20', enabled: (v & OutPort.A20) !== 0 });
    if (!(v & OutPort.RESET_N)) {
      s.outPort |= OutPort.RESET_N; // the reset line is a pulse as far as the board is concerned
      this._ctx.request({ kind: 'reset' });
    }
  }

  private _reply(b: number): void {
    // The controller has one output buffer; a guest that never reads cannot grow this.
    if (this._s.ctrlQueue.length < REPLY_MAX) this._s.ctrlQueue.push(b & 0xff);
  }

  private _command(cmd: number): void {
    const s = this._s;
    s.lastWasCommand = true;
    s.pendingCmd = 0;
    if (cmd >= 0x20 && cmd <= 0x3f) {
      this._reply(s.ram[cmd & 0x1f]);
      return;
    }
    if ((cmd >= 0x60 && cmd <= 0x7f) || (cmd >= KbcCmd.WRITE_OUTPUT && cmd <= KbcCmd.WRITE_AUX)) {
      s.pendingCmd = cmd; // the data byte follows at 0x60
      return;
    }
    if (cmd >= KbcCmd.PULSE) {
      // Pulse the output-port lines whose bits are 0 in the low nibble; bit 0 is reset.
      if (!(cmd & OutPort.RESET_N)) this._ctx.request({ kind: 'reset' });
      return;
    }
    switch (cmd) {
      case KbcCmd.PASSWORD_TEST: this._reply(0xf1); break; // no password installed
      case KbcCmd.AUX_DISABLE: s.ram[0] |= Ccb.DISABLE_AUX; break;
      case KbcCmd.AUX_ENABLE: s.ram[0] &= ~Ccb.DISABLE_AUX; break;
      case KbcCmd.AUX_TEST: this._reply(0x00); break;
      case KbcCmd.SELF_TEST: s.ram[0] |= Ccb.SYS; this._reply(0x55); break;
      case KbcCmd.KBD_TEST: this._reply(0x00); break;
      case KbcCmd.KBD_DISABLE: s.ram[0] |= Ccb.DISABLE_KBD; break;
      case KbcCmd.KBD_ENABLE: s.ram[0] &= ~Ccb.DISABLE_KBD; break;
      case KbcCmd.READ_INPUT: this._reply(INPUT_PORT); break;
      case KbcCmd.READ_OUTPUT: this._reply(this._outPortValue()); break;
      case KbcCmd.A20_OFF: this._writeOutPort(s.outPort & ~OutPort.A20); break;
      case KbcCmd.A20_ON: this._writeOutPort(s.outPort | OutPort.A20); break;
      case KbcCmd.READ_TEST: this._reply(0x00); break;
      default: break; // unknown or unmodelled commands are ignored
    }
  }

  private _data(v: number): void {
    const s = this._s;
    s.lastWasCommand = false;
    const cmd = s.pendingCmd;
    s.pendingCmd = 0;
    if (cmd >= 0x60 && cmd <= 0x7f) {
      s.ram[cmd & 0x1f] = v;
      return;
    }
    switch (cmd) {
      case KbcCmd.WRITE_OUTPUT: this._writeOutPort(v); return;
      case KbcCmd.WRITE_KBD_OB: this._reply(v); return;
      case KbcCmd.WRITE_AUX_OB: if (s.ctrlQueue.length < REPLY_MAX) s.ctrlQueue.push(v | AUX_TAG); return;
      case KbcCmd.WRITE_AUX: this._mouseCommand(v); return;
    }
    // Plain data goes to the keyboard; sending to it re-enables its interface.
    s.ram[0] &= ~Ccb.DISABLE_KBD;
    this._keyboardCommand(v);
  }

  /** Loads the output buffer when it is empty and the refill delay has passed by `now`. */
  private _fill(now: number): void {
    const s = this._s;
    if (s.obFull || now < s.refillAt) return;
    const ccb = s.ram[0];
    if (s.ctrlQueue.length) {
      const e = s.ctrlQueue.shift()!;
      this._load(e & 0xff, (e & AUX_TAG) !== 0);
      return;
    }
    if (!(ccb & Ccb.DISABLE_KBD)) {
      for (;;) {
        const q = s.kbdReplies.length ? s.kbdReplies : s.kbdQueue;
        if (!q.length) break;
        const b = q.shift()!;
        if (!(ccb & Ccb.XLAT)) {
          this._load(b, false);
          return;
        }
        if (b === 0xf0) {
          s.xlatBreak = true; // swallowed: the next code comes out with bit 7 set
          continue;
        }
        const out = translate(b) | (s.xlatBreak ? 0x80 : 0);
        s.xlatBreak = false;
        this._load(out, false);
        return;
      }
    }
    if (!(ccb & Ccb.DISABLE_AUX) && s.auxQueue.length) this._load(s.auxQueue.shift()!, true);
  }

  private _load(b: number, aux: boolean): void {
    const s = this._s;
    s.ob = b;
    s.obFull = true;
    s.obAux = aux;
    const ccb = s.ram[0];
    if (aux ? ccb & Ccb.INT2 : ccb & Ccb.INT) {
      if (aux) s.irq12Count++;
      else s.irq1Count++;
    }
  }

  /** Moves host keystrokes into the keyboard's buffer while it scans and has room. */
  private _pump(): void {
    const s = this._s;
    while (s.kbdScanning && s.typeQueue.length && s.kbdQueue.length < KBD_BUFFER) {
      const b = s.typeQueue.shift()!;
      if (s.kbdSet !== 1) {
        s.kbdQueue.push(b);
      } else if (b === 0xf0) {
        s.nativeBreak = true; // the keyboard itself speaks set 1: no F0 prefix
      } else {
        s.kbdQueue.push(translate(b) | (s.nativeBreak ? 0x80 : 0));
        s.nativeBreak = false;
      }
    }
  }

  /** Brings queues, output buffer, IRQ lines and the refill timer up to date. */
  private _sync(): void {
    // One look at the clock for both decisions: "not time to refill yet" and "so set the
    // timer". With two, a host that stalls between them (the daemon's clock is host time)
    // saw the delay unexpired in _fill and expired here, and set no timer: the keyboard
    // fell silent with bytes still queued.
    const now = this._ctx.now();
    this._pump();
    this._fill(now);
    const s = this._s;
    const ccb = s.ram[0];
    this._irq1.set(s.obFull && !s.obAux && (ccb & Ccb.INT) !== 0);
    this._irq12.set(s.obFull && s.obAux && (ccb & Ccb.INT2) !== 0);
    const waiting = s.ctrlQueue.length || s.kbdReplies.length || s.kbdQueue.length || s.auxQueue.length;
    if (!s.obFull && waiting && s.refillAt > now) this._timer.setAt(s.refillAt);
    else this._timer.cancel();
  }

  private _readData(): number {
    const s = this._s;
    if (s.obFull) {
      s.obFull = false;
      s.refillAt = this._ctx.now() + REFILL_NS;
    }
    // An empty buffer reads its old contents.
    return s.ob;
  }

  // ---- keyboard ---------------------------------------------------------------------------

  private _kbdSend(...bytes: number[]): void {
    const s = this._s;
    for (const b of bytes) {
      if (s.kbdReplies.length >= REPLY_MAX) return;
      s.kbdReplies.push(b);
      if (b !== KbdCmd.ACK) s.kbdLast = b;
    }
  }

  private _kbdDefaults(): void {
    const s = this._s;
    s.kbdSet = 2;
    s.kbdTypematic = 0x2b;
    s.nativeBreak = false;
  }

  private _keyboardCommand(v: number): void {
    const s = this._s;
    const expect = s.kbdExpect;
    s.kbdExpect = 0;
    if (expect) {
      switch (expect) {
        case KbdCmd.SET_LEDS:
          s.kbdLeds = v & 7;
          this._kbdSend(KbdCmd.ACK);
          return;
        case KbdCmd.SCANCODE_SET:
          if (v === 0) {
            this._kbdSend(KbdCmd.ACK, s.kbdSet);
          } else if (v <= 3) {
            s.kbdSet = v;
            s.kbdQueue = [];
            this._kbdSend(KbdCmd.ACK);
          } else {
            this._kbdSend(KbdCmd.RESEND);
          }
          return;
        case KbdCmd.TYPEMATIC:
          s.kbdTypematic = v & 0x7f;
          this._kbdSend(KbdCmd.ACK);
          return;
      }
    }
    switch (v) {
      case KbdCmd.SET_LEDS:
      case KbdCmd.SCANCODE_SET:
      case KbdCmd.TYPEMATIC:
        s.kbdExpect = v;
        this._kbdSend(KbdCmd.ACK);
        break;
      case KbdCmd.ECHO:
        this._kbdSend(KbdCmd.ECHO);
        break;
      case KbdCmd.READ_ID:
        this._kbdSend(KbdCmd.ACK, 0xab, 0x83); // MF2 keyboard
        break;
      case KbdCmd.ENABLE:
        s.kbdQueue = [];
        s.kbdScanning = true;
        this._kbdSend(KbdCmd.ACK);
        break;
      case KbdCmd.DISABLE:
        s.kbdQueue = [];
        s.kbdScanning = false;
        this._kbdDefaults();
        this._kbdSend(KbdCmd.ACK);
        break;
      case KbdCmd.SET_DEFAULT:
        s.kbdQueue = [];
        this._kbdDefaults();
        this._kbdSend(KbdCmd.ACK);
        break;
      case KbdCmd.RESEND:
        this._kbdSend(s.kbdLast);
        break;
      case KbdCmd.RESET:
        s.kbdQueue = [];
        s.kbdReplies = [];
        s.kbdLeds = 0;
        s.kbdScanning = true;
        this._kbdDefaults();
        this._kbdSend(KbdCmd.ACK, KbdCmd.BAT_OK);
        break;
      default:
        // F7h-FDh are set-3 key-type commands: acknowledged, no effect. Others: resend.
        this._kbdSend(v >= 0xf7 && v <= 0xfd ? KbdCmd.ACK : KbdCmd.RESEND);
    }
  }

  // ---- mouse ------------------------------------------------------------------------------

  private _auxSend(bytes: number[]): void {
    const s = this._s;
    for (const b of bytes) {
      if (s.auxQueue.length >= AUX_QUEUE_MAX) return;
      s.auxQueue.push(b);
      if (b !== KbdCmd.ACK) s.mouseLast = b;
    }
  }

  private _mousePacket(dx: number, dy: number): number[] {
    const s = this._s;
    const clamp = (v: number): number => Math.max(-255, Math.min(255, Math.trunc(v)));
    const x = clamp(dx);
    const y = clamp(dy);
    // Byte 0: Y overflow, X overflow, Y sign, X sign, 1, middle, right, left.
    const b0 = 0x08 | (s.mouseButtons & 7) | (x < 0 ? 0x10 : 0) | (y < 0 ? 0x20 : 0);
    return [b0, x & 0xff, y & 0xff];
  }

  private _mouseDefaults(): void {
    const s = this._s;
    s.mouseReporting = false;
    s.mouseRemote = false;
    s.mouseRate = 100;
    s.mouseResolution = 2;
    s.mouseScaling21 = false;
  }

  private _mouseCommand(v: number): void {
    const s = this._s;
    const ACK = KbdCmd.ACK;
    if (s.mouseWrap && v !== 0xec && v !== 0xff) {
      this._auxSend([v]); // wrap mode echoes
      return;
    }
    const expect = s.mouseExpect;
    s.mouseExpect = 0;
    if (expect === 0xf3) {
      s.mouseRate = v;
      this._auxSend([ACK]);
      return;
    }
    if (expect === 0xe8) {
      s.mouseResolution = v & 3;
      this._auxSend([ACK]);
      return;
    }
    switch (v) {
      case 0xe6: s.mouseScaling21 = false; this._auxSend([ACK]); break; // set scaling 1:1
      case 0xe7: s.mouseScaling21 = true; this._auxSend([ACK]); break; // set scaling 2:1
      case 0xe8: case 0xf3: s.mouseExpect = v; this._auxSend([ACK]); break; // resolution, sample rate
      case 0xe9: { // status request
        const st = (s.mouseRemote ? 0x40 : 0) | (s.mouseReporting ? 0x20 : 0) | (s.mouseScaling21 ? 0x10 : 0) |
          ((s.mouseButtons & 1) << 2) | ((s.mouseButtons & 4) >> 1) | ((s.mouseButtons & 2) >> 1);
        this._auxSend([ACK, st, s.mouseResolution, s.mouseRate]);
        break;
      }
      case 0xea: s.mouseRemote = false; this._auxSend([ACK]); break; // stream mode
      case 0xeb: this._auxSend([ACK, ...this._mousePacket(0, 0)]); break; // read data
      case 0xec: s.mouseWrap = false; this._auxSend([ACK]); break;
      case 0xee: s.mouseWrap = true; this._auxSend([ACK]); break;
      case 0xf0: s.mouseRemote = true; this._auxSend([ACK]); break; // remote mode
      case 0xf2: this._auxSend([ACK, 0x00]); break; // device ID: standard PS/2 mouse
      case 0xf4: s.mouseReporting = true; this._auxSend([ACK]); break;
      case 0xf5: s.mouseReporting = false; this._auxSend([ACK]); break;
      case 0xf6: this._mouseDefaults(); this._auxSend([ACK]); break;
      case 0xfe: this._auxSend([s.mouseLast]); break;
      case 0xff:
        s.auxQueue = [];
        s.mouseWrap = false;
        this._mouseDefaults();
        this._auxSend([ACK, KbdCmd.BAT_OK, 0x00]);
        break;
      default:
        this._auxSend([0xfe]);
    }
  }

  // ---- regions ------------------------------------------------------------------------------

  private _dataRegion(): IoRegion {
    return {
      name: `${this.id}.data`,
      space: 'pio',
      size: 1,
      impl: { min: 1, max: 1 },
      ops: {
        read: () => {
          const v = this._readData();
          this._sync();
          return v;
        },
        write: (_off, _size, v) => {
          this._data(v & 0xff);
          this._sync();
        },
      },
      // Static names: the daemon caches them per offset when it maps the range.
      registerName: (_off, dir) => (dir === 'read' ? 'output buffer' : 'input buffer (data)'),
    };
  }

  private _commandRegion(): IoRegion {
    return {
      name: `${this.id}.cmd`,
      space: 'pio',
      size: 1,
      impl: { min: 1, max: 1 },
      ops: {
        read: () => this._status(),
        write: (_off, _size, v) => {
          this._command(v & 0xff);
          this._sync();
        },
      },
      registerName: (_off, dir) => (dir === 'read' ? 'status' : 'command'),
    };
  }
}
