// Restart behaviour: topics and their data survive a restart; creates and deletes cut
// short by a crash are rolled back or finished; log data no topic owns is removed; and
// a data directory paired with the wrong database stops start-up.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLEAN_SHUTDOWN_MARKER } from '../src/log/index.js';
import { ClusterMismatchError } from '../src/metadata/cluster-identity.js';
import { topics as topicsTable } from '../src/metadata/schema.js';
import { TOPIC_CONFIG_DEFAULTS, toPartitionConfig } from '../src/topics/topic-config.js';
import { expectStatus } from './support/client.js';
import { createTestDatabase } from './support/database.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from './support/server.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function env(): Promise<TestEnv> {
  const e = await createTestEnv();
  cleanups.push(() => e.cleanup());
  return e;
}

async function start(e: TestEnv): Promise<TestServer> {
  const s = await startTestServer(e);
  let stopped = false;
  cleanups.push(async () => {
    if (!stopped) await s.stop();
  });
  return {
    ...s,
    stop: async () => {
      stopped = true;
      await s.stop();
    },
  };
}

async function append(server: TestServer, topic: string, partition: number, n: number): Promise<void> {
  const found = server.services.topics.partitionLog(topic, partition);
  if (!found.ok) throw new Error(found.error.message);
  const records = Array.from({ length: n }, (_, i) => ({
    key: null,
    value: Buffer.from(`"v${i}"`),
    headers: [],
    timestamp: Date.now(),
  }));
  const r = await found.value.log.append(records, { durability: 'fsync' });
  if (!r.ok) throw new Error(r.error.reason);
}

describe('restart', () => {
  it('keeps topics, ids, config and log data across a graceful restart', async () => {
    const e = await env();
    const name = `t-${randomUUID()}`;
    let s = await start(e);
    const created = expectStatus(
      await s.client.post('/v1/topics', { body: { name, partitions: 2, config: { retention_ms: -1 } } }),
      201,
    );
    await append(s, name, 1, 5);
    await s.stop();
    await expect(fs.access(path.join(e.dataDir, CLEAN_SHUTDOWN_MARKER))).resolves.toBeUndefined();

    s = await start(e);
    expect(s.services.recovery.cleanShutdown).toBe(true);
    const topic = expectStatus(await s.client.get('/v1/topics/{topic}', { params: { topic: name } }), 200);
    expect(topic.id).toBe(created.id);
    expect(topic.config.retention_ms).toBe(-1);
    expect(topic.partitions.map((p) => p.end_offset)).toEqual([0, 5]);
    // Offsets continue, never reused.
    await append(s, name, 1, 1);
    expect(s.services.topics.partitionLog(name, 1).ok && s.services.topics.lookup(name)?.id).toBe(created.id);
    const again = expectStatus(await s.client.get('/v1/topics/{topic}', { params: { topic: name } }), 200);
    expect(again.partitions[1]?.end_offset).toBe(6);
  });

  it('rolls back a half-done create, finishes a half-done delete and removes orphaned log data', async () => {
    const e = await env();
    const keep = `t-${randomUUID()}`;
    let s = await start(e);
    expectStatus(await s.client.post('/v1/topics', { body: { name: keep } }), 201);
    const now = Date.now();
    const ids = { creating: randomUUID(), deleting: randomUUID(), orphan: randomUUID() };
    const config = TOPIC_CONFIG_DEFAULTS;
    // What a crash mid-create / mid-delete leaves behind: rows in transit plus partition data.
    await s.services.db.insert(topicsTable).values([
      {
        id: ids.creating,
        name: `half-created-${now}`,
        state: 'creating',
        partitions: 1,
        config,
        createdAt: now,
        updatedAt: now,
      },
      {
        id: ids.deleting,
        name: `half-deleted-${now}`,
        state: 'deleting',
        partitions: 1,
        config,
        createdAt: now,
        updatedAt: now,
      },
    ]);
    for (const id of Object.values(ids)) await s.services.log.createPartition(id, 0, toPartitionConfig(config));
    await s.stop();

    s = await start(e);
    const names = expectStatus(await s.client.get('/v1/topics'), 200).topics.map((t) => t.name);
    expect(names).toEqual([keep]);
    for (const id of Object.values(ids)) expect(s.services.log.topicIds()).not.toContain(id);
    expect(await s.services.db.select().from(topicsTable)).toHaveLength(1);
    // The name of the rolled-back create is free.
    expectStatus(await s.client.post('/v1/topics', { body: { name: `half-created-${now}` } }), 201);
  });

  it('refuses to start when DATA_DIR belongs to another database', async () => {
    const e = await env();
    const s = await start(e);
    expectStatus(await s.client.post('/v1/topics', { body: { name: `t-${randomUUID()}` } }), 201);
    await s.stop();
    // Same DATA_DIR, different (empty) database.
    const other = await createTestDatabase();
    cleanups.push(() => other.drop());
    const swapped: TestEnv = other.url
      ? { ...e, env: { ...e.env, DATABASE_URL: other.url } }
      : { ...e, env: { ...e.env } };
    if (!other.url) await fs.rm(path.join(e.dataDir, 'meta'), { recursive: true, force: true });
    await expect(startTestServer(swapped)).rejects.toThrow(ClusterMismatchError);
    await expect(startTestServer(swapped)).rejects.toThrow(/DATABASE_URL/);
  });

  it('graceful stop asks open streams to close and waits for them before closing the log', async () => {
    const e = await env();
    const s = await start(e);
    const events: string[] = [];
    let unregister: () => void = () => {};
    unregister = s.services.streams.register({
      description: 'test stream',
      close: () => {
        events.push('close requested');
        setTimeout(() => {
          events.push('stream ended');
          unregister();
        }, 50);
      },
    });
    s.services.onClose(() => void events.push('services closing'));
    await s.stop();
    expect(events).toEqual(['close requested', 'stream ended', 'services closing']);
    expect(() => s.services.streams.register({ description: 'late', close: () => {} })).toThrow(/shutting down/);
  });
});
