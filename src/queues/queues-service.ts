// Queues over a topic: receivers share partitions and acknowledge each record. All lease
// state lives in Postgres (one locked row per queue partition), so several nodes can serve one queue.
import { randomUUID } from 'node:crypto';
import { err, ok, type Result } from '../lib/result.js';
import type { PartitionLog } from '../log/index.js';
import type { QueueRow } from '../metadata/schema.js';
import { recordJsonRenderer } from '../topics/record-json-text.js';
import type { Topic } from '../topics/topics-service.js';
import { flushDeadLetters, type DeadLetterProducer } from './queue-dead-letter.js';
import { keyHashesFor, readRecords, visitRecords } from './queue-reads.js';
import { formatLease, newToken, type Lease } from './lease.js';
import {
  ackMany,
  acquire,
  addTally,
  applyRetention,
  emptyTally,
  encodeRanges,
  expireLeases,
  windowCounts,
  type AckAction,
  type AckStatus,
  type Acquired,
  type PartitionState,
  type QueueRules,
  type Tally,
} from './partition-state.js';
import {
  deleteQueue,
  deleteQueuesOfTopic,
  liveTopicExists,
  findQueue,
  insertQueue,
  listQueues,
  loadPartitions,
  loadVersioned,
  lockPartition,
  QueueGoneError,
  savePartition,
  toState,
  updateQueue,
  writeIfVersion,
  type Db,
  type QueueSettings,
} from './queue-repository.js';
import type { QueueMetrics } from './queue-metrics.js';
import { QueueSignals } from './queue-signals.js';
import { PartitionCell } from './partition-cell.js';

/** The slice of the topics service queues need. */
export interface QueueTopics {
  lookup(name: string): Topic | undefined;
  /** Active topics (to find a queue's topic by id). */
  cached(): Topic[];
  onTopicDeleted(listener: (topic: { id: string; name: string }) => Promise<void> | void): () => void;
}

/** The slice of the log store queues need. */
export interface QueueLogs {
  getPartition(topicId: string, partition: number): PartitionLog | undefined;
}

export interface QueueLimits {
  /** Most records a partition's in-flight window may span (SLUICE_QUEUE_MAX_WINDOW). */
  maxWindow: number;
  /** How often the sweeper looks for expired leases and dead letters to append. */
  sweepIntervalMs: number;
  /** A waiting receive re-checks Postgres at least this often (changes made by other nodes). */
  pollIntervalMs: number;
  /** How long one read or write of a partition's state may take before its requests get 503. */
  stateTimeoutMs?: number;
}

export const QUEUE_DEFAULTS = { start: 'earliest', lockMs: 30_000, maxDeliveries: 5 } as const;

export type QueueError =
  | { code: 'topic_not_found' | 'queue_not_found'; message: string }
  | { code: 'bad_request' | 'conflict'; message: string };

export interface QueueInput {
  start?: 'earliest' | 'latest';
  lock_ms?: number;
  max_deliveries?: number;
  dead_letter_topic?: string | null;
  ordered_by_key?: boolean;
}

export interface QueuePartitionJson {
  partition: number;
  start_offset: number;
  window_end_offset: number;
  end_offset: number;
  available: number;
  in_flight: number;
}

export interface QueueJson {
  topic: string;
  name: string;
  start: 'earliest' | 'latest';
  lock_ms: number;
  max_deliveries: number;
  dead_letter_topic: string | null;
  ordered_by_key: boolean;
  created_at: number;
  updated_at: number;
  available: number;
  in_flight: number;
  accepted: number;
  dead_lettered: number;
  dead_letter_pending: number;
  archived: number;
  skipped: number;
  deliveries: number;
  oldest_unacked_age_ms: number | null;
  partitions: QueuePartitionJson[];
}

/** Why a queue went: deleted itself, or with its topic. */
export type QueueDeletedCause = 'queue' | 'topic';

export interface ReceiveRequest {
  maxRecords: number;
  waitMs: number;
  /** Lock duration for this receive; the queue's lock_ms when absent. */
  lockMs?: number;
  signal?: AbortSignal;
  /** Create the queue if it does not exist (default true); false: 404 `queue_not_found`. */
  create?: boolean;
  /**
   * Receive only from the queue of this id (a stream's): one deleted and created again under the
   * same name, here or by another node, is another queue and answers `queue_not_found`.
   */
  queueId?: string;
  /** The request's logger, for the line of a queue this receive creates. */
  logger?: QueuesServiceOptions['logger'];
}

