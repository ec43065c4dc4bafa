import { afterEach, describe, expect, it } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import {
  createIoreqBuffer, Hdr, IoreqState, IoreqType, IoreqViews, RING_ADDR_LIMIT, Ring, SEQ_MASK, Slot, SlotTime, slotState, stateWord,
} from './abi.js';
import { FILL_BACKLOG, IoreqClient, IoreqServer, PUBLISH_BATCH, RingWriter } from './channel.js';
import { IoDir } from '../vcpu/VcpuBackend.js';
import { spawnWorker } from '../machine/spawn.js';

let worker: Worker | null = null;
afterEach(async () => {
  await worker?.terminate();
  worker = null;
});

async function start(vcpus = 1, before?: (views: IoreqViews) => void): Promise<{ views: IoreqViews; client: IoreqClient; messages: unknown[] }> {
  const buffer = createIoreqBuffer(vcpus);
  const views = new IoreqViews(buffer, vcpus);
  before?.(views);
  worker = await spawnWorker(new URL('../../../test/fixtures/ioreqEchoDaemon.ts', import.meta.url), {
    workerData: { buffer, vcpus },
  });
  const messages: unknown[] = [];
  worker.on('message', (m) => messages.push(m));
  // Wait for the daemon to be up: the tests then block this thread in Atomics.wait.
  await once(worker, 'message');
  return { views, client: new IoreqClient(views, 0), messages };
}

