// Fault 1: kill -9 at random moments under concurrent producers (plain, Idempotency-Key and
// Producer-Seq), N cycles on one DATA_DIR: no acknowledged record lost, no duplicate, no gap.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, type Client } from '../support/client.js';
import { createTestEnv, type TestEnv } from '../support/server.js';
import { killAllChildren, startChild, type ChildServer } from '../support/child-server.js';
import { knob, pollUntil, report } from './support/figures.js';
import { offsetGaps, readPartition } from './support/partition-reader.js';
import { between, runSeed, seededRandom } from './support/random.js';

const CYCLES = knob('FAULTS_KILL9_CYCLES', 5, 50);
const PARTITIONS = 3;
const seed = runSeed();
const rnd = seededRandom(seed);

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv({ SLUICE_LOG_STORE: 'file' });
});
afterAll(async () => {
  killAllChildren();
  await env?.cleanup();
});

type Kind = 'plain' | 'key' | 'seq';
interface Request {
  kind: Kind;
  topic: string;
  records: Array<{ key?: string; value: { id: string } }>;
  headers: Record<string, string>;
}

/** Every acknowledged (topic, partition, offset) → record id; plus ids that must end up exactly once. */
class Ledger {
  readonly acked = new Map<string, string>();
  readonly mustExist = new Set<string>();
  ackCount = 0;
  rejected = 0;
  ack(req: Request, offsets: Array<{ partition: number; offset: number }>): void {
    offsets.forEach((o, i) => {
      const where = `${req.topic}/${o.partition}/${o.offset}`;
      const id = req.records[i]!.value.id;
      const before = this.acked.get(where);
      // Two acks naming one offset for different records would itself be a lost record.
      if (before !== undefined && before !== id)
        throw new Error(`offset ${where} acknowledged for ${before} and ${id}`);
      this.acked.set(where, id);
    });
    this.ackCount += offsets.length;
    if (req.kind !== 'plain') for (const r of req.records) this.mustExist.add(r.value.id);
  }
}

/** Sends one request; 'ok', 'retry' (outcome unknown: connection died or 5xx) or throws on a wrong answer. */
async function send(client: Client, req: Request, ledger: Ledger): Promise<'ok' | 'retry'> {
  let res;
  try {
    res = await client.raw('POST', `/v1/topics/${req.topic}/records`, {
      body: JSON.stringify({ records: req.records }),
      headers: { 'content-type': 'application/json', ...req.headers },
    });
  } catch {
    return 'retry';
  }
  if (res.status === 200) {
    ledger.ack(req, (res.json as { offsets: Array<{ partition: number; offset: number }> }).offsets);
    return 'ok';
  }
  if (res.status === 503 || res.status === 507) {
    ledger.rejected++;
    return 'retry';
  }
  throw new Error(`${req.kind} produce answered ${res.status}: ${res.text}`);
}

