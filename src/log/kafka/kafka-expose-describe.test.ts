// Exposing a Kafka topic asks the cluster whether it exists. Kafka tells its brokers about a new
// topic asynchronously, so the broker asked may not know one created a moment ago.
import { describe, expect, it } from 'vitest';
import type { KafkaDriver, TopicLayout } from './kafka-driver.js';
import { createKafkaLogStore } from './kafka-log-store.js';

/** A driver that knows `topic` only from its `knownAfter`-th metadata request on. */
function lateDriver(topic: string, knownAfter: number) {
  const asked = { metadata: 0 };
  const base: Partial<KafkaDriver> = {
    listTopics: async () => [],
    metadata: async (topics) => {
      const out = new Map<string, TopicLayout>();
      if (topics.includes(topic) && ++asked.metadata >= knownAfter) out.set(topic, { id: 'id', leaders: [1, 2, 3] });
      return out;
    },
    describeTopicConfig: async () => ({ 'retention.ms': '3600000', 'cleanup.policy': 'delete' }),
    close: async () => {},
  };
  const driver = new Proxy(base, {
    get: (t, k) => t[k as keyof KafkaDriver] ?? (() => Promise.reject(new Error(`not in this test: ${String(k)}`))),
  }) as KafkaDriver;
  return { driver, asked };
}

describe('describing a Kafka topic to expose', () => {
  it('finds a topic the first broker asked did not know yet', async () => {
    const { driver, asked } = lateDriver('payments.v1', 3);
    const store = createKafkaLogStore({ connection: { brokers: ['127.0.0.1:1'], clientId: 't' }, driver });
    await store.open();
    try {
      // Before: the first "unknown" was answered as missing (404 on POST /v1/topics).
      const found = await store.external!.describe('payments.v1');
      expect(found).toMatchObject({ partitions: 3 });
      expect(asked.metadata).toBe(3);
    } finally {
      await store.close();
    }
  });

  it('answers missing for a topic that stays unknown, after asking again for a bounded while', async () => {
    const { driver, asked } = lateDriver('no-such-topic', Infinity);
    const store = createKafkaLogStore({ connection: { brokers: ['127.0.0.1:1'], clientId: 't' }, driver });
    await store.open();
    try {
      const started = Date.now();
      expect(await store.external!.describe('no-such-topic')).toBe('missing');
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(1_900);
      expect(took).toBeLessThan(5_000);
      // Asked again every 250 ms: neither once nor in a busy loop.
      expect(asked.metadata).toBeGreaterThanOrEqual(5);
      expect(asked.metadata).toBeLessThanOrEqual(10);
    } finally {
      await store.close();
    }
  });
});
