// Scenario 5: catch-up replay — N records (~100 B) written to one partition, then read from
// offset 0 over HTTP (paged GETs and an SSE stream from=earliest) vs a Durable Streams catch-up read.
import type { Dispatcher } from 'undici';
import { uniqueName, type Scenario } from '../lib/context.js';
import { closedLoop, createPool, requestJson } from '../lib/load.js';
import { durableStreamsBody, sluiceJsonBody, timestampsIn, values } from '../lib/records.js';
import { bound, versus, type Row, type ScenarioResult } from '../lib/report.js';
import { subscribeSse } from '../lib/subscribers.js';
import { sleep } from '../lib/processes.js';

const BATCH = 5000;
/** Loading the log is a phase too: bounded, so a stalled server ends the scenario, not the run. */
const LOAD_BUDGET_MS = 300_000;

interface ReplayRun {
  records: number;
  bytes: number;
  elapsedMs: number;
  recPerSec: number;
  mbPerSec: number;
}

const rate = (records: number, bytes: number, elapsedMs: number): ReplayRun => ({
  records,
  bytes,
  elapsedMs,
  recPerSec: records / (elapsedMs / 1000),
  mbPerSec: bytes / 1e6 / (elapsedMs / 1000),
});

/** Page through the partition from offset 0 with one connection, as a catching-up consumer does. */
async function pagedReplay(pool: Dispatcher, path: string, total: number): Promise<ReplayRun> {
  let offset = 0;
  let bytes = 0;
  let records = 0;
  const t0 = performance.now();
  while (offset < total) {
    const res = await pool.request({
      method: 'GET',
      path: `${path}?offset=${offset}&max_records=10000&max_bytes=${8 * 1024 * 1024}`,
    });
    const body = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`replay read → ${res.statusCode}: ${body.slice(0, 300)}`);
    bytes += Buffer.byteLength(body);
    // Count without a full JSON.parse: the client's parsing shouldn't be what's measured.
    records += timestampsIn(body).length;
    const next = Number(/"next_offset":(\d+)/.exec(body)?.[1] ?? NaN);
    if (!(next > offset)) throw new Error(`replay stalled at offset ${offset}`);
    offset = next;
  }
  return rate(records, bytes, performance.now() - t0);
}

