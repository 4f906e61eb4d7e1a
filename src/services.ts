// The composition root: builds every service once from the Config (database, migrations,
// log store and its recovery, reconciliation, domain services) and closes them in order.
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from './config.js';
import { createStreamRegistry, type StreamRegistry } from './delivery/stream-registry.js';
import { SseService } from './delivery/sse-service.js';
import {
  createFileLogStore,
  createKafkaLogStore,
  createMemoryLogStore,
  type LogStore,
  type RecoveryReport,
} from './log/index.js';
import { createLogger, type Logger } from './logger.js';
import { CLUSTER_ID_FILE, ensureClusterIdentity } from './metadata/cluster-identity.js';
import { openMetadata, type MetadataConnection, type MetadataDb } from './metadata/connection.js';
import { migrate } from './metadata/migrate.js';
import { createMetrics, registerIdempotencyMetrics, type Metrics } from './metrics.js';
import { registerStateGauges } from './metrics-traffic.js';
import { OverviewService } from './overview/overview-service.js';
import { overviewSources } from './overview/overview-sources.js';
import { collectGroupLags } from './overview/group-lags.js';
import { Gauge } from 'prom-client';
import { TopicsRepository } from './topics/topics-repository.js';
import { TopicsService, topicGrew } from './topics/topics-service.js';
import { createPostgresIdempotencyLock } from './topics/idempotency-lock.js';
import { ProduceService } from './topics/produce-service.js';
import { ReadService } from './topics/read-service.js';
import { GroupsService } from './groups/groups-service.js';
import { createGroupTopics } from './groups/topic-adapter.js';
import { forgetTopic as forgetTopicOffsets } from './groups/group-repository.js';
import { UrlPolicy } from './webhooks/url-policy.js';
import { WebhooksService } from './webhooks/webhooks-service.js';
import { Leases } from './cluster/leases.js';
import { OffsetMirror } from './cluster/offset-mirror.js';
import { QueueMetrics } from './queues/queue-metrics.js';
import { QueueSweeper } from './queues/queue-sweeper.js';
import { QueuesService } from './queues/queues-service.js';
import { ApiKeyStore } from './auth/api-keys.js';
import { AuthService } from './auth/auth-service.js';
import { loadSigningSecret, TokenSigner } from './auth/tokens.js';
import { StreamsService } from './durable-streams/streams-service.js';
import { settlesWithin } from './lib/settles-within.js';

export interface Services {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly metadata: MetadataConnection;
  readonly db: MetadataDb;
  readonly log: LogStore;
  readonly recovery: RecoveryReport;
  /** Open SSE streams / long-polls / loops; shutdown drains it. */
  readonly streams: StreamRegistry;
  readonly clusterId: string;
  readonly topics: TopicsService;
  // Domain services: add one line each below (and build them in createServices).
  /** Live SSE streams: shared partition tails, keepalives, shutdown via `streams`. */
  readonly sse: SseService;
  /** Produce (validation, partitioning, idempotency) and stateless partition reads. */
  readonly produce: ProduceService;
  readonly reads: ReadService;
  /** Consumer groups: membership, fetch, commits, admin; coordination in Postgres. */
  readonly groups: GroupsService;
  /** Webhooks: per-partition push workers, started here and stopped (in-flight aborted) on close. */
  readonly webhooks: WebhooksService;
  /** Queues: leases and acknowledgements per record, state in Postgres, one sweeper per cluster. */
  readonly queues: QueuesService;
  readonly queueSweeper: QueueSweeper;
  /** Access control: mode, API keys (≤ 1 s cache), browser tokens. */
  readonly auth: AuthService;
  /** Durable Streams protocol (/v1/stream): streams are one-partition topics. */
  readonly durableStreams: StreamsService;
  /** Snapshots of topics, groups, webhooks and health for GET /v1/overview/events (the dashboard). */
  readonly overview: OverviewService;

