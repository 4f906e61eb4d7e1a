// The Kafka-store column's measurements, run under Node ≥ 22.22 (the Kafka client needs it) by
// scenarios/kafka-store.ts: one 3-broker cluster, Sluice on it and the native client, in rounds.
//
// Prints one line `KAFKA_STORE_RESULT <json>` on stdout; progress goes to stderr.
import { randomBytes, randomUUID } from 'node:crypto';
import { startKafkaCluster, type KafkaCluster } from '../../support/kafka-cluster.js';
import { uniqueName } from '../lib/context.js';
import { measureDelivery, type LatencyRun } from '../lib/delivery.js';
import { newHistogram, nowMs, summarize, type LatencySummary } from '../lib/histogram.js';
import { closedLoop, createPool, requestJson, send } from '../lib/load.js';
import { sluiceJsonBody, timestampsIn, values } from '../lib/records.js';
import { startSluice, stopSluice, type SluiceServer } from '../lib/sluice-server.js';
import { subscribeSse } from '../lib/subscribers.js';

/** What the scenario asks for (BENCH_KAFKA_STORE_PLAN). */
export interface KafkaStorePlan {
  rounds: number;
  /** Length of one produce phase (each system, each round). */
  phaseMs: number;
  /** Length of one latency phase (each system, each round), after a 500 ms warm-up. */
  latencyMs: number;
  /** Records per second in the latency phases. */
  rate: number;
}

/** The Sluice server's event-loop delay during one delivery phase (from its /metrics). */
export interface LoopDelay {
  p99Ms: number;
  maxMs: number;
}

/**
 * One system's delivery round: its counts, its own delivery p99, the p99 of its produce
 * acknowledgements, and (Sluice) the server's event-loop delay meanwhile.
 */
export type RoundRun = Omit<LatencyRun, 'latency' | 'ack'> & { p99Ms: number; ackP99Ms: number; loop?: LoopDelay };

export interface KafkaStoreResult {
  node: string;
  kafka: string;
  batch: number;
  concurrency: number;
  partitions: number;
  /** Records per second per round, in round order. */
  produce: { sluice: number[]; native: number[]; sluiceErrors: number; firstError?: string };
  /** Merged over the rounds. */
  latency: {
    sluice: LatencySummary;
    native: LatencySummary;
    /** Send → producer acknowledgement (HTTP 200 from Sluice; the native client's send resolving). */
    ack: { sluice: LatencySummary; native: LatencySummary };
    /** Each round's own p99 besides its counts (the merged figures are above). */
    rounds: Array<{ sluice: RoundRun; native: RoundRun }>;
  };
}

/* The native client, loaded at run time: an optional dependency (Node ≥ 22.22 only). */
interface Native {
  Admin: new (o: object) => { createTopics(o: object): Promise<unknown>; close(): Promise<void> };
  Producer: new (o: object) => {
    send(o: { messages: object[] }): Promise<unknown>;
    close(): Promise<void>;
  };
  Consumer: new (o: object) => {
    consume(o: object): Promise<AsyncIterable<{ value: Buffer | undefined }> & { close(): Promise<void> }>;
    close(force?: boolean): Promise<void>;
  };
}

const BATCH = 100;
const CONCURRENCY = 8;
const PARTITIONS = 3;
const log = (m: string) => process.stderr.write(`${m}\n`);

async function main(): Promise<void> {
  const plan = JSON.parse(process.env['BENCH_KAFKA_STORE_PLAN'] ?? '{}') as KafkaStorePlan;
  const nativeName = '@platformatic/kafka';
  const native = (await import(nativeName)) as Native;

  let cluster: KafkaCluster | undefined;
  let bootstrap = process.env['BENCH_KAFKA_BROKERS'];
  if (!bootstrap) {
    const t0 = Date.now();
    cluster = await startKafkaCluster({ brokers: 3 });
    bootstrap = cluster.bootstrap;
    log(`kafka: 3 brokers up in ${Date.now() - t0} ms`);
  }
  const brokers = bootstrap.split(',');
  let sluice: SluiceServer | undefined;
  const stopAll = async () => {
    if (sluice) await stopSluice(sluice).catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
  };
  process.once('SIGTERM', () => void stopAll().finally(() => process.exit(143)));
  try {
    sluice = await startSluice({
      env: {
        SLUICE_LOG_STORE: 'kafka',
        SLUICE_KAFKA_BROKERS: bootstrap,
        SLUICE_KAFKA_TOPIC_PREFIX: `bench-${randomBytes(4).toString('hex')}.`,
      },
    });
    log(`sluice on kafka up in ${Math.round(sluice.readyMs)} ms (Node ${process.versions.node})`);
    const result = await measure(native, brokers, sluice, plan);
    process.stdout.write(`KAFKA_STORE_RESULT ${JSON.stringify(result)}\n`);
  } finally {
    await stopAll();
  }
}

