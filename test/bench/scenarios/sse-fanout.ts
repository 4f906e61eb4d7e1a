// Scenario 4: SSE fan-out — 1k/5k (and 10k in full mode) subscribers on one partition while
// records arrive at 100 rec/s; delivery p99 across all subscribers, server RSS and event-loop delay.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import type { Dispatcher } from 'undici';
import { uniqueName, type BenchContext, type HttpTarget, type Scenario } from '../lib/context.js';
import { newHistogram, nowMs, summarize, type LatencySummary } from '../lib/histogram.js';
import { createPool, openLoop, requestJson, type RequestSpec } from '../lib/load.js';
import fs from 'node:fs';
import { BENCH_DIR, REPO_ROOT, processCpuMs, sleep, type Child } from '../lib/processes.js';
import { durableStreamsBody, sluiceJsonBody, timestampsIn, values } from '../lib/records.js';
import { bound, versus, type Row, type ScenarioResult } from '../lib/report.js';
import type { SubscriberCommand, SubscriberReply } from '../peers/sse-subscribers.js';

/** 100 rec/s arrive as 10-record requests every 100 ms (one event burst per subscriber per tick). */
const TICKS_PER_SEC = 10;
const RECORDS_PER_TICK = 10;
const CONNECT_WAVE = 250;
const MiB = 1024 * 1024;
/** The subscribers run in this many processes (BENCH_FANOUT_PROCESSES), each its own event loop. */
const SUBSCRIBER_PROCESSES = Math.max(1, Number(process.env['BENCH_FANOUT_PROCESSES'] ?? 2));
const SUBSCRIBERS = path.join(BENCH_DIR, 'peers', 'sse-subscribers.ts');

interface FanoutRun {
  subscribers: number;
  connected: number;
  connectMs: number;
  produced: number;
  expectedDeliveries: number;
  deliveries: number;
  latency: LatencySummary;
  serverRssPeakMiB: number | null;
  serverRssMiB: number | null;
  loopDelayP99Ms: number | null;
  loopDelayMaxMs: number | null;
  /** The subscribers' processes (the worst of them): if this is high, the client limits the latency measured. */
  clientLoopDelayP99Ms: number;
  subscriberProcesses: number;
  /**
   * CPU the server used from the first record until the drain ended (user+system, all threads),
   * per delivered event, and the kernel's share of it: on a shared machine CPU per delivery is
   * steadier than latency, and the system share is the socket writes' cost in the kernel.
   */
  serverCpuMs: number;
  serverCpuUsPerDelivery: number | null;
  serverSystemShare: number | null;
  /** CPU the subscriber processes used in the same window (the load generator's cost). */
  subscribersCpuMs: number;
  /** The phase that hit its time bound (the run stopped there and reports what it reached). */
  timedOut?: string;
}

/** Time bounds per phase, so a system that stalls ends its run instead of the benchmark's. */
const connectBudgetMs = (n: number) => 30_000 + 10 * n;
const PRODUCE_GRACE_MS = 10_000;
const DRAIN_MS = 5000;

/** Where subscribers connect and records go: Sluice or the Durable Streams peer. */
interface FanoutTarget {
  origin: string;
  child: Child;
  /** Its event-stream body is close-delimited, so subscribers may read it from the bare socket. */
  rawBody: boolean;
  /** Create the stream; returns the SSE URL (from the live end) and the produce request. */
  setup(pool: Dispatcher, n: number): Promise<{ sseUrl: string; produce: (vals: string[]) => RequestSpec }>;
}

const sluiceTarget = (ctx: BenchContext): FanoutTarget => ({
  origin: ctx.sluice.url,
  child: ctx.sluice.child,
  rawBody: true,
  setup: async (pool, n) => {
    const topic = uniqueName(`fan-${n}`);
    await requestJson(pool, {
      method: 'POST',
      path: '/v1/topics',
      body: JSON.stringify({ name: topic, partitions: 1, config: { durability: 'write' } }),
    });
    return {
      sseUrl: `${ctx.sluice.url}/v1/topics/${topic}/partitions/0/events?from=latest`,
      produce: (vals) => ({
        method: 'POST',
        path: `/v1/topics/${topic}/records`,
        headers: { 'content-type': 'application/json' },
        body: sluiceJsonBody(vals),
      }),
    };
  },
});

