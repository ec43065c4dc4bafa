import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackendError, UsageError } from '../../common/errors.js';
import { type Chardev, FileChardev, SocketChardev, StdioChardev, formatChardev, openChardev, parseChardev } from './chardev.js';

let dir: string;
const opened: Chardev[] = [];
const sockets: net.Socket[] = [];
const servers: net.Server[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvmon-chardev-'));
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(opened.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  fs.rmSync(dir, { recursive: true, force: true });
});

function open(spec: string): Chardev {
  const c = openChardev(spec);
  opened.push(c);
  return c;
}

/** Collects what arrives on a socket until `n` bytes came. */
function receive(sock: net.Socket, n: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const on = (d: Buffer) => {
      got += d.toString('latin1');
      if (got.length >= n) {
        sock.removeListener('data', on);
        resolve(got);
      }
    };
    sock.on('data', on);
  });
}

/** Input the backend hands to the device, as a promise of the first `n` bytes. */
function input(c: Chardev, n: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    c.setInputHandler((d) => {
      got += Buffer.from(d).toString('latin1');
      if (got.length >= n) resolve(got);
    });
  });
}

function connectTcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.on('error', reject);
    sockets.push(s);
  });
}

const enc = (s: string) => new TextEncoder().encode(s);
const tcpPort = (c: Chardev) => ((c as SocketChardev).address() as net.AddressInfo).port;

describe('parseChardev', () => {
  it('parses the QEMU -serial forms', () => {
    expect(parseChardev('null')).toEqual({ type: 'null' });
    expect(parseChardev('none')).toEqual({ type: 'null' });
    expect(parseChardev('stdio')).toEqual({ type: 'stdio', signal: true });
    expect(parseChardev('stdio,signal=off')).toEqual({ type: 'stdio', signal: false });
    expect(parseChardev('file:/tmp/out.log')).toEqual({ type: 'file', path: '/tmp/out.log', append: false });
    expect(parseChardev('file:/tmp/a,,b.log,append')).toEqual({ type: 'file', path: '/tmp/a,b.log', append: true });
    expect(parseChardev('tcp::4444,server,nowait')).toEqual({
      type: 'tcp', host: '127.0.0.1', port: 4444, server: true, wait: false, nodelay: false,
    });
    expect(parseChardev('tcp:localhost:4444,server=on,wait=off,nodelay')).toMatchObject({ host: 'localhost', server: true, wait: false, nodelay: true });
    expect(parseChardev('tcp:[::1]:5555')).toMatchObject({ host: '::1', port: 5555, server: false });
    expect(parseChardev('tcp:127.0.0.1:4444,server')).toMatchObject({ server: true, wait: true });
    expect(parseChardev('unix:/tmp/s.sock,server,nowait')).toEqual({ type: 'unix', path: '/tmp/s.sock', server: true, wait: false });
  });

  it('formats back to the canonical spec', () => {
    for (const s of ['null', 'stdio', 'file:/tmp/a,,b,append', 'tcp:127.0.0.1:4444,server,nowait', 'tcp:[::1]:80', 'unix:/x,server']) {
      expect(formatChardev(parseChardev(s))).toBe(s);
    }
  });

  it('rejects malformed specs with messages that say what is expected', () => {
    const bad: [string, RegExp][] = [
      ['serial0', /expected null, stdio, file:PATH/],
      ['file:', /file needs a path/],
      ['tcp:4444', /expected tcp:\[HOST\]:PORT/],
      ['tcp:10.0.0.1:4444', /not a loopback address/],
      ['tcp::70000', /out of range/],
      ['tcp::4444,nowait', /only apply to a server/],
      ['tcp::0', /needs a port/],
      ['tcp::4444,server,telnet', /unknown option telnet \(allowed: server, wait, nowait, nodelay\)/],
      ['stdio,signal=maybe', /signal=maybe: expected on or off/],
      ['null:x', /takes no argument/],
    ];
    for (const [spec, re] of bad) {
      expect(() => parseChardev(spec), spec).toThrow(UsageError);
      expect(() => parseChardev(spec), spec).toThrow(re);
    }
  });
});

describe('file and null backends', () => {
  it('file truncates on open, as QEMU does, and writes every byte', async () => {
    const p = path.join(dir, 'serial.log');
    fs.writeFileSync(p, 'old contents\n');
    const c = open(`file:${p}`);
    expect(c).toBeInstanceOf(FileChardev);
    c.write(enc('hello '));
    c.write(enc('world\n'));
    expect(fs.readFileSync(p, 'utf8')).toBe('hello world\n');
    await c.close();
    const a = open(`file:${p},append`);
    a.write(enc('more\n'));
    expect(fs.readFileSync(p, 'utf8')).toBe('hello world\nmore\n');
  });

  it('a file that cannot be opened is a clear error at once', () => {
    expect(() => openChardev(`file:${path.join(dir, 'no/such/dir/x.log')}`)).toThrow(BackendError);
    expect(() => openChardev(`file:${path.join(dir, 'no/such/dir/x.log')}`)).toThrow(/cannot open chardev file .*ENOENT/);
  });

  it('null discards output', async () => {
    const c = open('null');
    c.write(enc('x'));
    await c.ready;
    expect(c.name).toBe('null');
  });
});

