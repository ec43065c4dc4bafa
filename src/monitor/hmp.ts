// The human monitor: one table of commands, each row with its name, aliases, usage, help,
// completion hints and a handler that calls machine commands (commands.ts) and formats the
// result. QEMU's HMP syntax where QEMU has the command (`x /10xb 0x1000`, `info registers`),
// gdb's words for the debugger (`break`, `delete`, `stepi`), ours for the rest. `help`, tab
// completion and docs/monitor.md all come from this table.

import { readRegister, REGISTER_NAMES } from '../core/debug/registers.js';
import { Condition } from '../core/debug/condition.js';
import type { CpuState, SegmentCache } from '../core/vcpu/CpuState.js';
import { cpuMode } from '../core/vcpu/CpuState.js';
import type { Inspection } from '../common/device.js';
import type { DeviceListing } from '../devices/daemon/protocol.js';
import type { MemMapEntry } from '../core/memory/GuestMemory.js';
import type { RegionInfo } from '../core/vcpu/protocol.js';
import type { DisasmLine } from './disasm.js';
import { CommandError, type Session } from './Monitor.js';
import type { BreakpointInfo, CpuView, StopView, TrapView, VgaScreenView } from './protocol.js';

/** What an argument completes to. */
export type Completion = 'device' | 'register' | 'breakpoint' | 'command' | 'file' | 'info' | 'ioreq' | 'none';

export interface HumanCommand {
  name: string;
  aliases: string[];
  /** Usage after the name, e.g. "/fmt addr". */
  usage: string;
  help: string;
  /** Longer explanation for `help CMD`. */
  details?: string;
  /** Completion for each positional argument (the last one repeats). */
  complete: Completion[];
  run(s: Session, rest: string): Promise<string>;
}

const h = (n: number, w = 0): string => '0x' + (n >>> 0).toString(16).padStart(w, '0');
const hx = (n: number, w: number): string => (n >>> 0).toString(16).padStart(w, '0');

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

/** Splits on whitespace, keeping "quoted strings" together. */
export function tokenize(s: string): string[] {
  const out: string[] = [];
  const re = /"((?:\\.|[^"\\])*)"|'((?:\\.|[^'\\])*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

async function state(s: Session): Promise<CpuState> {
  return ((await s.execute('reg-read', { vcpu: s.cpu })) as CpuView).state as unknown as CpuState;
}

const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];

/**
 * Evaluates an address or value expression: numbers (C syntax: 0x hex, decimal), $registers,
 * arithmetic, and `seg:off` (a segment register name or a number: in real and V86 mode
 * segment × 16 + offset, in protected mode a segment register's cached base + offset).
 * Returns a linear address for seg:off.
 */
export async function evalExpr(s: Session, text: string): Promise<number> {
  const t = text.trim();
  if (!t) throw new CommandError('an address or value is missing');
  let st: CpuState | null = null;
  const need = /\$|:/.test(t) || SEG_NAMES.some((n) => new RegExp(`\\b${n}\\b`, 'i').test(t));
  if (need) st = await state(s);
  const colon = splitTopColon(t);
  if (colon) {
    const [segText, offText] = colon;
    const off = evalPlain(offText, st);
    const segName = segText.trim().toLowerCase().replace(/^\$/, '');
    if (SEG_NAMES.includes(segName)) {
      const seg = st![segName as 'cs'] as SegmentCache;
      const realish = cpuMode(st!) === 'real' || cpuMode(st!) === 'v86';
      return ((realish ? seg.selector << 4 : seg.base) + off) >>> 0;
    }
    const sel = evalPlain(segText, st);
    const mode = st ? cpuMode(st) : 'real';
    if (mode !== 'real' && mode !== 'v86') {
      throw new CommandError('in protected mode, seg:off needs a segment register name (cs, ds, …) for the segment');
    }
    return (((sel & 0xffff) << 4) + off) >>> 0;
  }
  return evalPlain(t, st) >>> 0;
}

function splitTopColon(t: string): [string, string] | null {
  let depth = 0;
  for (let i = 0; i < t.length; i++) {
    if (t[i] === '(') depth++;
    else if (t[i] === ')') depth--;
    else if (t[i] === ':' && depth === 0) return [t.slice(0, i), t.slice(i + 1)];
  }
  return null;
}

function evalPlain(text: string, st: CpuState | null): number {
  // Bare register names (eax, cs) are accepted as well as $eax.
  const src = text.replace(/(^|[^$\w])([a-z][a-z0-9]*(?:\.[a-z]+)?)\b/gi, (all, pre: string, name: string) =>
    REGISTER_NAMES.includes(name.toLowerCase()) ? `${pre}$${name}` : all,
  );
  let cond: Condition;
  try {
    cond = new Condition(src);
  } catch (e) {
    throw new CommandError(`bad expression '${text.trim()}': ${(e as Error).message}`);
  }
  try {
    return cond.evaluate((n) => (n.startsWith('$') && st ? readRegister(st, n.slice(1)) : undefined));
  } catch (e) {
    throw new CommandError(`cannot evaluate '${text.trim()}': ${(e as Error).message}`);
  }
}

/** QEMU's /fmt: [count][format][size], e.g. /10xb, /i, /4w. */
export function parseFmt(spec: string | undefined, dflt: { count: number; format: string; size: number }): { count: number; format: string; size: number } {
  const out = { ...dflt };
  if (!spec) return out;
  const m = /^\/(\d*)([xduocis]?)([bhwg]?)([xduocis]?)$/.exec(spec);
  if (!m) throw new CommandError(`bad format '${spec}': expected /[count][x|d|u|o|c|i][b|h|w|g]`);
  if (m[1]) out.count = parseInt(m[1], 10);
  const f = m[2] || m[4];
  if (f) out.format = f;
  if (m[3]) out.size = { b: 1, h: 2, w: 4, g: 8 }[m[3] as 'b']!;
  else if (f === 'c') out.size = 1;
  return out;
}

/** Splits "ARGS if CONDITION" → [args, condition]. */
function splitIf(rest: string): [string, string | null] {
  const m = /^(.*?)\s+if\s+(.+)$/i.exec(rest);
  return m ? [m[1], m[2].trim()] : [rest, null];
}

/** "A", "A-B" or "A+LEN" (A, B, LEN expressions without spaces) → [start, end inclusive]. */
async function parseRange(s: Session, text: string): Promise<[number, number]> {
  const plus = /^(.+?)\+(.+)$/.exec(text);
  if (plus && !/^\$/.test(plus[2])) {
    const a = await evalExpr(s, plus[1]);
    const len = await evalExpr(s, plus[2]);
    if (len < 1) throw new CommandError(`length must be at least 1 in ${text}`);
    return [a, a + len - 1];
  }
  const dash = /^([^-]+)-([^-]+)$/.exec(text);
  if (dash) return [await evalExpr(s, dash[1]), await evalExpr(s, dash[2])];
  const a = await evalExpr(s, text);
  return [a, a];
}

