// `npm run test:kafka [-- vitest args]`: starts a 3-broker Kafka 4.x cluster (kafka-cluster.ts),
// runs vitest with SLUICE_TEST_KAFKA_BROKERS so the Kafka store joins the test matrix, stops it.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KAFKA_VERSION, startKafkaCluster } from './kafka-cluster.js';

/** What CI runs on Kafka when no files are named: the LogStore contract and the black-box suites on the log. */
const DEFAULT_FILES = [
  'src/log/kafka/',
  'test/kafka-interop.test.ts',
  'test/kafka-group-offsets.test.ts',
  'test/topic-expose.test.ts',
  'test/kafka-broker-kill.test.ts',
  'test/kafka-nodes.test.ts',
  'test/kafka-nodes-idempotency.test.ts',
  'test/kafka-nodes-shared.test.ts',
  'test/kafka-nodes-tokens.test.ts',
  'test/kafka-nodes-streams.test.ts',
  'test/durable-streams-conformance.test.ts',
  'test/kafka-node-kill.test.ts',
  'test/produce.test.ts',
  'test/read.test.ts',
  'test/sse.test.ts',
  'test/topics.test.ts',
  'test/topic-identity.test.ts',
  'test/groups.test.ts',
];

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const started = Date.now();
const cluster = await startKafkaCluster({ brokers: 3 });
console.log(`Kafka ${KAFKA_VERSION}: 3 brokers up in ${Date.now() - started} ms at ${cluster.bootstrap}`);
const args = process.argv.slice(2);
const files = args.some((a) => !a.startsWith('-')) ? [] : DEFAULT_FILES;
let code = 1;
try {
  code = await new Promise<number>((resolve) => {
    const child = spawn(
      process.execPath,
      [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...files, ...args],
      { cwd: root, stdio: 'inherit', env: { ...process.env, SLUICE_TEST_KAFKA_BROKERS: cluster.bootstrap } },
    );
    child.once('exit', (c) => resolve(c ?? 1));
  });
} finally {
  await cluster.stop();
}
process.exit(code);
