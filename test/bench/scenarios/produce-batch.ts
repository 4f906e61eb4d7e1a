// Scenario 1: batched produce — 1000 records of ~100 B per request over a few keep-alive
// connections, JSON and NDJSON, fsync and write durability — against the JSON-parse ceiling,
// raw fs append+fdatasync, Durable Streams (file-backed) and Kafka (default / flush.messages=1).
import { fsAppendBaseline } from '../baselines/fs-append.js';
import { uniqueName, type BenchContext, type Scenario } from '../lib/context.js';
import { closedLoop, requestJson, type LoadResult } from '../lib/load.js';
import { alternate, firstFailure, overallRate, ratioSpread, roundPlan, type Phase } from '../lib/rounds.js';
import { durableStreamsBody, sluiceJsonBody, sluiceNdjsonBody, values } from '../lib/records.js';
import { run } from '../lib/processes.js';
import { versus, withSpread, type Row, type ScenarioResult } from '../lib/report.js';
import { connectProducer, createKafkaTopic, ensureKafka, startKafka } from '../peers/kafka.js';

const RECORDS = 1000;
const CONNECTIONS = 4;
const WARMUP = 4;

type Format = 'json' | 'ndjson';
const CT: Record<Format, string> = { json: 'application/json', ndjson: 'application/x-ndjson' };

export const produceBatch: Scenario = {
  id: 'produce-batch',
  title: 'Batched produce',
  run: async (ctx) => {
    const plan = roundPlan(ctx.quick);
    const vals = values(RECORDS);
    const bodies: Record<Format, string> = { json: sluiceJsonBody(vals), ndjson: sluiceNdjsonBody(vals) };
    const details: Record<string, unknown> = {
      records_per_request: RECORDS,
      rounds: plan.rounds,
      phase_ms: plan.phaseMs,
      connections: CONNECTIONS,
      body_bytes: bodies.json.length,
    };
    const skipped: string[] = [];
    const recs = (rs: LoadResult[] | undefined) => {
      const rate = overallRate(rs);
      return rate === null ? null : rate * RECORDS;
    };

    // Every system in every round (Sluice format × durability, the ceilings, Durable Streams),
    // each phase a fixed time, so a change in machine load hits them all alike.
    const phases: Phase[] = [];
    for (const durability of ['fsync', 'write'] as const) {
      for (const format of ['json', 'ndjson'] as const) {
        const topic = uniqueName(`pb-${format}-${durability}`);
        await requestJson(ctx.sluicePool, {
          method: 'POST',
          path: '/v1/topics',
          body: JSON.stringify({ name: topic, partitions: 4, config: { durability } }),
        });
        phases.push({
          name: `sluice-${format}-${durability}`,
          pool: ctx.sluicePool,
          concurrency: CONNECTIONS,
          make: () => ({
            method: 'POST' as const,
            path: `/v1/topics/${topic}/records`,
            headers: { 'content-type': CT[format] },
            body: bodies[format],
          }),
        });
      }
    }
    if (ctx.ceiling) {
      for (const format of ['json', 'ndjson'] as const) {
        phases.push({
          name: `ceiling-${format}`,
          pool: ctx.ceiling.pool,
          concurrency: CONNECTIONS,
          make: () => ({
            method: 'POST' as const,
            path: '/parse',
            headers: { 'content-type': CT[format] },
            body: bodies[format],
          }),
        });
      }
    } else skipped.push('JSON-parse ceiling server did not start');
    if (ctx.ds) {
      const stream = `/bench/${uniqueName('pb')}`;
      await requestJson(ctx.ds.pool, { method: 'PUT', path: stream }, [200, 201]);
      const body = durableStreamsBody(vals);
      phases.push({
        name: 'durable-streams',
        pool: ctx.ds.pool,
        concurrency: CONNECTIONS,
        make: () => ({ method: 'POST' as const, path: stream, headers: { 'content-type': 'application/json' }, body }),
      });
    } else skipped.push(`Durable Streams: ${ctx.dsSkip ?? 'not started'}`);
    for (const p of phases) await closedLoop(p.pool, WARMUP, CONNECTIONS, p.make, 10_000);
    const measured = await alternate(phases, plan, ctx.log);
    const res = measured.results;
    details['rounds_results'] = res;
    for (const [name, rs] of Object.entries(res)) {
      const why = firstFailure(rs);
      if (why) skipped.push(`${name}: ${why}`);
      ctx.log(`${name}: ${Math.round(recs(rs) ?? 0)} rec/s over ${rs.length} rounds`);
    }
    const sluice = (f: Format, d: string) => res[`sluice-${f}-${d}`];
    const ceiling = (f: Format) => res[`ceiling-${f}`];
    const ds = res['durable-streams'];

    // The disk: one ~body-sized append + fdatasync after another.
    const fsBase = await fsAppendBaseline(50, RECORDS, bodies.json.length, true);
    details['fs_append_fdatasync'] = fsBase;
    ctx.log(`fs append+fdatasync: ${Math.round(fsBase.recPerSec)} rec/s, sync p50 ${fsBase.syncLatency.p50Ms} ms`);
    // Kafka needs its broker for itself (JVM): measured after the rounds, time-bounded alike.
    const requests = Number.MAX_SAFE_INTEGER;
    const budgetMs = plan.phaseMs * 2;

    // Kafka: kafkajs, acks=all, default flushing and flush.messages=1.
    const kafka: Record<string, { recPerSec: number; elapsedMs: number }> = {};
    if (ctx.kafka) {
      const why = await ensureKafka();
      if (why) skipped.push(`Kafka: ${why}`);
      else {
        try {
          Object.assign(kafka, await kafkaProduce(requests, budgetMs, vals, ctx));
          details['kafka'] = kafka;
        } catch (e) {
          skipped.push(`Kafka: ${String(e).split('\n')[0]}`);
        }
      }
    } else skipped.push('Kafka: disabled with --no-kafka');

    // Optional peers: only when already installed; the bench never installs them.
    for (const [bin, name] of [
      ['redis-server', 'Redis Streams (XADD)'],
      ['nats-server', 'NATS JetStream'],
    ] as const) {
      skipped.push(
        `${name}: ${(await installed(bin)) ? `${bin} is installed but this bench has no driver for it yet` : `${bin} not installed (optional peer)`}`,
      );
    }

    const rows: Row[] = [];
    const scen = (f: Format, d: string) => `produce ${f.toUpperCase()} 1000×100 B, ${d}`;
    for (const d of ['fsync', 'write']) {
      for (const f of ['json', 'ndjson'] as const) {
        const mine = recs(sluice(f, d));
        rows.push(
          withSpread(
            versus(
              {
                scenario: scen(f, d),
                metric: 'records/s',
                unit: 'rec/s',
                sluice: mine,
                other: { name: `hono JSON.parse ceiling`, value: recs(ceiling(f)) },
              },
              0.8,
              '≥ 0.8× ceiling',
            ),
            ratioSpread(sluice(f, d), ceiling(f)),
          ),
        );
        if (f === 'json' && d === 'fsync') {
          rows.push(
            withSpread(
              versus(
                {
                  scenario: scen(f, d),
                  metric: 'records/s',
                  unit: 'rec/s',
                  sluice: mine,
                  other: { name: 'Durable Streams, fsync', value: recs(ds) },
                },
                3,
                '≥ 3× Durable Streams',
              ),
              ratioSpread(sluice(f, d), ds),
            ),
          );
          rows.push(
            versus({
              scenario: scen(f, d),
              metric: 'records/s',
              unit: 'rec/s',
              sluice: mine,
              other: { name: 'raw fs append+fdatasync', value: fsBase.recPerSec },
            }),
          );
          for (const [name, k] of Object.entries(kafka)) {
            rows.push(
              versus({
                scenario: scen(f, d),
                metric: 'records/s',
                unit: 'rec/s',
                sluice: mine,
                other: { name, value: k.recPerSec },
              }),
            );
          }
        }
      }
    }
    const fsyncJson = sluice('json', 'fsync');
    if (fsyncJson?.length)
      rows.push({
        scenario: scen('json', 'fsync'),
        metric: `request p99, ${CONNECTIONS} in flight (worst round)`,
        unit: 'ms',
        sluice: Math.max(...fsyncJson.map((r) => r.latency.p99Ms)),
      });
    const result: ScenarioResult = { id: 'produce-batch', title: 'Batched produce', rows, details };
    if (skipped.length) result.skipped = skipped;
    return result;
  },
};

