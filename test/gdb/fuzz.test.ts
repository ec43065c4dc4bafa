// Fuzzes the gdb stub over real sockets against a real VM host: random bytes, real packets,
// mutated packets (with right and wrong checksums), overlong packets and interrupt bytes, on
// connections that are dropped at random moments. Whatever the guest ends up doing (the
// fuzzer writes registers and memory), the host must stay up, its monitor must answer, and
// a well-behaved gdb session must work afterwards. HVMON_FUZZ_SEED and HVMON_FUZZ_ROUNDS
// replay or lengthen a run.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { frame, GUESTS, hexText, RspClient, sleep, startHost, type VmHost } from './harness.js';

const SEED = Number(process.env.HVMON_FUZZ_SEED ?? 0x5eed);
const ROUNDS = Number(process.env.HVMON_FUZZ_ROUNDS ?? 150);

/** Real packets, as gdb sends them (no commands that would end the VM host). */
const CORPUS = [
  '?', 'g', 'p8', 'p1f', 'P0=11223344', 'P8=207c0000', 'Pa=00000000', 'm7c00,40', 'mfffffff0,20', 'm0,4000',
  'M7d00,2:0102', 'X7d00,2:\x01\x7d\x5d', 'X7d00,0:', 'c', 's', 'C05', 'S05;7c20', 'c7c20', 'vCont;c', 'vCont;s:1',
  'vCont;s:1;c', 'vCont;c:2', 'vCont;t:1', 'vCont?', 'vCtrlC', 'Z0,7c20,1', 'z0,7c20,1', 'Z1,7c24,1', 'z1,7c24,1',
  'Z2,7d00,2', 'z2,7d00,2', 'Z3,7d00,2', 'Z4,7d00,4', 'z4,7d00,4', 'Z2,fffffffe,4', 'Hg1', 'Hc2', 'Hg-1', 'Hc0', 'T1',
  'T2', 'qfThreadInfo', 'qsThreadInfo', 'qC', 'qAttached', 'qThreadExtraInfo,2', 'qSymbol::', 'qTStatus',
  'qXfer:features:read:target.xml:0,ffb', 'qXfer:features:read:target.xml:400,10', 'qSupported:swbreak+;hwbreak+',
  `qRcmd,${hexText('info registers')}`, `qRcmd,${hexText('info breakpoints')}`, `qRcmd,${hexText('x /4xb 0x7c00')}`,
  `qRcmd,${hexText('break io 0x3f8 w')}`, `qRcmd,${hexText('delete')}`, 'QStartNoAckMode', 'vMustReplyEmpty', 'D', 'D;1',
  'k', 'vKill;1', '!', 'R00', 'G' + '00'.repeat(216),
];

function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

function mutate(p: string, rand: (n: number) => number): string {
  const c = p.split('');
  for (let k = 1 + rand(3); k > 0; k--) {
    const at = rand(c.length + 1);
    switch (rand(4)) {
      case 0: c[at] = String.fromCharCode(rand(256)); break;
      case 1: c.splice(at, 0, String.fromCharCode(rand(256))); break;
      case 2: c.splice(at, 1); break;
      default: c.splice(at, 0, '0123456789abcdef,:;='[rand(20)]);
    }
  }
  return c.join('');
}

function connectRaw(port: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.once('error', () => resolve(null));
    s.connect(port, '127.0.0.1', () => resolve(s));
  });
}

describe('fuzzing the gdb stub over real sockets', () => {
  let host: VmHost;
  beforeAll(async () => {
    host = await startHost(join(GUESTS, 'real16.img'), ['--smp', '2']);
  });
  afterAll(async () => {
    await host?.stop();
  });

  it(`never takes the host down (seed ${SEED}, ${ROUNDS} connections)`, async () => {
    const rand = rng(SEED);
    let answered = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const s = await connectRaw(host.port);
      if (!s) continue;
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString('latin1')));
      s.on('error', () => undefined);
      for (let k = 1 + rand(30); k > 0; k--) {
        const pick = rand(10);
        let chunk: string;
        if (pick < 3) chunk = frame(CORPUS[rand(CORPUS.length)]);
        else if (pick < 6) {
          const m = mutate(CORPUS[rand(CORPUS.length)], rand);
          chunk = rand(4) === 0 ? `$${m}#${rand(256).toString(16).padStart(2, '0')}` : frame(m);
        } else if (pick < 8) chunk = String.fromCharCode(...Array.from({ length: rand(300) }, () => rand(256)));
        else if (pick < 9) chunk = frame('M7d00,4000:' + 'ab'.repeat(0x4000 + rand(100)));
        else chunk = '\x03';
        if (!s.destroyed) s.write(Buffer.from(chunk, 'latin1'));
        if (rand(4) === 0) await sleep(rand(20));
      }
      // Sometimes wait for what the stub says, sometimes hang up at once.
      await sleep(rand(3) === 0 ? 200 : rand(30));
      if (got.includes('$')) answered++;
      s.destroy();
    }
    expect(answered).toBeGreaterThan(ROUNDS / 3);

    // The host is up, its monitor answers, and a well-behaved session works.
    expect(host.proc.exitCode).toBeNull();
    expect(await host.hmp('info status')).toMatch(/VM status: (running|paused)/);
    // Every connection is gone, and so is every breakpoint and watchpoint gdb inserted (the
    // monitor's own I/O breakpoints from qRcmd may stay).
    await sleep(500);
    expect(await host.hmp('info breakpoints')).not.toMatch(/^\d+\s+(breakpoint|watchpoint)\s/m);
    let c: RspClient | null = null;
    for (let i = 0; i < 50 && !c; i++) {
      const t = await RspClient.connect(host.port);
      t.write(frame('qSupported:swbreak+'));
      try {
        if ((await t.next(3000)).kind === 'ack') c = t;
      } catch {
        t.close();
        await sleep(100);
      }
    }
    expect(c).not.toBeNull();
    expect(await c!.nextPacket()).toContain('PacketSize=4000');
    expect(await c!.request('?')).toMatch(/^T[0-9a-f]{2}thread:[12];/);
    expect(await c!.request('qfThreadInfo')).toBe('m1,2');
    expect(await c!.request('m7c00,1')).toMatch(/^([0-9a-f]{2}|E\d\d)$/);
    c!.close();
    expect(host.output()).not.toMatch(/Unhandled|node:internal|TypeError|RangeError/);
  }, 60_000 + ROUNDS * 500);
});
