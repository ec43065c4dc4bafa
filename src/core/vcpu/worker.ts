// The vCPU worker's entry point.
import { workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { runVcpuThread } from './VcpuThread.js';
import type { VcpuThreadInit } from './protocol.js';

const { init, main, dm } = workerData as { init: VcpuThreadInit; main: MessagePort; dm: MessagePort };
runVcpuThread(init, main, dm);
process.exit(0);
