// Scenario 3: produce→delivery latency — a producer at 1k and 5k rec/s (a request every
// 10 ms, send time in each record) and one consumer by long-poll or SSE; p50/p99/p999 from the
// record's send time to its arrival, for Sluice (fsync) and Durable Streams (file-backed).
import { uniqueName, type BenchContext, type Scenario } from '../lib/context.js';
import { measureDelivery, REQUESTS_PER_SEC, type LatencyRun } from '../lib/delivery.js';
import { createPool, requestJson, send } from '../lib/load.js';
import { durableStreamsBody, sluiceJsonBody } from '../lib/records.js';
import { bound, versus, type Row, type ScenarioResult } from '../lib/report.js';
import { longPoll, subscribeSse } from '../lib/subscribers.js';
import { ensureKafka, startKafka, type KafkaPeer } from '../peers/kafka.js';
import { kafkaDelivery } from '../peers/kafka-latency.js';

/** Enough that a request waiting on fsync doesn't hold the next one back in the client. */
const PRODUCER_CONNECTIONS = 8;

type Mode = 'long-poll' | 'sse';

async function sluiceRun(ctx: BenchContext, mode: Mode, rate: number, durationMs: number): Promise<LatencyRun> {
  const topic = uniqueName(`lat-${mode}`);
  const producePool = createPool(ctx.sluice.url, PRODUCER_CONNECTIONS);
  const consumePool = createPool(ctx.sluice.url, 1);
  try {
    await requestJson(producePool, {
      method: 'POST',
      path: '/v1/topics',
      body: JSON.stringify({ name: topic, partitions: 1 }),
    });
    const produce = async (vals: string[]) =>
      (
        await send(producePool, {
          method: 'POST',
          path: `/v1/topics/${topic}/records`,
          headers: { 'content-type': 'application/json' },
          body: sluiceJsonBody(vals),
        })
      ).ok;
    const base = `/v1/topics/${topic}/partitions/0`;
    return await measureDelivery(rate, durationMs, produce, async (cb) => {
      if (mode === 'sse') {
        const sub = subscribeSse(`${ctx.sluice.url}${base}/events?from=latest`, cb);
        await sub.ready;
        return { events: sub.events, stop: async () => sub.close() };
      }
      return longPoll(
        consumePool,
        '0',
        (o) => `${base}/records?offset=${o}&max_records=10000&wait_ms=5000`,
        (body) => /"next_offset":(\d+)/.exec(body)?.[1] ?? null,
        cb,
      );
    });
  } finally {
    await producePool.close();
    await consumePool.destroy();
  }
}

async function dsRun(ctx: BenchContext, mode: Mode, rate: number, durationMs: number): Promise<LatencyRun> {
  const ds = ctx.ds;
  if (!ds) throw new Error('Durable Streams not running');
  const stream = `/bench/${uniqueName(`lat-${mode}`)}`;
  const producePool = createPool(ds.url, PRODUCER_CONNECTIONS);
  const consumePool = createPool(ds.url, 1);
  try {
    await requestJson(producePool, { method: 'PUT', path: stream }, [200, 201]);
    const produce = async (vals: string[]) =>
      (
        await send(producePool, {
          method: 'POST',
          path: stream,
          headers: { 'content-type': 'application/json' },
          body: durableStreamsBody(vals),
        })
      ).ok;
    return await measureDelivery(rate, durationMs, produce, async (cb) => {
      if (mode === 'sse') {
        const sub = subscribeSse(`${ds.url}${stream}?offset=now&live=sse`, cb);
        await sub.ready;
        return { events: sub.events, stop: async () => sub.close() };
      }
      const header = (h: Record<string, string | string[] | undefined>) => {
        const v = h['stream-next-offset'];
        return (Array.isArray(v) ? v[0] : v) ?? null;
      };
      return longPoll(
        consumePool,
        'now',
        (o) => `${stream}?offset=${encodeURIComponent(o)}&live=long-poll`,
        (_b, h) => header(h),
        cb,
      );
    });
  } finally {
    await producePool.close();
    await consumePool.destroy();
  }
}

