// The group-offset mirror: one node (the lease holder) writes, only what changed, reading only what
// was committed since its last pass; a node that takes the lease over writes everything once; a
// group Kafka refuses is retried, logged once; a re-created topic and a lease lost mid-pass never
// put an older offset over a newer one in Kafka.
import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { openMigratedTestDb } from '../../test/support/database.js';
import type { MetadataDb } from '../metadata/connection.js';
import { consumerGroups, groupOffsets } from '../metadata/schema/groups.js';
import { leases } from '../metadata/schema/leases.js';
import { topics } from '../metadata/schema/topics.js';
import { Leases } from './leases.js';
import { FULL_SCAN_EVERY_MS, OFFSET_MIRROR_LEASE, OVERLAP_MS, OffsetMirror } from './offset-mirror.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Offset = { topicId: string; partition: number; offset: number };
type Call = { group: string; offsets: Offset[] };
const TTL_MS = 60_000;

/**
 * The world the mirror runs in: one database, the topics as the nodes' caches know them, a clock,
 * and Kafka's committed offsets (`group/topicId/partition` → offset) as every node wrote them.
 */
function world(db: MetadataDb) {
  const cache = new Map<string, string>();
  const kafka = new Map<string, number>();
  const clock = { now: 1_000_000_000 };
  /** Create (or re-create) a topic: a new id, in the database and in every node's cache. */
  const createTopic = async (name: string): Promise<string> => {
    const id = randomUUID();
    await db.insert(topics).values({
      id,
      name,
      state: 'active',
      partitions: 4,
      config: {
        retention_ms: -1,
        retention_bytes: -1,
        segment_bytes: 1 << 20,
        segment_ms: 60_000,
        durability: 'write',
        value_format: 'json',
        max_record_bytes: 1 << 20,
      },
      createdAt: 0,
      updatedAt: 0,
    });
    cache.set(name, id);
    return id;
  };
  /** Delete a topic as the topics service does: its offsets are forgotten, then the row goes. */
  const deleteTopic = async (name: string) => {
    await db.delete(groupOffsets).where(eq(groupOffsets.topic, name));
    await db.delete(topics).where(eq(topics.name, name));
    cache.delete(name);
  };
  const commit = async (group: string, topic: string, partition: number, offset: number, committedAt = clock.now) => {
    await db.insert(consumerGroups).values({ name: group, createdAt: 0, updatedAt: 0 }).onConflictDoNothing();
    await db
      .insert(groupOffsets)
      .values({ groupName: group, topic, partition, offset, metadata: null, committedAt })
      .onConflictDoUpdate({
        target: [groupOffsets.groupName, groupOffsets.topic, groupOffsets.partition],
        set: { offset, committedAt },
      });
  };
  /** A node running the mirror; `during` runs inside its Kafka write, after the write landed. */
  const node = (opts: { refuse?: Set<string>; during?: (call: Call) => Promise<void> } = {}) => {
    const calls: Call[] = [];
    const warnings: string[] = [];
    const mirror = new OffsetMirror({
      db,
      leases: new Leases(db, { ttlMs: TTL_MS, exclusive: false }),
      topicId: (name) => cache.get(name),
      mirror: async (group, offsets) => {
        if (opts.refuse?.has(group)) throw new Error('GROUP_SUBSCRIBED_TO_TOPIC');
        const call = {
          group,
          offsets: offsets.map(({ topicId, partition, offset }) => ({ topicId, partition, offset })),
        };
        calls.push(call);
        for (const o of call.offsets) kafka.set(`${group}/${o.topicId}/${o.partition}`, o.offset);
        await opts.during?.(call);
      },
      groupPrefix: 'sluice.',
      intervalMs: 60_000,
      logger: { warn: (_o, msg) => void warnings.push(msg), info: () => undefined },
      clock: () => clock.now,
    });
    cleanups.push(() => mirror.close());
    return { mirror, calls, warnings };
  };
  return { cache, kafka, clock, createTopic, deleteTopic, commit, node };
}

