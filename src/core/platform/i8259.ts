// Intel 8259A Programmable Interrupt Controller, as the master/slave pair of the PC/AT.
//
// Reference: Intel 8259A datasheet (order 231468): "Interrupt Sequence", "Programming the
// 8259A" (Initialization Command Words ICW1-ICW4, Operation Command Words OCW1-OCW3),
// "Fully Nested Mode", "End of Interrupt", "Automatic Rotation", "Specific Rotation",
// "Special Mask Mode", "Poll Command", "Edge and Level Triggered Modes", "Cascade Mode".
// The ELCR pair at 04D0h/04D1h is the Edge/Level Control Register of the Intel 82371SB
// (PIIX3) datasheet, section "ELCR1/ELCR2 — Edge/Level Control Registers".
//
// The pair as the core uses it: setIrq(irq, level) for ISA lines 0-15, `intr` is the
// master's INT output, acknowledge() is the CPU's INTA cycle and returns the vector.
// The slave's INT output drives the master's IR2 like any other request line.
//
// Behaviour worth knowing (datasheet "Edge and Level Triggered Modes"): a request must stay
// high until the INTA that takes it. A request that goes away first is withdrawn, and an INTA
// that then finds nothing pending answers with IR7 of that chip without setting its ISR bit:
// the spurious IRQ 7 (master) or IRQ 15 (slave) that PC operating systems know about.
//
// Not modelled:
//  - 8080/8085 mode (ICW4 µPM = 0) and the call-address bytes of ICW1 A7-A5: vectors are
//    always 8086-style (ICW2 T7-T3 plus the IR number);
//  - ICW1 ADI (interval 4/8 is an 8080 matter) and ICW4 BUF/M/S (buffered mode: stored and
//    shown, no effect);
//  - a cascade topology other than the PC's one slave on master IR2 (ICW3 is stored, not
//    obeyed); SNGL on the master disables the cascade;
//  - ISA IRQ2 as a device line: on the AT bus the IRQ2 pin was rewired to IRQ9, so
//    setIrq(2, …) drives IRQ9, as on every AT-compatible board.

import type { DeviceContext, DeviceModel, Inspection, PropValue, RegisterView } from '../../common/device.js';
import type { IoRegion, MappedRegion } from '../../common/io.js';
import type { DeviceState, StateDesc } from '../../common/vmstate.js';
import { loadState, saveState } from '../../common/vmstate.js';

/** ICW1 bits (written to the even port with D4 = 1). */
export const enum Icw1 {
  /** IC4: ICW4 needed. */
  IC4 = 0x01,
  /** SNGL: single 8259A, no ICW3. */
  SNGL = 0x02,
  /** ADI: call address interval 4 (8080 mode only). */
  ADI = 0x04,
  /** LTIM: level triggered mode for all inputs. */
  LTIM = 0x08,
  /** D4 = 1 marks a write to the even port as ICW1. */
  INIT = 0x10,
}

/** ICW4 bits. */
export const enum Icw4 {
  /** µPM: 8086/8088 mode (1) or 8080/8085 (0). */
  UPM = 0x01,
  /** AEOI: automatic end of interrupt. */
  AEOI = 0x02,
  /** M/S: master (1) or slave (0) in buffered mode. */
  MS = 0x04,
  /** BUF: buffered mode. */
  BUF = 0x08,
  /** SFNM: special fully nested mode. */
  SFNM = 0x10,
}

/** OCW2 command codes: the R, SL, EOI bits (D7-D5) shifted down. */
export const enum Ocw2Cmd {
  /** Rotate in automatic EOI mode (clear). */
  ROTATE_AEOI_CLEAR = 0,
  /** Non-specific EOI command. */
  EOI = 1,
  /** No operation. */
  NOP = 2,
  /** Specific EOI command (L2-L0 name the level). */
  SPECIFIC_EOI = 3,
  /** Rotate in automatic EOI mode (set). */
  ROTATE_AEOI_SET = 4,
  /** Rotate on non-specific EOI command. */
  ROTATE_EOI = 5,
  /** Set priority command (L2-L0 becomes the lowest priority). */
  SET_PRIORITY = 6,
  /** Rotate on specific EOI command. */
  ROTATE_SPECIFIC_EOI = 7,
}

