// The plain console of `hvmon run --display none` (and of any run whose stdout is not a
// terminal): the guest's serial output on stdout, stdin to the guest's COM1, and QEMU's
// escape keys to reach the monitor: Ctrl-A c toggles between the guest and an (hvmon)
// prompt, Ctrl-A x quits, Ctrl-A h lists the keys, Ctrl-A Ctrl-A sends a Ctrl-A.
// It talks to the monitor through a Session like any other client.

import { createInterface, type Interface } from 'node:readline';
import { errorMessage } from './common/errors.js';
import type { Session } from './monitor/Monitor.js';
import { runHuman } from './monitor/hmp.js';

const CTRL_A = 0x01;

export interface ConsoleOptions {
  /** Devices whose output this console shows (those wired to the monitor's console, 'vc'). */
  devices: string[];
  /** Where typed bytes go (COM1), or null when COM1 is not on this console. */
  inputDevice: string | null;
  onQuit(): void;
}

export class PlainConsole {
  private _monitorMode = false;
  private _escape = false;
  private _rl: Interface | null = null;
  private readonly _raw: boolean;

  constructor(
    private readonly _session: Session,
    private readonly _opts: ConsoleOptions,
  ) {
    this._raw = process.stdin.isTTY === true;
  }

  start(): void {
    const m = this._session.monitor;
    // A reader that goes away (`| head`) must not take the VM host with it: the guest's
    // output then has nowhere to go, and the host keeps running for its other clients.
    let stdoutOpen = true;
    process.stdout.on('error', () => (stdoutOpen = false));
    process.stderr.on('error', () => undefined);
    m.machine.on('output', (device, data) => {
      if (stdoutOpen && this._opts.devices.includes(device) && !this._monitorMode) process.stdout.write(data);
    });
    m.machine.on('stop', (info) => {
      if (info.reason !== 'pause' || this._monitorMode) this._note(info.text);
    });
    if (this._raw) {
      process.stdin.setRawMode(true);
      process.stdin.on('data', (d: Buffer) => this._key(d));
      this._note('Ctrl-A h for help, Ctrl-A c for the monitor, Ctrl-A x to quit');
    } else {
      // Not a terminal: every byte goes to the guest.
      process.stdin.on('data', (d: Buffer) => this._toGuest(d));
      process.stdin.on('error', () => undefined);
    }
  }

  stop(): void {
    if (this._raw && process.stdin.isTTY) process.stdin.setRawMode(false);
    this._rl?.close();
    process.stdin.pause();
  }

  private _note(text: string): void {
    process.stderr.write(`\r\n[hvmon] ${text}\r\n`);
  }

  private _toGuest(d: Uint8Array): void {
    if (!this._opts.inputDevice || d.length === 0) return;
    this._session.execute('serial-write', { device: this._opts.inputDevice, data: Buffer.from(d).toString('base64'), format: 'base64' }).catch(() => undefined);
  }

  private _key(d: Buffer): void {
    if (this._monitorMode) return;
    const out: number[] = [];
    for (const b of d) {
      if (this._escape) {
        this._escape = false;
        const c = String.fromCharCode(b).toLowerCase();
        if (b === CTRL_A) out.push(CTRL_A);
        else if (c === 'x') {
          this._note('quit');
          this._opts.onQuit();
          return;
        } else if (c === 'c') {
          this._toGuest(Uint8Array.from(out));
          this._enterMonitor();
          return;
        } else if (c === 'h') {
          this._note('Ctrl-A c  monitor prompt (type "c" or Ctrl-A c there... or "console" to come back)\r\n' +
            '        Ctrl-A x  quit\r\n        Ctrl-A Ctrl-A  send Ctrl-A to the guest');
        }
        continue;
      }
      if (b === CTRL_A) this._escape = true;
      else out.push(b);
    }
    this._toGuest(Uint8Array.from(out));
  }

  private _enterMonitor(): void {
    this._monitorMode = true;
    if (this._raw) process.stdin.setRawMode(false);
    process.stdin.removeAllListeners('data');
    process.stdout.write('\r\n');
    const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: '(hvmon) ' });
    this._rl = rl;
    rl.prompt();
    rl.on('line', (line) => {
      const t = line.trim();
      if (t === 'console' || t === '\x01c') {
        this._leaveMonitor();
        return;
      }
      void runHuman(this._session, t).then(
        (out) => {
          if (out) process.stdout.write(out.replace(/\n/g, '\r\n') + '\r\n');
        },
        (e: unknown) => process.stdout.write(`${errorMessage(e)}\r\n`),
      ).finally(() => {
        if (this._monitorMode) rl.prompt();
      });
    });
    rl.on('close', () => {
      if (this._monitorMode) this._opts.onQuit();
    });
  }

  private _leaveMonitor(): void {
    this._monitorMode = false;
    const rl = this._rl;
    this._rl = null;
    rl?.removeAllListeners('close');
    rl?.close();
    if (this._raw) {
      process.stdin.setRawMode(true);
      process.stdin.resume();
      process.stdin.on('data', (d: Buffer) => this._key(d));
    }
    this._note('back to the guest console');
  }
}