export const deliveryLatency: Scenario = {
  id: 'delivery-latency',
  title: 'Produce→delivery latency',
  run: async (ctx) => {
    const durationMs = ctx.quick ? 3000 : 15_000;
    const details: Record<string, unknown> = {
      duration_ms: durationMs,
      requests_per_sec: REQUESTS_PER_SEC,
      durability: 'fsync',
    };
    const skipped: string[] = [];
    const rows: Row[] = [];
    for (const mode of ['long-poll', 'sse'] as const) {
      for (const rate of [1000, 5000]) {
        const mine = await sluiceRun(ctx, mode, rate, durationMs);
        ctx.log(
          `sluice ${mode} @${rate}: p50 ${mine.latency.p50Ms} p99 ${mine.latency.p99Ms} p999 ${mine.latency.p999Ms} ms (${mine.delivered}/${mine.produced})`,
        );
        let peer: LatencyRun | null = null;
        if (ctx.ds) {
          peer = await dsRun(ctx, mode, rate, durationMs);
          ctx.log(
            `durable-streams ${mode} @${rate}: p50 ${peer.latency.p50Ms} p99 ${peer.latency.p99Ms} ms (${peer.delivered}/${peer.produced})`,
          );
        }
        details[`sluice_${mode}_${rate}`] = mine;
        if (peer) details[`durable_streams_${mode}_${rate}`] = peer;
        const complete = (r: LatencyRun | null) => r !== null && r.produceErrors === 0 && r.delivered >= r.produced;
        const pick = (r: LatencyRun | null, k: 'p50Ms' | 'p99Ms' | 'p999Ms') =>
          r && complete(r) ? r.latency[k] : null;
        const scenario = `produce→${mode === 'sse' ? 'SSE' : 'long-poll'} at ${rate / 1000}k rec/s`;
        for (const [metric, k] of [
          ['p50', 'p50Ms'],
          ['p99', 'p99Ms'],
          ['p999', 'p999Ms'],
        ] as const) {
          const row = versus({
            scenario,
            metric,
            unit: 'ms',
            sluice: pick(mine, k),
            other: { name: 'Durable Streams', value: pick(peer, k) },
          });
          rows.push(
            mode === 'sse' && rate === 5000 && k === 'p99Ms'
              ? { ...bound(row, '≤', 10), ratio: row.ratio ?? null }
              : row,
          );
        }
        if (!complete(mine))
          skipped.push(
            `sluice ${mode} @${rate}: delivered ${mine.delivered}/${mine.produced}, ${mine.produceErrors} produce errors`,
          );
      }
    }
    if (!ctx.ds) skipped.push(`Durable Streams: ${ctx.dsSkip ?? 'not started'}`);

    // Kafka (kafkajs consumer) as a second latency peer: full mode only, a broker start costs ~10 s.
    const mineSse = (rate: number) => details[`sluice_sse_${rate}`] as LatencyRun | undefined;
    if (ctx.quick && process.env['BENCH_KAFKA_LATENCY'] !== '1')
      skipped.push('Kafka latency peer: full mode only (or BENCH_KAFKA_LATENCY=1)');
    else if (!ctx.kafka) skipped.push('Kafka latency peer: disabled with --no-kafka');
    else {
      const why = await ensureKafka();
      if (why) skipped.push(`Kafka latency peer: ${why}`);
      else {
        let peer: KafkaPeer | undefined;
        try {
          peer = await startKafka();
          for (const rate of [1000, 5000]) {
            const k = await kafkaDelivery(peer, rate, durationMs);
            details[`kafka_${rate}`] = k;
            ctx.log(`kafka @${rate}: p50 ${k.latency.p50Ms} p99 ${k.latency.p99Ms} ms (${k.delivered}/${k.produced})`);
            const ok = k.produceErrors === 0 && k.delivered >= k.produced;
            const mine = mineSse(rate);
            const mineOk = mine && mine.produceErrors === 0 && mine.delivered >= mine.produced;
            for (const [metric, key] of [
              ['p50', 'p50Ms'],
              ['p99', 'p99Ms'],
            ] as const) {
              rows.push(
                versus({
                  scenario: `produce→SSE at ${rate / 1000}k rec/s`,
                  metric,
                  unit: 'ms',
                  sluice: mineOk ? mine.latency[key] : null,
                  other: { name: 'Kafka acks=all → kafkajs consumer', value: ok ? k.latency[key] : null },
                }),
              );
            }
          }
        } catch (e) {
          skipped.push(`Kafka latency peer: ${String(e).split('\n')[0]}`);
        } finally {
          await peer?.stop();
        }
      }
    }
    const result: ScenarioResult = { id: 'delivery-latency', title: 'Produce→delivery latency', rows, details };
    if (skipped.length) result.skipped = skipped;
    return result;
  },
};
