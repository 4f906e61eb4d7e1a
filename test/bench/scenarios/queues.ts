// Scenario: queue receive + accept throughput — N records produced to a 4-partition topic
// (fsync'd, one request of 5,000 at a time), then 1, 8 and 32 receivers of a fresh queue
// receive and accept until all are accepted, with the metadata in real Postgres (a fresh
// database) and in embedded PGlite. Side by side: RabbitMQ (Debian's rabbitmq-server, amqplib)
// with the same messages — durable queue, persistent messages published with confirms, one
// consumer per receiver acking every message — on Postgres in alternating rounds (rounds as
// BENCH_ROUNDS, ratios with their per-round min–max), or the reason it could not run.
import postgres from 'postgres';
import type { Dispatcher } from 'undici';
import { uniqueName, type BenchContext, type Scenario } from '../lib/context.js';
import { createPool, requestJson } from '../lib/load.js';
import { values } from '../lib/records.js';
import { bound, versus, withSpread, type Row, type ScenarioResult } from '../lib/report.js';
import { roundPlan } from '../lib/rounds.js';
import { startSluice, stopSluice } from '../lib/sluice-server.js';
import { loadedTopic } from '../lib/topics.js';
import { rabbitQueueRun, startRabbit, type RabbitPeer, type RabbitRun } from '../peers/rabbitmq.js';

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

interface CountRuns {
  receivers: number;
  /** One drain per round (a fresh queue each time). */
  sluice: QueueRun[];
  /** The same drain on RabbitMQ in the same rounds, alternating which goes first. */
  rabbit: RabbitRun[];
}

interface DatabaseRuns {
  label: string;
  /** Producing the records beforehand (fsync'd), records/s. */
  publishRecPerSec: number;
  counts: CountRuns[];
}

const RABBIT = 'RabbitMQ 3.10, amqplib';

async function runAgainst(
  ctx: BenchContext,
  url: string,
  label: string,
  total: number,
  peer: { rabbit: RabbitPeer; rounds: number } | null,
): Promise<DatabaseRuns> {
  const pool = createPool(url, 40);
  try {
    const loaded = await loadedTopic(pool, {
      prefix: 'queue',
      partitions: PARTITIONS,
      total,
      batch: BATCH,
      concurrency: 1,
      durability: 'fsync',
    });
    ctx.log(`queue on ${label}: produced ${total} records at ${Math.round(loaded.recPerSec)} rec/s (fsync)`);
    const counts: CountRuns[] = [];
    for (const receivers of RECEIVERS) {
      const c: CountRuns = { receivers, sluice: [], rabbit: [] };
      const sluice = async () => {
        const r = await drainQueue(pool, loaded.topic, receivers, total);
        c.sluice.push(r);
        return `sluice ${Math.round(r.recPerSec)}/s (${r.receives} receives, ${r.notOk} not ok)`;
      };
      const rabbit = async () => {
        const r = await rabbitQueueRun(peer!.rabbit, values(BATCH), total, receivers, MAX_RECORDS);
        c.rabbit.push(r);
        return `rabbitmq ${Math.round(r.recPerSec)}/s (published at ${Math.round(r.publishRecPerSec)}/s)`;
      };
      // Rounds alternate which system goes first, so drifts in machine load hit both alike.
      for (let round = 0; round < (peer?.rounds ?? 1); round++) {
        const order = !peer ? [sluice] : round % 2 === 0 ? [sluice, rabbit] : [rabbit, sluice];
        const line: string[] = [];
        for (const run of order) line.push(await run());
        ctx.log(`queue on ${label}, ${receivers} receiver(s), round ${round + 1}: ${line.join(', ')}`);
      }
      counts.push(c);
    }
    return { label, publishRecPerSec: loaded.recPerSec, counts };
  } finally {
    await pool.close();
  }
}

/** Records/s over all rounds, or null when a round did not finish. */
function overall(runs: Array<{ done: number; elapsedMs: number }>, total: number): number | null {
  if (runs.length === 0 || runs.some((r) => r.done < total)) return null;
  return runs.reduce((n, r) => n + r.done, 0) / (runs.reduce((ms, r) => ms + r.elapsedMs, 0) / 1000);
}