export const replay: Scenario = {
  id: 'replay',
  title: 'Catch-up replay',
  run: async (ctx) => {
    const total = ctx.quick ? 200_000 : 1_000_000;
    const details: Record<string, unknown> = { records: total };
    const skipped: string[] = [];
    const pool = createPool(ctx.sluice.url, 4);
    const topic = uniqueName('replay');
    const vals = values(BATCH);
    try {
      await requestJson(pool, {
        method: 'POST',
        path: '/v1/topics',
        body: JSON.stringify({ name: topic, partitions: 1, config: { durability: 'write' } }),
      });
      const body = sluiceJsonBody(vals);
      const load = await closedLoop(
        pool,
        total / BATCH,
        4,
        () => ({
          method: 'POST',
          path: `/v1/topics/${topic}/records`,
          headers: { 'content-type': 'application/json' },
          body,
        }),
        LOAD_BUDGET_MS,
      );
      if (load.errors) throw new Error(`loading failed: ${load.firstError}`);
      if (load.requests < total / BATCH)
        throw new Error(
          `loading stopped at its ${LOAD_BUDGET_MS / 1000} s time bound after ${load.requests * BATCH} records`,
        );
      ctx.log(`replay: loaded ${total} records in ${Math.round(load.elapsedMs)} ms`);

      const paged = await pagedReplay(pool, `/v1/topics/${topic}/partitions/0/records`, total);
      details['sluice_paged'] = paged;
      ctx.log(`replay paged: ${Math.round(paged.recPerSec)} rec/s, ${paged.mbPerSec.toFixed(1)} MB/s`);

      // SSE from the start: count events until all arrived.
      let got = 0;
      let bytes = 0;
      const t0 = performance.now();
      const sub = subscribeSse(
        `${ctx.sluice.url}/v1/topics/${topic}/partitions/0/events?from=earliest`,
        (ts) => (got += ts.length),
      );
      await sub.ready;
      const deadline = performance.now() + 120_000;
      while (got < total && performance.now() < deadline) await sleep(10);
      const sseMs = performance.now() - t0;
      sub.close();
      bytes = Math.round((paged.bytes / total) * got);
      const sse = rate(got, bytes, sseMs);
      details['sluice_sse'] = { ...sse, bytes_estimated_from_paged: true };
      ctx.log(`replay SSE: ${Math.round(sse.recPerSec)} rec/s (${got}/${total})`);

      let dsRun: ReplayRun | null = null;
      if (ctx.ds) {
        const dsPool = createPool(ctx.ds.url, 4);
        try {
          const stream = `/bench/${uniqueName('replay')}`;
          await requestJson(dsPool, { method: 'PUT', path: stream }, [200, 201]);
          const dsBody = durableStreamsBody(vals);
          const dl = await closedLoop(
            dsPool,
            total / BATCH,
            4,
            () => ({
              method: 'POST',
              path: stream,
              headers: { 'content-type': 'application/json' },
              body: dsBody,
            }),
            LOAD_BUDGET_MS,
          );
          if (dl.errors) throw new Error(`loading Durable Streams failed: ${dl.firstError}`);
          if (dl.requests < total / BATCH)
            throw new Error(`loading Durable Streams stopped at its ${LOAD_BUDGET_MS / 1000} s time bound`);
          let offset = '-1';
          let records = 0;
          let dsBytes = 0;
          const d0 = performance.now();
          const dsDeadline = d0 + 120_000;
          for (;;) {
            if (performance.now() > dsDeadline) {
              skipped.push(`Durable Streams replay stopped at its 120 s time bound`);
              break;
            }
            const res = await dsPool.request({ method: 'GET', path: `${stream}?offset=${encodeURIComponent(offset)}` });
            const text = await res.body.text();
            if (res.statusCode !== 200) throw new Error(`Durable Streams read → ${res.statusCode}`);
            dsBytes += Buffer.byteLength(text);
            records += timestampsIn(text).length;
            const nextHeader = res.headers['stream-next-offset'];
            const next = (Array.isArray(nextHeader) ? nextHeader[0] : nextHeader) ?? offset;
            if (res.headers['stream-up-to-date'] === 'true' || next === offset) break;
            offset = next;
          }
          dsRun = rate(records, dsBytes, performance.now() - d0);
          details['durable_streams'] = dsRun;
          ctx.log(`durable-streams replay: ${Math.round(dsRun.recPerSec)} rec/s (${records})`);
          if (records < total) skipped.push(`Durable Streams replay returned ${records}/${total} records`);
        } finally {
          await dsPool.close();
        }
      } else skipped.push(`Durable Streams: ${ctx.dsSkip ?? 'not started'}`);

      const scenario = `replay ${total / 1000}k records from offset 0`;
      const rows: Row[] = [
        bound({ scenario, metric: 'paged GET records/s', unit: 'rec/s', sluice: paged.recPerSec }, '≥', 1_000_000),
        versus({
          scenario,
          metric: 'paged GET records/s',
          unit: 'rec/s',
          sluice: paged.recPerSec,
          other: {
            name: 'Durable Streams catch-up GET',
            value: dsRun && dsRun.records >= total ? dsRun.recPerSec : null,
          },
        }),
        { scenario, metric: 'paged GET MB/s (response bytes)', unit: 'MB/s', sluice: paged.mbPerSec },
        bound(
          {
            scenario,
            metric: 'SSE from=earliest records/s',
            unit: 'rec/s',
            sluice: got >= total ? sse.recPerSec : null,
          },
          '≥',
          1_000_000,
        ),
      ];
      if (got < total) skipped.push(`SSE replay delivered ${got}/${total} within 120 s`);
      const result: ScenarioResult = { id: 'replay', title: 'Catch-up replay', rows, details };
      if (skipped.length) result.skipped = skipped;
      return result;
    } finally {
      await pool.close();
    }
  },
};
