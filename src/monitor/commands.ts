// The machine commands: every capability of the monitor is one row here, with its argument
// schema and its help. QEMU's names where QEMU has the command; ours for the rest. The human
// commands (hmp.ts) call these, and so do the gdb stub and the front ends.

import { writeFileSync } from 'node:fs';
import { hex } from '../common/types.js';
import { readRegister, REGISTER_NAMES, writeRegister } from '../core/debug/registers.js';
import { Hdr, IoreqState, Ring, Slot, slotState, wordSeq } from '../core/ioreq/abi.js';
import type { CpuState } from '../core/vcpu/CpuState.js';
import { cpl, cpuMode } from '../core/vcpu/CpuState.js';
import type { VcpuStats } from '../core/vcpu/protocol.js';
import { disassemble } from './disasm.js';
import { CommandError, stopView, type ArgSpec, type Monitor, type Session } from './Monitor.js';
import { STREAM_EVENTS, type BreakpointInfo, type CpuView, type StatusInfo, type TrapView } from './protocol.js';

export interface CommandDef {
  name: string;
  help: string;
  args: Record<string, ArgSpec>;
  run(m: Monitor, args: Record<string, unknown>, s: Session): Promise<unknown>;
}

const VERSION = { qemu: { major: 0, minor: 1, micro: 0 }, package: 'hvmon 0.1.0' };

const cmds: CommandDef[] = [];
function def(name: string, help: string, args: Record<string, ArgSpec>, run: CommandDef['run']): void {
  cmds.push({ name, help, args, run });
}

const VCPU: ArgSpec = { type: 'int', optional: true, help: 'vCPU index (default: the session\'s current vCPU)' };
const vcpuOf = (m: Monitor, a: Record<string, unknown>, s: Session): number => {
  const v = (a.vcpu as number | undefined) ?? (a['cpu-index'] as number | undefined) ?? s.cpu;
  if (v < 0 || v >= m.machine.config.vcpus) throw new CommandError(`there is no vCPU ${v}; this VM has ${m.machine.config.vcpus}`);
  return v;
};

function parseHex(data: string): Uint8Array {
  const clean = data.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new CommandError('data must be a hex string, two digits per byte');
  return Uint8Array.from(clean.match(/../g) ?? [], (x) => parseInt(x, 16));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

export function cpuView(vcpu: number, st: { state: CpuState; running: boolean; halted: boolean }): CpuView {
  const regs: Record<string, number> = {};
  for (const n of REGISTER_NAMES) {
    const v = readRegister(st.state, n);
    if (v !== undefined) regs[n] = v;
  }
  return {
    vcpu, mode: cpuMode(st.state), cpl: cpl(st.state), running: st.running, halted: st.halted,
    regs, state: st.state as unknown as Record<string, unknown>,
  };
}

/** QEMU's query-status view of our run state. */
export function statusInfo(m: Monitor): StatusInfo {
  const st = m.machine.state;
  const status: StatusInfo['status'] = st === 'quit' ? 'shutdown' : st;
  return { running: st === 'running', singlestep: false, status };
}

function bpInfo(b: BreakpointInfo): BreakpointInfo {
  return { ...b };
}

async function waitForStop(m: Monitor, start: () => Promise<unknown>): Promise<Record<string, unknown>> {
  const next = m.nextStop();
  await start();
  return stopView(await next);
}

// ---- QEMU's commands ---------------------------------------------------------------------

def('qmp_capabilities', 'Leave capabilities negotiation mode (must be the first command).', {
  enable: { type: 'str[]', optional: true, help: 'capabilities to enable (none are offered)' },
}, async (_m, a) => {
  if ((a.enable as string[] | undefined)?.length) throw new CommandError(`Capability '${(a.enable as string[])[0]}' not available`);
  return {};
});

def('query-version', 'Version of hvmon.', {}, async () => VERSION);
def('query-name', 'Name of this VM host.', {}, async (m) => (m.hooks.name ? { name: m.hooks.name } : {}));
def('query-commands', 'Every machine command.', {}, async () => cmds.map((c) => ({ name: c.name })));
def('query-status', 'Whether the VM runs, and why not.', {}, async (m) => statusInfo(m));

def('stop', 'Pause every vCPU (or one with vcpu); the device model keeps running.', { vcpu: { ...VCPU, help: 'only this vCPU (non-stop)' } }, async (m, a) => {
  await m.machine.pause(a.vcpu as number | undefined);
  return {};
});

def('cont', 'Resume every vCPU (or one with vcpu). A pending I/O request is delivered first.', { vcpu: { ...VCPU, help: 'only this vCPU' } }, async (m, a) => {
  await m.machine.resume(a.vcpu as number | undefined);
  return {};
});

def('system_reset', 'Reset the VM as the reset button does.', {}, async (m) => {
  await m.machine.reset('host');
  return {};
});

def('quit', 'Stop the VM and the VM host.', {}, async (m) => {
  m.emitEvent('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' });
  setImmediate(() => {
    void m.machine.quit().then(() => m.hooks.onQuit?.());
  });
  return {};
});

