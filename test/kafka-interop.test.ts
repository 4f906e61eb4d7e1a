// Interop on the Kafka store: records produced over HTTP are read by a native Kafka client, and
// records a native producer writes are read over HTTP and SSE — keys, headers, values, timestamps
// byte for byte, keyed records in the partition Kafka's Java partitioner picks.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaClientSupported } from '../src/log/kafka/kafka-driver.js';
import { listen, until } from './sse-support.js';
import { startIsolatedServer, usingKafka, type TestServer } from './support/server.js';

/* The native client, loaded at run time: an optional dependency (Node ≥ 22.22 only). */
interface NativeMessage {
  key: Buffer | undefined;
  value: Buffer | undefined;
  headers: Map<Buffer, Buffer>;
  topic: string;
  partition: number;
  offset: bigint;
  timestamp: bigint;
}
interface NativeModule {
  Producer: new (o: object) => {
    send(o: object): Promise<{ offsets?: Array<{ partition: number; offset: bigint }> }>;
    close(): Promise<void>;
  };
  Consumer: new (o: object) => {
    consume(o: object): Promise<AsyncIterable<NativeMessage> & { close(): Promise<void> }>;
    close(force?: boolean): Promise<void>;
  };
  compatibilityPartitioner: unknown;
}

const enabled = usingKafka() && kafkaClientSupported();
const brokers = (process.env['SLUICE_TEST_KAFKA_BROKERS'] ?? '').split(',');

describe.skipIf(!enabled)('Kafka interop (SLUICE_TEST_KAFKA_BROKERS)', () => {
  let server: TestServer;
  let native: NativeModule;
  beforeAll(async () => {
    server = await startIsolatedServer();
    const name = '@platformatic/kafka';
    native = (await import(name)) as NativeModule;
  });
  afterAll(async () => {
    await server?.stop();
  });

  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as T;
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  /** The Kafka topic behind a Sluice topic. */
  const kafkaTopicOf = async (name: string) => {
    const t = await api<{ id: string }>('GET', `/v1/topics/${name}`);
    return `${server.config.kafka.topicPrefix}${t.id}`;
  };

  it('records produced over HTTP are read by a native Kafka consumer byte for byte', async () => {
    const name = `interop-${randomUUID()}`;
    await api('POST', '/v1/topics', { name, partitions: 3, config: { value_format: 'binary' } });
    const records = Array.from({ length: 12 }, (_, i) => ({
      key: `key-${i % 5}-ü`,
      value: randomBytes(1 + i * 7).toString('base64'),
      headers: { trace: `t-${i}`, 'x-bin': '\u0000\u00ff' },
      timestamp: 1_700_000_000_000 + i * 1000,
    }));
    const { offsets } = await api<{ offsets: Array<{ partition: number; offset: number }> }>(
      'POST',
      `/v1/topics/${name}/records`,
      { records },
    );
    const topic = await kafkaTopicOf(name);

    const consumer = new native.Consumer({
      clientId: 'interop',
      groupId: `interop-${randomUUID()}`,
      bootstrapBrokers: brokers,
    });
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    const got: NativeMessage[] = [];
    for await (const m of stream) {
      got.push(m);
      if (got.length === records.length) break;
    }
    await stream.close();
    await consumer.close(true);

    const byPosition = new Map(got.map((m) => [`${m.partition}:${m.offset}`, m]));
    records.forEach((r, i) => {
      const at = offsets[i]!;
      const m = byPosition.get(`${at.partition}:${at.offset}`);
      expect(m, `record ${i} at ${at.partition}:${at.offset}`).toBeDefined();
      expect(m!.key?.toString('hex')).toBe(Buffer.from(r.key).toString('hex'));
      expect(m!.value?.toString('hex')).toBe(Buffer.from(r.value, 'base64').toString('hex'));
      expect(Number(m!.timestamp)).toBe(r.timestamp);
      expect([...m!.headers].map(([k, v]) => [k.toString(), v.toString('hex')])).toEqual(
        Object.entries(r.headers).map(([k, v]) => [k, Buffer.from(v).toString('hex')]),
      );
    });
  });

  it('records a native producer writes are read over HTTP and SSE byte for byte, in the partition Sluice picks for the key', async () => {
    const name = `interop-${randomUUID()}`;
    // 3 partitions: Java's mask (& 0x7fffffff) and an unsigned shift differ by 2^31, which only a
    // partition count that is not a power of two tells apart.
    await api('POST', '/v1/topics', { name, partitions: 3, config: { value_format: 'binary' } });
    const topic = await kafkaTopicOf(name);
    const sse = listen(`${server.url}/v1/topics/${name}/events?from=earliest`);
    try {
      const producer = new native.Producer({
        clientId: 'interop-native',
        bootstrapBrokers: brokers,
        partitioner: native.compatibilityPartitioner,
      });
      const sent = Array.from({ length: 10 }, (_, i) => ({
        key: Buffer.from(`native-key-${i}`),
        value: randomBytes(3 + i),
        headers: new Map([[Buffer.from('origin'), Buffer.from(`native-${i}`)]]),
        timestamp: BigInt(1_700_000_100_000 + i),
      }));
      const result = await producer.send({ messages: sent.map((m) => ({ ...m, topic })), acks: -1 });
      await producer.close();
      expect(result.offsets?.length).toBeGreaterThan(0);

      // Sluice routes the same keys to the same partitions (murmur2, Java's mask).
      const http = await api<{ offsets: Array<{ partition: number }> }>('POST', `/v1/topics/${name}/records`, {
        records: sent.map((m) => ({ key: m.key.toString(), value: Buffer.from('x').toString('base64') })),
      });

      // Over HTTP: every partition, from 0, the native records first.
      type HttpRecord = {
        partition: number;
        key: string | null;
        value: string;
        headers: Record<string, string>;
        timestamp: number;
      };
      const read: HttpRecord[] = [];
      for (let p = 0; p < 3; p++) {
        const r = await api<{ records: HttpRecord[] }>(
          'GET',
          `/v1/topics/${name}/partitions/${p}/records?offset=0&max_records=100`,
        );
        read.push(...r.records);
      }
      sent.forEach((m, i) => {
        const hit = read.find((r) => r.key === m.key.toString() && r.headers['origin'] === `native-${i}`);
        expect(hit, `native record ${i} over HTTP`).toBeDefined();
        expect(Buffer.from(hit!.value, 'base64').toString('hex')).toBe(m.value.toString('hex'));
        expect(hit!.timestamp).toBe(Number(m.timestamp));
        expect(http.offsets[i]!.partition).toBe(hit!.partition);
      });

      // Over SSE: the same records arrive on a stream opened before they were produced.
      await until(() => sse.records().length >= 20, 'native and HTTP records over SSE', 20_000);
      const streamed = sse.records().filter((r) => r.headers['origin']?.startsWith('native-'));
      expect(streamed.map((r) => [r.key, r.value])).toEqual(
        expect.arrayContaining(sent.map((m) => [m.key.toString(), m.value.toString('base64')])),
      );
    } finally {
      sse.close();
    }
  });
});
