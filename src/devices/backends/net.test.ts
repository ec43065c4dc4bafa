import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../common/errors.js';
import { Ne2000 } from '../models/ne2000.js';
import { TestBus } from '../models/testing/bus.js';
import { TestContext } from '../models/testing/TestContext.js';
import { PcapWriter, UdpNet, openNetdev, parseNetdevSpec } from './net.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvmon-net-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function hasTshark(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Waits until cond() holds, polling the event loop (bounded). */
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for frames');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function ethFrame(dst: number[], src: number[], payload: string): Uint8Array {
  const p = Buffer.from(payload);
  const f = new Uint8Array(14 + Math.max(46, p.length));
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb5; // local experimental ethertype
  f.set(p, 14);
  return f;
}

/** Two hub ports on OS-chosen loopback ports, each the other's peer. */
async function pair(pcapA?: string): Promise<[UdpNet, UdpNet]> {
  const a = await UdpNet.open({ type: 'udp', listen: { host: '127.0.0.1', port: 0 }, peers: [], pcap: pcapA });
  const b = await UdpNet.open('udp,listen=127.0.0.1:0');
  a.addPeer('127.0.0.1', b.port);
  b.addPeer('127.0.0.1', a.port);
  return [a, b];
}

describe('--netdev parsing', () => {
  it('parses listen, peers and pcap', () => {
    expect(parseNetdevSpec('udp,id=n0,listen=5001,peer=127.0.0.1:5002,peer=localhost:5003,pcap=/tmp/x.pcap')).toEqual({
      type: 'udp', id: 'n0', listen: { host: '127.0.0.1', port: 5001 },
      peers: [{ host: '127.0.0.1', port: 5002 }, { host: '127.0.0.1', port: 5003 }], pcap: '/tmp/x.pcap',
    });
    expect(parseNetdevSpec('udp,listen=[::1]:7000').listen).toEqual({ host: '::1', port: 7000 });
  });

  it('refuses non-loopback addresses and malformed options', () => {
    expect(() => parseNetdevSpec('udp,listen=5001,peer=10.0.0.1:5002')).toThrow(/only loopback/);
    expect(() => parseNetdevSpec('udp,listen=0.0.0.0:5001')).toThrow(/only loopback/);
    expect(() => parseNetdevSpec('tap,listen=5001')).toThrow(UsageError);
    expect(() => parseNetdevSpec('udp,peer=127.0.0.1:1')).toThrow(/listen=PORT is required/);
    expect(() => parseNetdevSpec('udp,listen=5001,peer=5002')).toThrow(/HOST:PORT/);
    expect(() => parseNetdevSpec('udp,listen=5001,mcast=x')).toThrow(/unknown option 'mcast'/);
  });

  it('takes the NIC\'s MAC address, unicast only', () => {
    expect(parseNetdevSpec('udp,listen=5001,peer=127.0.0.1:5002,mac=52:54:00:AB:cd:57').mac).toBe('52:54:00:ab:cd:57');
    expect(parseNetdevSpec('udp,listen=5001').mac).toBeUndefined();
    expect(() => parseNetdevSpec('udp,listen=5001,mac=52:54:00:12:34')).toThrow(/unicast MAC/);
    expect(() => parseNetdevSpec('udp,listen=5001,mac=01:00:5e:00:00:01')).toThrow(/unicast MAC/);
  });
});

