// Fault on the Kafka store: kill -9 one of three brokers (replication factor 3,
// min.insync.replicas 2) under 6 concurrent HTTP producers — no acknowledged record is lost.
// Runs on a cluster of its own (killing a broker of the shared one would disturb other tests).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaClientSupported } from '../src/log/kafka/kafka-driver.js';
import { expectStatus } from './support/client.js';
import { startKafkaCluster, type KafkaCluster } from './support/kafka-cluster.js';
import { startIsolatedServer, usingKafka, type TestServer } from './support/server.js';
import { report } from './faults/support/figures.js';
import { readPartition } from './faults/support/partition-reader.js';

const PRODUCERS = 6;
const PARTITIONS = 3;

describe.skipIf(!(usingKafka() && kafkaClientSupported()))('Kafka broker kill -9 under producers', () => {
  let cluster: KafkaCluster;
  let server: TestServer;
  beforeAll(async () => {
    cluster = await startKafkaCluster({ brokers: 3 });
    server = await startIsolatedServer({ SLUICE_KAFKA_BROKERS: cluster.bootstrap });
  }, 240_000);
  afterAll(async () => {
    await server?.stop();
    await cluster?.stop();
  });

  it('loses no acknowledged record when a broker dies (RF 3, min.insync.replicas 2, acks=all)', async () => {
    const topic = `kill-${randomUUID()}`;
    expectStatus(
      await server.client.post('/v1/topics', {
        body: { name: topic, partitions: PARTITIONS, config: { value_format: 'string', durability: 'fsync' } },
      }),
      201,
    );
    const acked = new Map<string, string>(); // "partition:offset" → value
    let sent = 0;
    let failed = 0;
    let stop = false;
    const producer = async (id: number) => {
      for (let n = 0; !stop; n++) {
        const values = [0, 1, 2].map((i) => `p${id}-${n}-${i}`);
        sent += values.length;
        try {
          const res = await fetch(`${server.url}/v1/topics/${topic}/records`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ records: values.map((value) => ({ value, key: `k${n % 7}` })) }),
            signal: AbortSignal.timeout(30_000),
          });
          const body = (await res.json()) as { offsets?: Array<{ partition: number; offset: number }> };
          if (res.status === 200 && body.offsets) {
            body.offsets.forEach((o, i) => acked.set(`${o.partition}:${o.offset}`, values[i]!));
          } else {
            failed += values.length;
          }
        } catch {
          failed += values.length;
        }
      }
    };
    const running = Array.from({ length: PRODUCERS }, (_, i) => producer(i));
    const waitForAcks = async (n: number) => {
      const deadline = Date.now() + 60_000;
      while (acked.size < n) {
        if (Date.now() > deadline) throw new Error(`only ${acked.size} acks, wanted ${n}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await waitForAcks(300);
    const victim = cluster.brokers[0]!;
    await victim.kill('SIGKILL');
    const ackedAtKill = acked.size;
    // Keep producing through the leader elections: acks must resume on the two survivors.
    await waitForAcks(ackedAtKill + 600);
    stop = true;
    await Promise.all(running);

    const stored = new Map<string, string>();
    const seen = new Map<string, number>();
    for (let p = 0; p < PARTITIONS; p++) {
      const { records } = await readPartition(server.client, topic, p);
      for (const r of records) {
        stored.set(`${p}:${r.offset}`, String(r.value));
        seen.set(String(r.value), (seen.get(String(r.value)) ?? 0) + 1);
      }
    }
    let lost = 0;
    for (const [at, value] of acked) if (stored.get(at) !== value) lost++;
    const duplicates = [...seen.values()].filter((n) => n > 1).length;
    report('kafka-broker-kill9', {
      producers: PRODUCERS,
      sent,
      acked: acked.size,
      acked_before_kill: ackedAtKill,
      failed_requests_records: failed,
      stored: stored.size,
      lost,
      duplicates,
    });
    expect(lost).toBe(0);
    await victim.restart();
  }, 240_000);
});
