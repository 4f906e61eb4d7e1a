// Topic administration: create, list, describe, grow/reconfigure and delete topics, keeping
// the metadata row and the partition logs consistent even if the process dies half-way.
import { randomUUID } from 'node:crypto';
import { err, ok, type Result } from '../lib/result.js';
import type { LogStore, PartitionLog } from '../log/index.js';
import { isUniqueViolation } from '../metadata/errors.js';
import type { StoredTopicConfig, TopicRow } from '../metadata/schema.js';
import type { Logger } from '../logger.js';
import {
  mergeTopicConfig,
  normaliseStoredConfig,
  toPartitionConfig,
  TOPIC_CONFIG_DEFAULTS,
  type TopicConfigInput,
} from './topic-config.js';
import type { TopicsRepository } from './topics-repository.js';

/**
 * Kafka's topic names: 1–249 of [a-zA-Z0-9._-], but not "." or ".." (URL clients normalise
 * those away, so such a topic could never be used or deleted). Written without a lookahead so
 * every OpenAPI tool's regex engine (schemathesis/hypothesis, generators) can use it.
 */
export const TOPIC_NAME_PATTERN =
  /^(?:[a-zA-Z0-9_-][a-zA-Z0-9._-]{0,248}|\.[a-zA-Z0-9_-][a-zA-Z0-9._-]{0,247}|\.\.[a-zA-Z0-9._-]{1,247})$/;
export const TOPIC_NAME_RULE = 'must be 1–249 characters of a-z, A-Z, 0-9, ".", "_" or "-", and not "." or ".."';

/** A live topic as the domain sees it (config always complete). */
export interface Topic {
  id: string;
  name: string;
  partitions: number;
  config: StoredTopicConfig;
  /** The existing Kafka topic this topic exposes (Kafka store); absent for topics Sluice created. */
  kafkaTopic?: string;
  createdAt: number;
  updatedAt: number;
}

export interface PartitionStats {
  partition: number;
  startOffset: number;
  endOffset: number;
  sizeBytes: number;
  writable: boolean;
  /** Why writes are refused, when `writable` is false. */
  reason?: string;
}

export type TopicAdminError =
  | { code: 'topic_not_found'; message: string }
  | { code: 'topic_exists'; message: string }
  | { code: 'bad_request'; message: string }
  /** Exposing an existing Kafka topic: it does not exist. */
  | { code: 'not_found'; message: string }
  /** Exposing an existing Kafka topic: another topic already exposes (or owns) it. */
  | { code: 'conflict'; message: string };

/** Settings an exposed Kafka topic keeps in Kafka: read from it at expose time, not given. */
const KAFKA_OWNED_CONFIG = ['retention_ms', 'retention_bytes', 'segment_bytes', 'segment_ms'] as const;

export type PartitionLookupError =
  { code: 'topic_not_found'; message: string } | { code: 'partition_not_found'; message: string };

export type TopicChange =
  | { type: 'created'; topic: Topic }
  | { type: 'updated'; topic: Topic; previous: Topic }
  | { type: 'deleted'; topic: Topic };

/** The change added partitions to the topic (partitions only ever grow). */
export function topicGrew(change: TopicChange): boolean {
  return change.type === 'updated' && change.topic.partitions > change.previous.partitions;
}

/** A topic incarnation that was deleted: everything that points at its id ends with it. */
export interface DeletedTopic {
  id: string;
  name: string;
}

/**
 * Told of a deleted topic before its data and row are removed, and before a topic of the
 * same name can be created again (admin calls are serialised). A listener removes or ends
 * what belongs to the topic (committed offsets, webhooks, queues). It may run more than once
 * for one topic (a failed delete is finished at the next start, or before the name is
 * re-created), so it must be idempotent. A listener that throws fails the delete.
 */
export type TopicDeletedListener = (topic: DeletedTopic) => Promise<void> | void;

export interface ReconcileReport {
  rolledBackCreates: string[];
  finishedDeletes: string[];
  orphansRemoved: string[];
  orphansKept: string[];
  missingPartitionsCreated: Array<{ topic: string; partition: number }>;
}