function accessWord(w: string | undefined): 'r' | 'w' | 'rw' | null {
  if (!w) return null;
  const x = w.toLowerCase();
  if (x === 'r' || x === 'read' || x === 'in') return 'r';
  if (x === 'w' || x === 'write' || x === 'out') return 'w';
  if (x === 'rw' || x === 'wr' || x === 'access' || x === 'both') return 'rw';
  return null;
}

// ---------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------

function segLine(name: string, seg: SegmentCache): string {
  const flags = ((seg.attr & 0xff) << 8) | (((seg.attr >> 12) & 0xf) << 20);
  const a = seg.attr;
  let desc = '';
  if (a & 0x80) {
    const dpl = (a >> 5) & 3;
    if (a & 0x10) {
      const code = (a & 8) !== 0;
      const big = (a & 0x4000) !== 0;
      desc = ` DPL=${dpl} ${code ? 'CS' : 'DS'}${big ? '32' : '16'} [${code ? ((a & 4) ? 'C' : '-') : ((a & 4) ? 'E' : '-')}${code ? ((a & 2) ? 'R' : '-') : ((a & 2) ? 'W' : '-')}${(a & 1) ? 'A' : '-'}]`;
    } else {
      const types: Record<number, string> = { 1: 'TSS16-avl', 2: 'LDT', 3: 'TSS16-busy', 9: 'TSS32-avl', 0xb: 'TSS32-busy' };
      desc = ` DPL=${dpl} ${types[a & 0xf] ?? `type ${a & 0xf}`}`;
    }
  }
  return `${name.toUpperCase().padEnd(3)}=${hx(seg.selector, 4)} ${hx(seg.base, 8)} ${hx(seg.limit, 8)} ${hx(flags, 8)}${desc}`;
}

export function formatRegisters(v: CpuView): string {
  const s = v.state as unknown as CpuState;
  const f = s.eflags;
  const fl = [[0x800, 'O'], [0x400, 'D'], [0x80, 'S'], [0x40, 'Z'], [0x10, 'A'], [0x4, 'P'], [0x1, 'C']]
    .map(([m, c]) => (f & (m as number) ? c : '-')).join('');
  const lines = [
    `EAX=${hx(s.eax, 8)} EBX=${hx(s.ebx, 8)} ECX=${hx(s.ecx, 8)} EDX=${hx(s.edx, 8)}`,
    `ESI=${hx(s.esi, 8)} EDI=${hx(s.edi, 8)} EBP=${hx(s.ebp, 8)} ESP=${hx(s.esp, 8)}`,
    `EIP=${hx(s.eip, 8)} EFL=${hx(f, 8)} [${fl}] CPL=${v.cpl} II=${s.interruptShadow ? 1 : 0} HLT=${v.halted ? 1 : 0} IF=${(f >> 9) & 1} IOPL=${(f >> 12) & 3} VM=${(f >> 17) & 1}`,
    ...(['es', 'cs', 'ss', 'ds', 'fs', 'gs'] as const).map((n) => segLine(n, s[n])),
    segLine('LDT', s.ldtr),
    segLine('TR', s.tr),
    `GDT=     ${hx(s.gdtr.base, 8)} ${hx(s.gdtr.limit, 8)}`,
    `IDT=     ${hx(s.idtr.base, 8)} ${hx(s.idtr.limit, 8)}`,
    `CR0=${hx(s.cr0, 8)} CR2=${hx(s.cr2, 8)} CR3=${hx(s.cr3, 8)} CR4=${hx(s.cr4, 8)}`,
    `DR0=${hx(s.dr[0], 8)} DR1=${hx(s.dr[1], 8)} DR2=${hx(s.dr[2], 8)} DR3=${hx(s.dr[3], 8)}`,
    `DR6=${hx(s.dr[4], 8)} DR7=${hx(s.dr[5], 8)}`,
    `mode=${v.mode} icount=${s.icount}`,
  ];
  return lines.join('\n');
}

function formatStop(st: StopView): string {
  return st.text || st.reason;
}

