// Fault 8: answers that never reach the client. A polling group member whose every third fetch
// answer is lost (the connection cut once the server has answered) retries; an SSE group member
// whose connection is cut mid-stream reconnects with the Last-EventID of what it processed.
// Both consume while a producer appends, and the poll member now and then restarts as a new
// member: every acknowledged record is processed at least once, none is skipped. A consumer
// stops when it has everything or when it stalls (a skipped record never comes back).
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { createParser } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from '../support/server.js';
import { knob, report } from './support/figures.js';
import { between, runSeed, seededRandom } from './support/random.js';

const RECORDS = knob('FAULTS_LOST_RECORDS', 3_000, 30_000);
const PARTITIONS = 4;
const DEADLINE_MS = knob('FAULTS_LOST_DEADLINE_MS', 90_000, 600_000);
/** After the producer finished, this long without a new record means the rest was skipped. */
const STALL_MS = 3_000;
const seed = runSeed();
const rnd = seededRandom(seed);

let env: TestEnv;
let server: TestServer;
beforeAll(async () => {
  env = await createTestEnv({ SLUICE_GROUP_REBALANCE_DELAY_MS: '20', SLUICE_SSE_KEEPALIVE_MS: '500' });
  server = await startTestServer(env);
});
afterAll(async () => {
  await server?.stop();
  await env?.cleanup();
});

const agent = new http.Agent({ keepAlive: false });

interface Answer {
  status: number;
  body: string;
}

