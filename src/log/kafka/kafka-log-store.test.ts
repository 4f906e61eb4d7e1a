// Runs the LogStore conformance suite against the Kafka store, on the cluster named by
// SLUICE_TEST_KAFKA_BROKERS (`npm run test:kafka` starts a 3-broker cluster and sets it).
import { randomBytes, randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { defaultConfig, runLogStoreConformance } from '../log-store.conformance.js';
import type { RecordInput } from '../types.js';
import { createPlatformaticDriver, kafkaClientSupported, type KafkaDriver } from './kafka-driver.js';
import { createKafkaLogStore } from './kafka-log-store.js';

const brokers = process.env['SLUICE_TEST_KAFKA_BROKERS'];

if (!brokers || !kafkaClientSupported()) {
  it.skip(`Kafka LogStore conformance (needs SLUICE_TEST_KAFKA_BROKERS and Node.js ≥ 22.22: npm run test:kafka)`, () => {});
} else {
  runLogStoreConformance(
    'kafka',
    async ({ clock }) => {
      // A prefix per store: each test sees only its own topics, and removes them after.
      const store = createKafkaLogStore({
        connection: { brokers: brokers.split(','), clientId: 'sluice-conformance' },
        topicPrefix: `sluice-test-${randomBytes(4).toString('hex')}.`,
        clock,
      });
      await store.open();
      return {
        store,
        dispose: async () => {
          for (const id of store.topicIds()) await store.deleteTopic(id).catch(() => {});
          await store.close();
        },
      };
    },
    { storeRunsRetention: false },
  );
  it("a tailed partition serves this node's acknowledged batches without a fetch, exactly as Kafka returns them", async () => {
    const connection = { brokers: brokers.split(','), clientId: 'sluice-recent' };
    const topicPrefix = `sluice-test-${randomBytes(4).toString('hex')}.`;
    const real = await createPlatformaticDriver(connection);
    let fetches = 0;
    const counting: KafkaDriver = {
      ...real,
      fetch: (...args) => {
        fetches++;
        return real.fetch(...args);
      },
    };
    const writer = createKafkaLogStore({ connection, topicPrefix, driver: counting });
    const reader = createKafkaLogStore({ connection, topicPrefix });
    await writer.open();
    await reader.open();
    try {
      const topicId = randomUUID();
      const log = await writer.createPartition(topicId, 0, defaultConfig);
      const ts = 1_700_000_000_123;
      const odd: RecordInput[] = [
        { key: null, value: Buffer.from('{"a":1}'), headers: [], timestamp: ts },
        { key: Buffer.alloc(0), value: Buffer.alloc(0), headers: [], timestamp: ts + 1 },
        { key: Buffer.from('k'), value: null, headers: [{ key: 'h', value: null }], timestamp: ts - 5 },
        {
          key: Buffer.from([0, 255, 1]),
          value: Buffer.from('ünï✓ \u2028'),
          headers: [
            { key: 'dup', value: Buffer.from('1') },
            { key: 'dup', value: Buffer.from('2') },
            { key: 'ключ', value: Buffer.alloc(0) },
          ],
          timestamp: 0,
        },
      ];
      // Appended before anyone tails: not kept, so reads fetch it from Kafka.
      expect((await log.append([odd[0]!], { durability: 'fsync' })).ok).toBe(true);
      const off = log.onAppend(() => {});
      const tagged = await log.append(odd, { durability: 'fsync', tag: Buffer.from('tag-1') });
      const plain = await log.append(odd.slice(1), { durability: 'fsync' });
      expect(tagged.ok && plain.ok).toBe(true);

      fetches = 0;
      const fromKept = await log.read(1, { maxRecords: 1000, maxBytes: 1 << 20 });
      expect(fetches).toBe(0);
      const mid = await log.read(3, { maxRecords: 2, maxBytes: 1 << 20 });
      expect(fetches).toBe(0);
      const across = await log.read(0, { maxRecords: 1000, maxBytes: 1 << 20 });
      expect(fetches).toBeGreaterThan(0);

      const theirs = await reader.createPartition(topicId, 0, defaultConfig);
      const fetched = await theirs.read(0, { maxRecords: 1000, maxBytes: 1 << 20 });
      expect(fetched.ok && fetched.value.records.length).toBe(8);
      if (!fromKept.ok || !mid.ok || !across.ok || !fetched.ok) throw new Error('read failed');
      const norm = (rs: typeof fetched.value.records) =>
        rs.map((r) => ({ ...r, key: r.key && Buffer.from(r.key), value: r.value && Buffer.from(r.value) }));
      expect(norm(fromKept.value.records)).toEqual(norm(fetched.value.records.slice(1)));
      expect(fromKept.value.nextOffset).toBe(fetched.value.nextOffset);
      expect(norm(mid.value.records)).toEqual(norm(fetched.value.records.slice(3, 5)));
      expect(mid.value.nextOffset).toBe(5);
      expect(norm(across.value.records)).toEqual(norm(fetched.value.records));

      // Nobody tails any more: what was kept is let go, and reads fetch again.
      off();
      fetches = 0;
      expect((await log.read(1, { maxRecords: 1, maxBytes: 1 << 20 })).ok).toBe(true);
      expect(fetches).toBeGreaterThan(0);
    } finally {
      for (const id of writer.topicIds()) await writer.deleteTopic(id).catch(() => {});
      await reader.close();
      await writer.close();
    }
  });
}
