// The GDB Remote Serial Protocol's framing layer (GDB manual, "Remote Protocol" → "Overview"):
// `$payload#cs` packets with a modulo-256 checksum in two hex digits, `+`/`-` acknowledgements,
// a raw 0x03 byte for an interrupt (Ctrl-C) outside any packet, and `}` (0x7D) escaping of
// binary data (the escaped byte is XORed with 0x20).
//
// Everything here is pure and byte-oriented: packets are latin1 strings (one char = one byte),
// so the binary payload of an X packet survives untouched. What a client sends is untrusted:
// the reader keeps bounded state whatever arrives, resynchronises on the next `$`, and turns
// a packet that outgrows the limit into one `overlong` event instead of buffering it.
//
// Not supported (gdb never sends them to a stub): run-length encoding in packets *from* gdb.
// We never run-length encode our replies either; `*` in a binary reply is escaped instead.

/** What the reader found in the byte stream, in order. */
export type RspInput =
  | { kind: 'packet'; data: string }
  | { kind: 'bad-checksum'; data: string }
  | { kind: 'overlong'; length: number }
  | { kind: 'interrupt' }
  | { kind: 'ack' }
  | { kind: 'nack' };

const enum ReaderState {
  IDLE,
  DATA,
  CHECKSUM_HIGH,
  CHECKSUM_LOW,
  /** An overlong packet: skip to its `#xx` without keeping it. */
  SKIP,
  SKIP_CHECKSUM_HIGH,
  SKIP_CHECKSUM_LOW,
}

const DOLLAR = 0x24;
const HASH = 0x23;
const PLUS = 0x2b;
const MINUS = 0x2d;
const CTRL_C = 0x03;
const ESCAPE = 0x7d;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** The checksum of a payload as sent: the sum of its bytes modulo 256. */
export function checksum(payload: string): number {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) sum = (sum + payload.charCodeAt(i)) & 0xff;
  return sum;
}

/** Frames a payload (already escaped where it carries binary data). */
export function encodePacket(payload: string): string {
  return `$${payload}#${checksum(payload).toString(16).padStart(2, '0')}`;
}

/** Escapes binary data for a reply: `$`, `#`, `}` and `*` (the RLE marker) become `}` + byte^0x20. */
export function escapeBinary(data: string): string {
  return data.replace(/[$#}*]/g, (c) => '}' + String.fromCharCode(c.charCodeAt(0) ^ 0x20));
}

/** Undoes `}` escaping (X packets). A trailing lone `}` is an error. */
export function unescapeBinary(data: string): Uint8Array {
  const out = new Uint8Array(data.length);
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    let c = data.charCodeAt(i) & 0xff;
    if (c === ESCAPE) {
      if (++i >= data.length) throw new RspError('binary data ends in the middle of an escape');
      c = (data.charCodeAt(i) & 0xff) ^ 0x20;
    }
    out[n++] = c;
  }
  return out.subarray(0, n);
}

/** A packet that does not say what the protocol requires. Answered with an error reply. */
export class RspError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RspError';
  }
}

