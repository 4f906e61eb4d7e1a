// Exposing an existing Kafka topic under a Sluice name (POST /v1/topics with kafka_topic): on the
// Kafka store its native records are served over HTTP and SSE and deleting the Sluice topic leaves
// the Kafka topic alone; on the file store the field is refused.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaClientSupported } from '../src/log/kafka/kafka-driver.js';
import { listen, until } from './sse-support.js';
import { createTestEnv, startIsolatedServer, startTestServer, usingKafka, type TestServer } from './support/server.js';
import { eventually } from './support/kafka-nodes.js';

/* The native client, loaded at run time: an optional dependency (Node ≥ 22.22 only). */
interface NativeMessage {
  key: Buffer | undefined;
  value: Buffer | undefined;
  headers: Map<Buffer, Buffer>;
  partition: number;
  offset: bigint;
  timestamp: bigint;
}
interface NativeModule {
  Admin: new (o: object) => {
    createTopics(o: object): Promise<unknown>;
    deleteTopics(o: { topics: string[] }): Promise<void>;
    listTopics(o?: object): Promise<string[]>;
    metadata(o: { topics: string[]; forceUpdate?: boolean }): Promise<{
      topics: Map<string, { partitions: unknown[] }>;
    }>;
    describeConfigs(o: object): Promise<Array<{ configs: Array<{ name: string; value: string | null }> }>>;
    close(): Promise<void>;
  };
  Producer: new (o: object) => {
    send(o: object): Promise<{ offsets?: Array<{ partition: number; offset: bigint }> }>;
    beginTransaction(): Promise<{ send(o: object): Promise<unknown>; commit(): Promise<void> }>;
    close(): Promise<void>;
  };
  Consumer: new (o: object) => {
    consume(o: object): Promise<AsyncIterable<NativeMessage> & { close(): Promise<void> }>;
    close(force?: boolean): Promise<void>;
  };
}

interface HttpRecord {
  partition: number;
  offset: number;
  key: string | null;
  value: string;
  headers: Record<string, string>;
  timestamp: number;
}
interface TopicJson {
  name: string;
  partition_count: number;
  kafka_topic?: string;
  config: Record<string, unknown>;
  partitions: Array<{ partition: number; start_offset: number; end_offset: number }>;
}

const brokers = (process.env['SLUICE_TEST_KAFKA_BROKERS'] ?? '').split(',');

async function call(server: TestServer, method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> };
}