function rowsFor(db: DatabaseRuns, total: number, skipped: string[]): Row[] {
  const rows: Row[] = [];
  for (const c of db.counts) {
    const short = c.sluice.find((r) => r.accepted < total);
    if (short)
      skipped.push(`${db.label}, ${c.receivers} receiver(s): accepted ${short.accepted}/${total} within 120 s`);
    const base = {
      scenario: `queue receive+accept ${total / 1000}k records, ${PARTITIONS} partitions, ${c.receivers} receiver${c.receivers > 1 ? 's' : ''}, ${db.label}`,
      metric: `accepted records/s (max_records=${MAX_RECORDS}, one ack per receive; RabbitMQ: prefetch ${MAX_RECORDS}, an ack per message)`,
      unit: 'rec/s' as const,
      sluice: overall(
        c.sluice.map((r) => ({ done: r.accepted, elapsedMs: r.elapsedMs })),
        total,
      ),
    };
    let row: Row = base;
    if (c.rabbit.length > 0) {
      const ratios = c.sluice.flatMap((s, i) => {
        const k = c.rabbit[i];
        return k && s.accepted >= total && k.acked >= total ? [s.recPerSec / k.recPerSec] : [];
      });
      const rabbit = overall(
        c.rabbit.map((r) => ({ done: r.acked, elapsedMs: r.elapsedMs })),
        total,
      );
      row = withSpread(
        versus({ ...base, other: { name: RABBIT, value: rabbit } }),
        ratios.length ? [Math.min(...ratios), Math.max(...ratios)] : undefined,
      );
    }
    rows.push(c.receivers === 8 && db.label === 'Postgres' ? bound(row, '≥', TARGET_8_POSTGRES) : row);
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
    const measured: DatabaseRuns[] = [];
    const rabbit = await startRabbit();
    if (typeof rabbit === 'string') skipped.push(`RabbitMQ peer: not available (${rabbit})`);
    else ctx.log(`rabbitmq up in ${Math.round(rabbit.startMs)} ms`);
    try {
      const db = await freshDatabase();
      if ('skip' in db) skipped.push(db.skip);
      else {
        const server = await startSluice({ env: { DATABASE_URL: db.url, SLUICE_DB_POOL_MAX: '40' } });
        try {
          const peer = typeof rabbit === 'string' ? null : { rabbit, rounds: roundPlan(ctx.quick).rounds };
          measured.push(await runAgainst(ctx, server.url, 'Postgres', total, peer));
        } catch (e) {
          // The peer failing mid-run must not hide the Sluice figures: measure again without it.
          if (typeof rabbit === 'string') throw e;
          skipped.push(`RabbitMQ peer: failed (${String(e).split('\n')[0]})`);
          measured.push(await runAgainst(ctx, server.url, 'Postgres', total, null));
        } finally {
          await stopSluice(server);
          await db.drop();
        }
      }
    } finally {
      if (typeof rabbit !== 'string') await rabbit.stop();
    }
    measured.push(await runAgainst(ctx, ctx.sluice.url, 'PGlite', total, null));
    for (const m of measured) details[m.label] = m;
    const rows = measured.flatMap((m) => rowsFor(m, total, skipped));
    const first = measured[0];
    const publish = first?.counts.flatMap((c) => c.rabbit) ?? [];
    if (first)
      rows.push(
        versus({
          scenario: `queue publish ${total / 1000}k records before the drain (${BATCH} per request, one at a time)`,
          metric: `records/s acknowledged durable (Sluice: produce with durability fsync; RabbitMQ: persistent, confirm window ${BATCH}, mean of its runs)`,
          unit: 'rec/s',
          sluice: first.publishRecPerSec,
          ...(publish.length
            ? {
                other: {
                  name: RABBIT,
                  value: publish.reduce((n, r) => n + r.publishRecPerSec, 0) / publish.length,
                },
              }
            : {}),
        }),
      );
    return { id: 'queues', title: 'Queue receive + accept', rows, skipped, details };
  },
};
