// SSE benchmark (`npm run bench:sse`, `-- --full` for longer runs): produce → SSE delivery
// latency at 1k and 5k rec/s, and fan-out to 1k/5k/10k subscribers with the server's RSS.
//
// Sluice runs as a child process (src/main.ts via tsx, in-memory metadata, a temp DATA_DIR) so
// its RSS is its own; producer and subscribers run here and share one clock, so latency is
// (receive time − the send time carried in the record's value). Topics use durability "write".
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { build } from 'hdr-histogram-js';

const FULL = process.argv.includes('--full');
const LATENCY_SECONDS = FULL ? 30 : 8;
const FANOUT_SECONDS = FULL ? 20 : 5;
const FANOUT_RATE = 10; // records per second during fan-out
const GOALS = { p99At5kMs: 10, fanout10kP99Ms: 250, fanout10kRssMb: 1024 };

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function startServer(): Promise<{ url: string; child: ChildProcess; dataDir: string }> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-sse-bench-'));
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      SLUICE_LOG_LEVEL: 'warn',
      SLUICE_PGLITE_IN_MEMORY: 'true',
      SLUICE_SHUTDOWN_TIMEOUT_MS: '2000',
      // 10k subscribers from one (anonymous) principal: above the per-key default of 1,000.
      SLUICE_KEY_MAX_STREAMS: '20000',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sluice exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('sluice did not start within 120 s');
    await sleep(200);
  }
  return { url, child, dataDir };
}

/** User+system CPU seconds the process has used (clock ticks are 100 Hz on Linux). */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await fs.readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssMb(pid: number): Promise<number> {
  return fs.readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) / 1024);
}

async function post(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
}

/** A minimal SSE subscriber: records (receive − send) for every `"t":` in the stream, after `armed`. */
class Subscriber {
  private buffer = '';
  received = 0;
  private req: http.ClientRequest | undefined;
  constructor(private readonly onLatency: (ms: number) => void) {}
  connect(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.req = http.get(url, { agent }, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`SSE ${res.statusCode}`));
        res.setEncoding('utf8');
        let opened = false;
        res.on('data', (chunk: string) => {
          this.buffer += chunk;
          const end = this.buffer.lastIndexOf('\n\n');
          if (end < 0) return;
          const complete = this.buffer.slice(0, end);
          this.buffer = this.buffer.slice(end + 2);
          if (!opened && complete.includes('retry:')) {
            opened = true;
            resolve();
          }
          const at = now();
          for (const m of complete.matchAll(/"t":([0-9.]+)/g)) {
            this.received++;
            this.onLatency(at - Number(m[1]));
          }
        });
        res.on('error', () => {});
      });
      this.req.on('error', reject);
    });
  }
  close(): void {
    this.req?.destroy();
  }
}

function histogram() {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
}

/** Produce `rate` rec/s in 10 ms ticks for `seconds`; each value carries its send time. */
async function produceAt(url: string, topic: string, rate: number, seconds: number, tickMs = 10): Promise<number> {
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  const ticks = Math.round((seconds * 1000) / tickMs);
  const start = now();
  let sent = 0;
  const inflight: Array<Promise<void>> = [];
  for (let i = 0; i < ticks; i++) {
    const due = start + i * tickMs;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    const records = Array.from({ length: perTick }, () => ({ value: { t: now(), pad: 'x'.repeat(64) }, partition: 0 }));
    inflight.push(post(`${url}/v1/topics/${topic}/records`, { records }));
    sent += perTick;
    if (inflight.length > 64) await inflight.shift();
  }
  await Promise.all(inflight);
  return sent;
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(20);
  return cond();
}

async function latencyScenario(url: string, rate: number) {
  const topic = `bench-lat-${rate}-${Date.now()}`;
  await post(`${url}/v1/topics`, { name: topic, partitions: 1, config: { durability: 'write' } });
  const h = histogram();
  let armed = false;
  const sub = new Subscriber((ms) => armed && h.recordValue(Math.max(1, Math.round(ms * 1000))));
  await sub.connect(`${url}/v1/topics/${topic}/partitions/0/events`);
  await produceAt(url, topic, rate, 1); // warm-up, not recorded
  await waitFor(() => sub.received >= rate, 5_000);
  armed = true;
  const before = sub.received;
  const sent = await produceAt(url, topic, rate, LATENCY_SECONDS);
  await waitFor(() => sub.received - before >= sent, 10_000);
  sub.close();
  return {
    rate,
    sent,
    received: sub.received - before,
    p50: h.getValueAtPercentile(50) / 1000,
    p99: h.getValueAtPercentile(99) / 1000,
    max: h.maxValue / 1000,
  };
}

