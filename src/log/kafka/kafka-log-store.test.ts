// Runs the LogStore conformance suite against the Kafka store, on the cluster named by
// SLUICE_TEST_KAFKA_BROKERS (`npm run test:kafka` starts a 3-broker cluster and sets it).
import { randomBytes } from 'node:crypto';
import { it } from 'vitest';
import { runLogStoreConformance } from '../log-store.conformance.js';
import { kafkaClientSupported } from './kafka-driver.js';
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
}