def('human-monitor-command', 'Run a human monitor command; returns its output.', {
  'command-line': { type: 'str', help: 'the command, as typed at the (hvmon) prompt' },
  'cpu-index': { type: 'int', optional: true, help: 'vCPU for this command' },
}, async (m, a, s) => {
  const { runHuman } = await import('./hmp.js');
  const prev = s.cpu;
  if (a['cpu-index'] !== undefined) s.cpu = vcpuOf(m, a, s);
  try {
    return await runHuman(s, a['command-line'] as string);
  } finally {
    s.cpu = prev;
  }
});

def('query-hmp-commands', 'The human command table: names, aliases, usage, help, completion kinds.', {}, async () => {
  const { humanTable } = await import('./hmp.js');
  return humanTable();
});

def('hmp-complete', 'Completion candidates for a partial human command line.', {
  line: { type: 'str', help: 'the line so far' },
}, async (_m, a, s) => {
  const { completeHuman } = await import('./hmp.js');
  return completeHuman(s, a.line as string);
});

def('memsave', 'Save guest memory at a linear (virtual) address to a file.', {
  val: { type: 'int', help: 'linear start address' },
  size: { type: 'int', help: 'bytes' },
  filename: { type: 'str', help: 'file to write' },
  'cpu-index': { type: 'int', optional: true, help: 'vCPU whose page tables to use' },
}, async (m, a, s) => {
  const data = await m.debug.read(a.val as number, a.size as number, 'linear', vcpuOf(m, a, s));
  writeFileSync(a.filename as string, data);
  return {};
});

def('pmemsave', 'Save guest physical memory to a file.', {
  val: { type: 'int', help: 'physical start address' },
  size: { type: 'int', help: 'bytes' },
  filename: { type: 'str', help: 'file to write' },
}, async (m, a) => {
  const data = await m.debug.read(a.val as number, a.size as number, 'phys');
  writeFileSync(a.filename as string, data);
  return {};
});

def('query-cpus-fast', 'Every vCPU, with its state.', {}, async (m) => {
  const stats = await m.machine.stats();
  const out = [];
  for (let i = 0; i < m.machine.config.vcpus; i++) {
    out.push({
      'cpu-index': i, 'qom-path': `/machine/unattached/device[${i}]`, 'thread-id': process.pid, target: 'i386',
      props: { 'core-id': 0, 'thread-id': 0, 'socket-id': i },
      running: stats.running[i], halted: stats.halted[i], icount: stats.icount[i],
      stop: m.machine.stops[i] ? stopView(m.machine.stops[i]!) : null,
    });
  }
  return out;
});

// ---- Execution control -------------------------------------------------------------------

