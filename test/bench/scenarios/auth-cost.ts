// Scenario: what access control costs — single-record produce and SSE delivery against three
// servers loaded at the same time (SLUICE_AUTH=none, one requiring an API key / browser token, and
// a second auth-off server as a control for the noise floor), so all three see the same machine
// load; each round gives an on/off and a control/off ratio, shown as medians with min–max spread.
import fs from 'node:fs';
import { pino } from 'pino';
import type { ApiKey, ApiKeyStore } from '../../../src/auth/api-keys.js';
import { hashSecret, KEY_CACHE_MAX_AGE_MS } from '../../../src/auth/api-keys.js';
import { AuthService } from '../../../src/auth/auth-service.js';
import { FreshCache } from '../../../src/auth/fresh-cache.js';
import { ok } from '../../../src/lib/result.js';
import { TokenSigner } from '../../../src/auth/tokens.js';
import { uniqueName, type Scenario } from '../lib/context.js';
import { nowMs } from '../lib/histogram.js';
import { closedLoop, createPool, requestJson, send, type RequestSpec } from '../lib/load.js';
import { sleep } from '../lib/processes.js';
import { sluiceJsonBody, valueJson, values } from '../lib/records.js';
import { type Row, type ScenarioResult } from '../lib/report.js';
import { startSluice, stopSluice, type SluiceServer } from '../lib/sluice-server.js';
import { subscribeSse, type Subscription } from '../lib/subscribers.js';

const CONNECTIONS = 8;
const ADMIN_KEY = `bench-admin-${'x'.repeat(32)}`;
const ALL = ['read', 'write', 'create', 'delete', 'alter', 'describe'];

type Label = 'auth off' | 'auth on' | 'control';

interface Side {
  label: Label;
  server: SluiceServer;
  /** Headers for API calls (a key with grants on `bench-` topics when auth is on). */
  headers: Record<string, string>;
  /** Query string for SSE URLs (a browser token when auth is on). */
  sseQuery: string;
}

/** CPU time (ms, ns resolution) the server process has run so far, from /proc/<pid>/schedstat; NaN elsewhere. */
function cpuMs(server: SluiceServer): number {
  try {
    // Sum over the process's threads (the main thread plus libuv/V8 workers).
    const dir = `/proc/${server.child.proc.pid}/task`;
    let ns = 0;
    for (const tid of fs.readdirSync(dir)) {
      ns += Number(fs.readFileSync(`${dir}/${tid}/schedstat`, 'utf8').split(' ')[0]);
    }
    return ns / 1e6;
  } catch {
    return NaN;
  }
}

interface Measured {
  /** Throughput (requests/s or deliveries/s). */
  rate: number;
  /** Server CPU ms per 1000 requests or deliveries: what auth costs, barely moved by other load on the box. */
  cpuPer1000: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function prepare(label: Label, server: SluiceServer): Promise<Side> {
  if (label !== 'auth on') return { label, server, headers: {}, sseQuery: '' };
  const pool = createPool(server.url, 1);
  const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
  const grants = [{ resource: 'topic', name: 'bench-', pattern: 'prefixed', actions: ALL }];
  const { body: key } = await requestJson<{ key: string }>(pool, {
    method: 'POST',
    path: '/v1/keys',
    headers: admin,
    body: JSON.stringify({ name: 'bench', grants }),
  });
  const headers = { authorization: `Bearer ${key.key}` };
  const { body: token } = await requestJson<{ token: string }>(pool, {
    method: 'POST',
    path: '/v1/tokens',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ grants, ttl_ms: 3_600_000 }),
  });
  await pool.close();
  return { label, server, headers, sseQuery: `&access_token=${encodeURIComponent(token.token)}` };
}

