// Two nodes on one Kafka cluster and one Postgres: what the topic sync does with a topic deleted
// on the other node: its open streams end, and adopting the delete holds up nothing else.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { call, eventually, twoNodes, twoNodesPossible } from './support/kafka-nodes.js';
import { listen, until } from './sse-support.js';

const SYNC_MS = 200;

describe.skipIf(!twoNodesPossible())('the topic sync adopting a delete made on the other node', () => {
  // A keepalive far beyond the test's bounds: a stream that ends was ended by the sync.
  const nodes = twoNodes({ SLUICE_KAFKA_TOPIC_SYNC_MS: String(SYNC_MS), SLUICE_SSE_KEEPALIVE_MS: '60000' });

  const produceB = (name: string) =>
    call(nodes.b, 'POST', `/v1/topics/${name}/records`, { records: [{ value: 'x', partition: 0 }] });

  it("ends the other node's partition and topic streams when its sync adopts the delete", async () => {
    const name = `sync-sse-${randomUUID()}`;
    expect((await call(nodes.a, 'POST', '/v1/topics', { name, partitions: 1 })).status).toBe(201);
    await eventually('node B to adopt the topic', async () => (await produceB(name)).status === 200);
    const partition = listen(`${nodes.b.url}/v1/topics/${name}/partitions/0/events?from=earliest`);
    const topic = listen(`${nodes.b.url}/v1/topics/${name}/events?from=earliest`);
    try {
      await until(() => partition.records().length === 1 && topic.records().length === 1, 'both streams on B', 10_000);
      const deleted = Date.now();
      expect((await call(nodes.a, 'DELETE', `/v1/topics/${name}`)).status).toBe(204);
      const ended = (l: typeof partition) =>
        l.events.some((e) => e.type === 'error' && e.data.includes('topic_not_found'));
      await until(() => ended(partition) && ended(topic), 'both streams on B to end with topic_not_found', 20_000);
      expect(Date.now() - deleted).toBeLessThan(5_000);
    } finally {
      partition.close();
      topic.close();
    }
  }, 60_000);

  it('serves a re-created name and unrelated new topics within a few sync intervals, both routes agreeing', async () => {
    const name = `sync-re-${randomUUID()}`;
    const other = `sync-other-${randomUUID()}`;
    expect((await call(nodes.a, 'POST', '/v1/topics', { name, partitions: 1 })).status).toBe(201);
    await eventually('node B to adopt the topic', async () => (await produceB(name)).status === 200);

    expect((await call(nodes.a, 'DELETE', `/v1/topics/${name}`)).status).toBe(204);
    const again = await call(nodes.a, 'POST', '/v1/topics', { name, partitions: 1 });
    expect(again.status).toBe(201);
    expect((await call(nodes.a, 'POST', '/v1/topics', { name: other, partitions: 1 })).status).toBe(201);
    const started = Date.now();

    // Produce on B to both until each is served; no request may hang on the old Kafka topic.
    let slowest = 0;
    const servedAt = new Map<string, number>();
    await eventually(
      'node B to serve the re-created topic and the new one',
      async () => {
        for (const t of [name, other]) {
          if (servedAt.has(t)) continue;
          const sent = Date.now();
          const r = await produceB(t);
          slowest = Math.max(slowest, Date.now() - sent);
          if (r.status === 200) servedAt.set(t, Date.now() - started);
        }
        return servedAt.size === 2;
      },
      20_000,
    );
    expect(slowest).toBeLessThan(2_000);
    expect(servedAt.get(name)).toBeLessThan(3_000);
    expect(servedAt.get(other)).toBeLessThan(3_000);
    // Once served, the data path and GET /v1/topics/{topic} show the same (new) topic.
    const got = await call(nodes.b, 'GET', `/v1/topics/${name}`);
    expect(got.status).toBe(200);
    expect(got.body!['id']).toBe(again.body!['id']);
    const read = await call(nodes.b, 'GET', `/v1/topics/${name}/partitions/0/records?offset=0`);
    expect(read.status).toBe(200);
    expect((read.body!['records'] as unknown[]).length).toBe(1);
  }, 60_000);
});
