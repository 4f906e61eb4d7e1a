// A local Apache Kafka 4.x KRaft cluster for the Kafka-store tests: resolves the broker from
// Maven Central once (pom.xml in ./kafka, cached outside the repo), starts N brokers on 127.0.0.1.
//
// CLI: `npx tsx test/support/kafka-cluster.ts [--brokers=3] [--port=9092] [--max-seconds=1800]`
// prints the bootstrap list and keeps the cluster up until Ctrl-C or the time bound, then stops it.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const KAFKA_VERSION = '4.1.1';
const POM = path.join(path.dirname(fileURLToPath(import.meta.url)), 'kafka', 'pom.xml');
/** Jars are cached here (outside the repo), one folder per Kafka version. */
export const KAFKA_CACHE =
  process.env['SLUICE_KAFKA_CACHE'] ?? path.join(os.homedir(), '.cache', 'sluice-kafka', KAFKA_VERSION);
const LIBS = path.join(KAFKA_CACHE, 'libs');

function exec(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${cmd} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const onPath = (cmd: string) =>
  exec('bash', ['-c', `command -v ${cmd}`], 5_000).then(
    () => true,
    () => false,
  );

/** Resolves the broker's jars (once); returns a reason string when that is impossible here. */
export async function ensureKafka(): Promise<string | null> {
  if (!(await onPath('java'))) return 'java not found on PATH (Kafka 4 needs Java 17+)';
  const have = fs.existsSync(LIBS) && fs.readdirSync(LIBS).includes(`kafka_2.13-${KAFKA_VERSION}.jar`);
  if (have) return null;
  if (!(await onPath('mvn'))) return 'mvn not found on PATH (needed once to fetch Kafka from Maven Central)';
  try {
    await exec(
      'mvn',
      [
        '-q',
        '-B',
        '-f',
        POM,
        `-Dkafka.version=${KAFKA_VERSION}`,
        'dependency:copy-dependencies',
        `-DoutputDirectory=${LIBS}`,
      ],
      600_000,
    );
    return null;
  } catch (e) {
    return `Kafka download from Maven Central failed: ${String(e).slice(0, 500)}`;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function tcpAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const LOG4J2 = `Configuration:
  status: warn
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: warn
      AppenderRef:
        - ref: STDOUT
`;

export interface KafkaBroker {
  readonly id: number;
  readonly port: number;
  /** The running JVM, or undefined while the broker is down. */
  readonly process: ChildProcess | undefined;
  /** kill -9 (or another signal) and wait for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start the broker again on the same data and ports (after kill). */
  restart(): Promise<void>;
  /** Last lines the broker printed. */
  tail(): string;
}

export interface KafkaCluster {
  /** Comma-separated host:port list for SLUICE_KAFKA_BROKERS. */
  readonly bootstrap: string;
  readonly brokers: KafkaBroker[];
  stop(): Promise<void>;
}

export interface KafkaClusterOptions {
  brokers?: number;
  /** Client port of the first broker (the others take the next ones); default: free ports. */
  basePort?: number;
  /** JVM heap per broker (default 256m: the machine is small and shared). */
  heap?: string;
  /** Give up when the cluster is not ready within this long. */
  startTimeoutMs?: number;
}

/**
 * Formats and starts a KRaft cluster of combined broker+controller nodes on 127.0.0.1
 * (replication factor and min.insync.replicas default to min(3, n) and min(2, n)).
 */
export async function startKafkaCluster(options: KafkaClusterOptions = {}): Promise<KafkaCluster> {
  const reason = await ensureKafka();
  if (reason) throw new Error(reason);
  const n = options.brokers ?? 3;
  const heap = options.heap ?? '256m';
  const deadline = Date.now() + (options.startTimeoutMs ?? 180_000);
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sluice-kafka-'));
  const ports: Array<{ id: number; port: number; controller: number }> = [];
  for (let id = 1; id <= n; id++) {
    const port = options.basePort ? options.basePort + id - 1 : await freePort();
    ports.push({ id, port, controller: await freePort() });
  }
  const voters = ports.map((p) => `${p.id}@127.0.0.1:${p.controller}`).join(',');
  const log4j = path.join(dir, 'log4j2.yaml');
  await fsp.writeFile(log4j, LOG4J2);
  const rf = Math.min(3, n);
  // Like Kafka's own Uuid.randomUuid: never an id starting with '-', which the storage tool's
  // argument parser takes for an option (1 run in 64 failed to start the cluster).
  let clusterId: string;
  do clusterId = randomBytes(16).toString('base64url').slice(0, 22);
  while (clusterId.startsWith('-'));
  // Small JVMs: serial GC, C1 only, few threads; the brokers share 2 cores with everything else.
  const jvm = [
    `-Xmx${heap}`,
    '-Xms64m',
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-XX:CICompilerCount=1',
    '-Xss512k',
    `-Dlog4j2.configurationFile=${log4j}`,
    '-cp',
    `${LIBS}/*`,
  ];
  const brokers: KafkaBroker[] = [];
  for (const p of ports) {
    const props = path.join(dir, `broker-${p.id}.properties`);
    await fsp.writeFile(
      props,
      [
        'process.roles=broker,controller',
        `node.id=${p.id}`,
        `controller.quorum.voters=${voters}`,
        `listeners=PLAINTEXT://127.0.0.1:${p.port},CONTROLLER://127.0.0.1:${p.controller}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${p.port}`,
        'controller.listener.names=CONTROLLER',
        'inter.broker.listener.name=PLAINTEXT',
        'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        `log.dirs=${path.join(dir, `data-${p.id}`)}`,
        `offsets.topic.replication.factor=${rf}`,
        'offsets.topic.num.partitions=5',
        `transaction.state.log.replication.factor=${rf}`,
        `transaction.state.log.min.isr=${Math.min(2, n)}`,
        `default.replication.factor=${rf}`,
        `min.insync.replicas=${Math.min(2, n)}`,
        'group.initial.rebalance.delay.ms=0',
        'auto.create.topics.enable=false',
        'num.network.threads=2',
        'num.io.threads=2',
        'num.replica.fetchers=1',
        'background.threads=2',
        'log.cleaner.threads=1',
        'log.cleaner.dedupe.buffer.size=2097152',
        'share.coordinator.state.topic.replication.factor=' + rf,
        'share.coordinator.state.topic.min.isr=' + Math.min(2, n),
        'delete.topic.enable=true',
        '',
      ].join('\n'),
    );
    await exec('java', [...jvm, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', props], 120_000);
    brokers.push(brokerHandle(p.id, p.port, jvm, props));
  }
  const cluster: KafkaCluster = {
    bootstrap: ports.map((p) => `127.0.0.1:${p.port}`).join(','),
    brokers,
    stop: async () => {
      await Promise.all(brokers.map((b) => b.kill('SIGKILL')));
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(brokers.map((b) => b.restart()));
    // Ready when every broker listens; clients then wait for leaders themselves.
    for (const b of brokers) {
      while (!(await tcpAnswers(b.port))) {
        if (!b.process) throw new Error(`broker ${b.id} exited during start:\n${b.tail()}`);
        if (Date.now() > deadline) throw new Error(`broker ${b.id} not listening in time:\n${b.tail()}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

function brokerHandle(id: number, port: number, jvm: string[], props: string): KafkaBroker {
  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  return {
    id,
    port,
    get process() {
      return proc;
    },
    tail: () => lines.join('\n'),
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!proc) return;
      proc.kill(signal);
      await exited;
    },
    async restart() {
      if (proc) throw new Error(`broker ${id} is running`);
      const child = spawn('java', [...jvm, 'kafka.Kafka', props], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      proc = child;
      exited = new Promise((resolve) =>
        child.once('exit', () => {
          if (proc === child) proc = undefined;
          resolve();
        }),
      );
    },
  };
}

async function main(): Promise<void> {
  const arg = (name: string, fallback: number) => {
    const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
    return hit ? Number(hit.slice(name.length + 3)) : fallback;
  };
  const maxSeconds = arg('max-seconds', 1800);
  const started = Date.now();
  const basePort = arg('port', 0);
  const cluster = await startKafkaCluster({ brokers: arg('brokers', 3), ...(basePort ? { basePort } : {}) });
  console.log(`Kafka ${KAFKA_VERSION} up in ${Date.now() - started} ms: SLUICE_KAFKA_BROKERS=${cluster.bootstrap}`);
  console.log(`stops after ${maxSeconds} s or on Ctrl-C`);
  const stop = async () => {
    await cluster.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  setTimeout(() => void stop(), maxSeconds * 1000);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
