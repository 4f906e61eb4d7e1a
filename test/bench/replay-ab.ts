// A/B harness for the read path (#19): builds Sluice from two source trees (`--a=dir --b=dir`,
// default: this tree for both), loads each with the same records, then alternates paged-GET and
// SSE replays between them in rounds, printing rec/s, and CPU seconds of server and client.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { createPool, closedLoop, requestJson } from './lib/load.js';
import { bundleNode, freePort, REPO_ROOT, spawnChild, tempDir, waitForHttp, type Child } from './lib/processes.js';
import { sluiceJsonBody, values } from './lib/records.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string): string =>
  args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const TOTAL = Number(arg('records', '1000000'));
const ROUNDS = Number(arg('rounds', '3'));
const PHASES = arg('phases', 'paged,sse').split(',');
const PAGE = Number(arg('page', '10000'));
const PROF = arg('prof', '');
const BATCH = 5000;
const trees = [arg('a', REPO_ROOT), arg('b', REPO_ROOT)];

interface Server {
  name: string;
  url: string;
  child: Child;
  dir: string;
  topic: string;
}

const CLK = 100; // USER_HZ
function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK;
}
function sysSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[12]) / CLK;
}
const clientCpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function start(tree: string, name: string): Promise<Server> {
  const out = path.join(tree, '.bench-results', 'build', `ab-${name}.js`);
  await bundleNode(path.join(tree, 'src', 'main.ts'), out);
  const dir = await tempDir(`ab-${name}`);
  const spawn = async (prof: boolean): Promise<{ url: string; child: Child }> => {
    const port = await freePort();
    const child = await spawnChild({
      name,
      command: process.execPath,
      args: [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${PROF}/${name}`] : []), out],
      env: { HOST: '127.0.0.1', PORT: String(port), DATA_DIR: dir, SLUICE_LOG_LEVEL: 'warn' },
    });
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/readyz`, child, 180_000);
    return { url, child };
  };
  let { url, child } = await spawn(false);
  const topic = `replay-${name}`;
  const pool = createPool(url, 4);
  await requestJson(pool, {
    method: 'POST',
    path: '/v1/topics',
    body: JSON.stringify({ name: topic, partitions: 1, config: { durability: 'write' } }),
  });
  const body = sluiceJsonBody(values(BATCH));
  const load = await closedLoop(
    pool,
    TOTAL / BATCH,
    4,
    () => ({
      method: 'POST',
      path: `/v1/topics/${topic}/records`,
      headers: { 'content-type': 'application/json' },
      body,
    }),
    600_000,
  );
  if (load.errors) throw new Error(`load: ${load.firstError}`);
  await pool.close();
  // Profiles cover the replays only: restart (clean shutdown) with the profiler on.
  if (PROF) {
    await child.stop('SIGTERM');
    ({ url, child } = await spawn(true));
  }
  return { name, url, child, dir, topic };
}

const TS = Buffer.from('"ts":');

/** Records in a response: each bench value carries one `"ts":` (as the bench counts them). */
function countRecords(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(TS); i >= 0; i = buf.indexOf(TS, i + TS.length)) n++;
  return n;
}

/**
 * The bench's paged consumer (scenarios/replay.ts): one connection, the next page asked for as
 * soon as this one has arrived, its bytes taken whole (no text decode), the next offset read
 * from the body's tail and the records counted on the bytes while the next page is on its way.
 */
async function paged(s: Server): Promise<number> {
  const pool = createPool(s.url, 1);
  const get = async (offset: number) => {
    const res = await pool.request({
      method: 'GET',
      path: `/v1/topics/${s.topic}/partitions/0/records?offset=${offset}&max_records=${PAGE}&max_bytes=${8 << 20}`,
    });
    const body = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${body.subarray(0, 200).toString()}`);
    const tail = body.subarray(Math.max(0, body.length - 100)).toString('latin1');
    const next = Number(/"next_offset":(\d+)/.exec(tail)?.[1] ?? NaN);
    if (!(next > offset)) throw new Error(`replay stalled at offset ${offset}`);
    return { next, body };
  };
  let records = 0;
  let page = await get(0);
  for (;;) {
    const following = page.next < TOTAL ? get(page.next) : null;
    following?.catch(() => undefined);
    records += countRecords(page.body);
    if (!following) break;
    page = await following;
  }
  await pool.close();
  return records;
}

/** Counts `event: record` lines as the bench's subscriber does (one regex pass over the text). */
function sse(s: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const req = http.get(`${s.url}/v1/topics/${s.topic}/partitions/0/events?from=earliest`, { agent: false }, (res) => {
      res.setEncoding('utf8');
      let carry = '';
      res.on('data', (chunk: string) => {
        const text = carry + chunk;
        const cut = text.lastIndexOf('\n');
        carry = text.slice(cut + 1);
        const m = text.slice(0, cut + 1).match(/"ts":/g);
        got += m ? m.length : 0;
        if (got >= TOTAL) {
          req.destroy();
          resolve(got);
        }
      });
      res.on('error', () => undefined);
    });
    req.on('error', (e) => (got >= TOTAL ? undefined : reject(e)));
  });
}

async function main(): Promise<void> {
  const servers = [await start(trees[0]!, 'A'), await start(trees[1]!, 'B')];
  process.stderr.write(`loaded ${TOTAL} records into A (${trees[0]}) and B (${trees[1]})\n`);
  const results: Record<string, number[]> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const phase of PHASES) {
      const order = r % 2 === 0 ? servers : [...servers].reverse();
      for (const s of order) {
        const pid = s.child.proc.pid!;
        const s0 = cpuSeconds(pid);
        const y0 = sysSeconds(pid);
        const c0 = clientCpu();
        const t0 = performance.now();
        const n = phase === 'paged' ? await paged(s) : await sse(s);
        const ms = performance.now() - t0;
        const srv = cpuSeconds(pid) - s0;
        const sys = sysSeconds(pid) - y0;
        const cli = clientCpu() - c0;
        const rate = n / (ms / 1000);
        (results[`${phase} ${s.name}`] ??= []).push(rate);
        process.stderr.write(
          `round ${r} ${phase} ${s.name}: ${Math.round(rate)} rec/s  ${ms.toFixed(0)} ms  server cpu ${srv.toFixed(2)} s (sys ${sys.toFixed(2)})  client cpu ${cli.toFixed(2)} s\n`,
        );
      }
    }
  }
  for (const [k, v] of Object.entries(results)) {
    const sorted = [...v].sort((a, b) => a - b);
    const med = sorted[Math.floor(sorted.length / 2)]!;
    process.stdout.write(
      `${k}: median ${Math.round(med)} rec/s (min ${Math.round(sorted[0]!)} – max ${Math.round(sorted[sorted.length - 1]!)})\n`,
    );
  }
  for (const s of servers) {
    await s.child.stop('SIGTERM');
    await fsp.rm(s.dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
