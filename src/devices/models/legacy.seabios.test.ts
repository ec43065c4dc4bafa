// Unmodified SeaBIOS (Debian's /usr/share/seabios/bios.bin) against the PC's legacy devices:
// the PIC pair and PIT with port 0x61 (in-core models, driven here exactly as the core drives
// them: IRQ lines into setIrq, intr/acknowledge for delivery), the RTC, the i8042 with its
// keyboard, COM1 and debugcon, plus the i440FX/PIIX and IDE models the BIOS needs to find a
// boot disk. The boot sector echoes keys typed through the i8042 (BIOS INT 16h, fed by IRQ 1)
// to COM1, reports the RTC date (INT 1Ah) on debugcon, and the BIOS tick count (IRQ 0 from the
// PIT) around a 500 ms INT 15h/86h wait, which SeaBIOS times with the RTC's periodic interrupt
// (IRQ 8 through the slave PIC).
//
// The virtual clock is the instruction count (1 instruction = 1 ns) plus the time skipped
// while the CPU halts waiting for an interrupt. Skipped where the seabios package is not
// installed.
import { serviceExit } from './testing/exits.js';
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { BlockBackend, CharBackend, HostRequest, IrqLine } from '../../common/device.js';
import { asPhys, asPort } from '../../common/types.js';
import { IoBus } from '../../core/bus/IoBus.js';
import { DebugTables } from '../../core/debug/DebugTables.js';
import { GuestMemory } from '../../core/memory/GuestMemory.js';
import { I8254 } from '../../core/platform/i8254.js';
import { I8259Pair } from '../../core/platform/i8259.js';
import { Port61 } from '../../core/platform/port61.js';
import { ExitReason } from '../../core/vcpu/VcpuBackend.js';
import { InterpVcpu } from '../../core/vcpu/interp/InterpVcpu.js';
import { DebugCon } from './debugcon.js';
import { I8042 } from './i8042.js';
import { Ide } from './ide.js';
import { Mc146818 } from './mc146818.js';
import { I440fx } from './piix.js';
import { Port92 } from './port92.js';
import { PostCode } from './postcode.js';
import { TestContext } from './testing/TestContext.js';
import { Uart16550 } from './uart16550.js';

const BIOS = '/usr/share/seabios/bios.bin';
const RAM = 16 << 20;

/*
 * The boot sector (nasm -f bin):
 *   start: xor ax,ax / mov ds,ax / mov es,ax / mov ss,ax / mov sp,7C00h / sti
 *          mov si,msg_boot / call dbg_puts
 *          ; COM1 115200 8N1 with FIFO: LCR=80h, DLL=1, DLM=0, LCR=03h, FCR=C7h
 *   .key:  xor ah,ah / int 16h / cmp al,13 / je .done / call com_putc / jmp .key
 *   .done: mov al,10 / call com_putc
 *          mov ah,4 / int 1Ah / mov bx,dx / mov dx,402h
 *          out '[', ch, cl, bh, bl
 *          mov eax,[46Ch] / call dbg_dword                 ; BIOS tick count (IRQ 0)
 *          mov ah,86h / mov cx,7 / mov dx,0A120h / int 15h ; wait 500 ms (RTC periodic, IRQ 8)
 *          mov eax,[46Ch] / call dbg_dword
 *          mov si,msg_done / call dbg_puts / cli / hlt
 *   dbg_dword: out 402h the 4 bytes of eax, low first
 *   com_putc: wait for LSR.THRE at 3FDh, out 3F8h
 *   dbg_puts: lodsb / out 402h until NUL
 *   msg_boot db "BOOT",10,0 / msg_done db "]DONE",10,0
 */
const BOOT_SECTOR =
  '31c08ed88ec08ed0bc007cfbbea37ce88500bafb03b080eebaf803b001ee4230c0eebafb03b003eebafa03b0c7ee30e4cd163c0d7405e84d' +
  '00ebf3b00ae84600b404cd1a89d3ba0204b05bee88e8ee88c8ee88f8ee88d8ee66a16c04e81900b486b90700ba20a1cd1566a16c04e80800' +
  'bea97ce82100faf4ba0204b90400ee66c1e808e2f9c35250bafd03eca82074fb58baf803ee5ac3ac84c07406ba0204eeebf5c3424f4f540a' +
  '005d444f4e450a';

class MemDisk implements BlockBackend {
  readonly name = 'mem';
  readonly readOnly = false;
  readonly data = new Uint8Array(4 << 20);
  get size(): number {
    return this.data.length;
  }
  read(o: number, into: Uint8Array): void {
    into.set(this.data.subarray(o, o + into.length));
  }
  write(o: number, f: Uint8Array): void {
    this.data.set(f, o);
  }
  flush(): void {}
}

class Capture implements CharBackend {
  text = '';
  constructor(readonly name: string) {}
  write(d: Uint8Array): void {
    this.text += String.fromCharCode(...d);
  }
  setInputHandler(): void {}
}

/** A TestContext whose IRQ lines go into the PIC, as the core wires them. */
class BoardContext extends TestContext {
  pic: I8259Pair | null = null;
  override irq(n: number): IrqLine {
    const line = super.irq(n);
    return {
      set: (level: boolean) => {
        line.set(level);
        this.pic?.setIrq(n, level);
      },
    };
  }
}

