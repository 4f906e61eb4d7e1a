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
  'test/kafka-nodes.test.ts',
  'test/kafka-nodes-idempotency.test.ts',
  'test/kafka-nodes-shared.test.ts',
  'test/kafka-nodes-tokens.test.ts',
  'test/kafka-nodes-streams.test.ts',
  'test/kafka-nodes-sync.test.ts',
  'test/durable-streams-conformance.test.ts',
  'test/kafka-node-kill.test.ts',
  'test/produce.test.ts',
  'test/read.test.ts',
  'test/sse.test.ts',
  'test/topics.test.ts',
  'test/topic-identity.test.ts',
  'test/groups.test.ts',
];

/**
 * Run after the others, alone: it starts a cluster of its own (three more brokers on the same
 * cores) and kills one, which starved the suites running beside it on the shared cluster.
 */
const ALONE_FILES = ['test/kafka-broker-kill.test.ts'];

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const started = Date.now();
const cluster = await startKafkaCluster({ brokers: 3 });
console.log(`Kafka ${KAFKA_VERSION}: 3 brokers up in ${Date.now() - started} ms at ${cluster.bootstrap}`);
const args = process.argv.slice(2);
const named = args.some((a) => !a.startsWith('-'));
const vitest = (files: string[], extra: string[]) =>
  new Promise<number>((resolve) => {
    const child = spawn(
      process.execPath,
      [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...files, ...extra],
      { cwd: root, stdio: 'inherit', env: { ...process.env, SLUICE_TEST_KAFKA_BROKERS: cluster.bootstrap } },
    );
    child.once('exit', (c) => resolve(c ?? 1));
  });
let code = 1;
try {
  if (named) code = await vitest([], args);
  else {
    code = await vitest(DEFAULT_FILES, args);
    // A JSON report of its own beside the first run's (`--outputFile.json=x.json` → x-alone.json).
    const alone = args.map((a) => a.replace(/^(--outputFile\.json=.*)\.json$/, '$1-alone.json'));
    code = (await vitest(ALONE_FILES, alone)) || code;
  }
} finally {
  await cluster.stop();
}
process.exit(code);
