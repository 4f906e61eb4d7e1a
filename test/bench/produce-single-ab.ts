// A/B of single-record produce (8 connections, the produce-single scenario's request) between
// source trees: each tree is bundled and started on its own PGlite, then rounds alternate the
// servers (rotating the order). Per phase it prints the server's CPU µs per request (utime+stime
// from /proc, minus the idle rate measured in the second before the phase: database polling and
// timers) and voluntary context switches per request (all threads: the thread-pool trips).
// SRCS="base=/tmp/old/src,new=$PWD/src" ROUNDS=8 PHASE_MS=3000 [DURABILITY=write] [PROF_DIR=dir]
//   node ./node_modules/tsx/dist/cli.mjs test/bench/produce-single-ab.ts
// (an old tree: mkdir /tmp/old && git archive <ref> src | tar -x -C /tmp/old)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { closedLoop, createPool, openLoop, requestJson } from './lib/load.js';
import { bundleNode, freePort, REPO_ROOT, spawnChild, tempDir, waitForHttp } from './lib/processes.js';
import { sluiceJsonBody, valueJson } from './lib/records.js';

const srcs = (process.env['SRCS'] ?? `old=${process.env['OLD_SRC']},new=${path.join(REPO_ROOT, 'src')}`)
  .split(',')
  .map((x) => x.split('=') as [string, string]);
const rounds = Number(process.env['ROUNDS'] ?? 5);
const ms = Number(process.env['PHASE_MS'] ?? 3000);
const durability = process.env['DURABILITY'];
/** With OPEN_RATE=n, each phase is an open loop at n req/s (the half-load row) and p50/p99 are printed too. */
const openRate = Number(process.env['OPEN_RATE'] ?? 0);
async function bundle(src: string, name: string) {
  const out = path.join(REPO_ROOT, '.bench-results', name, 'main.js');
  await bundleNode(path.join(src, 'main.ts'), out);
  return out;
}
function cpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}
/** Voluntary context switches of every thread of `pid` (the loop and the thread pool). */
function switches(pid: number): number {
  let n = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8'));
      n += Number(m?.[1] ?? 0);
    } catch {}
  }
  return n;
}
async function start(main: string, label: string) {
  const port = await freePort();
  const child = await spawnChild({
    name: label,
    command: process.execPath,
    args: [
      ...(process.env['PROF_DIR'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['PROF_DIR']}/${label}`] : []),
      main,
    ],
    env: {
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: await tempDir('s1ab'),
      SLUICE_LOG_LEVEL: 'warn',
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/readyz`, child, 180_000);
  const pool = createPool(url, 8);
  const topic = `ab${Date.now()}${label}`;
  await requestJson(pool, {
    method: 'POST',
    path: '/v1/topics',
    body: JSON.stringify({ name: topic, partitions: 4, ...(durability ? { config: { durability } } : {}) }),
  });
  let seq = 0;
  const make = () => ({
    method: 'POST' as const,
    path: `/v1/topics/${topic}/records`,
    headers: { 'content-type': 'application/json' },
    body: sluiceJsonBody([valueJson(seq++)]),
  });
  await closedLoop(pool, 2000, 8, make, 2000);
  return { label, child, pool, make, pid: child.proc.pid! };
}
const servers: Awaited<ReturnType<typeof start>>[] = [];
for (const [label, src] of srcs) servers.push(await start(await bundle(src, `ab-${label}`), label));
const res: Record<string, { us: number[]; rps: number[]; cs: number[]; p50: number[]; p99: number[] }> = {};
for (const [label] of srcs) res[label] = { us: [], rps: [], cs: [], p50: [], p99: [] };
for (let r = 0; r < rounds; r++) {
  const order = servers.map((_, i) => servers[(i + r) % servers.length]!);
  for (const s of order) {
    // Idle CPU first (database polling, timers), subtracted at the same rate from the phase.
    const i0 = cpuMs(s.pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const idlePerMs = (cpuMs(s.pid) - i0) / (performance.now() - t0);
    const s0 = switches(s.pid);
    const c0 = cpuMs(s.pid);
    const t1 = performance.now();
    const lr =
      openRate > 0 ? await openLoop(s.pool, openRate, ms, s.make) : await closedLoop(s.pool, 1e9, 8, s.make, ms);
    res[s.label]!.p50.push(lr.latency.p50Ms);
    res[s.label]!.p99.push(lr.latency.p99Ms);
    const c1 = cpuMs(s.pid);
    const busy = c1 - c0 - idlePerMs * (performance.now() - t1);
    const n = lr.requests;
    res[s.label]!.cs.push(Math.round(((switches(s.pid) - s0) * 10) / n) / 10);
    res[s.label]!.us.push(Math.round((busy * 1000) / n));
    res[s.label]!.rps.push(Math.round(lr.reqPerSec));
    if (lr.errors) console.log(s.label, 'errors', lr.errors, lr.firstError);
  }
  console.log(
    `round ${r + 1}: ${srcs.map(([l]) => `${l} ${res[l]!.us.at(-1)} µs ${res[l]!.rps.at(-1)}/s p50 ${res[l]!.p50.at(-1)} p99 ${res[l]!.p99.at(-1)} ms`).join(' | ')} | load ${os.loadavg()[0]!.toFixed(2)}`,
  );
}
for (const [l] of srcs)
  console.log(`${l}: µs/req ${res[l]!.us.join(' ')}; voluntary switches/req ${res[l]!.cs.join(' ')}`);
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(
  srcs
    .map(
      ([l]) =>
        `${l}: median ${med(res[l]!.us)} µs/req, ${med(res[l]!.rps)} req/s, below ${srcs[0]![0]} in ${res[l]!.us.filter((u, i) => u < res[srcs[0]![0]]!.us[i]!).length}/${rounds}`,
    )
    .join('\n'),
);
for (const s of servers) {
  await s.pool.close();
  await s.child.stop('SIGTERM');
}