def('step', 'Execute count instructions on a stopped vCPU; returns the stop that ends it.', {
  vcpu: VCPU, count: { type: 'int', optional: true, help: 'instructions (default 1)' },
}, async (m, a, s) => {
  const vcpu = vcpuOf(m, a, s);
  const count = (a.count as number | undefined) ?? 1;
  if (count < 1) throw new CommandError('count must be at least 1');
  return waitForStop(m, () => m.machine.vcpu({ t: 'step', vcpu, count }));
});

def('step-trap', 'Run a stopped vCPU to its next trap (I/O, MMIO, interrupt or exception) and stop before it is delivered.', {
  vcpu: VCPU,
}, async (m, a, s) => {
  const vcpu = vcpuOf(m, a, s);
  return waitForStop(m, () => m.machine.vcpu({ t: 'step-trap', vcpu }));
});

def('debug-set-mode', 'all-stop (default): a stop stops every vCPU; non-stop: only the vCPU that hit it stops.', {
  mode: { type: 'str', values: ['all-stop', 'non-stop'], help: 'the mode' },
}, async (m, a) => {
  await m.machine.vcpu({ t: 'mode', nonStop: a.mode === 'non-stop' });
  return { mode: a.mode };
});

def('query-stop', 'Why a vCPU is stopped, and the request it is stopped in front of.', { vcpu: VCPU }, async (m, a, s) => {
  const v = vcpuOf(m, a, s);
  const st = m.machine.stops[v];
  return st ? { running: false, ...stopView(st) } : { vcpu: v, running: true, reason: null, text: 'running' };
});

def('ioreq-complete', 'Let the pending I/O or MMIO request through; with value, answer a read by hand or change a write.', {
  vcpu: VCPU, value: { type: 'int', optional: true, help: 'read: the answer (the device never sees it); write: the new data' },
}, async (m, a, s) => {
  const vcpu = vcpuOf(m, a, s);
  const st = m.machine.stops[vcpu];
  if (!st?.ioreq) throw new CommandError(`vCPU ${vcpu} is not stopped at an I/O or MMIO request`);
  if (a.value === undefined) await m.machine.vcpu({ t: 'ioreq', vcpu, action: 'let' });
  else if (st.ioreq.dir === 'read') await m.machine.vcpu({ t: 'ioreq', vcpu, action: 'answer', value: a.value as number });
  else {
    await m.machine.vcpu({ t: 'ioreq', vcpu, action: 'set', value: a.value as number });
    await m.machine.vcpu({ t: 'ioreq', vcpu, action: 'let' });
  }
  st.ioreq = undefined;
  return {};
});

def('ioreq-set', 'Change the data of the pending write; it stays pending.', {
  vcpu: VCPU, value: { type: 'int', help: 'new data' },
}, async (m, a, s) => {
  const vcpu = vcpuOf(m, a, s);
  const p = await m.machine.vcpu({ t: 'ioreq', vcpu, action: 'set', value: a.value as number });
  const st = m.machine.stops[vcpu];
  if (st && p) st.ioreq = p as typeof st.ioreq;
  return p;
});

def('ioreq-skip', 'Drop the pending request: a write never happens, a read returns all ones.', { vcpu: VCPU }, async (m, a, s) => {
  const vcpu = vcpuOf(m, a, s);
  await m.machine.vcpu({ t: 'ioreq', vcpu, action: 'skip' });
  const st = m.machine.stops[vcpu];
  if (st) st.ioreq = undefined;
  return {};
});

// ---- Breakpoints ---------------------------------------------------------------------------