export interface ReceivedRecord {
  /** Record JSON with lease, delivery_count and lock_expires_at. */
  json: string;
  lease: string;
  expiresAt: number;
}

export interface AckItem {
  lease: Lease;
  /** As sent, echoed in the result. */
  text: string;
  action: AckAction;
}

export interface AckResultItem {
  lease: string;
  status: AckStatus;
  /** renew: the new expiry. */
  lock_expires_at?: number;
}

export interface QueuesServiceOptions {
  db: Db;
  topics: QueueTopics;
  logs: QueueLogs;
  producer: DeadLetterProducer;
  limits: QueueLimits;
  logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  metrics?: QueueMetrics;
  clock?: () => number;
}

const QUEUE_CACHE_MS = 1_000;

export class QueuesService {
  readonly signals = new QueueSignals();
  private readonly settledListeners = new Set<(leases: readonly string[]) => void>();
  private readonly deletedListeners = new Set<(queueId: string, cause: QueueDeletedCause) => void>();
  private readonly cache = new Map<string, { row: QueueRow; until: number }>();
  private readonly rotation = new Map<string, number>();
  /** Per queue partition (`<topic id>/<queue id>/<partition>`): this node's batched writer. */
  private readonly cells = new Map<string, PartitionCell>();
  private readonly db: Db;
  private readonly clock: () => number;
  private readonly unsubscribe: () => void;

  constructor(private readonly o: QueuesServiceOptions) {
    this.db = o.db;
    this.clock = o.clock ?? Date.now;
    // Queue state belongs to the topic's id: its rows go with the topic (also by foreign key,
    // should a delete be finished by a later process), and receivers waiting on it answer now.
    this.unsubscribe = o.topics.onTopicDeleted(async (topic) => {
      const deleted = await deleteQueuesOfTopic(this.db, topic.id);
      for (const [key, entry] of this.cache) if (entry.row.topicId === topic.id) this.cache.delete(key);
      for (const key of [...this.cells.keys()]) if (key.startsWith(`${topic.id}/`)) this.cells.delete(key);
      this.signals.wakeAll();
      this.o.metrics?.forgetTopic(topic.name);
      // Streams holding all their leases are in no receive to wake: without this they would
      // carry on into a topic (and queue) created again under the same names.
      for (const id of deleted) for (const listener of [...this.deletedListeners]) listener(id, 'topic');
    });
  }

  get limits(): QueueLimits {
    return this.o.limits;
  }

  close(): void {
    this.unsubscribe();
    this.signals.wakeAll();
  }

  // ---- admin ---------------------------------------------------------------------------

  /** `logger`: the request's, for the line of the queue it creates. */
  async put(
    topicName: string,
    name: string,
    input: QueueInput,
    logger: QueuesServiceOptions['logger'] = this.o.logger,
  ): Promise<Result<{ queue: QueueJson; created: boolean }, QueueError>> {
    const topic = this.o.topics.lookup(topicName);
    if (!topic) return err(topicNotFound(topicName));
    const dlq = input.dead_letter_topic ?? null;
    if (dlq !== null) {
      const bad = this.checkDeadLetterTopic(topic, dlq);
      if (bad) return err(bad);
    }
    const settings: QueueSettings = {
      start: input.start ?? QUEUE_DEFAULTS.start,
      lockMs: input.lock_ms ?? QUEUE_DEFAULTS.lockMs,
      maxDeliveries: input.max_deliveries ?? QUEUE_DEFAULTS.maxDeliveries,
      deadLetterTopic: dlq,
      orderedByKey: input.ordered_by_key ?? false,
    };
    const { row, created } = await this.create(topic, name, settings, logger);
    let current = row;
    if (!created) {
      if (input.start !== undefined && input.start !== row.start) {
        return err({
          code: 'conflict',
          message: `queue ${JSON.stringify(name)} already exists with start ${JSON.stringify(row.start)}; start applies only at creation (delete and re-create the queue to change it)`,
        });
      }
      const { start: _start, ...rest } = settings;
      const updated = await updateQueue(this.db, row.id, rest, this.clock());
      if (!updated) return err(queueNotFound(topicName, name));
      current = updated;
      this.forget(row);
      this.signals.wake(row.id);
    }
    return ok({ queue: await this.view(topic, current), created });
  }

