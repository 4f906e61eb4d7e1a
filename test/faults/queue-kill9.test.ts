// Fault: kill -9 Sluice at random moments under 8 queue receivers acknowledging at random
// (accept, release, renew, or nothing). After each restart nothing accepted is delivered again,
// and in the end every record is accepted: none lost, none given up, none accepted twice.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, type Client } from '../support/client.js';
import { killAllChildren, startChild, type ChildServer } from '../support/child-server.js';
import { createTestEnv, type TestEnv } from '../support/server.js';
import { knob, pollUntil, report } from './support/figures.js';
import { between, runSeed, seededRandom } from './support/random.js';

const CYCLES = knob('FAULTS_QUEUE_KILL9_CYCLES', 3, 20);
const RECORDS = knob('FAULTS_QUEUE_KILL9_RECORDS', 2_000, 20_000);
const RECEIVERS = 8;
const PARTITIONS = 4;
const LOCK_MS = 1_500;
const seed = runSeed();
const rnd = seededRandom(seed);

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv({ SLUICE_LOG_STORE: 'file', SLUICE_QUEUE_SWEEP_INTERVAL_MS: '100' });
});
afterAll(async () => {
  killAllChildren();
  await env?.cleanup();
});

interface Delivered {
  value: { id: string };
  lease: string;
  delivery_count: number;
}

class Ledger {
  /** Ids whose accept was answered `ok`. */
  readonly accepted = new Set<string>();
  /** Ids in an accept whose answer never came (a kill): accepted or not, either is right. */
  readonly maybeAccepted = new Set<string>();
  /** Deliveries of a record after its accept was answered ok: must stay 0. */
  redeliveredAfterAccept = 0;
  acceptedTwice = 0;
  deliveries = 0;
  acks = 0;
  expiredOrUnknown = 0;
}

type Outcome = 'ok' | 'down';

async function receiveAndAck(client: Client, topic: string, queue: string, ledger: Ledger): Promise<Outcome> {
  let res;
  try {
    res = await client.raw('POST', `/v1/topics/${topic}/queues/${queue}/receive?max_records=20&wait_ms=200`);
  } catch {
    return 'down';
  }
  if (res.status === 503) return 'down';
  if (res.status !== 200) throw new Error(`receive answered ${res.status}: ${res.text}`);
  const records = (res.json as { records: Delivered[] }).records;
  ledger.deliveries += records.length;
  for (const r of records) if (ledger.accepted.has(r.value.id)) ledger.redeliveredAfterAccept++;
  const acks: Array<{ lease: string; action: string; id: string }> = [];
  for (const r of records) {
    const roll = rnd();
    // Most accepted; some released, some renewed then accepted, some left to expire.
    if (roll < 0.1) acks.push({ lease: r.lease, action: 'release', id: r.value.id });
    else if (roll < 0.15) continue;
    else {
      if (roll < 0.2) acks.push({ lease: r.lease, action: 'renew', id: r.value.id });
      acks.push({ lease: r.lease, action: 'accept', id: r.value.id });
    }
  }
  if (acks.length === 0) return 'ok';
  let ackRes;
  try {
    ackRes = await client.raw('POST', `/v1/topics/${topic}/queues/${queue}/ack`, {
      body: JSON.stringify({ acks: acks.map(({ lease, action }) => ({ lease, action })) }),
      headers: { 'content-type': 'application/json' },
    });
  } catch {
    ackRes = undefined;
  }
  if (!ackRes || ackRes.status === 503) {
    for (const a of acks) if (a.action === 'accept') ledger.maybeAccepted.add(a.id);
    return 'down';
  }
  if (ackRes.status !== 200) throw new Error(`ack answered ${ackRes.status}: ${ackRes.text}`);
  const results = (ackRes.json as { results: Array<{ lease: string; status: string }> }).results;
  expect(results.map((r) => r.lease)).toEqual(acks.map((a) => a.lease));
  results.forEach((r, i) => {
    ledger.acks++;
    const a = acks[i]!;
    if (r.status !== 'ok') ledger.expiredOrUnknown++;
    if (a.action === 'accept' && r.status === 'ok') {
      if (ledger.accepted.has(a.id)) ledger.acceptedTwice++;
      ledger.accepted.add(a.id);
    }
  });
  return 'ok';
}