export interface TopicsServiceOptions {
  repo: TopicsRepository;
  log: LogStore;
  logger: Logger;
  maxPartitions: number;
  clock?: () => number;
  /**
   * Other live nodes share this log and database (the Kafka store): at start-up, a create or
   * delete in flight may be theirs, not an earlier process's of this node.
   */
  sharedLog?: boolean;
}

/** Shared log: a `creating` row younger than this may be a live node's create, not a dead one's. */
export const CREATE_IN_FLIGHT_GRACE_MS = 5 * 60_000;

/**
 * The topics service. Admin calls go to Postgres (and throw when it is down: the HTTP
 * layer answers 503); the data path uses `lookup`/`partitionLog`, served from an in-memory
 * cache of active topics so produce and reads keep working without Postgres.
 */
export class TopicsService {
  private readonly cache = new Map<string, Topic>();
  private readonly listeners = new Set<(change: TopicChange) => void>();
  private readonly deletedListeners = new Set<TopicDeletedListener>();
  /** Exposed topics whose Kafka topic could not be opened, by id → the row's updatedAt then. */
  private readonly outOfService = new Map<string, number>();
  /** Admin changes are rare: one at a time keeps row/log ordering simple and race-free. */
  private adminQueue: Promise<unknown> = Promise.resolve();
  private readonly repo: TopicsRepository;
  private readonly log: LogStore;
  private readonly logger: Logger;
  private readonly maxPartitions: number;
  private readonly clock: () => number;

  private readonly sharedLog: boolean;

  constructor(options: TopicsServiceOptions) {
    this.repo = options.repo;
    this.log = options.log;
    this.logger = options.logger;
    this.maxPartitions = options.maxPartitions;
    this.clock = options.clock ?? Date.now;
    this.sharedLog = options.sharedLog ?? false;
  }

  // ---- data path (no database) ---------------------------------------------------------

  /** The active topic named `name`, from memory. */
  lookup(name: string): Topic | undefined {
    return this.cache.get(name);
  }

  /**
   * As lookup; but where several nodes share the log, a name missing from memory is looked up in
   * Postgres (one query) and a topic another node created since this node's last topic sync is
   * adopted now, as the sync would adopt it. For requests that must not miss a topic made a
   * moment ago elsewhere (a Durable Stream's first request on this node).
   */
  async lookupOrAdopt(name: string): Promise<Topic | undefined> {
    const cached = this.cache.get(name);
    if (cached || !this.sharedLog) return cached;
    if (!(await this.repo.findActive(name))) return undefined;
    // Serialised with the sync and this node's admin calls; the row is read again in turn.
    return this.serialised(async () => {
      const row = await this.repo.findActive(name);
      const now = this.cache.get(name);
      if (now || !row) return now;
      const topic = toTopic(row);
      if (this.outOfService.get(topic.id) === topic.updatedAt) return undefined;
      if (!(await this.openPartitions(topic))) return undefined;
      this.cache.set(topic.name, topic);
      this.emit({ type: 'created', topic });
      return topic;
    });
  }

