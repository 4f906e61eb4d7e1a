// Idempotent produce across two Sluice nodes on one Kafka cluster and one Postgres: a retry
// sent to the other node (after a lost answer, concurrently, after a restart) appends nothing twice.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { call, eventually, twoNodes, twoNodesPossible } from './support/kafka-nodes.js';
import { startTestServer, type TestServer } from './support/server.js';

const SYNC_MS = '100';

describe.skipIf(!twoNodesPossible())('idempotent produce across two Sluice nodes on one Kafka cluster', () => {
  const nodes = twoNodes({ SLUICE_KAFKA_TOPIC_SYNC_MS: SYNC_MS });

  const produce = (node: TestServer, topic: string, records: unknown[], headers: Record<string, string>) =>
    call(node, 'POST', `/v1/topics/${topic}/records`, { records }, headers);
  /**
   * A topic made on A and served by B, where both nodes already produced with an Idempotency-Key
   * (so each holds idempotency state for it, as a busy node does) and one record is in the log.
   */
  const topicOnBoth = async (partitions: number): Promise<string> => {
    const name = `idem-${randomUUID()}`;
    const made = await call(nodes.a, 'POST', '/v1/topics', { name, partitions, config: { value_format: 'string' } });
    expect(made.status).toBe(201);
    await eventually(
      'node B to adopt the topic',
      async () => (await call(nodes.b, 'GET', `/v1/topics/${name}/partitions/0/records?offset=0`)).status === 200,
      30_000,
    );
    for (const node of [nodes.a, nodes.b]) {
      const warm = await produce(node, name, [{ value: 'warm-up', partition: 0 }], {
        'idempotency-key': randomUUID(),
      });
      expect(warm.status).toBe(200);
    }
    return name;
  };
  /** Every value in the topic, read on `node` (all partitions). */
  const values = async (node: TestServer, topic: string, partitions: number): Promise<string[]> => {
    const out: string[] = [];
    for (let p = 0; p < partitions; p++) {
      let offset = 0;
      for (;;) {
        const r = await call(
          node,
          'GET',
          `/v1/topics/${topic}/partitions/${p}/records?offset=${offset}&max_records=1000`,
        );
        expect(r.status).toBe(200);
        const records = r.body!['records'] as Array<{ value: string }>;
        out.push(...records.map((x) => x.value));
        if (records.length === 0) break;
        offset = r.body!['next_offset'] as number;
      }
    }
    return out.filter((v) => v !== 'warm-up').sort();
  };

  it('a retry of an Idempotency-Key sent to the other node answers the first offsets and appends nothing', async () => {
    const topic = await topicOnBoth(3);
    const key = randomUUID();
    const records = [{ value: 'k-1', key: 'x' }, { value: 'k-2' }, { value: 'k-3', key: 'y' }];
    const first = await produce(nodes.a, topic, records, { 'idempotency-key': key });
    expect(first.status).toBe(200);
    // The same request on one node: the retry's answer there.
    const again = await produce(nodes.a, topic, records, { 'idempotency-key': key });
    expect(again).toEqual(first);
    const onB = await produce(nodes.b, topic, records, { 'idempotency-key': key });
    expect(onB).toEqual(first);
    expect(await values(nodes.b, topic, 3)).toEqual(['k-1', 'k-2', 'k-3']);
    // The same key with another body is refused on B too.
    const other = await produce(nodes.b, topic, [{ value: 'other' }], { 'idempotency-key': key });
    expect(other.status).toBe(422);
    expect(await values(nodes.a, topic, 3)).toEqual(['k-1', 'k-2', 'k-3']);
  }, 120_000);

  it('the same keys sent to both nodes at once are appended exactly once each', async () => {
    const topic = await topicOnBoth(2);
    const keys = Array.from({ length: 50 }, () => randomUUID());
    const answers = await Promise.all(
      keys.flatMap((key, i) => {
        const records = [{ value: `c-${i}` }];
        return [nodes.a, nodes.b].map((node) => produce(node, topic, records, { 'idempotency-key': key }));
      }),
    );
    for (let i = 0; i < keys.length; i++) {
      const [x, y] = [answers[2 * i]!, answers[2 * i + 1]!];
      expect(x.status).toBe(200);
      expect(y).toEqual(x);
    }
    expect(await values(nodes.a, topic, 2)).toEqual(keys.map((_, i) => `c-${i}`).sort());
  }, 180_000);

  it('Producer-Id/Epoch/Seq hold across nodes: duplicate, next, gap and a stale epoch', async () => {
    const topic = await topicOnBoth(1);
    const pid = String(Math.floor(Math.random() * 1e12));
    const h = (epoch: number, seq: number) => ({
      'producer-id': pid,
      'producer-epoch': String(epoch),
      'producer-seq': String(seq),
    });
    const s0 = await produce(nodes.a, topic, [{ value: 'p-0' }], h(0, 0));
    expect(s0.status).toBe(200);
    // The retry of seq 0 on B: the first answer, nothing appended.
    expect(await produce(nodes.b, topic, [{ value: 'p-0' }], h(0, 0))).toEqual(s0);
    // seq 1 on B is the next one.
    const s1 = await produce(nodes.b, topic, [{ value: 'p-1' }], h(0, 1));
    expect(s1.status).toBe(200);
    // A gap on A (it has not seen seq 1 itself): 409 expecting 2.
    const gap = await produce(nodes.a, topic, [{ value: 'p-3' }], h(0, 3));
    expect(gap.status).toBe(409);
    expect((gap.body!['error'] as Record<string, unknown>)['expected_seq']).toBe(2);
    // A new epoch on A fences the old one on B.
    const e1 = await produce(nodes.a, topic, [{ value: 'p-e1' }], h(1, 0));
    expect(e1.status).toBe(200);
    const stale = await produce(nodes.b, topic, [{ value: 'p-2' }], h(0, 2));
    expect(stale.status).toBe(409);
    expect((stale.body!['error'] as Record<string, unknown>)['code']).toBe('fenced');
    expect(await values(nodes.a, topic, 1)).toEqual(['p-0', 'p-1', 'p-e1']);
  }, 120_000);

  it('a lost answer: A appended, the client retries on B, and after A restarts it still holds', async () => {
    const topic = await topicOnBoth(2);
    const key = randomUUID();
    const records = [
      { value: 'lost-1', key: 'a' },
      { value: 'lost-2', key: 'b' },
    ];
    // A appends; its answer never reaches the client (taken in-process and dropped).
    const dropped = await nodes.a.services.produce.produce({
      topic,
      format: 'json',
      body: Buffer.from(JSON.stringify({ records })),
      idempotencyKey: key,
    });
    expect(dropped.ok).toBe(true);
    const retried = await produce(nodes.b, topic, records, { 'idempotency-key': key });
    expect(retried.status).toBe(200);
    expect(retried.body).toEqual({ offsets: dropped.ok ? dropped.value.offsets : undefined });
    expect(await values(nodes.b, topic, 2)).toEqual(['lost-1', 'lost-2']);

    // A restarts: its state is rebuilt from the log, and a retry on either node still appends nothing.
    await nodes.a.stop();
    nodes.a = await startTestServer(nodes.env);
    expect(await produce(nodes.a, topic, records, { 'idempotency-key': key })).toEqual(retried);
    expect(await produce(nodes.b, topic, records, { 'idempotency-key': key })).toEqual(retried);
    expect(await values(nodes.a, topic, 2)).toEqual(['lost-1', 'lost-2']);
  }, 120_000);
});
