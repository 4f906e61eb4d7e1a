// Fault on the Kafka store with two Sluice processes sharing one Kafka cluster and one Postgres:
// kill -9 one under 6 producers that retry on the other node, a committing group member that
// does the same, an SSE reader and a webhook — no acknowledged record is lost, the group and the
// SSE reader receive every one, and the webhook resumes on the surviving node within its lease time.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaClientSupported } from '../src/log/kafka/kafka-driver.js';
import { TestReceiver } from '../src/webhooks/webhooks-test-kit.js';
import { killAllChildren, startChild, type ChildServer } from './support/child-server.js';
import { usingPostgres } from './support/database.js';
import { createTestEnv, usingKafka, type TestEnv } from './support/server.js';
import { report } from './faults/support/figures.js';
import { readPartition } from './faults/support/partition-reader.js';
import { listen, until } from './sse-support.js';

const PRODUCERS = 6;
const PARTITIONS = 3;
const LEASE_MS = 6_000;

/** A gauge's value in a node's /metrics. */
async function gauge(node: ChildServer, name: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
}

describe.skipIf(!(usingKafka() && kafkaClientSupported() && usingPostgres()))(
  'Kafka: kill -9 one of two Sluice nodes',
  () => {
    let env: TestEnv;
    let a: ChildServer;
    let b: ChildServer;
    let closeReceiver = async () => {};
    beforeAll(async () => {
      env = await createTestEnv({
        SLUICE_KAFKA_TOPIC_SYNC_MS: '100',
        SLUICE_AUTH: 'none',
        SLUICE_WEBHOOK_ALLOW_PRIVATE: 'true',
        SLUICE_LEASE_MS: String(LEASE_MS),
      });
      a = await startChild(env.env);
      b = await startChild(env.env);
    }, 120_000);
    afterAll(async () => {
      killAllChildren();
      await closeReceiver();
      await env?.cleanup();
    });

    it('loses no acknowledged record; producers, a group member and a webhook carry on through the other node', async () => {
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

      // A webhook, made on A, so A holds its lease and runs it.
      const receiver = await TestReceiver.start();
      closeReceiver = () => receiver.close();
      const hook = await fetch(`${a.url}/v1/webhooks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          topic,
          url: receiver.url,
          from: 'earliest',
          batch: { max_records: 50, max_wait_ms: 0 },
          retry: { initial_backoff_ms: 10, max_backoff_ms: 200 },
        }),
      });
      expect(hook.status).toBe(201);
      const hookId = ((await hook.json()) as { id: string }).id;
      expect(await gauge(a, 'sluice_leases_held')).toBe(1);

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
      // A group member committing what it receives (auto_commit with cursors), on A until A dies,
      // then retrying the same request on B; it joins again if the group forgot it.
      const group = `nodekill-g-${randomUUID()}`;
      const consumed = new Set<string>();
      let groupRetries = 0;
      let stopGroup = false;
      const groupCall = async (path: string, init: RequestInit = {}) => {
        for (const node of aDead ? [b] : [a, b]) {
          try {
            const res = await fetch(`${node.url}${path}`, {
              ...init,
              headers: { 'content-type': 'application/json' },
              signal: AbortSignal.timeout(15_000),
            });
            return { status: res.status, body: (await res.json()) as Record<string, unknown> };
          } catch {
            groupRetries++;
          }
        }
        return { status: 0, body: {} };
      };
      const consumer = async () => {
        let member: string | undefined;
        let cursor = '';
        while (!stopGroup) {
          if (member === undefined) {
            const joined = await groupCall(`/v1/groups/${group}/members`, {
              method: 'POST',
              body: JSON.stringify({
                topics: [topic],
                auto_offset_reset: 'earliest',
                auto_commit: true,
                session_timeout_ms: 30_000,
              }),
            });
            if (joined.status === 200 || joined.status === 201) {
              member = joined.body['member_id'] as string;
              cursor = '';
            }
            continue;
          }
          const fetched = await groupCall(
            `/v1/groups/${group}/members/${member}/records?wait_ms=500&max_records=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
          );
          if (fetched.status === 409 || fetched.status === 404) member = undefined;
          if (fetched.status !== 200) continue;
          for (const r of fetched.body['records'] as Array<{ value: string }>) consumed.add(r.value);
          cursor = fetched.body['cursor'] as string;
        }
      };
      const consuming = consumer();

      const running = Array.from({ length: PRODUCERS }, (_, i) => producer(i));
      const waitForAcks = async (n: number) => {
        const deadline = Date.now() + 60_000;
        while (acked.size < n) {
          if (Date.now() > deadline) throw new Error(`only ${acked.size} acks, wanted ${n}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await waitForAcks(200);
      await receiver.waitFor(() => receiver.requests.length > 0, 30_000, 'the webhook delivering from A');
      await a.kill9();
      const killedAt = Date.now();
      aDead = true;
      const ackedAtKill = acked.size;
      const requestsAtKill = receiver.requests.length;
      // Whatever arrives now comes from B, which takes the lease once A's has expired.
      const resumed = receiver
        .waitFor(() => receiver.requests.length > requestsAtKill, LEASE_MS * 3, 'the webhook resuming on B')
        .then(() => Date.now() - killedAt);
      await waitForAcks(ackedAtKill + 300);
      const webhookResumedMs = await resumed;
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

      // The group and the webhook get every acknowledged record, at least once.
      const delivered = () => {
        const got = new Map<string, number>();
        for (const [p, offsets] of receiver.acceptedOffsets())
          for (const o of offsets) got.set(`${p}:${o}`, (got.get(`${p}:${o}`) ?? 0) + 1);
        return got;
      };
      // One delivered() per check: calling it per key was O(records²) on this process's event loop,
      // which also runs the receiver, and slowed each delivery to seconds (the webhook looked lost).
      await until(
        () => {
          if (![...ackedValues].every((v) => consumed.has(v))) return false;
          const got = delivered();
          return [...acked.keys()].every((k) => got.has(k));
        },
        'the group and the webhook to receive every acknowledged record',
        60_000,
      ).catch(() => {});
      stopGroup = true;
      await consuming;
      const missedByGroup = [...ackedValues].filter((v) => !consumed.has(v)).length;
      const webhookGot = delivered();
      const missedByWebhook = [...acked.keys()].filter((k) => !webhookGot.has(k)).length;
      const webhookDuplicates = [...webhookGot.values()].filter((n) => n > 1).length;
      if (missedByWebhook > 0) {
        // Say which records, and what the surviving node thinks of the webhook and of the log.
        const missed = new Map<number, number[]>();
        for (const k of acked.keys()) {
          if (webhookGot.has(k)) continue;
          const [p, o] = k.split(':').map(Number) as [number, number];
          missed.set(p, [...(missed.get(p) ?? []), o]);
        }
        const ranges = [...missed].map(([p, os]) => {
          os.sort((x, y) => x - y);
          const out: string[] = [];
          for (let i = 0; i < os.length;) {
            let j = i;
            while (j + 1 < os.length && os[j + 1] === os[j]! + 1) j++;
            out.push(i === j ? `${os[i]}` : `${os[i]}-${os[j]}`);
            i = j + 1;
          }
          return `p${p}: ${out.join(',')}`;
        });
        const state = await (await fetch(`${b.url}/v1/webhooks/${hookId}`)).json();
        const ends = await Promise.all(
          Array.from({ length: PARTITIONS }, async (_, p) =>
            (await fetch(`${b.url}/v1/topics/${topic}/partitions/${p}`)).json(),
          ),
        );
        const batches = receiver.requests
          .filter((r) => r.accepted)
          .map((r) => `p${r.json.partition}:${r.json.records[0]?.offset}-${r.json.records.at(-1)?.offset}`);
        console.log(
          [
            `webhook missed ${ranges.join(' | ')}`,
            `webhook on B: ${JSON.stringify(state)}`,
            `partitions on B: ${JSON.stringify(ends)}`,
            `accepted batches: ${batches.join(' ')}`,
            ...b.logs.filter((l) => /webhook|lease/i.test(String(l['msg']))).map((l) => JSON.stringify(l)),
          ].join('\n'),
        );
      }
      const leasesOnB = await gauge(b, 'sluice_leases_held');
      const webhookMaxInFlight = receiver.maxInFlightPerPartition;
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
        group_consumed: consumed.size,
        group_missed: missedByGroup,
        group_client_retries: groupRetries,
        webhook_delivered: webhookGot.size,
        webhook_missed: missedByWebhook,
        webhook_duplicates: webhookDuplicates,
        webhook_resumed_after_kill_ms: webhookResumedMs,
        lease_ms: LEASE_MS,
      });
      expect(lost).toBe(0);
      expect(missedBySse).toBe(0);
      expect(missedByGroup).toBe(0);
      expect(missedByWebhook).toBe(0);
      expect(webhookMaxInFlight).toBe(1); // one node at a time, one batch in flight per partition
      expect(leasesOnB).toBe(1);
      // The lease A renewed last expires at most LEASE_MS after the kill; B looks every third of it.
      expect(webhookResumedMs).toBeLessThan(LEASE_MS + LEASE_MS / 3 + 3_000);
    }, 180_000);
  },
);
