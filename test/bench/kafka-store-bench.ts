// `npm run bench:kafka` (Node 22.22+/24): the Kafka-store column. On one local 3-broker cluster,
// in the same run: produce throughput through Sluice-on-Kafka vs the native client, and
// produce→delivery latency (Sluice SSE vs a native consumer), so the HTTP layer's cost is a ratio.
import { randomUUID } from 'node:crypto';
import { EventSource } from 'eventsource';
import { startKafkaCluster } from '../support/kafka-cluster.js';
import { startIsolatedServer } from '../support/server.js';

/* The native client, an optional dependency loaded at run time. */
interface Native {
  Producer: new (o: object) => { send(o: object): Promise<unknown>; close(): Promise<void> };
  Consumer: new (o: object) => {
    consume(o: object): Promise<AsyncIterable<{ value: Buffer }> & { close(): Promise<void> }>;
    close(force?: boolean): Promise<void>;
  };
  Admin: new (o: object) => { createTopics(o: object): Promise<unknown>; close(): Promise<void> };
}

const RECORDS = Number(process.env['BENCH_KAFKA_RECORDS'] ?? 20_000);
const BATCH = 100;
const CONCURRENCY = 8;
const LATENCY_SAMPLES = Number(process.env['BENCH_KAFKA_LATENCY_SAMPLES'] ?? 300);
const VALUE = 'x'.repeat(200);

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
};

async function throughput(send: (batch: number) => Promise<void>, records = RECORDS): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < records) {
        next += BATCH;
        await send(BATCH);
      }
    }),
  );
  return Math.round(records / ((performance.now() - started) / 1000));
}

/** Sends one stamped record at a time (about 100/s) and measures until `received` saw it. */
async function latency(send: (stamp: string) => Promise<void>, received: Map<string, number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const stamp = `${i}-${randomUUID()}`;
    const sent = performance.now();
    await send(stamp);
    const deadline = Date.now() + 10_000;
    while (!received.has(stamp) && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    const at = received.get(stamp);
    if (at !== undefined) out.push(at - sent);
    await new Promise((r) => setTimeout(r, 10));
  }
  return out;
}

const nativeName = '@platformatic/kafka';
const native = (await import(nativeName)) as Native;
const cluster = await startKafkaCluster({ brokers: 3 });
const brokers = cluster.bootstrap.split(',');
const server = await startIsolatedServer({ SLUICE_KAFKA_BROKERS: cluster.bootstrap, SLUICE_LOG_STORE: 'kafka' });
try {
  // Native: acks=all, idempotent, 3 partitions, RF 3 — the settings Sluice uses.
  const admin = new native.Admin({ clientId: 'bench', bootstrapBrokers: brokers });
  const nativeTopic = `bench-native-${randomUUID()}`;
  await admin.createTopics({ topics: [nativeTopic], partitions: 3, replicas: 3 });
  await admin.close();
  const producer = new native.Producer({ clientId: 'bench', bootstrapBrokers: brokers, idempotent: true, acks: -1 });
  let p = 0;
  const nativeSend = async (n: number) => {
    const partition = p++ % 3;
    await producer.send({
      messages: Array.from({ length: n }, () => ({ topic: nativeTopic, partition, value: Buffer.from(VALUE) })),
    });
  };

  // Sluice on the same cluster: HTTP produce of the same batches.
  const topic = `bench-${randomUUID()}`;
  const create = await fetch(`${server.url}/v1/topics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: topic, partitions: 3, config: { value_format: 'string' } }),
  });
  if (create.status !== 201) throw new Error(`create: ${create.status}`);
  const body = (n: number, partition: number) =>
    JSON.stringify({ records: Array.from({ length: n }, () => ({ value: VALUE, partition })) });
  let q = 0;
  const sluiceSend = async (n: number) => {
    const res = await fetch(`${server.url}/v1/topics/${topic}/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body(n, q++ % 3),
    });
    if (res.status !== 200) throw new Error(`produce: ${res.status}`);
    await res.arrayBuffer();
  };
  // Warm both paths (JIT, connections, leaders), then measure them alternately, twice each.
  await throughput(nativeSend, RECORDS / 4);
  await throughput(sluiceSend, RECORDS / 4);
  const nativeRuns = [await throughput(nativeSend)];
  const sluiceRuns = [await throughput(sluiceSend)];
  nativeRuns.push(await throughput(nativeSend));
  sluiceRuns.push(await throughput(sluiceSend));
  const nativeRps = Math.max(...nativeRuns);
  const sluiceRps = Math.max(...sluiceRuns);

  // Delivery latency: native producer → native consumer, and HTTP produce → SSE.
  const latTopic = `bench-lat-${randomUUID()}`;
  const admin2 = new native.Admin({ clientId: 'bench', bootstrapBrokers: brokers });
  await admin2.createTopics({ topics: [latTopic], partitions: 1, replicas: 3 });
  await admin2.close();
  const nativeSeen = new Map<string, number>();
  const consumer = new native.Consumer({
    clientId: 'bench',
    groupId: `bench-${randomUUID()}`,
    bootstrapBrokers: brokers,
    maxWaitTime: 100,
  });
  const stream = await consumer.consume({ topics: [latTopic], mode: 'latest', autocommit: false });
  void (async () => {
    for await (const m of stream) nativeSeen.set(m.value.toString(), performance.now());
  })();
  await new Promise((r) => setTimeout(r, 2000)); // group join
  const nativeLat = await latency(async (stamp) => {
    await producer.send({ messages: [{ topic: latTopic, partition: 0, value: Buffer.from(stamp) }] });
  }, nativeSeen);
  await stream.close();
  await consumer.close(true);
  await producer.close();

  const sseSeen = new Map<string, number>();
  const es = new EventSource(`${server.url}/v1/topics/${topic}/events?from=latest`);
  es.addEventListener('record', (e) => {
    const r = JSON.parse(e.data as string) as { value: string };
    sseSeen.set(r.value, performance.now());
  });
  await new Promise((r) => setTimeout(r, 1000));
  const sseLat = await latency(async (stamp) => {
    const res = await fetch(`${server.url}/v1/topics/${topic}/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ records: [{ value: stamp, partition: 0 }] }),
    });
    await res.arrayBuffer();
  }, sseSeen);
  es.close();

  const row = (name: string, rps: number | string, lat: number[]) =>
    `| ${name} | ${rps} | ${pct(lat, 0.5).toFixed(1)} | ${pct(lat, 0.99).toFixed(1)} | ${lat.length}/${LATENCY_SAMPLES} |`;
  console.log(
    `Kafka store bench (${RECORDS} records of ${VALUE.length} B in batches of ${BATCH}, ${CONCURRENCY} concurrent, RF 3, acks=all; Node ${process.versions.node})`,
  );
  console.log('| path | produce rec/s | delivery p50 ms | delivery p99 ms | delivered |');
  console.log('| --- | --- | --- | --- | --- |');
  console.log(row('native client (@platformatic/kafka) → native consumer', nativeRps, nativeLat));
  console.log(row('Sluice on Kafka: HTTP produce → SSE', sluiceRps, sseLat));
  console.log(
    `throughput ratio ${(sluiceRps / nativeRps).toFixed(2)} (target ≥ 0.50); added p99 delivery ${(pct(sseLat, 0.99) - pct(nativeLat, 0.99)).toFixed(1)} ms (target ≤ 5)`,
  );
} finally {
  await server.stop();
  await cluster.stop();
}