function formatInspection(ins: Inspection): string {
  const lines = [`${ins.id} (${ins.kind})`];
  for (const r of ins.registers) {
    const w = Math.max(1, Math.ceil(r.width / 4));
    const off = r.offset !== undefined ? `+${hx(r.offset, 2)} ` : '    ';
    let line = `  ${off}${r.name.padEnd(14)} ${h(r.value, w)}`;
    if (r.bits?.length) line += '  ' + r.bits.map((b) => (b.meaning ? `${b.name}=${b.value} (${b.meaning})` : `${b.name}=${b.value}`)).join(' ');
    if (r.note) line += `  ; ${r.note}`;
    lines.push(line);
  }
  for (const [q, items] of Object.entries(ins.queues ?? {})) {
    lines.push(`  queue ${q}: ${items.length ? items.map((b) => hx(b, 2)).join(' ') : '(empty)'}`);
  }
  const counters = Object.entries(ins.counters ?? {});
  if (counters.length) lines.push('  counters: ' + counters.map(([k, v]) => `${k}=${v}`).join(' '));
  for (const [k, v] of Object.entries(ins.extra ?? {})) {
    lines.push(`  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  return lines.join('\n');
}

function describeBp(b: BreakpointInfo): string {
  switch (b.type) {
    case 'exec': return h(b.addr, 8);
    case 'io': return `${h(b.addr, 4)}${b.end !== b.addr ? '-' + h(b.end, 4) : ''} ${b.access}`;
    case 'mmio': return `${h(b.addr, 8)}${b.end !== b.addr ? '-' + h(b.end, 8) : ''} ${b.access}`;
    case 'watch': return `${b.space === 'phys' ? 'phys' : 'lin'} ${h(b.addr, 8)}${b.end !== b.addr ? '-' + h(b.end, 8) : ''} ${b.access}`;
    case 'interrupt': return `vector ${h(b.addr, 2)}${b.end !== b.addr ? '-' + h(b.end, 2) : ''}`;
  }
}

export function formatBreakpoints(list: BreakpointInfo[]): string {
  if (!list.length) return 'No breakpoints or watchpoints.';
  const typeName = { exec: 'breakpoint', watch: 'watchpoint', io: 'io', mmio: 'mmio', interrupt: 'interrupt' };
  const lines = ['Num     Type           Disp Enb What'];
  for (const b of list) {
    lines.push(`${String(b.id).padEnd(8)}${typeName[b.type].padEnd(15)}${(b.temporary ? 'del' : 'keep').padEnd(5)}${(b.enabled ? 'y' : 'n').padEnd(4)}${describeBp(b)}${b.vcpu !== undefined ? ` vcpu ${b.vcpu}` : ''}`);
    if (b.condition) lines.push(`\tstop only if ${b.condition}`);
    if (b.hits) lines.push(`\tbreakpoint already hit ${b.hits} time${b.hits === 1 ? '' : 's'}`);
    if (b.ignore) lines.push(`\twill ignore next ${b.ignore} crossings of breakpoint`);
  }
  return lines.join('\n');
}

function formatDisasm(lines: DisasmLine[], mark?: number, bps: Set<number> = new Set()): string {
  return lines
    .map((l) => `${l.addr === mark ? '=>' : '  '}${bps.has(l.addr) ? '*' : ' '} ${hx(l.addr, 8)}: ${l.bytes.padEnd(24)} ${l.text}`)
    .join('\n');
}

export function formatTraps(list: TrapView[]): string {
  if (!list.length) return 'no traps recorded';
  const lines = ['  seq vcpu ip       op    address    value      device/register        latency'];
  let untimed = false;
  for (const t of list) {
    const op = t.space === 'pio' ? (t.dir === 'read' ? 'in' : 'out') + ['', 'b', 'w', '', 'l'][t.size] : (t.dir === 'read' ? 'rd' : 'wr') + t.size;
    const addr = t.space === 'pio' ? h(t.addr, 4) : h(t.addr, 8);
    const dev = (t.device ?? '-') + (t.register ? ' ' + t.register : '');
    const lat = t.inCore ? 'in-core' : t.pickupUs !== null ? `${t.pickupUs.toFixed(2)}+${(t.serviceUs ?? 0).toFixed(2)}us` : '-';
    if (lat === '-') untimed = true;
    const rep = t.count > 1 ? ` x${t.count}` : '';
    lines.push(`${String(t.seq).padStart(5)} ${t.vcpu < 0 ? 'mon' : String(t.vcpu).padStart(3)} ${hx(t.ip, 8)} ${op.padEnd(5)} ${addr.padEnd(10)} ${h(t.value, t.size * 2).padEnd(10)} ${(dev + rep).padEnd(22)} ${t.failed ? 'FAILED ' : ''}${lat}`);
  }
  // Clock reads cost more than a round trip, so only a sample of requests carries hop times.
  if (untimed) lines.push('latency: µs to the device model + its service, for a sample of requests (- not sampled, or posted)');
  return lines.join('\n');
}

function formatScreen(v: VgaScreenView): string {
  const lines = v.text.map((l) => l.replace(/\s+$/, ''));
  while (lines.length && !lines[lines.length - 1]) lines.pop();
  return lines.join('\n') + `\n[cursor ${v.cursor.x},${v.cursor.y}${v.cursor.visible ? '' : ' hidden'}]`;
}

function formatMtree(memory: MemMapEntry[], regions: RegionInfo[]): string {
  const r16 = (n: number): string => hx(n, 16);
  const lines = ['address-space: memory', `  ${r16(0)}-${r16(0xffffffff)} (prio 0, i/o): system`];
  const entries: { base: number; end: number; text: string }[] = [];
  for (const e of memory) {
    const kind = e.kind === 'ram' ? 'ram' : e.kind === 'rom' ? 'rom' : e.kind === 'ram-readonly' ? 'ram, read-only' : 'ram, write-only';
    entries.push({ base: e.base, end: e.end, text: `(prio 0, ${kind}): ${e.name} @${r16(e.offset)}` });
  }
  for (const r of regions.filter((x) => x.space === 'mmio')) {
    entries.push({ base: r.base, end: r.base + r.size - 1, text: `(prio 1, i/o): ${r.name}${r.inCore ? '' : ' [device model]'}${r.posted ? ' [posted]' : ''}` });
  }
  entries.sort((a, b) => a.base - b.base);
  for (const e of entries) lines.push(`    ${r16(e.base)}-${r16(e.end)} ${e.text}`);
  lines.push('', 'address-space: I/O', `  ${r16(0)}-${r16(0xffff)} (prio 0, i/o): io`);
  for (const r of regions.filter((x) => x.space === 'pio')) {
    lines.push(`    ${r16(r.base)}-${r16(r.base + r.size - 1)} (prio 0, i/o): ${r.name}${r.inCore ? ' [in-core]' : ''}`);
  }
  return lines.join('\n');
}

function formatQtree(devs: DeviceListing[]): string {
  const lines = ['bus: main-system-bus', '  type System'];
  for (const d of devs) {
    lines.push(`  dev: ${d.kind}, id "${d.id}"`);
    for (const [k, v] of Object.entries(d.props)) lines.push(`    ${k} = ${typeof v === 'number' ? `${v} (${h(v)})` : JSON.stringify(v)}`);
    for (const r of d.regions) {
      const w = r.space === 'pio' ? 4 : 8;
      lines.push(`    ${r.space === 'pio' ? 'port' : 'mmio'} ${hx(r.base, w)}-${hx(r.base + r.size - 1, w)} ${r.name}`);
    }
    for (const b of d.backends) lines.push(`    backend ${b}`);
  }
  return lines.join('\n');
}

/** QEMU's memory_dump layout: 8 bytes per line for bytes, 16 otherwise. */
function formatDump(addr: number, data: Uint8Array, format: string, size: number, phys: boolean): string {
  const lineSize = size === 1 ? 8 : 16;
  const lines: string[] = [];
  for (let off = 0; off < data.length; off += lineSize) {
    const parts: string[] = [];
    for (let i = off; i < Math.min(off + lineSize, data.length); i += size) {
      let v = 0n;
      for (let k = size - 1; k >= 0; k--) v = (v << 8n) | BigInt(data[i + k] ?? 0);
      const bits = size * 8;
      switch (format) {
        case 'x': parts.push('0x' + v.toString(16).padStart(size * 2, '0')); break;
        case 'o': parts.push('0' + v.toString(8)); break;
        case 'u': parts.push(v.toString(10)); break;
        case 'd': parts.push((v >= 1n << BigInt(bits - 1) ? v - (1n << BigInt(bits)) : v).toString(10)); break;
        case 'c': {
          const c = Number(v & 0xffn);
          parts.push(c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `'\\x${hx(c, 2)}'`);
          break;
        }
      }
    }
    lines.push(`${hx(addr + off, phys ? 16 : 8)}: ${parts.join(' ')}`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------

export const HUMAN_COMMANDS: HumanCommand[] = [];
const INFO: HumanCommand[] = [];

function cmd(c: Omit<HumanCommand, 'aliases' | 'complete'> & { aliases?: string[]; complete?: Completion[] }): void {
  HUMAN_COMMANDS.push({ aliases: [], complete: ['none'], ...c });
}
function info(c: Omit<HumanCommand, 'aliases' | 'complete'> & { aliases?: string[]; complete?: Completion[] }): void {
  INFO.push({ aliases: [], complete: ['none'], ...c });
}

// ---- help ------------------------------------------------------------------------------------

cmd({
  name: 'help', aliases: ['?'], usage: '[command]', help: 'list commands, or explain one', complete: ['command'],
  run: async (_s, rest) => {
    const name = rest.trim();
    if (!name) {
      const rows = HUMAN_COMMANDS.map((c) => [[c.name, ...c.aliases].join('|') + (c.usage ? ' ' + c.usage : ''), c.help]);
      const w = Math.min(44, Math.max(...rows.map((r) => r[0].length)) + 2);
      return rows.map(([a, b]) => a.padEnd(w) + b).join('\n') + '\n\nType "help CMD" for more, "info" for the info subcommands.';
    }
    if (name.startsWith('info ')) {
      const sub = findInfo(name.slice(5).trim());
      if (!sub) throw new CommandError(`no info subcommand ${name.slice(5).trim()}`);
      return helpText(sub, 'info ');
    }
    const c = findCommand(name);
    if (!c) throw new CommandError(`unknown command: '${name}'`);
    return helpText(c, '');
  },
});

function helpText(c: HumanCommand, prefix: string): string {
  const lines = [`${prefix}${c.name}${c.usage ? ' ' + c.usage : ''} -- ${c.help}`];
  if (c.aliases.length) lines.push(`aliases: ${c.aliases.join(', ')}`);
  if (c.details) lines.push('', c.details);
  if (c.name === 'info') lines.push('', ...INFO.map((i) => `info ${i.name}${i.usage ? ' ' + i.usage : ''} -- ${i.help}`));
  return lines.join('\n');
}

export function findCommand(word: string): HumanCommand | undefined {
  const w = word.toLowerCase();
  return HUMAN_COMMANDS.find((c) => c.name === w || c.aliases.includes(w));
}

function findInfo(word: string): HumanCommand | undefined {
  const w = word.toLowerCase();
  return INFO.find((c) => c.name === w || c.aliases.includes(w));
}

// ---- run control -------------------------------------------------------------------------

cmd({
  name: 'stop', aliases: ['s'], usage: '[-c]', help: 'pause the VM (all vCPUs; -c only the current one); the device model keeps running',
  run: async (s, rest) => {
    await s.execute('stop', rest.trim() === '-c' ? { vcpu: s.cpu } : {});
    return '';
  },
});

cmd({
  name: 'cont', aliases: ['c', 'continue'], usage: '[-c]', help: 'resume the VM (-c only the current vCPU); a pending I/O request goes to its device first',
  run: async (s, rest) => {
    await s.execute('cont', rest.trim() === '-c' ? { vcpu: s.cpu } : {});
    return '';
  },
});

cmd({
  name: 'stepi', aliases: ['si'], usage: '[N]', help: 'execute N instructions (default 1) on the current vCPU, then show where it is',
  run: async (s, rest) => {
    const count = rest.trim() ? await evalExpr(s, rest) : 1;
    const st = (await s.execute('step', { vcpu: s.cpu, count })) as StopView;
    return (await whereText(s)) + (st.reason !== 'step' ? `\n${formatStop(st)}` : '');
  },
});

cmd({
  name: 'step-trap', aliases: ['st'], usage: '', help: 'run to the next trap (I/O, MMIO, interrupt, exception) and stop before it is delivered',
  run: async (s) => formatStop((await s.execute('step-trap', { vcpu: s.cpu })) as StopView),
});

cmd({
  name: 'finish', aliases: [], usage: '', help: 'run until the current function returns (single-steps; stops at the return)',
  run: async (s) => {
    const m = s.monitor;
    const next = m.nextStop();
    await m.machine.vcpu({ t: 'finish', vcpu: s.cpu });
    const st = await next;
    return `${st.text}\n${await whereText(s)}`;
  },
});

cmd({
  name: 'nonstop', usage: 'on|off', help: 'non-stop mode: a breakpoint stops only its own vCPU (off: all-stop, the default)',
  run: async (s, rest) => {
    const w = rest.trim().toLowerCase();
    if (w !== 'on' && w !== 'off') throw new CommandError('usage: nonstop on|off');
    await s.execute('debug-set-mode', { mode: w === 'on' ? 'non-stop' : 'all-stop' });
    return `${w === 'on' ? 'non-stop' : 'all-stop'} mode`;
  },
});

cmd({
  name: 'system_reset', aliases: [], usage: '', help: 'reset the VM (devices and CPUs to power-on state)',
  run: async (s) => {
    await s.execute('system_reset');
    return '';
  },
});

cmd({
  name: 'quit', aliases: ['q'], usage: '', help: 'stop the VM and the VM host',
  run: async (s) => {
    await s.execute('quit');
    return '';
  },
});

cmd({
  name: 'cpu', aliases: [], usage: 'N', help: 'make vCPU N the current one for later commands',
  run: async (s, rest) => {
    await s.execute('cpu', { index: await evalExpr(s, rest) });
    return '';
  },
});

async function whereText(s: Session): Promise<string> {
  const lines = (await s.execute('disassemble', { vcpu: s.cpu, count: 1 })) as DisasmLine[];
  const st = await state(s);
  const l = lines[0];
  return `${hx(st.cs.selector, 4)}:${hx(st.eip, cpuMode(st) === 'prot32' ? 8 : 4)} ${l ? `${l.bytes.padEnd(20)} ${l.text}` : '(cannot read the instruction)'}`;
}

// ---- breakpoints ------------------------------------------------------------------------

const BREAK_DETAILS = `Forms:
  break ADDR [if COND]                        execution at a linear address (or seg:off)
  break io PORT[-END] [r|w|rw] [if COND]      port I/O, stopping before the device sees it
  break mmio ADDR[-END|+LEN] [r|w|rw] [if COND]  MMIO outside RAM, before the device sees it
  break int VECTOR[-END] [if COND]            delivery of an interrupt or exception vector
Conditions are C expressions over value, port, addr, size, write, vector and $registers:
  break io 0x3f8-0x3ff w if value & 0x80      break 0x7c10 if $ax == 3`;

async function breakCommand(s: Session, rest: string, temporary: boolean): Promise<string> {
  const [args, condition] = splitIf(rest.trim());
  const t = tokenize(args);
  if (!t.length) throw new CommandError('break needs an address (see help break)');
  const kind = t[0].toLowerCase();
  const origin = rest.trim();
  let r: Record<string, unknown>;
  if (kind === 'io' || kind === 'mmio') {
    if (!t[1]) throw new CommandError(`break ${kind} needs a ${kind === 'io' ? 'port' : 'address'} range`);
    const [a, e] = await parseRange(s, t[1]);
    const acc = accessWord(t[2]);
    if (t[2] && !acc) throw new CommandError(`'${t[2]}' is not a direction (r, w or rw)`);
    if (t.length > 3) throw new CommandError(`unexpected '${t.slice(3).join(' ')}'`);
    r = { type: kind, addr: a, end: e, access: acc ?? 'rw' };
  } else if (kind === 'int' || kind === 'interrupt' || kind === 'vector') {
    if (!t[1]) throw new CommandError('break int needs a vector');
    const [a, e] = await parseRange(s, t[1]);
    r = { type: 'interrupt', addr: a, end: e };
  } else {
    r = { type: 'exec', addr: await evalExpr(s, args) };
  }
  const b = (await s.execute('break-insert', { ...r, condition: condition ?? undefined, temporary, origin })) as BreakpointInfo;
  const what = b.type === 'exec' ? `Breakpoint ${b.id} at ${h(b.addr, 8)}` : `${b.type === 'interrupt' ? 'Interrupt' : b.type === 'io' ? 'I/O' : 'MMIO'} breakpoint ${b.id}: ${describeBp(b)}`;
  return `${temporary ? 'Temporary ' + what[0].toLowerCase() + what.slice(1) : what}${b.condition ? ` if ${b.condition}` : ''}`;
}

cmd({
  name: 'break', aliases: ['b'], usage: 'ADDR | io PORTS [r|w|rw] | mmio RANGE [r|w|rw] | int VEC  [if COND]',
  help: 'set a breakpoint on execution, port I/O, MMIO or an interrupt vector', details: BREAK_DETAILS,
  run: (s, rest) => breakCommand(s, rest, false),
});

cmd({
  name: 'tbreak', aliases: [], usage: '(as break)', help: 'set a breakpoint that is deleted when it stops', details: BREAK_DETAILS,
  run: (s, rest) => breakCommand(s, rest, true),
});

async function watchCommand(s: Session, rest: string, dflt: 'r' | 'w' | 'rw'): Promise<string> {
  const [args, condition] = splitIf(rest.trim());
  let t = tokenize(args);
  let space: 'phys' | 'linear' = 'linear';
  if (t[0] === '-p' || t[0] === '-l') {
    space = t[0] === '-p' ? 'phys' : 'linear';
    t = t.slice(1);
  }
  if (!t[0]) throw new CommandError('watch needs an address range');
  const [a, e] = await parseRange(s, t[0]);
  const acc = accessWord(t[1]);
  if (t[1] && !acc) throw new CommandError(`'${t[1]}' is not a direction (r, w or rw)`);
  const b = (await s.execute('break-insert', {
    type: 'watch', addr: a, end: e, access: acc ?? dflt, space, condition: condition ?? undefined, origin: rest.trim(),
  })) as BreakpointInfo;
  return `Watchpoint ${b.id}: ${describeBp(b)}`;
}

cmd({
  name: 'watch', aliases: [], usage: '[-p|-l] ADDR[-END|+LEN] [r|w|rw] [if COND]',
  help: 'stop after an access to memory (linear by default, -p physical); default direction w',
  run: (s, rest) => watchCommand(s, rest, 'w'),
});
cmd({ name: 'rwatch', usage: '(as watch)', help: 'watch reads', run: (s, rest) => watchCommand(s, rest, 'r') });
cmd({ name: 'awatch', usage: '(as watch)', help: 'watch reads and writes', run: (s, rest) => watchCommand(s, rest, 'rw') });

async function idList(s: Session, rest: string): Promise<number[] | 'all'> {
  const t = tokenize(rest);
  if (!t.length) return 'all';
  const out: number[] = [];
  for (const x of t) {
    const m = /^(\d+)-(\d+)$/.exec(x);
    if (m) for (let i = +m[1]; i <= +m[2]; i++) out.push(i);
    else if (/^\d+$/.test(x)) out.push(+x);
    else throw new CommandError(`'${x}' is not a breakpoint number`);
  }
  return out;
}

cmd({
  name: 'delete', aliases: ['d'], usage: '[N...]', help: 'delete breakpoints (all without N)', complete: ['breakpoint'],
  run: async (s, rest) => {
    const ids = await idList(s, rest);
    if (ids === 'all') await s.execute('break-delete', { id: 'all' });
    else for (const id of ids) await s.execute('break-delete', { id });
    return '';
  },
});

for (const [name, enabled] of [['disable', false], ['enable', true]] as const) {
  cmd({
    name, usage: '[N...]', help: `${name} breakpoints (all without N)`, complete: ['breakpoint'],
    run: async (s, rest) => {
      let ids = await idList(s, rest);
      if (ids === 'all') ids = ((await s.execute('break-list')) as BreakpointInfo[]).map((b) => b.id);
      for (const id of ids) await s.execute('break-update', { id, enabled });
      return '';
    },
  });
}

cmd({
  name: 'condition', usage: 'N [EXPR]', help: 'make breakpoint N stop only if EXPR is true (no EXPR: always)', complete: ['breakpoint'],
  run: async (s, rest) => {
    const m = /^\s*(\d+)\s*(.*)$/.exec(rest);
    if (!m) throw new CommandError('condition needs a breakpoint number');
    await s.execute('break-update', { id: +m[1], condition: m[2].trim() });
    return m[2].trim() ? '' : `Breakpoint ${m[1]} now unconditional.`;
  },
});

cmd({
  name: 'ignore', usage: 'N COUNT', help: 'ignore the next COUNT crossings of breakpoint N', complete: ['breakpoint'],
  run: async (s, rest) => {
    const t = tokenize(rest);
    if (t.length !== 2 || !/^\d+$/.test(t[0])) throw new CommandError('usage: ignore N COUNT');
    const count = await evalExpr(s, t[1]);
    await s.execute('break-update', { id: +t[0], ignore: count });
    return `Will ignore next ${count} crossings of breakpoint ${t[0]}.`;
  },
});

// ---- the pending request -----------------------------------------------------------------

cmd({
  name: 'ioreq', aliases: [], usage: '[show | let | set VALUE | answer VALUE | skip]', complete: ['ioreq'],
  help: 'the I/O or MMIO request the vCPU is stopped in front of: show it, let it through, change it, answer it, skip it',
  details: `show          the pending request (space, address, size, direction, value, rep count, device, register)
let           deliver it to the device unchanged
set VALUE     change the data of a pending write (it stays pending; then let or cont)
answer VALUE  complete a pending read with VALUE; the device never sees it (fault injection)
skip          drop it: a write never happens, a read returns all ones`,
  run: async (s, rest) => {
    const t = tokenize(rest);
    const sub = (t[0] ?? 'show').toLowerCase();
    const st = (await s.execute('query-stop', { vcpu: s.cpu })) as StopView & { running: boolean };
    if (sub === 'show') {
      if (!st.ioreq) return `vCPU ${s.cpu} is ${st.running ? 'running' : 'stopped'} with no pending request`;
      const p = st.ioreq;
      return [
        `vCPU ${s.cpu} stopped before: ${st.text}`,
        `  space ${p.space}  address ${p.space === 'pio' ? h(p.addr, 4) : h(p.addr, 8)}  size ${p.size}  ${p.dir}${p.value !== null ? `  value ${h(p.value, p.size * 2)}` : ''}${p.count > 1 ? `  count ${p.count}` : ''}`,
        `  device ${p.device ?? '(none: open bus)'}${p.register ? `  register ${p.register}` : ''}`,
      ].join('\n');
    }
    if (sub === 'let') {
      await s.execute('ioreq-complete', { vcpu: s.cpu });
      return 'delivered';
    }
    if (sub === 'skip') {
      await s.execute('ioreq-skip', { vcpu: s.cpu });
      return 'skipped';
    }
    if (sub === 'set' || sub === 'answer') {
      if (!t[1]) throw new CommandError(`ioreq ${sub} needs a value`);
      const value = await evalExpr(s, t.slice(1).join(' '));
      if (sub === 'set') {
        await s.execute('ioreq-set', { vcpu: s.cpu, value });
        return `pending write now carries ${h(value)}`;
      }
      if (st.ioreq?.dir !== 'read') throw new CommandError('the pending request is not a read; use set to change a write');
      await s.execute('ioreq-complete', { vcpu: s.cpu, value });
      return `read answered with ${h(value)}`;
    }
    throw new CommandError(`unknown ioreq action '${sub}' (show, let, set, answer, skip)`);
  },
});

// ---- memory and registers --------------------------------------------------------------------

async function examine(s: Session, rest: string, phys: boolean): Promise<string> {
  const t = rest.trim();
  let fmtSpec: string | undefined;
  let addrText = t;
  if (t.startsWith('/')) {
    const sp = t.search(/\s/);
    fmtSpec = sp < 0 ? t : t.slice(0, sp);
    addrText = sp < 0 ? '' : t.slice(sp + 1);
  }
  const f = parseFmt(fmtSpec, { count: 1, format: 'x', size: 4 });
  const addr = addrText.trim() ? await evalExpr(s, addrText) : ((await state(s)).cs.base + (await state(s)).eip) >>> 0;
  if (f.count > 65536) throw new CommandError('count is too large (at most 65536)');
  if (f.format === 'i') {
    if (phys) {
      const st = await state(s);
      const bits = cpuMode(st) === 'prot32' ? 32 : 16;
      const data = (await s.execute('mem-read', { addr, size: f.count * 15, space: 'phys' })) as { data: string };
      const { disassemble } = await import('./disasm.js');
      return formatDisasm(disassemble(Uint8Array.from(Buffer.from(data.data, 'hex')), bits, addr, addr, f.count));
    }
    return formatDisasm((await s.execute('disassemble', { addr, count: f.count, vcpu: s.cpu })) as DisasmLine[]);
  }
  const size = f.size;
  const res = (await s.execute('mem-read', { addr, size: f.count * size, space: phys ? 'phys' : 'linear', vcpu: s.cpu })) as { data: string };
  return formatDump(addr, Uint8Array.from(Buffer.from(res.data, 'hex')), f.format, size, phys);
}

cmd({
  name: 'x', usage: '/fmt addr', help: 'examine memory at a linear address (seg:off accepted); fmt = [count][x|d|u|o|c|i][b|h|w|g]',
  details: 'Addresses are expressions: 0x7c00, $esp+4, cs:ip, ds:0x10. "x /10i $eip" disassembles.',
  run: (s, rest) => examine(s, rest, false),
});

cmd({
  name: 'xp', usage: '/fmt addr', help: 'examine memory at a physical address (VGA memory too, read without side effects)',
  run: (s, rest) => examine(s, rest, true),
});

async function poke(s: Session, rest: string): Promise<string> {
  let t = tokenize(rest);
  let phys = false;
  let size = 1;
  while (t[0]?.startsWith('-') || t[0]?.startsWith('/')) {
    if (t[0] === '-p') phys = true;
    else if (t[0] === '-l') phys = false;
    else if (/^\/[bhwl]$/.test(t[0])) size = { b: 1, h: 2, w: 2, l: 4 }[t[0][1] as 'b']!;
    else throw new CommandError(`unknown option ${t[0]} (-p, -l, /b, /w, /l)`);
    t = t.slice(1);
  }
  if (t.length < 2) throw new CommandError('usage: poke [-p] [/b|/w|/l] ADDR VALUE...');
  const addr = await evalExpr(s, t[0]);
  const bytes: number[] = [];
  for (const v of t.slice(1)) {
    const n = await evalExpr(s, v);
    for (let k = 0; k < size; k++) bytes.push((n >>> (8 * k)) & 0xff);
  }
  await s.execute('mem-write', { addr, data: Buffer.from(bytes).toString('hex'), space: phys ? 'phys' : 'linear', vcpu: s.cpu });
  return `wrote ${bytes.length} byte${bytes.length === 1 ? '' : 's'} at ${phys ? 'physical' : 'linear'} ${h(addr, 8)}`;
}

cmd({
  name: 'poke', usage: '[-p] [/b|/w|/l] ADDR VALUE...', help: 'write values into guest memory (linear; -p physical), bytes by default',
  run: poke,
});

cmd({
  name: 'set', usage: '$REG = VALUE', help: 'write a register of the stopped vCPU (gdb style: set $eax = 3)', complete: ['register'],
  run: async (s, rest) => {
    const m = /^\s*\$?([a-z][a-z0-9.]*)\s*=\s*(.+)$/i.exec(rest);
    if (!m) throw new CommandError('usage: set $REG = VALUE');
    const value = await evalExpr(s, m[2]);
    await s.execute('reg-write', { vcpu: s.cpu, name: m[1], value });
    return '';
  },
});

for (const [name, write] of [['i', false], ['o', true]] as const) {
  cmd({
    name, usage: write ? '/fmt port value' : '/fmt port', help: write ? 'write an I/O port (fmt b, w or l)' : 'read an I/O port (fmt b, w or l)',
    run: async (s, rest) => {
      const t = tokenize(rest);
      let size: 1 | 2 | 4 = 1;
      if (t[0]?.startsWith('/')) {
        const f = /^\/([bwl])$/.exec(t.shift()!);
        if (!f) throw new CommandError('fmt must be /b, /w or /l');
        size = ({ b: 1, w: 2, l: 4 } as Record<string, 1 | 2 | 4>)[f[1]];
      }
      if (!t[0] || (write && !t[1])) throw new CommandError(`usage: ${name} /fmt port${write ? ' value' : ''}`);
      const port = await evalExpr(s, t[0]);
      if (port > 0xffff) throw new CommandError('a port number is 0-0xffff');
      const value = write ? await evalExpr(s, t[1]) : 0;
      const r = (await s.monitor.machine.vcpu({ t: 'io', space: 'pio', addr: port, size, write, value })) as { value: number };
      return write ? '' : `port${'bwl'[size === 4 ? 2 : size - 1]}[${h(port, 4)}] = ${h(r.value, size * 2)}`;
    },
  });
}

cmd({
  name: 'disas', aliases: ['u'], usage: '[ADDR] [N]', help: 'disassemble N instructions (default 10) at ADDR (default CS:EIP), marking breakpoints',
  run: async (s, rest) => {
    const t = tokenize(rest);
    const addr = t[0] ? await evalExpr(s, t[0]) : undefined;
    const count = t[1] ? await evalExpr(s, t[1]) : 10;
    const st = await state(s);
    const lines = (await s.execute('disassemble', { addr, count, vcpu: s.cpu })) as DisasmLine[];
    const bps = new Set(((await s.execute('break-list')) as BreakpointInfo[]).filter((b) => b.type === 'exec' && b.enabled).map((b) => b.addr));
    return formatDisasm(lines, (st.cs.base + st.eip) >>> 0, bps);
  },
});

cmd({
  name: 'gva2gpa', usage: 'ADDR', help: 'translate a linear address to physical through the page tables',
  run: async (s, rest) => {
    const addr = await evalExpr(s, rest);
    const r = (await s.execute('translate', { addr, vcpu: s.cpu })) as { ok: boolean; phys?: number; fault?: string };
    return r.ok ? `gpa: ${h(r.phys!)}` : `${h(addr)}: ${r.fault}`;
  },
});

cmd({
  name: 'pagewalk', aliases: ['walk'], usage: 'ADDR', help: 'show the page-table walk for a linear address',
  run: async (s, rest) => ((await s.execute('page-walk', { addr: await evalExpr(s, rest), vcpu: s.cpu })) as { lines: string[] }).lines.join('\n'),
});

cmd({
  name: 'memsave', usage: 'ADDR SIZE FILE', help: 'save memory at a linear address to a file', complete: ['none', 'none', 'file'],
  run: async (s, rest) => {
    const t = tokenize(rest);
    if (t.length !== 3) throw new CommandError('usage: memsave ADDR SIZE FILE');
    await s.execute('memsave', { val: await evalExpr(s, t[0]), size: await evalExpr(s, t[1]), filename: t[2], 'cpu-index': s.cpu });
    return '';
  },
});

cmd({
  name: 'pmemsave', usage: 'ADDR SIZE FILE', help: 'save physical memory to a file', complete: ['none', 'none', 'file'],
  run: async (s, rest) => {
    const t = tokenize(rest);
    if (t.length !== 3) throw new CommandError('usage: pmemsave ADDR SIZE FILE');
    await s.execute('pmemsave', { val: await evalExpr(s, t[0]), size: await evalExpr(s, t[1]), filename: t[2] });
    return '';
  },
});

// ---- devices and guest input -------------------------------------------------------------

cmd({
  name: 'gdbserver', usage: '[tcp::PORT]', help: 'start the gdb stub (default tcp::1234, loopback)',
  run: async (s, rest) => `Waiting for gdb connection on ${((await s.execute('gdbserver', { device: rest.trim() || undefined })) as { listening: string }).listening}`,
});

/** C-style escapes in typed text: \n \r \t \e (Esc) \b \\ and \xNN. */
export function unescapeText(t: string): string {
  return t.replace(/\\(x[0-9a-fA-F]{2}|[nrteb\\])/g, (_m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    return ({ n: '\n', r: '\r', t: '\t', e: '\x1b', b: '\b', '\\': '\\' } as Record<string, string>)[e];
  });
}

cmd({
  name: 'type', usage: 'TEXT', help: 'type text on the PS/2 keyboard (escapes: \\n Enter, \\e Esc, \\t, \\b, \\xNN)',
  run: async (s, rest) => {
    const text = unescapeText(rest.replace(/^\s/, ''));
    await s.execute('keyboard-type', { text });
    return '';
  },
});

cmd({
  name: 'serial', usage: '[DEVICE] TEXT', help: 'send text to a UART\'s receive side (default com1; escapes as in type)', complete: ['device'],
  run: async (s, rest) => {
    const m = /^\s*(com\d+)\s+(.*)$/.exec(rest);
    const device = m ? m[1] : 'com1';
    const text = unescapeText(m ? m[2] : rest.replace(/^\s/, ''));
    await s.execute('serial-write', { device, data: text, format: 'latin1' });
    return '';
  },
});

cmd({
  name: 'screen', usage: '', help: 'print the VGA text screen',
  run: async (s) => formatScreen((await s.execute('vga-screen')) as VgaScreenView),
});

// ---- info ------------------------------------------------------------------------------------

info({
  name: 'registers', aliases: ['reg', 'regs'], usage: '', help: 'the CPU registers of the current vCPU',
  run: async (s) => formatRegisters((await s.execute('reg-read', { vcpu: s.cpu })) as CpuView),
});

info({
  name: 'status', usage: '', help: 'whether the VM runs',
  run: async (s) => {
    const st = (await s.execute('query-status')) as { running: boolean; status: string };
    return `VM status: ${st.running ? 'running' : `paused${st.status !== 'paused' ? ` (${st.status})` : ''}`}`;
  },
});

info({
  name: 'cpus', usage: '', help: 'every vCPU and what it is doing',
  run: async (s) => {
    const cpus = (await s.execute('query-cpus-fast')) as { 'cpu-index': number; running: boolean; halted: boolean; icount: number; stop: StopView | null }[];
    const lines: string[] = [];
    for (const c of cpus) {
      const st = await s.execute('reg-read', { vcpu: c['cpu-index'] }) as CpuView;
      lines.push(`${c['cpu-index'] === s.cpu ? '*' : ' '} CPU #${c['cpu-index']}: pc=${h(((st.state as unknown as CpuState).cs.base + (st.state as unknown as CpuState).eip) >>> 0, 8)} mode=${st.mode} ${c.running ? (c.halted ? '(halted)' : 'running') : `stopped: ${c.stop?.text ?? ''}`} icount=${c.icount}`);
    }
    return lines.join('\n');
  },
});

