// The cost of idempotent produce across nodes on the Kafka store, in one run on one cluster:
// a node sharing PostgreSQL (cross-node lock + catch-up) vs a single node (in-memory only).
//
// SLUICE_TEST_KAFKA_BROKERS=<bootstrap> DATABASE_URL=postgres://... npx tsx test/bench/kafka-idempotency-bench.ts
// (Node 22.22+/24). BENCH_IDEM_ROUNDS (default 3) rounds, the modes alternating, each of
// BENCH_IDEM_REQUESTS (default 2000) requests of BENCH_IDEM_BATCH (10) records, BENCH_IDEM_CONCURRENCY (8) at a time.
import { randomUUID } from 'node:crypto';
import { startIsolatedServer, type TestServer } from '../support/server.js';

const REQUESTS = Number(process.env['BENCH_IDEM_REQUESTS'] ?? 2000);
const BATCH = Number(process.env['BENCH_IDEM_BATCH'] ?? 10);
const CONCURRENCY = Number(process.env['BENCH_IDEM_CONCURRENCY'] ?? 8);
const ROUNDS = Number(process.env['BENCH_IDEM_ROUNDS'] ?? 3);
const VALUE = 'x'.repeat(200);

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
};

type Headers = () => Record<string, string>;

async function run(server: TestServer, topic: string, headers: Headers) {
  const body = JSON.stringify({ records: Array.from({ length: BATCH }, (_, i) => ({ key: `k${i}`, value: VALUE })) });
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        next++;
        const t = performance.now();
        const res = await fetch(`${server.url}/v1/topics/${topic}/records`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers() },
          body,
        });
        if (res.status !== 200) throw new Error(`produce: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    requestsPerS: Math.round(REQUESTS / seconds),
    recordsPerS: Math.round((REQUESTS * BATCH) / seconds),
    p50Ms: +pct(latencies, 0.5).toFixed(1),
    p99Ms: +pct(latencies, 0.99).toFixed(1),
  };
}

async function topicOn(server: TestServer): Promise<string> {
  const name = `bench-idem-${randomUUID()}`;
  const res = await fetch(`${server.url}/v1/topics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, partitions: 3, config: { value_format: 'string', durability: 'write' } }),
  });
  if (res.status !== 201) throw new Error(`create topic: ${res.status} ${await res.text()}`);
  return name;
}

if (!process.env['SLUICE_TEST_KAFKA_BROKERS'] || !process.env['DATABASE_URL'])
  throw new Error('set SLUICE_TEST_KAFKA_BROKERS and DATABASE_URL');

// Shared: PostgreSQL, so idempotent requests take the cross-node lock. Single: embedded PGlite,
// which no second node can share, so requests use the in-memory state only (the code path of before).
const shared = await startIsolatedServer();
const pgUrl = process.env['DATABASE_URL'];
delete process.env['DATABASE_URL'];
const single = await startIsolatedServer();
process.env['DATABASE_URL'] = pgUrl;

const keyed: Headers = () => ({ 'idempotency-key': randomUUID() });
/** One producer: its requests are sequential by definition, so they run one at a time. */
const producer = (): Headers => {
  const pid = String(Math.floor(Math.random() * 1e12));
  let seq = 0;
  return () => ({ 'producer-id': pid, 'producer-epoch': '0', 'producer-seq': String(seq++) });
};
const modes = [
  ['single node (before)', single],
  ['shared Postgres (after)', shared],
] as const;
const kinds = ['plain', 'Idempotency-Key', 'Producer-Seq (1 producer)'] as const;
type Figures = Awaited<ReturnType<typeof run>>;
/** Per mode and kind, one result per round: the modes alternate, so load drifts hit both alike. */
const results = new Map<string, Figures[]>();
try {
  const topics = new Map<TestServer, string>();
  for (const [, server] of modes) {
    const topic = await topicOn(server);
    topics.set(server, topic);
    await run(server, topic, keyed); // warm-up: connections, metadata, JIT
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [mode, server] of round % 2 === 0 ? modes : [...modes].reverse()) {
      const topic = topics.get(server)!;
      const figures: Record<(typeof kinds)[number], Figures> = {
        plain: await run(server, topic, () => ({})),
        'Idempotency-Key': await run(server, topic, keyed),
        'Producer-Seq (1 producer)': await runSequential(server, topic, producer()),
      };
      for (const kind of kinds) {
        const k = `${mode}\u0000${kind}`;
        results.set(k, [...(results.get(k) ?? []), figures[kind]]);
      }
    }
  }
} finally {
  await shared.stop();
  await single.stop();
}
const median = (xs: number[]) => pct(xs, 0.5);
const rows = kinds.flatMap((kind) =>
  modes.map(([mode]) => {
    const r = results.get(`${mode}\u0000${kind}`) ?? [];
    return {
      kind,
      mode,
      recordsPerS: median(r.map((x) => x.recordsPerS)),
      p50Ms: median(r.map((x) => x.p50Ms)),
      p99Ms: median(r.map((x) => x.p99Ms)),
    };
  }),
);
console.log(
  `${ROUNDS} alternating rounds of ${REQUESTS} requests of ${BATCH} records, ${CONCURRENCY} concurrent ` +
    `(Producer-Seq: one at a time); medians of the rounds`,
);
console.table(rows);

async function runSequential(server: TestServer, topic: string, headers: Headers) {
  const body = JSON.stringify({ records: Array.from({ length: BATCH }, (_, i) => ({ key: `k${i}`, value: VALUE })) });
  const latencies: number[] = [];
  const n = Math.max(100, Math.floor(REQUESTS / 4));
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const res = await fetch(`${server.url}/v1/topics/${topic}/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers() },
      body,
    });
    if (res.status !== 200) throw new Error(`produce: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
    latencies.push(performance.now() - t);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    requestsPerS: Math.round(n / seconds),
    recordsPerS: Math.round((n * BATCH) / seconds),
    p50Ms: +pct(latencies, 0.5).toFixed(1),
    p99Ms: +pct(latencies, 0.99).toFixed(1),
  };
}