  /** Run `hook` during close(), before the log store and database close (last added runs first). */
  onClose(hook: () => Promise<void> | void): void;
  /**
   * Stop background work, close the log store (clean-shutdown marker) and the database. Work that
   * waits on the database gets `budgetMs` (default SLUICE_SHUTDOWN_TIMEOUT_MS); the log closes anyway.
   */
  close(budgetMs?: number): Promise<void>;
}

export interface ServiceOverrides {
  logger?: Logger;
  /** Use this log store instead of the one config selects (tests). */
  log?: LogStore;
}

/** Build everything. Throws (and releases what it opened) if any step fails. */
export async function createServices(config: Config, overrides: ServiceOverrides = {}): Promise<Services> {
  const logger = overrides.logger ?? createLogger(config);
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    await fs.mkdir(config.dataDir, { recursive: true });
    const metadata = await openMetadata(config, {
      onNotice: (m) => logger.debug({ notice: m }, 'postgres notice'),
      onWarning: (m) => logger.warn(m),
    });
    cleanups.push(() => metadata.close());
    const migrations = await migrate(metadata.db);
    logger.info(
      { database: metadata.kind, applied: migrations.applied, already_applied: migrations.alreadyApplied },
      'metadata migrated',
    );

    const metrics = createMetrics();
    const log = overrides.log ?? createLogStore(config, logger, metrics);
    const fileBacked = overrides.log === undefined && config.logStore === 'file';
    const freshDataDir = fileBacked && !(await exists(path.join(config.dataDir, CLUSTER_ID_FILE)));
    const identity = await ensureClusterIdentity(metadata.db, fileBacked ? config.dataDir : null);
    const recovery = await log.open();
    cleanups.push(() => log.close());
    if (freshDataDir && recovery.partitions === 0) {
      // No marker because nothing ever ran here, not because something crashed.
      logger.info(
        { cluster_id: identity.clusterId, data_dir: config.dataDir },
        'new data directory: nothing to recover',
      );
    } else {
      logger.info({ cluster_id: identity.clusterId, ...recovery }, 'log recovered');
    }

    registerLogHealthGauges(metrics, log);
    const streams = createStreamRegistry();
    const topics = new TopicsService({
      repo: new TopicsRepository(metadata.db),
      log,
      logger: logger.child({ component: 'topics' }),
      maxPartitions: config.maxPartitions,
      sharedLog: config.logStore === 'kafka',
    });
    // Before reconcile, so a delete an earlier process left half-done is finished here too.
    topics.onTopicDeleted((t) => forgetTopicOffsets(metadata.db, t.name));
    const reconciled = await topics.reconcile({ removeOrphans: identity.dataDirVerified });
    logReconcile(logger, reconciled);
    let topicSync: NodeJS.Timeout | undefined;
    if (config.logStore === 'kafka') {
      // Other nodes share this log and database: follow the topics they create, grow and delete.
      const sync = (topicSync = setInterval(() => {
        topics.syncFromDatabase().catch((e: unknown) => logger.warn({ err: e }, 'topic sync failed'));
      }, config.kafka.topicSyncMs));
      sync.unref();
      cleanups.push(() => clearInterval(sync));
    }
    // Domain services: build them here.
    const sse = new SseService({
      registry: streams,
      keepaliveMs: config.sseKeepaliveMs,
      retryMs: config.sseRetryMs,
      maxBufferedBytes: config.sseMaxBufferedBytes,
    });
    // Open streams of a deleted topic end now, not at their next keepalive: a change, not
    // onTopicDeleted, so a delete another node made ends them here when the topic sync adopts it.
    topics.onChange((change) => {
      if (change.type === 'deleted') sse.endTopic(change.topic.id);
    });
    // Open topic streams take in partitions added while they run.
    topics.onChange((change) => {
      if (topicGrew(change)) sse.growTopic(change.topic.id);
    });
    // Several nodes append to a Kafka log: idempotent requests take a lock in the shared Postgres.
    const idempotencyLock =
      config.logStore === 'kafka' && config.database.kind === 'postgres'
        ? createPostgresIdempotencyLock(config.database.url, {
            maxConnections: config.dbPoolMax,
            connectTimeoutMs: config.dbConnectTimeoutMs,
            lockTimeoutMs: 30_000,
          })
        : undefined;
    if (idempotencyLock) cleanups.push(() => idempotencyLock.close());
    const durableStreams = new StreamsService({
      db: metadata.db,
      topics,
      logger: logger.child({ component: 'durable-streams' }),
      idempotencyWindowMs: config.idempotencyWindowMs,
      maxJsonDepth: config.maxJsonDepth,
      maxReadBytes: 1024 * 1024,
      sweepIntervalMs: config.streamSweepMs,
      ...(idempotencyLock && { lock: idempotencyLock, sharedSyncMs: config.kafka.topicSyncMs }),
    });
    cleanups.push(() => durableStreams.close());
    // Before the first produce: a stream's topic takes appends in the stream's order.
    await durableStreams.start();
    const produce = new ProduceService(
      topics,
      log,
      {
        maxBodyBytes: config.maxBodyBytes,
        maxRecordsPerRequest: config.maxRecordsPerRequest,
        maxJsonDepth: config.maxJsonDepth,
        idempotencyWindowMs: config.idempotencyWindowMs,
        idempotencyMaxEntries: config.idempotencyMaxEntries,
        timestampAfterMaxMs: config.timestampAfterMaxMs,
        timestampBeforeMaxMs: config.timestampBeforeMaxMs,
        idempotencyMaxBytes: config.idempotencyMaxBytes,
      },
      Date.now,
      idempotencyLock,
      durableStreams,
    );
    cleanups.push(() => produce.close());
    registerIdempotencyMetrics(metrics, () => produce.idempotencyStats());
    const reads = new ReadService(topics);
    const groups = new GroupsService({
      db: metadata.db,
      topics: createGroupTopics(topics, log),
      settings: {
        rebalanceDelayMs: config.groupRebalanceDelayMs,
        sweepIntervalMs: config.groupSweepIntervalMs,
        longPollMaxMs: config.longPollMaxMs,
        // Embedded PGlite: no other process can write the group tables.
        soleWriter: metadata.kind === 'pglite',
      },
      logger: logger.child({ component: 'groups' }),
    });
    groups.startSweeper();
    // A fetch or group stream waiting on a topic that is deleted or grows learns it at once.
    topics.onChange((change) => {
      if (change.type !== 'deleted' && !topicGrew(change)) return;
      groups
        .topicChanged(change.topic.name)
        .catch((e: unknown) =>
          logger.warn({ err: e, topic: change.topic.name }, 'settling groups after a topic change failed'),
        );
    });
    // Only the Kafka store lets several nodes share one database; the others are alone by construction.
    const leases = new Leases(metadata.db, { ttlMs: config.leaseMs, exclusive: config.logStore !== 'kafka' });
    const webhooks = new WebhooksService({
      db: metadata.db,
      topics,
      log,
      producer: produce,
      policy: new UrlPolicy({ allowPrivate: config.webhookAllowPrivate, allowHosts: config.webhookAllowHosts }),
      maxConcurrency: config.webhookMaxConcurrency,
      deliveriesKept: config.webhookDeliveriesKept,
      expiredCounter: metrics.webhookRecordsExpired,
      onAttempt: metrics.traffic.webhookAttempt,
      logger: logger.child({ component: 'webhooks' }),
      leases,
    });
    cleanups.push(() => webhooks.stop());
    new Gauge({
      name: 'sluice_leases_held',
      help: 'Webhook leases this node holds (the webhooks it runs; with several nodes each webhook runs on one)',
      registers: [metrics.registry],
      collect() {
        this.set(webhooks.leasesHeld());
      },
    });
    await webhooks.start();
    const mirrorGroupOffsets = log.mirrorGroupOffsets?.bind(log);
    let offsetMirror: OffsetMirror | undefined;
    if (mirrorGroupOffsets && config.kafka.groupOffsetsMs > 0) {
      const mirror = (offsetMirror = new OffsetMirror({
        db: metadata.db,
        leases,
        topicId: (name) => topics.lookup(name)?.id,
        mirror: mirrorGroupOffsets,
        groupPrefix: config.kafka.topicPrefix,
        intervalMs: config.kafka.groupOffsetsMs,
        logger: logger.child({ component: 'offset-mirror' }),
      }));
      mirror.start();
      cleanups.push(() => mirror.close());
    }
    registerStateGauges(metrics.registry, {
      groupLags: async () =>
        (await collectGroupLags({ groups, db: metadata.db, topics, log })).map((g) => ({
          group: g.name,
          lag: g.total_lag,
        })),
      webhookBacklogs: async () =>
        (await webhooks.list()).map((w) => ({ id: w.row.id, topic: w.row.topic, state: w.state, lag: w.lag })),
    });
    const queueMetrics = new QueueMetrics(metrics.registry);
    // A topic deleted on another node (found by the topic sync) takes this node's queue series too.
    topics.onChange((change) => {
      if (change.type === 'deleted') queueMetrics.forgetTopic(change.topic.name);
    });
    const queues = new QueuesService({
      db: metadata.db,
      topics,
      logs: log,
      producer: produce,
      limits: {
        maxWindow: config.queueMaxWindow,
        sweepIntervalMs: config.queueSweepIntervalMs,
        pollIntervalMs: 1_000,
        // A stalled database connection answers 503 in bounded time (as connecting does).
        stateTimeoutMs: 2 * config.dbConnectTimeoutMs,
      },
      logger: logger.child({ component: 'queues' }),
      metrics: queueMetrics,
    });
    const queueSweeper = new QueueSweeper({
      db: metadata.db,
      queues,
      // Its own lease time (a crashed node's sweeps resume within 5 s), same node and same table.
      leases: new Leases(metadata.db, {
        ttlMs: Math.max(5_000, config.queueSweepIntervalMs * 10),
        exclusive: leases.exclusive,
        nodeId: leases.nodeId,
      }),
      intervalMs: config.queueSweepIntervalMs,
      logger: logger.child({ component: 'queues' }),
    });
    cleanups.push(() => queueSweeper.stop());
    queueSweeper.start();
    const authLogger = logger.child({ component: 'auth' });
    const auth = new AuthService(
      config.auth,
      new ApiKeyStore(metadata.db, {
        onStaleServed: (what, e) =>
          authLogger.warn(
            { error: e instanceof Error ? e.message : String(e) },
            `database unreachable: using the last known ${what}`,
          ),
      }),
      new TokenSigner(
        await loadSigningSecret(
          config.dataDir,
          config.auth.tokenSecret,
          authLogger,
          // Kafka store: nodes each have their own DATA_DIR, and share the database.
          config.logStore === 'kafka' ? { db: metadata.db } : undefined,
        ),
        identity.clusterId,
      ),
      authLogger,
      {
        produceBytesPerSec: config.limits.keyProduceBytesPerSec,
        readBytesPerSec: config.limits.keyReadBytesPerSec,
        maxStreams: config.limits.keyMaxStreams,
      },
    );
    await auth.announce(config.host);
    const overview = new OverviewService(
      overviewSources({
        topics,
        log,
        groups,
        webhooks,
        metadata,
        db: metadata.db,
        traffic: metrics.traffic,
        closing: () => streams.closing,
      }),
      config.overviewIntervalMs,
    );
    cleanups.push(() => overview.stop());
    overview.start();

    const hooks: Array<() => Promise<void> | void> = [];
    let closing: Promise<void> | undefined;
    return {
      config,
      logger,
      metrics,
      metadata,
      db: metadata.db,
      log,
      recovery,
      streams,
      clusterId: identity.clusterId,
      topics,
      sse,
      produce,
      reads,
      groups,
      webhooks,
      queues,
      queueSweeper,
      auth,
      durableStreams,
      overview,
      onClose: (hook) => void hooks.push(hook),
      close: (budgetMs = config.shutdownTimeoutMs) =>
        (closing ??= (async () => {
          const started = Date.now();
          const left = () => Math.max(0, Math.max(1_000, budgetMs) - (Date.now() - started));
          clearInterval(topicSync);
          for (const hook of hooks.reverse()) {
            try {
              await hook();
            } catch (e) {
              logger.error({ err: e }, 'close hook failed');
            }
          }
          overview.stop();
          // Work that waits on the database (a last sweep, releasing leases, group state) gets
          // what is left of the budget: a database that stopped answering must not keep the
          // log from closing cleanly, nor the process from exiting.
          const databaseWork = (async () => {
            await offsetMirror?.close();
            await queueSweeper.stop();
            queues.close();
            await webhooks.stop();
            await groups.stop();
          })().catch((e: unknown) => logger.error({ err: e }, 'shutdown step failed'));
          if (!(await settlesWithin(databaseWork, left()))) {
            logger.warn(
              { budget_ms: budgetMs },
              'database work still unanswered at shutdown deadline: closing the log',
            );
          }
          produce.close();
          durableStreams.close();
          await log.close();
          await idempotencyLock?.close();
          if (!(await settlesWithin(metadata.close(), Math.max(left(), 1_000)))) {
            logger.warn({}, 'the metadata database did not close in time');
          }
        })()),
    };
  } catch (e) {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch {
        // Already failing: report the original error.
      }
    }
    throw e;
  }
}

