// Raw disk image backend for the IDE model, and the parser of `--drive`.
//
//   --drive file=F[,format=raw][,readonly=on|off][,snapshot=on|off][,if=ide][,index=N]
//
// (QEMU's -drive syntax for the parts hvmon has: a comma inside a value is written ",,".)
//  - The image size is the file's size; the guest sees floor(size / 512) sectors.
//  - readonly=on opens the file read-only; the disk reports readOnly and writes are refused
//    with a BackendError (the IDE model aborts write commands before they get here).
//  - snapshot=on also opens the file read-only and keeps every write in an in-memory overlay
//    of 512-byte sectors: the guest reads its own writes, the image file stays byte-identical,
//    and the overlay is gone when the VM exits.
//  - flush() is fsync(2) on the image (FLUSH CACHE from the guest); with snapshot=on there is
//    nothing on disk to make durable.
//  - Every host failure (missing or unreadable image at open, a failed write or fsync) is a
//    BackendError whose message names the file.
//  - index=N places the drive: 0 primary master, 1 primary slave, 2 secondary master,
//    3 secondary slave (QEMU's if=ide numbering).
//
// Synchronous I/O on purpose: the device-model worker owns its thread, and the ATA model
// answers a sector in the access that asked for it.

import * as fs from 'node:fs';
import type { BlockBackend } from '../../common/device.js';
import { BackendError, UsageError, errorMessage } from '../../common/errors.js';

const SECTOR = 512;

export interface DriveSpec {
  file: string;
  format: 'raw';
  readonly: boolean;
  snapshot: boolean;
  if: 'ide';
  /** 0-3, or undefined for "next free". */
  index?: number;
}

/** Splits "a=1,b=x,,y" into [["a","1"],["b","x,y"]] (",," is a literal comma). */
export function splitOptions(spec: string): [string, string][] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < spec.length; i++) {
    if (spec[i] === ',') {
      if (spec[i + 1] === ',') {
        cur += ',';
        i++;
        continue;
      }
      parts.push(cur);
      cur = '';
    } else {
      cur += spec[i];
    }
  }
  parts.push(cur);
  return parts.filter((p) => p !== '').map((p) => {
    const eq = p.indexOf('=');
    return eq < 0 ? [p, ''] : [p.slice(0, eq), p.slice(eq + 1)];
  });
}

export function parseOnOff(key: string, v: string): boolean {
  if (v === 'on' || v === 'true' || v === 'yes' || v === '') return true;
  if (v === 'off' || v === 'false' || v === 'no') return false;
  throw new UsageError(`${key}=${v}: expected on or off`);
}

export function parseDriveSpec(spec: string): DriveSpec {
  const out: Partial<DriveSpec> & { format: 'raw'; readonly: boolean; snapshot: boolean; if: 'ide' } = {
    format: 'raw', readonly: false, snapshot: false, if: 'ide',
  };
  for (const [k, v] of splitOptions(spec)) {
    switch (k) {
      case 'file':
        if (v === '') throw new UsageError('--drive file= needs a file name');
        out.file = v;
        break;
      case 'format':
        if (v !== 'raw') throw new UsageError(`--drive format=${v} is not supported: hvmon reads raw images only`);
        break;
      case 'readonly': out.readonly = parseOnOff(k, v); break;
      case 'snapshot': out.snapshot = parseOnOff(k, v); break;
      case 'if':
        if (v !== 'ide') throw new UsageError(`--drive if=${v} is not supported: hvmon has IDE only`);
        break;
      case 'index': {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 3) throw new UsageError(`--drive index=${v}: expected 0-3 (primary master, primary slave, secondary master, secondary slave)`);
        out.index = n;
        break;
      }
      default:
        throw new UsageError(`--drive: unknown option '${k}' (known: file, format, readonly, snapshot, if, index)`);
    }
  }
  if (!out.file) throw new UsageError(`--drive ${spec}: file= is required`);
  return out as DriveSpec;
}

/** A raw image file as a BlockBackend. */
export class RawDisk implements BlockBackend {
  readonly name: string;
  readonly size: number;
  readonly readOnly: boolean;
  readonly snapshot: boolean;
  /** snapshot=on: sector number → the guest's data for it. */
  private readonly _overlay = new Map<number, Uint8Array>();
  private _fd: number;

  private constructor(readonly path: string, fd: number, size: number, readOnly: boolean, snapshot: boolean) {
    this.name = path;
    this._fd = fd;
    this.size = size;
    this.readOnly = readOnly;
    this.snapshot = snapshot;
  }