const durableStreamsTarget = (ds: HttpTarget): FanoutTarget => ({
  origin: ds.url,
  child: ds.child,
  rawBody: false,
  setup: async (pool, n) => {
    const stream = `/bench/${uniqueName(`fan-${n}`)}`;
    await requestJson(pool, { method: 'PUT', path: stream }, [200, 201]);
    return {
      sseUrl: `${ds.url}${stream}?offset=now&live=sse`,
      produce: (vals) => ({
        method: 'POST',
        path: stream,
        headers: { 'content-type': 'application/json' },
        body: durableStreamsBody(vals),
      }),
    };
  },
});

/** User and system CPU seconds of process `pid` (all threads) from /proc/<pid>/stat; NaN elsewhere. */
function userSystemSeconds(pid: number | undefined): { user: number; system: number } {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
  } catch {
    return { user: NaN, system: NaN };
  }
}

/** Sends a command to a subscriber process and waits for its reply of that kind. */
function ask<K extends SubscriberReply['reply']>(
  child: ChildProcess,
  command: SubscriberCommand,
  kind: K,
): Promise<Extract<SubscriberReply, { reply: K }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: SubscriberReply) => {
      if (m.reply !== kind) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m as Extract<SubscriberReply, { reply: K }>);
    };
    const onExit = (code: number | null) => {
      child.off('message', onMessage);
      reject(new Error(`subscriber process exited with ${code} before answering ${command.cmd}`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(command);
  });
}