describe.skipIf(!(usingKafka() && kafkaClientSupported()))('exposing an existing Kafka topic (Kafka store)', () => {
  let server: TestServer;
  let native: NativeModule;
  let admin: InstanceType<NativeModule['Admin']>;
  beforeAll(async () => {
    server = await startIsolatedServer();
    const name = '@platformatic/kafka';
    native = (await import(name)) as NativeModule;
    admin = new native.Admin({ clientId: 'expose-test', bootstrapBrokers: brokers });
  });
  afterAll(async () => {
    await admin?.close();
    await server?.stop();
  });

  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const r = await call(server, method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as T;
  };

  /** A Kafka topic made with Kafka's own admin API, as a Kafka shop already has. */
  const nativeTopic = async (partitions: number, configs: Record<string, string> = {}) => {
    const topic = `native-${randomUUID()}`;
    await admin.createTopics({
      topics: [topic],
      partitions,
      replicas: -1,
      configs: Object.entries(configs).map(([name, value]) => ({ name, value })),
    });
    return topic;
  };
  const nativeProduce = async (topic: string, messages: object[]) => {
    const producer = new native.Producer({ clientId: 'expose-native', bootstrapBrokers: brokers, idempotent: true });
    try {
      return await producer.send({ messages: messages.map((m) => ({ ...m, topic })), acks: -1 });
    } finally {
      await producer.close();
    }
  };
  const nativeConsume = async (topic: string, count: number): Promise<NativeMessage[]> => {
    const consumer = new native.Consumer({
      clientId: 'expose-native',
      groupId: `expose-${randomUUID()}`,
      bootstrapBrokers: brokers,
    });
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    const got: NativeMessage[] = [];
    try {
      for await (const m of stream) {
        got.push(m);
        if (got.length === count) break;
      }
    } finally {
      await stream.close();
      await consumer.close(true);
    }
    return got;
  };
  const readAll = async (name: string, partitions: number): Promise<HttpRecord[]> => {
    const out: HttpRecord[] = [];
    for (let p = 0; p < partitions; p++) {
      const r = await api<{ records: HttpRecord[] }>(
        'GET',
        `/v1/topics/${name}/partitions/${p}/records?offset=0&max_records=1000`,
      );
      out.push(...r.records);
    }
    return out;
  };
  const message = (tag: string, i: number) => ({
    key: Buffer.from(`${tag}-key-${i}-ü`),
    value: randomBytes(1 + i * 5),
    headers: new Map([
      [Buffer.from('origin'), Buffer.from(`${tag}-${i}`)],
      [Buffer.from('trace'), Buffer.from(`t-${i}`)],
    ]),
    timestamp: BigInt(1_700_000_200_000 + i * 1000),
  });
  /** Each native message is served over HTTP/SSE with its key, headers, value and timestamp. */
  const expectServed = (served: HttpRecord[], sent: Array<ReturnType<typeof message>>, tag: string) => {
    sent.forEach((m, i) => {
      const hit = served.find((r) => r.headers['origin'] === `${tag}-${i}`);
      expect(hit, `${tag} record ${i}`).toBeDefined();
      expect(hit!.key).toBe(m.key.toString());
      expect(Buffer.from(hit!.value, 'base64').toString('hex')).toBe(m.value.toString('hex'));
      expect(hit!.timestamp).toBe(Number(m.timestamp));
      expect(hit!.headers).toEqual(Object.fromEntries([...m.headers].map(([k, v]) => [k.toString(), v.toString()])));
    });
  };

  it('serves native records produced before and after over HTTP and SSE, and HTTP records to native consumers', async () => {
    const kafkaTopic = await nativeTopic(3, {
      'retention.ms': '3600000',
      'retention.bytes': '52428800',
      'segment.bytes': '2097152',
    });
    const before = Array.from({ length: 9 }, (_, i) => message('before', i));
    await nativeProduce(kafkaTopic, before);

    const name = `exposed-${randomUUID()}`;
    const created = await call(server, 'POST', '/v1/topics', { name, kafka_topic: kafkaTopic });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const topic = created.body as unknown as TopicJson;
    expect(topic.kafka_topic).toBe(kafkaTopic);
    expect(topic.partition_count).toBe(3);
    expect(topic.config).toMatchObject({
      retention_ms: 3_600_000,
      retention_bytes: 52_428_800,
      segment_bytes: 2_097_152,
      value_format: 'binary',
    });
    expect(topic.partitions.reduce((n, p) => n + p.end_offset - p.start_offset, 0)).toBe(before.length);
    expect((await api<TopicJson>('GET', `/v1/topics/${name}`)).kafka_topic).toBe(kafkaTopic);

    const sse = listen(`${server.url}/v1/topics/${name}/events?from=earliest`);
    try {
      const after = Array.from({ length: 6 }, (_, i) => message('after', i));
      await nativeProduce(kafkaTopic, after);

      const served = await readAll(name, 3);
      expect(served).toHaveLength(before.length + after.length);
      expectServed(served, before, 'before');
      expectServed(served, after, 'after');

      await until(() => sse.records().length >= before.length + after.length, 'native records over SSE', 30_000);
      const streamed = sse.records() as unknown as HttpRecord[];
      expectServed(streamed, before, 'before');
      expectServed(streamed, after, 'after');
    } finally {
      sse.close();
    }

    // Produced over HTTP: a native consumer of the Kafka topic reads them byte for byte.
    const records = Array.from({ length: 4 }, (_, i) => ({
      key: `http-key-${i}`,
      value: randomBytes(2 + i).toString('base64'),
      headers: { via: `http-${i}` },
      timestamp: 1_700_000_300_000 + i,
    }));
    const { offsets } = await api<{ offsets: Array<{ partition: number; offset: number }> }>(
      'POST',
      `/v1/topics/${name}/records`,
      { records },
    );
    const got = await nativeConsume(kafkaTopic, before.length + 6 + records.length);
    records.forEach((r, i) => {
      const at = offsets[i]!;
      const m = got.find((g) => g.partition === at.partition && Number(g.offset) === at.offset);
      expect(m, `HTTP record ${i} natively`).toBeDefined();
      expect(m!.key?.toString()).toBe(r.key);
      expect(m!.value?.toString('hex')).toBe(Buffer.from(r.value, 'base64').toString('hex'));
      expect(Number(m!.timestamp)).toBe(r.timestamp);
      expect([...m!.headers].map(([k, v]) => [k.toString(), v.toString()])).toEqual([['via', `http-${i}`]]);
    });
  });

  it('deleting the exposed topic leaves the Kafka topic and its data; exposing it again serves the same records', async () => {
    const kafkaTopic = await nativeTopic(2);
    const sent = Array.from({ length: 6 }, (_, i) => message('kept', i));
    await nativeProduce(kafkaTopic, sent);
    const first = `exposed-${randomUUID()}`;
    await api('POST', '/v1/topics', { name: first, kafka_topic: kafkaTopic, config: { value_format: 'binary' } });
    await api('POST', `/v1/topics/${first}/records`, { records: [{ key: 'k', value: 'AAE=' }] });

    expect((await call(server, 'DELETE', `/v1/topics/${first}`)).status).toBe(204);
    expect((await call(server, 'GET', `/v1/topics/${first}`)).status).toBe(404);

    // Still in Kafka (a deletion would drop it from metadata), with every record.
    const md = await admin.metadata({ topics: [kafkaTopic], forceUpdate: true });
    expect(md.topics.get(kafkaTopic)?.partitions).toHaveLength(2);
    expect(await admin.listTopics()).toContain(kafkaTopic);
    expect(await nativeConsume(kafkaTopic, sent.length + 1)).toHaveLength(sent.length + 1);

    const second = `exposed-${randomUUID()}`;
    await api('POST', '/v1/topics', { name: second, kafka_topic: kafkaTopic });
    const served = await readAll(second, 2);
    expect(served).toHaveLength(sent.length + 1);
    expectServed(served, sent, 'kept');
  });

  it('reads past the commit markers of a transactional producer, also one that ends the log (HTTP and SSE)', async () => {
    const kafkaTopic = await nativeTopic(1);
    const producer = new native.Producer({
      clientId: 'expose-tx',
      bootstrapBrokers: brokers,
      idempotent: true,
      transactionalId: `tx-${randomUUID()}`,
    });
    try {
      for (let t = 0; t < 2; t++) {
        const tx = await producer.beginTransaction();
        await tx.send({ messages: [0, 1].map((i) => ({ topic: kafkaTopic, value: Buffer.from(`tx${t}-${i}`) })) });
        await tx.commit();
      }
    } finally {
      await producer.close();
    }
    const name = `exposed-${randomUUID()}`;
    await api('POST', '/v1/topics', { name, kafka_topic: kafkaTopic, config: { value_format: 'string' } });
    // The log ends with a commit marker (offsets 0-1, marker 2, 3-4, marker 5): a read there
    // must still move on, or every reader at the end would ask for the marker forever.
    const atEnd = await api<{ records: HttpRecord[]; next_offset: number; end_offset: number }>(
      'GET',
      `/v1/topics/${name}/partitions/0/records?offset=0&max_records=100`,
    );
    expect(atEnd.records.map((x) => x.value)).toEqual(['tx0-0', 'tx0-1', 'tx1-0', 'tx1-1']);
    expect(atEnd.end_offset).toBe(6);
    expect(atEnd.next_offset).toBe(6);
    const marker = await api<{ records: HttpRecord[]; next_offset: number }>(
      'GET',
      `/v1/topics/${name}/partitions/0/records?offset=5`,
    );
    expect(marker).toMatchObject({ records: [], next_offset: 6 });

    await nativeProduce(kafkaTopic, [{ value: Buffer.from('plain') }]);
    const want = ['tx0-0', 'tx0-1', 'tx1-0', 'tx1-1', 'plain'];

    // Paged over HTTP, one record per page: each next_offset leads on, past every marker.
    const paged: string[] = [];
    let offset = 0;
    for (let i = 0; i < 20 && paged.length < want.length; i++) {
      const r = await api<{ records: HttpRecord[]; next_offset: number }>(
        'GET',
        `/v1/topics/${name}/partitions/0/records?offset=${offset}&max_records=1`,
      );
      paged.push(...r.records.map((x) => x.value));
      expect(r.next_offset, `page ${i} from ${offset}`).toBeGreaterThan(offset);
      offset = r.next_offset;
    }
    expect(paged).toEqual(want);

    const sse = listen(`${server.url}/v1/topics/${name}/partitions/0/events?from=earliest`);
    try {
      await until(() => sse.records().length >= want.length, 'transactional records over SSE', 30_000);
      expect(sse.records().map((r) => r.value)).toEqual(want);
      // Live past a marker too.
      const producer2 = new native.Producer({
        clientId: 'expose-tx',
        bootstrapBrokers: brokers,
        idempotent: true,
        transactionalId: `tx-${randomUUID()}`,
      });
      try {
        const tx = await producer2.beginTransaction();
        await tx.send({ messages: [{ topic: kafkaTopic, value: Buffer.from('live-tx') }] });
        await tx.commit();
      } finally {
        await producer2.close();
      }
      await nativeProduce(kafkaTopic, [{ value: Buffer.from('live-plain') }]);
      await until(() => sse.records().length >= want.length + 2, 'live records after a marker over SSE', 30_000);
      expect(sse.records().map((r) => r.value)).toEqual([...want, 'live-tx', 'live-plain']);
    } finally {
      sse.close();
    }
  });

  it('after a restart the exposed topic still reads and appends the same Kafka topic, and deleting it leaves that topic', async () => {
    const kafkaTopic = await nativeTopic(2);
    await nativeProduce(kafkaTopic, [{ value: Buffer.from('before'), partition: 1 }]);
    const env = await createTestEnv();
    let node = await startTestServer(env);
    try {
      const name = `exposed-${randomUUID()}`;
      expect((await call(node, 'POST', '/v1/topics', { name, kafka_topic: kafkaTopic })).status).toBe(201);
      await node.stop();
      node = await startTestServer(env);
      const got = await call(node, 'GET', `/v1/topics/${name}`);
      expect(got.body).toMatchObject({ kafka_topic: kafkaTopic, partition_count: 2 });
      const read = await call(node, 'GET', `/v1/topics/${name}/partitions/1/records?offset=0`);
      expect((read.body['records'] as HttpRecord[]).map((r) => Buffer.from(r.value, 'base64').toString())).toEqual([
        'before',
      ]);
      const produced = await call(node, 'POST', `/v1/topics/${name}/records`, {
        records: [{ value: Buffer.from('after').toString('base64'), partition: 1 }],
      });
      expect(produced.body).toEqual({ offsets: [{ partition: 1, offset: 1 }] });
      expect((await call(node, 'DELETE', `/v1/topics/${name}`)).status).toBe(204);
      const md = await admin.metadata({ topics: [kafkaTopic], forceUpdate: true });
      expect(md.topics.get(kafkaTopic)?.partitions).toHaveLength(2);
      expect((await nativeConsume(kafkaTopic, 2)).map((m) => m.value?.toString())).toEqual(['before', 'after']);
    } finally {
      await node.stop();
      await env.cleanup();
    }
  });

  it('a Kafka topic deleted in Kafka is not re-created: the server still starts, and the Sluice topic can be deleted', async () => {
    const kafkaTopic = await nativeTopic(1);
    const env = await createTestEnv();
    let node = await startTestServer(env);
    try {
      const name = `exposed-${randomUUID()}`;
      const kept = `plain-${randomUUID()}`;
      expect((await call(node, 'POST', '/v1/topics', { name, kafka_topic: kafkaTopic })).status).toBe(201);
      expect((await call(node, 'POST', '/v1/topics', { name: kept })).status).toBe(201);
      await node.stop();
      await admin.deleteTopics({ topics: [kafkaTopic] });
      const deadline = Date.now() + 30_000;
      while ((await admin.listTopics()).includes(kafkaTopic) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));

      node = await startTestServer(env);
      expect((await call(node, 'GET', `/v1/topics/${kept}/partitions/0/records?offset=0`)).status).toBe(200);
      expect((await call(node, 'GET', `/v1/topics/${name}/partitions/0/records?offset=0`)).status).toBe(404);
      expect((await call(node, 'DELETE', `/v1/topics/${name}`)).status).toBe(204);
      expect(await admin.listTopics()).not.toContain(kafkaTopic);
    } finally {
      await node.stop();
      await env.cleanup();
    }
  });

  it('a Kafka topic deleted and created again in Kafka: appends and reads of offsets Sluice handed out are refused (503), then the topic is out of service', async () => {
    const kafkaTopic = await nativeTopic(3);
    await nativeProduce(
      kafkaTopic,
      [0, 1, 2, 3].map((i) => ({ partition: 0, value: Buffer.from(`old-${i}`) })),
    );
    const name = `exposed-${randomUUID()}`;
    await api('POST', '/v1/topics', { name, kafka_topic: kafkaTopic });
    const readP0 = () => call(server, 'GET', `/v1/topics/${name}/partitions/0/records?offset=0`);
    expect(((await readP0()).body as { records: unknown[] }).records).toHaveLength(4);

    await admin.deleteTopics({ topics: [kafkaTopic] });
    const deadline = Date.now() + 30_000;
    while ((await admin.listTopics()).includes(kafkaTopic) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    await admin.createTopics({ topics: [kafkaTopic], partitions: 1, replicas: -1 });
    while (!(await admin.listTopics()).includes(kafkaTopic) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));

    // Offset 0 of partition 0 was handed out already: an append there is not acknowledged again.
    const appended = await call(server, 'POST', `/v1/topics/${name}/records`, {
      records: [{ value: 'AA==', partition: 0 }],
    });
    expect(appended.status).toBe(503);
    const started = Date.now();
    const read = await readP0();
    expect([503, 404]).toContain(read.status); // 404 once the topic sync took it out of service
    expect(Date.now() - started).toBeLessThan(5_000);
    await eventually('the topic out of service', async () => (await readP0()).status === 404, 10_000);
    expect((await call(server, 'DELETE', `/v1/topics/${name}`)).status).toBe(204);
  }, 60_000);

  it('growing an exposed topic grows the Kafka topic; a config change is written to it', async () => {
    const kafkaTopic = await nativeTopic(1, { 'retention.ms': '7200000' });
    const name = `exposed-${randomUUID()}`;
    await api('POST', '/v1/topics', { name, kafka_topic: kafkaTopic });
    const patched = await api<TopicJson>('PATCH', `/v1/topics/${name}`, {
      partitions: 3,
      config: { retention_ms: 1_800_000 },
    });
    expect(patched.partition_count).toBe(3);
    const md = await admin.metadata({ topics: [kafkaTopic], forceUpdate: true });
    expect(md.topics.get(kafkaTopic)?.partitions).toHaveLength(3);
    const retention = async () => {
      const [d] = await admin.describeConfigs({
        resources: [{ resourceType: 2, resourceName: kafkaTopic, configurationKeys: ['retention.ms'] }],
      });
      return d?.configs.find((c) => c.name === 'retention.ms')?.value;
    };
    const deadline = Date.now() + 30_000;
    while ((await retention()) !== '1800000' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await retention()).toBe('1800000');
    await api('POST', `/v1/topics/${name}/records`, { records: [{ value: 'AQ==', partition: 2 }] });
    expect((await readAll(name, 3)).map((r) => r.partition)).toEqual([2]);
  });

  it('refuses what cannot be exposed: a missing Kafka topic (404), one already exposed (409), a taken name (409), a Sluice-owned Kafka topic (409), Kafka-owned settings and a wrong partition count (400)', async () => {
    const missing = await call(server, 'POST', '/v1/topics', {
      name: `exposed-${randomUUID()}`,
      kafka_topic: `no-such-${randomUUID()}`,
    });
    expect(missing.status).toBe(404);
    expect((missing.body['error'] as { message: string }).message).toMatch(/Kafka topic .* does not exist/);

    const kafkaTopic = await nativeTopic(2);
    const name = `exposed-${randomUUID()}`;
    await api('POST', '/v1/topics', { name, kafka_topic: kafkaTopic });
    const twice = await call(server, 'POST', '/v1/topics', {
      name: `exposed-${randomUUID()}`,
      kafka_topic: kafkaTopic,
    });
    expect(twice.status).toBe(409);
    expect((twice.body['error'] as { message: string }).message).toContain(`already exposed as topic "${name}"`);

    const other = await nativeTopic(1);
    const clash = await call(server, 'POST', '/v1/topics', { name, kafka_topic: other });
    expect(clash.status).toBe(409);
    expect((clash.body['error'] as { code: string }).code).toBe('topic_exists');
    const plain = `plain-${randomUUID()}`;
    const plainTopic = await api<{ id: string }>('POST', '/v1/topics', { name: plain });
    const clashPlain = await call(server, 'POST', '/v1/topics', { name: plain, kafka_topic: other });
    expect(clashPlain.status).toBe(409);

    const own = await call(server, 'POST', '/v1/topics', {
      name: `exposed-${randomUUID()}`,
      kafka_topic: `${server.config.kafka.topicPrefix}${plainTopic.id}`,
    });
    expect(own.status).toBe(409);
    expect((own.body['error'] as { message: string }).message).toContain('SLUICE_KAFKA_TOPIC_PREFIX');

    const owned = await call(server, 'POST', '/v1/topics', {
      name: `exposed-${randomUUID()}`,
      kafka_topic: other,
      config: { retention_ms: 1000 },
    });
    expect(owned.status).toBe(400);
    expect((owned.body['error'] as { message: string }).message).toContain('retention_ms');
    const count = await call(server, 'POST', '/v1/topics', {
      name: `exposed-${randomUUID()}`,
      kafka_topic: other,
      partitions: 4,
    });
    expect(count.status).toBe(400);
    expect((count.body['error'] as { message: string }).message).toContain('has 1 partitions, not 4');
    // None of the refusals took the Kafka topic: it can still be exposed.
    expect(
      (await call(server, 'POST', '/v1/topics', { name: `exposed-${randomUUID()}`, kafka_topic: other })).status,
    ).toBe(201);
  });
});

describe.skipIf(usingKafka())('exposing a Kafka topic on the file store', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startIsolatedServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('is refused with 400 naming SLUICE_LOG_STORE=kafka, and creates nothing', async () => {
    const name = `exposed-${randomUUID()}`;
    const r = await call(server, 'POST', '/v1/topics', { name, kafka_topic: 'orders' });
    expect(r.status).toBe(400);
    expect((r.body['error'] as { message: string }).message).toContain('SLUICE_LOG_STORE=kafka');
    expect((await call(server, 'GET', `/v1/topics/${name}`)).status).toBe(404);
  });
});
