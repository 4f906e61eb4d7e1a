// Scenario 5: catch-up replay — N records (~100 B) written to one partition, then read from
// offset 0 over HTTP (paged GETs and an SSE stream from=earliest) vs a Durable Streams catch-up
// read, in rounds (Sluice and the peer alternating), with both sides' CPU per million records.
import http from 'node:http';
import type { Dispatcher } from 'undici';
import { uniqueName, type Scenario } from '../lib/context.js';
import { closedLoop, createPool, requestJson } from '../lib/load.js';
import { durableStreamsBody, sluiceJsonBody, values } from '../lib/records.js';
import { bound, versus, withSpread, type Row, type ScenarioResult } from '../lib/report.js';
import { processCpuMs } from '../lib/processes.js';

const BATCH = 5000;
/** Loading the log is a phase too: bounded, so a stalled server ends the scenario, not the run. */
const LOAD_BUDGET_MS = 300_000;

interface ReplayRun {
  records: number;
  bytes: number;
  elapsedMs: number;
  recPerSec: number;
  mbPerSec: number;
  /** CPU the server process (all threads) and this load generator used, per million records. */
  serverCpuSPerM?: number;
  clientCpuSPerM?: number;
}

const rate = (records: number, bytes: number, elapsedMs: number): ReplayRun => ({
  records,
  bytes,
  elapsedMs,
  recPerSec: records / (elapsedMs / 1000),
  mbPerSec: bytes / 1e6 / (elapsedMs / 1000),
});

/** Runs `phase` and adds both sides' CPU (server: the process `pid`, when given) per million records. */
async function measured<R extends ReplayRun>(pid: number | undefined, phase: () => Promise<R>): Promise<R> {
  const s0 = pid === undefined ? NaN : processCpuMs(pid);
  const c0 = process.cpuUsage();
  const run = await phase();
  const c = process.cpuUsage(c0);
  const perM = 1e6 / Math.max(1, run.records);
  run.clientCpuSPerM = ((c.user + c.system) / 1e6) * perM;
  if (pid !== undefined) run.serverCpuSPerM = ((processCpuMs(pid) - s0) / 1000) * perM;
  return run;
}

const TS = Buffer.from('"ts":');

/** Records in a chunk of response bytes: each value carries one `"ts":` (no decode, no parse). */
function countRecords(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(TS); i >= 0; i = buf.indexOf(TS, i + TS.length)) n++;
  return n;
}

/**
 * Pages from offset 0 with one connection, as a catching-up consumer does: the next page is
 * asked for as soon as this one has arrived (its next offset is at the body's end), and this
 * page's records are counted while the server answers — a consumer processing one page while
 * the next is on its way; the server never has two requests of it at once.
 */
async function pagedReplay(pool: Dispatcher, path: string, total: number): Promise<ReplayRun> {
  let bytes = 0;
  let records = 0;
  const t0 = performance.now();
  const get = async (offset: number) => {
    const res = await pool.request({
      method: 'GET',
      path: `${path}?offset=${offset}&max_records=10000&max_bytes=${8 * 1024 * 1024}`,
    });
    const body = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode !== 200) throw new Error(`replay read → ${res.statusCode}: ${body.subarray(0, 300).toString()}`);
    const tail = body.subarray(Math.max(0, body.length - 100)).toString('latin1');
    const next = Number(/"next_offset":(\d+)/.exec(tail)?.[1] ?? NaN);
    if (!(next > offset)) throw new Error(`replay stalled at offset ${offset}`);
    return { body, next };
  };
  let page = await get(0);
  for (;;) {
    const following = page.next < total ? get(page.next) : null;
    following?.catch(() => undefined);
    bytes += page.body.length;
    records += countRecords(page.body);
    if (!following) break;
    page = await following;
  }
  return rate(records, bytes, performance.now() - t0);
}