async function createTopic(side: Side): Promise<string> {
  const pool = createPool(side.server.url, 1);
  const topic = uniqueName('bench-auth');
  await requestJson(pool, {
    method: 'POST',
    path: '/v1/topics',
    headers: side.headers,
    body: JSON.stringify({ name: topic, partitions: 4, config: { durability: 'write' } }),
  });
  await pool.close();
  return topic;
}

/** Closed-loop single-record produce for `durationMs`: requests/s. */
async function produceRound(side: Side, topic: string, durationMs: number): Promise<Measured> {
  const pool = createPool(side.server.url, CONNECTIONS);
  const spec = (i: number): RequestSpec => ({
    method: 'POST',
    path: `/v1/topics/${topic}/records`,
    headers: { ...side.headers, 'content-type': 'application/json' },
    body: sluiceJsonBody([valueJson(i)]),
  });
  await closedLoop(pool, 200, CONNECTIONS, spec, 1_000);
  const cpu0 = cpuMs(side.server);
  const r = await closedLoop(pool, Number.MAX_SAFE_INTEGER, CONNECTIONS, spec, durationMs);
  const cpu = cpuMs(side.server) - cpu0;
  await pool.close();
  if (r.errors) throw new Error(`${side.label} produce: ${r.errors} errors: ${r.firstError}`);
  return { rate: r.reqPerSec, cpuPer1000: (cpu / r.requests) * 1000 };
}

/** `subscribers` SSE streams on one partition; `records` produced in batches of 100 as fast as accepted: deliveries/s. */
async function sseRound(side: Side, topic: string, subscribers: number, records: number): Promise<Measured> {
  const pool = createPool(side.server.url, 2);
  const subs: Subscription[] = [];
  const cpu0 = cpuMs(side.server);
  try {
    for (let i = 0; i < subscribers; i++) {
      subs.push(
        subscribeSse(
          `${side.server.url}/v1/topics/${topic}/partitions/0/events?from=latest${side.sseQuery}`,
          () => undefined,
        ),
      );
    }
    await Promise.all(subs.map((s) => s.ready));
    const started = nowMs();
    for (let sent = 0; sent < records; sent += 100) {
      const r = await send(pool, {
        method: 'POST',
        path: `/v1/topics/${topic}/records`,
        headers: { ...side.headers, 'content-type': 'application/json' },
        body: sluiceJsonBody(values(Math.min(100, records - sent), sent), 0),
      });
      if (!r.ok) throw new Error(`${side.label} produce for SSE: ${r.error}`);
    }
    const deadline = started + 120_000;
    while (subs.some((s) => s.events() < records)) {
      if (nowMs() > deadline) throw new Error(`${side.label}: SSE delivery incomplete after 120 s`);
      await sleep(5);
    }
    const deliveries = subscribers * records;
    return {
      rate: deliveries / ((nowMs() - started) / 1000),
      cpuPer1000: ((cpuMs(side.server) - cpu0) / deliveries) * 1000,
    };
  } finally {
    for (const s of subs) s.close();
    await pool.close();
  }
}

/** Each round's `side` value over the same round's auth-off value: same-run ratios that cancel drifts in machine load. */
function pairedRatios(rounds: Record<Label, Measured[]>, side: Label, pick: (m: Measured) => number): number[] {
  return rounds[side].map((m, i) => pick(m) / pick(rounds['auth off'][i]!));
}

const spread = (xs: number[]) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;

/**
 * The two rows of one workload: throughput (auth on ≥ 0.95× off) and server CPU per 1000 (≤ 1.05×),
 * each judged on the median of the per-round ratios, with their spread and the control's beside.
 */