def('break-insert', 'Set a breakpoint: exec (linear address), watch (memory), io (ports), mmio (physical range) or interrupt (vector).', {
  type: { type: 'str', values: ['exec', 'watch', 'io', 'mmio', 'interrupt'], help: 'kind' },
  addr: { type: 'int', help: 'address, first port or vector' },
  end: { type: 'int', optional: true, help: 'last address/port/vector (inclusive)' },
  access: { type: 'str', optional: true, values: ['r', 'w', 'rw'], help: 'direction for watch/io/mmio' },
  space: { type: 'str', optional: true, values: ['phys', 'linear'], help: 'watch: address space (default phys)' },
  condition: { type: 'str', optional: true, help: 'e.g. "value & 0x80" or "$eax == 3"' },
  temporary: { type: 'bool', optional: true, help: 'delete after the first stop' },
  ignore: { type: 'int', optional: true, help: 'crossings to ignore first' },
  enabled: { type: 'bool', optional: true, help: 'armed (default true)' },
  vcpu: { type: 'int', optional: true, help: 'only this vCPU' },
  origin: { type: 'str', optional: true, help: 'the user\'s own words, for listings' },
}, async (m, a) => bpInfo(await m.debug.insert({
  type: a.type as BreakpointInfo['type'], addr: a.addr as number, end: a.end as number | undefined,
  access: a.access as BreakpointInfo['access'] | undefined, space: a.space as 'phys' | 'linear' | undefined,
  condition: (a.condition as string | undefined) ?? null, temporary: a.temporary as boolean | undefined,
  ignore: a.ignore as number | undefined, enabled: a.enabled as boolean | undefined, vcpu: a.vcpu as number | undefined,
  origin: a.origin as string | undefined,
})));

def('break-delete', 'Delete a breakpoint (id), or all of them (id = "all").', {
  id: { type: 'int|str', help: 'breakpoint number or "all"' },
}, async (m, a) => {
  if (typeof a.id === 'string' && a.id !== 'all') throw new CommandError(`id must be a breakpoint number or "all"`);
  return { deleted: await m.debug.delete(a.id === 'all' ? 'all' : [a.id as number]) };
});

def('break-update', 'Enable or disable a breakpoint, change its condition or ignore count.', {
  id: { type: 'int', help: 'breakpoint number' },
  enabled: { type: 'bool', optional: true, help: 'armed or not' },
  condition: { type: 'str', optional: true, help: 'new condition ("" removes it)' },
  ignore: { type: 'int', optional: true, help: 'crossings to ignore' },
}, async (m, a) => bpInfo(await m.debug.update(a.id as number, {
  enabled: a.enabled as boolean | undefined, condition: a.condition as string | undefined, ignore: a.ignore as number | undefined,
})));

def('break-list', 'Every breakpoint with its hit count.', {}, async (m) => m.debug.list());

// ---- Registers and memory ------------------------------------------------------------------

def('reg-read', 'Registers of a vCPU: every register by name, and the full state with descriptor caches.', { vcpu: VCPU }, async (m, a, s) => {
  const v = vcpuOf(m, a, s);
  return cpuView(v, await m.machine.getState(v));
});

def('reg-write', 'Write one register of a stopped vCPU (eax, ax, al, eip, eflags, cs, cs.base, cr0, …).', {
  vcpu: VCPU, name: { type: 'str', help: 'register name' }, value: { type: 'int', help: 'new value' },
}, async (m, a, s) => {
  const v = vcpuOf(m, a, s);
  const name = (a.name as string).toLowerCase().replace(/^\$/, '');
  if (!REGISTER_NAMES.includes(name)) throw new CommandError(`unknown register ${a.name} (known: ${REGISTER_NAMES.join(' ')})`);
  const cur = await m.machine.getState(v);
  if (cur.running) throw new CommandError(`vCPU ${v} is running; stop it before writing registers`);
  await m.machine.setState(v, writeRegister(cur.state, name, a.value as number));
  return cpuView(v, await m.machine.getState(v)).regs;
});

def('mem-read', 'Read guest memory: physical, or linear through the vCPU\'s page tables. VGA memory reads as the guest would read it (without a read\'s side effects); other device memory and holes as 0xFF.', {
  addr: { type: 'int', help: 'start address' },
  size: { type: 'int', help: 'bytes (at most 1 MiB)' },
  space: { type: 'str', optional: true, values: ['phys', 'linear'], help: 'default phys' },
  vcpu: VCPU,
}, async (m, a, s) => {
  const size = a.size as number;
  if (size < 0 || size > 1 << 20) throw new CommandError('size must be 0-1048576');
  const data = await m.debug.read(a.addr as number, size, (a.space as 'phys' | 'linear') ?? 'phys', vcpuOf(m, a, s));
  return { addr: a.addr, data: toHex(data) };
});