async function measure(
  native: Native,
  brokers: string[],
  sluice: SluiceServer,
  plan: KafkaStorePlan,
): Promise<KafkaStoreResult> {
  const admin = new native.Admin({ clientId: 'bench', bootstrapBrokers: brokers });
  const producer = new native.Producer({ clientId: 'bench', bootstrapBrokers: brokers, idempotent: true, acks: -1 });
  const pool = createPool(sluice.url, CONCURRENCY);
  try {
    // The same records both ways: 100 values of 100 B per batch, one partition per batch, in turn;
    // Sluice's topic is a JSON topic (the values are JSON), the native one gets the same bytes.
    const batchValues = values(BATCH);
    const sluiceTopic = uniqueName('kafka-produce');
    await requestJson(pool, {
      method: 'POST',
      path: '/v1/topics',
      body: JSON.stringify({ name: sluiceTopic, partitions: PARTITIONS }),
    });
    const nativeTopic = uniqueName('native-produce');
    await admin.createTopics({ topics: [nativeTopic], partitions: PARTITIONS, replicas: -1 });
    const bodies = Array.from({ length: PARTITIONS }, (_, p) => sluiceJsonBody(batchValues, p));
    const nativeBatches = Array.from({ length: PARTITIONS }, (_, partition) =>
      batchValues.map((v) => ({ topic: nativeTopic, partition, value: Buffer.from(v) })),
    );

    const sluicePhase = async (ms: number) => {
      const r = await closedLoop(
        pool,
        Number.MAX_SAFE_INTEGER,
        CONCURRENCY,
        (i) => ({
          method: 'POST',
          path: `/v1/topics/${sluiceTopic}/records`,
          headers: { 'content-type': 'application/json' },
          body: bodies[i % PARTITIONS]!,
        }),
        ms,
      );
      return { rate: r.reqPerSec * BATCH, errors: r.errors, ...(r.firstError ? { firstError: r.firstError } : {}) };
    };
    const nativePhase = async (ms: number) => {
      let batches = 0;
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (performance.now() - started < ms) {
            await producer.send({ messages: nativeBatches[next++ % PARTITIONS]! });
            batches++;
          }
        }),
      );
      return (batches * BATCH * 1000) / (performance.now() - started);
    };

    // Warm both paths (JIT, connections, partition leaders), then alternate in rounds.
    await sluicePhase(Math.min(1000, plan.phaseMs));
    await nativePhase(Math.min(1000, plan.phaseMs));
    const produce: KafkaStoreResult['produce'] = { sluice: [], native: [], sluiceErrors: 0 };
    for (let r = 0; r < plan.rounds; r++) {
      const order = r % 2 === 0 ? (['sluice', 'native'] as const) : (['native', 'sluice'] as const);
      for (const who of order) {
        if (who === 'sluice') {
          const s = await sluicePhase(plan.phaseMs);
          produce.sluice.push(s.rate);
          produce.sluiceErrors += s.errors;
          if (s.firstError) produce.firstError ??= s.firstError;
        } else produce.native.push(await nativePhase(plan.phaseMs));
      }
      log(
        `produce round ${r + 1}/${plan.rounds}: sluice ${Math.round(produce.sluice[r]!)} rec/s, native ${Math.round(produce.native[r]!)} rec/s`,
      );
    }

    // Delivery: HTTP produce → SSE through Sluice; native produce → native consumer. One fresh
    // 1-partition topic per system per round, so every phase starts from an idle partition.
    const hs = newHistogram();
    const hn = newHistogram();
    const hsAck = newHistogram();
    const hnAck = newHistogram();
    const rounds: KafkaStoreResult['latency']['rounds'] = [];
    const strip = ({ latency, ack, ...rest }: LatencyRun, loop?: LoopDelay): RoundRun => ({
      ...rest,
      p99Ms: latency.p99Ms,
      ackP99Ms: ack.p99Ms,
      ...(loop && { loop }),
    });
    for (let r = 0; r < plan.rounds; r++) {
      let s: LatencyRun | undefined;
      let n: LatencyRun | undefined;
      let loop: LoopDelay | undefined;
      const order = r % 2 === 0 ? (['sluice', 'native'] as const) : (['native', 'sluice'] as const);
      for (const who of order) {
        if (who === 'sluice') {
          await loopDelay(pool); // resets the server's histogram
          s = await sluiceDelivery(pool, sluice.url, plan, hs, hsAck);
          loop = await loopDelay(pool);
        } else n = await nativeDelivery(native, admin, producer, brokers, plan, hn, hnAck);
      }
      rounds.push({ sluice: strip(s!, loop), native: strip(n!) });
      const loopText = loop ? `, server loop p99 ${loop.p99Ms} max ${loop.maxMs} ms` : '';
      log(
        `delivery round ${r + 1}/${plan.rounds}: sluice ${s!.delivered}/${s!.produced} p99 ${s!.latency.p99Ms} ms (ack p99 ${s!.ack.p99Ms}${loopText}), native ${n!.delivered}/${n!.produced} p99 ${n!.latency.p99Ms} ms (ack p99 ${n!.ack.p99Ms}) (this round)`,
      );
    }
    return {
      node: process.versions.node,
      kafka: 'Apache Kafka (test/support/kafka-cluster.ts), 3 brokers, RF 3, min.insync.replicas 2',
      batch: BATCH,
      concurrency: CONCURRENCY,
      partitions: PARTITIONS,
      produce,
      latency: {
        sluice: summarize(hs),
        native: summarize(hn),
        ack: { sluice: summarize(hsAck), native: summarize(hnAck) },
        rounds,
      },
    };
  } finally {
    await pool.close();
    await producer.close();
    await admin.close();
  }
}