describe.skipIf(!fs.existsSync(BIOS))('SeaBIOS on the legacy PC devices', () => {
  it('finds COM1 and the keyboard, takes typed keys through IRQ 1, ticks on IRQ 0, waits on IRQ 8', () => {
    const bios = fs.readFileSync(BIOS);
    const mem = GuestMemory.create(RAM, [{ name: 'bios', data: bios }]);
    mem.mapRam(0, 0xa0000);
    mem.mapRam(0x100000, RAM - 0x100000);
    mem.mapRom('bios', 0x100000000 - bios.length);
    mem.mapRom('bios', 0xe0000, 0x20000);

    const ctx = new BoardContext();
    const requests: HostRequest[] = [];
    ctx.request = (r) => {
      requests.push(r);
      if (r.kind === 'map-memory') mem.setShadow(r.base, r.size, r.read, r.write);
    };
    const pic = new I8259Pair('pic', {}, ctx);
    ctx.pic = pic;
    const pit = new I8254('pit', {}, ctx);
    const kbc = new I8042('kbd', {}, ctx);
    const rtc = new Mc146818('rtc', { base: '2024-03-15T12:34:56Z' }, ctx);
    rtc.setMemorySize(RAM);
    const com1 = new Capture('com1');
    const debugcon = new Capture('debugcon');
    const disk = new MemDisk();
    disk.data.set(Buffer.from(BOOT_SECTOR, 'hex'), 0);
    disk.data[510] = 0x55;
    disk.data[511] = 0xaa;
    const devices = [
      pic, pit, new Port61('port61', {}, ctx, pit), kbc, rtc,
      new Uart16550('com1', { iobase: 0x3f8, irq: 4 }, ctx, com1),
      new DebugCon('debugcon', { iobase: 0x402 }, ctx, debugcon),
      new Port92('port92', {}, ctx), new PostCode('post', {}, ctx),
      new I440fx('pci', {}, ctx),
      new Ide('ide0', { iobase: 0x1f0, iobase2: 0x3f6, irq: 14 }, ctx, { master: disk }),
    ];
    const pio = new IoBus('pio');
    const mmio = new IoBus('mmio');
    for (const d of devices) {
      for (const { region, base } of d.regions()) {
        if (region.space === 'pio') pio.map(region, asPort(base));
        else mmio.map(region, asPhys(base));
      }
    }

    const cpu = new InterpVcpu(mem, new Int32Array(new SharedArrayBuffer(4)), new DebugTables());
    cpu.reset();
    const ex = cpu.exit;
    let icount = cpu.icount;
    let typed = false;
    let done = false;
    let interrupts = 0;
    for (let n = 0; n < 3_000_000 && !done; n++) {
      if (pic.intr && cpu.interruptible) {
        cpu.injectInterrupt(pic.acknowledge());
        interrupts++;
      }
      const r = cpu.run(20_000);
      ctx.advance(cpu.icount - icount);
      icount = cpu.icount;
      switch (r) {
        case ExitReason.IO:
        case ExitReason.MMIO:
          serviceExit(cpu, r, pio, mmio);
          break;
        case ExitReason.HLT: {
          if (!(cpu.getState().eflags & 0x200)) {
            done = true; // the boot sector's final CLI; HLT
            break;
          }
          // Halted with interrupts on: skip to the next timer, as the run loop sleeps.
          let next = Infinity;
          for (const t of ctx.timers) next = Math.min(next, t.deadline);
          expect(next, 'a halted CPU with no timer pending would sleep forever').toBeLessThan(Infinity);
          ctx.advance(Math.max(1, next - ctx.clock));
          break;
        }
        case ExitReason.INTR:
          break;
        default:
          throw new Error(`exit ${r} at ${ex.ip.toString(16)}: ${ex.message}\n${debugcon.text}`);
      }
      if (!typed && debugcon.text.includes('BOOT\n')) {
        kbc.typeText('Hello, hvmon!\r');
        typed = true;
      }
    }
    const log = debugcon.text;
    expect(log).toContain('Running on QEMU (i440fx)');
    // The 16550 answers SeaBIOS's probe (THRE in IIR after IER = 02h).
    expect(log).toContain('Found 1 serial ports');
    expect(log).toContain('PS2 keyboard initialized');
    expect(log).toContain('Booting from Hard Disk...');
    // Keys typed into the i8042 reached INT 16h through IRQ 1 and went out on COM1.
    expect(com1.text).toBe('Hello, hvmon!\n');
    // INT 1Ah read the RTC: 2024-03-15.
    const report = /BOOT\n\[([\s\S]{4})([\s\S]{4})([\s\S]{4})\]DONE\n/.exec(log);
    expect(report, log).not.toBeNull();
    const bytes = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
    expect(bytes(report![1])).toEqual([0x20, 0x24, 0x03, 0x15]);
    // 500 ms of BIOS ticks at 1193182 / 65536 Hz: 9 or 10 IRQ 0s.
    const ticks = (s: string) => new DataView(Uint8Array.from(bytes(s)).buffer).getUint32(0, true);
    const before = ticks(report![2]);
    const after = ticks(report![3]);
    expect(after - before).toBeGreaterThanOrEqual(9);
    expect(after - before).toBeLessThanOrEqual(10);
    // SeaBIOS set the tick count from the RTC's 12:34:56 at boot.
    expect(before / 18.2065).toBeGreaterThan(12 * 3600 + 34 * 60 + 56);
    expect(before / 18.2065).toBeLessThan(12 * 3600 + 35 * 60 + 56);
    expect(pic.inspect().counters!.irq8).toBeGreaterThan(400);
    expect(done).toBe(true);
    expect(interrupts).toBeGreaterThan(10);
    expect(pic.inspect().counters!.irq1).toBeGreaterThanOrEqual(28); // make and break codes, shift
    expect(pic.inspect().counters!.irq0).toBeGreaterThan(0);
    expect(requests.filter((r) => r.kind === 'reset' || r.kind === 'exit')).toEqual([]);
  });
});
