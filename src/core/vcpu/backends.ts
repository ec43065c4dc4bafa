// Which VcpuBackend a vCPU gets. The interpreter is the default; a KVM backend would slot in
// here (it is the only code that would call ioctl).

import type { DebugTables } from '../debug/DebugTables.js';
import type { GuestMemory } from '../memory/GuestMemory.js';
import { InterpVcpu, type InterpOptions } from './interp/InterpVcpu.js';
import type { VcpuBackend } from './VcpuBackend.js';

export function createBackend(mem: GuestMemory, kick: Int32Array, tables: DebugTables, opts: InterpOptions = {}): VcpuBackend {
  return new InterpVcpu(mem, kick, tables, opts);
}
