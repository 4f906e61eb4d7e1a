// Apache Kafka peer: resolves the broker from Maven Central once (pom.xml beside this file,
// cached under ~/.cache/sluice-bench/kafka), formats a single-node KRaft store and runs it on
// 127.0.0.1; kafkajs drives it. Skips with a reason when Java, Maven or the download is missing.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { BENCH_DIR, freePort, run, spawnChild, tempDir, waitForTcp, type Child } from '../lib/processes.js';

const POM = path.join(BENCH_DIR, 'peers', 'kafka', 'pom.xml');
const CACHE = process.env['SLUICE_BENCH_KAFKA_CACHE'] ?? path.join(os.homedir(), '.cache', 'sluice-bench', 'kafka');
const LIBS = path.join(CACHE, 'libs');

export interface KafkaPeer {
  readonly kafka: Kafka;
  readonly child: Child;
  stop(): Promise<void>;
}

async function which(cmd: string): Promise<boolean> {
  try {
    await run('bash', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

/** Download the broker's jars if needed. Resolves to a reason string when it can't. */
export async function ensureKafka(): Promise<string | null> {
  if (!(await which('java'))) return 'java not found on PATH';
  const have = fs.existsSync(LIBS) && fs.readdirSync(LIBS).some((f) => /^kafka_2\.13-.*\.jar$/.test(f));
  if (have) return null;
  if (!(await which('mvn'))) return 'mvn not found on PATH (needed once to fetch Kafka from Maven Central)';
  try {
    await run('mvn', ['-q', '-B', '-f', POM, 'dependency:copy-dependencies', `-DoutputDirectory=${LIBS}`], {
      timeoutMs: 600_000,
    });
    return null;
  } catch (e) {
    return `Kafka download from Maven Central failed: ${String(e).slice(0, 300)}`;
  }
}

const LOG4J = `log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
`;

/** Format and start a single-node KRaft broker (combined broker+controller) on 127.0.0.1. */
export async function startKafka(): Promise<KafkaPeer> {
  const dir = await tempDir('kafka');
  const [port, controllerPort] = [await freePort(), await freePort()];
  const props = path.join(dir, 'server.properties');
  const log4j = path.join(dir, 'log4j.properties');
  await fsp.writeFile(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${path.join(dir, 'data')}`,
      'offsets.topic.replication.factor=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=false',
      '',
    ].join('\n'),
  );
  await fsp.writeFile(log4j, LOG4J);
  const jvm = [`-Dlog4j.configuration=file:${log4j}`, '-cp', `${LIBS}/*`];
  // Kafka 3.x keeps the storage tool in the Scala `kafka.tools` package (4.x moved it).
  const clusterId = randomBytes(16).toString('base64url');
  await run('java', [...jvm, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', props], {
    timeoutMs: 120_000,
  });
  const child = await spawnChild({
    name: 'kafka',
    command: 'java',
    args: ['-Xms512m', '-Xmx1g', ...jvm, 'kafka.Kafka', props],
  });
  try {
    await waitForTcp(port, child, 120_000);
  } catch (e) {
    await child.stop('SIGKILL');
    throw e;
  }
  const kafka = new Kafka({ clientId: 'sluice-bench', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING });
  return {
    kafka,
    child,
    stop: async () => {
      await child.stop('SIGTERM', 20_000);
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}

export async function createKafkaTopic(
  kafka: Kafka,
  topic: string,
  partitions: number,
  config: Record<string, string> = {},
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [
        {
          topic,
          numPartitions: partitions,
          configEntries: Object.entries(config).map(([name, value]) => ({ name, value })),
        },
      ],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

export async function connectProducer(kafka: Kafka): Promise<Producer> {
  const p = kafka.producer({ allowAutoTopicCreation: false });
  await p.connect();
  return p;
}
