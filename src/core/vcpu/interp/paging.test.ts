// Paging: A/D bits as a 386 sets them, #PF error codes and CR2, the TLB (INVLPG, CR3),
// translate() without side effects, 4 MiB pages, and the A20 gate.

import { describe, expect, it } from 'vitest';
import { Rig, asm, haveNasm, recordingHandlers } from './testing/rig.js';
import { ExitReason, IoDir } from '../VcpuBackend.js';

const PD = 0x100000;
const PT = 0x101000;

/** Identity-maps 0-4 MiB (user, writable, A/D clear) and turns paging on in the state. */
function paged(code: string, opts: { user?: boolean } = {}): Rig {
  const rig = new Rig();
  rig.load(0x3000, recordingHandlers());
  rig.load(0x2000, asm(code, 32, 0x2000));
  for (let i = 0; i < 1024; i++) rig.wr32(PT + i * 4, (i << 12) | 7);
  rig.wr32(PD, PT | 7);
  const s = rig.flat(0x2000, { idtHandlers: 0x3000 });
  rig.cpu.setState({ ...s, cr0: 0x80000011, cr3: PD });
  if (opts.user) {
    const st = rig.cpu.getState();
    const ucode = { selector: 0x1b, base: 0, limit: 0xffffffff, attr: 0xc0fb };
    const udata = { selector: 0x23, base: 0, limit: 0xffffffff, attr: 0xc0f3 };
    rig.cpu.setState({ ...st, cs: ucode, ss: udata, ds: udata, es: udata, esp: 0x7000 });
  }
  return rig;
}

