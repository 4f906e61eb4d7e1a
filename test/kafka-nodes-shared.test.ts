// Queues and consumer groups spread over two Sluice nodes on one Kafka cluster and one Postgres:
// receivers and members on both nodes share the work, nothing is handed out twice while its
// lease or assignment holds, and a lease or a position taken on one node is settled on the other.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { call, eventually, twoNodes, twoNodesPossible } from './support/kafka-nodes.js';
import type { TestServer } from './support/server.js';

const RECORDS = 240;

describe.skipIf(!twoNodesPossible())('queues and groups spread over two Sluice nodes', () => {
  const nodes = twoNodes({ SLUICE_KAFKA_TOPIC_SYNC_MS: '100', SLUICE_LONG_POLL_MAX_MS: '5000' });

  /** A 4-partition topic made on A, adopted by B, holding RECORDS numbered values produced on both. */
  const loadedTopic = async (): Promise<string> => {
    const name = `shared-${randomUUID()}`;
    expect((await call(nodes.a, 'POST', '/v1/topics', { name, partitions: 4 })).status).toBe(201);
    await eventually(
      'node B to adopt the topic',
      async () => (await call(nodes.b, 'GET', `/v1/topics/${name}/partitions/0/records?offset=0`)).status === 200,
    );
    for (let i = 0; i < RECORDS; i += 40) {
      const node = (i / 40) % 2 === 0 ? nodes.a : nodes.b;
      const records = Array.from({ length: 40 }, (_, j) => ({ key: `k${(i + j) % 17}`, value: i + j }));
      expect((await call(node, 'POST', `/v1/topics/${name}/records`, { records })).status).toBe(200);
    }
    return name;
  };

  it('receivers on both nodes share a queue: every record accepted once, leases settle across nodes', async () => {
    const topic = await loadedTopic();
    const q = `/v1/topics/${topic}/queues/work`;
    expect((await call(nodes.a, 'PUT', q, { start: 'earliest', lock_ms: 60_000 })).status).toBe(201);

    const accepted: number[] = [];
    const receivedOn = { a: 0, b: 0 };
    // Two receivers on each node; each accepts what it gets on the *other* node.
    const receiver = async (node: TestServer, other: TestServer, label: 'a' | 'b') => {
      let idle = 0;
      while (idle < 3 && accepted.length < RECORDS) {
        const got = await call(node, 'POST', `${q}/receive?max_records=15&wait_ms=500`);
        expect(got.status).toBe(200);
        const records = got.body!['records'] as Array<{ value: number; lease: string }>;
        if (records.length === 0) {
          idle++;
          continue;
        }
        idle = 0;
        receivedOn[label] += records.length;
        const acked = await call(other, 'POST', `${q}/ack`, {
          acks: records.map((r) => ({ lease: r.lease, action: 'accept' })),
        });
        expect(acked.status).toBe(200);
        const results = acked.body!['results'] as Array<{ status: string }>;
        expect(results.every((r) => r.status === 'ok')).toBe(true);
        accepted.push(...records.map((r) => r.value));
      }
    };
    await Promise.all([
      receiver(nodes.a, nodes.b, 'a'),
      receiver(nodes.a, nodes.b, 'a'),
      receiver(nodes.b, nodes.a, 'b'),
      receiver(nodes.b, nodes.a, 'b'),
    ]);

    expect(accepted.length).toBe(RECORDS); // none handed out twice
    expect(new Set(accepted).size).toBe(RECORDS);
    expect(receivedOn.a).toBeGreaterThan(0);
    expect(receivedOn.b).toBeGreaterThan(0);
    for (const node of [nodes.a, nodes.b]) {
      const stats = await call(node, 'GET', q);
      expect(stats.body).toMatchObject({ available: 0, in_flight: 0, accepted: RECORDS });
    }
  });

  it('a group with a member on each node: partitions split between them, every record once, commits seen by both', async () => {
    const topic = await loadedTopic();
    const group = `shared-g-${randomUUID()}`;
    const join = async (node: TestServer) => {
      const joined = await call(node, 'POST', `/v1/groups/${group}/members`, {
        topics: [topic],
        auto_offset_reset: 'earliest',
        auto_commit: true,
        session_timeout_ms: 30_000,
      });
      expect(joined.status).toBe(201);
      return joined.body!['member_id'] as string;
    };
    const members = [
      { node: nodes.a, id: await join(nodes.a) },
      { node: nodes.b, id: await join(nodes.b) },
    ];
    const consumed: number[] = [];
    const partitionsOf = new Map<string, Set<number>>();
    const consume = async (m: { node: TestServer; id: string }) => {
      let idle = 0;
      let cursor: string | undefined;
      // Each fetch names the previous answer's cursor, which commits it (auto_commit).
      while (idle < 3) {
        const fetched = await call(
          m.node,
          'GET',
          `/v1/groups/${group}/members/${m.id}/records?wait_ms=500&max_records=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        expect(fetched.status).toBe(200);
        const records = fetched.body!['records'] as Array<{ value: number; partition: number }>;
        cursor = fetched.body!['cursor'] as string;
        if (records.length === 0) {
          idle++;
          continue;
        }
        idle = 0;
        for (const r of records) {
          consumed.push(r.value);
          let set = partitionsOf.get(m.id);
          if (!set) partitionsOf.set(m.id, (set = new Set()));
          set.add(r.partition);
        }
      }
    };
    await Promise.all(members.map(consume));

    expect(new Set(consumed).size).toBe(RECORDS);
    expect(consumed.length).toBe(RECORDS);
    // Each member read its own partitions, never the other's.
    const [pa, pb] = members.map((m) => partitionsOf.get(m.id) ?? new Set<number>());
    expect(pa!.size).toBeGreaterThan(0);
    expect(pb!.size).toBeGreaterThan(0);
    expect([...pa!].filter((p) => pb!.has(p))).toEqual([]);
    // What either member committed, both nodes show.
    for (const node of [nodes.a, nodes.b]) {
      expect((await call(node, 'GET', `/v1/groups/${group}`)).body).toMatchObject({ total_lag: 0 });
    }
  });
});