/** OCW3 bits (written to the even port with D4 = 0, D3 = 1). */
export const enum Ocw3 {
  /** RIS: read ISR (1) or IRR (0) on the next read, when RR = 1. */
  RIS = 0x01,
  /** RR: read register command. */
  RR = 0x02,
  /** P: poll command. */
  P = 0x04,
  /** D3 = 1 marks a write to the even port as OCW3. */
  SEL = 0x08,
  /** SMM: special mask mode (set when ESMM = 1). */
  SMM = 0x20,
  /** ESMM: enable special mask mode change. */
  ESMM = 0x40,
}

/** The two ports of one chip, by A0. */
export const enum PicPort {
  /** A0 = 0: ICW1, OCW2, OCW3 written; IRR, ISR or poll word read. */
  COMMAND = 0,
  /** A0 = 1: ICW2-ICW4 and OCW1 written; IMR read. */
  DATA = 1,
}

const MASTER = 0;
const SLAVE = 1;
/** The master input the slave's INT output is wired to. */
const CASCADE_IR = 2;
/** ELCR bits that the PIIX3 hard-wires to edge: IRQ0-2 on ELCR1, IRQ8 and IRQ13 on ELCR2. */
const ELCR_MASK = [0xf8, 0xde];

interface PicState {
  /** Per chip [master, slave]: interrupt request register. */
  irr: Uint8Array;
  /** In-service register. */
  isr: Uint8Array;
  /** Interrupt mask register (OCW1). */
  imr: Uint8Array;
  /** Edge/level control (ELCR1/ELCR2). */
  elcr: Uint8Array;
  /** Levels of the IR input pins (the master's IR2 is the slave's INT output). */
  lines: Uint8Array;
  icw1: Uint8Array;
  /** ICW2 T7-T3: vector base. */
  vectorBase: Uint8Array;
  icw3: Uint8Array;
  icw4: Uint8Array;
  /** 0: operational; 1, 2, 3: the next odd-port write is ICW2, ICW3, ICW4. */
  initStep: Uint8Array;
  /** The IR with the lowest priority (7 after ICW1); rotation moves it. */
  lowest: Uint8Array;
  /** OCW3 RIS as last selected: read ISR (1) or IRR (0). */
  readIsr: Uint8Array;
  /** OCW3 P: the next even-port read is the poll word. */
  poll: Uint8Array;
  /** OCW3 SMM. */
  specialMask: Uint8Array;
  /** OCW2 rotate-in-AEOI flag. */
  rotateAeoi: Uint8Array;
  /** INTA cycles answered with a spurious IR7: [master (IRQ 7), slave (IRQ 15)]. */
  spurious: Uint32Array;
  /** Interrupts delivered per IRQ 0-15 (by INTA or poll). */
  delivered: Uint32Array;
}

const STATE_DESC: StateDesc = {
  name: 'i8259',
  version: 1,
  fields: [
    { name: 'irr', type: 'u8[]' },
    { name: 'isr', type: 'u8[]' },
    { name: 'imr', type: 'u8[]' },
    { name: 'elcr', type: 'u8[]' },
    { name: 'lines', type: 'u8[]' },
    { name: 'icw1', type: 'u8[]' },
    { name: 'vectorBase', type: 'u8[]' },
    { name: 'icw3', type: 'u8[]' },
    { name: 'icw4', type: 'u8[]' },
    { name: 'initStep', type: 'u8[]' },
    { name: 'lowest', type: 'u8[]' },
    { name: 'readIsr', type: 'u8[]' },
    { name: 'poll', type: 'u8[]' },
    { name: 'specialMask', type: 'u8[]' },
    { name: 'rotateAeoi', type: 'u8[]' },
    { name: 'spurious', type: 'u32[]' },
    { name: 'delivered', type: 'u32[]' },
  ],
};

function newState(): PicState {
  const two = (): Uint8Array => new Uint8Array(2);
  return {
    irr: two(), isr: two(), imr: two(), elcr: two(), lines: two(), icw1: two(), vectorBase: two(),
    icw3: two(), icw4: two(), initStep: two(), lowest: two(), readIsr: two(), poll: two(),
    specialMask: two(), rotateAeoi: two(), spurious: new Uint32Array(2), delivered: new Uint32Array(16),
  };
}

function irqBits(value: number, first: number): { name: string; value: number }[] {
  const out: { name: string; value: number }[] = [];
  for (let i = 7; i >= 0; i--) out.push({ name: `IRQ${first + i}`, value: (value >> i) & 1 });
  return out;
}

const num = (p: PropValue | undefined, dflt: number): number => (typeof p === 'number' ? p : dflt);

