// Scenario 1: batched produce — 1000 records of ~100 B per request over a few keep-alive
// connections, JSON and NDJSON, fsync and write durability — against the JSON-parse ceiling,
// raw fs append+fdatasync, Durable Streams (file-backed) and Kafka (default / flush.messages=1).
import { fsAppendBaseline } from '../baselines/fs-append.js';
import { uniqueName, type BenchContext, type Scenario } from '../lib/context.js';
import { closedLoop, requestJson, type LoadResult } from '../lib/load.js';
import { durableStreamsBody, sluiceJsonBody, sluiceNdjsonBody, values } from '../lib/records.js';
import { run } from '../lib/processes.js';
import { versus, type Row, type ScenarioResult } from '../lib/report.js';
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
    const requests = ctx.quick ? 150 : 300;
    const budgetMs = ctx.quick ? 4000 : 30_000;
    const vals = values(RECORDS);
    const bodies: Record<Format, string> = { json: sluiceJsonBody(vals), ndjson: sluiceNdjsonBody(vals) };
    const details: Record<string, unknown> = {
      records_per_request: RECORDS,
      requests,
      connections: CONNECTIONS,
      body_bytes: bodies.json.length,
    };
    const skipped: string[] = [];
    const recs = (r: LoadResult | undefined) => (r && r.errors === 0 ? r.reqPerSec * RECORDS : null);

    // Sluice: every format × durability, each on its own 4-partition topic.
    const sluice: Record<string, LoadResult> = {};
    for (const durability of ['fsync', 'write'] as const) {
      for (const format of ['json', 'ndjson'] as const) {
        const topic = uniqueName(`pb-${format}-${durability}`);
        await requestJson(ctx.sluicePool, {
          method: 'POST',
          path: '/v1/topics',
          body: JSON.stringify({ name: topic, partitions: 4, config: { durability } }),
        });
        const spec = () => ({
          method: 'POST' as const,
          path: `/v1/topics/${topic}/records`,
          headers: { 'content-type': CT[format] },
          body: bodies[format],
        });
        await closedLoop(ctx.sluicePool, WARMUP, CONNECTIONS, spec);
        const r = await closedLoop(ctx.sluicePool, requests, CONNECTIONS, spec, budgetMs);
        sluice[`${format}-${durability}`] = r;
        if (r.errors)
          skipped.push(`sluice ${format} ${durability}: ${r.errors}/${r.requests} requests failed: ${r.firstError}`);
        ctx.log(
          `sluice ${format} ${durability}: ${Math.round(r.reqPerSec * RECORDS)} rec/s p99 ${r.latency.p99Ms} ms${r.errors ? ` (${r.errors} errors: ${r.firstError})` : ''}`,
        );
      }
    }
    details['sluice'] = sluice;

    // Ceiling: bare hono reading and parsing the very same bodies.
    const ceiling: Partial<Record<Format, LoadResult>> = {};
    if (ctx.ceiling) {
      for (const format of ['json', 'ndjson'] as const) {
        const spec = () => ({
          method: 'POST' as const,
          path: '/parse',
          headers: { 'content-type': CT[format] },
          body: bodies[format],
        });
        await closedLoop(ctx.ceiling.pool, WARMUP, CONNECTIONS, spec);
        ceiling[format] = await closedLoop(ctx.ceiling.pool, requests, CONNECTIONS, spec, budgetMs);
        ctx.log(`ceiling ${format}: ${Math.round(ceiling[format].reqPerSec * RECORDS)} rec/s`);
      }
      details['ceiling'] = ceiling;
    } else skipped.push('JSON-parse ceiling server did not start');

    // The disk: one ~body-sized append + fdatasync after another.
    const fsBase = await fsAppendBaseline(Math.max(50, requests), RECORDS, bodies.json.length, true);
    details['fs_append_fdatasync'] = fsBase;
    ctx.log(`fs append+fdatasync: ${Math.round(fsBase.recPerSec)} rec/s, sync p50 ${fsBase.syncLatency.p50Ms} ms`);

    // Durable Streams: the same values as JSON-array appends to one file-backed stream.
    let ds: LoadResult | undefined;
    if (ctx.ds) {
      const stream = `/bench/${uniqueName('pb')}`;
      await requestJson(ctx.ds.pool, { method: 'PUT', path: stream }, [200, 201]);
      const body = durableStreamsBody(vals);
      const spec = () => ({
        method: 'POST' as const,
        path: stream,
        headers: { 'content-type': 'application/json' },
        body,
      });
      await closedLoop(ctx.ds.pool, WARMUP, CONNECTIONS, spec);
      ds = await closedLoop(ctx.ds.pool, requests, CONNECTIONS, spec, budgetMs);
      details['durable_streams'] = ds;
      ctx.log(
        `durable-streams: ${Math.round(ds.reqPerSec * RECORDS)} rec/s${ds.errors ? ` (${ds.errors} errors: ${ds.firstError})` : ''}`,
      );
    } else skipped.push(`Durable Streams: ${ctx.dsSkip ?? 'not started'}`);

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
        const mine = recs(sluice[`${f}-${d}`]);
        rows.push(
          versus(
            {
              scenario: scen(f, d),
              metric: 'records/s',
              unit: 'rec/s',
              sluice: mine,
              other: { name: `hono JSON.parse ceiling`, value: recs(ceiling[f]) },
            },
            0.8,
            '≥ 0.8× ceiling',
          ),
        );
        if (f === 'json' && d === 'fsync') {
          rows.push(
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
    const fsyncJson = sluice['json-fsync'];
    if (fsyncJson)
      rows.push({
        scenario: scen('json', 'fsync'),
        metric: `request p99, ${CONNECTIONS} in flight`,
        unit: 'ms',
        sluice: fsyncJson.latency.p99Ms,
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