def('mem-write', 'Write guest memory (RAM only): physical, or linear through the page tables.', {
  addr: { type: 'int', help: 'start address' },
  data: { type: 'str', help: 'bytes as hex, e.g. "90eb fe"' },
  space: { type: 'str', optional: true, values: ['phys', 'linear'], help: 'default phys' },
  vcpu: VCPU,
}, async (m, a, s) => {
  const data = parseHex(a.data as string);
  await m.debug.write(a.addr as number, data, (a.space as 'phys' | 'linear') ?? 'phys', vcpuOf(m, a, s));
  return { written: data.length };
});

def('translate', 'Linear to physical through the vCPU\'s page tables (no side effects).', {
  addr: { type: 'int', help: 'linear address' }, vcpu: VCPU, write: { type: 'bool', optional: true, help: 'as a write' },
}, async (m, a, s) => m.debug.translate(a.addr as number, vcpuOf(m, a, s), (a.write as boolean) ?? false));

def('page-walk', 'The page-table walk for a linear address, step by step.', { addr: { type: 'int', help: 'linear address' }, vcpu: VCPU },
  async (m, a, s) => ({ lines: await m.debug.pageWalk(a.addr as number, vcpuOf(m, a, s)) }));

def('disassemble', 'Disassemble in the vCPU\'s current mode (iced-x86), at an address or at CS:EIP.', {
  addr: { type: 'int', optional: true, help: 'linear address (default CS:EIP)' },
  count: { type: 'int', optional: true, help: 'instructions (default 10)' },
  bits: { type: 'int', optional: true, help: '16 or 32 (default: the CPU\'s mode)' },
  vcpu: VCPU,
}, async (m, a, s) => {
  const v = vcpuOf(m, a, s);
  const { state } = await m.machine.getState(v);
  const mode = cpuMode(state);
  const bits = (a.bits as 16 | 32 | undefined) ?? (mode === 'prot32' ? 32 : 16);
  if (bits !== 16 && bits !== 32) throw new CommandError('bits must be 16 or 32');
  const count = Math.min((a.count as number | undefined) ?? 10, 1000);
  const addr = (a.addr as number | undefined) ?? ((state.cs.base + state.eip) >>> 0);
  const ip = a.addr === undefined ? state.eip : (addr - state.cs.base) >>> 0;
  let bytes: Uint8Array;
  try {
    bytes = await m.debug.read(addr, count * 15, 'linear', v);
  } catch {
    // Near the end of mapped memory: read what can be read.
    bytes = await m.debug.read(addr, Math.max(1, 0x1000 - (addr & 0xfff)), 'linear', v);
  }
  return disassemble(bytes, bits, ip, addr, count);
});

// ---- Devices and the machine's layout --------------------------------------------------------

def('device-list', 'Every device: id, chip, properties, ranges and backends.', {}, async (m) => m.machine.deviceList());

def('device-inspect', 'A device\'s registers by their datasheet names, decoded, with queues and counters.', {
  id: { type: 'str', help: 'device id (com1, pic, ide0, …)' },
}, async (m, a) => {
  const ids = (await m.machine.deviceList()).map((d) => d.id);
  if (!ids.includes(a.id as string)) throw new CommandError(`Device '${a.id}' not found (devices: ${ids.join(', ')})`, 'DeviceNotFound');
  return m.machine.inspect(a.id as string);
});

def('query-mtree', 'The physical memory map and the I/O space, region by region (inclusive ends).', {}, async (m) => ({
  memory: m.machine.mem.map(),
  regions: m.machine.regions,
}));

