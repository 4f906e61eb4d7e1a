// Soak: a real Sluice process at 70% of its measured peak for SOAK_DURATION_S (default 1 h)
// with a committing consumer group, SSE readers and a webhook; prints throughput, p99, RSS
// and errors over time, then checks every acknowledged record was consumed exactly once.
//
//   npm run soak                       # 1 h (tsx test/faults/long/soak.ts)
//   SOAK_DURATION_S=300 npm run soak   # 5 min
// Other knobs: SOAK_CALIBRATE_S (20), SOAK_LOAD_FRACTION (0.7), SOAK_SAMPLE_S (10),
// SOAK_PARTITIONS (4), SOAK_BATCH (10 records per request), FAULTS_REPORT_FILE (append the summary).
import fs from 'node:fs/promises';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { createTestEnv } from '../../support/server.js';
import { startChild } from '../../support/child-server.js';
import { quantile, report } from '../support/figures.js';
import { startPrivatePostgres } from '../support/private-postgres.js';

const num = (name: string, dflt: number) => (process.env[name] ? Number(process.env[name]) : dflt);
const DURATION_S = num('SOAK_DURATION_S', 3600);
const CALIBRATE_S = num('SOAK_CALIBRATE_S', 20);
const FRACTION = num('SOAK_LOAD_FRACTION', 0.7);
const SAMPLE_S = num('SOAK_SAMPLE_S', 10);
const PARTITIONS = num('SOAK_PARTITIONS', 4);
const BATCH = num('SOAK_BATCH', 10);
const PRODUCERS = 8;
let stopping = false;
/** Undo what was started (server, temp dirs, private PostgreSQL), on every way out. */
const cleanups: Array<() => Promise<unknown>> = [];
async function cleanUp(): Promise<void> {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups.length = 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => process.stdout.write(`${line}\n`);

/** JSON bodies of known shapes, read loosely: this is a load script, not a contract test. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

async function json(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Loose }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function main(): Promise<number> {
  const pg = await startPrivatePostgres();
  if (pg) cleanups.push(() => pg.destroy());
  const env = await createTestEnv({
    SLUICE_LOG_STORE: 'file',
    SLUICE_WEBHOOK_ALLOW_PRIVATE: 'true',
    ...(pg ? { DATABASE_URL: pg.url } : {}),
  });
  cleanups.push(() => env.cleanup());
  const server = await startChild({ ...env.env, SLUICE_LOG_LEVEL: 'warn' });
  cleanups.push(async () => {
    stopping = true;
    await server.stop();
  });
  const base = server.url;
  server.child.once('exit', (code, signal) => {
    if (stopping) return;
    log(`soak: SERVER EXITED (${code ?? signal}) — stderr: ${server.stderrTail()}`);
    log(
      `soak: last log lines: ${server.logs
        .slice(-10)
        .map((l) => JSON.stringify(l))
        .join('\n')}`,
    );
    void cleanUp().then(() => process.exit(3));
  });
  const pid = server.child.pid!;
  const rss = async () => Number(/VmRSS:\s+(\d+) kB/.exec(await fs.readFile(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  log(
    `soak: server pid ${pid} at ${base}, metadata ${pg ? 'postgres (private cluster)' : 'pglite'}, data ${env.dataDir}`,
  );

  const topic = `soak-${randomUUID()}`;
  const group = `soak-g-${randomUUID()}`;
  if ((await json(base, 'POST', '/v1/topics', { name: topic, partitions: PARTITIONS })).status !== 201)
    throw new Error('create topic failed');

  // --- acknowledged ids, and what each consumer saw -----------------------------------------
  const acked = new Set<string>();
  const groupSeen = new Map<string, number>();
  const hookSeen = new Map<string, number>();
  const sseSeen = [new Map<string, number>(), new Map<string, number>()]; // one per SSE reader
  const bump = (m: Map<string, number>, id: string) => m.set(id, (m.get(id) ?? 0) + 1);
  let errors = 0;
  const errorKinds = new Map<string, number>();
  const fail = (what: string) => {
    errors++;
    errorKinds.set(what, (errorKinds.get(what) ?? 0) + 1);
  };

  // --- producers: closed loop for calibration, then paced at FRACTION of the peak ------------
  let seq = 0;
  let latencies: number[] = [];
  let producedInWindow = 0;
  const produceOnce = async () => {
    const records = Array.from({ length: BATCH }, () => {
      const id = `r${seq++}`;
      return { key: id, value: { id, at: Date.now(), pad: 'x'.repeat(200) } };
    });
    const started = performance.now();
    try {
      const res = await json(base, 'POST', `/v1/topics/${topic}/records`, { records });
      if (res.status !== 200) return fail(`produce ${res.status}`);
      latencies.push(performance.now() - started);
      for (const r of records) acked.add(r.value.id);
      producedInWindow += records.length;
    } catch {
      fail('produce network');
    }
  };
  log(`soak: calibrating peak for ${CALIBRATE_S} s`);
  let calibrating = true;
  const calStart = Date.now();
  await Promise.all(
    Array.from({ length: PRODUCERS * 2 }, async () => {
      while (calibrating) {
        await produceOnce();
        if (Date.now() - calStart > CALIBRATE_S * 1000) calibrating = false;
      }
    }),
  );
  const peakRps = acked.size / ((Date.now() - calStart) / 1000);
  const targetRps = peakRps * FRACTION;
  log(
    `soak: peak ${Math.round(peakRps)} records/s, p99 ${quantile(latencies, 0.99).toFixed(1)} ms; running at ${Math.round(targetRps)} records/s for ${DURATION_S} s`,
  );
  latencies = [];
  producedInWindow = 0;

  // --- consumers: a committing group (2 members), 2 SSE readers, a webhook --------------------
  let consuming = true;
  const member = async (n: number) => {
    let m: { member_id: string; generation: number } | undefined;
    let cursor = ''; // the last answer's cursor: confirms it even when its commit was fenced
    while (consuming || m) {
      try {
        if (!m) {
          const j = await json(base, 'POST', `/v1/groups/${group}/members`, {
            topics: [topic],
            session_timeout_ms: 60_000,
            auto_offset_reset: 'earliest',
          });
          if (j.status !== 201) {
            fail(`join ${j.status}`);
            await sleep(500);
            continue;
          }
          m = j.body;
          cursor = '';
        }
        const f = await json(
          base,
          'GET',
          `/v1/groups/${group}/members/${m!.member_id}/records?max_records=5000&wait_ms=1000&cursor=${cursor}`,
        );
        if (f.status !== 200) {
          fail(`group fetch ${f.status}`);
          m = undefined;
          continue;
        }
        m!.generation = f.body.generation;
        cursor = f.body.cursor as string;
        const records = f.body.records as Array<{ partition: number; offset: number; value: { id: string } }>;
        if (records.length === 0) {
          if (!consuming) break;
          continue;
        }
        const next = new Map<number, number>();
        for (const r of records) {
          bump(groupSeen, r.value.id);
          next.set(r.partition, r.offset + 1);
        }
        const c = await json(base, 'POST', `/v1/groups/${group}/offsets`, {
          member_id: m!.member_id,
          generation: m!.generation,
          offsets: [...next].map(([partition, offset]) => ({ topic, partition, offset })),
        });
        if (c.status !== 204) fail(`commit ${c.status}`);
      } catch {
        fail(`member ${n} network`);
        await sleep(200);
      }
    }
    if (m) await json(base, 'DELETE', `/v1/groups/${group}/members/${m.member_id}`).catch(() => undefined);
  };

  const sseReaders: http.ClientRequest[] = [];
  for (let i = 0; i < 2; i++) {
    let buf = '';
    const req = http.get(`${base}/v1/topics/${topic}/events?from=earliest`, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let at: number;
        while ((at = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, at);
          buf = buf.slice(at + 2);
          const data = frame.split('\n').find((l) => l.startsWith('data: '));
          if (frame.includes('event: record') && data)
            bump(sseSeen[i]!, (JSON.parse(data.slice(6)) as { value: { id: string } }).value.id);
        }
      });
    });
    req.on('error', () => fail('sse'));
    sseReaders.push(req);
  }

  const hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      try {
        for (const r of (JSON.parse(body) as { records: Array<{ value: { id: string } }> }).records)
          bump(hookSeen, r.value.id);
      } catch {
        fail('webhook body');
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/hook`;
  const wh = await json(base, 'POST', '/v1/webhooks', {
    topic,
    url: hookUrl,
    from: 'earliest',
    batch: { max_records: 500, max_wait_ms: 200 },
  });
  if (wh.status !== 201) throw new Error(`webhook create failed: ${wh.status} ${JSON.stringify(wh.body)}`);
  // One member per partition, so the group keeps up with the producers.
  const members = Array.from({ length: PARTITIONS }, (_, n) => member(n));

  // --- paced load with periodic samples -------------------------------------------------------
  const samples: Array<{ t: number; rate: number; p99: number; rss: number; errors: number }> = [];
  const runStart = Date.now();
  let sent = 0;
  let producing = true;
  const producers = Array.from({ length: PRODUCERS * 4 }, async () => {
    while (producing) {
      const due = runStart + ((sent * BATCH) / targetRps) * 1000;
      sent++;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      if (!producing) break;
      await produceOnce();
    }
  });
  let lastSample = Date.now();
  while (Date.now() - runStart < DURATION_S * 1000) {
    await sleep(Math.min(SAMPLE_S * 1000, runStart + DURATION_S * 1000 - Date.now()));
    const now = Date.now();
    const s = {
      t: Math.round((now - runStart) / 1000),
      rate: producedInWindow / ((now - lastSample) / 1000),
      p99: quantile(latencies, 0.99),
      rss: await rss(),
      errors,
    };
    samples.push(s);
    log(
      `soak: t=${s.t}s rate=${Math.round(s.rate)}/s p99_ms=${s.p99.toFixed(1)} rss_mib=${Math.round(s.rss)} errors=${s.errors} group_consumed=${groupSeen.size} webhook=${hookSeen.size} sse=${sseSeen.map((m) => m.size).join('/')}`,
    );
    latencies = [];
    producedInWindow = 0;
    lastSample = now;
  }
  producing = false;
  await Promise.all(producers);

  // --- drain and check -----------------------------------------------------------------------
  const drainDeadline = Date.now() + 120_000;
  const allIn = (m: Map<string, number>) => [...acked].every((id) => m.has(id));
  while (Date.now() < drainDeadline && !(allIn(groupSeen) && allIn(hookSeen) && sseSeen.every(allIn))) await sleep(500);
  consuming = false;
  await Promise.all(members);
  for (const r of sseReaders) r.destroy();
  const missing = (m: Map<string, number>) => [...acked].filter((id) => !m.has(id)).length;
  const dup = (m: Map<string, number>) => [...m.values()].reduce((n, k) => n + (k > 1 ? k - 1 : 0), 0);
  const summary = {
    duration_s: DURATION_S,
    peak_rps: Math.round(peakRps),
    target_rps: Math.round(targetRps),
    achieved_rps: Math.round(samples.reduce((a, s) => a + s.rate, 0) / Math.max(1, samples.length)),
    acked: acked.size,
    p99_ms_max: Math.max(...samples.map((s) => s.p99)).toFixed(1),
    p99_ms_median: quantile(
      samples.map((s) => s.p99),
      0.5,
    ).toFixed(1),
    rss_mib_first: Math.round(samples[0]?.rss ?? 0),
    rss_mib_max: Math.round(Math.max(...samples.map((s) => s.rss))),
    rss_mib_last: Math.round(samples.at(-1)?.rss ?? 0),
    errors,
    group_missing: missing(groupSeen),
    group_dup: dup(groupSeen),
    webhook_missing: missing(hookSeen),
    webhook_dup: dup(hookSeen),
    sse_readers: sseSeen.length,
    sse_missing: sseSeen.reduce((n, m) => n + missing(m), 0),
    sse_dup: sseSeen.reduce((n, m) => n + dup(m), 0),
  };
  report('soak', summary);
  if (errorKinds.size > 0) log(`soak: errors by kind ${JSON.stringify(Object.fromEntries(errorKinds))}`);

  await json(base, 'DELETE', `/v1/webhooks/${wh.body.id}`).catch(() => undefined);
  await new Promise((r) => hook.close(r));
  await cleanUp();
  // Exactly once through the committing group; everything delivered to the webhook and SSE.
  const ok =
    summary.group_missing === 0 &&
    summary.group_dup === 0 &&
    summary.webhook_missing === 0 &&
    summary.sse_missing === 0 &&
    summary.sse_dup === 0;
  log(ok ? 'soak: PASS' : 'soak: FAIL');
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`soak: ${e instanceof Error ? e.stack : String(e)}\n`);
    void cleanUp().then(() => process.exit(2));
  },
);