describe('kill -9 under queue receivers', () => {
  it(`${CYCLES} random kills under ${RECEIVERS} receivers: nothing accepted comes back, nothing unaccepted is lost`, async () => {
    const topic = `t-queue-${randomUUID()}`;
    const queue = 'workers';
    const ledger = new Ledger();
    const ids: string[] = [];
    let server: ChildServer | undefined;
    let unclean = 0;
    for (let cycle = 0; cycle <= CYCLES; cycle++) {
      server = await startChild(env.env);
      const { client } = server;
      if (!server.recovery.cleanShutdown) unclean++;
      if (cycle === 0) {
        expectStatus(await client.post('/v1/topics', { body: { name: topic, partitions: PARTITIONS } }), 201);
        for (let i = 0; i < RECORDS; i += 500) {
          const records = Array.from({ length: Math.min(500, RECORDS - i) }, (_, j) => {
            const id = `r${i + j}`;
            ids.push(id);
            return { value: { id } };
          });
          expectStatus(await client.post('/v1/topics/{topic}/records', { params: { topic }, body: { records } }), 200);
        }
        const put = await client.raw('PUT', `/v1/topics/${topic}/queues/${queue}`, {
          body: JSON.stringify({ lock_ms: LOCK_MS, max_deliveries: 1000 }),
          headers: { 'content-type': 'application/json' },
        });
        expect(put.status).toBe(201);
      }
      if (cycle === CYCLES) {
        // The final incarnation drains the queue: leases from before the kill expire and come back.
        await pollUntil(
          'every record accepted',
          async () => {
            await Promise.all(Array.from({ length: RECEIVERS }, () => receiveAndAck(client, topic, queue, ledger)));
            const q = (await client.raw('GET', `/v1/topics/${topic}/queues/${queue}`)).json as {
              accepted: number;
              available: number;
              in_flight: number;
            };
            return q.available === 0 && q.in_flight === 0 ? q : undefined;
          },
          120_000,
          10,
        );
        break;
      }
      let stop = false;
      const before = ledger.acks;
      const receiver = async () => {
        while (!stop) if ((await receiveAndAck(client, topic, queue, ledger)) === 'down') return;
      };
      const running = Array.from({ length: RECEIVERS }, receiver);
      // 100 acknowledgements of this incarnation, or none left to give: a fast earlier cycle may
      // have accepted all but a few records, which then never add up to 100 acks.
      const settled = () => ids.every((id) => ledger.accepted.has(id) || ledger.maybeAccepted.has(id));
      await pollUntil(
        'receivers to acknowledge',
        () => (ledger.acks - before >= 100 || settled() ? true : undefined),
        60_000,
        10,
      );
      await new Promise((r) => setTimeout(r, between(rnd, 0, 600))); // a random moment mid-traffic
      await server.kill9();
      stop = true;
      await Promise.all(running);
    }

    const final = server!;
    const q = (await final.client.raw('GET', `/v1/topics/${topic}/queues/${queue}`)).json as {
      accepted: number;
      archived: number;
      dead_lettered: number;
      skipped: number;
    };
    await final.stop();
    const lost = ids.filter((id) => !ledger.accepted.has(id) && !ledger.maybeAccepted.has(id)).length;
    report('queue-kill9', {
      cycles: CYCLES,
      records: RECORDS,
      receivers: RECEIVERS,
      deliveries: ledger.deliveries,
      acks: ledger.acks,
      expired_or_unknown_acks: ledger.expiredOrUnknown,
      accepted_ok: ledger.accepted.size,
      accept_answer_lost: ledger.maybeAccepted.size,
      redelivered_after_accept: ledger.redeliveredAfterAccept,
      accepted_twice: ledger.acceptedTwice,
      lost,
      unclean_starts: unclean,
      seed,
    });
    expect(ledger.redeliveredAfterAccept).toBe(0);
    expect(ledger.acceptedTwice).toBe(0);
    expect(lost).toBe(0);
    expect(q).toMatchObject({ accepted: RECORDS, archived: 0, dead_lettered: 0, skipped: 0 });
    expect(unclean).toBe(CYCLES);
  });
});