async function kafkaProduce(
  requests: number,
  budgetMs: number,
  vals: string[],
  ctx: BenchContext,
): Promise<Record<string, { recPerSec: number; elapsedMs: number }>> {
  ctx.log('kafka: starting broker');
  const peer = await startKafka();
  const out: Record<string, { recPerSec: number; elapsedMs: number }> = {};
  try {
    const messages = vals.map((value) => ({ value }));
    for (const [name, config] of [
      ['Kafka acks=all, default flush', {}],
      ['Kafka acks=all, flush.messages=1', { 'flush.messages': '1' }],
    ] as const) {
      const topic = `pb-${Object.keys(config).length ? 'flush1' : 'default'}`;
      await createKafkaTopic(peer.kafka, topic, 4, config);
      const producer = await connectProducer(peer.kafka);
      try {
        const send = () => producer.send({ topic, acks: -1, messages });
        for (let i = 0; i < WARMUP; i++) await send();
        let next = 0;
        let done = 0;
        const started = performance.now();
        await Promise.all(
          Array.from({ length: CONNECTIONS }, async () => {
            while (next++ < requests && performance.now() - started < budgetMs) {
              await send();
              done++;
            }
          }),
        );
        const elapsedMs = performance.now() - started;
        out[name] = { recPerSec: (done * RECORDS) / (elapsedMs / 1000), elapsedMs };
        ctx.log(`${name}: ${Math.round(out[name].recPerSec)} rec/s`);
      } finally {
        await producer.disconnect();
      }
    }
  } finally {
    await peer.stop();
  }
  return out;
}

async function installed(bin: string): Promise<boolean> {
  try {
    await run('bash', ['-c', `command -v ${bin}`]);
    return true;
  } catch {
    return false;
  }
}
