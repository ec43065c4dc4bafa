// What each key does. Keys arrive decoded (keys.ts); the store does the work. The layout of
// the keyboard is QEMU's and a debugger's:
//   F5 continue, F6 pause, F10 step, F11 step-trap, F9 breakpoint at the disassembly cursor;
//   Ctrl-] switches keystrokes between the monitor and the guest (the one toggle key);
//   Ctrl-A is QEMU's escape in either mode: Ctrl-A c toggles, Ctrl-A x quits the VM,
//   Ctrl-A d detaches, Ctrl-A Ctrl-A sends a Ctrl-A to the guest.
// In monitor mode: Tab/Shift-Tab cycle the panes, 1-9 toggle them, `:` opens the command
// line, `?` the help, arrows/PgUp/PgDn move in the focused pane, q leaves.

import type { Key } from './keys.js';
import { PANES, type TuiStore } from './store.js';

export interface ControllerHooks {
  /** Leave the TUI; the VM keeps running (hvmon attach). */
  detach(): void;
  /** Stop the VM (QMP quit) and leave. */
  quitVm(): void;
}

/** Function keys work in both modes: they never reach the guest. */
function functionKey(store: TuiStore, k: Key): boolean {
  switch (k.name) {
    case 'f5': void store.cont(); return true;
    case 'f6': void store.pause(); return true;
    case 'f9': void store.toggleBreakpoint(); return true;
    case 'f10': void store.step(); return true;
    case 'f11': void store.stepTrap(); return true;
    case 'f1': store.toggleHelp(); return true;
    default: return false;
  }
}

export class Controller {
  private _escape = false;

  constructor(
    private readonly _store: TuiStore,
    private readonly _hooks: ControllerHooks,
  ) {}

  /** Leaving, as `q` and Ctrl-C do: detach from a remote host; for our own host ask first. */
  leave(): void {
    const s = this._store.state;
    if (!s.connected) {
      this._hooks.detach();
      return;
    }
    if (s.ownHost) this._store.ask('Quit the VM? (y/n)', () => this._hooks.quitVm());
    else this._hooks.detach();
  }

  /** Handles one chunk of terminal input. */
  input(data: string, decode: (s: string) => Key[]): void {
    const keys = decode(data);
    let guestBytes = '';
    const flush = (): void => {
      if (guestBytes) this._store.sendToGuest(guestBytes);
      guestBytes = '';
    };
    for (const k of keys) {
      if (this._store.state.input === 'guest' && !this._escape && !this._store.state.confirm && !this._isControl(k)) {
        guestBytes += k.raw;
        continue;
      }
      flush();
      this.key(k);
    }
    flush();
  }

  private _isControl(k: Key): boolean {
    return k.name === 'ctrl-]' || k.name === 'ctrl-a' || /^f\d+$/.test(k.name);
  }

  key(k: Key): void {
    const store = this._store;
    const s = store.state;
    if (this._escape) {
      this._escape = false;
      const c = k.name === 'char' ? k.text.toLowerCase() : k.name;
      if (c === 'c') store.setInput(s.input === 'guest' ? 'monitor' : 'guest');
      else if (c === 'x') this._hooks.quitVm();
      else if (c === 'd') this._hooks.detach();
      else if (c === 'h') store.toggleHelp(true);
      else if (k.name === 'ctrl-a' && s.input === 'guest') store.sendToGuest('\x01');
      return;
    }
    if (k.name === 'ctrl-a') {
      this._escape = true;
      return;
    }
    if (k.name === 'ctrl-]') {
      store.setInput(s.input === 'guest' ? 'monitor' : 'guest');
      return;
    }
    if (s.confirm) {
      store.answer(k.name === 'char' && k.text.toLowerCase() === 'y');
      return;
    }
    if (functionKey(store, k)) return;
    if (s.input === 'guest') {
      store.sendToGuest(k.raw);
      return;
    }
    if (s.cmdline.active) {
      this._cmdlineKey(k);
      return;
    }
    if (s.help) {
      // Any key closes the help.
      store.toggleHelp(false);
      return;
    }
    this._monitorKey(k);
  }

  private _cmdlineKey(k: Key): void {
    const store = this._store;
    switch (k.name) {
      case 'char': store.edit('insert', k.text); return;
      case 'return': void store.submit(); return;
      case 'escape':
      case 'ctrl-c':
      case 'ctrl-g': store.closeCommandLine(); return;
      case 'tab': void store.complete(); return;
      case 'backspace':
      case 'ctrl-h':
        if (!store.state.cmdline.text) store.closeCommandLine();
        else store.edit('backspace');
        return;
      case 'delete':
      case 'ctrl-d': store.edit('delete'); return;
      case 'left':
      case 'ctrl-b': store.edit('left'); return;
      case 'right':
      case 'ctrl-f': store.edit('right'); return;
      case 'home':
      case 'ctrl-e':
        store.edit(k.name === 'home' ? 'home' : 'end');
        return;
      case 'end': store.edit('end'); return;
      case 'ctrl-k': store.edit('kill'); return;
      case 'ctrl-u': store.openCommandLine(''); return;
      case 'up':
      case 'ctrl-p': store.edit('up'); return;
      case 'down':
      case 'ctrl-n': store.edit('down'); return;
      default:
    }
  }

  private _monitorKey(k: Key): void {
    const store = this._store;
    const s = store.state;
    if (k.name === 'char') {
      const c = k.text;
      const pane = PANES.find((p) => p.key === c);
      if (pane) {
        store.togglePane(pane.id);
        return;
      }
      switch (c) {
        case ':': store.openCommandLine(); return;
        case '?': store.toggleHelp(true); return;
        case 'q': this.leave(); return;
        case 'c': void store.cont(); return;
        case 'p': void store.pause(); return;
        case 's': void store.step(); return;
        case 't': void store.stepTrap(); return;
        case 'b': void store.toggleBreakpoint(); return;
        case 'v': store.setConsoleMode(store.consoleShows() === 'vga' ? 'serial' : 'vga'); return;
        case 'i': store.setInput('guest'); return;
        case 'f':
          if (s.focus === 'memory') store.cycleFollow();
          else if (s.focus === 'traps') store.openCommandLine('filter ');
          return;
        case 'g':
          if (s.focus === 'memory') store.openCommandLine('mem ');
          return;
        case 'j': store.move(1); return;
        case 'k': store.move(-1); return;
        case ' ': store.activate(); return;
        case 'd': store.deleteSelected(); return;
        default: return;
      }
    }
    switch (k.name) {
      case 'tab': store.cycleFocus(1); return;
      case 'shift-tab': store.cycleFocus(-1); return;
      case 'up': store.move(-1); return;
      case 'down': store.move(1); return;
      case 'pageup': store.move(-10); return;
      case 'pagedown': store.move(10); return;
      case 'return': store.activate(); return;
      case 'delete': store.deleteSelected(); return;
      case 'ctrl-c': this.leave(); return;
      case 'ctrl-l': store.flush(); return;
      case 'escape': store.message(null); return;
      default:
    }
  }
}
