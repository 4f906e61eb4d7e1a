// Scenario: the official Durable Streams client against Sluice (/v1/stream) and against the
// reference server, same run: append throughput and live-tail latency (SSE, long-poll), each phase time-bound.
import { DurableStream, IdempotentProducer, stream } from '@durable-streams/client';
import { uniqueName, type Scenario } from '../lib/context.js';
import { newHistogram, nowMs, recordMs, summarize, type LatencySummary } from '../lib/histogram.js';
import { versus, type Row, type ScenarioResult } from '../lib/report.js';

/** Concurrent `DurableStream.append` callers (one message per request, each acknowledged durably). */
const WRITERS = 8;
/** Messages a second the live-tail writer sends (latency at a steady load, not at saturation). */
const TAIL_RATE = 100;

interface Target {
  name: string;
  /** URL of a new stream on this server. */
  streamUrl(id: string): string;
}

interface Figures {
  appendsPerSec: number | null;
  producerMsgsPerSec: number | null;
  tail: Record<'sse' | 'long-poll', LatencySummary | null>;
  errors: string[];
}

async function appendThroughput(url: string, phaseMs: number): Promise<number> {
  const handle = await DurableStream.create({ url, contentType: 'application/json' });
  let done = 0;
  const deadline = performance.now() + phaseMs;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; performance.now() < deadline; i++) {
        await handle.append(JSON.stringify({ w, i, pad: 'x'.repeat(64) }));
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

/** IdempotentProducer (batched, pipelined): messages/s, flushing every 1,000 so memory stays bounded. */
async function producerThroughput(url: string, phaseMs: number): Promise<number> {
  const handle = await DurableStream.create({ url, contentType: 'application/json' });
  const errors: unknown[] = [];
  const producer = new IdempotentProducer(handle, 'bench', { autoClaim: true, onError: (e) => errors.push(e) });
  let sent = 0;
  const deadline = performance.now() + phaseMs;
  const started = performance.now();
  while (performance.now() < deadline) {
    for (let k = 0; k < 1000; k++) producer.append(JSON.stringify({ i: sent++, pad: 'x'.repeat(64) }));
    await producer.flush();
  }
  await producer.close();
  if (errors.length) throw new Error(`producer: ${String(errors[0])}`);
  return sent / ((performance.now() - started) / 1000);
}

/** A live reader from the tail; a writer sends TAIL_RATE messages/s stamped with the send time. */
async function tailLatency(url: string, live: 'sse' | 'long-poll', phaseMs: number): Promise<LatencySummary> {
  const handle = await DurableStream.create({ url, contentType: 'application/json' });
  const head = await handle.head();
  if (!head.exists || head.offset === undefined) throw new Error('no tail offset');
  const res = await stream<{ t: number }>({ url, offset: head.offset, live });
  const h = newHistogram();
  let received = 0;
  const unsubscribe = res.subscribeJson((batch) => {
    const now = nowMs();
    for (const m of batch.items) {
      recordMs(h, now - m.t);
      received++;
    }
  });
  let sent = 0;
  const started = performance.now();
  const deadline = started + phaseMs;
  while (performance.now() < deadline) {
    await handle.append(JSON.stringify({ t: nowMs() }));
    sent++;
    const due = started + (sent * 1000) / TAIL_RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const drainBy = performance.now() + 5000;
  while (received < sent && performance.now() < drainBy) await new Promise((r) => setTimeout(r, 10));
  unsubscribe();
  res.cancel();
  if (received < sent) throw new Error(`${live}: ${sent - received} of ${sent} messages never arrived`);
  return summarize(h);
}

async function measure(t: Target, phaseMs: number, log: (m: string) => void): Promise<Figures> {
  const f: Figures = {
    appendsPerSec: null,
    producerMsgsPerSec: null,
    tail: { sse: null, 'long-poll': null },
    errors: [],
  };
  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | null> => {
    try {
      return await fn();
    } catch (e) {
      f.errors.push(`${t.name} ${what}: ${String(e).split('\n')[0]}`);
      return null;
    }
  };
  f.appendsPerSec = await attempt('append', () => appendThroughput(t.streamUrl(uniqueName('dsa')), phaseMs));
  f.producerMsgsPerSec = await attempt('producer', () => producerThroughput(t.streamUrl(uniqueName('dsp')), phaseMs));
  for (const live of ['sse', 'long-poll'] as const)
    f.tail[live] = await attempt(`${live} tail`, () => tailLatency(t.streamUrl(uniqueName('dst')), live, phaseMs));
  log(
    `${t.name}: ${Math.round(f.appendsPerSec ?? 0)} appends/s, ${Math.round(f.producerMsgsPerSec ?? 0)} producer msgs/s, ` +
      `SSE p50 ${f.tail.sse?.p50Ms} p99 ${f.tail.sse?.p99Ms} ms, long-poll p50 ${f.tail['long-poll']?.p50Ms} p99 ${f.tail['long-poll']?.p99Ms} ms`,
  );
  return f;
}

export const durableStreams: Scenario = {
  id: 'durable-streams',
  title: 'Durable Streams client: Sluice vs the reference server',
  run: async (ctx): Promise<ScenarioResult> => {
    const phaseMs = ctx.quick ? 3000 : 10_000;
    const skipped: string[] = [];
    const sluice = await measure(
      { name: 'sluice', streamUrl: (id) => `${ctx.sluice.url}/v1/stream/bench/${id}` },
      phaseMs,
      ctx.log,
    );
    const ref = ctx.ds
      ? await measure({ name: 'durable-streams', streamUrl: (id) => `${ctx.ds!.url}/bench/${id}` }, phaseMs, ctx.log)
      : null;
    if (!ctx.ds) skipped.push(`Durable Streams: ${ctx.dsSkip ?? 'not started'}`);
    skipped.push(...sluice.errors, ...(ref?.errors ?? []));
    const other = (value: number | null | undefined) => ({
      name: 'Durable Streams reference, fsync',
      value: value ?? null,
    });
    const rows: Row[] = [
      versus({
        scenario: `DS client append, 1 JSON message/request, ${WRITERS} writers, fsync`,
        metric: 'appends/s',
        unit: 'req/s',
        sluice: sluice.appendsPerSec,
        other: other(ref?.appendsPerSec),
      }),
      versus({
        scenario: 'DS IdempotentProducer (batched, pipelined), flush every 1,000',
        metric: 'messages/s',
        unit: 'rec/s',
        sluice: sluice.producerMsgsPerSec,
        other: other(ref?.producerMsgsPerSec),
      }),
    ];
    for (const live of ['sse', 'long-poll'] as const) {
      for (const p of ['p50Ms', 'p99Ms'] as const) {
        rows.push(
          versus({
            scenario: `DS client live tail (${live}), ${TAIL_RATE} msg/s, append → delivered`,
            metric: p === 'p50Ms' ? 'p50' : 'p99',
            unit: 'ms',
            sluice: sluice.tail[live]?.[p] ?? null,
            other: other(ref?.tail[live]?.[p]),
          }),
        );
      }
    }
    return {
      id: 'durable-streams',
      title: 'Durable Streams client: Sluice vs the reference server',
      rows,
      ...(skipped.length ? { skipped } : {}),
      details: { phase_ms: phaseMs, writers: WRITERS, tail_rate: TAIL_RATE, sluice, reference: ref },
    };
  },
};
