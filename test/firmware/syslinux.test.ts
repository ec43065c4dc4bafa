// SeaBIOS -> SYSLINUX -> Multiboot kernel, on a FAT disk built here from Debian's syslinux
// packages (mkfs.fat -C, syslinux --install on the file, mcopy: no loop device, no root).
// SYSLINUX's serial console is on (SERIAL 0 115200); mboot.c32 loads guests/firmware/
// mbkernel.elf, which reports the Multiboot handover on COM1 and exits with status 65.
import { expect, it } from 'vitest';
import { BOOT_TIMEOUT_MS, bootSeaBIOS, E820_32M, firmwareSuite, syslinuxImage, timing } from './firmware.js';

firmwareSuite('SeaBIOS -> SYSLINUX -> Multiboot kernel', ['seabios', 'syslinux', 'syslinux-common', 'mtools', 'dosfstools'], () => {
  it('prints the SYSLINUX banner on COM1 and boots the kernel through mboot.c32', async () => {
    const r = await bootSeaBIOS(syslinuxImage(), { name: 'fw-syslinux' });
    console.log(timing('SeaBIOS -> SYSLINUX -> kernel', r));
    expect(r.debugcon).toContain('Booting from Hard Disk...');
    expect(r.com1).toMatch(/\r\nSYSLINUX 6\.\d+ \S+ Copyright \(C\) 1994-2015 H\. Peter Anvin et al\r\n/);
    const lines = r.com1.split('\r\n');
    expect(lines).toContain('Loading mbkernel.elf... ok');
    expect(lines.slice(lines.indexOf('mbkernel: multiboot magic ok'))).toEqual([
      'mbkernel: multiboot magic ok',
      expect.stringMatching(/^mbkernel: loader SYSLINUX 6\.\d+/),
      'mbkernel: mem_lower=639 mem_upper=31736',
      'mbkernel: cmdline mbkernel.elf hvmon-syslinux-cmdline',
      ...E820_32M,
      'mbkernel: done',
      '',
    ]);
    expect(r.status, r.com1 + r.debugcon).toBe(65);
  }, BOOT_TIMEOUT_MS);
});