/** The same consumer against a Durable Streams catch-up read (next offset in a header). */
async function dsReplay(
  pool: Dispatcher,
  stream: string,
  deadlineMs: number,
): Promise<ReplayRun & { timedOut: boolean }> {
  let bytes = 0;
  let records = 0;
  const t0 = performance.now();
  const get = async (offset: string) => {
    const res = await pool.request({ method: 'GET', path: `${stream}?offset=${encodeURIComponent(offset)}` });
    const body = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode !== 200) throw new Error(`Durable Streams read → ${res.statusCode}`);
    const nextHeader = res.headers['stream-next-offset'];
    const next = (Array.isArray(nextHeader) ? nextHeader[0] : nextHeader) ?? offset;
    const last = res.headers['stream-up-to-date'] === 'true' || next === offset;
    return { body, next, last };
  };
  let page = await get('-1');
  let timedOut = false;
  for (;;) {
    timedOut = performance.now() - t0 > deadlineMs;
    const following = page.last || timedOut ? null : get(page.next);
    following?.catch(() => undefined);
    bytes += page.body.length;
    records += countRecords(page.body);
    if (!following) break;
    page = await following;
  }
  return { ...rate(records, bytes, performance.now() - t0), timedOut };
}

/** An SSE stream from=earliest on its own socket, counted on the bytes until `total` records arrived. */
function sseReplay(url: string, total: number, deadlineMs: number): Promise<ReplayRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let records = 0;
    let bytes = 0;
    /** The last bytes of the previous chunk: a `"ts":` split across two chunks is counted at the joint. */
    let edge: Buffer = Buffer.alloc(0);
    let settled = false;
    const finish = (req: http.ClientRequest) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(rate(records, bytes, performance.now() - t0));
    };
    const req = http.get(url, { agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        settled = true;
        clearTimeout(timer);
        reject(new Error(`SSE ${url} → ${res.statusCode}`));
        res.resume();
        return;
      }
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        records += countRecords(chunk);
        if (edge.length > 0) records += countRecords(Buffer.concat([edge, chunk.subarray(0, TS.length - 1)]));
        edge = Buffer.from(chunk.subarray(Math.max(0, chunk.length - (TS.length - 1))));
        if (records >= total) finish(req);
      });
      res.on('error', () => undefined);
    });
    req.on('error', (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(e);
    });
    const timer = setTimeout(() => finish(req), deadlineMs);
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const range = (xs: number[]): string =>
  xs.length ? `${Math.round(Math.min(...xs) / 1000)}k–${Math.round(Math.max(...xs) / 1000)}k` : '—';

