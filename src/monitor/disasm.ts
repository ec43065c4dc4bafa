// Disassembly with iced-x86 (a well-kept x86 decoder; we do not write our own), in the
// CPU's current mode: 16-bit in real/V86 mode and for 16-bit code segments, else 32-bit.

import iced from 'iced-x86';

// iced-x86 ships a CommonJS wasm-bindgen module; its types are fine but the default import
// needs a cast under NodeNext.
const { Decoder, DecoderOptions, Formatter, FormatterSyntax } = iced as unknown as typeof import('iced-x86');

export interface DisasmLine {
  /** Address of the instruction, in the address space that was read (linear or physical). */
  addr: number;
  /** Offset in the code segment (IP/EIP). */
  ip: number;
  bytes: string;
  text: string;
  length: number;
}

let formatter: InstanceType<typeof Formatter> | null = null;

function fmt(): InstanceType<typeof Formatter> {
  if (!formatter) {
    formatter = new Formatter(FormatterSyntax.Nasm);
    formatter.hexPrefix = '0x';
    formatter.hexSuffix = '';
    formatter.uppercaseHex = false;
    formatter.spaceAfterOperandSeparator = true;
  }
  return formatter;
}

/**
 * Decodes up to `count` instructions from `bytes`, which start at segment offset `ip`
 * (`addr` in the address space they came from).
 */
export function disassemble(bytes: Uint8Array, bitness: 16 | 32, ip: number, addr: number, count: number): DisasmLine[] {
  const out: DisasmLine[] = [];
  const dec = new Decoder(bitness, bytes, DecoderOptions.None);
  dec.ip = BigInt(ip >>> 0);
  const f = fmt();
  try {
    let off = 0;
    while (dec.canDecode && out.length < count) {
      const ins = dec.decode();
      const len = ins.length;
      // An instruction cut off by the end of what was read is not shown.
      if (off + len > bytes.length) {
        ins.free();
        break;
      }
      const text = ins.isInvalid ? '(bad)' : f.format(ins);
      out.push({
        addr: (addr + off) >>> 0,
        ip: (ip + off) & (bitness === 16 ? 0xffff : 0xffffffff),
        bytes: Array.from(bytes.subarray(off, off + len), (b) => b.toString(16).padStart(2, '0')).join(' '),
        text,
        length: len,
      });
      off += len;
      ins.free();
    }
  } finally {
    dec.free();
  }
  return out;
}