async function fanoutScenario(url: string, pid: number, subscribers: number) {
  const topic = `bench-fan-${subscribers}-${Date.now()}`;
  await post(`${url}/v1/topics`, { name: topic, partitions: 1, config: { durability: 'write' } });
  const rssIdle = await rssMb(pid);
  const h = histogram();
  const subs: Subscriber[] = [];
  const connectStart = Date.now();
  for (let i = 0; i < subscribers; i += 250) {
    const wave = Array.from(
      { length: Math.min(250, subscribers - i) },
      () => new Subscriber((ms) => h.recordValue(Math.max(1, Math.round(ms * 1000)))),
    );
    await Promise.all(wave.map((s) => s.connect(`${url}/v1/topics/${topic}/partitions/0/events`)));
    subs.push(...wave);
  }
  const connectMs = Date.now() - connectStart;
  let rssPeak = await rssMb(pid);
  const cpuBefore = await cpuSeconds(pid);
  const sampler = setInterval(() => void rssMb(pid).then((r) => (rssPeak = Math.max(rssPeak, r))), 100);
  const sent = await produceAt(url, topic, FANOUT_RATE, FANOUT_SECONDS, 100);
  const complete = await waitFor(() => subs.every((s) => s.received >= sent), 30_000);
  clearInterval(sampler);
  const serverCpuS = (await cpuSeconds(pid)) - cpuBefore;
  rssPeak = Math.max(rssPeak, await rssMb(pid));
  const delivered = subs.reduce((n, s) => n + s.received, 0);
  for (const s of subs) s.close();
  await sleep(500);
  return {
    subscribers,
    connectMs,
    sent,
    delivered,
    complete,
    p50: h.getValueAtPercentile(50) / 1000,
    p99: h.getValueAtPercentile(99) / 1000,
    max: h.maxValue / 1000,
    serverCpuS,
    rssIdleMb: Math.round(rssIdle),
    rssPeakMb: Math.round(rssPeak),
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const { url, child, dataDir } = await startServer();
  const pid = child.pid as number;
  try {
    console.log(
      `sse-bench (${FULL ? 'full' : 'quick'}) on ${os.cpus().length} CPUs, node ${process.version}, ` +
        `load average ${os
          .loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')} (other work on the machine skews latency)`,
    );
    const latency = [];
    for (const rate of [1_000, 5_000]) latency.push(await latencyScenario(url, rate));
    console.log('\nproduce → SSE delivery latency (1 subscriber, durability=write, batches every 10 ms)');
    console.table(
      latency.map((r) => ({
        'rec/s': r.rate,
        sent: r.sent,
        received: r.received,
        'p50 ms': r.p50.toFixed(2),
        'p99 ms': r.p99.toFixed(2),
        'max ms': r.max.toFixed(1),
      })),
    );
    const fanout = [];
    for (const n of [1_000, 5_000, 10_000]) fanout.push(await fanoutScenario(url, pid, n));
    console.log(`\nfan-out (${FANOUT_RATE} rec/s to every subscriber of one partition for ${FANOUT_SECONDS} s)`);
    console.table(
      fanout.map((r) => ({
        subscribers: r.subscribers,
        'connect ms': r.connectMs,
        delivered: `${r.delivered}/${r.sent * r.subscribers}`,
        'p50 ms': r.p50.toFixed(1),
        'p99 ms': r.p99.toFixed(1),
        'max ms': r.max.toFixed(1),
        'server CPU s': r.serverCpuS.toFixed(2),
        'server µs/delivery': ((r.serverCpuS * 1e6) / Math.max(1, r.delivered)).toFixed(1),
        'RSS idle MB': r.rssIdleMb,
        'RSS peak MB': r.rssPeakMb,
      })),
    );
    const at5k = latency.find((r) => r.rate === 5_000);
    const at10k = fanout.find((r) => r.subscribers === 10_000);
    const goals = {
      'p99 at 5k rec/s ≤ 10 ms': (at5k?.p99 ?? Infinity) <= GOALS.p99At5kMs,
      '10k subscribers p99 ≤ 250 ms': (at10k?.p99 ?? Infinity) <= GOALS.fanout10kP99Ms && Boolean(at10k?.complete),
      '10k subscribers RSS ≤ 1 GB': (at10k?.rssPeakMb ?? Infinity) <= GOALS.fanout10kRssMb,
    };
    console.log('\ngoals:', goals);
    console.log(
      JSON.stringify({
        bench: 'sse',
        mode: FULL ? 'full' : 'quick',
        latency,
        fanout,
        goals,
        seconds: (Date.now() - started) / 1000,
      }),
    );
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await fs.rm(dataDir, { recursive: true, force: true });
    agent.destroy();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
