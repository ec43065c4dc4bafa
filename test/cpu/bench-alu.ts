// Instructions per second of the interpreter on the ALU loop of issue 9 (add, xor, a load and
// a store, dec, jnz), in 16-bit real mode and 32-bit flat protected mode. The rate is taken
// from the difference between N and 2N iterations so that start-up cancels out.
//   node --import tsx test/cpu/bench-alu.ts [N]

import { DebugTables } from '../../src/core/debug/DebugTables.js';
import { GuestMemory } from '../../src/core/memory/GuestMemory.js';
import { ExitReason } from '../../src/core/vcpu/VcpuBackend.js';
import { InterpVcpu } from '../../src/core/vcpu/interp/InterpVcpu.js';
import { flatState, realState } from './harness.js';

// loop: add ax,bx / xor dx,ax / mov [si],ax / mov bx,[si+2] / dec cx / jnz loop
//       dec di / jnz loop (CX is 0 again: 65536 more) / hlt
const CODE16 = [0x01, 0xd8, 0x31, 0xc2, 0x89, 0x04, 0x8b, 0x5c, 0x02, 0x49, 0x75, 0xf4, 0x4f, 0x75, 0xf1, 0xf4];
// same with 32-bit registers
const CODE32 = [0x01, 0xd8, 0x31, 0xc2, 0x89, 0x06, 0x8b, 0x5e, 0x04, 0x49, 0x75, 0xf4, 0xf4];
const INSNS_PER_ITER = 6;

function timeRun(bits: 16 | 32, iters: number): { ms: number; cpuMs: number; icount: number } {
  const mem = GuestMemory.create(1 << 20);
  mem.mapRam(0, 1 << 20);
  mem.u8.set(bits === 16 ? CODE16 : CODE32, 0x1000);
  const cpu = new InterpVcpu(mem, new Int32Array(new SharedArrayBuffer(4)), new DebugTables());
  const st = bits === 16 ? realState(0, 0x1000) : flatState(0x1000);
  if (bits === 16) {
    st.ecx = 0;
    st.edi = Math.max(1, Math.round(iters / 65536));
  } else st.ecx = iters;
  st.esi = 0x8000;
  cpu.setState(st);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (;;) {
    const r = cpu.run(10_000_000);
    if (r === ExitReason.HLT) break;
    if (r !== ExitReason.INTR) throw new Error(`unexpected exit ${r}`);
  }
  const c1 = process.cpuUsage(c0);
  return { ms: performance.now() - t0, cpuMs: (c1.user + c1.system) / 1000, icount: cpu.icount };
}

const n = Number(process.argv[2] ?? 5_000_000);
const which = (process.argv[3] ?? "16,32").split(",").map(Number) as (16 | 32)[];
for (const bits of which) {
  timeRun(bits, 100_000); // warm up
  const rates: number[] = [];
  const cpuRates: number[] = [];
  for (let k = 0; k < 5; k++) {
    const a = timeRun(bits, n);
    const b = timeRun(bits, 2 * n);
    rates.push(((b.icount - a.icount) / (b.ms - a.ms)) * 1000);
    cpuRates.push(((b.icount - a.icount) / (b.cpuMs - a.cpuMs)) * 1000);
  }
  rates.sort((x, y) => x - y);
  cpuRates.sort((x, y) => x - y);
  // Per CPU second as well: on a shared machine the wall clock also counts other processes.
  console.log(`${bits}-bit ALU loop: ${(rates[2] / 1e6).toFixed(1)} M instructions/s wall, ` +
    `${(cpuRates[2] / 1e6).toFixed(1)} M per CPU second (median of 5, ${INSNS_PER_ITER} instructions/iteration)`);
}