/**
 * The PC's cascaded 8259A pair.
 *
 * `new I8259Pair(id, props, ctx)`; props: `masterBase` (0x20), `slaveBase` (0xA0),
 * `elcrBase` (0x4D0). The context is accepted for the uniform device constructor; the PIC
 * needs no clock. Regions: [master, slave, elcr].
 */
export class I8259Pair implements DeviceModel {
  readonly kind = 'i8259';
  readonly props: Readonly<Record<string, PropValue>>;
  /** Called whenever the INTR output (the master's INT pin) changes. */
  onIntrChange: ((level: boolean) => void) | null = null;

  private _s: PicState = newState();
  private _intr = false;
  private readonly _regions: MappedRegion[];

  constructor(
    readonly id: string,
    props: Readonly<Record<string, PropValue>> = {},
    _ctx?: DeviceContext,
  ) {
    this.props = {
      masterBase: num(props.masterBase, 0x20),
      slaveBase: num(props.slaveBase, 0xa0),
      elcrBase: num(props.elcrBase, 0x4d0),
    };
    this._regions = [
      { region: this._chipRegion(MASTER), base: this.props.masterBase as number },
      { region: this._chipRegion(SLAVE), base: this.props.slaveBase as number },
      { region: this._elcrRegion(), base: this.props.elcrBase as number },
    ];
    this._powerOn();
  }

  regions(): MappedRegion[] {
    return this._regions;
  }

  // ---- the core's side ----------------------------------------------------------------

  /** Drives ISA interrupt line `irq` (0-15) to `level`. IRQ2 is IRQ9 on the AT bus. */
  setIrq(irq: number, level: boolean): void {
    if (irq === CASCADE_IR) irq = 9;
    if (irq < 0 || irq > 15) return;
    this._setLine(irq >> 3, 1 << (irq & 7), level);
    this._update();
  }

  /** The INTR output: an unmasked request of sufficient priority is waiting for INTA. */
  get intr(): boolean {
    return this._pending(MASTER) >= 0;
  }

  /**
   * The CPU's interrupt-acknowledge cycle: returns the vector and moves the request into
   * service. With nothing pending (the request went away) it answers the spurious IR7
   * vector of the chip concerned and sets no ISR bit.
   */
  acknowledge(): number {
    const s = this._s;
    const irq = this._pending(MASTER);
    let vector: number;
    if (irq < 0) {
      s.spurious[MASTER]++;
      vector = s.vectorBase[MASTER] + 7;
    } else {
      this._ack(MASTER, irq);
      if (irq === CASCADE_IR && this._cascaded()) {
        // The second INTA pulse goes to the slave, which puts its vector on the bus.
        const sirq = this._pending(SLAVE);
        if (sirq < 0) {
          s.spurious[SLAVE]++;
          vector = s.vectorBase[SLAVE] + 7;
        } else {
          this._ack(SLAVE, sirq);
          s.delivered[8 + sirq]++;
          vector = s.vectorBase[SLAVE] + sirq;
        }
      } else {
        s.delivered[irq]++;
        vector = s.vectorBase[MASTER] + irq;
      }
    }
    this._update();
    return vector & 0xff;
  }

  // ---- DeviceModel ----------------------------------------------------------------------

  reset(): void {
    // RESET does not clear the input pins: devices keep driving their lines.
    const lines = this._s.lines.slice();
    this._powerOn();
    this._s.lines.set(lines);
    this._s.lines[MASTER] &= ~(1 << CASCADE_IR);
    this._update();
  }

  snapshot(): DeviceState {
    return saveState(STATE_DESC, this._s);
  }

  restore(st: DeviceState): void {
    loadState(STATE_DESC, this._s, st);
    this._update();
  }