async function fanout(
  target: FanoutTarget,
  n: number,
  durationMs: number,
  log: (m: string) => void,
): Promise<FanoutRun> {
  const pool = createPool(target.origin, 2);
  const procs = Array.from({ length: Math.min(SUBSCRIBER_PROCESSES, n) }, () =>
    fork(SUBSCRIBERS, [], {
      cwd: REPO_ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  const reports = () => Promise.all(procs.map((p) => ask(p, { cmd: 'report' }, 'report')));
  try {
    const { sseUrl: url, produce } = await target.setup(pool, n);
    const c0 = performance.now();
    const deadlineMs = Date.now() + connectBudgetMs(n);
    const share = (i: number) => Math.floor(n / procs.length) + (i < n % procs.length ? 1 : 0);
    const connects = await Promise.all(
      procs.map((p, i) =>
        ask(
          p,
          { cmd: 'connect', url, count: share(i), wave: CONNECT_WAVE, deadlineMs, raw: target.rawBody },
          'connected',
        ),
      ),
    );
    let timedOut: string | undefined = connects.some((c) => c.timedOut)
      ? `connect (${connectBudgetMs(n) / 1000} s)`
      : undefined;
    const connectedCount = connects.reduce((sum, c) => sum + c.connected, 0);
    const failed = n - connectedCount;
    const connectMs = performance.now() - c0;
    log(
      `fan-out ${n}: ${n - failed} connected in ${Math.round(connectMs)} ms over ${procs.length} subscriber processes${timedOut ? ' (time bound hit)' : ''}`,
    );
    await sleep(1100);
    target.child.resetProbe();
    let seq = 0;
    const recordFrom = nowMs() + 1000;
    for (const p of procs) p.send({ cmd: 'measure', fromMs: recordFrom } satisfies SubscriberCommand);
    let counted = 0;
    const producerLoop = monitorEventLoopDelay({ resolution: 10 });
    producerLoop.enable();
    const serverPid = target.child.proc.pid;
    const cpu0 = processCpuMs(serverPid);
    const split0 = userSystemSeconds(serverPid);
    const subsCpu0 = procs.map((p) => processCpuMs(p.pid));
    const load = await openLoop(
      pool,
      TICKS_PER_SEC,
      1000 + durationMs,
      () => {
        const vals = values(RECORDS_PER_TICK, seq);
        seq += RECORDS_PER_TICK;
        if ((timestampsIn(vals[0] ?? '')[0] ?? 0) >= recordFrom) counted += RECORDS_PER_TICK;
        return produce(vals);
      },
      512,
      PRODUCE_GRACE_MS,
    );
    if (load.errors && load.firstError?.includes('unanswered'))
      timedOut ??= `produce (${PRODUCE_GRACE_MS / 1000} s grace)`;
    const expected = counted * (n - failed);
    const deadline = performance.now() + DRAIN_MS;
    let last = await reports();
    const delivered = () => last.reduce((sum, r) => sum + r.deliveries, 0);
    while (delivered() < expected && performance.now() < deadline) {
      await sleep(200);
      last = await reports();
    }
    if (delivered() < expected) timedOut ??= `delivery drain (${DRAIN_MS / 1000} s)`;
    producerLoop.disable();
    const serverCpuMs = processCpuMs(serverPid) - cpu0;
    const split1 = userSystemSeconds(serverPid);
    const system = split1.system - split0.system;
    const userSystem = system + split1.user - split0.user;
    const subscribersCpuMs = procs.reduce((sum, p, i) => sum + processCpuMs(p.pid) - (subsCpu0[i] ?? 0), 0);
    const h = newHistogram();
    for (const r of last) h.add(hdr.decodeFromCompressedBase64(r.histogram));
    await sleep(1100); // one more probe sample covering the whole window
    const probe = target.child.probe();
    const rssNow = target.child.rssBytes();
    return {
      subscribers: n,
      connected: n - failed,
      connectMs,
      produced: seq,
      expectedDeliveries: expected,
      deliveries: delivered(),
      latency: summarize(h),
      serverRssPeakMiB: probe ? probe.peakRssBytes / MiB : null,
      serverRssMiB: Number.isFinite(rssNow) ? rssNow / MiB : null,
      loopDelayP99Ms: probe?.loopDelayP99Ms ?? null,
      loopDelayMaxMs: probe?.loopDelayMaxMs ?? null,
      clientLoopDelayP99Ms: Math.max(producerLoop.percentile(99) / 1e6, ...last.map((r) => r.loopDelayP99Ms)),
      subscriberProcesses: procs.length,
      serverCpuMs,
      serverCpuUsPerDelivery: delivered() > 0 ? (serverCpuMs * 1000) / delivered() : null,
      serverSystemShare: userSystem > 0 ? system / userSystem : null,
      subscribersCpuMs,
      ...(timedOut && { timedOut }),
    };
  } finally {
    for (const p of procs) {
      if (p.connected) p.send({ cmd: 'close' } satisfies SubscriberCommand);
      setTimeout(() => p.kill('SIGKILL'), 5000).unref();
    }
    await Promise.all(procs.map((p) => (p.exitCode === null ? new Promise((r) => p.once('exit', r)) : undefined)));
    await pool.close();
    await sleep(500);
  }
}

export const sseFanout: Scenario = {
  id: 'sse-fanout',
  title: 'SSE fan-out',
  run: async (ctx) => {
    // BENCH_FANOUT="1000,10000" overrides the subscriber counts (e.g. to try 10k in a quick run).
    const sizes =
      process.env['BENCH_FANOUT']
        ?.split(',')
        .map(Number)
        .filter((n) => n > 0) ?? (ctx.quick ? [1000, 5000] : [1000, 5000, 10_000]);
    const durationMs = ctx.quick ? 3000 : 10_000;
    const details: Record<string, unknown> = {
      rate_rec_per_sec: TICKS_PER_SEC * RECORDS_PER_TICK,
      records_per_request: RECORDS_PER_TICK,
      duration_ms: durationMs,
    };
    const rows: Row[] = [];
    const skipped: string[] = [];
    for (const n of sizes) {
      const r = await fanout(sluiceTarget(ctx), n, durationMs, ctx.log);
      details[`subscribers_${n}`] = r;
      ctx.log(
        `fan-out ${n}: p99 ${r.latency.p99Ms} ms, ${r.deliveries}/${r.expectedDeliveries} deliveries, RSS peak ${r.serverRssPeakMiB?.toFixed(0)} MiB, loop p99 ${r.loopDelayP99Ms?.toFixed(1)} ms (subscribers ${r.clientLoopDelayP99Ms.toFixed(1)} ms); server CPU ${(r.serverCpuMs / 1000).toFixed(2)} s = ${r.serverCpuUsPerDelivery?.toFixed(2)} µs/delivery (${((r.serverSystemShare ?? NaN) * 100).toFixed(0)}% system), subscribers CPU ${(r.subscribersCpuMs / 1000).toFixed(2)} s`,
      );
      const complete = r.connected === n && r.deliveries >= r.expectedDeliveries;
      if (!complete)
        skipped.push(
          `${n} subscribers: ${r.connected}/${n} connected, ${r.deliveries}/${r.expectedDeliveries} deliveries${r.timedOut ? `, stopped at the ${r.timedOut} time bound` : ''} (latency rows marked —)`,
        );
      const scenario = `SSE fan-out ${n / 1000}k subscribers @100 rec/s`;
      const p99 = complete ? r.latency.p99Ms : null;
      // Durable Streams at the smallest size, in full mode (BENCH_DS_FANOUT=1 in quick mode).
      if (n === sizes[0] && ctx.ds && (!ctx.quick || process.env['BENCH_DS_FANOUT'] === '1')) {
        const d = await fanout(durableStreamsTarget(ctx.ds), n, durationMs, ctx.log);
        details[`durable_streams_${n}`] = d;
        ctx.log(
          `durable-streams fan-out ${n}: p99 ${d.latency.p99Ms} ms, ${d.deliveries}/${d.expectedDeliveries}, RSS peak ${d.serverRssPeakMiB?.toFixed(0)} MiB`,
        );
        const dOk = d.connected === n && d.deliveries >= d.expectedDeliveries;
        if (!dOk)
          skipped.push(
            `Durable Streams ${n} subscribers: ${d.connected}/${n} connected, ${d.deliveries}/${d.expectedDeliveries} deliveries${d.timedOut ? `, stopped at the ${d.timedOut} time bound` : ''}`,
          );
        rows.push(
          versus({
            scenario,
            metric: 'delivery p99',
            unit: 'ms',
            sluice: p99,
            other: { name: 'Durable Streams', value: dOk ? d.latency.p99Ms : null },
          }),
        );
        rows.push(
          versus({
            scenario,
            metric: 'server RSS peak',
            unit: 'MiB',
            sluice: r.serverRssPeakMiB,
            other: { name: 'Durable Streams', value: d.serverRssPeakMiB },
          }),
        );
      } else if (n === sizes[0])
        skipped.push(
          `Durable Streams fan-out: ${ctx.ds ? 'full mode only (or BENCH_DS_FANOUT=1)' : (ctx.dsSkip ?? 'not started')}`,
        );
      const rss = r.serverRssPeakMiB;
      if (n === 10_000) {
        rows.push(bound({ scenario, metric: 'delivery p99', unit: 'ms', sluice: p99 }, '≤', 250));
        rows.push(bound({ scenario, metric: 'server RSS peak', unit: 'MiB', sluice: rss }, '≤', 1024));
      } else {
        rows.push({ scenario, metric: 'delivery p99', unit: 'ms', sluice: p99 });
        rows.push({ scenario, metric: 'server RSS peak', unit: 'MiB', sluice: rss });
      }
      rows.push({ scenario, metric: 'server event-loop delay p99', unit: 'ms', sluice: r.loopDelayP99Ms });
      rows.push({
        scenario,
        metric: 'server CPU per delivered event',
        unit: 'µs',
        sluice: r.serverCpuUsPerDelivery,
        ...(r.serverSystemShare !== null && {
          note: `${Math.round(r.serverSystemShare * 100)}% of it in the kernel (socket writes)`,
        }),
      });
      rows.push({
        scenario,
        metric: 'client (subscribers) event-loop delay p99',
        unit: 'ms',
        sluice: r.clientLoopDelayP99Ms,
        note: 'the load generator, not Sluice',
      });
    }
    if (!sizes.includes(10_000))
      skipped.push('10k subscribers (targets p99 ≤ 250 ms, RSS ≤ 1 GiB) run in full mode only');
    const result: ScenarioResult = { id: 'sse-fanout', title: 'SSE fan-out', rows, details };
    if (skipped.length) result.skipped = skipped;
    return result;
  },
};
