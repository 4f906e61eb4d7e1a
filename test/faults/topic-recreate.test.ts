// Fault: a topic deleted and created again, several times, under a running group member, a
// webhook and an SSE reader (a real server process), while records are being produced. Each
// incarnation is read from its offset 0 with no gap by all three; nothing of a deleted one
// reaches them afterwards; the process answers /healthz throughout.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestReceiver } from '../../src/webhooks/webhooks-test-kit.js';
import { killAllChildren, startChild, type ChildServer } from '../support/child-server.js';
import { createTestEnv, type TestEnv } from '../support/server.js';
import { knob, pollUntil, report } from './support/figures.js';
import { between, runSeed, seededRandom } from './support/random.js';

const CYCLES = knob('FAULTS_RECREATE_CYCLES', 4, 20);
const PARTITIONS = 2;
const seed = runSeed();
const rnd = seededRandom(seed);

let env: TestEnv;
let server: ChildServer;
/** Error-level lines the server logged (a 500 names its cause here). */
const serverErrors: string[] = [];
const receivers: TestReceiver[] = [];
beforeAll(async () => {
  env = await createTestEnv({
    SLUICE_LOG_STORE: 'file',
    SLUICE_WEBHOOK_ALLOW_PRIVATE: 'true',
    SLUICE_GROUP_REBALANCE_DELAY_MS: '50',
  });
  server = await startChild(env.env);
  server.child.stdout!.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n'))
      if (line.includes('"level":50')) serverErrors.push(line.slice(0, 3000));
  });
});
afterAll(async () => {
  await server?.stop().catch(() => undefined);
  killAllChildren();
  await Promise.all(receivers.map((r) => r.close()));
  await env?.cleanup();
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function call(
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 15_000,
): Promise<{ status: number; json: Json }> {
  const res = await fetch(server.url + path, {
    method,
    signal: AbortSignal.timeout(timeoutMs),
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  const text = await res.text();
  let json: Json = {};
  try {
    json = JSON.parse(text) as Json;
  } catch {
    // not JSON
  }
  return { status: res.status, json };
}

/** A record as a reader saw it: which incarnation produced it (from its value), where it sits. */
interface Seen {
  inc: number;
  partition: number;
  offset: number;
}

/** Per incarnation and partition, the distinct offsets seen. */
function offsetsOf(seen: Seen[]): Map<string, number[]> {
  const out = new Map<string, Set<number>>();
  for (const s of seen) {
    const k = `${s.inc}/${s.partition}`;
    if (!out.has(k)) out.set(k, new Set());
    out.get(k)!.add(s.offset);
  }
  return new Map([...out].map(([k, v]) => [k, [...v].sort((a, b) => a - b)]));
}

/** Gaps: an incarnation's partition whose offsets seen are not exactly 0..n-1 (a skip). */
function gaps(seen: Seen[]): string[] {
  const bad: string[] = [];
  for (const [k, offsets] of offsetsOf(seen))
    if (offsets.some((o, i) => o !== i)) bad.push(`${k}: ${offsets.join(',')}`);
  return bad;
}

/** The topic stream, reopened with its cursor when it ends; without one when the cursor is refused. */
function sseReader(topic: string, seen: Seen[], stats: { opens: number; refused: number; stale: number }) {
  const controller = new AbortController();
  let cursor: string | undefined;
  let current = -1;
  const run = async () => {
    while (!controller.signal.aborted) {
      let res: Response;
      try {
        res = await fetch(`${server.url}/v1/topics/${topic}/events?from=earliest`, {
          headers: cursor ? { 'last-event-id': cursor } : {},
          signal: controller.signal,
        });
      } catch {
        continue;
      }
      if (res.status !== 200) {
        await res.body?.cancel();
        if (res.status === 410) {
          // A cursor of the deleted topic: the new topic is read from its start.
          stats.refused++;
          cursor = undefined;
        }
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      stats.opens++;
      let buffer = '';
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body!) {
          buffer += decoder.decode(chunk as Uint8Array, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message';
            let data = '';
            let id: string | undefined;
            for (const line of frame.split('\n')) {
              if (line.startsWith('event: ')) event = line.slice(7);
              else if (line.startsWith('data: ')) data += line.slice(6);
              else if (line.startsWith('id: ')) id = line.slice(4);
            }
            if (event !== 'record') continue;
            const rec = JSON.parse(data) as Json;
            const inc = rec.value.inc as number;
            if (inc < current) stats.stale++;
            current = Math.max(current, inc);
            seen.push({ inc, partition: rec.partition as number, offset: rec.offset as number });
            if (id !== undefined) cursor = id;
          }
        }
      } catch {
        // aborted or cut: reopen
      }
    }
  };
  const done = run();
  return { stop: async () => (controller.abort(), await done) };
}

/** A poll member of `group`: fetch, remember, commit what it got; `deletedAt` marks fetches sent after a delete. */
function groupMember(group: string, topic: string, seen: Seen[], deletedAt: Map<number, number>, stats: Json) {
  let stopped = false;
  /** Join (again), waiting while the topic does not exist. */
  const join = async (): Promise<Json> => {
    for (;;) {
      const res = await call('POST', `/v1/groups/${group}/members`, { topics: [topic], auto_offset_reset: 'earliest' });
      if (res.status === 201) return res.json;
      stats.joinRetries++;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const run = async () => {
    let member = await join();
    // The last answer's cursor confirms its records (the next fetch continues after them).
    let cursor = '';
    while (!stopped) {
      const sentAt = Date.now();
      const res = await call(
        'GET',
        `/v1/groups/${group}/members/${member.member_id}/records?wait_ms=500&max_records=50&cursor=${cursor}`,
      );
      if (res.status === 404) {
        member = await join();
        cursor = '';
        continue;
      }
      if (res.status !== 200) {
        stats.fetchErrors++;
        stats.errors.push(`fetch ${res.status} ${res.json.error?.code}: ${res.json.error?.message}`);
        continue;
      }
      cursor = encodeURIComponent((res.json.cursor as string | undefined) ?? '');
      const next = new Map<number, number>();
      for (const rec of res.json.records as Json[]) {
        const inc = rec.value.inc as number;
        const deleted = deletedAt.get(inc);
        if (deleted !== undefined && sentAt > deleted) stats.staleAfterDelete++;
        seen.push({ inc, partition: rec.partition, offset: rec.offset });
        next.set(rec.partition as number, (rec.offset as number) + 1);
      }
      if (next.size > 0) {
        const offsets = [...next].map(([partition, offset]) => ({ topic, partition, offset }));
        const commit = await call('POST', `/v1/groups/${group}/offsets`, {
          member_id: member.member_id,
          generation: res.json.generation,
          offsets,
        });
        if (commit.status >= 500) {
          stats.fetchErrors++;
          stats.errors.push(`commit ${commit.status} ${commit.json.error?.code}: ${commit.json.error?.message}`);
        }
      }
    }
  };
  const done = run();
  return {
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

describe('topic deleted and re-created under running readers', () => {
  it(`${CYCLES} delete/re-create cycles: no gap on any incarnation, nothing of a deleted one afterwards, /healthz answers`, async () => {
    const topic = `t-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    const health = { checks: 0, failures: 0, maxMs: 0 };
    let watching = true;
    const watchdog = (async () => {
      while (watching) {
        const started = Date.now();
        try {
          const res = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
          await res.arrayBuffer();
          if (res.status !== 200) health.failures++;
        } catch {
          health.failures++;
        }
        health.checks++;
        health.maxMs = Math.max(health.maxMs, Date.now() - started);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    const memberSeen: Seen[] = [];
    const sseSeen: Seen[] = [];
    const deletedAt = new Map<number, number>();
    const memberStats = { fetchErrors: 0, staleAfterDelete: 0, joinRetries: 0, errors: [] as string[] };
    const sseStats = { opens: 0, refused: 0, stale: 0 };
    const hooks: Array<{ inc: number; id: string; receiver: TestReceiver }> = [];
    const produced = new Map<string, number>(); // `${inc}/${partition}` → count acknowledged

    expect((await call('POST', '/v1/topics', { name: topic, partitions: PARTITIONS })).status).toBe(201);
    const member = groupMember(group, topic, memberSeen, deletedAt, memberStats);
    const sse = sseReader(topic, sseSeen, sseStats);

    for (let inc = 0; inc < CYCLES; inc++) {
      if (inc > 0) expect((await call('POST', '/v1/topics', { name: topic, partitions: PARTITIONS })).status).toBe(201);
      const receiver = await TestReceiver.start();
      receivers.push(receiver);
      const hook = await call('POST', '/v1/webhooks', {
        topic,
        url: receiver.url,
        from: 'earliest',
        batch: { max_records: 7 },
        retry: { initial_backoff_ms: 5, max_backoff_ms: 50 },
      });
      expect(hook.status).toBe(201);
      hooks.push({ inc, id: hook.json.id as string, receiver });

      // Produce in a few requests; the last incarnation is read to the end, the others are
      // deleted part-way (readers behind, a batch perhaps in flight).
      const requests = between(rnd, 3, 8);
      for (let r = 0; r < requests; r++) {
        const records = Array.from({ length: 10 }, (_, i) => ({ partition: i % PARTITIONS, value: { inc, r, i } }));
        const res = await call('POST', `/v1/topics/${topic}/records`, { records });
        expect(res.status).toBe(200);
        for (const o of res.json.offsets as Array<{ partition: number }>) {
          const k = `${inc}/${o.partition}`;
          produced.set(k, (produced.get(k) ?? 0) + 1);
        }
      }
      if (inc === CYCLES - 1) break;
      // Delete under the readers: each has started on this incarnation (and is perhaps behind).
      await pollUntil(
        `readers on incarnation ${inc}`,
        () =>
          memberSeen.some((x) => x.inc === inc) && sseSeen.some((x) => x.inc === inc) && receiver.requests.length > 0
            ? true
            : undefined,
        30_000,
      );
      if (rnd() < 0.5) await new Promise((r) => setTimeout(r, between(rnd, 0, 300)));
      const del = await call('DELETE', `/v1/topics/${topic}`, undefined, 10_000);
      expect(del.status).toBe(204);
      deletedAt.set(inc, Date.now());
      const ended = await call('GET', `/v1/webhooks/${hook.json.id}`);
      expect(ended.json.state).toBe('topic_deleted');
    }

    // The last incarnation: every reader gets all of it.
    const last = CYCLES - 1;
    const total = [...produced].filter(([k]) => k.startsWith(`${last}/`)).reduce((s, [, n]) => s + n, 0);
    const distinct = (seen: Seen[]) =>
      new Set(seen.filter((s) => s.inc === last).map((s) => `${s.partition}/${s.offset}`)).size;
    const lastHook = hooks.at(-1)!;
    const hookSeen = (h: (typeof hooks)[number]): Seen[] =>
      h.receiver.requests
        .filter((q) => q.accepted)
        .flatMap((q) =>
          q.json.records.map((r) => ({
            inc: (r.value as Json).inc as number,
            partition: r.partition,
            offset: r.offset,
          })),
        );
    await pollUntil(
      'the last incarnation read by all',
      () =>
        distinct(memberSeen) === total && distinct(sseSeen) === total && distinct(hookSeen(lastHook)) === total
          ? true
          : undefined,
      30_000,
    );
    await member.stop();
    await sse.stop();
    watching = false;
    await watchdog;

    // Nothing skipped: what each reader saw of each incarnation is a prefix 0..n-1 per partition.
    expect(gaps(memberSeen)).toEqual([]);
    expect(gaps(sseSeen)).toEqual([]);
    for (const h of hooks) {
      const seen = hookSeen(h);
      expect(gaps(seen)).toEqual([]);
      // A webhook delivers its own incarnation only.
      expect(seen.filter((s) => s.inc !== h.inc)).toEqual([]);
    }
    // Nothing of a deleted incarnation afterwards.
    expect(memberStats.staleAfterDelete).toBe(0);
    expect(sseStats.stale).toBe(0);
    expect(health.failures).toBe(0);
    if (serverErrors.length > 0) console.log(serverErrors.slice(0, 3).join('\n'));
    // Fetches and commits racing a delete may be refused (404, 409), never fail (5xx).
    expect(memberStats.errors.filter((e) => / 5\d\d /.test(e))).toEqual([]);

    report('topic-recreate', {
      seed,
      cycles: CYCLES,
      member_records: memberSeen.length,
      sse_records: sseSeen.length,
      webhook_records: hooks.reduce((s, h) => s + hookSeen(h).length, 0),
      sse_opens: sseStats.opens,
      sse_cursors_refused: sseStats.refused,
      member_fetch_errors: memberStats.fetchErrors,
      member_rejoins: memberStats.joinRetries,
      stale_deliveries: memberStats.staleAfterDelete + sseStats.stale,
      healthz_checks: health.checks,
      healthz_failures: health.failures,
      healthz_max_ms: health.maxMs,
    });
  });
});