info({
  name: 'breakpoints', aliases: ['break', 'b', 'watchpoints'], usage: '', help: 'every breakpoint and watchpoint with its hit count',
  run: async (s) => formatBreakpoints((await s.execute('break-list')) as BreakpointInfo[]),
});

info({
  name: 'mtree', usage: '', help: 'the physical memory map and the I/O space, region by region',
  run: async (s) => {
    const r = (await s.execute('query-mtree')) as { memory: MemMapEntry[]; regions: RegionInfo[] };
    return formatMtree(r.memory, r.regions);
  },
});

info({
  name: 'qtree', usage: '', help: 'every device with its properties, ranges and backends',
  run: async (s) => formatQtree((await s.execute('device-list')) as DeviceListing[]),
});

info({
  name: 'devices', usage: '', help: 'a line per device',
  run: async (s) => {
    const devs = (await s.execute('device-list')) as DeviceListing[];
    return devs.map((d) => `${d.id.padEnd(10)} ${d.kind.padEnd(14)} ${d.regions.map((r) => `${r.space === 'pio' ? h(r.base, 4) : h(r.base, 8)}+${r.size}`).join(' ')}${d.backends.length ? '  ' + d.backends.join(' ') : ''}`).join('\n');
  },
});

info({
  name: 'device', usage: 'ID', help: 'a device\'s registers by datasheet name, decoded', complete: ['device'],
  run: async (s, rest) => {
    if (!rest.trim()) throw new CommandError('usage: info device ID (see info devices)');
    return formatInspection((await s.execute('device-inspect', { id: rest.trim() })) as Inspection);
  },
});

