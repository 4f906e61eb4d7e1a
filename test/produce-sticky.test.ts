// Keyless produce on the file log: a request sent while the partition of the one before it is
// still writing joins that partition (one group commit for both), up to STICKY_BYTES; requests
// sent one at a time still rotate. The fdatasync is held by a gate, so "still writing" is exact.
import { describe, expect, it } from 'vitest';
import { createFileLogStore, faultInjectingLogFs, nodeLogFs, type LogFs, type LogStore } from '../src/log/index.js';
import { STICKY_BYTES } from '../src/topics/partitioner.js';
import { ProduceService, type ProduceTopic } from '../src/topics/produce-service.js';
import { afterTest, cleanUpAfterEach, config, scratchDir } from './log/helpers.js';

cleanUpAfterEach();

const PARTITIONS = 4;
const topic: ProduceTopic = {
  id: 'sticky-topic',
  name: 'sticky',
  partitions: PARTITIONS,
  config: { value_format: 'json', max_record_bytes: 1 << 20, durability: 'fsync' },
};

type Op = 'write' | 'datasync';

/** Log files' writes or fdatasyncs (`hold(op)`) wait until `release()`; both are counted. */
function gatedFs(): {
  fs: LogFs;
  hold: (op: Op) => void;
  release: () => void;
  count: (op: Op) => number;
} {
  let held: { op: Op; until: Promise<void> } | undefined;
  let open: () => void = () => {};
  const counts = { write: 0, datasync: 0 };
  const gate = async (op: Op): Promise<void> => {
    counts[op]++;
    if (held?.op === op) await held.until;
  };
  const base = faultInjectingLogFs(nodeLogFs, () => undefined);
  return {
    fs: {
      ...base,
      open: async (path, flags) => {
        const h = await base.open(path, flags);
        if (!path.endsWith('.log')) return h;
        return {
          ...h,
          write: async (b, o, l, p) => {
            await gate('write');
            return h.write(b, o, l, p);
          },
          datasync: async () => {
            await gate('datasync');
            return h.datasync();
          },
        };
      },
    },
    hold: (op) => {
      held = { op, until: new Promise((r) => (open = r)) };
    },
    release: () => {
      held = undefined;
      open();
    },
    count: (op) => counts[op],
  };
}

async function setUp(): Promise<{ store: LogStore; service: ProduceService; gate: ReturnType<typeof gatedFs> }> {
  const gate = gatedFs();
  const store = createFileLogStore({
    dataDir: await scratchDir(),
    fs: gate.fs,
    retentionCheckIntervalMs: 0,
    flushIntervalMs: 0,
  });
  await store.open();
  afterTest(async () => {
    gate.release();
    await store.close();
  });
  for (let p = 0; p < PARTITIONS; p++) await store.createPartition(topic.id, p, config);
  const service = new ProduceService({ lookup: (n) => (n === topic.name ? topic : undefined) }, store, {
    maxBodyBytes: 10 << 20,
    maxRecordsPerRequest: 1000,
    idempotencyWindowMs: 60_000,
  });
  return { store, service, gate };
}

const body = (value: unknown) => new Response(JSON.stringify({ records: [{ value }] })).body!;