/** Calls sorted by group, their offsets by topic and partition (the order of a scan is the database's). */
const sorted = (calls: Call[]) =>
  [...calls]
    .map((c) => ({
      group: c.group,
      offsets: [...c.offsets].sort((x, y) => x.topicId.localeCompare(y.topicId) || x.partition - y.partition),
    }))
    .sort((x, y) => x.group.localeCompare(y.group));

describe('OffsetMirror', () => {
  it('writes from the lease holder only, only what changed; the next holder writes everything once', async () => {
    const { db } = await openMigratedTestDb();
    const w = world(db);
    const orders = await w.createTopic('orders');
    const a = w.node();
    const b = w.node();
    await w.commit('billing', 'orders', 0, 5);
    await w.commit('billing', 'gone', 0, 9); // a topic that no longer exists is skipped
    await a.mirror.tick();
    await b.mirror.tick();
    expect(a.calls).toEqual([{ group: 'sluice.billing', offsets: [{ topicId: orders, partition: 0, offset: 5 }] }]);
    expect(b.calls).toEqual([]);
    await a.mirror.tick();
    expect(a.calls).toHaveLength(1); // nothing changed
    await w.commit('billing', 'orders', 1, 3);
    await a.mirror.tick();
    expect(a.calls[1]).toEqual({ group: 'sluice.billing', offsets: [{ topicId: orders, partition: 1, offset: 3 }] });

    await a.mirror.close(); // releases the lease
    await b.mirror.tick();
    expect(sorted(b.calls)).toEqual([
      {
        group: 'sluice.billing',
        offsets: [
          { topicId: orders, partition: 0, offset: 5 },
          { topicId: orders, partition: 1, offset: 3 },
        ],
      },
    ]);
  });

  it('a group Kafka refuses is retried every pass and logged once; the others go on', async () => {
    const { db } = await openMigratedTestDb();
    const w = world(db);
    await w.createTopic('orders');
    const refuse = new Set(['sluice.native']);
    const a = w.node({ refuse });
    await w.commit('native', 'orders', 0, 1);
    await w.commit('billing', 'orders', 0, 2);
    await a.mirror.tick();
    // Later commits move the pass's window past the refused group's commit.
    w.clock.now += OVERLAP_MS * 2;
    await w.commit('billing', 'orders', 1, 3);
    await a.mirror.tick();
    expect(a.calls.map((c) => c.group)).toEqual(['sluice.billing', 'sluice.billing']);
    expect(a.warnings).toHaveLength(1);
    refuse.clear();
    await a.mirror.tick();
    expect(a.calls.map((c) => c.group)).toEqual(['sluice.billing', 'sluice.billing', 'sluice.native']);
  });

  it('a pass reads what was committed since the last one (with an overlap); a full read every FULL_SCAN_EVERY_MS catches the rest', async () => {
    const { db } = await openMigratedTestDb();
    const w = world(db);
    const orders = await w.createTopic('orders');
    const a = w.node();
    await w.commit('billing', 'orders', 0, 5);
    await a.mirror.tick(); // everything: the first pass of a holder
    const newest = w.clock.now;
    w.clock.now += 5_000;
    // Commits that became visible after the pass although their committed_at is older: one
    // within the overlap (a slow transaction), one far beyond it (a node whose clock is behind).
    await w.commit('late', 'orders', 0, 7, newest - OVERLAP_MS / 2);
    await w.commit('skewed', 'orders', 0, 8, newest - OVERLAP_MS * 3);
    await a.mirror.tick();
    expect(a.calls.slice(1)).toEqual([
      { group: 'sluice.late', offsets: [{ topicId: orders, partition: 0, offset: 7 }] },
    ]);
    w.clock.now += FULL_SCAN_EVERY_MS;
    await a.mirror.tick();
    expect(a.calls.slice(2)).toEqual([
      { group: 'sluice.skewed', offsets: [{ topicId: orders, partition: 0, offset: 8 }] },
    ]);
  });

  it('a topic re-created under its name: the old topic offsets never reach the new Kafka topic', async () => {
    const { db } = await openMigratedTestDb();
    const w = world(db);
    const old = await w.createTopic('orders');
    const a = w.node();
    await w.commit('billing', 'orders', 0, 100);
    await a.mirror.tick();
    expect(w.kafka.get(`sluice.billing/${old}/0`)).toBe(100);
    await w.commit('billing', 'orders', 0, 120);

    // This node has already heard of the re-creation (another node did it) when its pass reads
    // the offsets: they are still the old topic's then, and are not written under the new id.
    const fresh = randomUUID();
    w.cache.set('orders', fresh);
    await a.mirror.tick();
    await w.deleteTopic('orders');
    const renewed = await w.createTopic('orders');
    await w.commit('billing', 'orders', 0, 3);
    w.clock.now += 5_000;
    await a.mirror.tick();

    // Deleted and re-created between a pass's read and its write: the old offsets go to the old
    // topic's Kafka topic (deleted with it: Kafka refuses or drops them), never to the new one.
    await w.commit('billing', 'orders', 0, 4);
    await w.commit('audit', 'orders', 0, 4);
    w.clock.now += 5_000;
    const b = w.node({
      during: async () => {
        if (b.calls.length > 1) return;
        await w.deleteTopic('orders');
        await w.createTopic('orders');
        await w.commit('billing', 'orders', 0, 1);
        await w.commit('audit', 'orders', 0, 1);
      },
    });
    await a.mirror.close();
    await b.mirror.tick(); // writes both groups, re-creating the topic after the first
    const newest = w.cache.get('orders')!;
    w.clock.now += 5_000;
    await b.mirror.tick();

    const written = [...a.calls, ...b.calls].flatMap((c) => c.offsets.map((o) => ({ group: c.group, ...o })));
    for (const id of [fresh, renewed, newest]) {
      const onTopic = written.filter((o) => o.topicId === id).map((o) => o.offset);
      expect(
        onTopic.filter((o) => o >= 100),
        `old offsets under ${id}`,
      ).toEqual([]);
    }
    expect(written.filter((o) => o.topicId === renewed).map((o) => o.offset)).not.toContain(1);
    expect(w.kafka.get(`sluice.billing/${newest}/0`)).toBe(1);
    expect(w.kafka.get(`sluice.audit/${newest}/0`)).toBe(1);
  });

  it('the lease moving to another node mid-pass: the old holder writes nothing more, no offset goes back', async () => {
    const { db } = await openMigratedTestDb();
    const w = world(db);
    await w.createTopic('orders');
    const id = w.cache.get('orders')!;
    let takeOver: (() => Promise<void>) | undefined;
    const a = w.node({
      during: async () => {
        const t = takeOver;
        takeOver = undefined;
        await t?.();
      },
    });
    const b = w.node();
    await w.commit('g1', 'orders', 0, 1);
    await w.commit('g2', 'orders', 0, 1);
    await a.mirror.tick();
    w.clock.now += 5_000;
    await w.commit('g1', 'orders', 0, 10);
    await w.commit('g2', 'orders', 0, 10);
    // After A has written its first group of the pass, it stalls past its lease; B takes the
    // lease, and both groups commit further and are mirrored by B; then A goes on.
    takeOver = async () => {
      w.clock.now += TTL_MS;
      await db
        .update(leases)
        .set({ expiresAt: sql`now() - interval '1 second'` })
        .where(eq(leases.name, OFFSET_MIRROR_LEASE));
      await w.commit('g1', 'orders', 0, 20);
      await w.commit('g2', 'orders', 0, 20);
      await b.mirror.tick();
    };
    await a.mirror.tick();
    expect(sorted(b.calls)).toEqual([
      { group: 'sluice.g1', offsets: [{ topicId: id, partition: 0, offset: 20 }] },
      { group: 'sluice.g2', offsets: [{ topicId: id, partition: 0, offset: 20 }] },
    ]);
    expect(w.kafka.get(`sluice.g1/${id}/0`)).toBe(20);
    expect(w.kafka.get(`sluice.g2/${id}/0`)).toBe(20);
    expect(a.calls).toHaveLength(3); // both groups at 1, then one group at 10 before it stalled
  });
});