  async get(topicName: string, name: string): Promise<Result<QueueJson, QueueError>> {
    const topic = this.o.topics.lookup(topicName);
    if (!topic) return err(topicNotFound(topicName));
    const row = await findQueue(this.db, topic.id, name);
    if (!row) return err(queueNotFound(topicName, name));
    return ok(await this.view(topic, row));
  }

  async list(topicName: string): Promise<Result<QueueJson[], QueueError>> {
    const topic = this.o.topics.lookup(topicName);
    if (!topic) return err(topicNotFound(topicName));
    const rows = await listQueues(this.db, topic.id);
    const out: QueueJson[] = [];
    for (const row of rows) out.push(await this.view(topic, row));
    return ok(out);
  }

  async delete(topicName: string, name: string): Promise<Result<void, QueueError>> {
    const topic = this.o.topics.lookup(topicName);
    if (!topic) return err(topicNotFound(topicName));
    const row = await findQueue(this.db, topic.id, name);
    if (!row || !(await deleteQueue(this.db, row.id))) return err(queueNotFound(topicName, name));
    this.forget(row);
    this.o.metrics?.forgetQueue(topic.name, name);
    this.signals.wake(row.id);
    for (const listener of [...this.deletedListeners]) listener(row.id, 'queue');
    return ok(undefined);
  }

  /**
   * The queue's id: it exists afterwards (created with defaults if it did not), or the topic is
   * missing. With `reconnectId` (the id a stream's reconnect says it was reading) the queue is
   * never created and must be that one: a queue deleted and created again under the same name is
   * another queue (another id), starting again from its own start, and is missing to the reconnect.
   */
  async ensure(
    topicName: string,
    name: string,
    reconnectId?: string,
    logger: QueuesServiceOptions['logger'] = this.o.logger,
  ): Promise<Result<string, QueueError>> {
    const topic = this.o.topics.lookup(topicName);
    if (!topic) return err(topicNotFound(topicName));
    const row = await this.queueFor(topic, name, reconnectId === undefined, logger);
    if (!row || (reconnectId !== undefined && row.id !== reconnectId)) return err(queueNotFound(topicName, name));
    return ok(row.id);
  }

  // ---- receive -------------------------------------------------------------------------

