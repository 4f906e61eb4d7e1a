// Consumer-group benchmark (`npm run bench:groups`): group consume throughput (records/s) with
// 1, 2 and 4 members fetching and committing over HTTP, and rebalance time from a join or leave
// to a settled assignment seen by every member. Sluice runs as `npm start` does (child process).
import { startSluice, stopSluice } from './lib/sluice-server.js';

const RECORDS = Number(process.env['BENCH_GROUP_RECORDS'] ?? 40_000);
const PARTITIONS = Number(process.env['BENCH_GROUP_PARTITIONS'] ?? 8);
const FETCH_MAX = 1_000;
const ROUNDS = Number(process.env['BENCH_GROUP_REBALANCES'] ?? 5);
/** The whole run is bounded: each phase gives up after this long. */
const PHASE_TIMEOUT_MS = 60_000;

interface Membership {
  member_id: string;
  generation: number;
  assignment: Array<{ topic: string; partition: number }>;
}
interface FetchBody extends Membership {
  records: Array<{ partition: number; offset: number }>;
  cursor: string;
}

let base = '';
async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

const join = (group: string, topic: string, autoCommit = false) =>
  call<Membership>('POST', `/v1/groups/${group}/members`, {
    topics: [topic],
    session_timeout_ms: 30_000,
    auto_offset_reset: 'earliest',
    auto_commit: autoCommit,
  });
const fetchAs = (group: string, member: string, waitMs = 0, cursor?: string) =>
  call<FetchBody>(
    'GET',
    `/v1/groups/${group}/members/${member}/records?max_records=${FETCH_MAX}&wait_ms=${waitMs}${cursor === undefined ? '' : `&cursor=${cursor}`}`,
  );

async function produce(topic: string): Promise<void> {
  const batch = 1_000;
  for (let sent = 0; sent < RECORDS; sent += batch) {
    const records = Array.from({ length: Math.min(batch, RECORDS - sent) }, (_, i) => ({
      value: { id: sent + i, user: `user-${(i * 7919) % 10_000}`, event: 'page_view', path: '/products/42' },
    }));
    await call('POST', `/v1/topics/${topic}/records`, { records });
  }
}

