// Two queue sweepers on one database are two Sluice nodes: whose clocks disagree must not
// matter to who holds the sweeper lease, nor to how soon a crashed holder's lease passes on.
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { Leases } from '../cluster/leases.js';
import { queuePartitions, queues, topics } from '../metadata/schema.js';
import { openMigratedTestDb } from '../../test/support/database.js';
import type { Db } from './queue-repository.js';
import { QueueSweeper } from './queue-sweeper.js';
import type { QueuesService } from './queues-service.js';

const silent = { warn: () => {} };
const SKEW_MS = 20_000;
const TTL_MS = 5_000;

/** One queue partition that is always due, and a record of which node swept it under the lease. */
async function setup(db: Db) {
  const topicId = randomUUID();
  const queueId = randomUUID();
  const config = {
    retention_ms: -1,
    retention_bytes: -1,
    segment_bytes: 1 << 20,
    segment_ms: 604_800_000,
    durability: 'write' as const,
    value_format: 'json' as const,
    max_record_bytes: 1 << 20,
  };
  await db
    .insert(topics)
    .values({ id: topicId, name: `t-${topicId}`, state: 'active', partitions: 1, config, createdAt: 0, updatedAt: 0 });
  await db.insert(queues).values({
    id: queueId,
    topicId,
    name: 'q',
    start: 'earliest',
    lockMs: 30_000,
    maxDeliveries: 5,
    createdAt: 0,
    updatedAt: 0,
  });
  await db
    .insert(queuePartitions)
    .values({ queueId, partition: 0, startOffset: 0, endOffset: 0, ranges: [], sweepAt: 0, updatedAt: 0 });
  const swept: string[] = [];
  const queuesOf = (node: string) =>
    ({
      topicById: (id: string) => (id === topicId ? { id } : undefined),
      // What sweepPartition does with the fence: writes only if it passes, in the same transaction.
      sweepPartition: async (_q: unknown, _t: unknown, _p: number, fence: (tx: Db) => Promise<boolean>) => {
        await db.transaction(async (tx) => {
          if (await fence(tx)) swept.push(node);
        });
      },
    }) as unknown as QueuesService;
  /** A node: its sweeper, with its own clock and its own lease holder id. */
  const node = (name: string, clock: () => number, exclusive = false) =>
    new QueueSweeper({
      db,
      queues: queuesOf(name),
      leases: new Leases(db, { ttlMs: TTL_MS, exclusive }),
      intervalMs: 250,
      logger: silent,
      clock,
    });
  return { swept, node };
}

it('a node whose clock runs 20 s ahead does not take the sweeper lease from a live holder', async () => {
  const { db } = await openMigratedTestDb();
  const { swept, node } = await setup(db);
  const a = node('a', () => Date.now());
  const b = node('b', () => Date.now() + SKEW_MS);
  expect(await a.sweepOnce()).toBe(1);
  for (let round = 0; round < 5; round++) {
    await b.sweepOnce();
    await a.sweepOnce();
  }
  // Only the holder swept: the other node saw a lease its holder keeps renewing, not an expired one.
  expect(swept).toEqual(Array(6).fill('a'));
}, 60_000); // a migrated database per test on a loaded machine

it('a crashed holder whose clock ran 20 s ahead hands the lease on within its time, not 20 s later', async () => {
  const { db } = await openMigratedTestDb();
  const { swept, node } = await setup(db);
  const a = node('a', () => Date.now() + SKEW_MS);
  const b = node('b', () => Date.now());
  expect(await a.sweepOnce()).toBe(1);
  const crashedAt = Date.now(); // a stops sweeping without handing its lease back
  const deadline = crashedAt + TTL_MS + 10_000; // generous on a loaded machine, still short of the skew
  while (!swept.includes('b')) {
    if (Date.now() > deadline) throw new Error(`b never took the lease in ${Date.now() - crashedAt} ms`);
    await b.sweepOnce();
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(Date.now() - crashedAt).toBeGreaterThanOrEqual(TTL_MS - 1_000); // it did wait for the lease to run out
}, 90_000); // waits out a real lease on a loaded machine

it('a single node (exclusive) that restarts sweeps at once, not after its old lease runs out', async () => {
  const { db } = await openMigratedTestDb();
  const { swept, node } = await setup(db);
  expect(await node('before', () => Date.now(), true).sweepOnce()).toBe(1); // then killed: its lease stays
  await node('after', () => Date.now(), true).sweepOnce();
  expect(swept).toEqual(['before', 'after']);
});