describe('udp hub backend', () => {
  it('exchanges Ethernet frames between two hub ports over real sockets', async () => {
    const [a, b] = await pair();
    try {
      const gotA: Uint8Array[] = [];
      const gotB: Uint8Array[] = [];
      a.setReceiveHandler((f) => gotA.push(f));
      b.setReceiveHandler((f) => gotB.push(f));
      const f1 = ethFrame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [2, 0, 0, 0, 0, 1], 'hello from A');
      const f2 = ethFrame([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], 'hello from B');
      a.send(f1);
      b.send(f2);
      await until(() => gotA.length === 1 && gotB.length === 1);
      expect(gotB[0]).toEqual(f1);
      expect(gotA[0]).toEqual(f2);
      expect(a.stats).toMatchObject({ txFrames: 1, rxFrames: 1, txErrors: 0 });
    } finally {
      a.close();
      b.close();
    }
  });

  it('drops datagrams from strangers and runts', async () => {
    const [a, b] = await pair();
    const stranger = await UdpNet.open('udp,listen=0');
    try {
      const got: Uint8Array[] = [];
      a.setReceiveHandler((f) => got.push(f));
      stranger.addPeer('127.0.0.1', a.port);
      stranger.send(ethFrame([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 7], 'x'));
      b.send(new Uint8Array(10));
      b.send(ethFrame([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 8], 'ok'));
      await until(() => got.length === 1 && a.stats.rxDropped === 2);
      expect(Buffer.from(got[0].subarray(14, 16)).toString()).toBe('ok');
    } finally {
      a.close();
      b.close();
      stranger.close();
    }
  });

  it('reports a port already taken as a BackendError', async () => {
    const a = await UdpNet.open('udp,listen=0');
    try {
      await expect(UdpNet.open(`udp,listen=${a.port}`)).rejects.toThrow(/cannot listen on UDP 127.0.0.1:\d+: .*EADDRINUSE/);
      // The daemon's synchronous entry reports it through `ready` and onError.
      const b = openNetdev(`udp,listen=${a.port}`);
      const errors: Error[] = [];
      b.onError = (e) => errors.push(e);
      await expect(b.ready).rejects.toThrow(/EADDRINUSE/);
      expect(errors).toHaveLength(1);
      b.send(new Uint8Array(60));
      b.close();
    } finally {
      a.close();
    }
  });

  it('queues frames sent before the background bind finished', async () => {
    const a = await UdpNet.open('udp,listen=0');
    try {
      const got: Uint8Array[] = [];
      a.setReceiveHandler((f) => got.push(f));
      const probe = await UdpNet.open('udp,listen=0');
      const port = probe.port;
      probe.close();
      await new Promise((r) => setTimeout(r, 20));
      const b = openNetdev(`udp,listen=${port},peer=127.0.0.1:${a.port}`);
      a.addPeer('127.0.0.1', port);
      b.send(ethFrame([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1], 'early'));
      await b.ready;
      await until(() => got.length === 1);
      b.close();
    } finally {
      a.close();
    }
  });

  it('carries frames between two NE2000s in two "VMs", and the pcap opens in tshark', async () => {
    const pcap = path.join(dir, 'hub.pcap');
    const [netA, netB] = await pair(pcap);
    try {
      const mk = (net: UdpNet, mac: string) => {
        const ctx = new TestContext();
        const nic = new Ne2000('ne0', { iobase: 0x300, irq: 9, mac }, ctx, { net });
        return { ctx, nic, bus: new TestBus(nic) };
      };
      const A = mk(netA, '52:54:00:00:00:0a');
      const B = mk(netB, '52:54:00:00:00:0b');
      for (const [vm, mac] of [[A, [0x52, 0x54, 0, 0, 0, 0x0a]], [B, [0x52, 0x54, 0, 0, 0, 0x0b]]] as const) {
        const o = (r: number, v: number) => vm.bus.outb(0x300 + r, v);
        o(0, 0x21); o(0x0e, 0x49); o(1, 0x46); o(3, 0x46); o(2, 0x80); o(7, 0xff); o(0x0f, 0x7f);
        o(0, 0x61); mac.forEach((b, i) => o(1 + i, b)); o(7, 0x47);
        o(0, 0x22); o(0x0d, 0); o(0x0c, 0x04);
      }
      // The guest on A sends a frame to B: remote-DMA it into page 40h, then TXP.
      const f = ethFrame([0x52, 0x54, 0, 0, 0, 0x0b], [0x52, 0x54, 0, 0, 0, 0x0a], 'ping over the hub');
      const o = (r: number, v: number) => A.bus.outb(0x300 + r, v);
      o(0x0a, f.length); o(0x0b, 0); o(8, 0); o(9, 0x40); o(0, 0x12);
      A.bus.pio.writeRep(0x310 as never, 2, f.length / 2, f);
      o(4, 0x40); o(5, f.length); o(6, 0); o(0, 0x26);
      expect(A.bus.inb(0x307) & 0x02).toBe(0x02);
      await until(() => (B.nic.inspect().counters!.rxFrames as number) === 1);
      expect(B.ctx.irqLevels[9]).toBe(true);
      // B's driver reads the packet out of its ring.
      const ob = (r: number, v: number) => B.bus.outb(0x300 + r, v);
      ob(0x0a, 64); ob(0x0b, 0); ob(8, 0); ob(9, 0x47); ob(0, 0x0a);
      const got = new Uint8Array(64);
      B.bus.pio.readRep(0x310 as never, 2, 32, got);
      expect(Array.from(got.subarray(0, 4))).toEqual([0x01, 0x48, 64, 0]);
      expect(got.subarray(4)).toEqual(f);
      netA.close();
      expect(fs.statSync(pcap).size).toBe(24 + 16 + f.length);
      if (hasTshark()) {
        const out = execFileSync('tshark', ['-r', pcap, '-T', 'fields', '-e', 'eth.src', '-e', 'eth.dst', '-e', 'eth.type'], { encoding: 'utf8' });
        expect(out.trim()).toBe('52:54:00:00:00:0a\t52:54:00:00:00:0b\t0x88b5');
      }
    } finally {
      netA.close();
      netB.close();
    }
  });

  it('writes received frames to the pcap too, in order, and names an unwritable pcap file', async () => {
    const pcap = path.join(dir, 'rx.pcap');
    const [a, b] = await pair(pcap);
    try {
      let n = 0;
      a.setReceiveHandler(() => n++);
      a.send(ethFrame([1, 1, 1, 1, 1, 1], [2, 2, 2, 2, 2, 2], 'out'));
      b.send(ethFrame([2, 2, 2, 2, 2, 2], [1, 1, 1, 1, 1, 1], 'in'));
      await until(() => n === 1);
    } finally {
      a.close();
      b.close();
    }
    if (hasTshark()) {
      const out = execFileSync('tshark', ['-r', pcap, '-T', 'fields', '-e', 'frame.number', '-e', 'eth.src'], { encoding: 'utf8' });
      expect(out.trim().split('\n')).toEqual(['1\t02:02:02:02:02:02', '2\t01:01:01:01:01:01']);
    }
    expect(() => new PcapWriter(path.join(dir, 'no', 'such', 'dir.pcap'))).toThrow(/cannot write pcap file .*dir.pcap: ENOENT/);
  });
});
