// A stand-in for a QMP connection in the TUI's unit and component tests: canned answers to the
// machine commands the store uses, a record of every call, and events emitted on demand.

import { EventEmitter } from 'node:events';
import type { QmpEvent } from '../monitor/protocol.js';
import type { MonitorLink } from './wire.js';

type Handler = (args: Record<string, unknown>) => unknown;

export const REGS = (eip: number, eax = 0): Record<string, number> => ({
  eax, ebx: 0, ecx: 0, edx: 0x80, esi: 0, edi: 0, ebp: 0, esp: 0x7c00, eip, eflags: 2,
  cs: 0, ds: 0, es: 0, ss: 0, fs: 0, gs: 0, 'cs.base': 0, 'ds.base': 0, 'ss.base': 0, 'es.base': 0, cr0: 0x60000010, cr2: 0, cr3: 0, cr4: 0,
});

export class FakeLink extends EventEmitter implements MonitorLink {
  calls: { name: string; args: Record<string, unknown> }[] = [];
  eip = 0x7c00;
  eax = 0;
  running = false;
  readonly handlers: Record<string, Handler> = {
    subscribe: () => ({ subscribed: ['SERIAL_OUTPUT', 'VGA_UPDATE'] }),
    'query-name': () => ({ name: 'vm0' }),
    'vga-screen': () => null,
    'device-list': () => [
      { id: 'com1', kind: 'uart16550', props: {}, regions: [{ space: 'pio', base: 0x3f8, size: 8, name: 'com1' }], backends: [] },
      { id: 'pic', kind: 'i8259', props: {}, regions: [], backends: [] },
    ],
    'device-inspect': (a) => ({ id: a.id, kind: 'uart16550', registers: [{ name: 'LSR', offset: 5, value: 0x60, width: 8, bits: [{ name: 'THRE', value: 1 }] }] }),
    'query-status': () => ({ running: this.running, singlestep: false, status: this.running ? 'running' : 'paused' }),
    'query-stop': () => (this.running ? { vcpu: 0, running: true, reason: null, text: 'running' } : { vcpu: 0, running: false, reason: 'pause', text: 'paused (-S)' }),
    'reg-read': () => ({ vcpu: 0, mode: 'real', cpl: 0, running: this.running, halted: false, regs: REGS(this.eip, this.eax), state: {} }),
    disassemble: (a) => {
      const start = (a.addr as number | undefined) ?? this.eip;
      return Array.from({ length: (a.count as number | undefined) ?? 10 }, (_, i) => ({ addr: start + i, ip: start + i, bytes: '90', text: 'nop', length: 1 }));
    },
    'break-list': () => [],
    'query-cpus-fast': () => [{ 'cpu-index': 0, running: this.running, halted: false, icount: 0, stop: null }],
    'trap-log': () => [],
    'query-stats': () => ({ icount: [0], traps: 0, running: [this.running], halted: [false], clock: 0 }),
    'mem-read': (a) => ({ addr: a.addr, data: '48656c6c6f'.padEnd((a.size as number) * 2, '0') }),
    'hmp-complete': (a) => ['registers', 'roms'].filter((c) => c.startsWith(String(a.line).split(/\s+/).pop() ?? '')),
    'human-monitor-command': (a) => `ran ${String(a['command-line'])}`,
    step: () => {
      this.eip++;
      return { vcpu: 0, reason: 'step', text: 'step' };
    },
    'step-trap': () => ({ vcpu: 0, reason: 'io-breakpoint', text: 'outb 0x03f9' }),
    cont: () => ({}),
    stop: () => ({}),
    'break-insert': (a) => ({ id: 1, type: a.type, addr: a.addr, end: a.addr, access: 'rw', space: 'linear', condition: null, ignore: 0, temporary: false, enabled: true, origin: '', hits: 0 }),
    'break-delete': () => ({ deleted: 1 }),
    'serial-write': () => ({ written: 1 }),
    'keyboard-type': () => ({}),
  };

  execute<T = unknown>(name: string, args: Record<string, unknown> = {}): Promise<T> {
    this.calls.push({ name, args });
    const h = this.handlers[name];
    if (!h) return Promise.reject(new Error(`The command ${name} has not been found`));
    try {
      return Promise.resolve(h(args) as T);
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  event(event: string, data: Record<string, unknown> = {}): void {
    const e: QmpEvent = { event, data, timestamp: { seconds: 0, microseconds: 0 } };
    this.emit('event', e);
  }

  called(name: string): { name: string; args: Record<string, unknown> }[] {
    return this.calls.filter((c) => c.name === name);
  }

  close(): void {
    this.emit('close');
  }
}

/** Resolves when pred holds (polling the event loop), for the store's async refreshes. */
export async function settle(pred: () => boolean = () => true, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    await new Promise((r) => setTimeout(r, 5));
    if (pred()) return;
    if (Date.now() > end) throw new Error('condition not reached');
  }
}
