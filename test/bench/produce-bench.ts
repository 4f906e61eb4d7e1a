// Produce throughput (`npm run bench:produce`): 1000-record (~100 B each) JSON batches over
// several connections to Sluice (file log, fsync), beside a bare hono server that only reads
// and JSON.parses the same bodies. Each server runs in its own child process; this process
// only generates load. Prints records/s, MB/s and the ratio to the baseline (goal ≥ 80 %).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const RECORDS = 1000;
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 4);
const role = process.argv.find((a) => a.startsWith('--serve='))?.slice('--serve='.length);

// ---- server roles (child processes) -----------------------------------------------------

async function serveBaseline(): Promise<void> {
  const { Hono } = await import('hono');
  const { serve } = await import('@hono/node-server');
  const app = new Hono();
  app.post('/v1/topics/:topic/records', async (c) => {
    const body = JSON.parse(await c.req.text()) as { records: unknown[] };
    return c.json({ received: body.records.length });
  });
  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) =>
    console.log(`PORT ${info.port}`),
  );
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

async function serveSluice(): Promise<void> {
  const { loadConfig } = await import('../../src/config.js');
  const { createServices } = await import('../../src/services.js');
  const { startServer } = await import('../../src/http/server.js');
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-produce-bench-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PORT: '0',
    SLUICE_LOG_LEVEL: 'warn',
    SLUICE_LOG_STORE: 'file',
    SLUICE_PGLITE_IN_MEMORY: 'true',
  });
  const services = await createServices(config);
  const created = await services.topics.create({
    name: 'bench',
    partitions: PARTITIONS,
    config: { durability: process.env.BENCH_DURABILITY === 'write' ? 'write' : 'fsync' },
  });
  if (!created.ok) throw new Error(created.error.message);
  const server = await startServer(services, { host: config.host, port: 0 });
  console.log(`PORT ${server.port}`);
  process.on('SIGTERM', () => {
    void server.close().finally(() => rm(dataDir, { recursive: true, force: true }).finally(() => process.exit(0)));
  });
}

// ---- load generator (parent) ------------------------------------------------------------

function makeBodies(count: number): string[] {
  const bodies: string[] = [];
  for (let b = 0; b < count; b++) {
    const records = Array.from({ length: RECORDS }, (_, i) => ({
      value: {
        id: b * RECORDS + i,
        user: `user-${(i * 7919) % 10_000}`,
        event: 'page_view',
        path: '/products/42',
        ms: 1_700_000_000_000 + i,
      },
    }));
    bodies.push(JSON.stringify({ records }));
  }
  return bodies;
}

async function startRole(name: string): Promise<{ child: ChildProcess; url: string }> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(
    process.execPath,
    [...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', self, `--serve=${name}`],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} server exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^PORT (\d+)$/.exec(line);
      if (m) resolve(Number(m[1]));
    });
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

interface Result {
  name: string;
  /** Server process CPU (user + system) per request, ms: robust to a busy machine. */
  cpuMsPerRequest: number;
  requests: number;
  records: number;
  bytes: number;
  seconds: number;
  errors: number;
}

/** User + system CPU ms consumed so far by process `pid` (Linux /proc). */
async function cpuMs(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (100 Hz)
}

async function load(name: string, url: string, bodies: string[], pid: number): Promise<Result> {
  const target = `${url}/v1/topics/bench/records`;
  const send = (body: string) =>
    fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(async (r) => {
      await r.arrayBuffer();
      return r.status;
    });
  for (let i = 0; i < CONNECTIONS; i++) await send(bodies[i % bodies.length]!); // warm up
  let requests = 0;
  let bytes = 0;
  let errors = 0;
  const cpuBefore = await cpuMs(pid);
  const started = performance.now();
  const until = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, c) => {
      for (let n = c; performance.now() < until; n += CONNECTIONS) {
        const body = bodies[n % bodies.length]!;
        const status = await send(body);
        if (status !== 200) errors++;
        else {
          requests++;
          bytes += Buffer.byteLength(body);
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpuMsPerRequest = ((await cpuMs(pid)) - cpuBefore) / Math.max(1, requests);
  return { name, cpuMsPerRequest, requests, records: requests * RECORDS, bytes, seconds, errors };
}

function row(r: Result): string {
  const rps = r.records / r.seconds;
  const mbps = r.bytes / r.seconds / (1024 * 1024);
  return `${r.name.padEnd(32)} ${Math.round(rps).toLocaleString('en').padStart(10)} rec/s ${mbps.toFixed(1).padStart(7)} MB/s ${r.cpuMsPerRequest.toFixed(2).padStart(7)} server-CPU ms/request  (${r.requests} requests, ${r.errors} errors)`;
}

async function main(): Promise<void> {
  const bodies = makeBodies(64);
  const avg = bodies.reduce((n, b) => n + Buffer.byteLength(b), 0) / bodies.length;
  console.log(
    `produce bench: ${RECORDS}-record JSON batches (~${Math.round(avg / RECORDS)} B/record, ${(avg / 1024).toFixed(0)} KiB/request), ${CONNECTIONS} connections, ${SECONDS} s per server, ${PARTITIONS} partitions, fsync`,
  );
  const results: Result[] = [];
  for (const name of ['baseline', 'sluice']) {
    const { child, url } = await startRole(name);
    try {
      results.push(
        await load(
          name === 'baseline' ? 'bare hono (read + JSON.parse)' : 'sluice produce (fsync)',
          url,
          bodies,
          child.pid!,
        ),
      );
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }
  for (const r of results) console.log(row(r));
  const [base, sluice] = results as [Result, Result];
  const ratio = sluice.records / sluice.seconds / (base.records / base.seconds);
  console.log(
    `ratio sluice/baseline: ${(ratio * 100).toFixed(1)} % of throughput (goal ≥ 80 %); CPU per request ${(sluice.cpuMsPerRequest / base.cpuMsPerRequest).toFixed(2)}× the baseline's`,
  );
  console.log(
    `load average during the run: ${(await import('node:os'))
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} (on ${(await import('node:os')).availableParallelism()} CPUs)`,
  );
}

if (role === 'baseline') void serveBaseline();
else if (role === 'sluice') void serveSluice();
else
  void main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
