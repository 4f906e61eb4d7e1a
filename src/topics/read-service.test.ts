// Read service against the in-memory log: start positions, limits, out-of-range answers,
// and long-polls that return on append, at the timer, or on abort.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ok, err } from '../lib/result.js';
import { createMemoryLogStore, type LogStore, type PartitionLog } from '../log/index.js';
import { ReadService } from './read-service.js';

const cfg = { segmentBytes: 1 << 20, segmentMs: -1, retentionMs: -1, retentionBytes: -1 };
let store: LogStore;
let log: PartitionLog;
let service: ReadService;

beforeEach(async () => {
  store = createMemoryLogStore({ retentionCheckIntervalMs: 0 });
  await store.open();
  log = await store.createPartition('tid', 0, cfg);
  const topic = { id: 'tid', name: 'orders', config: { value_format: 'json' as const } };
  service = new ReadService({
    partitionLog: (name, p) =>
      name !== 'orders'
        ? err({ code: 'topic_not_found', message: 'no topic' })
        : p !== 0
          ? err({ code: 'partition_not_found', message: 'no partition' })
          : ok({ topic, log }),
  });
});
afterEach(() => store.close());

const append = (values: unknown[], timestamp = 1000) =>
  log.append(
    values.map((v) => ({ key: null, value: Buffer.from(JSON.stringify(v)), headers: [], timestamp })),
    { durability: 'write' },
  );
const base = { topic: 'orders', partition: 0, maxRecords: 100, maxBytes: 1 << 20, waitMs: 0 };

describe('ReadService', () => {
  it('reads from the log start by default, from an offset, or from a timestamp', async () => {
    await append([{ a: 1 }, 2], 1000);
    await append([3], 2000);
    const all = await service.read(base);
    expect(all.ok && all.value).toEqual({
      records: [
        { topic: 'orders', partition: 0, offset: 0, timestamp: 1000, key: null, value: { a: 1 }, headers: {} },
        { topic: 'orders', partition: 0, offset: 1, timestamp: 1000, key: null, value: 2, headers: {} },
        { topic: 'orders', partition: 0, offset: 2, timestamp: 2000, key: null, value: 3, headers: {} },
      ],
      next_offset: 3,
      end_offset: 3,
    });
    const from1 = await service.read({ ...base, offset: 1, maxRecords: 1 });
    expect(from1.ok && [from1.value.records.map((r) => r.offset), from1.value.next_offset]).toEqual([[1], 2]);
    const byTime = await service.read({ ...base, timestamp: 1500 });
    expect(byTime.ok && byTime.value.records.map((r) => r.offset)).toEqual([2]);
  });

  it('returns at least one record even if it exceeds max_bytes', async () => {
    await append(['x'.repeat(100), 'y']);
    const r = await service.read({ ...base, maxBytes: 1 });
    expect(r.ok && r.value.records.length).toBe(1);
  });

  it('answers offsets outside the log with the readable range', async () => {
    await append([1]);
    expect(await service.read({ ...base, offset: 5 })).toMatchObject({
      ok: false,
      error: { code: 'offset_out_of_range', startOffset: 0, endOffset: 1 },
    });
    expect((await service.read({ ...base, offset: 1 })).ok).toBe(true);
    expect(await service.read({ ...base, topic: 'x' })).toMatchObject({
      ok: false,
      error: { code: 'topic_not_found' },
    });
    expect(await service.read({ ...base, partition: 3 })).toMatchObject({
      ok: false,
      error: { code: 'partition_not_found' },
    });
  });

  it('long-polls: returns as soon as a record is appended', async () => {
    const started = Date.now();
    const pending = service.read({ ...base, waitMs: 10_000 });
    setTimeout(() => void append(['late']), 30);
    const r = await pending;
    expect(r.ok && r.value.records.map((x) => x.value)).toEqual(['late']);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('long-polls: answers empty at the timer, or at once when aborted', async () => {
    const started = Date.now();
    const r = await service.read({ ...base, waitMs: 50 });
    expect(r.ok && r.value).toEqual({ records: [], next_offset: 0, end_offset: 0 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    const ac = new AbortController();
    const t0 = Date.now();
    const aborted = service.read({ ...base, waitMs: 10_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    expect((await aborted).ok).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});
