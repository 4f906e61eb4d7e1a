// Scenario: queue receive + accept throughput — N records pre-produced to a 4-partition topic,
// then 1, 8 and 32 receivers of a fresh queue receive and accept until all are accepted, with
// the metadata in real Postgres (a fresh database) and in embedded PGlite. Records/s accepted.
// The RabbitMQ peer runs only when a broker and an AMQP client are available; otherwise skipped.
import postgres from 'postgres';
import type { Dispatcher } from 'undici';
import { uniqueName, type BenchContext, type Scenario } from '../lib/context.js';
import { closedLoop, createPool, requestJson } from '../lib/load.js';
import { sluiceJsonBody, values } from '../lib/records.js';
import { bound, type Row, type ScenarioResult } from '../lib/report.js';
import { startSluice, stopSluice } from '../lib/sluice-server.js';

const PARTITIONS = 4;
const BATCH = 5000;
const MAX_RECORDS = 500; // as Kafka share consumers fetch (max.poll.records)
const RECEIVERS = [1, 8, 32];
const TARGET_8_POSTGRES = 20_000;
const DEFAULT_DATABASE_URL = 'postgres://postgres:postgres@127.0.0.1:5432/postgres';

interface QueueRun {
  receivers: number;
  accepted: number;
  elapsedMs: number;
  recPerSec: number;
  receives: number;
  notOk: number;
}

async function drainQueue(pool: Dispatcher, topic: string, receivers: number, total: number): Promise<QueueRun> {
  const queue = uniqueName(`q${receivers}`);
  await requestJson(pool, {
    method: 'PUT',
    path: `/v1/topics/${topic}/queues/${queue}`,
    body: JSON.stringify({ start: 'earliest', lock_ms: 60_000 }),
  });
  let accepted = 0;
  let receives = 0;
  let notOk = 0;
  const t0 = performance.now();
  const deadline = t0 + 120_000;
  await Promise.all(
    Array.from({ length: receivers }, async () => {
      while (accepted < total && performance.now() < deadline) {
        const res = await pool.request({
          method: 'POST',
          path: `/v1/topics/${topic}/queues/${queue}/receive?max_records=${MAX_RECORDS}&wait_ms=100`,
        });
        const text = await res.body.text();
        receives++;
        if (res.statusCode !== 200) throw new Error(`receive → ${res.statusCode}: ${text.slice(0, 300)}`);
        const leases = [...text.matchAll(/"lease":"([^"]+)"/g)].map((m) => m[1]!);
        if (leases.length === 0) continue;
        const ack = await pool.request({
          method: 'POST',
          path: `/v1/topics/${topic}/queues/${queue}/ack`,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ acks: leases.map((lease) => ({ lease, action: 'accept' })) }),
        });
        const ackText = await ack.body.text();
        if (ack.statusCode !== 200) throw new Error(`ack → ${ack.statusCode}: ${ackText.slice(0, 300)}`);
        const ok = ackText.split('"status":"ok"').length - 1;
        accepted += ok;
        notOk += leases.length - ok;
      }
    }),
  );
  const elapsedMs = performance.now() - t0;
  return { receivers, accepted, elapsedMs, recPerSec: accepted / (elapsedMs / 1000), receives, notOk };
}

async function runAgainst(
  ctx: BenchContext,
  url: string,
  label: string,
  total: number,
  details: Record<string, unknown>,
  skipped: string[],
): Promise<Row[]> {
  const pool = createPool(url, 40);
  const rows: Row[] = [];
  try {
    const topic = uniqueName('queue');
    await requestJson(pool, {
      method: 'POST',
      path: '/v1/topics',
      body: JSON.stringify({ name: topic, partitions: PARTITIONS, config: { durability: 'write' } }),
    });
    const body = sluiceJsonBody(values(BATCH));
    const load = await closedLoop(pool, total / BATCH, 4, () => ({
      method: 'POST',
      path: `/v1/topics/${topic}/records`,
      headers: { 'content-type': 'application/json' },
      body,
    }));
    if (load.errors) throw new Error(`loading failed: ${load.firstError}`);
    for (const receivers of RECEIVERS) {
      const r = await drainQueue(pool, topic, receivers, total);
      details[`${label}_receivers_${receivers}`] = r;
      ctx.log(
        `queue on ${label}, ${receivers} receiver(s): ${Math.round(r.recPerSec)} accepted/s (${r.accepted} records, ${r.receives} receives, ${r.notOk} not ok)`,
      );
      const complete = r.accepted >= total;
      if (!complete) skipped.push(`${label}, ${receivers} receiver(s): accepted ${r.accepted}/${total} within 120 s`);
      const row: Row = {
        scenario: `queue receive+accept ${total / 1000}k records, ${PARTITIONS} partitions, ${receivers} receiver${receivers > 1 ? 's' : ''}, ${label}`,
        metric: `accepted records/s (max_records=${MAX_RECORDS}, one ack per receive)`,
        unit: 'rec/s',
        sluice: complete ? r.recPerSec : null,
      };
      rows.push(receivers === 8 && label === 'Postgres' ? bound(row, '≥', TARGET_8_POSTGRES) : row);
    }
  } finally {
    await pool.close();
  }
  return rows;
}

/** A fresh database on the bench Postgres, or null with the reason it is unreachable. */
async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> } | { skip: string }> {
  const base = process.env['BENCH_DATABASE_URL'] ?? DEFAULT_DATABASE_URL;
  const admin = postgres(base, { max: 1, connect_timeout: 5, onnotice: () => undefined });
  const name = `sluice_bench_${Date.now().toString(36)}`;
  try {
    await admin.unsafe(`create database ${name}`);
  } catch (e) {
    await admin.end({ timeout: 1 }).catch(() => undefined);
    return {
      skip: `Postgres at ${new URL(base).host} unreachable (${String(e).split('\n')[0]}); set BENCH_DATABASE_URL`,
    };
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => undefined);
      await admin.end({ timeout: 1 });
    },
  };
}

export const queues: Scenario = {
  id: 'queues',
  title: 'Queue receive + accept',
  run: async (ctx): Promise<ScenarioResult> => {
    const total = ctx.quick ? 40_000 : 200_000;
    const details: Record<string, unknown> = { records: total, partitions: PARTITIONS, max_records: MAX_RECORDS };
    const skipped: string[] = [];
    const rows: Row[] = [];
    const db = await freshDatabase();
    if ('skip' in db) skipped.push(db.skip);
    else {
      const server = await startSluice({ env: { DATABASE_URL: db.url, SLUICE_DB_POOL_MAX: '40' } });
      try {
        rows.push(...(await runAgainst(ctx, server.url, 'Postgres', total, details, skipped)));
      } finally {
        await stopSluice(server);
        await db.drop();
      }
    }
    rows.push(...(await runAgainst(ctx, ctx.sluice.url, 'PGlite', total, details, skipped)));
    skipped.push(
      'RabbitMQ peer: not measured — no AMQP 0-9-1 client library is installed for Node (amqplib), so no like-for-like receive+ack loop can run here',
    );
    return { id: 'queues', title: 'Queue receive + accept', rows, skipped, details };
  },
};
