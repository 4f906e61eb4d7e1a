// RabbitMQ peer for the queue scenario: Debian's rabbitmq-server started privately (its own
// node name, ports, epmd port and data dir under a temp HOME) and driven with amqplib: a
// durable queue, persistent messages published with confirms, N consumers acking each message.
// Says why instead when the broker or the client library is missing.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { freePort, run, spawnChild, tempDir, waitForTcp, type Child } from '../lib/processes.js';

/** The broker script itself: /usr/sbin/rabbitmq-server would switch to the rabbitmq user when run as root. */
const SERVER = process.env['BENCH_RABBITMQ_SERVER'] ?? '/usr/lib/rabbitmq/bin/rabbitmq-server';
const START_TIMEOUT_MS = 120_000;

/** The few amqplib calls the bench makes (typed here, so the bench compiles without the package). */
interface AmqpMessage {
  content: Buffer;
}
interface AmqpChannel {
  assertQueue(queue: string, options: { durable: boolean }): Promise<unknown>;
  sendToQueue(queue: string, content: Buffer, options: { persistent: boolean }): boolean;
  waitForConfirms(): Promise<void>;
  prefetch(count: number): Promise<unknown>;
  consume(queue: string, onMessage: (msg: AmqpMessage | null) => void, options: { noAck: boolean }): Promise<unknown>;
  ack(msg: AmqpMessage): void;
  once(event: 'drain', listener: () => void): unknown;
  close(): Promise<void>;
}
interface AmqpConnection {
  createChannel(): Promise<AmqpChannel>;
  createConfirmChannel(): Promise<AmqpChannel>;
  close(): Promise<void>;
}
interface Amqp {
  connect(url: string): Promise<AmqpConnection>;
}

/** amqplib from the project's node_modules (BENCH_AMQPLIB may name another install), or why not. */
async function loadAmqp(): Promise<Amqp | string> {
  const spec = process.env['BENCH_AMQPLIB'] ?? 'amqplib';
  try {
    const mod = (await import(spec)) as { default?: Amqp } & Amqp;
    return mod.default ?? mod;
  } catch (e) {
    return `amqplib is not installed (${String(e).split('\n')[0]})`;
  }
}

export interface RabbitPeer {
  readonly url: string;
  readonly amqp: Amqp;
  readonly child: Child;
  readonly startMs: number;
  stop(): Promise<void>;
}

/** Start a private broker; resolves to a reason string when it cannot run here. */
export async function startRabbit(): Promise<RabbitPeer | string> {
  if (!fs.existsSync(SERVER)) return `${SERVER} not found (Debian package rabbitmq-server)`;
  const amqp = await loadAmqp();
  if (typeof amqp === 'string') return amqp;
  const dir = await tempDir('rabbitmq');
  const [port, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
  await fsp.writeFile(path.join(dir, 'enabled_plugins'), '[].\n');
  const started = performance.now();
  const child = await spawnChild({
    name: 'rabbitmq',
    command: SERVER,
    args: [],
    cwd: dir,
    env: {
      HOME: dir, // the Erlang cookie is created here
      RABBITMQ_NODENAME: `sluicebench${port}@localhost`,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_DIST_PORT: String(distPort),
      ERL_EPMD_PORT: String(epmdPort),
      RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(dir, 'log'),
      RABBITMQ_LOGS: '-',
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
      RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq'),
      RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
      RABBITMQ_PID_FILE: path.join(dir, 'pid'),
    },
  });
  const stop = async () => {
    await child.stop('SIGTERM', 30_000);
    // The broker started an epmd daemon on its private port: end it too.
    await run('epmd', ['-port', String(epmdPort), '-kill'], { timeoutMs: 10_000 }).catch(() => undefined);
    await fsp.rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForTcp(port, child, START_TIMEOUT_MS);
  } catch (e) {
    await stop();
    return `rabbitmq-server did not start within ${START_TIMEOUT_MS / 1000} s: ${String(e).split('\n')[0]}`;
  }
  return { url: `amqp://guest:guest@127.0.0.1:${port}`, amqp, child, startMs: performance.now() - started, stop };
}

export interface RabbitRun {
  consumers: number;
  acked: number;
  elapsedMs: number;
  recPerSec: number;
  /** Publishing the same messages beforehand (persistent, confirmed). */
  publishRecPerSec: number;
}

/**
 * Publish `total` copies of the values (persistent, with publisher confirms, a window of
 * one batch) to a fresh durable queue, then time `consumers` consumers (one connection each,
 * prefetch `prefetch`) acknowledging every message one by one until all are acked.
 */
export async function rabbitQueueRun(
  peer: RabbitPeer,
  values: string[],
  total: number,
  consumers: number,
  prefetch: number,
): Promise<RabbitRun> {
  const queue = `bench-${consumers}-${Date.now().toString(36)}`;
  const bodies = values.map((v) => Buffer.from(v));
  const pub = await peer.amqp.connect(peer.url);
  let publishRecPerSec = 0;
  try {
    const ch = await pub.createConfirmChannel();
    await ch.assertQueue(queue, { durable: true });
    const t0 = performance.now();
    for (let sent = 0; sent < total;) {
      for (const body of bodies) {
        if (sent >= total) break;
        sent++;
        if (!ch.sendToQueue(queue, body, { persistent: true }))
          await new Promise((r) => ch.once('drain', () => r(null)));
      }
      await ch.waitForConfirms();
    }
    publishRecPerSec = total / ((performance.now() - t0) / 1000);
    await ch.close();
  } finally {
    await pub.close();
  }

  const conns = await Promise.all(Array.from({ length: consumers }, () => peer.amqp.connect(peer.url)));
  try {
    let acked = 0;
    const t0 = performance.now();
    const deadline = t0 + 120_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, deadline - t0);
      const onMessage = (ch: AmqpChannel) => (msg: AmqpMessage | null) => {
        if (!msg) return;
        ch.ack(msg);
        if (++acked >= total) {
          clearTimeout(timer);
          resolve();
        }
      };
      for (const conn of conns)
        void conn
          .createChannel()
          .then(async (ch) => {
            await ch.prefetch(prefetch);
            await ch.consume(queue, onMessage(ch), { noAck: false });
          })
          .catch(reject);
    });
    const elapsedMs = performance.now() - t0;
    return { consumers, acked, elapsedMs, recPerSec: acked / (elapsedMs / 1000), publishRecPerSec };
  } finally {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
  }
}
