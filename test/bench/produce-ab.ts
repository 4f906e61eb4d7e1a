// A/B harness for batched produce (#19): builds Sluice from two source trees (`--a=dir --b=dir`,
// default: this tree for both; `git worktree add` or `git archive` gives an old one), then
// alternates the produce-batch scenario's load (1000 × ~100 B per request, 4 connections) between
// them in rounds, per body format, printing rec/s and server CPU per million records (all threads,
// from /proc: robust to other load on the machine, unlike the rate).
// `npx tsx test/bench/produce-ab.ts --a=/tmp/old --rounds=5 --seconds=3 --durability=fsync`
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createPool, closedLoop, requestJson } from './lib/load.js';
import {
  bundleNode,
  freePort,
  processCpuMs,
  REPO_ROOT,
  spawnChild,
  tempDir,
  waitForHttp,
  type Child,
} from './lib/processes.js';
import { sluiceJsonBody, sluiceNdjsonBody, values } from './lib/records.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string): string =>
  args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const ROUNDS = Number(arg('rounds', '5'));
const PHASE_MS = Number(arg('seconds', '3')) * 1000;
const FORMATS = arg('formats', 'json,ndjson').split(',') as Array<'json' | 'ndjson'>;
const DURABILITY = arg('durability', 'fsync');
const PROF = arg('prof', '');
const CONNECTIONS = 4;
const RECORDS = 1000;
const trees = [arg('a', REPO_ROOT), arg('b', REPO_ROOT)];
const CT = { json: 'application/json', ndjson: 'application/x-ndjson' };

interface Server {
  name: string;
  url: string;
  child: Child;
  dir: string;
  topic: string;
}

async function start(tree: string, name: string): Promise<Server> {
  const outDir = fs.mkdtempSync(path.join(REPO_ROOT, '.bench-results', `produce-ab-${name}-`));
  const out = path.join(outDir, 'main.mjs');
  await bundleNode(path.join(tree, 'src', 'main.ts'), out);
  const dir = await tempDir(`produce-ab-${name}`);
  const port = await freePort();
  const child = await spawnChild({
    name,
    command: process.execPath,
    args: [...(PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}/${name}`] : []), out],
    env: { HOST: '127.0.0.1', PORT: String(port), DATA_DIR: dir, SLUICE_LOG_LEVEL: 'warn' },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/readyz`, child, 180_000);
  const topic = `ab-${name}`;
  const pool = createPool(url, 1);
  await requestJson(pool, {
    method: 'POST',
    path: '/v1/topics',
    body: JSON.stringify({ name: topic, partitions: 4, config: { durability: DURABILITY } }),
  });
  await pool.close();
  return { name, url, child, dir, topic };
}

async function main(): Promise<void> {
  fs.mkdirSync(path.join(REPO_ROOT, '.bench-results'), { recursive: true });
  const servers = [await start(trees[0]!, 'A'), await start(trees[1]!, 'B')];
  process.stderr.write(`A: ${trees[0]}\nB: ${trees[1]}\n`);
  const vals = values(RECORDS);
  const bodies = { json: sluiceJsonBody(vals), ndjson: sluiceNdjsonBody(vals) };
  const pools = servers.map((s) => createPool(s.url, CONNECTIONS));
  const make = (s: Server, f: 'json' | 'ndjson') => () => ({
    method: 'POST' as const,
    path: `/v1/topics/${s.topic}/records`,
    headers: { 'content-type': CT[f] },
    body: bodies[f],
  });
  for (const f of FORMATS)
    for (let k = 0; k < 2; k++) await closedLoop(pools[k]!, 20, CONNECTIONS, make(servers[k]!, f), 30_000);
  const rows: Record<string, Array<{ rate: number; cpuSPerM: number }>> = {};
  const loads: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const f of FORMATS) {
      for (const k of r % 2 === 0 ? [0, 1] : [1, 0]) {
        const s = servers[k]!;
        const pid = s.child.proc.pid!;
        const c0 = processCpuMs(pid);
        const res = await closedLoop(pools[k]!, Number.MAX_SAFE_INTEGER, CONNECTIONS, make(s, f), PHASE_MS);
        if (res.errors) throw new Error(`${s.name} ${f}: ${res.firstError}`);
        const cpuMs = processCpuMs(pid) - c0;
        const recs = res.requests * RECORDS;
        const row = { rate: (recs / res.elapsedMs) * 1000, cpuSPerM: cpuMs / 1000 / (recs / 1e6) };
        (rows[`${f} ${s.name}`] ??= []).push(row);
        loads.push(os.loadavg()[0]!);
        process.stderr.write(
          `round ${r} ${f} ${s.name}: ${Math.round(row.rate)} rec/s, server CPU ${row.cpuSPerM.toFixed(2)} s per M records\n`,
        );
      }
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  process.stdout.write(
    `durability ${DURABILITY}, ${ROUNDS} rounds × ${PHASE_MS} ms, load ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}\n`,
  );
  for (const f of FORMATS) {
    const [a, b] = ['A', 'B'].map((n) => rows[`${f} ${n}`]!);
    const ratio = (pick: (x: { rate: number; cpuSPerM: number }) => number) => a!.map((x, i) => pick(b![i]!) / pick(x));
    process.stdout.write(
      `${f}: rec/s A ${Math.round(med(a!.map((x) => x.rate)))} B ${Math.round(med(b!.map((x) => x.rate)))} (B/A median ${med(ratio((x) => x.rate)).toFixed(2)}); ` +
        `server CPU s per M records A ${med(a!.map((x) => x.cpuSPerM)).toFixed(2)} B ${med(b!.map((x) => x.cpuSPerM)).toFixed(2)} ` +
        `(B/A median ${med(ratio((x) => x.cpuSPerM)).toFixed(2)}, B lower in ${ratio((x) => x.cpuSPerM).filter((x) => x < 1).length} of ${ROUNDS} rounds)\n`,
    );
  }
  for (const p of pools) await p.close();
  for (const s of servers) {
    await s.child.stop('SIGTERM');
    await fsp.rm(s.dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