info({
  name: 'pic', usage: '', help: 'the i8259 pair (IRR, ISR, IMR, vector base, ELCR)',
  run: async (s) => {
    const ins = (await s.execute('device-inspect', { id: 'pic' })) as Inspection;
    const get = (n: string): number => ins.registers.find((r) => r.name === n)?.value ?? 0;
    return ['master', 'slave'].map((c, i) =>
      `pic${i}: irr=${hx(get(`${c} IRR`), 2)} imr=${hx(get(`${c} IMR`), 2)} isr=${hx(get(`${c} ISR`), 2)} irq_base=${hx(get(`${c} ICW2`), 2)} elcr=${hx(get(`${c} ELCR`), 2)}`,
    ).join('\n');
  },
});

info({
  name: 'traps', usage: '[N] [device ID] [ports A-B] [in|out|read|write] [pio|mmio]', help: 'the trap log, optionally filtered',
  run: async (s, rest) => {
    const t = tokenize(rest);
    const a: Record<string, unknown> = { count: 20 };
    for (let i = 0; i < t.length; i++) {
      const w = t[i].toLowerCase();
      if (/^\d+$/.test(w)) a.count = +w;
      else if (w === 'device' && t[i + 1]) a.device = t[++i];
      else if ((w === 'ports' || w === 'addr' || w === 'range') && t[i + 1]) {
        const [x, y] = await parseRange(s, t[++i]);
        a.start = x;
        a.end = y;
      } else if (w === 'in' || w === 'read') a.dir = 'read';
      else if (w === 'out' || w === 'write') a.dir = 'write';
      else if (w === 'pio' || w === 'mmio') a.space = w;
      else a.device = t[i];
    }
    return formatTraps((await s.execute('trap-log', a)) as TrapView[]);
  },
});

