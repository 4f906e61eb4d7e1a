// Idempotency state stays bounded (#12.8): a timer sweeps expired keys and producers, count
// and byte limits evict the oldest, and one producer's requests never run side by side.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryLogStore, type LogStore, type PartitionLog } from '../log/index.js';
import type { IdempotencyIdentity } from './idempotency-tag.js';
import { IdempotencyTracker, type IdempotencyBegin, type OffsetRef } from './idempotency.js';

const H1 = Buffer.alloc(16, 1);
const cfg = { segmentBytes: 1 << 20, segmentMs: -1, retentionMs: -1, retentionBytes: -1 };

let store: LogStore;
let logs: PartitionLog[];
const trackers: IdempotencyTracker[] = [];
beforeEach(async () => {
  store = createMemoryLogStore({ retentionCheckIntervalMs: 0 });
  await store.open();
  logs = [await store.createPartition('topic', 0, cfg)];
});
afterEach(async () => {
  for (const t of trackers.splice(0)) t.close();
  await store.close();
});

function tracker(windowMs: number, clock: () => number, options: ConstructorParameters<typeof IdempotencyTracker>[2]) {
  const t = new IdempotencyTracker(windowMs, clock, options);
  trackers.push(t);
  return t;
}

const rec = (v: number) => ({ key: null, value: Buffer.from(String(v)), headers: [], timestamp: Date.now() });

function must<T>(r: { ok: true; value: T } | { ok: false; error: { message: string } }): T {
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

/** Appends the request's one record through the claim and releases it. */
async function finish(begin: IdempotencyBegin): Promise<OffsetRef[]> {
  if (begin.kind === 'replay') return begin.offsets;
  const { claim } = begin;
  try {
    const r = await logs[0]!.append([rec(0)], { durability: 'write', tag: claim.tag([0]) });
    if (!r.ok) throw new Error(r.error.code);
    claim.recorded(0, r.value.baseOffset, [0]);
    return claim.offsets()!;
  } finally {
    claim.release();
  }
}

const begin = (t: IdempotencyTracker, id: IdempotencyIdentity) => t.begin('topic', () => logs, id, H1, 1);
const key = (k: string): IdempotencyIdentity => ({ kind: 'key', key: k });
const producer = (id: bigint, seq: number): IdempotencyIdentity => ({ kind: 'producer', id, epoch: 0, seq });

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('idempotency state is bounded', () => {
  it('a timer sweeps expired keys and producers without any further request', async () => {
    let now = 1_000_000;
    const t = tracker(1000, () => now, { sweepIntervalMs: 10 });
    await finish(must(await begin(t, key('a'))));
    await finish(must(await begin(t, producer(7n, 0))));
    expect(t.stats()).toMatchObject({ entries: 2 });
    expect(t.stats().bytes).toBeGreaterThan(0);
    now += 1001;
    await until(() => t.stats().entries === 0);
    expect(t.stats().bytes).toBe(0);
  });

  it('close() stops the sweep timer', async () => {
    let now = 1_000_000;
    const t = tracker(1000, () => now, { sweepIntervalMs: 10 });
    await finish(must(await begin(t, key('a'))));
    t.close();
    now += 1001;
    await new Promise((r) => setTimeout(r, 100));
    expect(t.stats().entries).toBe(1);
  });

  it('a count bound evicts the oldest entries; the newest still answer retries', async () => {
    const t = tracker(3_600_000, Date.now, { maxEntries: 10 });
    const first: OffsetRef[][] = [];
    for (let i = 0; i < 25; i++) first.push(await finish(must(await begin(t, key(`k${i}`)))));
    expect(t.stats()).toMatchObject({ entries: 10, evicted: 15 });
    expect(must(await begin(t, key('k24')))).toEqual({ kind: 'replay', offsets: first[24] });
  });

  it('a byte bound evicts the oldest entries', async () => {
    const t = tracker(3_600_000, Date.now, { maxBytes: 4096 });
    for (let i = 0; i < 200; i++) await finish(must(await begin(t, key(`key-${'x'.repeat(50)}-${i}`))));
    expect(t.stats().bytes).toBeLessThanOrEqual(4096);
    expect(t.stats().evicted).toBeGreaterThan(0);
    for (let i = 0; i < 200; i++) await finish(must(await begin(t, producer(BigInt(i), 0))));
    expect(t.stats().bytes).toBeLessThanOrEqual(4096);
  });

  it("an expired producer's in-flight request keeps the lock: a retry waits for it and is answered as a duplicate", async () => {
    let now = 1_000_000;
    const t = tracker(1000, () => now, {});
    await finish(must(await begin(t, producer(9n, 0))));
    const a = must(await begin(t, producer(9n, 1)));
    expect(a.kind).toBe('append');
    now += 5000; // the producer's state expires while request a still holds the lock
    let bStarted = false;
    const b = begin(t, producer(9n, 1)).then((r) => {
      bStarted = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(bStarted).toBe(false); // never two requests of one producer at once
    const offsets = await finish(a);
    const second = must(await b);
    expect(second).toEqual({ kind: 'replay', offsets });
    expect(logs[0]!.endOffset()).toBe(2);
  });

  it('the sweep never drops a producer whose request is in flight', async () => {
    let now = 1_000_000;
    const t = tracker(1000, () => now, { sweepIntervalMs: 10 });
    const a = must(await begin(t, producer(3n, 0)));
    now += 5000;
    t.sweep();
    expect(t.stats().entries).toBe(1);
    const offsets = await finish(a);
    expect(must(await begin(t, producer(3n, 0)))).toEqual({ kind: 'replay', offsets });
  });
});
