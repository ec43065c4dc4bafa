// Unmodified SeaBIOS (Debian's /usr/share/seabios/bios.bin) against this folder's PC models:
// the i440FX/PIIX PCI functions (PAM requests applied to a real GuestMemory), the IDE
// channels with a disk, the VGA and the RTC, on hvmon's interpreter. It must recognise QEMU's
// pc machine, enumerate PCI, find the disk through 00:01.1 and run the boot sector.
//
// Not a machine test: there is no PIC or PIT here (they live in the core); when the BIOS
// halts waiting for its timer tick, the loop below injects vector 08h as the PIC would.
// Skipped where the seabios package is not installed.
import { serviceExit } from './testing/exits.js';
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { BlockBackend, DeviceContext, DeviceModel, HostRequest } from '../../common/device.js';
import { asPhys, asPort } from '../../common/types.js';
import { IoBus } from '../../core/bus/IoBus.js';
import { DebugTables } from '../../core/debug/DebugTables.js';
import { GuestMemory } from '../../core/memory/GuestMemory.js';
import { ExitReason } from '../../core/vcpu/VcpuBackend.js';
import { InterpVcpu } from '../../core/vcpu/interp/InterpVcpu.js';
import { Ide } from './ide.js';
import { Mc146818 } from './mc146818.js';
import { I440fx } from './piix.js';
import { Vga } from './vga.js';

const BIOS = '/usr/share/seabios/bios.bin';
const RAM = 16 << 20;

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

/** A boot sector that writes its message to debugcon (0402h) and halts with interrupts off. */
function bootDisk(): MemDisk {
  const d = new MemDisk();
  // mov si,7C20h; mov dx,402h; l: lodsb; test al,al; jz done; out dx,al; jmp l; done: cli; hlt
  d.data.set([0xbe, 0x20, 0x7c, 0xba, 0x02, 0x04, 0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xfa, 0xf4], 0);
  d.data.set(Buffer.from('BOOT SECTOR RUNS\n\0'), 0x20);
  d.data[510] = 0x55;
  d.data[511] = 0xaa;
  return d;
}

describe.skipIf(!fs.existsSync(BIOS))('SeaBIOS on the PC models', () => {
  it('recognises QEMU\'s pc, finds the IDE disk through PCI and boots from it', () => {
    const bios = fs.readFileSync(BIOS);
    const mem = GuestMemory.create(RAM, [{ name: 'bios', data: bios }]);
    mem.mapRam(0, 0xa0000);
    mem.mapRam(0x100000, RAM - 0x100000);
    mem.mapRom('bios', 0x100000000 - bios.length);
    mem.mapRom('bios', 0xe0000, 0x20000);
    let clock = 0;
    const timers: { at: number; cb: () => void }[] = [];
    const pam: HostRequest[] = [];
    const events: string[] = [];
    const ctx = (): DeviceContext => ({
      now: () => clock,
      createTimer: (cb) => {
        const t = { at: -1, cb };
        timers.push(t);
        return { setAt: (ns: number) => { t.at = ns; }, cancel: () => { t.at = -1; }, get pending() { return t.at >= 0; } };
      },
      irq: () => ({ set: () => {} }),
      dma: { read: (a, b) => void mem.read(a, b), write: (a, b) => void mem.write(a, b) },
      request: (r) => {
        // What the daemon does with a PAM change: GuestMemory's shadow map.
        if (r.kind === 'map-memory') {
          pam.push(r);
          mem.setShadow(r.base, r.size, r.read, r.write);
        }
      },
      event: (n) => events.push(n),
    });
    const pci = new I440fx('pci', {}, ctx());
    const vga = new Vga('vga', {}, ctx());
    const rtc = new Mc146818('rtc', { iobase: 0x70, irq: 8 }, ctx());
    rtc.setMemorySize(RAM);
    const devs: DeviceModel[] = [
      pci, vga, rtc,
      new Ide('ide0', { iobase: 0x1f0, iobase2: 0x3f6, irq: 14 }, ctx(), { master: bootDisk() }),
      new Ide('ide1', { iobase: 0x170, iobase2: 0x376, irq: 15 }, ctx(), {}),
    ];
    const pio = new IoBus('pio');
    const mmio = new IoBus('mmio');
    for (const d of devs) {
      for (const { region, base } of d.regions()) {
        if (region.space === 'pio') pio.map(region, asPort(base));
        else mmio.map(region, asPhys(base));
      }
    }
    let log = '';
    pio.map({ name: 'debugcon', space: 'pio', size: 1, ops: { read: () => 0xe9, write: (_o, _s, v) => { log += String.fromCharCode(v); } } }, asPort(0x402));

    const cpu = new InterpVcpu(mem, new Int32Array(new SharedArrayBuffer(4)), new DebugTables());
    cpu.reset();
    const ex = cpu.exit;
    let halted = false;
    for (let n = 0; n < 2_000_000 && !halted; n++) {
      const r = cpu.run(20_000);
      clock += 2_000;
      for (const t of timers) if (t.at >= 0 && t.at <= clock) { t.at = -1; t.cb(); }
      switch (r) {
        case ExitReason.IO:
        case ExitReason.MMIO:
          serviceExit(cpu, r, pio, mmio);
          break;
        case ExitReason.HLT:
          // Waiting for the timer tick (IF=1), or the boot sector's final CLI; HLT.
          if (cpu.getState().eflags & 0x200) {
            clock += 1_000_000;
            cpu.injectInterrupt(0x08);
          } else {
            halted = true;
          }
          break;
        case ExitReason.INTR:
          break;
        default:
          throw new Error(`exit ${r} at ${ex.ip.toString(16)}: ${ex.message}\n${log}`);
      }
    }
    expect(log).toContain('Running on QEMU (i440fx)');
    expect(log).toContain('Found 4 PCI devices');
    expect(log).toContain('PCI: init bdf=00:01.1 id=8086:7010');
    expect(log).toContain('Using pmtimer, ioport 0xb008');
    expect(log).toContain('ata0-0: HVMON HARDDISK ATA-6 Hard-Disk (4 MiBytes)');
    expect(log).toContain('Booting from Hard Disk...');
    expect(log).toContain('BOOT SECTOR RUNS');
    expect(events).toEqual([]);
    // The BIOS made its area writable to shadow itself, then write-protected 0F0000h again.
    expect(pam).toContainEqual({ kind: 'map-memory', base: 0xf0000, size: 0x10000, read: 'ram', write: 'ram' });
    expect(pam.filter((r) => r.kind === 'map-memory' && r.base === 0xf0000).at(-1)).toMatchObject({ read: 'ram', write: 'none' });
    // Its shadowed copy is what the CPU now reads at the reset vector (the far jump).
    const probe = new Uint8Array(5);
    mem.read(0xffff0, probe);
    expect(Array.from(probe)).toEqual(Array.from(bios.subarray(bios.length - 16, bios.length - 11)));
  });
});