  inspect(): Inspection {
    const s = this._s;
    const registers: RegisterView[] = [];
    const names = ['master', 'slave'];
    for (const c of [MASTER, SLAVE]) {
      const n = names[c];
      const first = c * 8;
      registers.push(
        { name: `${n} IRR`, offset: PicPort.COMMAND, value: s.irr[c], width: 8, bits: irqBits(s.irr[c], first), note: 'interrupt request register' },
        { name: `${n} ISR`, offset: PicPort.COMMAND, value: s.isr[c], width: 8, bits: irqBits(s.isr[c], first), note: 'in-service register' },
        { name: `${n} IMR`, offset: PicPort.DATA, value: s.imr[c], width: 8, bits: irqBits(s.imr[c], first), note: 'interrupt mask register (OCW1)' },
        {
          name: `${n} ICW1`, value: s.icw1[c], width: 8,
          bits: [
            { name: 'LTIM', value: (s.icw1[c] >> 3) & 1, meaning: s.icw1[c] & Icw1.LTIM ? 'level triggered' : 'edge triggered' },
            { name: 'ADI', value: (s.icw1[c] >> 2) & 1 },
            { name: 'SNGL', value: (s.icw1[c] >> 1) & 1, meaning: s.icw1[c] & Icw1.SNGL ? 'single' : 'cascade' },
            { name: 'IC4', value: s.icw1[c] & 1 },
          ],
        },
        { name: `${n} ICW2`, value: s.vectorBase[c], width: 8, note: `vectors ${hex2(s.vectorBase[c])}-${hex2(s.vectorBase[c] + 7)}` },
        { name: `${n} ICW3`, value: s.icw3[c], width: 8, note: c === MASTER ? 'slave inputs' : 'slave id' },
        {
          name: `${n} ICW4`, value: s.icw4[c], width: 8,
          bits: [
            { name: 'SFNM', value: (s.icw4[c] >> 4) & 1 },
            { name: 'BUF', value: (s.icw4[c] >> 3) & 1 },
            { name: 'M/S', value: (s.icw4[c] >> 2) & 1 },
            { name: 'AEOI', value: (s.icw4[c] >> 1) & 1 },
            { name: 'µPM', value: s.icw4[c] & 1, meaning: s.icw4[c] & Icw4.UPM ? '8086' : '8080' },
          ],
        },
        {
          name: `${n} OCW3`, value: (s.specialMask[c] << 5) | (s.poll[c] << 2) | s.readIsr[c], width: 8,
          bits: [
            { name: 'SMM', value: s.specialMask[c], meaning: s.specialMask[c] ? 'special mask mode' : 'normal mask' },
            { name: 'P', value: s.poll[c], meaning: s.poll[c] ? 'poll word on next read' : '' },
            { name: 'RIS', value: s.readIsr[c], meaning: s.readIsr[c] ? 'read ISR' : 'read IRR' },
          ],
        },
        { name: `${n} ELCR`, offset: c, value: s.elcr[c], width: 8, bits: irqBits(s.elcr[c], first), note: '1 = level triggered' },
        { name: `${n} IR pins`, value: s.lines[c], width: 8, bits: irqBits(s.lines[c], first), note: 'input levels' },
      );
    }
    const counters: Record<string, number> = { spuriousIrq7: s.spurious[MASTER], spuriousIrq15: s.spurious[SLAVE] };
    for (let i = 0; i < 16; i++) counters[`irq${i}`] = s.delivered[i];
    const chipExtra = (c: number): Record<string, string | number | boolean> => ({
      initialized: s.initStep[c] === 0,
      awaiting: ['', 'ICW2', 'ICW3', 'ICW4'][s.initStep[c]],
      priority: Array.from({ length: 8 }, (_, p) => c * 8 + ((s.lowest[c] + 1 + p) & 7)).join(' > '),
      autoEoi: (s.icw4[c] & Icw4.AEOI) !== 0,
      rotateInAutoEoi: s.rotateAeoi[c] === 1,
      pending: this._pending(c) < 0 ? 'none' : `IRQ${c * 8 + this._pending(c)}`,
    });
    return {
      id: this.id,
      kind: this.kind,
      registers,
      counters,
      extra: { intr: this.intr, master: chipExtra(MASTER), slave: chipExtra(SLAVE) },
    };
  }

  // ---- chip logic -------------------------------------------------------------------------

  private _powerOn(): void {
    this._s = newState();
    for (const c of [MASTER, SLAVE]) {
      this._s.lowest[c] = 7;
      this._s.icw4[c] = Icw4.UPM;
    }
    this._s.icw1[MASTER] = Icw1.INIT | Icw1.IC4;
    this._s.icw1[SLAVE] = Icw1.INIT | Icw1.IC4;
    this._s.vectorBase[MASTER] = 0x08;
    this._s.vectorBase[SLAVE] = 0x70;
    this._s.icw3[MASTER] = 1 << CASCADE_IR;
    this._s.icw3[SLAVE] = CASCADE_IR;
  }

  private _cascaded(): boolean {
    return (this._s.icw1[MASTER] & Icw1.SNGL) === 0;
  }

