// The board's wiring table: what --netdev's mac= becomes.
import { describe, expect, it } from 'vitest';
import { pcDevices } from './pc.js';

const base = { ramSize: 32 << 20, serial: ['vc', 'null'], drives: [], extra: [] };

describe('pc board', () => {
  it('gives each NE2000 the MAC address its --netdev names, and otherwise one counted up as QEMU does', () => {
    const devs = pcDevices({ ...base, netdevs: ['udp,listen=5001,peer=127.0.0.1:5002,mac=52:54:00:aa:bb:cc', 'udp,listen=5003', 'udp,listen=5005'] });
    const nics = devs.filter((d) => d.kind === 'ne2000');
    expect(nics.map((d) => d.props)).toEqual([
      { iobase: 0x300, irq: 9, mac: '52:54:00:aa:bb:cc' },
      { iobase: 0x320, irq: 10, mac: '52:54:00:12:34:57' },
      { iobase: 0x340, irq: 11, mac: '52:54:00:12:34:58' },
    ]);
  });
});