def('trap-log', 'Recent traps: vCPU, IP, space, address, size, direction, value, device, register, and the hop latencies of sampled device-model round trips.', {
  count: { type: 'int', optional: true, help: 'entries (default 20, at most 4096)' },
  device: { type: 'str', optional: true, help: 'only this device' },
  start: { type: 'int', optional: true, help: 'only addresses/ports from here' },
  end: { type: 'int', optional: true, help: 'only addresses/ports up to here (inclusive)' },
  dir: { type: 'str', optional: true, values: ['read', 'write'], help: 'only this direction' },
  space: { type: 'str', optional: true, values: ['pio', 'mmio'], help: 'only this space' },
}, async (m, a) => trapLog(m, a));

export function trapLog(m: Monitor, a: Record<string, unknown>): TrapView[] {
  const count = Math.min((a.count as number | undefined) ?? 20, 4096);
  const regions = m.machine.regions;
  const filtered = a.device !== undefined || a.start !== undefined || a.end !== undefined || a.dir !== undefined || a.space !== undefined;
  const all = m.machine.trapLog.recent(filtered ? 4096 : count);
  const out: TrapView[] = [];
  for (const r of all) {
    const reg = regions[r.region];
    const device = reg?.name ?? null;
    const register = reg?.registers?.[r.addr - reg.base]?.[r.dir === 'read' ? 0 : 1] ?? null;
    if (a.device !== undefined && device !== a.device && !device?.startsWith(`${a.device as string}.`)) continue;
    if (a.start !== undefined && r.addr < (a.start as number)) continue;
    if (a.end !== undefined && r.addr > (a.end as number)) continue;
    if (a.dir !== undefined && r.dir !== a.dir) continue;
    if (a.space !== undefined && r.space !== a.space) continue;
    out.push({ ...r, device, register });
  }
  return out.slice(-count);
}

def('query-ioreq', 'The ioreq channel itself: slot states, the buffered ring, counters.', {}, async (m) => {
  const v = m.machine.views;
  const names = ['NONE', 'READY', 'IN_PROCESS', 'RESP_READY'];
  return {
    slots: v.slots.map((s, i) => {
      const st = slotState(s);
      return {
        vcpu: i, state: names[st] ?? '?', seq: wordSeq(s[Slot.REQ_STATE]), type: s[Slot.TYPE] === 0 ? 'pio' : 'mmio',
        dir: s[Slot.DIR] === 1 ? 'read' : 'write', addr: s[Slot.ADDR] >>> 0, size: s[Slot.SIZE], count: s[Slot.COUNT],
        data: (s[Slot.DIR] === 1 ? s[Slot.RESP_DATA] : s[Slot.DATA]) >>> 0, vcpuSleeping: s[Slot.VCPU_SLEEPING] !== 0,
        busy: st !== IoreqState.NONE,
      };
    }),
    ring: { read: v.ring[Ring.READ_PTR] >>> 0, write: v.ring[Ring.WRITE_PTR] >>> 0, pending: (v.ring[Ring.WRITE_PTR] - v.ring[Ring.READ_PTR]) | 0 },
    served: v.hdr[Hdr.SERVED] >>> 0, drained: v.hdr[Hdr.DRAINED] >>> 0, ringFull: v.hdr[Hdr.RING_FULL] >>> 0,
    sleeps: v.hdr[Hdr.SLEEPS] >>> 0, daemonSleeping: v.hdr[Hdr.DAEMON_SLEEPING] !== 0,
    irqLevels: v.hdr[Hdr.IRQ_LEVELS] >>> 0, daemonAlive: v.hdr[Hdr.DAEMON_DEAD] === 0,
  };
});

def('query-stats', 'Instructions retired, traps, and the virtual clock.', {}, async (m) => m.machine.stats() as Promise<VcpuStats>);

def('vga-screen', 'The VGA text screen: characters, attributes and cursor.', { id: { type: 'str', optional: true, help: 'device (default vga)' } },
  async (m, a) => m.screen((a.id as string | undefined) ?? 'vga'));

