// HTTP load generation over a few keep-alive connections (undici Pool): a closed loop
// (N requests, C in flight: throughput) and an open loop at a fixed rate (latency at load,
// measured from each request's scheduled start so a stalled server can't hide its queue).
import { Pool, type Dispatcher } from 'undici';
import { newHistogram, recordMs, summarize, type Histogram, type LatencySummary } from './histogram.js';

export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface LoadResult {
  requests: number;
  errors: number;
  /** First failure, to say why a run went wrong. */
  firstError?: string;
  elapsedMs: number;
  reqPerSec: number;
  bytesSent: number;
  bytesReceived: number;
  latency: LatencySummary;
}

export function createPool(origin: string, connections: number): Pool {
  return new Pool(origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    bodyTimeout: 120_000,
    headersTimeout: 120_000,
  });
}

/** One request, body drained; never throws (a failure is `ok: false` with the reason). */
export async function send(
  pool: Dispatcher,
  spec: RequestSpec,
): Promise<{ ok: boolean; bytes: number; error?: string }> {
  try {
    const res = await pool.request({ method: spec.method, path: spec.path, headers: spec.headers, body: spec.body });
    const buf = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true, bytes: buf.length };
    return { ok: false, bytes: buf.length, error: `${res.statusCode} ${buf.toString('utf8').slice(0, 300)}` };
  } catch (e) {
    return { ok: false, bytes: 0, error: String(e) };
  }
}

function finish(
  h: Histogram,
  started: number,
  n: number,
  errors: number,
  firstError: string | undefined,
  sent: number,
  received: number,
): LoadResult {
  const elapsedMs = performance.now() - started;
  return {
    requests: n,
    errors,
    ...(firstError ? { firstError } : {}),
    elapsedMs,
    reqPerSec: ((n - errors) / elapsedMs) * 1000,
    bytesSent: sent,
    bytesReceived: received,
    latency: summarize(h),
  };
}

/**
 * `total` requests, `concurrency` at a time, as fast as the server answers; stops issuing
 * after `budgetMs` so a slow system can't stretch the run (the rate counts what completed).
 */
export async function closedLoop(
  pool: Dispatcher,
  total: number,
  concurrency: number,
  make: (i: number) => RequestSpec,
  budgetMs = Infinity,
): Promise<LoadResult> {
  const h = newHistogram();
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  let sent = 0;
  let received = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < total && performance.now() - started < budgetMs) {
      const spec = make(next++);
      const t0 = performance.now();
      const r = await send(pool, spec);
      recordMs(h, performance.now() - t0);
      sent += spec.body?.length ?? 0;
      received += r.bytes;
      if (!r.ok) {
        errors++;
        firstError ??= r.error;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return finish(h, started, next, errors, firstError, sent, received);
}

/**
 * `ratePerSec` requests per second for `durationMs`, at most `maxInFlight` outstanding
 * (beyond that, requests still count their latency from when they were due).
 */
export async function openLoop(
  pool: Dispatcher,
  ratePerSec: number,
  durationMs: number,
  make: (i: number) => RequestSpec,
  maxInFlight = 512,
  /** How long to wait for answers still outstanding after the last request was due; those later count as failed. */
  graceMs = Infinity,
): Promise<LoadResult> {
  const h = newHistogram();
  const total = Math.max(1, Math.round((ratePerSec * durationMs) / 1000));
  const interval = 1000 / ratePerSec;
  let errors = 0;
  let firstError: string | undefined;
  let sent = 0;
  let received = 0;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    while (inFlight >= maxInFlight) await Promise.race(pending);
    const spec = make(i);
    inFlight++;
    const p = send(pool, spec).then((r) => {
      recordMs(h, performance.now() - due);
      sent += spec.body?.length ?? 0;
      received += r.bytes;
      if (!r.ok) {
        errors++;
        firstError ??= r.error;
      }
      inFlight--;
      pending.delete(p);
    });
    pending.add(p);
  }
  if (Number.isFinite(graceMs)) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(pending), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    if (pending.size > 0) {
      errors += pending.size;
      firstError ??= `${pending.size} requests unanswered ${graceMs} ms after the last was due`;
    }
  } else await Promise.all(pending);
  return finish(h, started, total, errors, firstError, sent, received);
}

/** One JSON request; throws with the server's answer unless the status is 2xx (or allowed). */
export async function requestJson<T = unknown>(
  pool: Dispatcher,
  spec: RequestSpec,
  allow: number[] = [],
): Promise<{ status: number; body: T; headers: Record<string, string | string[] | undefined> }> {
  const res = await pool.request({
    method: spec.method,
    path: spec.path,
    headers: { 'content-type': 'application/json', ...spec.headers },
    body: spec.body,
  });
  const text = await res.body.text();
  if ((res.statusCode < 200 || res.statusCode >= 300) && !allow.includes(res.statusCode)) {
    throw new Error(`${spec.method} ${spec.path} → ${res.statusCode}: ${text.slice(0, 500)}`);
  }
  return { status: res.statusCode, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
}

/**
 * Start `task(i)` `ratePerSec` times a second for `durationMs` without waiting for earlier
 * ones (at most `maxInFlight` outstanding), for producers that aren't HTTP requests.
 */
export async function pacedTasks(
  ratePerSec: number,
  durationMs: number,
  task: (i: number) => Promise<boolean>,
  maxInFlight = 512,
): Promise<{ started: number; failed: number }> {
  const total = Math.max(1, Math.round((ratePerSec * durationMs) / 1000));
  const interval = 1000 / ratePerSec;
  const pending = new Set<Promise<void>>();
  let failed = 0;
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = t0 + i * interval - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    while (pending.size >= maxInFlight) await Promise.race(pending);
    const p: Promise<void> = task(i)
      .then((ok) => {
        if (!ok) failed++;
      })
      .catch(() => {
        failed++;
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  }
  await Promise.all(pending);
  return { started: total, failed };
}
