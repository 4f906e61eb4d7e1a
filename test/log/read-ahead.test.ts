// The file log's read-ahead for sequential readers (src/log/read-ahead.ts): a reader paging in
// order gets the same records as a read without it, whatever appends, retention, other readers
// and deletion do meanwhile; and the page read ahead is used, dropped or never read as it should.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  faultInjectingLogFs,
  nodeLogFs,
  type FileLogStoreOptions,
  type LogObserver,
  type LogStore,
  type PartitionConfig,
  type PartitionLog,
  type ReadOptions,
} from '../../src/log/index.js';
import { afterTest, batch, cleanUpAfterEach, config, newTopic, openStore, scratchDir } from './helpers.js';

cleanUpAfterEach();

const turn = () => new Promise((r) => setImmediate(r));
/** Enough turns for a read ahead to have read its page (its reads go through the thread pool). */
const settle = () => new Promise((r) => setTimeout(r, 20));

interface Seen {
  used: number;
  unused: number;
}

async function setUp(
  partitionConfig: PartitionConfig = config,
  options: Partial<FileLogStoreOptions> = {},
): Promise<{ store: LogStore; log: PartitionLog; topic: string; seen: Seen }> {
  const seen: Seen = { used: 0, unused: 0 };
  const observer: LogObserver = { readAhead: (used) => void (used ? seen.used++ : seen.unused++) };
  const store = await openStore(await scratchDir(), { observer, ...options });
  afterTest(() => store.close());
  const topic = newTopic();
  const log = await store.createPartition(topic, 0, partitionConfig);
  return { store, log, topic, seen };
}

async function append(log: PartitionLog, i: number, n = 5, pad = 0): Promise<void> {
  const r = await log.append(batch(i, n, pad), { durability: 'write' });
  if (!r.ok) throw new Error(JSON.stringify(r.error));
}

/** readRun's answer in `read`'s terms, to compare with `read` (which never reads ahead). */
async function readRunAsRead(log: PartitionLog, offset: number, limits: ReadOptions) {
  const r = await log.readRun(offset, limits);
  return r.ok ? { ok: true, value: { records: r.value.run.toRecords(), nextOffset: r.value.nextOffset } } : r;
}

const limits = { maxRecords: 10, maxBytes: 1 << 20 };

