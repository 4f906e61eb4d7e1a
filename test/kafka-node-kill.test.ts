// Fault on the Kafka store with two Sluice processes sharing one Kafka cluster and one Postgres:
// kill -9 one under 6 producers that retry on the other node — no acknowledged record is lost,
// and an SSE reader on the surviving node receives every acknowledged record.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaClientSupported } from '../src/log/kafka/kafka-driver.js';
import { killAllChildren, startChild, type ChildServer } from './support/child-server.js';
import { usingPostgres } from './support/database.js';
import { createTestEnv, usingKafka, type TestEnv } from './support/server.js';
import { report } from './faults/support/figures.js';
import { readPartition } from './faults/support/partition-reader.js';
import { listen, until } from './sse-support.js';

const PRODUCERS = 6;
const PARTITIONS = 3;

describe.skipIf(!(usingKafka() && kafkaClientSupported() && usingPostgres()))(
  'Kafka: kill -9 one of two Sluice nodes',
  () => {
    let env: TestEnv;
    let a: ChildServer;
    let b: ChildServer;
    beforeAll(async () => {
      env = await createTestEnv({ SLUICE_KAFKA_TOPIC_SYNC_MS: '100', SLUICE_AUTH: 'none' });
      a = await startChild(env.env);
      b = await startChild(env.env);
    }, 120_000);
    afterAll(async () => {
      killAllChildren();
      await env?.cleanup();
    });

    it('loses no acknowledged record; producers carry on through the other node', async () => {
      const topic = `nodekill-${randomUUID()}`;
      const created = await fetch(`${a.url}/v1/topics`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: topic, partitions: PARTITIONS, config: { value_format: 'string' } }),
      });
      expect(created.status).toBe(201);
      const readable = async (node: ChildServer) =>
        (await fetch(`${node.url}/v1/topics/${topic}/partitions/0/records?offset=0`)).status === 200;
      for (const deadline = Date.now() + 20_000; !(await readable(b));) {
        if (Date.now() > deadline) throw new Error('node B never adopted the topic');
        await new Promise((r) => setTimeout(r, 50));
      }
      const sse = listen(`${b.url}/v1/topics/${topic}/events?from=earliest`);

      const acked = new Map<string, string>(); // "partition:offset" → value
      let retries = 0;
      let stop = false;
      let aDead = false;
      const send = async (node: ChildServer, values: string[]) => {
        const res = await fetch(`${node.url}/v1/topics/${topic}/records`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ records: values.map((value) => ({ value })) }),
          signal: AbortSignal.timeout(15_000),
        });
        const body = (await res.json()) as { offsets?: Array<{ partition: number; offset: number }> };
        if (res.status !== 200 || !body.offsets) throw new Error(`status ${res.status}`);
        return body.offsets;
      };
      const producer = async (id: number) => {
        for (let n = 0; !stop; n++) {
          const values = [0, 1].map((i) => `p${id}-${n}-${i}`);
          // Alternate nodes; when one fails, retry the same records on the other (a client behind a proxy).
          const first = !aDead && n % 2 === 0 ? a : b;
          let offsets: Array<{ partition: number; offset: number }> | undefined;
          for (const node of first === a ? [a, b] : [b, b]) {
            try {
              offsets = await send(node, values);
              break;
            } catch {
              retries++;
            }
          }
          offsets?.forEach((o, i) => acked.set(`${o.partition}:${o.offset}`, values[i]!));
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
      await waitForAcks(200);
      await a.kill9();
      aDead = true;
      const ackedAtKill = acked.size;
      await waitForAcks(ackedAtKill + 300);
      stop = true;
      await Promise.all(running);

      const stored = new Map<string, string>();
      for (let p = 0; p < PARTITIONS; p++) {
        for (const r of (await readPartition(b.client, topic, p)).records)
          stored.set(`${p}:${r.offset}`, String(r.value));
      }
      let lost = 0;
      for (const [at, value] of acked) if (stored.get(at) !== value) lost++;
      const ackedValues = new Set(acked.values());
      await until(
        () => {
          const got = new Set(sse.records().map((r) => String(r.value)));
          return [...ackedValues].every((v) => got.has(v));
        },
        'every acknowledged record on the surviving node’s SSE stream',
        30_000,
      ).catch(() => {});
      const streamed = new Set(sse.records().map((r) => String(r.value)));
      const missedBySse = [...ackedValues].filter((v) => !streamed.has(v)).length;
      sse.close();
      const counts = new Map<string, number>();
      for (const v of stored.values()) counts.set(v, (counts.get(v) ?? 0) + 1);
      report('kafka-node-kill9', {
        nodes: 2,
        producers: PRODUCERS,
        acked: acked.size,
        acked_before_kill: ackedAtKill,
        client_retries: retries,
        stored: stored.size,
        lost,
        duplicates: [...counts.values()].filter((n) => n > 1).length,
        sse_missed: missedBySse,
      });
      expect(lost).toBe(0);
      expect(missedBySse).toBe(0);
    }, 180_000);
  },
);