export const replay: Scenario = {
  id: 'replay',
  title: 'Catch-up replay',
  run: async (ctx) => {
    const total = ctx.quick ? 200_000 : 1_000_000;
    const details: Record<string, unknown> = { records: total };
    const skipped: string[] = [];
    const rows: Row[] = [];
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

      // The peer's log, loaded the same way, so its reads alternate with Sluice's in every round.
      const dsPool = ctx.ds ? createPool(ctx.ds.url, 4) : null;
      let stream: string | null = null;
      try {
        if (ctx.ds && dsPool) {
          stream = `/bench/${uniqueName('replay')}`;
          await requestJson(dsPool, { method: 'PUT', path: stream }, [200, 201]);
          const dsBody = durableStreamsBody(vals);
          const dl = await closedLoop(
            dsPool,
            total / BATCH,
            4,
            () => ({
              method: 'POST',
              path: stream!,
              headers: { 'content-type': 'application/json' },
              body: dsBody,
            }),
            LOAD_BUDGET_MS,
          );
          if (dl.errors) throw new Error(`loading Durable Streams failed: ${dl.firstError}`);
          if (dl.requests < total / BATCH)
            throw new Error(`loading Durable Streams stopped at its ${LOAD_BUDGET_MS / 1000} s time bound`);
        } else skipped.push(`Durable Streams: ${ctx.dsSkip ?? 'not started'}`);

        const rounds = Number(process.env['BENCH_REPLAY_ROUNDS'] ?? (ctx.quick ? 2 : 3));
        const paged: ReplayRun[] = [];
        const sse: ReplayRun[] = [];
        const ds: ReplayRun[] = [];
        const pid = ctx.sluice.child.proc.pid;
        const url = `${ctx.sluice.url}/v1/topics/${topic}/partitions/0/events?from=earliest`;
        for (let r = 0; r < rounds; r++) {
          const peer = async (): Promise<void> => {
            if (!stream || !dsPool || !ctx.ds) return;
            const d = await measured(ctx.ds.child.proc.pid, () => dsReplay(dsPool, stream!, 120_000));
            if (d.timedOut) skipped.push(`Durable Streams replay stopped at its 120 s time bound (round ${r + 1})`);
            if (d.records < total) skipped.push(`Durable Streams replay returned ${d.records}/${total} records`);
            else ds.push(d);
          };
          // Rotated order: drifts in machine load hit both systems alike.
          if (r % 2 === 1) await peer();
          const p = await measured(pid, () => pagedReplay(pool, `/v1/topics/${topic}/partitions/0/records`, total));
          paged.push(p);
          if (r % 2 === 0) await peer();
          const e = await measured(pid, () => sseReplay(url, total, 120_000));
          if (e.records < total) skipped.push(`SSE replay delivered ${e.records}/${total} within 120 s`);
          else sse.push(e);
          const d = ds[ds.length - 1];
          ctx.log(
            `replay round ${r + 1}/${rounds}: paged ${Math.round(p.recPerSec)} rec/s (server ${p.serverCpuSPerM?.toFixed(2)} s, ` +
              `client ${p.clientCpuSPerM?.toFixed(2)} s CPU per 1M), SSE ${Math.round(e.recPerSec)} rec/s (server ` +
              `${e.serverCpuSPerM?.toFixed(2)} s, client ${e.clientCpuSPerM?.toFixed(2)} s)` +
              (d
                ? `, Durable Streams ${Math.round(d.recPerSec)} rec/s (server ${d.serverCpuSPerM?.toFixed(2)} s)`
                : ''),
          );
        }
        details['sluice_paged'] = paged;
        details['sluice_sse'] = sse;
        details['durable_streams'] = ds;

        const scenario = `replay ${total / 1000}k records from offset 0`;
        const pagedRate = median(paged.map((x) => x.recPerSec));
        const sseRate = sse.length === rounds ? median(sse.map((x) => x.recPerSec)) : null;
        const dsRate = ds.length === rounds ? median(ds.map((x) => x.recPerSec)) : null;
        const ratios = ds.length === rounds ? paged.map((x, i) => x.recPerSec / ds[i]!.recPerSec) : [];
        const of = `median of ${rounds} rounds`;
        const cpu = (xs: ReplayRun[], k: 'serverCpuSPerM' | 'clientCpuSPerM') =>
          xs.length ? median(xs.map((x) => x[k] ?? NaN)) : null;
        rows.push(
          bound(
            {
              scenario,
              metric: `paged GET records/s (${of}, ${range(paged.map((x) => x.recPerSec))})`,
              unit: 'rec/s',
              sluice: pagedRate,
            },
            '≥',
            1_000_000,
          ),
          withSpread(
            versus({
              scenario,
              metric: `paged GET records/s (${of})`,
              unit: 'rec/s',
              sluice: pagedRate,
              other: { name: 'Durable Streams catch-up GET', value: dsRate },
            }),
            ratios.length ? [Math.min(...ratios), Math.max(...ratios)] : undefined,
          ),
          {
            scenario,
            metric: 'paged GET MB/s (response bytes)',
            unit: 'MB/s',
            sluice: median(paged.map((x) => x.mbPerSec)),
          },
          versus({
            scenario,
            metric: 'paged GET server CPU per 1M records',
            unit: 's',
            sluice: cpu(paged, 'serverCpuSPerM'),
            other: { name: 'Durable Streams server', value: cpu(ds, 'serverCpuSPerM') },
          }),
          {
            scenario,
            metric: 'paged GET client (load generator) CPU per 1M records',
            unit: 's',
            sluice: cpu(paged, 'clientCpuSPerM'),
          },
          bound(
            {
              scenario,
              metric: `SSE from=earliest records/s (${of}, ${range(sse.map((x) => x.recPerSec))})`,
              unit: 'rec/s',
              sluice: sseRate,
            },
            '≥',
            1_000_000,
          ),
          { scenario, metric: 'SSE server CPU per 1M records', unit: 's', sluice: cpu(sse, 'serverCpuSPerM') },
          {
            scenario,
            metric: 'SSE client (load generator) CPU per 1M records',
            unit: 's',
            sluice: cpu(sse, 'clientCpuSPerM'),
          },
        );
      } finally {
        await dsPool?.close();
      }
      const result: ScenarioResult = { id: 'replay', title: 'Catch-up replay', rows, details };
      if (skipped.length) result.skipped = skipped;
      return result;
    } finally {
      await pool.close();
    }
  },
};
