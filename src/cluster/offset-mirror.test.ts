// The group-offset mirror: one node (the lease holder) writes, only what changed, and a node that
// takes the lease over writes everything once; a group Kafka refuses is retried, logged once.
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/support/database.js';
import { loadConfig } from '../config.js';
import { openMetadata, type MetadataDb } from '../metadata/connection.js';
import { migrate } from '../metadata/migrate.js';
import { consumerGroups, groupOffsets } from '../metadata/schema/groups.js';
import { Leases } from './leases.js';
import { OffsetMirror } from './offset-mirror.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function database(): Promise<MetadataDb> {
  const test = await createTestDatabase();
  cleanups.push(() => test.drop());
  const conn = await openMetadata(
    loadConfig(test.url ? { DATABASE_URL: test.url } : { SLUICE_PGLITE_IN_MEMORY: 'true' }),
  );
  cleanups.push(() => conn.close());
  await migrate(conn.db);
  return conn.db;
}

type Call = { group: string; offsets: Array<{ topicId: string; partition: number; offset: number }> };

function node(db: MetadataDb, opts: { refuse?: Set<string> } = {}) {
  const calls: Call[] = [];
  const warnings: string[] = [];
  const mirror = new OffsetMirror({
    db,
    leases: new Leases(db, { ttlMs: 60_000, exclusive: false }),
    topicId: (name) => (name === 'gone' ? undefined : `id-${name}`),
    mirror: async (group, offsets) => {
      if (opts.refuse?.has(group)) throw new Error('GROUP_SUBSCRIBED_TO_TOPIC');
      calls.push({ group, offsets: offsets.map(({ topicId, partition, offset }) => ({ topicId, partition, offset })) });
    },
    groupPrefix: 'sluice.',
    intervalMs: 60_000,
    logger: { warn: (_o, msg) => void warnings.push(msg), info: () => undefined },
  });
  cleanups.push(() => mirror.close());
  return { mirror, calls, warnings };
}

async function commit(db: MetadataDb, group: string, topic: string, partition: number, offset: number) {
  await db.insert(consumerGroups).values({ name: group, createdAt: 0, updatedAt: 0 }).onConflictDoNothing();
  await db
    .insert(groupOffsets)
    .values({ groupName: group, topic, partition, offset, metadata: null, committedAt: 0 })
    .onConflictDoUpdate({
      target: [groupOffsets.groupName, groupOffsets.topic, groupOffsets.partition],
      set: { offset },
    });
}

describe('OffsetMirror', () => {
  it('writes from the lease holder only, only what changed; the next holder writes everything once', async () => {
    const db = await database();
    const a = node(db);
    const b = node(db);
    await commit(db, 'billing', 'orders', 0, 5);
    await commit(db, 'billing', 'gone', 0, 9); // a topic that no longer exists is skipped
    await a.mirror.tick();
    await b.mirror.tick();
    expect(a.calls).toEqual([
      { group: 'sluice.billing', offsets: [{ topicId: 'id-orders', partition: 0, offset: 5 }] },
    ]);
    expect(b.calls).toEqual([]);
    await a.mirror.tick();
    expect(a.calls).toHaveLength(1); // nothing changed
    await commit(db, 'billing', 'orders', 1, 3);
    await a.mirror.tick();
    expect(a.calls[1]).toEqual({
      group: 'sluice.billing',
      offsets: [{ topicId: 'id-orders', partition: 1, offset: 3 }],
    });

    await a.mirror.close(); // releases the lease
    await b.mirror.tick();
    expect(b.calls).toEqual([
      {
        group: 'sluice.billing',
        offsets: [
          { topicId: 'id-orders', partition: 0, offset: 5 },
          { topicId: 'id-orders', partition: 1, offset: 3 },
        ],
      },
    ]);
  });

  it('a group Kafka refuses is retried every pass and logged once; the others go on', async () => {
    const db = await database();
    const refuse = new Set(['sluice.native']);
    const a = node(db, { refuse });
    await commit(db, 'native', 'orders', 0, 1);
    await commit(db, 'billing', 'orders', 0, 2);
    await a.mirror.tick();
    await a.mirror.tick();
    expect(a.calls.map((c) => c.group)).toEqual(['sluice.billing']);
    expect(a.warnings).toHaveLength(1);
    refuse.clear();
    await a.mirror.tick();
    expect(a.calls.map((c) => c.group)).toEqual(['sluice.billing', 'sluice.native']);
  });
});