  /** Opens an image; a missing, unreadable or unsuitable file is a BackendError naming it. */
  static open(spec: DriveSpec | string): RawDisk {
    const d = typeof spec === 'string' ? parseDriveSpec(spec) : spec;
    // snapshot=on never needs write access to the file: the overlay takes the writes.
    const writable = !d.readonly && !d.snapshot;
    let fd: number;
    try {
      fd = fs.openSync(d.file, writable ? 'r+' : 'r');
    } catch (e) {
      throw new BackendError(`cannot open disk image ${d.file}: ${errorMessage(e)}`);
    }
    try {
      const st = fs.fstatSync(fd);
      if (st.isDirectory()) throw new BackendError(`disk image ${d.file} is a directory`);
      if (!st.isFile() && !st.isBlockDevice()) throw new BackendError(`disk image ${d.file} is not a regular file or block device`);
      if (st.size < SECTOR) throw new BackendError(`disk image ${d.file} is ${st.size} bytes: smaller than one sector`);
      // Read the first sector now, so that an unreadable image fails at start, not in the guest.
      fs.readSync(fd, new Uint8Array(SECTOR), 0, SECTOR, 0);
      return new RawDisk(d.file, fd, st.size, d.readonly, d.snapshot);
    } catch (e) {
      fs.closeSync(fd);
      if (e instanceof BackendError) throw e;
      throw new BackendError(`cannot read disk image ${d.file}: ${errorMessage(e)}`);
    }
  }

  /** File descriptor, for tests that break it on purpose. */
  get fd(): number {
    return this._fd;
  }

  /** Sectors held in the snapshot overlay. */
  get overlaySectors(): number {
    return this._overlay.size;
  }

  read(offset: number, into: Uint8Array): void {
    this._readFile(offset, into);
    if (this._overlay.size === 0) return;
    const first = Math.floor(offset / SECTOR);
    const last = Math.floor((offset + into.length - 1) / SECTOR);
    for (let sec = first; sec <= last; sec++) {
      const o = this._overlay.get(sec);
      if (!o) continue;
      const secStart = sec * SECTOR;
      const from = Math.max(offset, secStart);
      const to = Math.min(offset + into.length, secStart + SECTOR);
      into.set(o.subarray(from - secStart, to - secStart), from - offset);
    }
  }

  private _readFile(offset: number, into: Uint8Array): void {
    let done = 0;
    try {
      while (done < into.length) {
        const n = fs.readSync(this._fd, into, done, into.length - done, offset + done);
        if (n === 0) break; // past the end: zeros
        done += n;
      }
    } catch (e) {
      throw new BackendError(`read of disk image ${this.path} at byte ${offset} failed: ${errorMessage(e)}`);
    }
    into.fill(0, done);
  }

  write(offset: number, from: Uint8Array): void {
    if (this.readOnly) throw new BackendError(`disk image ${this.path} is read-only`);
    if (offset + from.length > this.size) throw new BackendError(`write past the end of disk image ${this.path} (byte ${offset})`);
    if (this.snapshot) {
      this._writeOverlay(offset, from);
      return;
    }
    let done = 0;
    try {
      while (done < from.length) done += fs.writeSync(this._fd, from, done, from.length - done, offset + done);
    } catch (e) {
      throw new BackendError(`write to disk image ${this.path} at byte ${offset} failed: ${errorMessage(e)}`);
    }
  }

  private _writeOverlay(offset: number, from: Uint8Array): void {
    const first = Math.floor(offset / SECTOR);
    const last = Math.floor((offset + from.length - 1) / SECTOR);
    for (let sec = first; sec <= last; sec++) {
      let o = this._overlay.get(sec);
      if (!o) {
        // A partial sector write starts from what the guest saw there.
        o = new Uint8Array(SECTOR);
        this.read(sec * SECTOR, o);
        this._overlay.set(sec, o);
      }
      const secStart = sec * SECTOR;
      const a = Math.max(offset, secStart);
      const b = Math.min(offset + from.length, secStart + SECTOR);
      o.set(from.subarray(a - offset, b - offset), a - secStart);
    }
  }

  flush(): void {
    if (this.snapshot || this.readOnly) return;
    try {
      fs.fsyncSync(this._fd);
    } catch (e) {
      throw new BackendError(`fsync of disk image ${this.path} failed: ${errorMessage(e)}`);
    }
  }

  close(): void {
    if (this._fd < 0) return;
    try {
      fs.closeSync(this._fd);
    } finally {
      this._fd = -1;
      this._overlay.clear();
    }
  }
}

/** The daemon's entry: opens a --drive spec (a BackendError at start if the image is unusable). */
export function openDrive(spec: string | DriveSpec): RawDisk {
  return RawDisk.open(spec);
}

/**
 * Places --drive specs on the four IDE slots (primary master, primary slave, secondary master,
 * secondary slave): index=N where given, the others in order into the free slots, as QEMU does.
 */
export function driveSlots(specs: readonly string[]): (DriveSpec | null)[] {
  const slots: (DriveSpec | null)[] = [null, null, null, null];
  const parsed = specs.map(parseDriveSpec);
  for (const d of parsed) {
    if (d.index === undefined) continue;
    if (slots[d.index]) throw new UsageError(`--drive index=${d.index} is used twice`);
    slots[d.index] = d;
  }
  for (const d of parsed) {
    if (d.index !== undefined) continue;
    const free = slots.indexOf(null);
    if (free < 0) throw new UsageError('more than four IDE drives');
    slots[free] = d;
  }
  return slots;
}