info({
  name: 'ioreq', usage: '', help: 'the ioreq channel: slot states, buffered ring, counters, and what each vCPU is stopped at',
  run: async (s) => {
    const q = (await s.execute('query-ioreq')) as {
      slots: { vcpu: number; state: string; seq: number; type: string; dir: string; addr: number; size: number; data: number }[];
      ring: { read: number; write: number; pending: number }; served: number; drained: number; ringFull: number; sleeps: number;
      irqLevels: number; daemonAlive: boolean; daemonSleeping: boolean;
    };
    const lines = q.slots.map((sl) => `slot ${sl.vcpu}: ${sl.state.padEnd(10)} seq ${sl.seq}  last ${sl.type} ${sl.dir} ${h(sl.addr)} size ${sl.size} data ${h(sl.data)}`);
    lines.push(`buffered ring: read ${q.ring.read} write ${q.ring.write} pending ${q.ring.pending}`);
    lines.push(`served ${q.served}, posted writes drained ${q.drained}, ring full ${q.ringFull}, waits that slept ${q.sleeps}`);
    lines.push(`ISA IRQ lines high: ${q.irqLevels ? [...Array(16).keys()].filter((i) => q.irqLevels & (1 << i)).join(' ') : 'none'}; device model ${q.daemonAlive ? (q.daemonSleeping ? 'idle' : 'serving') : 'GONE'}`);
    for (let v = 0; v < q.slots.length; v++) {
      const st = (await s.execute('query-stop', { vcpu: v })) as StopView;
      if (st.ioreq) lines.push(`vCPU ${v} is stopped before: ${st.text}`);
    }
    return lines.join('\n');
  },
});

