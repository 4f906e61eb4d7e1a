// Idempotency state machine: key and producer-sequence duplicates are answered from state,
// refusals carry what the producer must know, and state is rebuilt from the log's tags.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryLogStore, type LogStore, type PartitionLog } from '../log/index.js';
import type { IdempotencyIdentity } from './idempotency-tag.js';
import {
  IdempotencyTracker,
  MAX_PRODUCER_EPOCH,
  MAX_PRODUCER_SEQ,
  type IdempotencyBegin,
  type OffsetRef,
} from './idempotency.js';

const H1 = Buffer.alloc(16, 1);
const H2 = Buffer.alloc(16, 2);
const cfg = { segmentBytes: 1 << 20, segmentMs: -1, retentionMs: -1, retentionBytes: -1 };

let store: LogStore;
let logs: PartitionLog[];
beforeEach(async () => {
  store = createMemoryLogStore({ retentionCheckIntervalMs: 0 });
  await store.open();
  logs = [await store.createPartition('topic', 0, cfg), await store.createPartition('topic', 1, cfg)];
});
afterEach(() => store.close());

const rec = (v: number) => ({ key: null, value: Buffer.from(String(v)), headers: [], timestamp: Date.now() });

/** Append request records per partition through the claim, as the produce service does. */
async function produce(
  begin: IdempotencyBegin,
  assignment: number[],
  failPartition?: number,
): Promise<OffsetRef[] | undefined> {
  if (begin.kind === 'replay') return begin.offsets;
  const { claim } = begin;
  try {
    for (const p of [0, 1]) {
      const indexes = assignment
        .map((q, i) => (q === p && !claim.alreadyAppended.has(i) ? i : -1))
        .filter((i) => i >= 0);
      if (indexes.length === 0 || p === failPartition) continue;
      const r = await logs[p]!.append(indexes.map(rec), { durability: 'write', tag: claim.tag(indexes) });
      if (!r.ok) throw new Error(r.error.code);
      claim.recorded(p, r.value.baseOffset, indexes);
    }
    return claim.offsets();
  } finally {
    claim.release();
  }
}