function workloadRows(
  scenario: string,
  rateName: string,
  rateUnit: Row['unit'],
  rounds: Record<Label, Measured[]>,
): Row[] {
  const offName = 'auth off (SLUICE_AUTH=none)';
  const row = (metric: string, unit: Row['unit'], pick: (m: Measured) => number, higherIsBetter: boolean): Row => {
    const on = pairedRatios(rounds, 'auth on', pick);
    const control = pairedRatios(rounds, 'control', pick);
    const ratio = median(on);
    const ok = Number.isFinite(ratio) ? (higherIsBetter ? ratio >= 0.95 : ratio <= 1.05) : null;
    return {
      scenario,
      metric,
      unit,
      sluice: median(rounds['auth on'].map(pick)),
      other: { name: offName, value: median(rounds['auth off'].map(pick)) },
      ratio,
      target: higherIsBetter ? '≥ 0.95× auth off' : '≤ 1.05× auth off',
      met: ok,
      note:
        `ratio = median of ${on.length} same-round on/off ratios (spread ${spread(on)}); ` +
        `control, a second auth-off server: ${median(control).toFixed(2)}× (spread ${spread(control)})`,
    };
  };
  return [
    row(rateName, rateUnit, (m) => m.rate, true),
    row(
      `server CPU per 1000 ${rateName === 'requests/s' ? 'requests' : 'deliveries'}`,
      'ms',
      (m) => m.cpuPer1000,
      false,
    ),
  ];
}

/**
 * What authenticating one request costs in CPU, in-process and with nothing else between the
 * calls: an API key (SHA-256, then the ≤ 1 s key cache, as the server runs it) and a browser
 * token (its verification cache). Median µs per call of 5 rounds of 50,000 calls each.
 */
async function authenticateMicros(): Promise<{ key: number; token: number }> {
  const secret = `slk_${'k'.repeat(43)}`;
  const key: ApiKey = {
    id: '00000000-0000-4000-8000-000000000001',
    name: 'bench',
    grants: [{ resource: 'topic', name: 'bench-', pattern: 'prefixed', actions: ['write'] }],
    createdBy: null,
    createdAt: 0,
    expiresAt: null,
    revokedAt: null,
    quotas: null,
  };
  const rows = new Map([[hashSecret(secret), key]]);
  const byHash = new FreshCache<ApiKey | null>({
    maxAgeMs: KEY_CACHE_MAX_AGE_MS,
    maxEntries: 10_000,
    load: async (h) => rows.get(h) ?? null,
  });
  const store = { findByHash: (h: string) => byHash.get(h), findById: async () => key } as unknown as ApiKeyStore;
  const auth = new AuthService(
    { mode: 'keys', adminKey: null, tokenSecret: null, metricsPublic: false, docsPublic: false },
    store,
    new TokenSigner(new TextEncoder().encode('s'.repeat(32)), 'bench'),
    pino({ level: 'silent' }),
  );
  const minted = await auth.mintToken(
    { kind: 'key', keyId: key.id, grants: key.grants, expiresAt: null },
    key.grants,
    3_600_000,
  );
  if (!minted.ok) throw new Error(minted.error.message);
  const token = minted.value.token;
  const closed = async () => ok(true as const);
  const perCall = async (credential: string) => {
    const rounds: number[] = [];
    for (let r = 0; r < 5; r++) {
      const n = 50_000;
      const t0 = process.cpuUsage();
      for (let i = 0; i < n; i++) {
        const res = await auth.authenticate(credential, closed);
        if (!res.ok) throw new Error(res.error.message);
      }
      const used = process.cpuUsage(t0);
      rounds.push((used.user + used.system) / n);
    }
    return median(rounds);
  };
  await perCall(secret); // warm-up
  return { key: await perCall(secret), token: await perCall(token) };
}

