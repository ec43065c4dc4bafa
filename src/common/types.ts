// Small shared vocabulary: access sizes and the two address spaces.

export type AccessSize = 1 | 2 | 4;

/** An I/O port number (0..0xFFFF). Branded so it cannot be passed where a physical address goes. */
export type Port = number & { readonly __space: 'pio' };
/** A guest physical address (0..0xFFFFFFFF). */
export type PhysAddr = number & { readonly __space: 'mmio' };

export type Space = 'pio' | 'mmio';
export type AddrOf<S extends Space> = S extends 'pio' ? Port : PhysAddr;

export const asPort = (n: number): Port => (n & 0xffff) as Port;
export const asPhys = (n: number): PhysAddr => n >>> 0 as PhysAddr;

/** All ones for an access of this size: what an unclaimed bus reads as. */
export function openBus(size: AccessSize): number {
  return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
}

export function sizeMask(size: AccessSize): number {
  return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
}

export function hex(n: number, digits = 0): string {
  return '0x' + (n >>> 0).toString(16).padStart(digits, '0');
}