function must<T>(r: { ok: true; value: T } | { ok: false; error: { message: string } }): T {
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

async function begin(t: IdempotencyTracker, id: IdempotencyIdentity, hash = H1, n = 3) {
  return t.begin('topic', () => logs, id, hash, n);
}

describe('Idempotency-Key', () => {
  const key: IdempotencyIdentity = { kind: 'key', key: 'k1' };

  it('answers a repeat with the first offsets and appends nothing', async () => {
    const t = new IdempotencyTracker(60_000);
    const first = await produce(must(await begin(t, key)), [0, 1, 0]);
    expect(first).toEqual([
      { partition: 0, offset: 0 },
      { partition: 1, offset: 0 },
      { partition: 0, offset: 1 },
    ]);
    const again = await begin(t, key);
    expect(again).toEqual({ ok: true, value: { kind: 'replay', offsets: first } });
    expect(logs.map((l) => l.endOffset())).toEqual([2, 1]);
  });

  it('refuses the same key with a different body', async () => {
    const t = new IdempotencyTracker(60_000);
    const b = await begin(t, key);
    await produce(must(b), [0, 0, 0]);
    const other = await begin(t, key, H2);
    expect(!other.ok && other.error.code).toBe('invalid_record');
  });

  it('makes a concurrent duplicate wait for the first, then replay it', async () => {
    const t = new IdempotencyTracker(60_000);
    const a = await begin(t, key);
    let secondDone = false;
    const second = begin(t, key).then((r) => ((secondDone = true), r));
    await new Promise((r) => setImmediate(r));
    expect(secondDone).toBe(false);
    const offsets = await produce(must(a), [1, 1, 1]);
    expect(await second).toEqual({ ok: true, value: { kind: 'replay', offsets } });
    expect(logs[1]!.endOffset()).toBe(3);
  });

  it('completes a partly failed request on retry without appending twice', async () => {
    const t = new IdempotencyTracker(60_000);
    const a = await begin(t, key);
    expect(await produce(must(a), [0, 1, 0], 1)).toBeUndefined();
    const b = await begin(t, key);
    expect(b.ok && b.value.kind === 'append' && [...b.value.claim.alreadyAppended]).toEqual([0, 2]);
    const offsets = await produce(must(b), [0, 1, 0]);
    expect(offsets).toEqual([
      { partition: 0, offset: 0 },
      { partition: 1, offset: 0 },
      { partition: 0, offset: 1 },
    ]);
    expect(logs.map((l) => l.endOffset())).toEqual([2, 1]);
  });

  it('forgets a key after the window and rebuilds live ones from the log', async () => {
    let now = Date.now();
    const t = new IdempotencyTracker(1000, () => now);
    const a = await begin(t, key);
    const offsets = await produce(must(a), [1, 0, 1]);
    // A fresh tracker (a restart) sees the same key in the log's tags.
    const restarted = new IdempotencyTracker(1000, () => now);
    expect(await begin(restarted, key)).toEqual({ ok: true, value: { kind: 'replay', offsets } });
    now += 2000;
    const later = await begin(new IdempotencyTracker(1000, () => now), key);
    expect(later.ok && later.value.kind).toBe('append');
    if (later.ok && later.value.kind === 'append') later.value.claim.release();
  });
});

describe('Producer-Id / Epoch / Seq', () => {
  const pr = (seq: number, epoch = 0): IdempotencyIdentity => ({ kind: 'producer', id: 42n, epoch, seq });
  const run = async (t: IdempotencyTracker, id: IdempotencyIdentity) => {
    const b = await begin(t, id, H1, 1);
    if (!b.ok) return b;
    return { ok: true as const, value: await produce(b.value, [0]) };
  };

  it('appends in order, replays duplicates, refuses gaps and stale epochs', async () => {
    const t = new IdempotencyTracker(60_000);
    expect(await run(t, pr(5))).toEqual({ ok: true, value: [{ partition: 0, offset: 0 }] }); // first seen: any seq
    expect(await run(t, pr(6))).toEqual({ ok: true, value: [{ partition: 0, offset: 1 }] });
    expect(await run(t, pr(5))).toEqual({ ok: true, value: [{ partition: 0, offset: 0 }] });
    const gap = await run(t, pr(8));
    expect(!gap.ok && gap.error).toMatchObject({ code: 'conflict', expectedSeq: 7 });
    expect(await run(t, pr(0, 1))).toEqual({ ok: true, value: [{ partition: 0, offset: 2 }] }); // new epoch resets
    const stale = await run(t, pr(7, 0));
    expect(!stale.ok && stale.error).toMatchObject({ code: 'fenced', currentEpoch: 1 });
    expect(logs[0]!.endOffset()).toBe(3);
  });

  it('a producer that used the last sequence of the last epoch is told to choose a new producer id', async () => {
    const t = new IdempotencyTracker(60_000);
    expect((await run(t, pr(MAX_PRODUCER_SEQ, MAX_PRODUCER_EPOCH))).ok).toBe(true);
    const wrapped = await run(t, pr(0, MAX_PRODUCER_EPOCH));
    expect(!wrapped.ok && wrapped.error).toMatchObject({
      code: 'conflict',
      reason: 'producer_seq_exhausted',
      currentEpoch: MAX_PRODUCER_EPOCH,
      message: expect.stringMatching(/does not wrap.*choose a new Producer-Id/),
    });
    expect(logs[0]!.endOffset()).toBe(1);
  });

  it('rebuilds producer state from the log after a restart', async () => {
    const t = new IdempotencyTracker(60_000);
    await run(t, pr(0, 3));
    await run(t, pr(1, 3));
    const restarted = new IdempotencyTracker(60_000);
    expect(await run(restarted, pr(1, 3))).toEqual({ ok: true, value: [{ partition: 0, offset: 1 }] });
    const stale = await run(restarted, pr(2, 2));
    expect(!stale.ok && stale.error.code).toBe('fenced');
    const gap = await run(restarted, pr(3, 3));
    expect(!gap.ok && gap.error).toMatchObject({ code: 'conflict', expectedSeq: 2 });
    expect(await run(restarted, pr(2, 3))).toEqual({ ok: true, value: [{ partition: 0, offset: 2 }] });
  });

  it('serialises one producer: the next sequence waits for the previous request', async () => {
    const t = new IdempotencyTracker(60_000);
    const first = await begin(t, pr(0), H1, 1);
    const secondP = run(t, pr(1));
    await new Promise((r) => setImmediate(r));
    await produce(must(first), [0]);
    expect(await secondP).toEqual({ ok: true, value: [{ partition: 0, offset: 1 }] });
  });
});