describe.skipIf(!haveNasm())('paging', () => {
  it('sets A on read and A+D on write, in the PTE; A in the PDE', () => {
    const rig = paged('mov eax, [0x50000]\nhlt\nmov [0x51000], eax\nhlt');
    rig.run();
    expect(rig.rd32(PT + 0x50 * 4) & 0x60).toBe(0x20);
    expect(rig.rd32(PD) & 0x60).toBe(0x20);
    rig.cpu.setState({ ...rig.cpu.getState(), halted: false });
    rig.run();
    expect(rig.rd32(PT + 0x51 * 4) & 0x60).toBe(0x60);
  });

  it('leaves the PDE A bit clear when the PTE is not present (as a 386 does)', () => {
    const rig = paged('mov eax, [0x400000]\nhlt');
    const pt2 = 0x102000;
    for (let i = 0; i < 1024; i++) rig.wr32(pt2 + i * 4, 0);
    rig.wr32(PD + 4, pt2 | 7);
    rig.run();
    expect(rig.u8[0x600]).toBe(14);
    expect(rig.rd32(0x604)).toBe(0);
    expect(rig.cpu.getState().cr2).toBe(0x400000);
    expect(rig.rd32(PD + 4) & 0x20).toBe(0);
  });

  it('sets the D bit on the first write through a TLB entry filled by a read', () => {
    const rig = paged('mov eax, [0x52000]\nmov [0x52004], eax\nhlt');
    rig.run();
    expect(rig.rd32(PT + 0x52 * 4) & 0x60).toBe(0x60);
  });

  it('reports #PF error codes: P, W/R, U/S', () => {
    const cases: [string, boolean, number, number][] = [
      ['mov eax, [0x60000]', false, 0, 0x60000],       // not present, read, supervisor
      ['mov [0x60000], eax', false, 2, 0x60000],       // not present, write
      ['mov eax, [0x60000]', true, 4, 0x60000],        // user read, not present
      ['mov [0x61000], eax', true, 7, 0x61000],        // user write, read-only
      ['mov eax, [0x62000]', true, 5, 0x62000],        // user read, supervisor page
      ['mov eax, [0x5fffe]', false, 0, 0x60000],       // straddles into the absent page
    ];
    for (const [code, user, err, cr2] of cases) {
      const rig = paged(`${code}\nhlt`, { user });
      rig.wr32(PT + 0x60 * 4, 0);
      rig.wr32(PT + 0x61 * 4, 0x61000 | 5);
      rig.wr32(PT + 0x62 * 4, 0x62000 | 3);
      rig.run();
      expect(rig.u8[0x600], code).toBe(14);
      expect(rig.rd32(0x604), code).toBe(err);
      expect(rig.cpu.getState().cr2, code).toBe(cr2);
      expect(rig.rd32(0x608), code).toBe(0x2000);
    }
  });

  it('CR0.WP makes read-only pages read-only for the kernel too', () => {
    const rig = paged('mov [0x61000], eax\nhlt');
    rig.wr32(PT + 0x61 * 4, 0x61000 | 5);
    rig.run();
    expect(rig.u8[0x600]).toBe(0); // no fault: 0x600 untouched
    const rig2 = paged('mov [0x61000], eax\nhlt');
    rig2.wr32(PT + 0x61 * 4, 0x61000 | 5);
    rig2.cpu.setState({ ...rig2.cpu.getState(), cr0: 0x80010011 });
    rig2.run();
    expect(rig2.u8[0x600]).toBe(14);
    expect(rig2.rd32(0x604)).toBe(3);
  });

  it('checks a write to MMIO through a TLB entry a read filled: read-only faults, D=0 gets D', () => {
    // Linear 0x3ff000 maps physical 0x800000, beyond RAM: reads and writes there are MMIO exits.
    const mmio = (pte: number, cr0: number): Rig => {
      const rig = paged('mov eax, [0x3ff000]\nmov [0x3ff004], eax\nmov [0x3ff008], eax\nhlt');
      rig.wr32(PT + 0x3ff * 4, 0x800000 | pte);
      rig.cpu.setState({ ...rig.cpu.getState(), cr0 });
      return rig;
    };
    const exits = (rig: Rig): string[] => {
      const seen: string[] = [];
      for (;;) {
        const r = rig.run();
        const x = rig.cpu.exit;
        if (r !== ExitReason.MMIO) return seen;
        seen.push(`${x.dir === IoDir.READ ? 'r' : 'w'} ${x.addr.toString(16)}`);
        if (x.dir === IoDir.READ) {
          x.data.fill(0x5a, 0, x.size);
          rig.cpu.completeIo();
        }
      }
    };
    // Read-only, CR0.WP: the read goes out, the write faults (P|W) without reaching the device.
    const ro = mmio(5, 0x80010011);
    expect(exits(ro)).toEqual(['r 800000']);
    expect(ro.u8[0x600]).toBe(14);
    expect(ro.rd32(0x604)).toBe(3);
    // Writable with D clear: the read leaves D clear, the first write sets it, both writes go out.
    const rw = mmio(7, 0x80000011);
    expect(exits(rw)).toEqual(['r 800000', 'w 800004', 'w 800008']);
    expect(rw.u8[0x600]).toBe(0);
    expect(rw.rd32(PT + 0x3ff * 4) & 0x60).toBe(0x60);
  });

  it('keeps using a cached translation until INVLPG or a CR3 load', () => {
    const rig = paged([
      'mov eax, [0x70000]',             // fills the TLB: 0x70000 -> 0x70000
      'mov dword [0x101000 + 0x70*4], 0x71007',
      'mov ebx, [0x70000]',             // still the old mapping
      'invlpg [0x70000]',
      'mov ecx, [0x70000]',             // the new one
      'mov dword [0x101000 + 0x70*4], 0x72007',
      'mov edx, [0x70000]',             // old again
      'mov esi, cr3',
      'mov cr3, esi',
      'mov edi, [0x70000]',             // new after the CR3 load
      'hlt',
    ].join('\n'));
    rig.wr32(0x70000, 0x70);
    rig.wr32(0x71000, 0x71);
    rig.wr32(0x72000, 0x72);
    rig.run();
    const s = rig.cpu.getState();
    expect([s.eax, s.ebx, s.ecx, s.edx, s.edi]).toEqual([0x70, 0x70, 0x71, 0x71, 0x72]);
  });

  it('maps 4 MiB pages with CR4.PSE and sets A/D in the PDE', () => {
    const rig = paged('mov eax, [0x800010]\nmov [0x800020], eax\nhlt');
    rig.wr32(PD + 8, 0x000000 | 0x87); // 8-12 MiB -> 0-4 MiB
    rig.wr32(0x10, 0xfeedface);
    rig.cpu.setState({ ...rig.cpu.getState(), cr4: 0x10 });
    rig.run();
    expect(rig.cpu.getState().eax).toBe(0xfeedface);
    expect(rig.rd32(0x20)).toBe(0xfeedface);
    expect(rig.rd32(PD + 8) & 0x60).toBe(0x60);
  });

  it('translate() walks the tables without setting A/D bits', () => {
    const rig = paged('hlt');
    rig.wr32(PT + 0x80 * 4, 0x123000 | 7);
    rig.wr32(PT + 0x81 * 4, 0);
    rig.wr32(PT + 0x82 * 4, 0x82000 | 5);
    expect(rig.cpu.translate(0x80abc, false, false)).toEqual({ ok: true, phys: 0x123abc });
    expect(rig.rd32(PT + 0x80 * 4) & 0x60).toBe(0);
    expect(rig.rd32(PD) & 0x20).toBe(0);
    const miss = rig.cpu.translate(0x81000, false, false);
    expect(miss.ok).toBe(false);
    expect(rig.cpu.translate(0x82000, true, true)).toMatchObject({ ok: false, errorCode: 7 });
  });

  it('wraps at 1 MiB when A20 is closed, and notices the gate change', () => {
    const rig = new Rig();
    rig.load(0x7000, asm('mov ax, 0xffff\nmov ds, ax\nmov al, [0x10]\nhlt', 16, 0));
    rig.u8[0] = 0x11;
    rig.u8[0x100000] = 0x22;
    rig.real(0x700, 0);
    rig.run();
    expect(rig.cpu.getState().eax & 0xff).toBe(0x22);
    rig.mem.setA20(false);
    rig.real(0x700, 0);
    rig.run();
    expect(rig.cpu.getState().eax & 0xff).toBe(0x11);
  });

  it('restarts a REP MOVSB after a page fault with its registers at the faulting element', () => {
    const rig = paged('mov esi, 0x5fff0\nmov edi, 0x40000\nmov ecx, 0x20\nrep movsb\nhlt');
    rig.wr32(PT + 0x60 * 4, 0);
    rig.run();
    expect(rig.u8[0x600]).toBe(14);
    const s = rig.cpu.getState();
    expect([s.ecx, s.esi, s.edi]).toEqual([0x10, 0x60000, 0x40010]);
    expect(rig.rd32(0x608)).toBe(0x2000 + 15); // the REP MOVSB
  });
});
