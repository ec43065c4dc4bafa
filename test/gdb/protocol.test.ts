// The stub's wire protocol spoken by hand over a real socket to a real VM host (two vCPUs,
// the real-mode guest): acks and the protocol's answers to a bad checksum, an unknown and an
// overlong packet, the interrupt byte, threads, no-ack mode, qRcmd, and what detach, kill and
// a dropped connection do to gdb's breakpoints and to the VM.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { frame, GUESTS, hasGdb, hexText, RspClient, runGdb, sleep, startHost, type VmHost } from './harness.js';

/** Connects once the previous client is gone (the stub takes one gdb at a time). */
async function connect(port: number): Promise<RspClient> {
  for (let i = 0; i < 50; i++) {
    const c = await RspClient.connect(port);
    c.write(frame('qSupported:swbreak+;hwbreak+;vContSupported+'));
    try {
      const ack = await c.next(5000);
      if (ack.kind === 'ack') {
        await c.nextPacket();
        return c;
      }
    } catch {
      // Closed at once: the previous connection is still being torn down.
    }
    c.close();
    await sleep(100);
  }
  throw new Error('the stub never took a new connection');
}

function unhex(h: string): string {
  return Buffer.from(h, 'hex').toString('utf8');
}

/** The console output (O packets) up to the final reply, and that reply. */
async function monitorCommand(c: RspClient, line: string): Promise<{ text: string; reply: string }> {
  c.write(frame(`qRcmd,${hexText(line)}`));
  let text = '';
  for (;;) {
    const p = await c.nextPacket();
    if (p.startsWith('O') && p !== 'OK') text += unhex(p.slice(1));
    else return { text, reply: p };
  }
}

