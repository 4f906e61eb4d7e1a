// A Kafka-store read that Kafka keeps failing (its topic deleted behind Sluice, no leader, brokers
// gone) ends, after its retries, as the log being unavailable: the HTTP layer answers 503, never
// the 500 of a fault in Sluice.
import { expect, it } from 'vitest';
import { LogUnavailableError } from '../log-unavailable.js';
import type { KafkaDriver, TopicLayout } from './kafka-driver.js';
import { createKafkaLogStore } from './kafka-log-store.js';

function failingFetches(): KafkaDriver {
  const topics = new Map<string, TopicLayout>();
  const unused = () => Promise.reject(new Error('not in this test'));
  return {
    metadata: async (names) => new Map(names.flatMap((n) => (topics.has(n) ? [[n, topics.get(n)!]] : []))),
    listTopics: async () => [...topics.keys()],
    createTopic: async (name) => void topics.set(name, { id: 'kafka-topic-id', leaders: [0] }),
    growTopic: unused,
    deleteTopic: unused,
    alterTopicConfig: async () => {},
    describeTopicConfig: async () => ({}),
    produce: unused,
    fetch: () => Promise.reject(new Error('fetch kafka-topic-id/0: empty answer')),
    tailFetch: unused,
    partitionSizes: async () => new Map(),
    listOffset: async (_name, _partition, ts) => (ts === -2 ? 0 : 5),
    listOffsets: async () => new Map(),
    commitGroupOffsets: unused,
    close: async () => {},
  };
}

it('Kafka store: a fetch Kafka keeps failing is LogUnavailableError (503), not a plain error (500)', async () => {
  const store = createKafkaLogStore({
    connection: { brokers: ['fake:9092'], clientId: 'test' },
    driver: failingFetches(),
    refreshMs: 0,
  });
  await store.open();
  try {
    const log = await store.createPartition('0d9c5a8e-3c1e-4f53-9d0e-6f1b1f6a5b02', 0, {
      segmentBytes: 1 << 20,
      segmentMs: -1,
      retentionMs: -1,
      retentionBytes: -1,
    });
    const read = log.read(0, { maxRecords: 10, maxBytes: 1 << 20 });
    await expect(read).rejects.toBeInstanceOf(LogUnavailableError);
    await expect(read).rejects.toThrow(/fetch .* at 0 failed: .*empty answer/);
  } finally {
    await store.close();
  }
}, 20_000);
