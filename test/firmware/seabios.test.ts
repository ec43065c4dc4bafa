// Debian's SeaBIOS boots guests/firmware/bootsect.img on hvmon as on QEMU's pc: through the
// real `hvmon run` (judged by its debug log on isa-debugcon 0x402, COM1 and the exit status),
// and in process to read the VGA screen that SeaVGABIOS draws, or, without a VGA ROM, the
// BIOS text SeaBIOS sends to COM1 instead.
import { afterEach, expect, it } from 'vitest';
import type { Machine } from '../../src/core/machine/Machine.js';
import { Monitor } from '../../src/monitor/Monitor.js';
import { guest, startMachine } from '../helpers.js';
import { BOOT_TIMEOUT_MS, bootSeaBIOS, firmwareSuite, SEABIOS, timing } from './firmware.js';

const BOOTSECT = guest('guests/firmware/bootsect.img');
const BOOTSECT_COM1 = [
  'hvmon boot sector: booted by the BIOS from drive 80',
  'INT 12h: KiB 027f', // 639 KiB: SeaBIOS keeps 1 KiB for its extended BIOS data area
  'INT 13h AH=41h: EDD 30',
  'INT 13h AH=08h: heads-1/sectors 0f/3f',
  'LBA 1 read through INT 13h AH=02h (CHS)',
  'LBA 1000 read through INT 13h AH=42h (EDD)',
  'all BIOS checks passed',
];

let machine: Machine | null = null;
afterEach(async () => {
  await machine?.quit();
  machine = null;
});