info({
  name: 'stop', usage: '', help: 'why the current vCPU is stopped',
  run: async (s) => {
    const st = (await s.execute('query-stop', { vcpu: s.cpu })) as StopView & { running: boolean };
    return st.running ? `vCPU ${s.cpu} is running` : formatStop(st);
  },
});

info({
  name: 'version', usage: '', help: 'hvmon\'s version',
  run: async (s) => ((await s.execute('query-version')) as { package: string }).package,
});

cmd({
  name: 'info', usage: 'SUBCOMMAND', help: 'show machine state (help info lists the subcommands)', complete: ['info'],
  run: async (s, rest) => {
    const t = rest.trim();
    if (!t) return INFO.map((i) => `info ${i.name}${i.usage ? ' ' + i.usage : ''} -- ${i.help}`).join('\n');
    const sp = t.search(/\s/);
    const word = sp < 0 ? t : t.slice(0, sp);
    const sub = findInfo(word);
    if (!sub) throw new CommandError(`info: unknown subcommand '${word}' (try help info)`);
    return sub.run(s, sp < 0 ? '' : t.slice(sp + 1));
  },
});

export const INFO_COMMANDS = INFO;

// ---------------------------------------------------------------------------------------
// Running a line, and completion
// ---------------------------------------------------------------------------------------