export const authCost: Scenario = {
  id: 'auth-cost',
  title: 'Access control cost (auth on vs off, same run)',
  run: async (ctx) => {
    const rounds = ctx.quick ? 7 : 15;
    const produceMs = ctx.quick ? 4_000 : 8_000;
    const sseSubscribers = ctx.quick ? 100 : 300;
    const sseRecords = ctx.quick ? 2_000 : 5_000;
    const servers = [
      await startSluice({ env: { SLUICE_AUTH: 'none' } }),
      await startSluice({ env: { SLUICE_AUTH: 'keys', SLUICE_ADMIN_KEY: ADMIN_KEY } }),
      await startSluice({ env: { SLUICE_AUTH: 'none' } }),
    ];
    try {
      const labels: Label[] = ['auth off', 'auth on', 'control'];
      const sides = await Promise.all(labels.map((label, i) => prepare(label, servers[i]!)));
      const produce: Record<Label, Measured[]> = { 'auth off': [], 'auth on': [], control: [] };
      const sse: Record<Label, Measured[]> = { 'auth off': [], 'auth on': [], control: [] };
      const topics = new Map<Side, string>();
      for (const side of sides) topics.set(side, await createTopic(side));
      // All three at once: whatever else loads the machine loads them alike.
      const produceAll = async (ms: number) =>
        Promise.all(sides.map((side) => produceRound(side, topics.get(side)!, ms)));
      const sseAll = async (n: number) =>
        Promise.all(sides.map(async (side) => sseRound(side, await createTopic(side), sseSubscribers, n)));
      // Warm-up (JIT, caches, the key cache), not counted.
      await produceAll(1_000);
      await sseAll(Math.min(sseRecords, 1_000));
      for (let round = 0; round < rounds; round++) {
        (await produceAll(produceMs)).forEach((m, i) => produce[sides[i]!.label].push(m));
        (await sseAll(sseRecords)).forEach((m, i) => sse[sides[i]!.label].push(m));
        const last = (m: Measured[]) => `${Math.round(m.at(-1)!.rate)}/s ${m.at(-1)!.cpuPer1000.toFixed(1)} cpu-ms/1k`;
        const line = (what: string, r: Record<Label, Measured[]>) =>
          `${what} off ${last(r['auth off'])}, on ${last(r['auth on'])}, control ${last(r.control)}`;
        ctx.log(`round ${round + 1}/${rounds}: ${line('produce', produce)}; ${line('SSE', sse)}`);
      }
      const rows: Row[] = [
        ...workloadRows(
          `produce 1 record/request, ${CONNECTIONS} conns, API key (${rounds} rounds of ${produceMs / 1000} s, servers loaded together)`,
          'requests/s',
          'req/s',
          produce,
        ),
        ...workloadRows(
          `SSE ${sseSubscribers} subscribers × ${sseRecords} records, browser token in the URL (${rounds} rounds, servers loaded together)`,
          'deliveries/s',
          'rec/s',
          sse,
        ),
      ];
      // The same cost from inside: what authenticating adds per request, against the CPU a whole
      // produce request takes on the auth-off server in this run. Barely moved by machine load.
      const micros = await authenticateMicros();
      const requestUs = median(produce['auth off'].map((m) => m.cpuPer1000)); // ms per 1000 = µs per request
      for (const [what, us] of [
        ['API key in the header', micros.key],
        ['browser token', micros.token],
      ] as const) {
        rows.push({
          scenario: `authenticate one request in-process (${what}) vs server CPU of one produce request, auth off`,
          metric: 'CPU per request',
          unit: 'µs',
          sluice: us,
          other: { name: 'server CPU per produce request (auth off, this run)', value: requestUs },
          ratio: us / requestUs,
          target: '≤ 0.05 of a request',
          met: us / requestUs <= 0.05,
          note: `${us.toFixed(2)} µs per call (median of 5 × 50,000 calls)`,
        });
      }
      for (const r of rows) ctx.log(`${r.metric}: auth on ÷ off ${r.ratio?.toFixed(3)} — ${r.note}`);
      const result: ScenarioResult = {
        id: 'auth-cost',
        title: 'Access control cost (auth on vs off, same run)',
        rows,
        details: {
          rounds,
          produce,
          sse,
          produce_ms: produceMs,
          sse_subscribers: sseSubscribers,
          sse_records: sseRecords,
        },
      };
      return result;
    } finally {
      for (const server of servers) await stopSluice(server);
    }
  },
};