/** An in-process machine booting bootsect.img with SeaBIOS; resolves at the guest's exit. */
async function bootInProcess(vgaRom?: null): Promise<{ m: Machine; com1: () => string; debugcon: () => string }> {
  const m = await startMachine({
    boot: { kind: 'bios', path: SEABIOS },
    pc: {
      ramSize: 32 << 20, serial: ['vc', 'null'], drives: [`file=${BOOTSECT},snapshot=on`], netdevs: [],
      extra: [
        { kind: 'isa-debugcon', props: { iobase: 0x402 }, chardev: 'vc' },
        { kind: 'isa-debug-exit', props: { iobase: 0xf4, iosize: 1 } },
      ],
      ...(vgaRom === null ? { vgaRom: null } : {}),
    },
  });
  machine = m;
  const out: Record<string, string> = { com1: '', debugcon0: '' };
  m.on('output', (d, data) => (out[d] = (out[d] ?? '') + Buffer.from(data).toString('latin1')));
  const status = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no exit\n--- COM1 ---\n${out.com1}\n--- debugcon ---\n${out.debugcon0}`)), 100_000);
    m.once('exit', (s) => {
      clearTimeout(t);
      resolve(s);
    });
    // A triple fault or an internal error: the guest will not exit by itself.
    m.on('stop', (info) => {
      if (info.reason === 'pause') return;
      clearTimeout(t);
      reject(new Error(`the VM stopped: ${info.text}\n--- COM1 ---\n${out.com1}\n--- debugcon ---\n${out.debugcon0}`));
    });
  });
  expect(status).toBe(33);
  // Output is batched per event-loop turn in the daemon: let the last batch arrive.
  await new Promise((r) => setTimeout(r, 100));
  return { m, com1: () => out.com1, debugcon: () => out.debugcon0 };
}

firmwareSuite('SeaBIOS boots a disk on hvmon run as on QEMU\'s pc', ['seabios'], () => {
  it('finds fw_cfg, runs SeaVGABIOS, boots the boot sector, whose BIOS calls all work', async () => {
    const r = await bootSeaBIOS(BOOTSECT, { name: 'fw-bootsect' });
    console.log(timing('SeaBIOS -> boot sector', r));
    expect(r.status, r.debugcon).toBe(33);
    for (const line of [
      'SeaBIOS (version 1.16',
      'Running on QEMU (i440fx)',
      'Found QEMU fw_cfg',
      'QEMU fw_cfg DMA interface supported',
      // RAM from etc/e820, the boot order from the bootorder file.
      'qemu/e820: addr 0x0000000000000000 len 0x0000000002000000 [RAM]',
      '1: /pci@i0cf8/ide@1,1/drive@0/disk@0',
      'Found 4 PCI devices (max PCI bus is 00)',
      'PCI: init bdf=00:01.1 id=8086:7010',
      'Using pmtimer, ioport 0xb008',
      // vgaroms/vgabios-isavga.bin from fw_cfg, run at C000:0003.
      'Running option rom at c000:0003',
      'Start SeaVGABIOS (version 1.16',
      'ata0-0: HVMON HARDDISK ATA-6 Hard-Disk (1 MiBytes)',
      'Searching bootorder for: /pci@i0cf8/*@1,1/drive@0/disk@0',
      'Found 2 serial ports',
      'PS2 keyboard initialized',
      'e820 map has 6 items:',
      'Booting from Hard Disk...',
      'Booting from 0000:7c00',
    ]) expect(r.debugcon).toContain(line);
    // etc/show-boot-menu is 0, as on QEMU without -boot menu=on: no 2.5 s wait.
    expect(r.debugcon).not.toContain('Press ESC');
    expect(r.com1.split('\r\n').filter((l) => l)).toEqual(BOOTSECT_COM1);
  }, BOOT_TIMEOUT_MS);

  it('with --smp 2, starts the second CPU (INIT-SIPI through the local APIC) and still boots', async () => {
    // SeaBIOS counts the CPUs that answer its SIPI while it spins with PAUSE on a shared
    // counter: the vCPUs share one host thread, so PAUSE must let the other one run.
    const r = await bootSeaBIOS(BOOTSECT, { name: 'fw-smp2', args: ['--smp', '2'] });
    console.log(timing('SeaBIOS --smp 2 -> boot sector', r));
    expect(r.status, r.debugcon).toBe(33);
    expect(r.debugcon).toContain('Found 2 cpu(s) max supported 2 cpu(s)');
    expect(r.com1.split('\r\n').filter((l) => l)).toEqual(BOOTSECT_COM1);
  }, BOOT_TIMEOUT_MS);

  it('draws the BIOS and boot sector text on the VGA screen through SeaVGABIOS', async () => {
    const { m, com1 } = await bootInProcess();
    const mon = new Monitor(m);
    const screen = await mon.screen();
    mon.close();
    const text = screen.text.map((l) => l.trimEnd());
    expect([screen.cols, screen.rows]).toEqual([80, 25]);
    expect(text[0]).toMatch(/^SeaBIOS \(version 1\.16/);
    expect(text).toContain('Booting from Hard Disk...');
    const at = text.indexOf(BOOTSECT_COM1[0]);
    expect(at, text.join('\n')).toBeGreaterThan(0);
    expect(text.slice(at, at + BOOTSECT_COM1.length)).toEqual(BOOTSECT_COM1);
    // With a VGA ROM, COM1 carries only what the guest sent there itself.
    expect(com1()).not.toContain('SeaBIOS');
  }, BOOT_TIMEOUT_MS);

  it('without a VGA ROM, the BIOS text goes to COM1 (etc/sercon-port)', async () => {
    const { com1, debugcon } = await bootInProcess(null);
    expect(debugcon()).toContain('sercon: using ioport 0x3f8');
    expect(debugcon()).not.toContain('Start SeaVGABIOS');
    // sercon draws the screen with ANSI sequences; the boot sector's own INT 14h output comes
    // in between its INT 10h characters, so each of those appears twice.
    const serial = com1();
    expect(serial).toContain('\x1b[2J');
    expect(serial).toContain('SeaBIOS (version 1.16');
    expect(serial).toContain('Booting from Hard Disk...');
    expect(serial).toContain('aallll  BBIIOOSS  cchheecckkss  ppaasssseed');
  }, BOOT_TIMEOUT_MS);
});
