// Small formatting helpers shared by the panes.

/** Zero-padded lower-case hex without a prefix. */
export const hx = (n: number, w: number): string => (n >>> 0).toString(16).padStart(w, '0');

/** The CPU mode as the status line says it: real/protected/V86 and 16- or 32-bit. */
export function modeText(mode: string | undefined): string {
  switch (mode) {
    case 'real': return 'real 16';
    case 'v86': return 'V86 16';
    case 'prot16': return 'prot 16';
    case 'prot32': return 'prot 32';
    default: return '?';
  }
}

/** 1234567 → "1.23M", for rates on the status line. */
export function si(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '-';
  if (n >= 1e9) return (n / 1e9).toFixed(2) + 'G';
  if (n >= 1e6) return (n / 1e6).toFixed(2) + 'M';
  if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return String(Math.round(n));
}

/** Cuts or pads text to exactly w columns. */
export function fit(text: string, w: number): string {
  if (w <= 0) return '';
  return text.length > w ? text.slice(0, w) : text.padEnd(w);
}

/** Parses a number as the monitor does: 0x hex, or decimal. */
export function parseNumber(t: string): number | null {
  const s = t.trim().toLowerCase();
  if (/^0x[0-9a-f]+$/.test(s)) return parseInt(s.slice(2), 16);
  if (/^[0-9a-f]+h$/.test(s)) return parseInt(s.slice(0, -1), 16);
  if (/^\d+$/.test(s)) return parseInt(s, 10);
  return null;
}