  /** Inputs that are level triggered: all of them under ICW1 LTIM, else the ELCR. */
  private _levelMask(c: number): number {
    return this._s.icw1[c] & Icw1.LTIM ? 0xff : this._s.elcr[c];
  }

  private _setLine(c: number, bit: number, level: boolean): void {
    const s = this._s;
    if (level) {
      // Edge mode latches the rising edge; level mode follows the pin.
      if (!(s.lines[c] & bit) || this._levelMask(c) & bit) s.irr[c] |= bit;
      s.lines[c] |= bit;
    } else {
      // The request must stay high until INTA; a request that drops is withdrawn.
      s.lines[c] &= ~bit;
      s.irr[c] &= ~bit;
    }
  }

  /** Priority rank of IR `irq` on chip c: 0 is the highest. */
  private _rank(c: number, irq: number): number {
    return (irq - this._s.lowest[c] - 1) & 7;
  }

  /** The highest-priority IR whose bit is set in `bits`, or -1. */
  private _highest(c: number, bits: number): number {
    if (!bits) return -1;
    for (let p = 0; p < 8; p++) {
      const irq = (this._s.lowest[c] + 1 + p) & 7;
      if (bits & (1 << irq)) return irq;
    }
    return -1;
  }

  /** The IR chip c would signal on INT now, or -1. */
  private _pending(c: number): number {
    const s = this._s;
    if (s.initStep[c] !== 0) return -1;
    let req = s.irr[c] & ~s.imr[c];
    if (!req) return -1;
    if (s.specialMask[c]) {
      // Special mask mode: only the mask inhibits; levels in service do not block others.
      req &= ~s.isr[c];
      return this._highest(c, req);
    }
    let inService = s.isr[c];
    // Special fully nested mode: the master lets the slave interrupt its own in-service level.
    if (c === MASTER && s.icw4[MASTER] & Icw4.SFNM) inService &= ~(1 << CASCADE_IR);
    const r = this._highest(c, req);
    const busy = this._highest(c, inService);
    if (busy >= 0 && this._rank(c, r) >= this._rank(c, busy)) return -1;
    return r;
  }

  /** INTA (or poll) on chip c for IR `irq`: IRR → ISR, or straight through in AEOI mode. */
  private _ack(c: number, irq: number): void {
    const s = this._s;
    const bit = 1 << irq;
    if (!(this._levelMask(c) & bit)) s.irr[c] &= ~bit;
    if (s.icw4[c] & Icw4.AEOI) {
      if (s.rotateAeoi[c]) s.lowest[c] = irq;
    } else {
      s.isr[c] |= bit;
    }
  }

  /** Propagates the slave's INT to master IR2 and reports INTR changes. */
  private _update(): void {
    const s = this._s;
    if (this._cascaded()) {
      const slaveInt = this._pending(SLAVE) >= 0;
      const cascadeBit = 1 << CASCADE_IR;
      if (slaveInt !== ((s.lines[MASTER] & cascadeBit) !== 0)) this._setLine(MASTER, cascadeBit, slaveInt);
    }
    const intr = this._pending(MASTER) >= 0;
    if (intr !== this._intr) {
      this._intr = intr;
      this.onIntrChange?.(intr);
    }
  }

  private _writeCommand(c: number, v: number): void {
    const s = this._s;
    if (v & Icw1.INIT) {
      // ICW1 starts the initialization sequence: mask cleared, IR7 lowest priority, special
      // mask off, status read set to IRR, edge sense reset (a line that is high must go low
      // and high again), ICW4 functions cleared when IC4 = 0.
      s.icw1[c] = v;
      s.initStep[c] = 1;
      s.imr[c] = 0;
      s.isr[c] = 0;
      s.irr[c] = s.lines[c] & this._levelMask(c);
      s.lowest[c] = 7;
      s.specialMask[c] = 0;
      s.readIsr[c] = 0;
      s.poll[c] = 0;
      s.rotateAeoi[c] = 0;
      if (!(v & Icw1.IC4)) s.icw4[c] = 0;
    } else if (v & Ocw3.SEL) {
      if (v & Ocw3.ESMM) s.specialMask[c] = v & Ocw3.SMM ? 1 : 0;
      if (v & Ocw3.RR) s.readIsr[c] = v & Ocw3.RIS;
      if (v & Ocw3.P) s.poll[c] = 1;
    } else {
      this._writeOcw2(c, v);
    }
  }