async function sluiceDelivery(
  pool: ReturnType<typeof createPool>,
  url: string,
  plan: KafkaStorePlan,
  into: ReturnType<typeof newHistogram>,
  intoAck: ReturnType<typeof newHistogram>,
): Promise<LatencyRun> {
  const topic = uniqueName('kafka-lat');
  await requestJson(pool, { method: 'POST', path: '/v1/topics', body: JSON.stringify({ name: topic, partitions: 1 }) });
  const produce = async (vals: string[]) =>
    (
      await send(pool, {
        method: 'POST',
        path: `/v1/topics/${topic}/records`,
        headers: { 'content-type': 'application/json' },
        body: sluiceJsonBody(vals),
      })
    ).ok;
  return measureDelivery(
    plan.rate,
    plan.latencyMs,
    produce,
    async (cb) => {
      const sub = subscribeSse(`${url}/v1/topics/${topic}/partitions/0/events?from=latest`, cb);
      await sub.ready;
      // As for the native consumer below: measure only once a first record has come back. A new
      // partition's first acks=all produce waits until its followers fetch it, up to the brokers'
      // replica.fetch.wait.max.ms (500 ms): both sides pay that before they are measured.
      if (!(await produce(values(1, -1)))) throw new Error('warm-up produce through Sluice failed');
      const deadline = Date.now() + 60_000;
      while (sub.events() < 1) {
        if (Date.now() > deadline) throw new Error('Sluice SSE did not deliver the warm-up record within 60 s');
        await new Promise((r) => setTimeout(r, 10));
      }
      return { events: () => sub.events() - 1, stop: async () => sub.close() };
    },
    into,
    intoAck,
  );
}

async function nativeDelivery(
  native: Native,
  admin: InstanceType<Native['Admin']>,
  producer: InstanceType<Native['Producer']>,
  brokers: string[],
  plan: KafkaStorePlan,
  into: ReturnType<typeof newHistogram>,
  intoAck: ReturnType<typeof newHistogram>,
): Promise<LatencyRun> {
  const topic = uniqueName('native-lat');
  await admin.createTopics({ topics: [topic], partitions: 1, replicas: -1 });
  const produce = async (vals: string[]) => {
    await producer.send({ messages: vals.map((v) => ({ topic, partition: 0, value: Buffer.from(v) })) });
    return true;
  };
  return measureDelivery(
    plan.rate,
    plan.latencyMs,
    produce,
    async (cb) => {
      // minBytes 1: the broker answers a fetch as soon as anything is there (no batching delay).
      const consumer = new native.Consumer({
        clientId: 'bench',
        groupId: `bench-${randomUUID()}`,
        bootstrapBrokers: brokers,
        minBytes: 1,
        maxWaitTime: 500,
      });
      const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
      let events = 0;
      let probed = false;
      void (async () => {
        try {
          for await (const m of stream) {
            const text = m.value?.toString('utf8') ?? '';
            if (text === 'probe') probed = true;
            const ts = timestampsIn(text);
            if (ts.length) {
              events += ts.length;
              cb(ts, nowMs());
            }
          }
        } catch {
          // closed
        }
      })();
      // Measure only once the consumer has joined its group and fetches: a probe record has come back.
      await producer.send({ messages: [{ topic, partition: 0, value: Buffer.from('probe') }] });
      const deadline = Date.now() + 60_000;
      while (!probed) {
        if (Date.now() > deadline) throw new Error('native consumer did not start within 60 s');
        await new Promise((r) => setTimeout(r, 10));
      }
      return {
        events: () => events,
        stop: async () => {
          await stream.close();
          await consumer.close(true);
        },
      };
    },
    into,
    intoAck,
  );
}

/**
 * The server's event-loop delay since the last call (prom-client resets its histogram on each
 * scrape), or undefined when /metrics does not answer.
 */
async function loopDelay(pool: ReturnType<typeof createPool>): Promise<LoopDelay | undefined> {
  try {
    const res = await pool.request({ method: 'GET', path: '/metrics' });
    const text = await res.body.text();
    const value = (name: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return line === undefined ? Number.NaN : Number(line.split(' ')[1]) * 1000;
    };
    const p99Ms = value('sluice_nodejs_eventloop_lag_p99_seconds');
    const maxMs = value('sluice_nodejs_eventloop_lag_max_seconds');
    if (res.statusCode !== 200 || !Number.isFinite(p99Ms)) return undefined;
    return { p99Ms: Math.round(p99Ms * 10) / 10, maxMs: Math.round(maxMs * 10) / 10 };
  } catch {
    return undefined;
  }
}

main().catch((e: unknown) => {
  log(`kafka-store driver failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
});