/** Runs one human command line; resolves with its output (possibly empty). */
export async function runHuman(s: Session, line: string): Promise<string> {
  const t = line.trim();
  if (!t || t.startsWith('#')) return '';
  const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(t)!;
  let word = m[1];
  let rest = m[2] ?? '';
  // `x/10i $eip` (no space before the format) as QEMU and gdb accept.
  const slash = word.indexOf('/');
  if (slash > 0) {
    rest = word.slice(slash) + ' ' + rest;
    word = word.slice(0, slash);
  }
  const c = findCommand(word);
  if (!c) throw new CommandError(`unknown command: '${word}' (type help)`);
  return c.run(s, rest);
}

/** Completion candidates for a partial line (used by the REPL and the TUI over the protocol). */
export async function completeHuman(s: Session, line: string): Promise<string[]> {
  const words = line.split(/\s+/);
  const last = words[words.length - 1] ?? '';
  if (words.length <= 1) {
    return HUMAN_COMMANDS.flatMap((c) => [c.name, ...c.aliases]).filter((n) => n.startsWith(last)).sort();
  }
  const c = findCommand(words[0]);
  if (!c) return [];
  let kind = c.complete[Math.min(words.length - 2, c.complete.length - 1)] ?? 'none';
  if (c.name === 'info' && words.length > 2) {
    const sub = findInfo(words[1]);
    kind = sub?.complete[Math.min(words.length - 3, sub.complete.length - 1)] ?? 'none';
  }
  let cands: string[] = [];
  switch (kind) {
    case 'command': cands = HUMAN_COMMANDS.map((x) => x.name); break;
    case 'info': cands = INFO.map((x) => x.name); break;
    case 'ioreq': cands = ['show', 'let', 'set', 'answer', 'skip']; break;
    case 'register': cands = REGISTER_NAMES.map((r) => '$' + r); break;
    case 'breakpoint': cands = ((await s.execute('break-list')) as BreakpointInfo[]).map((b) => String(b.id)); break;
    case 'device': cands = ((await s.execute('device-list')) as DeviceListing[]).map((d) => d.id); break;
    default: cands = [];
  }
  // Registers complete anywhere an expression may go.
  if (last.startsWith('$')) cands = REGISTER_NAMES.map((r) => '$' + r);
  return cands.filter((x) => x.startsWith(last)).sort();
}

/** The table as data, for clients (query-hmp-commands) and docs/monitor.md. */
export function humanTable(): { name: string; aliases: string[]; usage: string; help: string; details?: string; complete: Completion[] }[] {
  return [
    ...HUMAN_COMMANDS.map(({ name, aliases, usage, help, details, complete }) => ({ name, aliases, usage, help, details, complete })),
    ...INFO.map(({ name, aliases, usage, help, details, complete }) => ({ name: `info ${name}`, aliases: aliases.map((a) => `info ${a}`), usage, help, details, complete })),
  ];
}