  private _writeOcw2(c: number, v: number): void {
    const s = this._s;
    const level = v & 7;
    switch ((v >> 5) as Ocw2Cmd) {
      case Ocw2Cmd.EOI:
      case Ocw2Cmd.ROTATE_EOI: {
        // The non-specific EOI ends the highest-priority level in service.
        const irq = this._highest(c, s.isr[c]);
        if (irq >= 0) {
          s.isr[c] &= ~(1 << irq);
          if (v >> 5 === Ocw2Cmd.ROTATE_EOI) s.lowest[c] = irq;
        }
        break;
      }
      case Ocw2Cmd.SPECIFIC_EOI:
        s.isr[c] &= ~(1 << level);
        break;
      case Ocw2Cmd.ROTATE_SPECIFIC_EOI:
        s.isr[c] &= ~(1 << level);
        s.lowest[c] = level;
        break;
      case Ocw2Cmd.SET_PRIORITY:
        s.lowest[c] = level;
        break;
      case Ocw2Cmd.ROTATE_AEOI_SET:
        s.rotateAeoi[c] = 1;
        break;
      case Ocw2Cmd.ROTATE_AEOI_CLEAR:
        s.rotateAeoi[c] = 0;
        break;
      case Ocw2Cmd.NOP:
        break;
    }
  }

  private _writeData(c: number, v: number): void {
    const s = this._s;
    switch (s.initStep[c]) {
      case 1: // ICW2: T7-T3 of the vector
        s.vectorBase[c] = v & 0xf8;
        s.initStep[c] = !(s.icw1[c] & Icw1.SNGL) ? 2 : s.icw1[c] & Icw1.IC4 ? 3 : 0;
        break;
      case 2: // ICW3: slave inputs (master) or slave id (slave)
        s.icw3[c] = v;
        s.initStep[c] = s.icw1[c] & Icw1.IC4 ? 3 : 0;
        break;
      case 3: // ICW4
        s.icw4[c] = v & 0x1f;
        s.initStep[c] = 0;
        break;
      default: // OCW1: the mask
        s.imr[c] = v;
    }
  }

  private _readCommand(c: number): number {
    const s = this._s;
    if (s.poll[c]) {
      // The poll command: this read is the INTA. Bit 7 = I (interrupt), bits 2-0 = level.
      s.poll[c] = 0;
      const irq = this._pending(c);
      if (irq < 0) return 0;
      this._ack(c, irq);
      s.delivered[c * 8 + irq]++;
      this._update();
      return 0x80 | irq;
    }
    return s.readIsr[c] ? s.isr[c] : s.irr[c];
  }

  private _chipRegion(c: number): IoRegion {
    const name = c === MASTER ? 'master' : 'slave';
    return {
      name: `${this.id}.${name}`,
      space: 'pio',
      size: 2,
      impl: { min: 1, max: 1 },
      ops: {
        read: (off) => (off === PicPort.COMMAND ? this._readCommand(c) : this._s.imr[c]),
        write: (off, _size, v) => {
          if (off === PicPort.COMMAND) this._writeCommand(c, v & 0xff);
          else this._writeData(c, v & 0xff);
          this._update();
        },
      },
      registerName: (off, dir) => {
        const s = this._s;
        if (off === PicPort.COMMAND) {
          if (dir === 'write') return `${name} ICW1/OCW2/OCW3`;
          return `${name} ${s.poll[c] ? 'poll word' : s.readIsr[c] ? 'ISR' : 'IRR'}`;
        }
        if (dir === 'read') return `${name} IMR`;
        return `${name} ${['OCW1 (IMR)', 'ICW2', 'ICW3', 'ICW4'][s.initStep[c]]}`;
      },
    };
  }

  private _elcrRegion(): IoRegion {
    return {
      name: `${this.id}.elcr`,
      space: 'pio',
      size: 2,
      impl: { min: 1, max: 1 },
      ops: {
        read: (off) => this._s.elcr[off],
        write: (off, _size, v) => {
          const s = this._s;
          s.elcr[off] = v & ELCR_MASK[off];
          // Inputs that became level triggered request at once if their pin is high.
          s.irr[off] |= s.lines[off] & this._levelMask(off);
          this._update();
        },
      },
      registerName: (off) => (off === 0 ? 'ELCR1' : 'ELCR2'),
    };
  }
}

function hex2(n: number): string {
  return '0x' + (n & 0xff).toString(16).padStart(2, '0');
}
