import { describe, expect, it } from 'vitest';
import {
  checksum, encodePacket, escapeBinary, fromHex, hexToText, latin1, PacketReader, parseHexNumber, RspError, textToHex,
  toHex, unescapeBinary, type RspInput,
} from './rsp.js';

const bytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

describe('RSP framing', () => {
  it('frames and checks packets as the GDB manual shows them', () => {
    expect(encodePacket('OK')).toBe('$OK#9a');
    expect(encodePacket('')).toBe('$#00');
    expect(checksum('qSupported')).toBe(0x37);
    const r = new PacketReader(100);
    expect(r.feed(bytes('$OK#9a'))).toEqual([{ kind: 'packet', data: 'OK' }]);
    expect(r.feed(bytes('$OK#9A'))).toEqual([{ kind: 'packet', data: 'OK' }]);
    expect(r.feed(bytes('$OK#9b'))).toEqual([{ kind: 'bad-checksum', data: 'OK' }]);
    expect(r.feed(bytes('$OK#zz'))).toEqual([{ kind: 'bad-checksum', data: 'OK' }]);
  });

  it('sees acks, the interrupt byte and packets split anywhere, and drops noise between packets', () => {
    const r = new PacketReader(100);
    const stream = bytes('+-\x03junk$m7c00,4#' + checksum('m7c00,4').toString(16).padStart(2, '0') + '\x03');
    const got: RspInput[] = [];
    for (const b of stream) got.push(...r.feed(Uint8Array.of(b)));
    expect(got).toEqual([
      { kind: 'ack' }, { kind: 'nack' }, { kind: 'interrupt' }, { kind: 'packet', data: 'm7c00,4' }, { kind: 'interrupt' },
    ]);
  });

  it('keeps 0x03 and other binary bytes inside a packet as data', () => {
    const r = new PacketReader(100);
    const payload = 'X0,2:\x03\xff';
    expect(r.feed(bytes(encodePacket(payload)))).toEqual([{ kind: 'packet', data: payload }]);
  });

  it('restarts on a $ in the middle of a packet', () => {
    const r = new PacketReader(100);
    expect(r.feed(bytes('$garb$OK#9a'))).toEqual([{ kind: 'packet', data: 'OK' }]);
  });

  it('reports an overlong packet once, without keeping it, and carries on', () => {
    const r = new PacketReader(16);
    const long = 'M0,100:' + '00'.repeat(100);
    const out = r.feed(bytes(encodePacket(long) + encodePacket('g')));
    expect(out).toEqual([{ kind: 'overlong', length: long.length }, { kind: 'packet', data: 'g' }]);
    expect(r.feed(bytes(encodePacket('x'.repeat(16))))).toEqual([{ kind: 'packet', data: 'x'.repeat(16) }]);
  });

  it('escapes and unescapes binary data', () => {
    const raw = '$#}*a';
    const esc = escapeBinary(raw);
    expect(esc).toBe('}\x04}\x03}]}\x0aa');
    expect(latin1(unescapeBinary(esc))).toBe(raw);
    expect(() => unescapeBinary('ab}')).toThrow(RspError);
  });

  it('parses hex strictly', () => {
    expect(toHex(fromHex('00ff7C'))).toBe('00ff7c');
    expect(() => fromHex('abc')).toThrow(RspError);
    expect(() => fromHex('zz')).toThrow(RspError);
    expect(parseHexNumber('7c00')).toBe(0x7c00);
    expect(parseHexNumber('ffffffff')).toBe(0xffffffff);
    expect(parseHexNumber('0000000000007c00')).toBe(0x7c00);
    expect(() => parseHexNumber('100000000')).toThrow(RspError);
    expect(() => parseHexNumber('')).toThrow(RspError);
    expect(() => parseHexNumber('-1')).toThrow(RspError);
    expect(hexToText(textToHex('info registers ☺'))).toBe('info registers ☺');
  });

  it('survives random and mutated input with bounded state (fuzz)', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const corpus = ['qSupported:swbreak+;hwbreak+', 'g', 'm7c00,8', 'X7d00,2:\x03}\x5d', 'vCont;c', 'Z0,7c20,1', '?'];
    const max = 64;
    const r = new PacketReader(max);
    let packets = 0;
    for (let round = 0; round < 5000; round++) {
      let chunk: string;
      switch (rand(3)) {
        case 0:
          chunk = latin1(Array.from({ length: rand(200) }, () => rand(256)));
          break;
        case 1: {
          const p = encodePacket(corpus[rand(corpus.length)]).split('');
          for (let k = rand(4); k > 0; k--) p[rand(p.length)] = String.fromCharCode(rand(256));
          chunk = p.join('');
          break;
        }
        default:
          chunk = encodePacket(corpus[rand(corpus.length)]);
      }
      for (const e of r.feed(bytes(chunk))) {
        if (e.kind === 'packet' || e.kind === 'bad-checksum') {
          expect(e.data.length).toBeLessThanOrEqual(max);
          packets++;
        }
      }
    }
    expect(packets).toBeGreaterThan(1000);
    // After any garbage, a clean packet (after a resync `$`) still gets through.
    expect(r.feed(bytes('#00' + encodePacket('g')))).toContainEqual({ kind: 'packet', data: 'g' });
  });
});
