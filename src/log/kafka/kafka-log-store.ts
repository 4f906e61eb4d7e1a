// LogStore on an Apache Kafka cluster (SLUICE_LOG_STORE=kafka): a Sluice topic is the Kafka
// topic `<prefix><topic id>`; Kafka replicates, retains and orders, Sluice keeps only offsets in memory.
import type { LogLogger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { assertPartitionConfig } from '../append-input.js';
import type {
  ExternalLog,
  LogStore,
  PartitionConfig,
  PartitionLog,
  QuarantinedPartition,
  RecoveryReport,
} from '../types.js';
import { createPlatformaticDriver, type KafkaConnection, type KafkaDriver, type TopicLayout } from './kafka-driver.js';
import { KafkaPartitionLog, type KafkaPartitionContext } from './kafka-partition-log.js';
import { KafkaTail } from './kafka-tail.js';

export interface KafkaLogStoreOptions {
  connection: KafkaConnection;
  /** Kafka topic name = prefix + Sluice topic id (default `sluice.`). */
  topicPrefix?: string;
  /** Replication factor of topics this store creates; -1 = the broker's default.replication.factor. */
  replicationFactor?: number;
  /** Clock for append times stored with tagged batches (tests inject their own). */
  clock?: () => number;
  /** How long one tail Fetch waits at the broker (default 500 ms). */
  tailWaitMs?: number;
  logger?: LogLogger;
  /** Use this driver instead of @platformatic/kafka (tests). */
  driver?: KafkaDriver;
  /**
   * How often the start and end offsets and the sizes that topics show are read from Kafka for
   * every partition this node has open (default 30 s; 0: only when enforceRetention is called).
   */
  refreshMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How long exposing a Kafka topic the cluster does not know yet keeps asking before answering 404. */
const EXPOSE_MISSING_WAIT_MS = 2_000;

/** Sluice's partition settings as Kafka topic configs (Kafka enforces them itself). */
export function kafkaTopicConfigs(config: PartitionConfig): Record<string, string> {
  return {
    'retention.ms': String(config.retentionMs),
    'retention.bytes': String(config.retentionBytes),
    // Kafka refuses segments under 1 MiB; smaller settings round up.
    'segment.bytes': String(Math.max(1 << 20, config.segmentBytes)),
    ...(config.segmentMs >= 0 ? { 'segment.ms': String(Math.max(1, config.segmentMs)) } : {}),
    // Producers' timestamps are the records' timestamps, as on the file store; Sluice checks
    // their range itself (SLUICE_TIMESTAMP_*_MAX_MS), so the broker accepts any.
    'message.timestamp.type': 'CreateTime',
    'message.timestamp.before.max.ms': '9223372036854775807',
    'message.timestamp.after.max.ms': '9223372036854775807',
  };
}

/** The topic configs an exposed (not Sluice-created) Kafka topic shares with Sluice's topic config. */
const EXTERNAL_CONFIG_KEYS = ['retention.ms', 'retention.bytes', 'segment.bytes', 'segment.ms'] as const;

function externalTopicConfigs(config: PartitionConfig): Record<string, string> {
  const all = kafkaTopicConfigs(config);
  const out: Record<string, string> = {};
  for (const k of EXTERNAL_CONFIG_KEYS) if (all[k] !== undefined) out[k] = all[k];
  return out;
}

const MiB = 1 << 20;
/** Kafka's values of an existing topic as Sluice's settings, within Sluice's ranges. */
export function partitionConfigFromKafka(kafka: Record<string, string>): Partial<PartitionConfig> {
  const num = (k: string): number | undefined => {
    const v = kafka[k];
    if (v === undefined || v.trim() === '') return undefined;
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : Number.isFinite(n) ? Number.MAX_SAFE_INTEGER : undefined;
  };
  // -1 or ≥ 1 (Kafka allows 0 for some; Sluice's smallest limit is 1).
  const limit = (n: number | undefined) => (n === undefined ? undefined : n < 0 ? -1 : Math.max(1, n));
  const out: Partial<PartitionConfig> = {};
  // A compacted-only topic deletes nothing by time or size: Sluice shows it as "keep forever".
  const deletes = (kafka['cleanup.policy'] ?? 'delete').split(',').some((p) => p.trim() === 'delete');
  const retentionMs = deletes ? limit(num('retention.ms')) : -1;
  const retentionBytes = deletes ? limit(num('retention.bytes')) : -1;
  const segmentBytes = num('segment.bytes');
  const segmentMs = limit(num('segment.ms'));
  if (retentionMs !== undefined) out.retentionMs = retentionMs;
  if (retentionBytes !== undefined) out.retentionBytes = retentionBytes;
  if (segmentBytes !== undefined) out.segmentBytes = Math.min(1024 * MiB, Math.max(1024, segmentBytes));
  if (segmentMs !== undefined) out.segmentMs = segmentMs;
  return out;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Creates a LogStore over Kafka. Nothing connects until `open()`. */
export function createKafkaLogStore(options: KafkaLogStoreOptions): LogStore {
  const prefix = options.topicPrefix ?? 'sluice.';
  const clock = options.clock ?? Date.now;
  const logger = options.logger ?? silentLogger;
  const refreshEvery = options.refreshMs ?? 30_000;
  let driver: KafkaDriver | undefined;
  let closed = false;
  let refreshTimer: NodeJS.Timeout | undefined;
  let refreshSoon: NodeJS.Timeout | undefined;
  const logs = new Map<string, Map<number, KafkaPartitionLog>>();
  /** Partition counts of this store's topics in Kafka, as of open() and later changes. */
  const known = new Map<string, number>();
  /** Topic ids deleted by this node whose Kafka deletion may still be under way. */
  const deleting = new Set<string>();
  const layouts = new Map<string, TopicLayout>();
  const locks = new Map<string, Promise<unknown>>();
  const lastConfig = new Map<string, string>();
  /** Topics exposing an existing Kafka topic: Sluice topic id → Kafka topic name. */
  const external = new Map<string, string>();
  /** Per exposed Kafka topic, the configs last written to (or found on) it. */
  const externalApplied = new Map<string, Record<string, string>>();

  const kafkaName = (topicId: string) => external.get(topicId) ?? `${prefix}${topicId}`;
  const need = (): KafkaDriver => {
    if (!driver) throw new Error('Kafka log store is not open');
    return driver;
  };

  /** Runs `fn` after every earlier call for the same topic (createPartition, delete). */
  const serial = <T>(topicId: string, fn: () => Promise<T>): Promise<T> => {
    const prev = locks.get(topicId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    locks.set(
      topicId,
      next.catch(() => {}),
    );
    return next;
  };

  const layout = async (name: string, force: boolean): Promise<TopicLayout | undefined> => {
    if (!force) {
      const cached = layouts.get(name);
      if (cached) return cached;
    }
    const got = (await need().metadata([name], true)).get(name);
    if (got) layouts.set(name, got);
    else layouts.delete(name);
    return got;
  };

  /**
   * Close the topic's partition logs here (waiters woken, appends refused); for an exposed Kafka
   * topic, also forget it, and true: nothing more is Sluice's to do.
   */
  const letGo = async (topicId: string): Promise<boolean> => {
    for (const log of logs.get(topicId)?.values() ?? []) await log.close('topic deleted', false);
    logs.delete(topicId);
    const exposed = external.get(topicId);
    if (exposed === undefined) return false;
    external.delete(topicId);
    externalApplied.delete(exposed);
    known.delete(topicId);
    layouts.delete(exposed);
    return true;
  };

  const route = async (name: string, partition: number, force: boolean) => {
    const l = await layout(name, force);
    const leader = l?.leaders[partition];
    if (!l || leader === undefined) throw new Error(`no metadata for ${name}/${partition}`);
    return { leader, topicId: l.id };
  };
  const tail = new KafkaTail({ driver: need, route, waitMs: options.tailWaitMs ?? 500 });

  const ctx: KafkaPartitionContext = {
    get driver() {
      return need();
    },
    clock,
    route,
    watch: (log) => tail.watch(log),
    unwatch: (log) => tail.unwatch(log),
    applyConfig(name, config) {
      const applied = externalApplied.get(name);
      if (applied) {
        // Someone else's topic: write only what a Sluice config change actually changed.
        const wanted = externalTopicConfigs(config);
        const changed: Record<string, string> = {};
        for (const [k, v] of Object.entries(wanted)) if (applied[k] !== v) changed[k] = v;
        if (Object.keys(changed).length === 0) return;
        externalApplied.set(name, { ...applied, ...changed });
        need()
          .alterTopicConfig(name, changed)
          .catch((e: unknown) => {
            externalApplied.set(name, applied);
            logger.error({ err: e, topic: name }, 'could not apply topic config to Kafka');
          });
        return;
      }
      const configs = kafkaTopicConfigs(config);
      const key = JSON.stringify(configs);
      if (lastConfig.get(name) === key) return;
      lastConfig.set(name, key);
      need()
        .alterTopicConfig(name, configs)
        .catch((e: unknown) => {
          lastConfig.delete(name);
          logger.error({ err: e, topic: name }, 'could not apply topic config to Kafka');
        });
    },
  };

  /** Waits (bounded) until the partition has a leader, so the first append need not retry. */
  const awaitLeader = async (name: string, partition: number): Promise<void> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const l = await layout(name, true);
      if (l && (l.leaders[partition] ?? -1) >= 0) return;
      if (Date.now() > deadline) throw new Error(`Kafka topic ${name} partition ${partition} has no leader after 60 s`);
      await sleep(100);
    }
  };

  const ensureKafkaTopic = async (topicId: string, partition: number, config: PartitionConfig): Promise<void> => {
    const name = kafkaName(topicId);
    if (external.has(topicId)) {
      // An exposed topic is never created here; growing it grows the Kafka topic.
      let l = await layout(name, !known.has(topicId));
      if (!l) throw new Error(`Kafka topic ${JSON.stringify(name)} does not exist (deleted outside Sluice?)`);
      if (l.leaders.length <= partition) {
        try {
          await need().growTopic(name, partition + 1);
        } catch (e) {
          l = await layout(name, true);
          if (!l || l.leaders.length <= partition) throw e;
        }
      }
      known.set(topicId, Math.max(partition + 1, l.leaders.length));
      await awaitLeader(name, partition);
      return;
    }
    if (deleting.has(topicId)) {
      // Kafka deletes asynchronously: wait until the old topic is gone before making a new one.
      const deadline = Date.now() + 60_000;
      while ((await layout(name, true)) !== undefined) {
        if (Date.now() > deadline) throw new Error(`Kafka topic ${name} is still being deleted after 60 s`);
        await sleep(200);
      }
      deleting.delete(topicId);
      known.delete(topicId);
    }
    let count = known.get(topicId);
    if (count === undefined) {
      const l = await layout(name, true);
      count = l?.leaders.length;
    }
    if (count === undefined) {
      try {
        await need().createTopic(name, partition + 1, kafkaTopicConfigs(config), options.replicationFactor ?? -1);
        count = partition + 1;
      } catch (e) {
        // Another node created it first: use what is there.
        const l = await layout(name, true);
        if (!l) throw e;
        count = l.leaders.length;
      }
      lastConfig.set(name, JSON.stringify(kafkaTopicConfigs(config)));
    }
    if (count <= partition) {
      try {
        await need().growTopic(name, partition + 1);
      } catch (e) {
        const l = await layout(name, true);
        if (!l || l.leaders.length <= partition) throw e;
      }
      count = partition + 1;
    }
    known.set(topicId, count);
    await awaitLeader(name, partition);
  };

  /**
   * Kafka enforces retention itself: this reads what topics show from Kafka, for every partition
   * this node has open — start and end offsets (ListOffsets) and bytes on disk (DescribeLogDirs),
   * which cover what other nodes and native producers appended too.
   */
  let refreshing: Promise<void> | undefined;
  const refresh = (): Promise<void> =>
    (refreshing ??= (async () => {
      try {
        const open = [...logs.values()].flatMap((partitions) => [...partitions.values()]);
        const byTopic = new Map<string, number[]>();
        for (const log of open) {
          let list = byTopic.get(log.kafkaTopic);
          if (!list) byTopic.set(log.kafkaTopic, (list = []));
          list.push(log.partition);
        }
        const topics = [...byTopic].map(([name, partitions]) => ({ name, partitions }));
        const d = need();
        // One request each for all partitions (earliest before latest: a start never passes its end).
        // When that fails (e.g. a topic another node just deleted), each partition is asked alone.
        const offsets = await (async () => {
          const starts = await d.listOffsets(topics, -2);
          return { starts, ends: await d.listOffsets(topics, -1) };
        })().catch(async () => {
          for (const log of open) await log.refresh().catch(() => {});
          return undefined;
        });
        const sizes = await d.partitionSizes(topics).catch((e: unknown) => {
          logger.warn({ err: e }, 'could not read partition sizes from Kafka');
          return new Map<string, Map<number, number>>();
        });
        for (const log of open) {
          const start = offsets?.starts.get(log.kafkaTopic)?.get(log.partition);
          const end = offsets?.ends.get(log.kafkaTopic)?.get(log.partition);
          if (start !== undefined && end !== undefined) log.observeOffsets(start, end);
          const size = sizes.get(log.kafkaTopic)?.get(log.partition);
          if (size !== undefined) log.observeSize(size);
        }
      } finally {
        refreshing = undefined;
      }
    })());

  return {
    async open(): Promise<RecoveryReport> {
      const started = Date.now();
      driver = options.driver ?? (await createPlatformaticDriver(options.connection));
      const names = (await driver.listTopics()).filter((n) => n.startsWith(prefix));
      const md = await driver.metadata(names, true);
      for (const [name, l] of md) {
        known.set(name.slice(prefix.length), l.leaders.length);
        layouts.set(name, l);
      }
      logger.info({ brokers: options.connection.brokers, topics: known.size }, 'connected to Kafka');
      if (refreshEvery > 0) {
        refreshTimer = setInterval(() => void refresh().catch(() => {}), refreshEvery);
        refreshTimer.unref();
      }
      return { cleanShutdown: true, partitions: 0, truncated: [], quarantined: [], durationMs: Date.now() - started };
    },

    createPartition(topicId, partition, config, options): Promise<PartitionLog> {
      if (closed) return Promise.reject(new Error('log store is closed'));
      assertPartitionConfig(config);
      return serial(topicId, async () => {
        const bound = external.get(topicId);
        if (options?.external !== undefined && bound === undefined) {
          if (logs.has(topicId)) throw new Error(`topic ${topicId} already has its own Kafka topic`);
          external.set(topicId, options.external);
          // What Sluice's config says is taken as what Kafka has: nothing is written until it changes.
          externalApplied.set(options.external, externalTopicConfigs(config));
        } else if (options?.external !== bound) {
          throw new Error(`topic ${topicId} is bound to Kafka topic ${bound ?? kafkaName(topicId)}`);
        }
        const existing = logs.get(topicId)?.get(partition);
        if (existing) {
          existing.updateConfig(config);
          return existing;
        }
        await ensureKafkaTopic(topicId, partition, config);
        const name = kafkaName(topicId);
        const d = need();
        const [start, end] = await Promise.all([d.listOffset(name, partition, -2), d.listOffset(name, partition, -1)]);
        // What it shows comes from Kafka shortly (one refresh for all partitions opened meanwhile).
        if (!refreshSoon && refreshEvery > 0) {
          refreshSoon = setTimeout(() => {
            refreshSoon = undefined;
            void refresh().catch(() => {});
          }, 1000);
          refreshSoon.unref();
        }
        // Sluice's own topics are CreateTime (kafkaTopicConfigs): what was sent is what a fetch returns.
        const log = new KafkaPartitionLog(
          topicId,
          partition,
          name,
          { start, end },
          config,
          ctx,
          !external.has(topicId),
          external.has(topicId) ? { kafkaTopicId: layouts.get(name)?.id } : undefined,
        );
        let partitions = logs.get(topicId);
        if (!partitions) logs.set(topicId, (partitions = new Map()));
        partitions.set(partition, log);
        return log;
      });
    },

    getPartition: (topicId, partition) => logs.get(topicId)?.get(partition),

    topicIds: () => [...new Set([...known.keys(), ...logs.keys()])].filter((id) => !deleting.has(id)),

    async mirrorGroupOffsets(group, offsets) {
      const byTopic = new Map<string, Array<{ partition: number; offset: number }>>();
      for (const o of offsets) {
        const name = kafkaName(o.topicId);
        let list = byTopic.get(name);
        if (!list) byTopic.set(name, (list = []));
        list.push({ partition: o.partition, offset: o.offset });
      }
      if (byTopic.size === 0) return;
      await need().commitGroupOffsets(
        group,
        [...byTopic].map(([name, partitions]) => ({ name, partitions })),
      );
    },

    external: {
      async describe(name): Promise<ExternalLog | 'missing' | 'own'> {
        if (name.startsWith(prefix) && UUID.test(name.slice(prefix.length))) return 'own';
        // Kafka tells its brokers about a new topic asynchronously: a topic created a moment ago
        // may be unknown to the broker asked. Ask again for a short while before answering missing.
        let l: TopicLayout | undefined;
        for (const deadline = Date.now() + EXPOSE_MISSING_WAIT_MS; ; await sleep(250)) {
          l = (await need().metadata([name], true)).get(name);
          if (l || Date.now() >= deadline) break;
        }
        if (!l) return 'missing';
        const kafka = await need().describeTopicConfig(name, [...EXTERNAL_CONFIG_KEYS, 'cleanup.policy']);
        return { partitions: l.leaders.length, config: partitionConfigFromKafka(kafka) };
      },
    },

    partitions(topicId) {
      const local = [...(logs.get(topicId)?.keys() ?? [])];
      if (local.length > 0) return local.sort((a, b) => a - b);
      if (deleting.has(topicId)) return [];
      return Array.from({ length: known.get(topicId) ?? 0 }, (_, i) => i);
    },

    deleteTopic(topicId) {
      return serial(topicId, async () => {
        const name = kafkaName(topicId);
        // An exposed Kafka topic is not Sluice's to delete: only let go of it.
        if (await letGo(topicId)) return;
        if (known.has(topicId) || (await layout(name, true))) {
          try {
            await need().deleteTopic(name);
          } catch (e) {
            if ((await layout(name, true)) !== undefined) throw e;
          }
          deleting.add(topicId);
        }
        known.delete(topicId);
        layouts.delete(name);
        lastConfig.delete(name);
      });
    },

    // No Kafka request: another node deleted the topic, and asking Kafka to delete a topic that is
    // gone already is retried by the client for seconds before it answers.
    releaseTopic(topicId) {
      return serial(topicId, async () => {
        const name = kafkaName(topicId);
        if (await letGo(topicId)) return;
        known.delete(topicId);
        layouts.delete(name);
        lastConfig.delete(name);
      });
    },

    enforceRetention: () => refresh(),

    quarantined: (): QuarantinedPartition[] => [],

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(refreshTimer);
      clearTimeout(refreshSoon);
      for (const partitions of logs.values())
        for (const log of partitions.values()) await log.close('log store closed', true);
      await driver?.close();
    },
  };
}
