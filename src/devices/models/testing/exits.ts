// For tests that run the interpreter against device models without the machine: carry out an
// IO or MMIO exit on a pair of buses, as the vCPU thread's run loop does, and complete it.

import { asPhys, asPort } from '../../../common/types.js';
import type { IoBus } from '../../../core/bus/IoBus.js';
import { ExitReason, IoDir, type VcpuBackend } from '../../../core/vcpu/VcpuBackend.js';

/** Handles an ExitReason.IO or MMIO exit on the buses; returns false for any other exit. */
export function serviceExit(cpu: VcpuBackend, reason: ExitReason, pio: IoBus<'pio'>, mmio: IoBus<'mmio'>): boolean {
  const ex = cpu.exit;
  if (reason === ExitReason.IO) {
    for (let i = 0; i < ex.count; i++) {
      const o = i * ex.size;
      if (ex.dir === IoDir.WRITE) {
        let v = 0;
        for (let b = ex.size - 1; b >= 0; b--) v = (v << 8) | ex.data[o + b];
        pio.write(asPort(ex.addr), ex.size, v);
      } else {
        const v = pio.read(asPort(ex.addr), ex.size);
        for (let b = 0; b < ex.size; b++) ex.data[o + b] = (v >>> (8 * b)) & 0xff;
      }
    }
    if (ex.dir === IoDir.READ) cpu.completeIo();
    return true;
  }
  if (reason === ExitReason.MMIO) {
    if (ex.dir === IoDir.WRITE) mmio.write(asPhys(ex.addr), ex.size, ex.value());
    else {
      ex.setValue(mmio.read(asPhys(ex.addr), ex.size));
      cpu.completeIo();
    }
    return true;
  }
  return false;
}