describe('ioreq channel', () => {
  it('answers 10^6 synchronous round trips in order, none lost, with a second vCPU hammering its slot', async () => {
    const { client, messages, views } = await start(2);
    const other = await spawnWorker(new URL('../../../test/fixtures/ioreqClientWorker.ts', import.meta.url), {
      workerData: { buffer: views.buffer, vcpus: 2, vcpu: 1, count: 200_000 },
    });
    const otherDone = once(other, 'message');
    client.timing = false;
    let wrong = 0;
    for (let i = 0; i < 1_000_000; i++) {
      const addr = (i * 13) & 0xfff;
      const size = ((i % 3) === 0 ? 1 : (i % 3) === 1 ? 2 : 4) as 1 | 2 | 4;
      const v = client.submit(IoreqType.PIO, IoDir.READ, addr + 0x100, size, 1, 0);
      if (v !== (((addr + 0x100) * 7 + size) >>> 0)) wrong++;
    }
    expect(wrong).toBe(0);
    expect((await otherDone)[0]).toEqual({ wrong: 0 });
    await other.terminate();
    client.submit(IoreqType.PIO, IoDir.WRITE, 0xffff, 1, 1, 0);
    await once(worker!, 'exit').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    expect(messages).toContainEqual({ seqErrors: 0 });
  });

  it('keeps request and answer on one cache line and the device model\'s own words off it', () => {
    const bytes = (words: number[]) => words.map((w) => w * 4);
    const shared = bytes([Slot.REQ_STATE, Slot.TYPE, Slot.DIR, Slot.SIZE, Slot.COUNT, Slot.DF, Slot.DATA_IS_PTR, Slot.ADDR, Slot.DATA,
      Slot.VCPU_SLEEPING, Slot.RESP_STATE, Slot.RESP_DATA, Slot.ERROR]).concat([SlotTime.SUBMIT * 8, SlotTime.SUBMIT * 8 + 4]);
    expect(new Set(shared).size).toBe(shared.length);
    for (const b of shared) expect(Math.floor(b / 64)).toBe(0);
    // The device model's line is outside the shared line's aligned pair of lines.
    for (const b of bytes([Slot.TAKEN]).concat([SlotTime.PICKUP * 8, SlotTime.DONE * 8])) expect(b).toBeGreaterThanOrEqual(128);
    // Slots start on a line (the buffer starts on a page), and each one's page of data after its words.
    const views = new IoreqViews(createIoreqBuffer(2), 2);
    expect(views.buffer).toBeInstanceOf(SharedArrayBuffer);
    for (const s of views.slots) expect(s.byteOffset % 128).toBe(0);
    expect(views.slotData[0].byteOffset).toBeGreaterThanOrEqual(views.slots[0].byteOffset + (SlotTime.DONE + 1) * 8);
  });

  it('reads Xen\'s four states from the two sides\' words', () => {
    const s = new IoreqViews(createIoreqBuffer(1), 1).slots[0];
    expect(slotState(s)).toBe(IoreqState.NONE);
    Atomics.store(s, Slot.REQ_STATE, stateWord(1, IoreqState.READY));
    expect(slotState(s)).toBe(IoreqState.READY);
    Atomics.store(s, Slot.TAKEN, stateWord(1, IoreqState.IN_PROCESS));
    expect(slotState(s)).toBe(IoreqState.IN_PROCESS);
    Atomics.store(s, Slot.RESP_STATE, stateWord(1, IoreqState.RESP_READY));
    expect(slotState(s)).toBe(IoreqState.NONE);
    // The next request is READY again, though TAKEN and RESP_STATE still name the last one.
    Atomics.store(s, Slot.REQ_STATE, stateWord(2, IoreqState.READY));
    expect(slotState(s)).toBe(IoreqState.READY);
  });

  it('answers across the wrap of the 30-bit sequence numbers, none lost', async () => {
    const last = SEQ_MASK - 2;
    const { client, messages } = await start(1, (views) => {
      // A slot whose last request, answered, was number SEQ_MASK - 2.
      const s = views.slots[0];
      s[Slot.REQ_STATE] = stateWord(last, IoreqState.READY);
      s[Slot.TAKEN] = stateWord(last, IoreqState.IN_PROCESS);
      s[Slot.RESP_STATE] = stateWord(last, IoreqState.RESP_READY);
    });
    client.timing = false;
    for (let i = 0; i < 6; i++) expect(client.submit(IoreqType.PIO, IoDir.READ, 0x100 + i, 1, 1, 0)).toBe((0x100 + i) * 7 + 1);
    client.submit(IoreqType.PIO, IoDir.WRITE, 0xffff, 1, 1, 0);
    await once(worker!, 'exit').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    expect(messages).toContainEqual({ seqErrors: 0 });
  });

  it('lands posted writes before a later synchronous read', async () => {
    const { client } = await start();
    for (let i = 1; i <= 5000; i++) {
      // More posts than the ring holds: the client falls back to synchronous writes when full.
      if (!client.post(IoreqType.PIO, 0x10, 4, i)) client.submit(IoreqType.PIO, IoDir.WRITE, 0x10, 4, 1, i);
      if (i % 997 === 0) {
        expect(client.submit(IoreqType.PIO, IoDir.READ, 0x10, 4, 1, 0)).toBe(i);
        expect(client.submit(IoreqType.PIO, IoDir.READ, 0x11, 4, 1, 0)).toBe(i);
      }
    }
    expect(client.submit(IoreqType.PIO, IoDir.READ, 0x11, 4, 1, 0)).toBe(5000);
  });

  it('carries type, size, address and data in a ring entry; an address that does not fit goes synchronous', async () => {
    const { client } = await start();
    const last = (): number[] => [0x12, 0x13, 0x14, 0x15].map((a) => client.submit(IoreqType.PIO, IoDir.READ, a, 4, 1, 0));
    expect(client.post(IoreqType.COPY, 0xbfffe, 2, 0xbeef)).toBe(true);
    expect(last()).toEqual([IoreqType.COPY, 2, 0xbfffe, 0xbeef]);
    expect(client.post(IoreqType.PIO, RING_ADDR_LIMIT - 1, 4, 0xdeadbeef)).toBe(true);
    expect(last()).toEqual([IoreqType.PIO, 4, RING_ADDR_LIMIT - 1, 0xdeadbeef]);
    expect(client.post(IoreqType.COPY, 0x1234, 1, 0xa5)).toBe(true);
    expect(last()).toEqual([IoreqType.COPY, 1, 0x1234, 0xa5]);
    // A framebuffer BAR high in the address space: not posted, and nothing reached the ring.
    expect(client.post(IoreqType.COPY, 0xfd000000, 4, 1)).toBe(false);
    expect(last()).toEqual([IoreqType.COPY, 1, 0x1234, 0xa5]);
  });

  it('applies a repeated write (REP STOS) element by element, in order, upward and downward, and bounds the backlog', () => {
    const views = new IoreqViews(createIoreqBuffer(1), 1);
    const seen: string[] = [];
    const server = new IoreqServer(views, {
      handle: () => 0,
      posted: (type, addr, size, data) => void seen.push(`${type}:${size}:${addr.toString(16)}=${data.toString(16)}`),
      failed: () => undefined,
    });
    const writer = new RingWriter(views);
    expect(writer.post(IoreqType.COPY, 0xb8000, 1, 0x41)).toBe(true);
    expect(writer.fill(IoreqType.COPY, 0xb8010, 2, 3, 0x0720, false)).toBe(true);
    expect(writer.fill(IoreqType.COPY, 0xb8ffc, 4, 2, 0x11223344, true)).toBe(true);
    expect(writer.fill(IoreqType.COPY, 0xb9000, 2, 1, 0x0741, false)).toBe(true);
    expect(writer.post(IoreqType.PIO, 0x3c0, 1, 0x20)).toBe(true);
    writer.flush();
    // Eight writes in seven entries: a repeat is one entry, however many writes it stands for.
    expect(Atomics.load(views.ring, Ring.WRITE_PTR)).toBe(7);
    expect(server.drainRing()).toBe(8);
    expect(seen).toEqual([
      '1:1:b8000=41', '1:2:b8010=720', '1:2:b8012=720', '1:2:b8014=720', '1:4:b8ffc=11223344', '1:4:b8ff8=11223344',
      '1:2:b9000=741', '0:1:3c0=20',
    ]);
    expect(views.hdr[Hdr.DRAINED]).toBe(8);
    // Repeats whose last element would leave the ring's address range, or run below 0, are refused.
    expect(writer.fill(IoreqType.COPY, RING_ADDR_LIMIT - 2, 2, 2, 0, false)).toBe(false);
    expect(writer.fill(IoreqType.COPY, 2, 2, 3, 0, true)).toBe(false);
    // The device model may fall FILL_BACKLOG writes behind through repeats, and no further.
    expect(writer.fill(IoreqType.COPY, 0, 1, FILL_BACKLOG, 0, false)).toBe(true);
    expect(writer.fill(IoreqType.COPY, 0, 1, 1, 0, false)).toBe(false);
    seen.length = 0;
    expect(server.drainRing()).toBe(FILL_BACKLOG);
    expect(writer.fill(IoreqType.COPY, 0x100, 1, 2, 7, false)).toBe(true);
    writer.flush();
    server.drainRing();
    expect(seen.slice(-2)).toEqual(['1:1:100=7', '1:1:101=7']);
  });

  it('publishes posted writes in batches, all of them on flush, in one order for every vCPU of a thread', async () => {
    const { views } = await start(2);
    const writer = new RingWriter(views);
    const a = new IoreqClient(views, 0, writer);
    const b = new IoreqClient(views, 1, writer);
    for (let i = 1; i <= 5; i++) (i & 1 ? a : b).post(IoreqType.PIO, 0x10, 4, i);
    // Not yet published: the device model cannot see them.
    expect(Atomics.load(views.ring, Ring.WRITE_PTR)).toBe(0);
    expect(writer.unpublished).toBe(5);
    writer.flush();
    expect(Atomics.load(views.ring, Ring.WRITE_PTR)).toBe(5);
    const t0 = Date.now();
    while (Atomics.load(views.ring, Ring.READ_PTR) !== 5) {
      if (Date.now() - t0 > 5000) throw new Error('the device model never drained the ring');
      await new Promise((r) => setTimeout(r, 1));
    }
    // A full batch publishes itself.
    const last = 5 + PUBLISH_BATCH + 8;
    for (let i = 6; i <= last; i++) (i & 1 ? a : b).post(IoreqType.PIO, 0x10, 4, i);
    expect(Atomics.load(views.ring, Ring.WRITE_PTR)).toBeGreaterThanOrEqual(5 + PUBLISH_BATCH);
    expect(writer.unpublished).toBeLessThan(PUBLISH_BATCH);
    // A synchronous request from either client publishes the rest first: the device model saw
    // every write, the last one last.
    expect(b.submit(IoreqType.PIO, IoDir.READ, 0x11, 4, 1, 0)).toBe(last);
    expect(a.submit(IoreqType.PIO, IoDir.READ, 0x10, 4, 1, 0)).toBe(last);
  });

  it('times a request only when asked: the device model stamps pickup and answer for a timed one alone', async () => {
    const { client, views } = await start();
    const f = views.slotF64[0];
    client.submit(IoreqType.PIO, IoDir.READ, 0x100, 1, 1, 0);
    const [submit, pickup, done] = client.hops;
    expect(submit).toBeGreaterThan(0);
    expect(pickup).toBeGreaterThanOrEqual(submit);
    expect(done).toBeGreaterThanOrEqual(pickup);
    client.timing = false;
    await new Promise((r) => setTimeout(r, 5));
    for (let i = 0; i < 3; i++) client.submit(IoreqType.PIO, IoDir.READ, 0x100, 1, 1, 0);
    expect([f[SlotTime.SUBMIT], f[SlotTime.PICKUP], f[SlotTime.DONE]]).toEqual([0, pickup, done]);
  });

  it('carries string I/O data in the slot page', async () => {
    const { client } = await start();
    client.submit(IoreqType.PIO, IoDir.READ, 0x20, 2, 256, 0);
    for (let i = 0; i < 512; i++) expect(client.page[i]).toBe((i + 0x20) & 0xff);
  });

  it('answers a request whose device throws with all ones and reports it', async () => {
    const { client, messages } = await start();
    expect(client.submit(IoreqType.PIO, IoDir.READ, 0xdead, 2, 1, 0)).toBe(0xffff);
    expect(client.lastFailed).toBe(true);
    expect(client.submit(IoreqType.PIO, IoDir.READ, 0x100, 1, 1, 0)).toBe(0x701);
    await new Promise((r) => setTimeout(r, 50));
    expect(messages).toContainEqual({ failed: 'Error: boom' });
  });

  it('stops waiting when the device model is gone', async () => {
    const { client, views } = await start();
    client.submit(IoreqType.PIO, IoDir.WRITE, 0xffff, 1, 1, 0);
    await once(worker!, 'exit').catch(() => undefined);
    await worker!.terminate();
    Atomics.store(views.hdr, Hdr.DAEMON_DEAD, 1);
    expect(() => client.submit(IoreqType.PIO, IoDir.READ, 0x100, 1, 1, 0)).toThrow(/device model has stopped/);
  });
});