describe('kill -9 under concurrent producers', () => {
  it(`${CYCLES} random kills: acknowledged-lost 0, duplicates 0, gaps 0`, async () => {
    const topics = [`t-fsync-${randomUUID()}`, `t-write-${randomUUID()}`];
    const ledger = new Ledger();
    // Requests whose outcome a kill hid: idempotent ones are retried with identical headers and body.
    const pending: Request[] = [];
    const seqState = [0, 1].map((w) => ({ id: String(1000 + w + Math.floor(rnd() * 1e9)), next: 0 }));
    const recoveryMs: number[] = [];
    const startMs: number[] = [];
    let truncatedBytes = 0;
    let uncleanStarts = 0;
    let counter = 0;
    const nextId = (w: string) => `${w}-${counter++}`;

    let server: ChildServer | undefined;
    for (let cycle = 0; cycle <= CYCLES; cycle++) {
      server = await startChild(env.env);
      const { client } = server;
      startMs.push(server.startMs);
      recoveryMs.push(server.recovery.durationMs);
      if (!server.recovery.cleanShutdown) uncleanStarts++;
      truncatedBytes += server.recovery.truncated.reduce((n, t) => n + t.bytes, 0);
      expect(server.recovery.quarantined).toEqual([]);
      if (cycle === 0) {
        expectStatus(await client.post('/v1/topics', { body: { name: topics[0]!, partitions: PARTITIONS } }), 201);
        expectStatus(
          await client.post('/v1/topics', {
            body: { name: topics[1]!, partitions: PARTITIONS, config: { durability: 'write' } },
          }),
          201,
        );
      }
      // Settle what the last kill left unknown before new traffic (a producer retries first).
      while (pending.length > 0) {
        const req = pending[0]!;
        if ((await send(client, req, ledger)) === 'retry') throw new Error('retry after restart failed');
        pending.shift();
      }
      if (cycle === CYCLES) break; // the final incarnation only verifies

      let stop = false;
      let cycleAcks = 0;
      const plain = async (w: number) => {
        while (!stop) {
          const req: Request = {
            kind: 'plain',
            topic: topics[w % 2]!,
            records: Array.from({ length: 5 }, () => ({ value: { id: nextId(`p${w}`) } })),
            headers: {},
          };
          if ((await send(client, req, ledger)) === 'retry') return; // not retried: at-most-once producer
          cycleAcks++;
        }
      };
      const keyed = async (w: number) => {
        while (!stop) {
          const req: Request = {
            kind: 'key',
            topic: topics[w % 2]!,
            records: Array.from({ length: 4 }, (_, i) => ({ key: `k${w}-${i}`, value: { id: nextId(`k${w}`) } })),
            headers: { 'idempotency-key': randomUUID() },
          };
          if ((await send(client, req, ledger)) === 'retry') return void pending.push(req);
          cycleAcks++;
        }
      };
      const sequenced = async (w: number) => {
        const st = seqState[w]!;
        while (!stop) {
          const req: Request = {
            kind: 'seq',
            topic: topics[0]!,
            records: Array.from({ length: 3 }, () => ({ value: { id: nextId(`s${w}`) } })),
            headers: { 'producer-id': st.id, 'producer-epoch': '0', 'producer-seq': String(st.next) },
          };
          const outcome = await send(client, req, ledger);
          st.next++; // the retry (if any) reuses this seq; the next request after it takes seq+1
          if (outcome === 'retry') return void pending.push(req);
          cycleAcks++;
        }
      };
      const running = [plain(0), plain(1), keyed(0), keyed(1), sequenced(0), sequenced(1)];
      await pollUntil('producers to be acknowledged', () => (cycleAcks >= 20 ? true : undefined), 30_000, 10);
      await new Promise((r) => setTimeout(r, between(rnd, 0, 800))); // a random moment mid-traffic
      await server.kill9();
      stop = true;
      await Promise.all(running);
    }

    // Verify on the final incarnation (still running, after the last kill's retries).
    const final = server!;
    let lost = 0;
    let dup = 0;
    let gaps = 0;
    let missing = 0;
    const seen = new Map<string, number>();
    for (const topic of topics) {
      for (let p = 0; p < PARTITIONS; p++) {
        const { records } = await readPartition(final.client, topic, p);
        gaps += offsetGaps(records);
        const byOffset = new Map(records.map((r) => [r.offset, (r.value as { id: string }).id]));
        for (const r of records) {
          const id = (r.value as { id: string }).id;
          seen.set(id, (seen.get(id) ?? 0) + 1);
        }
        for (const [where, id] of ledger.acked) {
          const [t, part, off] = where.split('/');
          if (t === topic && Number(part) === p && byOffset.get(Number(off)) !== id) lost++;
        }
      }
    }
    for (const n of seen.values()) if (n > 1) dup += n - 1;
    for (const id of ledger.mustExist) if (!seen.has(id)) missing++;
    await final.stop();

    report('kill9', {
      cycles: CYCLES,
      acked: ledger.ackCount,
      lost,
      dup,
      gaps,
      idempotent_missing: missing,
      rejected_5xx: ledger.rejected,
      unclean_starts: uncleanStarts,
      recovery_ms_max: Math.max(...recoveryMs),
      restart_ms_max: Math.max(...startMs),
      truncated_bytes: truncatedBytes,
      seed,
    });
    expect(ledger.ackCount).toBeGreaterThan(CYCLES * 20);
    expect({ lost, dup, gaps, missing }).toEqual({ lost: 0, dup: 0, gaps: 0, missing: 0 });
    expect(uncleanStarts).toBeGreaterThanOrEqual(CYCLES); // every restart after a kill (a fresh DATA_DIR has no marker either)
  }, 600_000);
});