  /**
   * Lease up to maxRecords available records across the topic's partitions (a receive on an
   * unknown queue creates it with defaults). With waitMs, waits until records are available:
   * woken by appends, releases and lease expiry here, and re-checking Postgres every
   * pollIntervalMs for changes made by other nodes.
   */
  async receive(topicName: string, name: string, req: ReceiveRequest): Promise<Result<ReceivedRecord[], QueueError>> {
    const progress = { waited: false };
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.receiveLoop(topicName, name, req, progress);
      } catch (e) {
        if (!(e instanceof QueueGoneError)) throw e;
        this.forgetId(e.queueId);
        // Deleted by another node: this node's series of it go too.
        this.o.metrics?.forgetQueue(topicName, name);
        // Deleted while this request waited on it: the receive ends, as for a deleted topic.
        if (progress.waited) return err(queueDeletedWhileWaiting(topicName, name));
        // Deleted before (perhaps by another node, this one's cache being stale): a receive
        // creates it anew, as for any unknown queue.
        if (req.create === false) return err(queueNotFound(topicName, name));
        if (attempt > 0) throw e;
      }
    }
  }

  private async receiveLoop(
    topicName: string,
    name: string,
    req: ReceiveRequest,
    progress: { waited: boolean },
  ): Promise<Result<ReceivedRecord[], QueueError>> {
    const deadline = this.clock() + req.waitMs;
    // The queue waited on, once known (a stream's from its start). Only the first look creates
    // the queue: one deleted while the request (or stream) waited on it is not brought back, from
    // the start of the log, nor is one created again under the same name (another id) joined.
    let waitedOn = req.queueId;
    for (;;) {
      const topic = this.o.topics.lookup(topicName);
      if (!topic) return err(topicNotFound(topicName));
      const queue = await this.queueFor(topic, name, waitedOn === undefined && req.create !== false, req.logger);
      if (waitedOn !== undefined && queue?.id !== waitedOn) return err(queueDeletedWhileWaiting(topicName, name));
      if (!queue) return err(queueNotFound(topicName, name));
      let pass: Awaited<ReturnType<QueuesService['receiveOnce']>>;
      try {
        pass = await this.receiveOnce(topic, queue, req);
      } catch (e) {
        // Deleting the topic removes its files under a read walking them (ENOENT): that is the
        // 404 of a topic gone before the request, not a fault.
        if (!(e instanceof QueueGoneError) && this.o.topics.lookup(topicName)?.id !== topic.id)
          return err(topicNotFound(topicName));
        throw e;
      }
      const now = this.clock();
      if (pass.records.length > 0 || now >= deadline || req.signal?.aborted) return ok(pass.records);
      const until = Math.min(deadline, pass.nextExpiry ?? Infinity, now + this.o.limits.pollIntervalMs);
      waitedOn = queue.id;
      progress.waited = true;
      await this.waitForWork(topic, queue.id, until - now, req.signal);
    }
  }

  private async receiveOnce(
    topic: Topic,
    queue: QueueRow,
    req: ReceiveRequest,
  ): Promise<{ records: ReceivedRecord[]; nextExpiry: number | null }> {
    const n = topic.partitions;
    const first = (this.rotation.get(queue.id) ?? 0) % n;
    this.rotation.set(queue.id, first + 1);
    const lockMs = req.lockMs ?? queue.lockMs;
    const got: Array<{ partition: number; log: PartitionLog; token: string; acquired: Acquired[] }> = [];
    let remaining = req.maxRecords;
    let nextExpiry: number | null = null;
    const busy: number[] = [];
    const take = async (p: number, skipBusy: boolean) => {
      const log = this.o.logs.getPartition(topic.id, p);
      if (!log) return;
      if (skipBusy && this.cells.get(cellKey(queue, p))?.busy) return void busy.push(p);
      const r = await this.acquireFrom(topic, queue, p, log, remaining, lockMs);
      if (r.nextExpiry !== null && (nextExpiry === null || r.nextExpiry < nextExpiry)) nextExpiry = r.nextExpiry;
      if (r.acquired.length > 0) {
        got.push({ partition: p, log, token: r.token, acquired: r.acquired });
        remaining -= r.acquired.length;
      }
    };
    // First pass skips partitions this node is writing already; then joins their next batch if still short.
    for (let i = 0; i < n && remaining > 0; i++) await take((first + i) % n, true);
    if (got.length === 0) for (const p of busy.splice(0)) if (remaining > 0) await take(p, false);

    const records: ReceivedRecord[] = [];
    for (const g of got) {
      const render = recordJsonRenderer(topic.name, g.partition, topic.config.value_format);
      // Rendered while read: the record's buffers are views into the read, never copied.
      const texts = new Map<number, string>();
      await visitRecords(
        g.log,
        g.acquired.map((a) => a.offset),
        (rec) => texts.set(rec.offset, render(rec)),
      );
      for (const a of g.acquired) {
        const text = texts.get(a.offset);
        // Gone to retention since it was leased: it expires and is counted as skipped then.
        if (text === undefined) continue;
        const lease = formatLease({ partition: g.partition, offset: a.offset, token: g.token, expiresAt: a.expiresAt });
        records.push({
          json: `${text.slice(0, -1)},"lease":"${lease}","delivery_count":${a.deliveries},"lock_expires_at":${a.expiresAt}}`,
          lease,
          expiresAt: a.expiresAt,
        });
      }
    }
    this.o.metrics?.delivered(topic.name, queue.name, records.length);
    return { records, nextExpiry };
  }

  private async acquireFrom(
    topic: Topic,
    queue: QueueRow,
    p: number,
    log: PartitionLog,
    max: number,
    lockMs: number,
  ): Promise<{ acquired: Acquired[]; token: string; nextExpiry: number | null }> {
    const rules = rulesOf(queue);
    const token = newToken();
    const r = await this.cell(queue, p, log).run(async (state, now, tally) => {
      const logStart = log.startOffset();
      const logEnd = log.endOffset();
      let next = applyRetention(state, logStart, tally);
      next = expireLeases(next, now, rules, tally);
      const keyOf = queue.orderedByKey
        ? await keyHashesFor(log, next, Math.min(logEnd, next.startOffset + this.o.limits.maxWindow))
        : undefined;
      const a = acquire(
        next,
        { now, max, lockMs, token, logEnd, maxWindow: this.o.limits.maxWindow, rules, ...(keyOf ? { keyOf } : {}) },
        tally,
      );
      // Unchanged stays the same object, so a batch that changes nothing writes nothing.
      return { state: changed(state, a.state) ? a.state : state, value: a.acquired, delivered: a.acquired.length };
    });
    const counts = windowCounts(r.state);
    this.afterTransition(topic, queue, p, r.tally, counts.deadPending > 0);
    return { acquired: r.value, token, nextExpiry: counts.nextExpiry };
  }

  /** The cell that serialises and batches this node's changes to one queue partition. */
  private cell(queue: QueueRow, p: number, log: PartitionLog): PartitionCell {
    const key = cellKey(queue, p);
    let cell = this.cells.get(key);
    if (!cell) {
      const db = this.db;
      cell = new PartitionCell(
        {
          load: (now) => loadVersioned(db, queue.id, p, { startIfNew: log.startOffset(), now }),
          write: (version, state, tally, delivered, now) =>
            writeIfVersion(db, queue.id, p, version, { state, tally, delivered, now }),
        },
        this.clock,
        this.o.limits.stateTimeoutMs,
      );
      this.cells.set(key, cell);
    }
    return cell;
  }

  /** Be told of queues deleted through this node (by queue id), by themselves or with their topic. */
  onDeleted(listener: (queueId: string, cause: QueueDeletedCause) => void): () => void {
    this.deletedListeners.add(listener);
    return () => this.deletedListeners.delete(listener);
  }

  /** Be told of leases acknowledged on this node (whatever the action and result). */
  onSettled(listener: (leases: readonly string[]) => void): () => void {
    this.settledListeners.add(listener);
    return () => this.settledListeners.delete(listener);
  }

  // ---- acknowledge ---------------------------------------------------------------------

  /** Apply acks in request order; one result per ack, in the same order. */
  async ack(topicName: string, name: string, items: AckItem[]): Promise<Result<AckResultItem[], QueueError>> {
    try {
      return await this.ackAll(topicName, name, items);
    } catch (e) {
      if (!(e instanceof QueueGoneError)) throw e;
      this.forgetId(e.queueId);
      this.o.metrics?.forgetQueue(topicName, name);
      return err(queueNotFound(topicName, name));
    }
  }

  private async ackAll(
    topicName: string,
    name: string,
    items: AckItem[],
  ): Promise<Result<AckResultItem[], QueueError>> {
    const topic = this.o.topics.lookup(topicName);
    if (!topic) return err(topicNotFound(topicName));
    const queue = await this.queueFor(topic, name, false);
    if (!queue) return err(queueNotFound(topicName, name));
    const results = new Array<AckResultItem>(items.length);
    const byPartition = new Map<number, number[]>();
    items.forEach((item, i) => {
      const list = byPartition.get(item.lease.partition);
      if (list) list.push(i);
      else byPartition.set(item.lease.partition, [i]);
    });
    const rules = rulesOf(queue);
    for (const [p, indices] of byPartition) {
      const log = p < topic.partitions ? this.o.logs.getPartition(topic.id, p) : undefined;
      if (!log) {
        const now = this.clock();
        for (const i of indices) results[i] = { lease: items[i]!.text, status: gone(items[i]!.lease, now) };
        continue;
      }
      const r = await this.cell(queue, p, log).run((state, now, tally) => {
        // Records retention removed are skipped, leased or not (as receives, the sweeper and the
        // queue's counts have it): their leases answer unknown, never accepted or dead-lettered.
        const retained = applyRetention(state, log.startOffset(), tally);
        const applied = ackMany(
          retained,
          indices.map((i) => {
            const item = items[i]!;
            return {
              offset: item.lease.offset,
              token: item.lease.token,
              leaseExpiresAt: item.lease.expiresAt,
              action: item.action,
            };
          }),
          { now, lockMs: queue.lockMs, rules },
          tally,
        );
        return { state: applied.state, value: applied.results };
      });
      r.value.forEach((res, j) => {
        const i = indices[j]!;
        results[i] = {
          lease: items[i]!.text,
          status: res.status,
          ...(res.expiresAt !== undefined ? { lock_expires_at: res.expiresAt } : {}),
        };
      });
      this.afterTransition(topic, queue, p, r.tally, windowCounts(r.state).deadPending > 0);
      const outcomes = new Map<string, number>();
      for (const i of indices) {
        const k = `${items[i]!.action} ${results[i]!.status}`;
        outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
      }
      for (const [k, n] of outcomes) {
        const [action, status] = k.split(' ') as [string, string];
        this.o.metrics?.acked(topic.name, queue.name, action, status, n);
      }
    }
    const settled = items.filter((it, i) => it.action !== 'renew' || results[i]!.status !== 'ok').map((it) => it.text);
    for (const listener of [...this.settledListeners]) listener(settled);
    // Rejected records are in the dead-letter topic before the answer (the sweeper retries failures).
    for (const p of byPartition.keys()) await this.flushIfDead(queue, topic, p);
    return ok(results);
  }

  // ---- sweeping --------------------------------------------------------------------------

  /**
   * Return expired leases to the queue (or give them up after max_deliveries), skip what
   * retention removed, and append dead letters, for one partition. `fence` is checked inside
   * the transaction so a sweeper that lost its lease does nothing.
   */
  async sweepPartition(queue: QueueRow, topic: Topic, p: number, fence: (tx: Db) => Promise<boolean>): Promise<void> {
    const log = this.o.logs.getPartition(topic.id, p);
    if (!log) return;
    const rules = rulesOf(queue);
    const tally = emptyTally();
    let deadPending = false;
    await this.db.transaction(async (tx) => {
      if (!(await fence(tx))) return;
      const now = this.clock();
      const locked = await lockPartition(tx, queue.id, p, { skipLocked: true, startIfNew: log.startOffset(), now });
      if (!locked) return; // a receive or ack is on it and does the same work
      const state = expireLeases(applyRetention(locked.state, log.startOffset(), tally), now, rules, tally);
      await savePartition(tx, queue.id, p, state, tally, 0, now);
      deadPending = windowCounts(state).deadPending > 0;
    });
    this.afterTransition(topic, queue, p, tally, deadPending);
    await this.flushIfDead(queue, topic, p);
  }

  /** The active topic with this id (the sweeper finds queues by id). */
  topicById(id: string): Topic | undefined {
    return this.o.topics.cached().find((t) => t.id === id);
  }

  // ---- shared --------------------------------------------------------------------------

  /** Metrics, wake-ups and dead-letter appends after a partition's state changed. */
  afterTransition(topic: Topic, queue: QueueRow, p: number, tally: Tally, deadPending: boolean): void {
    this.o.metrics?.transitions(topic.name, queue.name, tally);
    if (tally.released + tally.expired > 0) this.signals.wake(queue.id);
    if (deadPending) this.deadPending.add(`${queue.id}/${p}`);
  }

  private readonly deadPending = new Set<string>();

  private async flushIfDead(queue: QueueRow, topic: Topic, p: number): Promise<void> {
    if (!this.deadPending.delete(`${queue.id}/${p}`)) return;
    await this.flushDead(queue, topic, p);
  }

  /** Append a partition's dead records to the dead-letter topic (or archive them without one). */
  async flushDead(queue: QueueRow, topic: Topic, p: number): Promise<void> {
    const log = this.o.logs.getPartition(topic.id, p);
    if (!log) return;
    try {
      const tally = await flushDeadLetters({
        db: this.db,
        producer: this.o.producer,
        queue,
        topic,
        partition: p,
        log,
        now: this.clock,
        deadLetterTopicGone: async () =>
          queue.deadLetterTopic !== null && !(await liveTopicExists(this.db, queue.deadLetterTopic)),
        onRefused: (offset, reason) =>
          this.o.logger.warn(
            {
              topic: topic.name,
              queue: queue.name,
              partition: p,
              offset,
              dead_letter_topic: queue.deadLetterTopic,
              reason,
            },
            'the dead-letter topic refused this record; it is archived instead',
          ),
      });
      this.o.metrics?.transitions(topic.name, queue.name, tally);
    } catch (error) {
      this.o.logger.warn(
        { err: error, topic: topic.name, queue: queue.name, partition: p },
        'queue dead-letter append failed; the sweeper retries',
      );
    }
  }

  /** The queue row (cached briefly; PUT/DELETE on this node invalidate it). */
  async queueFor(
    topic: Topic,
    name: string,
    create: boolean,
    logger: QueuesServiceOptions['logger'] = this.o.logger,
  ): Promise<QueueRow | undefined> {
    const key = `${topic.id}/${name}`;
    const now = this.clock();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.row;
    let row = await findQueue(this.db, topic.id, name);
    if (!row && create)
      row = (
        await this.create(
          topic,
          name,
          {
            start: QUEUE_DEFAULTS.start,
            lockMs: QUEUE_DEFAULTS.lockMs,
            maxDeliveries: QUEUE_DEFAULTS.maxDeliveries,
            deadLetterTopic: null,
            orderedByKey: false,
          },
          logger,
        )
      ).row;
    if (row) this.cache.set(key, { row, until: now + QUEUE_CACHE_MS });
    return row;
  }

  private async create(
    topic: Topic,
    name: string,
    settings: QueueSettings,
    logger: QueuesServiceOptions['logger'] = this.o.logger,
  ) {
    const starts: number[] = [];
    for (let p = 0; p < topic.partitions; p++) {
      const log = this.o.logs.getPartition(topic.id, p);
      starts.push(log ? (settings.start === 'latest' ? log.endOffset() : log.startOffset()) : 0);
    }
    const r = await insertQueue(this.db, {
      id: randomUUID(),
      topicId: topic.id,
      name,
      settings,
      starts,
      now: this.clock(),
    });
    if (r.created)
      logger.info({ topic: topic.name, queue: name, queue_id: r.row.id, start: settings.start }, 'queue created');
    return r;
  }

  private forget(row: QueueRow): void {
    this.forgetId(row.id);
  }

  private forgetId(queueId: string): void {
    for (const [key, entry] of this.cache) if (entry.row.id === queueId) this.cache.delete(key);
    this.dropCells(queueId);
  }

  /** Cells of a deleted queue (a request still in one finds the row gone: QueueGoneError). */
  private dropCells(queueId: string): void {
    for (const key of [...this.cells.keys()]) if (key.includes(`/${queueId}/`)) this.cells.delete(key);
  }

  private checkDeadLetterTopic(topic: Topic, dlq: string): QueueError | undefined {
    if (dlq === topic.name)
      return { code: 'bad_request', message: 'dead_letter_topic must differ from the queue’s topic' };
    const target = this.o.topics.lookup(dlq);
    if (!target) return { code: 'bad_request', message: `dead_letter_topic ${JSON.stringify(dlq)} does not exist` };
    if (target.config.value_format !== topic.config.value_format)
      return {
        code: 'bad_request',
        message: `dead_letter_topic ${JSON.stringify(dlq)} has value_format ${target.config.value_format}; records of ${JSON.stringify(topic.name)} (${topic.config.value_format}) would not arrive unchanged`,
      };
    return undefined;
  }

  /** Counts as of now: retention and expired leases applied to a copy, not written. */
  private async view(topic: Topic, row: QueueRow): Promise<QueueJson> {
    const now = this.clock();
    const rows = new Map((await loadPartitions(this.db, row.id)).map((r) => [r.partition, r]));
    const rules = rulesOf(row);
    const totals = emptyTally();
    let accepted = 0;
    let deadLettered = 0;
    let archived = 0;
    let skipped = 0;
    let deliveries = 0;
    let oldest: number | null = null;
    let deadPending = 0;
    const partitions: QueuePartitionJson[] = [];
    for (let p = 0; p < topic.partitions; p++) {
      const log = this.o.logs.getPartition(topic.id, p);
      const logStart = log?.startOffset() ?? 0;
      const logEnd = log?.endOffset() ?? 0;
      const stored = rows.get(p);
      const tally = emptyTally();
      let state: PartitionState = stored ? toState(stored) : { startOffset: logStart, endOffset: logStart, ranges: [] };
      state = expireLeases(applyRetention(state, logStart, tally), now, rules, tally);
      addTally(totals, tally);
      if (stored) {
        accepted += Number(stored.accepted);
        deadLettered += Number(stored.deadLettered);
        archived += Number(stored.archived);
        skipped += Number(stored.skipped);
        deliveries += Number(stored.deliveries);
      }
      const c = windowCounts(state);
      const unseen = Math.max(0, logEnd - Math.max(state.endOffset, logStart));
      partitions.push({
        partition: p,
        start_offset: state.startOffset,
        window_end_offset: state.endOffset,
        end_offset: logEnd,
        available: c.available + unseen,
        in_flight: c.inFlight,
      });
      if (log && state.startOffset < logEnd) {
        const first = await readRecords(log, [state.startOffset]);
        const ts = first.get(state.startOffset)?.timestamp;
        if (ts !== undefined && (oldest === null || ts < oldest)) oldest = ts;
      }
      deadPending += c.deadPending;
    }
    return {
      topic: topic.name,
      name: row.name,
      start: row.start,
      lock_ms: row.lockMs,
      max_deliveries: row.maxDeliveries,
      dead_letter_topic: row.deadLetterTopic,
      ordered_by_key: row.orderedByKey,
      created_at: Number(row.createdAt),
      updated_at: Number(row.updatedAt),
      available: partitions.reduce((s, p) => s + p.available, 0),
      in_flight: partitions.reduce((s, p) => s + p.in_flight, 0),
      accepted,
      dead_lettered: deadLettered,
      dead_letter_pending: deadPending,
      archived: archived + totals.archived,
      skipped: skipped + totals.skipped,
      deliveries,
      oldest_unacked_age_ms: oldest === null ? null : Math.max(0, now - oldest),
      partitions,
    };
  }

  /** Resolve after `ms`, on an append to any partition, a local wake-up for the queue, or abort. */
  private waitForWork(topic: Topic, queueId: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const offs: Array<() => void> = [];
      const done = () => {
        clearTimeout(timer);
        for (const off of offs.splice(0)) off();
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal?.addEventListener('abort', done, { once: true });
      offs.push(this.signals.on(queueId, done));
      for (let p = 0; p < topic.partitions; p++) {
        const log = this.o.logs.getPartition(topic.id, p);
        if (log) offs.push(log.onAppend(done));
      }
    });
  }
}

