// `npm run bench [-- --quick] [--only=a,b] [--no-kafka] [--write-readme]`: starts Sluice, the
// baselines and the peers, runs every scenario, prints one side-by-side table and writes JSON.
import os from 'node:os';
import path from 'node:path';
import { createPool } from './lib/load.js';
import type { BenchContext, HttpTarget, Scenario } from './lib/context.js';
import { describeMachine } from './lib/machine.js';
import { freePort, REPO_ROOT, run, spawnChild, tempDir, waitForHttp, BENCH_DIR } from './lib/processes.js';
import { updateReadme } from './lib/readme.js';
import { renderMarkdown, renderText, writeJson, type RunResult, type ScenarioResult } from './lib/report.js';
import { startSluice, stopSluice } from './lib/sluice-server.js';
import { scenarios } from './scenarios/index.js';
import fsp from 'node:fs/promises';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const log = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

async function startTsxServer(
  name: string,
  file: string,
  env: Record<string, string>,
  readyPath: string,
): Promise<HttpTarget> {
  const port = await freePort();
  const child = await spawnChild({
    name,
    command: process.execPath,
    args: ['--import', 'tsx', file],
    env: { ...env, PORT: String(port) },
    probe: true,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}${readyPath}`, child, 60_000);
  } catch (e) {
    await child.stop('SIGKILL');
    throw e;
  }
  return { url, child, pool: createPool(url, 4) };
}

async function main(): Promise<void> {
  const started = Date.now();
  const machine = describeMachine();
  const selected: Scenario[] = scenarios.filter((s) => !only || only.includes(s.id));
  log(`${quick ? 'quick' : 'full'} mode: ${selected.map((s) => s.id).join(', ')}`);

  const sluice = await startSluice();
  log(`sluice up in ${Math.round(sluice.readyMs)} ms at ${sluice.url} (data ${sluice.dataDir})`);
  let ceiling: HttpTarget | null = null;
  try {
    ceiling = await startTsxServer(
      'hono-ceiling',
      path.join(BENCH_DIR, 'baselines', 'hono-ceiling-server.ts'),
      {},
      '/hello',
    );
  } catch (e) {
    log(`ceiling server failed: ${String(e)}`);
  }
  let ds: HttpTarget | null = null;
  let dsSkip: string | undefined;
  const dsDir = await tempDir('ds');
  try {
    ds = await startDurableStreams(dsDir);
  } catch (e) {
    dsSkip = `did not start: ${String(e).split('\n')[0]}`;
  }

  const ctx: BenchContext = {
    quick,
    sluice,
    sluicePool: createPool(sluice.url, 4),
    ceiling,
    ds,
    ...(dsSkip ? { dsSkip } : {}),
    kafka: !args.includes('--no-kafka'),
    log,
  };

  const results: ScenarioResult[] = [];
  for (const s of selected) {
    log(`— ${s.title}`);
    const t0 = performance.now();
    try {
      const r = await s.run(ctx);
      r.elapsedMs = performance.now() - t0;
      results.push(r);
    } catch (e) {
      log(`${s.id} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      results.push({
        id: s.id,
        title: s.title,
        rows: [],
        skipped: [reasonFor(e)],
        details: {},
        elapsedMs: performance.now() - t0,
      });
    }
  }

  await ctx.sluicePool.close();
  await stopSluice(sluice);
  for (const t of [ceiling, ds]) {
    if (!t) continue;
    await t.pool.close();
    await t.child.stop();
  }
  await fsp.rm(dsDir, { recursive: true, force: true });

  const commit = await measuredCommit();
  const result: RunResult = {
    ...(commit ? { commit } : {}),
    startedAt: new Date(started).toISOString(),
    mode: quick ? 'quick' : 'full',
    machine,
    ...(only ? { only } : {}),
    loadAvgEnd: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
    durationMs: Date.now() - started,
    scenarios: results,
  };
  process.stdout.write(`\n${renderText(result)}\n\n`);
  const file = await writeJson(path.join(REPO_ROOT, '.bench-results'), result);
  log(`results: ${path.relative(REPO_ROOT, file)}`);
  if (args.includes('--write-readme'))
    log(`README updated: ${path.relative(REPO_ROOT, await updateReadme(renderMarkdown(result)))}`);
}

/** Durable Streams answers 404 for unknown streams: wait for any HTTP answer, not a 2xx. */
async function startDurableStreams(dataDir: string): Promise<HttpTarget> {
  const port = await freePort();
  const child = await spawnChild({
    name: 'durable-streams',
    command: process.execPath,
    args: ['--import', 'tsx', path.join(BENCH_DIR, 'peers', 'durable-streams-server.ts')],
    env: { DATA_DIR: dataDir, PORT: String(port) },
    probe: true,
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + 60_000;
  for (;;) {
    if (child.proc.exitCode !== null) throw new Error(`exited: ${child.tail()}`);
    try {
      await (await fetch(`${url}/__ready`)).arrayBuffer();
      break;
    } catch {
      if (performance.now() > deadline) {
        await child.stop('SIGKILL');
        throw new Error(`not answering after 60 s: ${child.tail()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { url, child, pool: createPool(url, 4) };
}

async function measuredCommit(): Promise<string | undefined> {
  try {
    const head = (await run('git', ['rev-parse', '--short', 'HEAD'])).trim();
    const dirty = (await run('git', ['status', '--porcelain', '--', 'src'])).trim() !== '';
    return `${head}${dirty ? '+dirty' : ''}`;
  } catch {
    return undefined;
  }
}

/** A route the server doesn't have yet is a skip, not a failure of the run. */
function reasonFor(e: unknown): string {
  const first = String(e).split('\n')[0] ?? '';
  return / → 40[45]\b/.test(first) ? `endpoint not available (${first})` : `failed: ${first}`;
}

main().catch((e: unknown) => {
  log(`fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
});