async function produce(service: ProduceService, value: unknown): Promise<number> {
  const r = await service.produce({ topic: topic.name, format: 'json', body: body(value) });
  if (!r.ok) throw new Error(r.error.message);
  return r.value.offsets[0]!.partition;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Until `op` has been called `count` times on log files (the last one held, if that op is). */
async function until(gate: ReturnType<typeof gatedFs>, op: Op, count = 1): Promise<void> {
  const deadline = Date.now() + 5000;
  while (gate.count(op) < count && Date.now() < deadline) await sleep(1);
  expect(gate.count(op)).toBe(count);
}

/**
 * Holds `op`, then sends a request with `value` and waits until its `op` (the `count`th on log
 * files) is the one held. `answered` is the request's partition, once it is answered (wrapped:
 * awaiting a bare promise here would wait for the answer too).
 */
async function heldRequest(
  service: ProduceService,
  gate: ReturnType<typeof gatedFs>,
  op: Op,
  value: unknown,
  count = 1,
): Promise<{ answered: Promise<number> }> {
  gate.hold(op);
  const answered = produce(service, value);
  await until(gate, op, count);
  return { answered };
}

describe('keyless produce on the file log', () => {
  it('sends requests arriving while a partition writes to that partition: 8 requests, 2 fdatasyncs', async () => {
    const { service, gate } = await setUp();
    // The first group's write is held: it is in flight, its fdatasync not yet started.
    const { answered: first } = await heldRequest(service, gate, 'write', 0);
    const rest = [1, 2, 3, 4, 5, 6, 7].map((i) => produce(service, i));
    // Every later request has been placed once it waits for the first group's fdatasync.
    await sleep(50);
    gate.release();
    const partitions = await Promise.all([first, ...rest]);
    expect(partitions).toEqual(Array(8).fill(partitions[0]));
    // The first group, then one group of the seven that queued behind it.
    expect(gate.count('datasync')).toBe(2);
  });

  it('still rotates through the partitions when each request is sent after the last one is answered', async () => {
    const { service } = await setUp();
    const partitions: number[] = [];
    for (let i = 0; i < 2 * PARTITIONS; i++) partitions.push(await produce(service, i));
    for (let i = 1; i < partitions.length; i++) expect(partitions[i]).toBe((partitions[i - 1]! + 1) % PARTITIONS);
  });

  it('moves on after STICKY_BYTES of records while requests keep overlapping', async () => {
    const { service, gate } = await setUp();
    const value = 'x'.repeat(1000);
    const placed = [(await heldRequest(service, gate, 'write', value)).answered];
    const per = Math.ceil(STICKY_BYTES / 1000);
    for (let i = 0; i < 3 * per; i++) placed.push(produce(service, value));
    await sleep(50);
    gate.release();
    const partitions = await Promise.all(placed);
    // Runs of about STICKY_BYTES, each on the next partition in turn.
    const runs: Array<[number, number]> = [];
    for (const p of partitions) {
      const last = runs.at(-1);
      if (last?.[0] === p) last[1]++;
      else runs.push([p, 1]);
    }
    expect(runs.length).toBe(4);
    for (let k = 1; k < runs.length; k++) expect(runs[k]![0]).toBe((runs[k - 1]![0] + 1) % PARTITIONS);
    for (const [, n] of runs.slice(0, -1)) expect(n).toBe(per);
  });

  it('counts an NDJSON body toward the bound as it streams in', async () => {
    const { service } = await setUp();
    let push!: (line: string | null) => void;
    const stream = new ReadableStream<Uint8Array>({
      start: (c) => {
        push = (line) => (line === null ? c.close() : c.enqueue(new TextEncoder().encode(line)));
      },
    });
    const line = `${JSON.stringify({ value: 'y'.repeat(1000) })}\n`;
    push(line);
    const long = service.produce({ topic: topic.name, format: 'ndjson', body: stream });
    const settle = () => sleep(20);
    await settle();
    // While the stream is open and under the bound, an overlapping request joins its partition.
    const joined = await produce(service, 1);
    for (let i = 0; i < 20; i++) push(line);
    await settle();
    // Past the bound (20 KB read), the next one moves on though the stream is still open.
    const moved = await produce(service, 2);
    push(null);
    const r = await long;
    if (!r.ok) throw new Error(r.error.message);
    expect(r.value.offsets).toHaveLength(21);
    const streamed = r.value.offsets[0]!.partition;
    expect(joined).toBe(streamed);
    expect(moved).toBe((streamed + 1) % PARTITIONS);
  });

  it('a refused request does not hold its partition: the next one still rotates', async () => {
    const { service } = await setUp();
    const accepted: number[] = [];
    for (let i = 0; i < 6; i++) {
      accepted.push(await produce(service, i));
      // Its first record is placed (a partition picked), its second refused: 400, nothing appended.
      const refused = await service.produce({
        topic: topic.name,
        format: 'json',
        body: new Response(JSON.stringify({ records: [{ value: 1 }, { value: 2, partition: 99 }] })).body!,
      });
      expect(refused.ok).toBe(false);
    }
    for (let i = 1; i < accepted.length; i++) expect(accepted[i]).toBe((accepted[i - 1]! + 2) % PARTITIONS);
  });

  it('does not stay on a partition whose last fdatasync was slow (over STICKY_MAX_SYNC_MS)', async () => {
    const { service, gate } = await setUp();
    // The first request's fdatasync takes 30 ms: its partition is now a slow one.
    const { answered: first } = await heldRequest(service, gate, 'datasync', 0);
    await sleep(30);
    gate.release();
    const slow = await first;
    // One at a time round to it again (the others' fdatasyncs are fast).
    for (let i = 1; i < PARTITIONS; i++) await produce(service, i);
    const { answered: again } = await heldRequest(service, gate, 'write', 10, PARTITIONS + 1);
    const overlapping = produce(service, 11);
    await sleep(20);
    gate.release();
    expect(await again).toBe(slow);
    // It overlapped the request on the slow partition, and went on to the next.
    expect(await overlapping).toBe((slow + 1) % PARTITIONS);
  });

  it('does not stay on a partition whose fdatasync in flight has taken over STICKY_MAX_SYNC_MS', async () => {
    const { service, gate } = await setUp();
    const { answered: first } = await heldRequest(service, gate, 'datasync', 0);
    // A stalled fdatasync: requests placed there would all wait for it.
    await sleep(10);
    const overlapping = produce(service, 1);
    await sleep(20);
    gate.release();
    const stalled = await first;
    expect(await overlapping).toBe((stalled + 1) % PARTITIONS);
  });
});
