import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendError, UsageError } from '../../common/errors.js';
import { Ide } from '../models/ide.js';
import { TestBus } from '../models/testing/bus.js';
import { TestContext } from '../models/testing/TestContext.js';
import { RawDisk, parseDriveSpec } from './disk.js';

let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvmon-disk-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function makeImage(name: string, sectors: number): string {
  const p = path.join(dir, name);
  const b = Buffer.alloc(sectors * 512);
  for (let i = 0; i < sectors; i++) b.writeUInt32LE(i, i * 512);
  fs.writeFileSync(p, b);
  return p;
}

const sha = (p: string) => createHash('sha256').update(fs.readFileSync(p)).digest('hex');

describe('--drive parsing', () => {
  it('parses the QEMU-style options', () => {
    expect(parseDriveSpec('file=disk.img')).toEqual({ file: 'disk.img', format: 'raw', readonly: false, snapshot: false, if: 'ide' });
    expect(parseDriveSpec('file=a,,b.img,format=raw,readonly=on,snapshot=off,if=ide,index=2')).toEqual({
      file: 'a,b.img', format: 'raw', readonly: true, snapshot: false, if: 'ide', index: 2,
    });
    expect(parseDriveSpec('snapshot=on,file=x').snapshot).toBe(true);
  });

  it('rejects what hvmon cannot do, saying why', () => {
    expect(() => parseDriveSpec('format=qcow2,file=x')).toThrow(/raw images only/);
    expect(() => parseDriveSpec('file=x,if=virtio')).toThrow(/IDE only/);
    expect(() => parseDriveSpec('file=x,index=4')).toThrow(UsageError);
    expect(() => parseDriveSpec('file=x,cache=none')).toThrow(/unknown option 'cache'/);
    expect(() => parseDriveSpec('readonly=on')).toThrow(/file= is required/);
    expect(() => parseDriveSpec('file=x,readonly=maybe')).toThrow(/on or off/);
  });
});

describe('raw disk backend', () => {
  it('reads and writes a real file, and flushes it', () => {
    const p = makeImage('rw.img', 64);
    const d = RawDisk.open(`file=${p}`);
    expect(d.size).toBe(64 * 512);
    expect(d.readOnly).toBe(false);
    const b = new Uint8Array(1024);
    d.read(10 * 512, b);
    expect(Buffer.from(b).readUInt32LE(0)).toBe(10);
    expect(Buffer.from(b).readUInt32LE(512)).toBe(11);
    d.write(5 * 512, new Uint8Array(512).fill(0xee));
    d.flush();
    d.close();
    expect(fs.readFileSync(p)[5 * 512 + 7]).toBe(0xee);
  });

  it('fails at open with an error naming a missing or unusable image', () => {
    const missing = path.join(dir, 'nope.img');
    expect(() => RawDisk.open(`file=${missing}`)).toThrow(BackendError);
    expect(() => RawDisk.open(`file=${missing}`)).toThrow(new RegExp(`cannot open disk image ${missing}.*ENOENT`));
    expect(() => RawDisk.open(`file=${dir}`)).toThrow(/cannot open disk image .*EISDIR/);
    expect(() => RawDisk.open(`file=${dir},readonly=on`)).toThrow(/disk image .* is a directory/);
    const tiny = path.join(dir, 'tiny.img');
    fs.writeFileSync(tiny, 'abc');
    expect(() => RawDisk.open(`file=${tiny}`)).toThrow(/smaller than one sector/);
  });

  it('refuses writes when readonly=on, and opens the file read-only', () => {
    const p = makeImage('ro.img', 8);
    fs.chmodSync(p, 0o444);
    const d = RawDisk.open(`file=${p},readonly=on`);
    expect(d.readOnly).toBe(true);
    expect(() => d.write(0, new Uint8Array(512))).toThrow(/read-only/);
    d.close();
  });

  it('turns a host write error into a BackendError', () => {
    const p = makeImage('broken.img', 8);
    const d = RawDisk.open(`file=${p}`);
    fs.closeSync(d.fd); // the host loses the file under us
    expect(() => d.write(0, new Uint8Array(512))).toThrow(/write to disk image .*broken.img at byte 0 failed: EBADF/);
    expect(() => d.flush()).toThrow(/fsync of disk image .*broken.img failed/);
  });

  it('keeps snapshot=on writes in memory: the guest reads them back, the image stays byte-identical', () => {
    const p = makeImage('snap.img', 128);
    const before = sha(p);
    const mtime = fs.statSync(p).mtimeMs;
    const d = RawDisk.open(`file=${p},snapshot=on`);
    expect(d.readOnly).toBe(false);
    d.write(3 * 512, new Uint8Array(512).fill(0xab));
    d.write(7 * 512 + 100, new Uint8Array(1000).fill(0xcd)); // unaligned, spans three sectors
    d.flush();
    const b = new Uint8Array(512 * 6);
    d.read(3 * 512, b);
    expect(b[0]).toBe(0xab);
    expect(Buffer.from(b).readUInt32LE(512)).toBe(4);
    expect(Buffer.from(b).readUInt32LE(4 * 512)).toBe(7); // sector 7 before byte 100 untouched
    expect(b[4 * 512 + 100]).toBe(0xcd);
    expect(d.overlaySectors).toBe(4);
    d.close();
    expect(sha(p)).toBe(before);
    expect(fs.statSync(p).mtimeMs).toBe(mtime);
  });

  it('serves the IDE model: a guest write through ATA commands, with snapshot=on leaving the file alone', () => {
    const p = makeImage('ide.img', 2048);
    const before = sha(p);
    const disk = RawDisk.open(`file=${p},snapshot=on`);
    const ctx = new TestContext();
    const ide = new Ide('ide0', { iobase: 0x1f0, iobase2: 0x3f6, irq: 14 }, ctx, { master: disk });
    const bus = new TestBus(ide);
    bus.outb(0x1f2, 1);
    bus.outb(0x1f3, 42);
    bus.outb(0x1f4, 0);
    bus.outb(0x1f5, 0);
    bus.outb(0x1f6, 0xe0);
    bus.outb(0x1f7, 0x30);
    for (let i = 0; i < 256; i++) bus.outw(0x1f0, 0xbeef);
    expect(bus.inb(0x1f7)).toBe(0x50);
    bus.outb(0x1f7, 0xe7); // FLUSH CACHE
    expect(bus.inb(0x1f7)).toBe(0x50);
    bus.outb(0x1f2, 2);
    bus.outb(0x1f3, 41);
    bus.outb(0x1f7, 0x20);
    const words = Array.from({ length: 512 }, () => bus.inw(0x1f0));
    expect(words[0]).toBe(41);
    expect(words[256]).toBe(0xbeef);
    disk.close();
    expect(sha(p)).toBe(before);
  });
});

describe('drive placement', () => {
  it('puts index=N drives in their slot and the rest in order', async () => {
    const { driveSlots } = await import('./disk.js');
    const s = driveSlots(['file=a', 'file=b,index=0', 'file=c,index=3']);
    expect(s.map((d) => d?.file ?? null)).toEqual(['b', 'a', null, 'c']);
    expect(() => driveSlots(['file=a,index=1', 'file=b,index=1'])).toThrow(/used twice/);
  });
});