  /** Active topics, from memory, sorted by name. */
  cached(): Topic[] {
    return [...this.cache.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The log of one partition of an active topic. */
  partitionLog(name: string, partition: number): Result<{ topic: Topic; log: PartitionLog }, PartitionLookupError> {
    const topic = this.cache.get(name);
    if (!topic) return err({ code: 'topic_not_found', message: `topic ${JSON.stringify(name)} does not exist` });
    const log =
      Number.isInteger(partition) && partition >= 0 && partition < topic.partitions
        ? this.log.getPartition(topic.id, partition)
        : undefined;
    if (!log) {
      return err({
        code: 'partition_not_found',
        message: `topic ${JSON.stringify(name)} has partitions 0..${topic.partitions - 1}; ${partition} does not exist`,
      });
    }
    return ok({ topic, log });
  }

  /** Offsets and sizes of every partition of `topic`, from the log. */
  partitionStats(topic: Topic): PartitionStats[] {
    const stats: PartitionStats[] = [];
    for (let p = 0; p < topic.partitions; p++) {
      const log = this.log.getPartition(topic.id, p);
      if (!log) {
        stats.push({
          partition: p,
          startOffset: 0,
          endOffset: 0,
          sizeBytes: 0,
          writable: false,
          reason: 'partition log missing',
        });
        continue;
      }
      const w = log.writable();
      stats.push({
        partition: p,
        startOffset: log.startOffset(),
        endOffset: log.endOffset(),
        sizeBytes: log.sizeBytes(),
        writable: w.ok,
        ...(w.ok ? {} : { reason: w.reason }),
      });
    }
    return stats;
  }

  /** Be told about creates, updates and deletes made through this service. */
  onChange(listener: (change: TopicChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Be told (and awaited) when a topic is deleted, with its id and name: the one mechanism
   * for ending what points at a topic. Register before `reconcile` to also finish deletes
   * an earlier process left half-done.
   */
  onTopicDeleted(listener: TopicDeletedListener): () => void {
    this.deletedListeners.add(listener);
    return () => this.deletedListeners.delete(listener);
  }

  // ---- admin (Postgres) ------------------------------------------------------------------

  /**
   * Create a topic, or with `kafka_topic` expose an existing Kafka topic under `name`: its
   * partition count and retention/segment settings come from Kafka, and deleting the topic
   * later leaves the Kafka topic and its data alone.
   */
  async create(
    input: {
      name: string;
      partitions?: number;
      config?: TopicConfigInput;
      kafka_topic?: string;
    },
    logger: Logger = this.logger,
  ): Promise<Result<Topic, TopicAdminError>> {
    const invalid =
      this.validateName(input.name) ??
      (input.kafka_topic === undefined || input.partitions !== undefined
        ? this.validatePartitions(input.partitions ?? 1)
        : undefined) ??
      (input.kafka_topic !== undefined ? this.validateExpose(input.kafka_topic, input.config) : undefined);
    if (invalid) return err(invalid);
    return this.serialised(async () => {
      // A delete of this name that failed half-way is finished first, so nothing of the old
      // topic (offsets, webhooks) can be taken for the new one.
      for (const row of await this.repo.listDeleting(input.name)) await this.finishDelete(row);
      let partitions = input.partitions ?? 1;
      let config = mergeTopicConfig(TOPIC_CONFIG_DEFAULTS, input.config);
      const kafkaTopic = input.kafka_topic;
      if (kafkaTopic !== undefined) {
        const found = await this.describeExposable(input.name, kafkaTopic, input.partitions);
        if (!found.ok) return found;
        partitions = found.value.partitions;
        // Foreign bytes need not be JSON: binary unless the caller chose a format.
        config = mergeTopicConfig(
          { ...TOPIC_CONFIG_DEFAULTS, ...found.value.config, value_format: 'binary' },
          input.config,
        );
      }
      const id = randomUUID();
      const now = this.clock();
      try {
        await this.repo.insertCreating({
          id,
          name: input.name,
          partitions,
          config,
          ...(kafkaTopic !== undefined ? { kafkaTopic } : {}),
          now,
        });
      } catch (e) {
        if (isUniqueViolation(e, 'topics_live_kafka_topic_idx')) return err(exposedElsewhere(kafkaTopic ?? ''));
        if (isUniqueViolation(e))
          return err({ code: 'topic_exists', message: `topic ${JSON.stringify(input.name)} already exists` });
        throw e;
      }
      const external = kafkaTopic !== undefined ? { external: kafkaTopic } : undefined;
      try {
        for (let p = 0; p < partitions; p++) await this.log.createPartition(id, p, toPartitionConfig(config), external);
        if (!(await this.repo.setState(id, 'creating', 'active', now)))
          throw new Error(`topic row ${id} vanished during create`);
      } catch (e) {
        await this.rollbackCreate(id, input.name, logger);
        throw e;
      }
      const topic: Topic = {
        id,
        name: input.name,
        partitions,
        config,
        ...(kafkaTopic !== undefined ? { kafkaTopic } : {}),
        createdAt: now,
        updatedAt: now,
      };
      this.cache.set(topic.name, topic);
      logger.info(
        {
          topic: topic.name,
          topic_id: id,
          partitions,
          ...(kafkaTopic !== undefined ? { kafka_topic: kafkaTopic } : {}),
        },
        kafkaTopic !== undefined ? 'Kafka topic exposed' : 'topic created',
      );
      this.emit({ type: 'created', topic }, logger);
      return ok(topic);
    });
  }

  async list(): Promise<Topic[]> {
    const rows = await this.repo.listActive();
    return rows.map(toTopic);
  }

  async get(name: string): Promise<Result<Topic, TopicAdminError>> {
    const row = await this.repo.findActive(name);
    return row ? ok(toTopic(row)) : err(notFound(name));
  }

  /** Grow partitions (never shrink) and/or change config; `value_format` is fixed at creation. */
  async update(
    name: string,
    change: { partitions?: number; config?: TopicConfigInput },
    logger: Logger = this.logger,
  ): Promise<Result<Topic, TopicAdminError>> {
    return this.serialised(async () => {
      const row = await this.repo.findActive(name);
      if (!row) return err(notFound(name));
      const current = toTopic(row);
      if (change.partitions !== undefined) {
        const invalid = this.validatePartitions(change.partitions);
        if (invalid) return err(invalid);
        if (change.partitions < current.partitions) {
          return err({
            code: 'bad_request',
            message: `partitions can only grow: topic ${JSON.stringify(name)} has ${current.partitions}, cannot shrink to ${change.partitions}`,
          });
        }
      }
      if (change.config?.value_format !== undefined && change.config.value_format !== current.config.value_format) {
        return err({
          code: 'bad_request',
          message: `value_format is fixed at creation (topic ${JSON.stringify(name)} is ${current.config.value_format}); existing records would no longer decode`,
        });
      }
      const config = mergeTopicConfig(current.config, change.config);
      const grow =
        change.partitions !== undefined && change.partitions > current.partitions ? change.partitions : undefined;
      // New partition logs first: if we die before the row changes they are merely unused.
      if (grow !== undefined) {
        for (let p = current.partitions; p < grow; p++)
          await this.log.createPartition(current.id, p, toPartitionConfig(config), externalOf(current));
      }
      const now = this.clock();
      const updated = await this.repo.update(
        current.id,
        { ...(grow !== undefined ? { partitions: grow } : {}), config },
        now,
      );
      if (!updated) return err(notFound(name));
      const topic = toTopic(updated);
      for (let p = 0; p < topic.partitions; p++)
        this.log.getPartition(topic.id, p)?.updateConfig(toPartitionConfig(topic.config));
      this.cache.set(topic.name, topic);
      logger.info(
        { topic: name, topic_id: topic.id, partitions: topic.partitions, config: topic.config },
        'topic updated',
      );
      this.emit({ type: 'updated', topic, previous: current }, logger);
      return ok(topic);
    });
  }

  /** Delete the topic and its data. The name is free again at once; a new topic gets a new id. */
  async delete(name: string, logger: Logger = this.logger): Promise<Result<void, TopicAdminError>> {
    return this.serialised(async () => {
      const row = await this.repo.findActive(name);
      if (!row) return err(notFound(name));
      if (!(await this.repo.setState(row.id, 'active', 'deleting', this.clock()))) return err(notFound(name));
      const topic = toTopic(row);
      if (this.cache.get(name)?.id === row.id) this.cache.delete(name);
      this.emit({ type: 'deleted', topic }, logger);
      await this.finishDelete(row);
      logger.info({ topic: name, topic_id: row.id }, 'topic deleted');
      return ok(undefined);
    });
  }

  /**
   * The rest of a delete once the row is `deleting`: tell the deleted-topic listeners, then
   * remove the data and the row. If a listener throws, the row stays `deleting` and this runs
   * again at the next start or before the name is created again.
   */
  private async finishDelete(row: TopicRow): Promise<void> {
    for (const listener of [...this.deletedListeners]) await listener({ id: row.id, name: row.name });
    await this.log.deleteTopic(row.id);
    await this.repo.remove(row.id);
  }

  /**
   * Start-up: finish or roll back half-done creates/deletes, make sure every active
   * partition has a log, drop log data that no topic owns (only when the data directory is
   * verified to belong to this database), and fill the cache.
   */
  async reconcile(options: { removeOrphans: boolean }): Promise<ReconcileReport> {
    const report: ReconcileReport = {
      rolledBackCreates: [],
      finishedDeletes: [],
      orphansRemoved: [],
      orphansKept: [],
      missingPartitionsCreated: [],
    };
    const rows = await this.repo.listAll();
    const known = new Set<string>();
    const now = this.clock();
    this.cache.clear();
    for (const row of rows) {
      if (row.state === 'creating') {
        if (this.sharedLog && now - row.updatedAt < CREATE_IN_FLIGHT_GRACE_MS) {
          // Another node's create, probably still running: its own rollback or the topic sync
          // settles it. Rolled back here only once it is older than the grace.
          known.add(row.id);
          continue;
        }
        await this.log.deleteTopic(row.id);
        await this.repo.remove(row.id);
        report.rolledBackCreates.push(row.name);
        continue;
      }
      if (row.state === 'deleting') {
        await this.finishDelete(row);
        report.finishedDeletes.push(row.name);
        continue;
      }
      known.add(row.id);
      const topic = toTopic(row);
      const onDisk = new Set(this.log.partitions(row.id));
      if (topic.kafkaTopic === undefined) {
        for (let p = 0; p < topic.partitions; p++)
          if (!onDisk.has(p)) report.missingPartitionsCreated.push({ topic: topic.name, partition: p });
      }
      if (await this.openPartitions(topic)) this.cache.set(topic.name, topic);
    }
    let unknown = this.log.topicIds().filter((id) => !known.has(id));
    if (this.sharedLog && unknown.length > 0) {
      // A create inserts its row before it creates the log: a row inserted by another node after
      // the rows were listed above is there now.
      const now = new Set((await this.repo.listAll()).map((r) => r.id));
      unknown = unknown.filter((id) => !now.has(id));
    }
    for (const id of unknown) {
      if (options.removeOrphans) {
        await this.log.deleteTopic(id);
        report.orphansRemoved.push(id);
      } else {
        report.orphansKept.push(id);
      }
    }
    return report;
  }

  /**
   * Several nodes sharing one log (Kafka) and one Postgres: adopt what other nodes changed.
   * Topics created or grown elsewhere get their partition logs here, config changes apply, and
   * topics deleted elsewhere leave this node's cache and close their logs here (their streams
   * end); the database side of a delete is the deleting node's, so delete listeners don't run,
   * and so is the log's: this node only lets go of it (releaseTopic), so adopting the delete
   * never waits on Kafka for a topic already gone while the topics behind it wait to be adopted.
   */
  async syncFromDatabase(): Promise<{ adopted: number; updated: number; dropped: number }> {
    return this.serialised(async () => {
      const counts = { adopted: 0, updated: 0, dropped: 0 };
      const active = new Map<string, Topic>();
      for (const row of await this.repo.listAll()) if (row.state === 'active') active.set(row.name, toTopic(row));
      for (const cached of [...this.cache.values()]) {
        if (active.get(cached.name)?.id === cached.id) continue;
        this.cache.delete(cached.name);
        this.emit({ type: 'deleted', topic: cached });
        if (this.log.releaseTopic) await this.log.releaseTopic(cached.id);
        else await this.log.deleteTopic(cached.id);
        counts.dropped++;
      }
      // An exposed Kafka topic whose partition log gave up on it (deleted and created again in
      // Kafka) goes out of service as at start-up, until its row changes or it is deleted.
      for (const cached of [...this.cache.values()]) {
        if (cached.kafkaTopic === undefined || active.get(cached.name)?.id !== cached.id) continue;
        const lost = this.lostPartition(cached);
        if (lost === undefined) continue;
        this.cache.delete(cached.name);
        this.outOfService.set(cached.id, cached.updatedAt);
        this.logger.error(
          { topic: cached.name, topic_id: cached.id, kafka_topic: cached.kafkaTopic, reason: lost },
          'the Kafka topic this topic exposes cannot be served: the topic is out of service until it is deleted',
        );
        this.emit({ type: 'deleted', topic: cached });
        await this.log.deleteTopic(cached.id); // only lets go of it (never deletes it)
        counts.dropped++;
      }
      for (const topic of active.values()) {
        const cached = this.cache.get(topic.name);
        if (cached && cached.updatedAt === topic.updatedAt && cached.partitions === topic.partitions) continue;
        // An exposed topic whose Kafka topic is gone is tried again only once its row changes.
        if (this.outOfService.get(topic.id) === topic.updatedAt) continue;
        if (!(await this.openPartitions(topic))) continue;
        this.cache.set(topic.name, topic);
        if (cached) {
          this.emit({ type: 'updated', topic, previous: cached });
          counts.updated++;
        } else {
          this.emit({ type: 'created', topic });
          counts.adopted++;
        }
      }
      if (counts.adopted + counts.updated + counts.dropped > 0)
        this.logger.info(counts, 'topics synced from the database');
      return counts;
    });
  }

  // ---- helpers ---------------------------------------------------------------------------

  /** Why a partition log of `topic` refuses appends for good, if one does. */
  private lostPartition(topic: Topic): string | undefined {
    for (let p = 0; p < topic.partitions; p++) {
      const writable = this.log.getPartition(topic.id, p)?.writable();
      if (writable && !writable.ok) return writable.reason;
    }
    return undefined;
  }

  /**
   * Open (or create) every partition log of an active topic and apply its config. An exposed
   * Kafka topic that is gone from Kafka (deleted outside Sluice) is not re-created: the topic
   * stays out of service, with an error in the log, until it is deleted; false then.
   */
  private async openPartitions(topic: Topic): Promise<boolean> {
    try {
      for (let p = 0; p < topic.partitions; p++) {
        const log = await this.log.createPartition(topic.id, p, toPartitionConfig(topic.config), externalOf(topic));
        log.updateConfig(toPartitionConfig(topic.config));
      }
      this.outOfService.delete(topic.id);
      return true;
    } catch (e) {
      if (topic.kafkaTopic === undefined) throw e;
      this.outOfService.set(topic.id, topic.updatedAt);
      this.logger.error(
        { err: e, topic: topic.name, topic_id: topic.id, kafka_topic: topic.kafkaTopic },
        'the Kafka topic this topic exposes cannot be opened: the topic is out of service until it is deleted',
      );
      await this.log.deleteTopic(topic.id).catch(() => undefined); // only lets go of it (never deletes it)
      return false;
    }
  }

  private validateName(name: string): TopicAdminError | undefined {
    if (TOPIC_NAME_PATTERN.test(name)) return undefined;
    return { code: 'bad_request', message: `topic name ${TOPIC_NAME_RULE}` };
  }

  /** What can be told without a look-up: the store can expose, and no Kafka-owned setting is given. */
  private validateExpose(kafkaTopic: string, config: TopicConfigInput | undefined): TopicAdminError | undefined {
    if (!this.log.external) {
      return {
        code: 'bad_request',
        message:
          'kafka_topic exposes an existing Kafka topic and needs the Kafka log store (SLUICE_LOG_STORE=kafka); this server keeps its log in local files',
      };
    }
    if (!TOPIC_NAME_PATTERN.test(kafkaTopic)) return { code: 'bad_request', message: `kafka_topic ${TOPIC_NAME_RULE}` };
    if (kafkaTopic.startsWith('__')) {
      return {
        code: 'bad_request',
        message: `Kafka topic ${JSON.stringify(kafkaTopic)} is internal to Kafka (its name starts with "__") and cannot be exposed`,
      };
    }
    const given = KAFKA_OWNED_CONFIG.filter((k) => config?.[k] !== undefined);
    if (given.length > 0) {
      return {
        code: 'bad_request',
        message: `${given.join(', ')}: an exposed Kafka topic keeps its own settings (they are read from Kafka); change them afterwards with PATCH /v1/topics/{topic}`,
      };
    }
    return undefined;
  }

  /** The Kafka topic to expose as `name`, after the checks that need Postgres and Kafka. */
  private async describeExposable(
    name: string,
    kafkaTopic: string,
    partitions: number | undefined,
  ): Promise<Result<{ partitions: number; config: Partial<StoredTopicConfig> }, TopicAdminError>> {
    if (await this.repo.findLive(name))
      return err({ code: 'topic_exists', message: `topic ${JSON.stringify(name)} already exists` });
    const exposing = await this.repo.findLiveByKafkaTopic(kafkaTopic);
    if (exposing) return err(exposedElsewhere(kafkaTopic, exposing.name));
    const found = await this.log.external!.describe(kafkaTopic);
    if (found === 'missing') {
      return err({
        code: 'not_found',
        message: `Kafka topic ${JSON.stringify(kafkaTopic)} does not exist on the cluster (create it in Kafka first, or leave out kafka_topic to have Sluice create one)`,
      });
    }
    if (found === 'own') {
      return err({
        code: 'conflict',
        message: `Kafka topic ${JSON.stringify(kafkaTopic)} is named with SLUICE_KAFKA_TOPIC_PREFIX: it is (or was) the log of a Sluice topic and cannot be exposed again`,
      });
    }
    if (partitions !== undefined && partitions !== found.partitions) {
      return err({
        code: 'bad_request',
        message: `Kafka topic ${JSON.stringify(kafkaTopic)} has ${found.partitions} partitions, not ${partitions}: leave out partitions (or grow it after exposing it with PATCH)`,
      });
    }
    const invalid = this.validatePartitions(found.partitions);
    if (invalid) {
      return err({
        code: 'bad_request',
        message: `Kafka topic ${JSON.stringify(kafkaTopic)} has ${found.partitions} partitions, more than this server allows (SLUICE_MAX_PARTITIONS=${this.maxPartitions})`,
      });
    }
    const c = found.config;
    const config: Partial<StoredTopicConfig> = {
      ...(c.retentionMs !== undefined ? { retention_ms: c.retentionMs } : {}),
      ...(c.retentionBytes !== undefined ? { retention_bytes: c.retentionBytes } : {}),
      ...(c.segmentBytes !== undefined ? { segment_bytes: c.segmentBytes } : {}),
      ...(c.segmentMs !== undefined ? { segment_ms: c.segmentMs } : {}),
    };
    return ok({ partitions: found.partitions, config });
  }

  private validatePartitions(partitions: number): TopicAdminError | undefined {
    if (Number.isInteger(partitions) && partitions >= 1 && partitions <= this.maxPartitions) return undefined;
    return { code: 'bad_request', message: `partitions must be an integer from 1 to ${this.maxPartitions}` };
  }

  private async rollbackCreate(id: string, name: string, logger: Logger): Promise<void> {
    try {
      await this.log.deleteTopic(id);
      await this.repo.remove(id);
    } catch (e) {
      // Left in state 'creating': the next start-up's reconcile removes it.
      logger.error({ err: e, topic: name, topic_id: id }, 'could not roll back a failed topic create');
    }
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.adminQueue.then(fn, fn);
    this.adminQueue = run.catch(() => undefined);
    return run;
  }

  private emit(change: TopicChange, logger: Logger = this.logger): void {
    // A snapshot: a listener may (un)subscribe while being told.
    for (const listener of [...this.listeners]) {
      try {
        listener(change);
      } catch (e) {
        logger.error({ err: e }, 'topic change listener failed');
      }
    }
  }
}

function exposedElsewhere(kafkaTopic: string, by?: string): TopicAdminError {
  return {
    code: 'conflict',
    message: `Kafka topic ${JSON.stringify(kafkaTopic)} is already exposed${by !== undefined ? ` as topic ${JSON.stringify(by)}` : ''}`,
  };
}

/** createPartition's options for a topic (its Kafka topic, when it exposes one). */
function externalOf(topic: Topic): { external: string } | undefined {
  return topic.kafkaTopic !== undefined ? { external: topic.kafkaTopic } : undefined;
}

function notFound(name: string): TopicAdminError {
  return { code: 'topic_not_found', message: `topic ${JSON.stringify(name)} does not exist` };
}

function toTopic(row: TopicRow): Topic {
  return {
    id: row.id,
    name: row.name,
    partitions: row.partitions,
    config: normaliseStoredConfig(row.config),
    ...(row.kafkaTopic !== null ? { kafkaTopic: row.kafkaTopic } : {}),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