/**
 * Partitions that refuse writes, as gauges read at scrape time: quarantined (corruption found,
 * DESIGN §4) and not writable for any reason (also after a failed write/fsync until re-verified).
 */
function registerLogHealthGauges(metrics: Metrics, log: LogStore): void {
  new Gauge({
    name: 'sluice_log_quarantined_partitions',
    help: 'Partitions quarantined read-only because corruption was found below the recovery point or on read.',
    registers: [metrics.registry],
    collect() {
      this.set(log.quarantined().length);
    },
  });
  new Gauge({
    name: 'sluice_log_read_only_partitions',
    help: 'Partitions refusing writes (quarantined, or a write/fsync failed: EIO, ENOSPC) until re-verified by a restart.',
    registers: [metrics.registry],
    collect() {
      let n = 0;
      for (const id of log.topicIds())
        for (const p of log.partitions(id)) if (log.getPartition(id, p)?.writable().ok === false) n++;
      this.set(n);
    },
  });
}

function createLogStore(config: Config, logger: Logger, metrics: Metrics): LogStore {
  const logLogger = logger.child({ component: 'log' });
  if (config.logStore === 'memory') return createMemoryLogStore({ logger: logLogger });
  if (config.logStore === 'kafka') {
    const k = config.kafka;
    const pem = (file: string | undefined) => (file ? readFileSync(file, 'utf8') : undefined);
    return createKafkaLogStore({
      connection: {
        brokers: k.brokers,
        clientId: k.clientId,
        ...(k.tls.enabled
          ? { tls: { ca: pem(k.tls.caFile), cert: pem(k.tls.certFile), key: pem(k.tls.keyFile) } }
          : {}),
        ...(k.sasl ? { sasl: k.sasl } : {}),
      },
      topicPrefix: k.topicPrefix,
      replicationFactor: k.replicationFactor,
      logger: logLogger,
    });
  }
  return createFileLogStore({
    dataDir: config.dataDir,
    logger: logLogger,
    maxOpenFiles: config.maxOpenFiles,
    scrubBytesPerSec: config.logScrubBytesPerSec,
    flushBytes: config.logFlushBytes,
    observer: metrics.traffic.logObserver,
  });
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

function logReconcile(logger: Logger, r: Awaited<ReturnType<TopicsService['reconcile']>>): void {
  const changed =
    r.rolledBackCreates.length +
    r.finishedDeletes.length +
    r.orphansRemoved.length +
    r.orphansKept.length +
    r.missingPartitionsCreated.length;
  if (changed === 0) return;
  logger.warn(
    {
      rolled_back_creates: r.rolledBackCreates,
      finished_deletes: r.finishedDeletes,
      orphans_removed: r.orphansRemoved,
      orphans_kept: r.orphansKept,
      missing_partitions_created: r.missingPartitionsCreated,
    },
    'reconciled topics with log data after an unclean stop',
  );
}
