// The vCPU worker's entry point. With HVMON_PROFILE_VCPU=FILE it records a V8 CPU profile of
// this thread into FILE (open it in Chrome DevTools): the thread never returns to its event
// loop, so node's --cpu-prof cannot write one for it.
import { workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { runVcpuThread } from './VcpuThread.js';
import type { VcpuThreadInit } from './protocol.js';

const { init, main, dm } = workerData as { init: VcpuThreadInit; main: MessagePort; dm: MessagePort };
const profile = process.env.HVMON_PROFILE_VCPU;
if (profile) {
  const { Session } = await import('node:inspector');
  const { writeFileSync } = await import('node:fs');
  const s = new Session();
  s.connect();
  // Same-thread inspector sessions answer synchronously.
  s.post('Profiler.enable');
  s.post('Profiler.setSamplingInterval', { interval: 100 });
  s.post('Profiler.start');
  runVcpuThread(init, main, dm);
  s.post('Profiler.stop', (err, res) => {
    if (!err) writeFileSync(profile, JSON.stringify(res.profile));
  });
} else {
  runVcpuThread(init, main, dm);
}
process.exit(0);