describe('the gdb stub on the wire', () => {
  let host: VmHost;
  beforeAll(async () => {
    host = await startHost(join(GUESTS, 'real16.img'), ['--smp', '2']);
  });
  afterAll(async () => {
    await host?.stop();
  });

  it('announces its features and describes the target', async () => {
    const c = await RspClient.connect(host.port);
    c.write(frame('qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386'));
    expect(await c.next()).toEqual({ kind: 'ack' });
    const features = (await c.nextPacket()).split(';');
    expect(features).toEqual(expect.arrayContaining(['PacketSize=4000', 'qXfer:features:read+', 'vContSupported+', 'swbreak+', 'hwbreak+']));
    expect(await c.request('vCont?')).toBe('vCont;c;C;s;S;t');
    expect(await c.request('?')).toMatch(/^T05thread:1;$/);
    expect(await c.request('qAttached')).toBe('1');

    let xml = '';
    for (let off = 0; ; ) {
      const r = await c.request(`qXfer:features:read:target.xml:${off.toString(16)},100`);
      xml += r.slice(1);
      off += r.length - 1;
      if (r[0] === 'l') break;
      expect(r[0]).toBe('m');
    }
    expect(xml).toContain('<architecture>i8086</architecture>');
    expect(xml).toContain('<feature name="org.gnu.gdb.i386.core">');
    expect(xml).toMatch(/<reg name="gs" bitsize="32"[^>]*regnum="15"/);
    expect(await c.request('qXfer:features:read:other.xml:0,100')).toBe('E00');

    // g: 16 integer registers, 8 x87 stack registers of 10 bytes, 8 x87 control registers,
    // then cr0 cr2 cr3 cr4 and six segment bases.
    const g = await c.request('g');
    expect(g.length).toBe(2 * (16 * 4 + 8 * 10 + 8 * 4 + 10 * 4));
    expect(g.slice(8 * 8, 9 * 8)).toBe('007c0000'); // eip, little-endian
    expect(await c.request('p8')).toBe('007c0000');
    expect(await c.request('m7c00,4')).toBe('fa31c08e');
    c.close();
  });

  it('answers a bad checksum with -, an unknown packet with nothing, an overlong one with an error', async () => {
    const c = await connect(host.port);
    c.write('$g#00');
    expect(await c.next()).toEqual({ kind: 'nack' });
    expect(await c.request('qNoSuchThing')).toBe('');
    expect(await c.request('vMustReplyEmpty')).toBe('');
    expect(await c.request('!')).toBe('');
    c.write(frame('M7d00,3000:' + '00'.repeat(0x3000)));
    expect(await c.next()).toEqual({ kind: 'ack' });
    expect(await c.nextPacket()).toBe('E01');
    // Malformed arguments are errors, not crashes.
    expect(await c.request('mzz,4')).toMatch(/^E/);
    expect(await c.request('m7c00')).toMatch(/^E/);
    expect(await c.request('Z0,zz,1')).toMatch(/^E/);
    expect(await c.request('Pff=00')).toMatch(/^E/);
    expect(await c.request('M7d00,2:0011aa')).toMatch(/^E/);
    expect(await c.request('Hg7')).toBe('E01');
    // And the connection still works.
    expect(await c.request('m7c00,1')).toBe('fa');
    c.close();
  });

  it('has one thread per vCPU', async () => {
    const c = await connect(host.port);
    expect(await c.request('qfThreadInfo')).toBe('m1,2');
    expect(await c.request('qsThreadInfo')).toBe('l');
    expect(await c.request('T2')).toBe('OK');
    expect(await c.request('T3')).toBe('E01');
    expect(await c.request('Hg2')).toBe('OK');
    expect(await c.request('qC')).toBe('QC2');
    expect(unhex(await c.request('qThreadExtraInfo,2'))).toMatch(/^vCPU 1, real mode/);
    expect(await c.request('Hg1')).toBe('OK');
    c.close();
  });

  it('writes registers and memory', async () => {
    const c = await connect(host.port);
    expect(await c.request('P0=78563412')).toBe('OK');
    expect(await c.request('p0')).toBe('78563412');
    const g = await c.request('g');
    // ebx is the fourth register.
    expect(await c.request('G' + g.slice(0, 24) + 'efbeadde' + g.slice(32))).toBe('OK');
    expect(await c.request('p3')).toBe('efbeadde');
    expect(await c.request('p0')).toBe('78563412');
    // The x87 registers take writes and drop them.
    expect(await c.request('P10=' + 'ff'.repeat(10))).toBe('OK');
    expect(await c.request('p10')).toBe('00'.repeat(10));
    expect(await c.request('M7d04,2:abcd')).toBe('OK');
    expect(await c.request('m7d04,2')).toBe('abcd');
    // X carries binary: 7Dh travels escaped as 7Dh 5Dh.
    expect(await c.request('X7d06,2:\x7d\x5d\x03')).toBe('OK');
    expect(await c.request('m7d06,2')).toBe('7d03');
    expect(await c.request('X7d06,0:')).toBe('OK');
    expect(await host.hmp('x /2xb 0x7d06')).toMatch(/0x7d 0x03/);
    c.close();
  });

  it('runs monitor commands with qRcmd, and says when one fails', async () => {
    const c = await connect(host.port);
    const ok = await monitorCommand(c, 'info registers');
    expect(ok.reply).toBe('OK');
    expect(ok.text).toContain('EIP=');
    const bad = await monitorCommand(c, 'frobnicate');
    expect(bad.reply).toBe('E01');
    expect(bad.text).toContain("unknown command: 'frobnicate'");
    c.close();
  });

  it('stops a running VM on Ctrl-C with SIGINT, and reports watchpoints with their address', async () => {
    const c = await connect(host.port);
    expect(await c.request('Hc1')).toBe('OK');
    c.write(frame('vCont;c'));
    expect(await c.next()).toEqual({ kind: 'ack' });
    await sleep(300);
    expect(await host.hmp('info status')).toContain('VM status: running');
    c.write('\x03');
    expect(await c.nextPacket()).toMatch(/^T02thread:[12];$/);
    expect(await host.hmp('info status')).toContain('VM status: paused');

    expect(await c.request('Z2,7d00,2')).toBe('OK');
    // The same watchpoint twice is one row (gdb may insert again what it inserted).
    expect(await c.request('Z2,7d00,2')).toBe('OK');
    expect((await host.hmp('info breakpoints')).match(/watchpoint/g)?.length).toBe(1);
    c.write(frame('vCont;c'));
    expect(await c.nextPacket()).toBe('T05thread:1;watch:7d00;');
    expect(await c.request('z2,7d00,2')).toBe('OK');
    expect(await c.request('Z0,7c2d,1')).toBe('OK');
    c.write(frame('c'));
    expect(await c.nextPacket()).toBe('T05thread:1;swbreak:;');
    expect(await c.request('z0,7c2d,1')).toBe('OK');
    // inc word [counter] reads before it writes: a read or access watchpoint sees the read.
    expect(await c.request('Z4,7d00,2')).toBe('OK');
    c.write(frame('c'));
    expect(await c.nextPacket()).toBe('T05thread:1;awatch:7d00;');
    expect(await c.request('z4,7d00,2')).toBe('OK');
    expect(await c.request('Z3,7d01,1')).toBe('OK');
    c.write(frame('c'));
    expect(await c.nextPacket()).toBe('T05thread:1;rwatch:7d01;');
    expect(await c.request('z3,7d01,1')).toBe('OK');
    expect(await c.request('Z1,7c20,1')).toBe('OK');
    c.write(frame('c'));
    expect(await c.nextPacket()).toBe('T05thread:1;hwbreak:;');
    // A step reports a plain trap.
    c.write(frame('vCont;s:1'));
    expect(await c.nextPacket()).toBe('T05thread:1;');
    expect(await c.request('p8')).toBe('247c0000');
    c.close();
    await sleep(200);
    // A dropped connection removes gdb's breakpoints and leaves the VM paused.
    expect(await host.hmp('info breakpoints')).toContain('No breakpoints or watchpoints.');
    expect(await host.hmp('info status')).toContain('VM status: paused');
  });

  it('keeps gdb breakpoints in the shared table while gdb is stopped, removes them on kill', async () => {
    const c = await connect(host.port);
    expect(await c.request('Z0,7c20,1')).toBe('OK');
    c.write(frame('c'));
    expect(await c.nextPacket()).toMatch(/^T05thread:1;swbreak:;$/);
    // gdb removes its breakpoints when it stops; the shared table keeps showing them.
    expect(await c.request('z0,7c20,1')).toBe('OK');
    expect(await host.hmp('info breakpoints')).toMatch(/breakpoint\s+keep y\s+0x00007c20/);
    c.write(frame('k'));
    await sleep(300);
    expect(c.closed).toBe(true);
    expect(await host.hmp('info breakpoints')).toContain('No breakpoints or watchpoints.');
    expect(await host.hmp('info status')).toContain('VM status: paused');
  });

  it('takes one gdb at a time', async () => {
    const a = await connect(host.port);
    const b = await RspClient.connect(host.port);
    b.write(frame('?'));
    await expect(b.next(3000)).rejects.toThrow(/closed/);
    expect(await a.request('?')).toMatch(/^T/);
    a.close();
  });

  it('goes quiet in no-ack mode, and detach resumes the VM', async () => {
    const c = await connect(host.port);
    c.write(frame('QStartNoAckMode'));
    expect(await c.next()).toEqual({ kind: 'ack' });
    expect(await c.nextPacket()).toBe('OK');
    c.write(frame('m7c00,2'));
    // No + before the reply any more.
    expect(await c.next()).toEqual({ kind: 'packet', data: 'fa31' });
    // A bad checksum is dropped silently in no-ack mode; the next packet is answered.
    c.write('$m7c00,2#00');
    c.write(frame('m7c01,1'));
    expect(await c.next()).toEqual({ kind: 'packet', data: '31' });
    c.write(frame('D'));
    expect(await c.next()).toEqual({ kind: 'packet', data: 'OK' });
    await sleep(300);
    expect(await host.hmp('info status')).toContain('VM status: running');
    c.close();
  });
});