/** M members consume the whole topic, committing after every fetch; returns records/s. */
async function consume(
  topic: string,
  members: number,
  autoCommit: boolean,
): Promise<{ perSecond: number; duplicates: number }> {
  const group = `bench-${members}-${autoCommit}-${Date.now()}`;
  const joined = await Promise.all(Array.from({ length: members }, () => join(group, topic, autoCommit)));
  const seen = new Set<string>();
  let duplicates = 0;
  const started = performance.now();
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  await Promise.all(
    joined.map(async (m) => {
      let cursor: string | undefined;
      while (seen.size < RECORDS) {
        if (Date.now() > deadline) throw new Error(`consume with ${members} member(s) exceeded ${PHASE_TIMEOUT_MS} ms`);
        // The previous answer's cursor confirms it (auto_commit then commits it).
        const body = await fetchAs(group, m.member_id, 200, cursor);
        cursor = body.cursor;
        if (body.records.length === 0) continue;
        const next = new Map<number, number>();
        for (const r of body.records) {
          const k = `${r.partition}:${r.offset}`;
          if (seen.has(k)) duplicates++;
          seen.add(k);
          next.set(r.partition, r.offset + 1);
        }
        if (autoCommit) continue; // the next fetch confirms and commits this one
        await call('POST', `/v1/groups/${group}/offsets`, {
          member_id: m.member_id,
          generation: body.generation,
          offsets: [...next].map(([partition, offset]) => ({ topic, partition, offset })),
        });
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(joined.map((m) => call('DELETE', `/v1/groups/${group}/members/${m.member_id}`)));
  return { perSecond: RECORDS / seconds, duplicates };
}

/** Baseline: one client reading every partition with the stateless read API (no group). */
async function statelessRead(topic: string): Promise<number> {
  const started = performance.now();
  let total = 0;
  for (let p = 0; p < PARTITIONS; p++) {
    for (let offset = 0; ;) {
      const body = await call<{ records: unknown[]; next_offset: number }>(
        'GET',
        `/v1/topics/${topic}/partitions/${p}/records?offset=${offset}&max_records=${FETCH_MAX}`,
      );
      if (body.records.length === 0) break;
      total += body.records.length;
      offset = body.next_offset;
    }
  }
  if (total !== RECORDS) throw new Error(`stateless read saw ${total} of ${RECORDS} records`);
  return RECORDS / ((performance.now() - started) / 1000);
}

/**
 * Rebalance time: four members long-poll; a fifth joins (or one leaves). Measured from the
 * request to (a) its answer and (b) every remaining member's fetch reporting the new generation.
 */
async function rebalance(topic: string): Promise<{ joinMs: number[]; settledMs: number[]; leaveSettledMs: number[] }> {
  const group = `bench-rebalance-${Date.now()}`;
  const members = await Promise.all(Array.from({ length: 4 }, () => join(group, topic)));
  // The topic is empty, so every fetch below is a pure long-poll woken only by rebalances.
  for (const m of members) await fetchAs(group, m.member_id);
  const joinMs: number[] = [];
  const settledMs: number[] = [];
  const leaveSettledMs: number[] = [];
  const observe = (ms: Membership[], target: number, t0: number) =>
    Promise.all(
      ms.map(async (m) => {
        const deadline = Date.now() + PHASE_TIMEOUT_MS;
        for (;;) {
          const body = await fetchAs(group, m.member_id, 2_000);
          if (body.generation >= target) return performance.now() - t0;
          if (Date.now() > deadline) throw new Error('rebalance not observed in time');
        }
      }),
    );
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = performance.now();
    const joiner = await join(group, topic);
    joinMs.push(performance.now() - t0);
    const seen = await observe(members, joiner.generation, t0);
    settledMs.push(Math.max(...seen, joinMs[joinMs.length - 1] as number));
    const t1 = performance.now();
    await call('DELETE', `/v1/groups/${group}/members/${joiner.member_id}`);
    const after = await observe(members, joiner.generation + 1, t1);
    leaveSettledMs.push(Math.max(...after));
  }
  await Promise.all(members.map((m) => call('DELETE', `/v1/groups/${group}/members/${m.member_id}`)));
  return { joinMs, settledMs, leaveSettledMs };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

async function main(): Promise<void> {
  const delay = process.env['SLUICE_GROUP_REBALANCE_DELAY_MS'] ?? '100';
  // BENCH_DATABASE_URL: run against that Postgres instead of the embedded PGlite.
  const databaseUrl = process.env['BENCH_DATABASE_URL'];
  const server = await startSluice({
    env: { SLUICE_GROUP_REBALANCE_DELAY_MS: delay, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) },
  });
  base = server.url;
  try {
    const topic = `bench-groups-${Date.now()}`;
    await call('POST', '/v1/topics', { name: topic, partitions: PARTITIONS, config: { durability: 'write' } });
    await produce(topic);
    console.log(`metadata: ${databaseUrl ? 'Postgres (BENCH_DATABASE_URL)' : 'embedded PGlite'}`);
    console.log(
      `groups bench: ${RECORDS} records (~100 B) in ${PARTITIONS} partitions, up to ${FETCH_MAX} records per fetch`,
    );
    const baseline = await statelessRead(topic);
    console.log(
      `  baseline, stateless partition reads, 1 client: ${Math.round(baseline).toLocaleString('en')} records/s`,
    );
    for (const members of [1, 2, 4]) {
      for (const autoCommit of [false, true]) {
        const r = await consume(topic, members, autoCommit);
        const how = autoCommit ? 'auto_commit (1 request/batch)' : 'fetch + commit (2 requests/batch)';
        console.log(
          `  consume, ${members} member(s), ${how}: ${Math.round(r.perSecond).toLocaleString('en')} records/s (duplicates ${r.duplicates})`,
        );
      }
    }
    const empty = `bench-groups-empty-${Date.now()}`;
    await call('POST', '/v1/topics', { name: empty, partitions: PARTITIONS });
    const rb = await rebalance(empty);
    const fmt = (xs: number[]) =>
      `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
    console.log(`  rebalance (4 members + 1 joining, SLUICE_GROUP_REBALANCE_DELAY_MS=${delay}), ${ROUNDS} rounds:`);
    console.log(`    join answered with settled assignment: ${fmt(rb.joinMs)}`);
    console.log(`    join → every member saw the new generation: ${fmt(rb.settledMs)}`);
    console.log(`    leave → every member saw the new generation: ${fmt(rb.leaveSettledMs)}`);
  } finally {
    await stopSluice(server);
  }
}

await main();
