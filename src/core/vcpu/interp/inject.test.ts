// Interrupt injection from the run loop's side: once a vector is injected (acknowledged at
// the PIC), the vCPU is not ready for another one until it has been delivered. run() may
// return before delivering it (a kick ends the slice first); the loop must not then
// acknowledge a second vector and overwrite the first, which would leave the first one's
// ISR bit set at the PIC forever (KVM says the same with ready_for_interrupt_injection).

import { describe, expect, it } from 'vitest';
import { ExitReason } from '../VcpuBackend.js';
import { Rig, asm, haveNasm, recordingHandlers } from './testing/rig.js';

describe.skipIf(!haveNasm())('interrupt injection', () => {
  it('is not ready for a second vector while an injected one waits, and delivers the first', () => {
    const rig = new Rig();
    rig.load(0x3000, recordingHandlers());
    rig.load(0x2000, asm('sti\njmp $', 32, 0x2000));
    rig.flat(0x2000, { idtHandlers: 0x3000 });
    expect(rig.cpu.run(100)).toBe(ExitReason.INTR);
    expect(rig.cpu.interruptible).toBe(true);
    rig.cpu.injectInterrupt(0x2e);
    expect(rig.cpu.interruptible).toBe(false);
    // A kick ends the next slice before the interrupt is taken.
    Atomics.store(rig.kick, 0, 1);
    expect(rig.cpu.run(100)).toBe(ExitReason.INTR);
    expect(rig.cpu.interruptible).toBe(false);
    expect(rig.run()).toBe(ExitReason.HLT);
    expect(rig.u8[0x600]).toBe(0x2e);
    expect(rig.cpu.interruptible).toBe(false); // halted in the handler with IF=0
  });
});