describe('file log read-ahead', () => {
  it('a reader paging in order gets each page from the one read ahead, with the records a plain read gives', async () => {
    const { log, seen } = await setUp();
    for (let i = 0; i < 20; i++) await append(log, i);
    let offset = 0;
    for (let page = 0; page < 10; page++) {
      const r = await readRunAsRead(log, offset, limits);
      expect(r).toEqual(await log.read(offset, limits));
      if (!r.ok) throw new Error('read failed');
      offset = r.value.nextOffset;
      await settle();
    }
    expect(offset).toBe(100);
    // Pages 3 to 10 were read ahead (two reads make a sequence); nothing was read past the end.
    expect(seen).toEqual({ used: 8, unused: 0 });
  });

  it('a page read ahead near the end is not used once records were appended after it', async () => {
    const { log, seen } = await setUp();
    for (let i = 0; i < 5; i++) await append(log, i); // offsets 0..24
    await log.readRun(0, limits);
    await log.readRun(10, limits); // reads [20, 25) ahead: the end, not a full page
    await settle();
    await append(log, 5); // 25..29
    const r = await readRunAsRead(log, 20, limits);
    expect(r).toEqual(await log.read(20, limits));
    if (!r.ok) throw new Error('read failed');
    expect(r.value.records.map((x) => x.offset)).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
    expect(seen).toEqual({ used: 0, unused: 1 }); // read ahead, then dropped as stale
  });

  it('a page read ahead whose records retention removed is not served: the read is out of range', async () => {
    const small: PartitionConfig = { ...config, segmentBytes: 1024, retentionBytes: 1 };
    const { store, log } = await setUp(small);
    for (let i = 0; i < 30; i++) await append(log, i, 5, 20);
    await log.readRun(0, limits);
    await log.readRun(10, limits); // reads [20, 30) ahead
    await settle();
    await store.enforceRetention();
    expect(log.startOffset()).toBeGreaterThan(30);
    const r = await log.readRun(20, limits);
    expect(r).toEqual(await log.read(20, limits));
    expect(r.ok).toBe(false);
  });

  it('readers taking turns on a partition read nothing ahead', async () => {
    const { store, log, seen } = await setUp();
    for (let i = 0; i < 20; i++) await append(log, i);
    const next = [0, 50];
    for (let k = 0; k < 8; k++) {
      const who = k % 2;
      const r = await log.readRun(next[who]!, limits);
      if (!r.ok) throw new Error('read failed');
      next[who] = r.value.nextOffset;
      await settle();
    }
    await store.close(); // would drop (and count) a page read ahead
    expect(seen).toEqual({ used: 0, unused: 0 });
  });

  it('a reader that stops leaves a page that closing (or deleting the topic) drops', async () => {
    const { store, log, topic, seen } = await setUp();
    for (let i = 0; i < 20; i++) await append(log, i);
    await log.readRun(0, limits);
    await log.readRun(10, limits);
    await turn(); // the read ahead has started, not finished
    await store.deleteTopic(topic);
    await settle();
    expect(seen).toEqual({ used: 0, unused: 1 });
  });

  it('a read ahead due to start after its partition closed reads nothing (no file reopened)', async () => {
    let opensAfterDelete = 0;
    let deleting = false;
    const fs = faultInjectingLogFs(nodeLogFs, (op, path) => {
      if (deleting && op === 'open' && path.endsWith('.log')) opensAfterDelete++;
      return undefined;
    });
    const { store, log, topic, seen } = await setUp(config, { fs, recentCacheBytes: 0 });
    for (let i = 0; i < 20; i++) await append(log, i);
    await log.readRun(0, limits);
    await log.readRun(10, limits); // a read ahead is due in a later turn
    deleting = true;
    const deleted = store.deleteTopic(topic); // closes the partition in this turn
    await settle();
    await deleted;
    expect(opensAfterDelete).toBe(0);
    expect(seen).toEqual({ used: 0, unused: 1 });
  });

  it('reads nothing ahead with a budget smaller than a page', async () => {
    const { store, log, seen } = await setUp(config, { readAheadBytes: 1024 });
    for (let i = 0; i < 20; i++) await append(log, i);
    for (let offset = 0; offset < 60; offset += 10) await log.readRun(offset, limits);
    await store.close();
    expect(seen).toEqual({ used: 0, unused: 0 });
  });

  it('whatever appends, retention and readers do, readRun answers as read does (model)', async () => {
    const op = fc.oneof(
      {
        arbitrary: fc.record({
          kind: fc.constant('append' as const),
          n: fc.integer({ min: 1, max: 30 }),
          pad: fc.integer({ min: 0, max: 60 }),
        }),
        weight: 3,
      },
      {
        arbitrary: fc.record({
          kind: fc.constant('next' as const),
          // Mostly one reader paging on, so reads ahead happen; the other now and then.
          reader: fc.constantFrom(0, 0, 0, 1),
          wait: fc.boolean(),
        }),
        weight: 6,
      },
      {
        arbitrary: fc.record({
          kind: fc.constant('seek' as const),
          reader: fc.integer({ min: 0, max: 1 }),
          to: fc.nat(200),
        }),
        weight: 1,
      },
      { arbitrary: fc.record({ kind: fc.constant('retention' as const) }), weight: 1 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 15 }),
        fc.array(op, { minLength: 5, maxLength: 40 }),
        fc.array(
          fc.record({ maxRecords: fc.integer({ min: 1, max: 9 }), maxBytes: fc.integer({ min: 1, max: 400 }) }),
          {
            minLength: 2,
            maxLength: 2,
          },
        ),
        async (initial, ops, shapes) => {
          const { store, log } = await setUp({ ...config, segmentBytes: 1024, retentionBytes: 3000 });
          let batches = 0;
          while (batches < initial) await append(log, batches++, 10);
          const at = [0, 0];
          for (const o of ops) {
            if (o.kind === 'append') await append(log, batches++, o.n, o.pad);
            else if (o.kind === 'retention') await store.enforceRetention();
            else if (o.kind === 'seek') at[o.reader] = Math.min(o.to, log.endOffset());
            else {
              const shape = shapes[o.reader]!;
              const got = await readRunAsRead(log, at[o.reader]!, shape);
              expect(got).toEqual(await log.read(at[o.reader]!, shape));
              at[o.reader] = got.ok ? got.value.nextOffset : log.startOffset();
              if (o.wait) await settle();
            }
          }
          await store.close();
        },
      ),
      { numRuns: 60 },
    );
  });
});
