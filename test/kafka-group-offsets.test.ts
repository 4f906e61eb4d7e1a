// Group offsets on the Kafka store are copied to Kafka consumer groups `<prefix><group>`, so Kafka
// tooling sees them: read back here with the native admin client's ListConsumerGroupOffsets, as
// `kafka-consumer-groups.sh --describe` does.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaClientSupported } from '../src/log/kafka/kafka-driver.js';
import { startIsolatedServer, usingKafka, type TestServer } from './support/server.js';

interface NativeAdmin {
  listConsumerGroupOffsets(o: { groups: string[] }): Promise<
    Array<{
      groupId: string;
      topics: Array<{ name: string; partitions: Array<{ partitionIndex: number; committedOffset: bigint }> }>;
    }>
  >;
  close(): Promise<void>;
}
interface NativeModule {
  Admin: new (o: object) => NativeAdmin;
}

const enabled = usingKafka() && kafkaClientSupported();
const brokers = (process.env['SLUICE_TEST_KAFKA_BROKERS'] ?? '').split(',');

describe.skipIf(!enabled)('group offsets mirrored to Kafka (SLUICE_TEST_KAFKA_BROKERS)', () => {
  let server: TestServer;
  let admin: NativeAdmin;
  beforeAll(async () => {
    server = await startIsolatedServer({ SLUICE_KAFKA_GROUP_OFFSETS_MS: '200' });
    const name = '@platformatic/kafka';
    const native = (await import(name)) as NativeModule;
    admin = new native.Admin({ clientId: 'offsets-test', bootstrapBrokers: brokers });
  });
  afterAll(async () => {
    await admin?.close();
    await server?.stop();
  });

  const api = async <T>(method: string, path: string, body?: unknown, status = 200): Promise<T> => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (res.status !== status) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  };

  /** The group's committed offsets as Kafka reports them: partition → offset, for `topic`. */
  const kafkaOffsets = async (group: string, topic: string): Promise<Map<number, number>> => {
    const [g] = await admin.listConsumerGroupOffsets({ groups: [group] });
    const t = g?.topics.find((x) => x.name === topic);
    return new Map((t?.partitions ?? []).map((p) => [p.partitionIndex, Number(p.committedOffset)]));
  };

  const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('commits over HTTP reach the Kafka group <prefix><group> within the interval, and follow later commits', async () => {
    const topic = `t-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    const created = await api<{ id: string }>('POST', '/v1/topics', { name: topic, partitions: 2 }, 201);
    const kafkaTopic = `${server.config.kafka.topicPrefix}${created.id}`;
    const kafkaGroup = `${server.config.kafka.topicPrefix}${group}`;
    await api('POST', `/v1/topics/${topic}/records`, {
      records: [...Array(6).keys()].map((i) => ({ value: i, partition: i % 2 })),
    });
    const m = await api<{ member_id: string; generation: number }>(
      'POST',
      `/v1/groups/${group}/members`,
      { topics: [topic], auto_offset_reset: 'earliest' },
      201,
    );
    const commit = (offsets: Array<{ partition: number; offset: number }>) =>
      api(
        'POST',
        `/v1/groups/${group}/offsets`,
        { member_id: m.member_id, generation: m.generation, offsets: offsets.map((o) => ({ topic, ...o })) },
        204,
      );
    await commit([
      { partition: 0, offset: 2 },
      { partition: 1, offset: 1 },
    ]);
    await until('the first commit in Kafka', async () => {
      const got = await kafkaOffsets(kafkaGroup, kafkaTopic);
      return got.get(0) === 2 && got.get(1) === 1;
    });
    await commit([{ partition: 0, offset: 3 }]);
    await until('the second commit in Kafka', async () => (await kafkaOffsets(kafkaGroup, kafkaTopic)).get(0) === 3);
    expect((await kafkaOffsets(kafkaGroup, kafkaTopic)).get(1)).toBe(1);
    await api('DELETE', `/v1/groups/${group}/members/${m.member_id}`, undefined, 204);
  });

  it('a topic deleted and created again under its name: its new Kafka topic gets only the new commits', async () => {
    const topic = `t-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    const kafkaGroup = `${server.config.kafka.topicPrefix}${group}`;
    const make = async () => {
      const created = await api<{ id: string }>('POST', '/v1/topics', { name: topic, partitions: 1 }, 201);
      await api('POST', `/v1/topics/${topic}/records`, { records: [...Array(6).keys()].map((i) => ({ value: i })) });
      return `${server.config.kafka.topicPrefix}${created.id}`;
    };
    // Commits without members (admin commits), as a tool resetting a group would send.
    const commit = (offset: number) =>
      api('POST', `/v1/groups/${group}/offsets`, { offsets: [{ topic, partition: 0, offset }] }, 204);
    const first = await make();
    await commit(5);
    await until('the first topic’s commit in Kafka', async () => (await kafkaOffsets(kafkaGroup, first)).get(0) === 5);

    await api('DELETE', `/v1/topics/${topic}`, undefined, 204);
    const second = await make();
    await commit(2);
    const seen: Array<number | undefined> = [];
    await until('the new topic’s commit in Kafka', async () => {
      seen.push((await kafkaOffsets(kafkaGroup, second)).get(0));
      return seen.at(-1) === 2;
    });
    expect(seen.filter((o) => o !== undefined && o !== 2)).toEqual([]);
  });
});