/** One request; with `lose`, the connection is cut as soon as the answer starts to arrive. */
function request(method: string, path: string, body?: unknown, lose = false): Promise<Answer | 'lost'> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${server.url}${path}`,
      { method, agent, headers: body === undefined ? {} : { 'content-type': 'application/json' } },
      (res) => {
        if (lose) {
          res.destroy();
          req.destroy();
          resolve('lost');
          return;
        }
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
  const a = await request(method, path, body);
  if (a === 'lost' || a.status >= 300) throw new Error(`${method} ${path} → ${a === 'lost' ? a : a.status}`);
  return (a.body ? JSON.parse(a.body) : undefined) as T;
}

/** Produce RECORDS records in batches; resolves with every acknowledged `partition:offset`. */
async function produceAll(topic: string): Promise<Set<string>> {
  const acked = new Set<string>();
  for (let sent = 0; sent < RECORDS;) {
    const n = Math.min(RECORDS - sent, between(rnd, 1, 50));
    const records = Array.from({ length: n }, (_, i) => ({ value: { n: sent + i } }));
    const r = await json<{ offsets: Array<{ partition: number; offset: number }> }>(
      'POST',
      `/v1/topics/${topic}/records`,
      { records },
    );
    for (const o of r.offsets) acked.add(`${o.partition}:${o.offset}`);
    sent += n;
  }
  producedAt = Date.now();
  return acked;
}

interface Tally {
  group: string;
  processed: Map<string, number>;
  lost: number;
  restarts: number;
  /** When a record was last processed for the first time. */
  progressAt: number;
}

const newTally = (group: string): Tally => ({
  group,
  processed: new Map(),
  lost: 0,
  restarts: 0,
  progressAt: Date.now(),
});

function processed(t: Tally, r: { partition: number; offset: number }): void {
  const k = `${r.partition}:${r.offset}`;
  const n = t.processed.get(k) ?? 0;
  if (n === 0) t.progressAt = Date.now();
  t.processed.set(k, n + 1);
}

/** Done: everything acknowledged was processed, or the producer is done and nothing new comes. */
function finished(acked: Set<string> | undefined, t: Tally): boolean {
  if (acked === undefined) return false;
  if ([...acked].every((k) => t.processed.has(k))) return true;
  return Date.now() - Math.max(t.progressAt, producedAt) > STALL_MS;
}
let producedAt = Number.MAX_SAFE_INTEGER;

function figures(acked: Set<string>, t: Tally) {
  const skipped = [...acked].filter((k) => !t.processed.has(k)).length;
  const deliveries = [...t.processed.values()].reduce((a, b) => a + b, 0);
  return { acked: acked.size, processed: t.processed.size, redelivered: deliveries - t.processed.size, skipped };
}

/** A polling member (auto_commit): every third fetch answer is lost; every ~25th fetch it restarts. */
async function pollConsumer(topic: string, done: () => Set<string> | undefined): Promise<Tally> {
  const group = `g-poll-${randomUUID()}`;
  const t = newTally(group);
  const join = async () =>
    (
      await json<{ member_id: string }>('POST', `/v1/groups/${group}/members`, {
        topics: [topic],
        auto_offset_reset: 'earliest',
        auto_commit: true,
      })
    ).member_id;
  let member = await join();
  let cursor: string | undefined;
  const deadline = Date.now() + DEADLINE_MS;
  for (let fetches = 1; !finished(done(), t); fetches++) {
    if (Date.now() > deadline) throw new Error('poll consumer did not cover every acknowledged record in time');
    if (fetches % 25 === 0) {
      // A restart: leave without confirming the last answer (it was processed, but the process
      // "crashed" before saying so), then a new member resumes from what was committed.
      await json('DELETE', `/v1/groups/${group}/members/${member}`);
      member = await join();
      cursor = undefined;
      t.restarts++;
      continue;
    }
    const path = `/v1/groups/${group}/members/${member}/records?max_records=${between(rnd, 1, 200)}&wait_ms=200${
      cursor === undefined ? '' : `&cursor=${cursor}`
    }`;
    const answer = await request('GET', path, undefined, fetches % 3 === 0);
    if (answer === 'lost') {
      t.lost++;
      continue; // retry with the same cursor: the lost records must come back
    }
    if (answer.status !== 200) throw new Error(`fetch → ${answer.status}: ${answer.body}`);
    const body = JSON.parse(answer.body) as { records: Array<{ partition: number; offset: number }>; cursor: string };
    for (const r of body.records) processed(t, r);
    cursor = body.cursor;
  }
  await json('DELETE', `/v1/groups/${group}/members/${member}${cursor === undefined ? '' : `?cursor=${cursor}`}`);
  return t;
}

/**
 * An SSE member (auto-commit): each connection is cut after a random number of records, while
 * more are in flight; the client reconnects with the id of the last record it processed.
 */
async function sseConsumer(topic: string, done: () => Set<string> | undefined): Promise<Tally> {
  const group = `g-sse-${randomUUID()}`;
  const t = newTally(group);
  let lastEventId: string | undefined;
  const deadline = Date.now() + DEADLINE_MS;
  while (!finished(done(), t)) {
    if (Date.now() > deadline) throw new Error('SSE consumer did not cover every acknowledged record in time');
    const budget = between(rnd, 20, 400);
    const cut = await new Promise<boolean>((resolve, reject) => {
      let seen = 0;
      let closed = false;
      const req = http.get(
        `${server.url}/v1/groups/${group}/events?topics=${topic}&auto_offset_reset=earliest`,
        { agent, headers: lastEventId === undefined ? {} : { 'last-event-id': lastEventId } },
        (res) => {
          if (res.statusCode !== 200) {
            reject(new Error(`group events → ${res.statusCode}`));
            return;
          }
          const end = (wasCut: boolean) => {
            if (closed) return;
            closed = true;
            clearInterval(watch);
            req.destroy();
            resolve(wasCut);
          };
          const parser = createParser({
            onEvent: (e) => {
              if (closed || e.event !== 'record') return;
              processed(t, JSON.parse(e.data) as { partition: number; offset: number });
              lastEventId = e.id;
              if (++seen >= budget) end(true); // the rest of this chunk and the socket buffer are lost
            },
          });
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => parser.feed(chunk));
          res.on('error', () => end(false));
          res.on('end', () => end(false));
          // Caught up (or stalled): end this connection cleanly.
          const watch = setInterval(() => {
            if (finished(done(), t)) end(false);
          }, 50);
        },
      );
      req.on('error', (error) => (closed ? undefined : reject(error)));
    });
    if (cut) t.lost++;
    t.restarts++;
  }
  return t;
}

describe('lost answers', () => {
  it(`${RECORDS} records: a poll member losing every third answer and an SSE member cut mid-stream process every record`, async () => {
    const topic = `t-${randomUUID()}`;
    await json('POST', '/v1/topics', { name: topic, partitions: PARTITIONS });
    let acked: Set<string> | undefined;
    const producing = produceAll(topic).then((a) => (acked = a));
    const [poll, sse] = await Promise.all([
      pollConsumer(topic, () => acked),
      sseConsumer(topic, () => acked),
      producing,
    ]);
    const a = acked as unknown as Set<string>;
    const p = figures(a, poll);
    const s = figures(a, sse);
    report('lost-answers', {
      seed,
      poll_acked: p.acked,
      poll_processed: p.processed,
      poll_redelivered: p.redelivered,
      poll_skipped: p.skipped,
      poll_lost_answers: poll.lost,
      poll_restarts: poll.restarts,
      sse_acked: s.acked,
      sse_processed: s.processed,
      sse_redelivered: s.redelivered,
      sse_skipped: s.skipped,
      sse_cuts: sse.lost,
      sse_connections: sse.restarts,
    });
    expect(poll.lost).toBeGreaterThan(0);
    expect(sse.lost).toBeGreaterThan(0);
    expect(p.skipped).toBe(0);
    expect(s.skipped).toBe(0);
    // Nothing but acknowledged records was delivered.
    expect([...poll.processed.keys()].every((k) => a.has(k))).toBe(true);
    expect([...sse.processed.keys()].every((k) => a.has(k))).toBe(true);
    // The poll member confirmed its last answer on leave: its group committed everything.
    const g = await json<{ total_lag: number }>('GET', `/v1/groups/${poll.group}`);
    expect(g.total_lag).toBe(0);
  });
});