function cellKey(queue: QueueRow, p: number): string {
  return `${queue.topicId}/${queue.id}/${p}`;
}

export function rulesOf(queue: QueueRow): QueueRules {
  return { maxDeliveries: queue.maxDeliveries, hasDeadLetterTopic: queue.deadLetterTopic !== null };
}

function changed(a: PartitionState, b: PartitionState): boolean {
  return (
    a.startOffset !== b.startOffset ||
    a.endOffset !== b.endOffset ||
    JSON.stringify(encodeRanges(a.ranges)) !== JSON.stringify(encodeRanges(b.ranges))
  );
}

/** The status of a lease whose record is not there to ask. */
function gone(lease: Lease, now: number): AckStatus {
  return lease.expiresAt <= now ? 'expired' : 'unknown';
}

function topicNotFound(name: string): QueueError {
  return { code: 'topic_not_found', message: `topic ${JSON.stringify(name)} does not exist` };
}

function queueDeletedWhileWaiting(topic: string, name: string): QueueError {
  return {
    code: 'queue_not_found',
    message: `queue ${JSON.stringify(name)} of topic ${JSON.stringify(topic)} was deleted while the request waited (a queue of that name now, if any, is another)`,
  };
}

function queueNotFound(topic: string, name: string): QueueError {
  return {
    code: 'queue_not_found',
    message: `queue ${JSON.stringify(name)} does not exist on topic ${JSON.stringify(topic)}`,
  };
}