/** Bytes → hex digits, two per byte. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += (b < 16 ? '0' : '') + b.toString(16);
  return s;
}

/** Hex digits → bytes; throws RspError on an odd length or a non-hex digit. */
export function fromHex(text: string): Uint8Array {
  if (text.length % 2 !== 0) throw new RspError('hex data has an odd number of digits');
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexValue(text.charCodeAt(2 * i));
    const lo = hexValue(text.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw new RspError(`'${text.slice(2 * i, 2 * i + 2)}' is not a hex byte`);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** Text → hex of its UTF-8 bytes (qRcmd output, O packets). */
export function textToHex(text: string): string {
  return toHex(new TextEncoder().encode(text));
}

/** Hex of UTF-8 bytes → text (qRcmd's command). */
export function hexToText(hex: string): string {
  return new TextDecoder('utf-8', { fatal: false }).decode(fromHex(hex));
}

/**
 * A hex number of at most 8 digits (an address, a length, a register number). gdb sends
 * addresses without leading zeros; anything else (empty, signs, 9+ digits) is refused so
 * that a 64-bit address never silently wraps into the guest's 4 GiB.
 */
export function parseHexNumber(text: string, what = 'number'): number {
  if (!/^[0-9a-fA-F]{1,8}$/.test(text)) {
    if (/^0*[0-9a-fA-F]{1,8}$/.test(text)) return parseInt(text, 16);
    throw new RspError(`'${text.slice(0, 20)}' is not a hex ${what}`);
  }
  return parseInt(text, 16);
}

/** A 32-bit little-endian value as 8 hex digits (register contents in g/p). */
export function le32Hex(v: number): string {
  v >>>= 0;
  let s = '';
  for (let i = 0; i < 4; i++) {
    const b = (v >>> (8 * i)) & 0xff;
    s += (b < 16 ? '0' : '') + b.toString(16);
  }
  return s;
}

/** Bytes → a latin1 string, in slices (fromCharCode takes a bounded number of arguments). */
export function latin1(bytes: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...Array.prototype.slice.call(bytes, i, i + 8192) as number[]);
  return s;
}

/**
 * Splits the byte stream into packets and out-of-band bytes. `maxPayload` bounds the payload
 * kept per packet; a longer one is skipped and reported once as `overlong`.
 */
export class PacketReader {
  private _state = ReaderState.IDLE;
  private _buf: number[] = [];
  private _sum = 0;
  private _given = 0;
  private _skipped = 0;

  constructor(readonly maxPayload: number) {}

  feed(chunk: Uint8Array): RspInput[] {
    const out: RspInput[] = [];
    for (const c of chunk) {
      switch (this._state) {
        case ReaderState.IDLE:
          // Between packets only acks, the interrupt byte and a packet start mean anything;
          // line noise is dropped.
          if (c === DOLLAR) this._start();
          else if (c === PLUS) out.push({ kind: 'ack' });
          else if (c === MINUS) out.push({ kind: 'nack' });
          else if (c === CTRL_C) out.push({ kind: 'interrupt' });
          break;
        case ReaderState.DATA:
          if (c === HASH) this._state = ReaderState.CHECKSUM_HIGH;
          else if (c === DOLLAR) this._start(); // a `$` cannot be payload: the sender restarted
          else if (this._buf.length >= this.maxPayload) {
            this._skipped = this._buf.length + 1;
            this._buf = [];
            this._state = ReaderState.SKIP;
          } else {
            this._buf.push(c);
            this._sum = (this._sum + c) & 0xff;
          }
          break;
        case ReaderState.CHECKSUM_HIGH: {
          const v = hexValue(c);
          if (c === DOLLAR) this._start();
          else {
            this._given = v;
            this._state = ReaderState.CHECKSUM_LOW;
          }
          break;
        }
        case ReaderState.CHECKSUM_LOW: {
          const v = hexValue(c);
          const data = latin1(this._buf);
          this._buf = [];
          this._state = ReaderState.IDLE;
          if (c === DOLLAR) {
            this._start();
            break;
          }
          if (this._given < 0 || v < 0 || ((this._given << 4) | v) !== this._sum) out.push({ kind: 'bad-checksum', data });
          else out.push({ kind: 'packet', data });
          break;
        }
        case ReaderState.SKIP:
          if (c === HASH) this._state = ReaderState.SKIP_CHECKSUM_HIGH;
          else if (c === DOLLAR) this._start();
          else this._skipped++;
          break;
        case ReaderState.SKIP_CHECKSUM_HIGH:
          this._state = c === DOLLAR ? ReaderState.DATA : ReaderState.SKIP_CHECKSUM_LOW;
          if (c === DOLLAR) this._start();
          break;
        case ReaderState.SKIP_CHECKSUM_LOW:
          this._state = ReaderState.IDLE;
          if (c === DOLLAR) this._start();
          else out.push({ kind: 'overlong', length: this._skipped });
          break;
      }
    }
    return out;
  }

  private _start(): void {
    this._state = ReaderState.DATA;
    this._buf = [];
    this._sum = 0;
    this._skipped = 0;
  }
}