def('serial-write', 'Type bytes into a device\'s character input (a UART\'s receive side).', {
  device: { type: 'str', optional: true, help: 'device id (default com1)' },
  data: { type: 'str', help: 'the bytes, as text (UTF-8) or base64 with format' },
  format: { type: 'str', optional: true, values: ['utf8', 'base64', 'latin1'], help: 'encoding of data (default utf8)' },
}, async (m, a) => {
  const enc = ((a.format as string | undefined) ?? 'utf8') as BufferEncoding;
  const data = new Uint8Array(Buffer.from(a.data as string, enc));
  await m.machine.input((a.device as string | undefined) ?? 'com1', data);
  return { written: data.length };
});

def('serial-history', 'What a device sent to its character backend recently (up to 64 KiB), for a client that attaches late.', {
  device: { type: 'str', optional: true, help: 'device id (default com1)' },
  bytes: { type: 'int', optional: true, help: 'at most this many of the last bytes' },
}, async (m, a) => {
  const all = m.scrollback((a.device as string | undefined) ?? 'com1');
  const n = Math.min((a.bytes as number | undefined) ?? all.length, all.length);
  return { device: (a.device as string | undefined) ?? 'com1', data: all.subarray(all.length - n).toString('latin1') };
});

def('keyboard-type', 'Type text on the PS/2 keyboard (make and break codes, with shift).', {
  text: { type: 'str', help: 'text to type; \\n is Enter' },
  device: { type: 'str', optional: true, help: 'keyboard controller id (default kbd)' },
}, async (m, a) => {
  await m.machine.daemon({ t: 'keys', id: (a.device as string | undefined) ?? 'kbd', text: a.text as string });
  return {};
});

def('subscribe', 'Receive stream events on this connection (SERIAL_OUTPUT, VGA_UPDATE, TRAP).', {
  events: { type: 'str[]', help: 'event names' },
  unsubscribe: { type: 'bool', optional: true, help: 'stop receiving them instead' },
  history: { type: 'bool', optional: true, help: 'SERIAL_OUTPUT: first replay what each device sent recently (history: true in the event), with no gap or overlap' },
}, async (m, a, s) => {
  for (const e of a.events as string[]) {
    if (!(STREAM_EVENTS as readonly string[]).includes(e)) throw new CommandError(`'${e}' is not a stream event (${STREAM_EVENTS.join(', ')})`);
  }
  for (const e of a.events as string[]) {
    const ev = e as (typeof STREAM_EVENTS)[number];
    const had = s.subscriptions.has(ev);
    if (a.unsubscribe) s.subscriptions.delete(ev);
    else s.subscriptions.add(ev);
    if (had === s.subscriptions.has(ev)) continue;
    if (ev === 'VGA_UPDATE') m.vgaSubscribe(a.unsubscribe ? -1 : 1);
    if (ev === 'TRAP') m.trapSubscribe(a.unsubscribe ? -1 : 1);
    // The replay goes out in the same turn as the subscription, before any later output.
    if (ev === 'SERIAL_OUTPUT' && a.history && !a.unsubscribe) {
      for (const [device, data] of m.scrollbacks()) {
        s.deliver?.({ event: 'SERIAL_OUTPUT', data: { device, data: data.toString('latin1'), history: true } });
      }
    }
  }
  return { subscribed: [...s.subscriptions] };
});

def('gdbserver', 'Start the gdb stub (tcp::PORT, loopback unless a host is given).', {
  device: { type: 'str', optional: true, help: 'where to listen (default tcp::1234)' },
}, async (m, a) => {
  if (!m.hooks.startGdb) throw new CommandError('this VM host cannot start a gdb stub');
  return { listening: await m.hooks.startGdb((a.device as string | undefined) ?? 'tcp::1234') };
});

def('cpu', 'Set the default vCPU of this session.', { index: { type: 'int', help: 'vCPU index' } }, async (m, a, s) => {
  s.cpu = vcpuOf(m, { vcpu: a.index }, s);
  return {};
});

export const COMMANDS = new Map(cmds.map((c) => [c.name, c]));
export { hex };
