// SeaBIOS -> GRUB -> Multiboot kernel. The disk is built here from Debian's grub-pc-bin as
// grub-install would leave it, without loop devices or root: boot.img in the MBR, core.img
// from grub-mkimage in the gap after it, and a FAT partition (mkfs.fat -C, mcopy) with
// /boot/grub/grub.cfg and guests/firmware/mbkernel.elf. GRUB's console is COM1; the kernel
// reports the Multiboot handover there and exits with status 65.
import { expect, it } from 'vitest';
import { BOOT_TIMEOUT_MS, bootSeaBIOS, E820_32M, firmwareSuite, grubImage, timing } from './firmware.js';

firmwareSuite('SeaBIOS -> GRUB -> Multiboot kernel', ['seabios', 'grub-pc-bin', 'grub-common', 'mtools', 'dosfstools'], () => {
  it('reads grub.cfg from the FAT partition and boots the kernel from it', async () => {
    const r = await bootSeaBIOS(grubImage(), { name: 'fw-grub' });
    console.log(timing('SeaBIOS -> GRUB -> kernel', r));
    expect(r.debugcon).toContain('Booting from Hard Disk...');
    // GRUB's serial terminal clears the screen with VT100 sequences first.
    const ESC = String.fromCharCode(0x1b);
    const lines = r.com1.split(/\r?\n/).map((l) => l.replace(new RegExp(`^(${ESC}\\[[0-9;]*[A-Za-z])+|\r`, 'g'), ''));
    expect(lines).toContain('hvmon: grub.cfg read');
    expect(lines.slice(lines.indexOf('mbkernel: multiboot magic ok'))).toEqual([
      'mbkernel: multiboot magic ok',
      expect.stringMatching(/^mbkernel: loader GRUB 2\.\d+/),
      'mbkernel: mem_lower=639 mem_upper=31736',
      'mbkernel: cmdline hvmon-grub-cmdline',
      ...E820_32M,
      'mbkernel: done',
      '',
    ]);
    expect(r.status, r.com1 + r.debugcon).toBe(65);
  }, BOOT_TIMEOUT_MS);
});