describe('the gdbserver monitor command', () => {
  let host: VmHost;
  beforeAll(async () => {
    host = await startHost(join(GUESTS, 'real16.img'), [], { gdb: false });
  });
  afterAll(async () => {
    await host?.stop();
  });

  it.skipIf(!hasGdb())('starts a stub on a port the OS picks, and gdb attaches to it', async () => {
    const said = await host.hmp('gdbserver tcp::0');
    const m = /^Waiting for gdb connection on tcp:127\.0\.0\.1:(\d+)$/.exec(said);
    expect(m).not.toBeNull();
    const { out } = await runGdb(Number(m![1]), ['info registers eip', 'detach']);
    expect(out).toMatch(/^eip\s+0x7c00\s/m);
    expect(out).toContain('detached');
    await expect(host.hmp(`gdbserver tcp::${m![1]}`)).rejects.toThrow(/cannot listen on tcp:127\.0\.0\.1:\d+: the port is in use/);
    await expect(host.hmp('gdbserver unix:/tmp/x')).rejects.toThrow(/expected tcp::PORT or tcp:HOST:PORT/);
  });

  it('tells a waiting gdb that the target exited when the VM host quits', async () => {
    const said = await host.hmp('gdbserver tcp::0');
    const port = Number(/:(\d+)$/.exec(said)![1]);
    const c = await RspClient.connect(port);
    expect(await c.request('?')).toMatch(/^T05/);
    c.write(frame('vCont;c'));
    expect(await c.next()).toEqual({ kind: 'ack' });
    await sleep(200);
    await host.hmp('quit').catch(() => undefined);
    expect(await c.nextPacket()).toBe('W00');
    await new Promise((r) => host.proc.once('exit', r));
  });
});
