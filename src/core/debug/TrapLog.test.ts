import { describe, expect, it } from 'vitest';
import { TRAP_LOG_ENTRIES, TrapInfo, TrapLog } from './TrapLog.js';

function write(log: TrapLog, from: number, n: number): void {
  for (let k = from; k < from + n; k++) log.record(0, 0x7c00 + k, TrapInfo.IN_CORE | (1 << 4), 0x21, k & 0xff, 1, 3, null);
}

describe('TrapLog', () => {
  it('publishes entries in batches and on publish(), complete and in order', () => {
    const writer = new TrapLog();
    const reader = new TrapLog(writer.buffer);
    write(writer, 0, 10);
    // Not yet published: a reader sees none of them.
    expect(reader.total).toBe(0);
    writer.publish();
    expect(reader.total).toBe(10);
    const r = reader.recent(100);
    expect(r.map((e) => e.ip)).toEqual(Array.from({ length: 10 }, (_, k) => 0x7c00 + k));
    expect(r[3]).toMatchObject({ seq: 3, space: 'pio', dir: 'write', size: 1, addr: 0x21, value: 3, inCore: true, region: 3 });
    // A batch publishes itself without publish().
    write(writer, 10, 200);
    expect(reader.total).toBeGreaterThanOrEqual(192);
    expect(reader.total).toBeLessThanOrEqual(210);
  });

  it('keeps only entries the writer cannot be overwriting after it lapped the ring', () => {
    const writer = new TrapLog();
    const reader = new TrapLog(writer.buffer);
    write(writer, 0, TRAP_LOG_ENTRIES * 2 + 5);
    writer.publish();
    const r = reader.recent(TRAP_LOG_ENTRIES);
    const total = TRAP_LOG_ENTRIES * 2 + 5;
    expect(r.at(-1)!.seq).toBe(total - 1);
    // The oldest slots are the next the writer will reuse: they are left out.
    expect(r[0].seq).toBeGreaterThanOrEqual(total - TRAP_LOG_ENTRIES + 1);
    expect(r.every((e, k) => k === 0 || e.seq === r[k - 1].seq + 1)).toBe(true);
    expect(r.every((e) => e.ip === ((0x7c00 + e.seq) >>> 0) && e.value === (e.seq & 0xff))).toBe(true);
  });

  it('gives times only to the entries that were timed, also in a slot a timed entry held before', () => {
    const log = new TrapLog();
    const hops = Float64Array.of(1000, 1000.002, 1000.005);
    log.record(0, 0x7c00, 1 << 4, 0x3f8, 0x41, 1, 2, hops);
    write(log, 1, TRAP_LOG_ENTRIES);
    log.publish();
    const r = log.recent(TRAP_LOG_ENTRIES);
    // Entry TRAP_LOG_ENTRIES reuses the timed entry's slot; it carries no times.
    expect(r.at(-1)).toMatchObject({ seq: TRAP_LOG_ENTRIES, time: 0, pickupUs: null, serviceUs: null, totalUs: 0 });
    const fresh = new TrapLog();
    fresh.record(0, 0x7c00, 1 << 4, 0x3f8, 0x41, 1, 2, hops);
    write(fresh, 1, 1);
    fresh.publish();
    const [timed, plain] = fresh.recent(2);
    expect(timed.time).toBe(1000);
    expect(timed.pickupUs).toBeCloseTo(2, 6);
    expect(timed.serviceUs).toBeCloseTo(3, 6);
    expect(timed.totalUs).toBeCloseTo(5, 6);
    expect(plain).toMatchObject({ time: 0, pickupUs: null, serviceUs: null, totalUs: 0 });
  });

  it('a second writer on the same buffer carries on from the published total', () => {
    const a = new TrapLog();
    write(a, 0, 7);
    a.publish();
    const b = new TrapLog(a.buffer);
    write(b, 7, 3);
    b.publish();
    expect(new TrapLog(a.buffer).recent(20).map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
