// Scenario: what access control costs — single-record produce and SSE delivery against two
// servers in the same run, one with SLUICE_AUTH=none and one requiring an API key / browser
// token, measured in alternating rounds (order flipped each round) and compared by median.
import fs from 'node:fs';
import { uniqueName, type Scenario } from '../lib/context.js';
import { nowMs } from '../lib/histogram.js';
import { closedLoop, createPool, requestJson, send, type RequestSpec } from '../lib/load.js';
import { sleep } from '../lib/processes.js';
import { sluiceJsonBody, valueJson, values } from '../lib/records.js';
import { versus, type Row, type ScenarioResult } from '../lib/report.js';
import { startSluice, stopSluice, type SluiceServer } from '../lib/sluice-server.js';
import { subscribeSse, type Subscription } from '../lib/subscribers.js';

const CONNECTIONS = 8;
const ADMIN_KEY = `bench-admin-${'x'.repeat(32)}`;
const ALL = ['read', 'write', 'create', 'delete', 'alter', 'describe'];

interface Side {
  label: 'auth off' | 'auth on';
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

async function prepare(label: Side['label'], server: SluiceServer): Promise<Side> {
  if (label === 'auth off') return { label, server, headers: {}, sseQuery: '' };
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

/** Closed-loop single-record produce: requests/s. */
async function produceRound(side: Side, topic: string, requests: number): Promise<Measured> {
  const pool = createPool(side.server.url, CONNECTIONS);
  const spec = (i: number): RequestSpec => ({
    method: 'POST',
    path: `/v1/topics/${topic}/records`,
    headers: { ...side.headers, 'content-type': 'application/json' },
    body: sluiceJsonBody([valueJson(i)]),
  });
  await closedLoop(pool, 200, CONNECTIONS, spec, 1_000);
  const cpu0 = cpuMs(side.server);
  const r = await closedLoop(pool, requests, CONNECTIONS, spec, 30_000);
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

export const authCost: Scenario = {
  id: 'auth-cost',
  title: 'Access control cost (auth on vs off, same run)',
  run: async (ctx) => {
    const rounds = ctx.quick ? 8 : 16;
    const produceRequests = ctx.quick ? 3_000 : 10_000;
    const sseSubscribers = ctx.quick ? 100 : 300;
    const sseRecords = ctx.quick ? 2_000 : 5_000;
    const off = await startSluice({ env: { SLUICE_AUTH: 'none' } });
    const on = await startSluice({ env: { SLUICE_AUTH: 'keys', SLUICE_ADMIN_KEY: ADMIN_KEY } });
    try {
      const sides = [await prepare('auth off', off), await prepare('auth on', on)];
      const produce: Record<Side['label'], Measured[]> = { 'auth off': [], 'auth on': [] };
      const sse: Record<Side['label'], Measured[]> = { 'auth off': [], 'auth on': [] };
      const topics = new Map<Side, string>();
      for (const side of sides) topics.set(side, await createTopic(side));
      // Warm-up (JIT, caches, the key cache), not counted.
      for (const side of sides) {
        await produceRound(side, topics.get(side)!, Math.min(produceRequests, 2_000));
        await sseRound(side, await createTopic(side), sseSubscribers, Math.min(sseRecords, 1_000));
      }
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? sides : [...sides].reverse();
        for (const side of order)
          produce[side.label].push(await produceRound(side, topics.get(side)!, produceRequests));
        for (const side of order) {
          sse[side.label].push(await sseRound(side, await createTopic(side), sseSubscribers, sseRecords));
        }
        const last = (m: Measured[]) => `${Math.round(m.at(-1)!.rate)}/s ${m.at(-1)!.cpuPer1000.toFixed(1)} cpu-ms/1k`;
        ctx.log(
          `round ${round + 1}/${rounds}: produce off ${last(produce['auth off'])}, on ${last(produce['auth on'])}; ` +
            `SSE off ${last(sse['auth off'])}, on ${last(sse['auth on'])}`,
        );
      }
      const rate = (m: Measured[]) => median(m.map((x) => x.rate));
      const cpu = (m: Measured[]) => median(m.map((x) => x.cpuPer1000));
      const produceName = `produce 1 record/request, ${CONNECTIONS} conns, API key (median of ${rounds} alternating rounds)`;
      const sseName = `SSE ${sseSubscribers} subscribers × ${sseRecords} records, browser token in the URL (median of ${rounds} rounds)`;
      const offName = 'auth off (SLUICE_AUTH=none)';
      const cost = (scenario: string, metric: string, on: number, off: number): Row => {
        const ratio = Number.isFinite(on) && Number.isFinite(off) && off > 0 ? on / off : null;
        return {
          scenario,
          metric,
          unit: 'ms',
          sluice: on,
          other: { name: offName, value: off },
          ratio,
          target: '≤ 1.05× auth off',
          met: ratio === null ? null : ratio <= 1.05,
        };
      };
      const rows: Row[] = [
        versus(
          {
            scenario: produceName,
            metric: 'requests/s',
            unit: 'req/s',
            sluice: rate(produce['auth on']),
            other: { name: offName, value: rate(produce['auth off']) },
          },
          0.95,
          '≥ 0.95× auth off',
        ),
        cost(produceName, 'server CPU per 1000 requests', cpu(produce['auth on']), cpu(produce['auth off'])),
        versus(
          {
            scenario: sseName,
            metric: 'deliveries/s',
            unit: 'rec/s',
            sluice: rate(sse['auth on']),
            other: { name: offName, value: rate(sse['auth off']) },
          },
          0.95,
          '≥ 0.95× auth off',
        ),
        cost(sseName, 'server CPU per 1000 deliveries', cpu(sse['auth on']), cpu(sse['auth off'])),
      ];
      const result: ScenarioResult = {
        id: 'auth-cost',
        title: 'Access control cost (auth on vs off, same run)',
        rows,
        details: {
          rounds,
          produce,
          sse,
          produce_requests: produceRequests,
          sse_subscribers: sseSubscribers,
          sse_records: sseRecords,
        },
      };
      return result;
    } finally {
      await stopSluice(off);
      await stopSluice(on);
    }
  },
};