describe('stdio backend', () => {
  it('passes input to the device and output to the terminal stream', async () => {
    const inp = new PassThrough();
    const out = new PassThrough();
    const c = new StdioChardev({ type: 'stdio', signal: true }, { input: inp, output: out });
    opened.push(c);
    const got = input(c, 3);
    inp.write('abc');
    expect(await got).toBe('abc');
    c.write(enc('out'));
    expect(out.read().toString()).toBe('out');
    await c.close();
    expect(inp.listenerCount('data')).toBe(0);
  });

  it('puts a TTY in raw mode and restores it on close', async () => {
    const inp = Object.assign(new PassThrough(), { isTTY: true, modes: [] as boolean[], setRawMode(r: boolean) { this.modes.push(r); } });
    const c = new StdioChardev({ type: 'stdio', signal: false }, { input: inp, output: new PassThrough() });
    const got = input(c, 1);
    inp.write('\x03'); // signal=off: Ctrl-C goes to the guest
    expect(await got).toBe('\x03');
    await c.close();
    expect(inp.modes).toEqual([true, false]);
  });
});

describe('TCP backends on loopback', () => {
  it('a nowait server is ready when listening; one client at a time; input and output both ways', async () => {
    const c = open('tcp:127.0.0.1:0,server,nowait');
    const events: boolean[] = [];
    let notify: (() => void) | null = null;
    c.onConnection = (up) => {
      events.push(up);
      notify?.();
    };
    const nextEvent = () => new Promise<void>((r) => (notify = r));
    await c.ready;
    c.write(enc('lost before anyone connects'));
    let ev = nextEvent();
    const client = await connectTcp(tcpPort(c));
    await ev;
    const got = input(c, 5);
    client.write('hello');
    expect(await got).toBe('hello');
    const rx = receive(client, 6);
    c.write(enc('world!'));
    expect(await rx).toBe('world!');
    // A second client is refused while the first is connected.
    const second = await connectTcp(tcpPort(c));
    await new Promise((r) => second.on('close', r));
    // The first leaves; the next one is served.
    ev = nextEvent();
    client.destroy();
    await ev;
    ev = nextEvent();
    const third = await connectTcp(tcpPort(c));
    await ev;
    const rx3 = receive(third, 2);
    c.write(enc('hi'));
    expect(await rx3).toBe('hi');
    expect(events).toEqual([true, false, true]);
    expect((c as SocketChardev).dropped).toBe('lost before anyone connects'.length);
  });

  it('a waiting server keeps early output for its first client and resolves ready on connect', async () => {
    const c = open('tcp::0,server');
    let ready = false;
    void c.ready.then(() => (ready = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(ready).toBe(false);
    c.write(enc('boot log\n'));
    const client = await connectTcp(tcpPort(c));
    expect(await receive(client, 9)).toBe('boot log\n');
    await c.ready;
    expect(ready).toBe(true);
  });

  it('a client connects, buffers output until connected, and carries input', async () => {
    const server = net.createServer();
    servers.push(server);
    const accepted = new Promise<net.Socket>((r) => server.on('connection', (s) => { sockets.push(s); r(s); }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const c = open(`tcp:127.0.0.1:${port}`);
    c.write(enc('early '));
    const peer = await accepted;
    await c.ready;
    const rx = receive(peer, 10);
    c.write(enc('late'));
    expect(await rx).toBe('early late');
    const got = input(c, 4);
    peer.write('ping');
    expect(await got).toBe('ping');
  });

  it('a refused connection rejects ready and reports through onError', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const c = open(`tcp:127.0.0.1:${port}`);
    const errors: Error[] = [];
    c.onError = (e) => errors.push(e);
    await expect(c.ready).rejects.toThrow(/cannot connect: .*ECONNREFUSED/);
    expect(errors[0]).toBeInstanceOf(BackendError);
    c.write(enc('nowhere')); // never throws into the guest
  });

  it('a port in use is reported', async () => {
    const a = open('tcp::0,server,nowait');
    await a.ready;
    const b = open(`tcp::${tcpPort(a)},server,nowait`);
    await expect(b.ready).rejects.toThrow(/cannot listen: .*EADDRINUSE/);
  });
});

describe('unix socket backends', () => {
  it('server mode 0600, removes a stale socket, talks to a client backend', async () => {
    const p = path.join(dir, 'com1.sock');
    // A stale socket file from an earlier run.
    const stale = net.createServer();
    await new Promise<void>((r) => stale.listen(p, () => r()));
    await new Promise((r) => { stale.close(r); });
    fs.writeFileSync(path.join(dir, 'plain'), '');
    expect(() => openChardev(`unix:${path.join(dir, 'plain')},server,nowait`)).toThrow(/exists and is not a socket/);
    const srv = open(`unix:${p},server,nowait`);
    await srv.ready;
    expect(fs.statSync(p).mode & 0o777).toBe(0o600);
    const cli = open(`unix:${p}`);
    await cli.ready;
    const got = input(srv, 3);
    cli.write(enc('abc'));
    expect(await got).toBe('abc');
    const back = input(cli, 3);
    srv.write(enc('xyz'));
    expect(await back).toBe('xyz');
    await srv.close();
    expect(fs.existsSync(p)).toBe(false);
  });

  it('input that arrives before a device listens is kept for it', async () => {
    const p = path.join(dir, 'early.sock');
    const srv = open(`unix:${p},server,nowait`);
    await srv.ready;
    const cli = open(`unix:${p}`);
    await cli.ready;
    cli.write(enc('typed early'));
    // Let the bytes arrive over loopback while no device listens yet.
    await new Promise((r) => setTimeout(r, 100));
    expect(await input(srv, 11)).toBe('typed early');
  });
});
