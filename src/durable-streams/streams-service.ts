// Durable Streams over Sluice topics: each stream is a one-partition topic whose records are
// the stream's messages (JSON mode) or byte chunks; this service adds what the protocol needs.
import { isUtf8 } from 'node:buffer';
import { and, eq, inArray, ne } from 'drizzle-orm';
import { err, ok, type Result } from '../lib/result.js';
import { settlesWithin } from '../lib/settles-within.js';
import type { PartitionLog, RecordInput, StoredRecord } from '../log/index.js';
import type { Logger } from '../logger.js';
import type { MetadataDb } from '../metadata/connection.js';
import { durableStreams, type DurableStreamRow } from '../metadata/schema.js';
import type { IdempotencyLock } from '../topics/idempotency-lock.js';
import type { AppendGate, AppendOwner, ProduceError, ProduceTopic } from '../topics/produce-service.js';
import { CREATE_IN_FLIGHT_GRACE_MS, type Topic, type TopicsService } from '../topics/topics-service.js';
import {
  contentTypesMatch,
  isJsonContentType,
  mediaType,
  normaliseContentType,
  valueFormatFor,
} from './content-type.js';
import { jsonMessages } from './json-messages.js';
import { encodeStreamOffset, streamTag, type ParsedOffset } from './stream-offset.js';
import { streamTopicName } from './stream-path.js';
import { decodeWriterTag, encodeWriterTag } from './writer-tag.js';

export type StreamErrorCode =
  | 'not_found'
  | 'bad_request'
  | 'conflict'
  | 'closed'
  | 'gone'
  | 'payload_too_large'
  | 'stale_epoch'
  | 'seq_gap'
  | 'unavailable'
  | 'storage_full'
  | 'forbidden';

export interface StreamError {
  code: StreamErrorCode;
  message: string;
  /** Protocol headers that go with the error (Stream-Closed, Producer-Expected-Seq, …). */
  headers?: Record<string, string>;
  /** `forbidden`: the grant the caller lacks. */
  needs?: { resource: 'topic'; action: 'delete'; name: string };
}

export interface ProducerHeaders {
  id: string;
  epoch: number;
  seq: number;
}

/** What a stream looks like to a caller (HEAD, and the headers of every answer). */
export interface StreamView {
  path: string;
  topic: string;
  contentType: string;
  ttlSeconds: number | null;
  expiresAt: number | null;
  closed: boolean;
  /** The tail as an opaque offset. */
  nextOffset: string;
  tag: string;
  topicId: string;
}

interface ProducerState {
  epoch: number;
  lastSeq: number;
}

export interface StreamState {
  topic: Topic;
  log: PartitionLog;
  tag: string;
  /** A fork: its source's offset tag, taken for offsets up to `upTo` (the fork point). */
  inherited: { tag: string; upTo: number } | undefined;
  row: DurableStreamRow;
  /** Appends are refused from the moment a close is accepted… */
  closing: boolean;
  /** …and readers see EOF once the close is durable (after the final append). */
  closed: boolean;
  closedBy: string | null;
  lastAccess: number;
  persistedAccess: number;
  writer: Promise<WriterState> | undefined;
  /** The last append issued (close-only and duplicates wait for it before answering). */
  pending: Promise<unknown>;
  /**
   * Appends in flight that claimed a writer's next position (`producer:<id>`, `stream-seq`),
   * settled when their answer is decided. The writer's next append waits for it, so a refused
   * append is never followed by a later one written out of order or answered as a duplicate.
   */
  claims: Map<string, Promise<void>>;
  /** Woken on close and delete (appends wake readers through the log). */
  listeners: Set<() => void>;
  deleted: boolean;
  /** Being created (a fork's prefix or the initial body still being appended): no other append yet. */
  creating: boolean;
}

interface WriterState {
  producers: Map<string, ProducerState>;
  lastStreamSeq: string | undefined;
  /** Shared log: the offset up to which other nodes' appends have been applied (tagsFrom). */
  scanned?: number;
}

export interface StreamsServiceOptions {
  db: MetadataDb;
  topics: TopicsService;
  logger: Logger;
  /** Idempotent producer state and Stream-Seq are rebuilt from this much of the log after a restart. */
  idempotencyWindowMs: number;
  /** Deepest JSON nesting accepted in JSON streams (SLUICE_MAX_JSON_DEPTH). */
  maxJsonDepth: number;
  /** Most bytes of records one GET returns. */
  maxReadBytes: number;
  /** How often expired streams are removed and TTL renewals written to Postgres; 0 = never. */
  sweepIntervalMs: number;
  clock?: () => number;
  /**
   * For a log other nodes append to (Kafka, several nodes on one Postgres): appends take this
   * cross-node lock per stream and first catch up with what other nodes appended and closed.
   */
  lock?: IdempotencyLock;
  /** With `lock`: how often streams with waiting readers look for a close made on another node. */
  sharedSyncMs?: number;
}

export interface ForkInput {
  /** Stream-Forked-From as given (a stream path or URL path). */
  sourcePath: string;
  /** Stream-Fork-Offset as a Sluice offset; undefined = the source's tail. */
  offset: number | undefined;
  subOffset: number;
}

interface ResolvedFork {
  source: string;
  offset: number;
  subOffset: number;
}

/** The configuration a PUT asks for, compared with an existing stream's. */
interface Wanted {
  contentType: string;
  ttlSeconds: number | null;
  expiresAt: number | null;
  closed: boolean;
  fork: ResolvedFork | undefined;
}

export interface CreateInput {
  fork?: ForkInput;
  contentType: string | undefined;
  ttlSeconds: number | null;
  expiresAt: number | null;
  closed: boolean;
  body: Uint8Array;
  /**
   * Asked before an existing topic is adopted as the stream; a refusal is the answer. Adopting
   * hands the topic to the stream, whose expiry (or DELETE) deletes it: the route asks for
   * topic:delete, so topic:create alone cannot delete someone's empty topic that way.
   */
  refuseAdoption?: (topic: string) => StreamError | undefined;
}

export interface AppendInput {
  contentType: string | undefined;
  body: Uint8Array;
  close: boolean;
  streamSeq: string | undefined;
  producer: ProducerHeaders | undefined;
}

export interface AppendOutcome {
  view: StreamView;
  /** 200 new data with producer headers, 204 otherwise (and for duplicates). */
  status: 200 | 204;
  producer?: { epoch: number; seq: number };
}

export interface ReadOutcome {
  view: StreamView;
  state: StreamState;
  records: StoredRecord[];
  /** Requested position (as Sluice offset) and where the next read starts. */
  from: number;
  next: number;
  upToDate: boolean;
  /** The reader reached the tail of a closed stream: EOF. */
  eof: boolean;
}

const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
/** A new stream's topic keeps the default max_record_bytes (1 MiB). */
const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;
/** Most records one GET returns (JSON streams of tiny messages). */
const MAX_READ_RECORDS = 10_000;
/**
 * A create still pending (a fork's copy, a body) writes its progress this often, so another node
 * never takes a long copy for a dead one's (that takes CREATE_IN_FLIGHT_GRACE_MS without progress).
 */
const PENDING_REFRESH_MS = 30_000;
/** `pending_at` of a create being rolled back (older than any grace: a failed rollback is retried). */
const ROLLING_BACK = 0;
/**
 * How long a lookup waits for a create this process is running (a fork's copy, a body) before it
 * answers 503 with Retry-After: the stream is not there until its create is done.
 */
const CREATE_WAIT_MS = 3_000;

export class StreamsService implements AppendOwner {
  private readonly states = new Map<string, Promise<StreamState | undefined>>();
  /**
   * The ids of the topics that are streams': read by `start`, kept by create and delete, and on a
   * shared log read again on every sync (another node may have made one).
   */
  private streamTopics = new Set<string>();
  private readonly clock: () => number;
  private readonly bootTime: number;
  private timer: NodeJS.Timeout | undefined;
  /** Shared log: streams with readers waiting here, checked for a close made on another node. */
  private readonly watched = new Set<StreamState>();
  private syncTimer: NodeJS.Timeout | undefined;
  private syncing = false;
  /**
   * The pending creates this process is running (their rows have `pending_at`), by topic id: each
   * settles when its create is done or rolled back.
   */
  private readonly creatingHere = new Map<string, Promise<void>>();
  /**
   * The create of each path this process is running (settled once it is done and its entry gone):
   * creates of one path run one at a time, so a second PUT answers as for the stream made.
   */
  private readonly createsByPath = new Map<string, Promise<void>>();

  constructor(private readonly o: StreamsServiceOptions) {
    this.clock = o.clock ?? Date.now;
    this.bootTime = this.clock();
    o.topics.onTopicDeleted((t) => this.forget(t.id));
    if (o.sweepIntervalMs > 0) {
      this.timer = setInterval(
        () => void this.sweep().catch((e: unknown) => this.o.logger.warn({ err: e }, 'stream sweep failed')),
        o.sweepIntervalMs,
      );
      this.timer.unref();
    }
    if (o.lock) {
      this.syncTimer = setInterval(() => {
        void this.syncWatched();
        void this.syncStreamTopics().catch((e: unknown) =>
          this.o.logger.debug({ err: e }, 'reading which topics are streams failed; will retry'),
        );
      }, o.sharedSyncMs ?? 1_000);
      this.syncTimer.unref();
    }
  }

  /**
   * Reads which topics are streams', before the first produce is taken; rolls back the creates an
   * earlier process left pending and removes soft-deleted sources whose last fork went.
   */
  async start(): Promise<void> {
    await this.syncStreamTopics();
    await this.settleLeftovers(await this.o.db.select().from(durableStreams));
  }

  /**
   * Creates left pending by a process that died, and soft-deleted sources no fork refers to any
   * more (the process that deleted the last fork died before removing it, or the database
   * refused): at start-up and on every sweep.
   *
   * Which pending creates are dead: one node (file store, PGlite: no `lock`) is the only writer,
   * so a pending row this process is not running is a dead process's, rolled back at once. On a
   * log several nodes share (`lock`), another node may be running it: it is rolled back only once
   * its `pending_at` is older than CREATE_IN_FLIGHT_GRACE_MS, which a live create never lets
   * happen (it writes its progress every PENDING_REFRESH_MS). Until then it answers 503.
   */
  private async settleLeftovers(rows: DurableStreamRow[]): Promise<void> {
    const now = this.clock();
    for (const row of rows)
      if (row.pendingAt !== null && this.abandoned(row.topicId, row.pendingAt, now))
        await this.rollBack(row.topicId, row.path, row.pendingAt, this.o.logger);
    const forked = new Set(rows.flatMap((r) => (r.forkedFrom ? [r.forkedFrom] : [])));
    for (const row of rows)
      if (row.softDeleted && !forked.has(row.topicId)) {
        try {
          if (await this.collect(row.topicId))
            this.o.logger.info(
              { stream: row.path, topic_id: row.topicId },
              'removed a deleted fork source no fork refers to any more',
            );
        } catch (e) {
          this.o.logger.warn({ err: e, stream: row.path }, 'collecting a deleted fork source failed; will retry');
        }
      }
  }

  /** Whether a pending create is dead (see settleLeftovers). */
  private abandoned(topicId: string, pendingAt: number, now: number): boolean {
    if (this.creatingHere.has(topicId)) return false;
    return !this.o.lock || now - pendingAt >= CREATE_IN_FLIGHT_GRACE_MS;
  }

  /**
   * Roll back a create that did not finish: its topic (and so its row) goes. `pendingAt` is the
   * value seen: the row is first set to ROLLING_BACK only if it still holds it, so a create that
   * finished or made progress meanwhile (its updates compare the same way) is left alone, and
   * of a create and its rollback exactly one wins. Failures are logged; the row stays pending
   * and the next lookup or sweep tries again.
   */
  private async rollBack(topicId: string, path: string, pendingAt: number, logger: Logger): Promise<boolean> {
    const name = streamTopicName(path);
    const topic = name.ok ? this.o.topics.lookup(name.value) : undefined;
    if (topic?.id !== topicId) return false;
    try {
      const claimed = await this.o.db
        .update(durableStreams)
        .set({ pendingAt: ROLLING_BACK })
        .where(and(eq(durableStreams.topicId, topicId), eq(durableStreams.pendingAt, pendingAt)))
        .returning({ topicId: durableStreams.topicId });
      if (claimed.length === 0) return false;
      logger.warn({ stream: path, topic: topic.name }, 'rolling back a stream create that did not finish');
      await this.o.topics.delete(topic.name, logger);
      return true;
    } catch (e) {
      logger.warn({ err: e, stream: path }, 'could not roll back a stream create that did not finish');
      return false;
    }
  }

  private async syncStreamTopics(): Promise<void> {
    const rows = await this.o.db.select({ topicId: durableStreams.topicId }).from(durableStreams);
    this.streamTopics = new Set(rows.map((r) => r.topicId));
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.syncTimer = undefined;
  }

  // ---- lookups -------------------------------------------------------------------------

  private async find(path: string, waited = false): Promise<Result<StreamState, StreamError>> {
    const name = streamTopicName(path);
    if (!name.ok) return err({ code: 'bad_request', message: name.error });
    // Where nodes share the log, a stream created on another node a moment ago is found here too.
    const topic = await this.o.topics.lookupOrAdopt(name.value);
    if (!topic) return err(notFound(path));
    const state = await this.stateOfTopic(topic);
    if (!state || state.deleted) return err(notFound(path));
    // The state is loaded once (by topic id); its topic's config (durability, max_record_bytes)
    // follows PATCHes: the topic just looked up is the current one.
    state.topic = topic;
    if (state.row.pendingAt !== null) {
      // Created here right now: its outcome decides (the stream made, or none), looked up again.
      const inFlight = this.creatingHere.get(state.topic.id);
      if (inFlight && !waited) {
        if (await settlesWithin(inFlight, CREATE_WAIT_MS)) return this.find(path, true);
        return err(beingCreated(path));
      }
      const settled = await this.settlePending(state);
      if (!settled.ok) return settled;
    }
    if (state.row.softDeleted)
      return err({ code: 'gone', message: `stream ${JSON.stringify(path)} was deleted (forks of it remain)` });
    if (this.expired(state) && this.expired(await this.withPersistedAccess(state))) {
      await this.removeExpired(state);
      return err(notFound(path));
    }
    return ok(state);
  }

  /**
   * A stream whose create has more to do: 503 while it runs (here or on another node); rolled
   * back (404) if its create died; else its row as that create left it.
   */
  private async settlePending(state: StreamState): Promise<Result<void, StreamError>> {
    const path = state.row.path;
    if (this.creatingHere.has(state.topic.id)) return err(beingCreated(path));
    const rows = await this.o.db.select().from(durableStreams).where(eq(durableStreams.topicId, state.topic.id));
    const row = rows[0];
    if (!row) {
      this.markDeleted(state);
      return err(notFound(path));
    }
    if (row.pendingAt === null) {
      state.row = row;
      if (row.closed && !state.closed) this.markClosed(state, row.closedBy);
      return ok(undefined);
    }
    if (!this.abandoned(row.topicId, row.pendingAt, this.clock())) return err(beingCreated(path));
    if (!(await this.rollBack(row.topicId, path, row.pendingAt, this.o.logger))) return err(beingCreated(path));
    return err(notFound(path));
  }

  /** The stream state of a topic (loaded once), or undefined if it is not a stream's. */
  private stateOfTopic(topic: Topic): Promise<StreamState | undefined> {
    let p = this.states.get(topic.id);
    if (!p) {
      p = this.load(topic);
      this.states.set(topic.id, p);
      p.then(
        (s) => s === undefined && this.states.delete(topic.id),
        () => this.states.delete(topic.id),
      );
    }
    return p;
  }

  // ---- appends from outside the protocol -------------------------------------------------

  /**
   * A topic produce (or a queue or webhook dead letter) to a stream's topic: taken in the order of
   * the stream's own appends, and refused once the stream is closed, so readers that saw its end
   * and readers that come later agree. Other topics: undefined, at the cost of a set lookup.
   */
  ordered<T>(
    topic: ProduceTopic,
    append: (gate: AppendGate, locked: boolean) => Promise<Result<T, ProduceError>>,
  ): Promise<Result<T, ProduceError>> | undefined {
    if (!this.streamTopics.has(topic.id)) return undefined;
    return this.orderedAppend(topic, append);
  }

  private async orderedAppend<T>(
    produced: ProduceTopic,
    append: (gate: AppendGate, locked: boolean) => Promise<Result<T, ProduceError>>,
  ): Promise<Result<T, ProduceError>> {
    const topic = this.o.topics.lookup(produced.name);
    let s: StreamState | undefined;
    try {
      s = topic?.id === produced.id ? await this.stateOfTopic(topic) : undefined;
      // The stream is being created here: the produce waits for it (up to CREATE_WAIT_MS), so it
      // lands after the create's fork copy and body; the gate refuses it if the create still runs.
      const inFlight = this.creatingHere.get(produced.id);
      if (inFlight) await settlesWithin(inFlight, CREATE_WAIT_MS);
    } catch (e) {
      return err({
        code: 'unavailable',
        message: `could not read the state of the Durable Stream whose topic this is (${(e as Error).message}); retry`,
        details: {},
      });
    }
    // No stream row (any more): an ordinary topic.
    if (!s) return append({ admit: () => undefined, issued: () => {} }, false);
    const gate: AppendGate = {
      admit: () => {
        if (s.creating || s.row.pendingAt !== null)
          return {
            code: 'unavailable',
            message: `topic ${JSON.stringify(s.topic.name)} is the Durable Stream ${JSON.stringify(s.row.path)}, which is still being created; retry`,
            details: { stream: s.row.path },
          };
        if (!s.closing) return undefined;
        return {
          code: 'conflict',
          message: `topic ${JSON.stringify(s.topic.name)} is the Durable Stream ${JSON.stringify(s.row.path)}, which is closed: it takes no more records`,
          details: { reason: 'stream_closed', stream: s.row.path },
        };
      },
      issued: (done) => {
        s.pending = done.catch(() => {});
      },
    };
    const lock = this.o.lock;
    if (!lock) return append(gate, false);
    // Shared log: in the order of every node's appends to the stream, a close made on another
    // node applied first.
    const held = await lock.run(s.topic.id, 'durable stream writer', async () => {
      try {
        await this.catchUp(s, false);
      } catch (e) {
        return err<ProduceError>({
          code: 'unavailable',
          message: `could not read whether the Durable Stream ${JSON.stringify(s.row.path)} is closed (${(e as Error).message}); retry`,
          details: {},
        });
      }
      return append(gate, true);
    });
    if (!held.ok)
      return err({
        code: 'unavailable',
        message: `${held.error.reason}: appends to a Durable Stream's topic on a log shared by several nodes need the database to order them; retry`,
        details: {},
      });
    return held.value;
  }

  /**
   * Fold in the last access other nodes wrote to Postgres (several Sluice nodes share it on the
   * Kafka store): this node's cached access may be older than one another node renewed.
   */
  private async withPersistedAccess(state: StreamState): Promise<StreamState> {
    const rows = await this.o.db
      .select({ lastAccessAt: durableStreams.lastAccessAt })
      .from(durableStreams)
      .where(eq(durableStreams.topicId, state.topic.id));
    const persisted = rows[0]?.lastAccessAt;
    if (persisted !== undefined) {
      state.lastAccess = Math.max(state.lastAccess, persisted);
      state.persistedAccess = Math.max(state.persistedAccess, persisted);
    }
    return state;
  }

  /**
   * The path of the stream whose topic this is, if any. A stream has one partition (its reads,
   * appends and offsets are partition 0's), so its topic must not grow.
   */
  async pathOfTopic(topicId: string): Promise<string | undefined> {
    const rows = await this.o.db
      .select({ path: durableStreams.path })
      .from(durableStreams)
      .where(eq(durableStreams.topicId, topicId))
      .limit(1);
    return rows[0]?.path;
  }

  private async load(topic: Topic): Promise<StreamState | undefined> {
    const rows = await this.o.db.select().from(durableStreams).where(eq(durableStreams.topicId, topic.id));
    const row = rows[0];
    const log = this.o.topics.partitionLog(topic.name, 0);
    if (!row || !log.ok) return undefined;
    // Made on another node since this node last read the list: its topic's appends are ordered now.
    this.streamTopics.add(topic.id);
    // A renewal not yet flushed when the process stopped is not lost: count from start-up.
    const access = Math.max(row.lastAccessAt, this.bootTime);
    return this.stateOf(topic, log.value.log, row, access);
  }

  private stateOf(topic: Topic, log: PartitionLog, row: DurableStreamRow, access: number): StreamState {
    return {
      topic,
      log,
      tag: row.tag ?? streamTag(topic.id),
      inherited:
        row.forkTag !== null && row.forkOffset !== null
          ? {
              tag: row.forkTag,
              // A JSON fork's sub-offset counts messages, which keep the source's offsets; a byte
              // fork's cuts the record at the fork offset, which then differs from the source's.
              upTo: row.forkOffset + (isJsonContentType(row.contentType) ? (row.forkSubOffset ?? 0) : 0),
            }
          : undefined,
      row,
      closing: row.closed,
      closed: row.closed,
      closedBy: row.closedBy,
      lastAccess: access,
      persistedAccess: row.lastAccessAt,
      writer: undefined,
      pending: Promise.resolve(),
      claims: new Map(),
      listeners: new Set(),
      deleted: false,
      creating: false,
    };
  }

  /** A topic was deleted: end its readers; if it was a fork, collect a soft-deleted source it kept. */
  private async forget(topicId: string): Promise<void> {
    const p = this.states.get(topicId);
    this.states.delete(topicId);
    this.streamTopics.delete(topicId);
    void p?.then((s) => {
      if (s) this.markDeleted(s);
    });
    try {
      const rows = await this.o.db
        .select({ forkedFrom: durableStreams.forkedFrom })
        .from(durableStreams)
        .where(eq(durableStreams.topicId, topicId));
      const source = rows[0]?.forkedFrom;
      // After this delete finishes (admin calls are serialised): not from inside it.
      if (source)
        setImmediate(
          () =>
            void this.collect(source, topicId).catch((e: unknown) =>
              this.o.logger.warn({ err: e, topic_id: source }, 'collecting a deleted fork source failed'),
            ),
        );
    } catch (e) {
      this.o.logger.warn({ err: e, topic_id: topicId }, 'could not look up the fork source of a deleted stream');
    }
  }

  /** Delete a soft-deleted source once no fork (other than `goneFork`) refers to it; true if it did. */
  private async collect(sourceId: string, goneFork?: string): Promise<boolean> {
    const rows = await this.o.db.select().from(durableStreams).where(eq(durableStreams.topicId, sourceId));
    if (!rows[0]?.softDeleted) return false;
    const forks = await this.o.db
      .select({ id: durableStreams.topicId })
      .from(durableStreams)
      .where(
        goneFork === undefined
          ? eq(durableStreams.forkedFrom, sourceId)
          : and(eq(durableStreams.forkedFrom, sourceId), ne(durableStreams.topicId, goneFork)),
      )
      .limit(1);
    if (forks.length > 0) return false;
    const topic = this.o.topics.cached().find((t) => t.id === sourceId);
    return topic !== undefined && (await this.o.topics.delete(topic.name)).ok;
  }

  view(s: StreamState): StreamView {
    return {
      path: s.row.path,
      topic: s.topic.name,
      contentType: s.row.contentType,
      ttlSeconds: s.row.ttlSeconds,
      expiresAt: s.row.expiresAt,
      closed: s.closed,
      nextOffset: encodeStreamOffset(s.log.endOffset(), s.tag),
      tag: s.tag,
      topicId: s.topic.id,
    };
  }

  // ---- expiry --------------------------------------------------------------------------

  private expired(s: StreamState, now = this.clock()): boolean {
    if (s.row.expiresAt !== null && now >= s.row.expiresAt) return true;
    return s.row.ttlSeconds !== null && now >= s.lastAccess + s.row.ttlSeconds * 1000;
  }

  private touch(s: StreamState): void {
    s.lastAccess = Math.max(s.lastAccess, this.clock());
  }

  private async removeExpired(s: StreamState): Promise<void> {
    if (s.deleted) return;
    const current = this.o.topics.lookup(s.topic.name);
    if (current?.id !== s.topic.id) return;
    this.o.logger.info({ stream: s.row.path, topic: s.topic.name }, 'stream expired: deleting its topic');
    await this.o.topics.delete(s.topic.name);
  }

  /**
   * Delete expired streams, write TTL renewals to Postgres, roll back dead creates and remove
   * soft-deleted sources with no fork left (runs on a timer).
   */
  async sweep(): Promise<void> {
    const now = this.clock();
    const rows = await this.o.db.select().from(durableStreams);
    await this.settleLeftovers(rows);
    for (const row of rows) {
      if (row.pendingAt !== null) continue;
      if (row.ttlSeconds === null && row.expiresAt === null) continue;
      const cached = await this.states.get(row.topicId);
      const state = cached ?? undefined;
      if (state) {
        // Another node may have renewed it since this node cached it.
        state.lastAccess = Math.max(state.lastAccess, row.lastAccessAt);
        state.persistedAccess = Math.max(state.persistedAccess, row.lastAccessAt);
      }
      const access = state ? state.lastAccess : Math.max(row.lastAccessAt, this.bootTime);
      const expired =
        (row.expiresAt !== null && now >= row.expiresAt) ||
        (row.ttlSeconds !== null && now >= access + row.ttlSeconds * 1000);
      if (expired) {
        const topic = [...this.o.topics.cached()].find((t) => t.id === row.topicId);
        if (topic) await this.o.topics.delete(topic.name);
      } else if (state && state.lastAccess > state.persistedAccess) {
        const at = state.lastAccess;
        await this.o.db.update(durableStreams).set({ lastAccessAt: at }).where(eq(durableStreams.topicId, row.topicId));
        state.persistedAccess = at;
      }
    }
  }

  // ---- create / delete / head ----------------------------------------------------------

  /**
   * `logger`: the request's, for the lines of the topic it creates. Creates of one path run one
   * after another here, so identical concurrent PUTs answer 201 once and 200 after it (409 if
   * they differ), never a clash over the topic or a half-made stream.
   */
  async create(
    path: string,
    input: CreateInput,
    logger: Logger = this.o.logger,
  ): Promise<Result<{ status: 200 | 201; view: StreamView }, StreamError>> {
    const deadline = Date.now() + CREATE_WAIT_MS;
    for (let before = this.createsByPath.get(path); before; before = this.createsByPath.get(path)) {
      const left = deadline - Date.now();
      if (left <= 0 || !(await settlesWithin(before, left))) return err(beingCreated(path));
    }
    // No await between the check above and this: one create of the path at a time.
    const run = this.createNow(path, input, logger);
    const done: Promise<void> = run.then(
      () => this.leaveCreate(path, done),
      () => this.leaveCreate(path, done),
    );
    this.createsByPath.set(path, done);
    return run;
  }

  private leaveCreate(path: string, done: Promise<void>): void {
    if (this.createsByPath.get(path) === done) this.createsByPath.delete(path);
  }

  private async createNow(
    path: string,
    input: CreateInput,
    logger: Logger,
  ): Promise<Result<{ status: 200 | 201; view: StreamView }, StreamError>> {
    const name = streamTopicName(path);
    if (!name.ok) return err({ code: 'bad_request', message: name.error });
    let contentType = input.contentType === undefined ? undefined : normaliseContentType(input.contentType);
    let expiry = { ttlSeconds: input.ttlSeconds, expiresAt: input.expiresAt };
    let source: StreamState | undefined;
    if (input.fork) {
      const found = await this.find(input.fork.sourcePath);
      if (!found.ok) {
        if (found.error.code === 'gone')
          return err({
            code: 'conflict',
            message: `the source stream ${JSON.stringify(input.fork.sourcePath)} was deleted`,
          });
        return found;
      }
      source = found.value;
      if (contentType !== undefined && !contentTypesMatch(source.row.contentType, contentType))
        return err({
          code: 'conflict',
          message: `Content-Type ${JSON.stringify(contentType)} differs from the source stream's ${JSON.stringify(source.row.contentType)}`,
        });
      contentType ??= source.row.contentType;
      // No expiry of its own: the fork inherits the source's TTL value or deadline (PROTOCOL.md §4.2).
      if (expiry.ttlSeconds === null && expiry.expiresAt === null)
        expiry = { ttlSeconds: source.row.ttlSeconds, expiresAt: source.row.expiresAt };
    }
    contentType ??= DEFAULT_CONTENT_TYPE;
    const messages = toRecords(contentType, input.body, true, DEFAULT_MAX_RECORD_BYTES, this.o.maxJsonDepth);
    if (!messages.ok) return messages;
    const fork = source && input.fork ? this.resolveFork(source, input.fork) : undefined;
    if (fork && !fork.ok) return fork;
    const wanted: Wanted = { contentType, ...expiry, closed: input.closed, fork: fork?.value };

    const existing = await this.find(path);
    if (existing.ok) return this.confirmExisting(existing.value, wanted);
    if (existing.error.code === 'gone')
      return err({ code: 'conflict', message: `stream ${JSON.stringify(path)} was deleted but forks of it remain` });
    if (existing.error.code !== 'not_found') return existing;

    let topic = this.o.topics.lookup(name.value);
    if (!topic) {
      const created = await this.o.topics.create(
        {
          name: name.value,
          partitions: 1,
          config: { retention_ms: -1, value_format: valueFormatFor(contentType) },
        },
        logger,
      );
      if (!created.ok) {
        if (created.error.code === 'topic_exists') {
          // Lost a race with another create of the same path: answer as for an existing stream.
          const again = await this.find(path);
          if (again.ok) return this.confirmExisting(again.value, wanted);
          if (again.error.code === 'unavailable') return again;
        }
        return err({
          code: created.error.code === 'bad_request' ? 'bad_request' : 'conflict',
          message: created.error.message,
        });
      }
      topic = created.value;
    } else {
      // A topic of this name exists without stream metadata: adopt it only if it is an empty
      // one-partition topic (left by a create interrupted before its metadata was written).
      const log = this.o.topics.partitionLog(topic.name, 0);
      if (topic.partitions !== 1 || !log.ok || log.value.log.endOffset() !== 0) {
        return err({
          code: 'conflict',
          message: `topic ${JSON.stringify(topic.name)} exists and is not a durable stream (it has data or more than one partition)`,
        });
      }
      // ...and of the value_format this content type creates: else a json topic would take
      // non-JSON messages (a string topic non-UTF-8 bytes), which its produce refuses.
      const format = valueFormatFor(contentType);
      if (topic.config.value_format !== format) {
        return err({
          code: 'conflict',
          message: `topic ${JSON.stringify(topic.name)} exists with value_format ${topic.config.value_format}, and a ${JSON.stringify(contentType)} stream needs ${format}`,
        });
      }
      const refused = input.refuseAdoption?.(topic.name);
      if (refused) return err(refused);
    }
    const log = this.o.topics.partitionLog(topic.name, 0);
    if (!log.ok) return err({ code: 'unavailable', message: log.error.message });
    const now = this.clock();
    // More to do once the row is written: the row says so until it is done, so a crash (or a
    // failure) in between never leaves a stream that answers as created (see settleLeftovers).
    const pending = fork !== undefined || messages.value.length > 0 || input.closed;
    const row: DurableStreamRow = {
      topicId: topic.id,
      path,
      contentType,
      ttlSeconds: expiry.ttlSeconds,
      expiresAt: expiry.expiresAt,
      lastAccessAt: now,
      closed: false,
      closedBy: null,
      createdAt: now,
      tag: null,
      forkTag: source ? source.tag : null,
      forkedFrom: source ? source.topic.id : null,
      forkSource: fork ? fork.value.source : null,
      forkOffset: fork ? fork.value.offset : null,
      forkSubOffset: fork ? fork.value.subOffset : null,
      softDeleted: false,
      pendingAt: pending ? now : null,
    };
    let createDone = () => {};
    if (pending)
      this.creatingHere.set(
        topic.id,
        new Promise<void>((r) => {
          createDone = r;
        }),
      );
    let inserted: DurableStreamRow[];
    try {
      inserted = await this.o.db.insert(durableStreams).values(row).onConflictDoNothing().returning();
    } catch (e) {
      this.creatingHere.delete(topic.id);
      createDone();
      throw e;
    }
    if (inserted.length === 0) {
      this.creatingHere.delete(topic.id);
      createDone();
      const again = await this.find(path);
      if (again.ok) return this.confirmExisting(again.value, wanted);
      if (again.error.code === 'unavailable') return again;
      return err({ code: 'conflict', message: `stream ${JSON.stringify(path)} is being created concurrently` });
    }
    const state = this.stateOf(topic, log.value.log, row, now);
    state.writer = Promise.resolve({ producers: new Map(), lastStreamSeq: undefined });
    // A topic produce meanwhile would shift the fork's copied offsets or come before the body.
    state.creating = true;
    this.states.set(topic.id, Promise.resolve(state));
    this.streamTopics.add(topic.id);
    let done = !pending;
    try {
      if (source && fork) {
        let copied: Result<void, StreamError>;
        try {
          copied = await this.copyPrefix(source, state, fork.value);
        } catch (e) {
          // The source deleted under the copy (its files removed: ENOENT) is a missing source.
          if (this.isDeleted(source)) return err(sourceDeleted(source.row.path));
          throw e;
        }
        if (!copied.ok) return copied;
      }
      if (messages.value.length > 0) {
        const appended = await state.log.append(messages.value, { durability: topic.config.durability });
        if (!appended.ok) return err(appendFailure(appended.error));
      }
      if (pending) {
        const finished = await this.finishCreate(state, input.closed);
        if (!finished.ok) return finished;
      }
      done = true;
    } finally {
      state.creating = false;
      this.creatingHere.delete(topic.id);
      // Never a fork with part of the prefix, nor a stream without its body or close: its topic
      // goes, whatever stopped the create, and the client's retry makes it anew.
      try {
        if (!done && state.row.pendingAt !== null) await this.rollBack(topic.id, path, state.row.pendingAt, logger);
      } finally {
        createDone();
      }
    }
    return ok({ status: 201, view: this.view(state) });
  }

  /**
   * The last step of a pending create: one update clears `pending_at` (and saves the close the
   * create carried). If the row no longer holds the create's `pending_at`, a rollback took it.
   */
  private async finishCreate(state: StreamState, close: boolean): Promise<Result<void, StreamError>> {
    const updated = await this.o.db
      .update(durableStreams)
      .set({ pendingAt: null, ...(close && { closed: true, closedBy: null }) })
      .where(and(eq(durableStreams.topicId, state.topic.id), eq(durableStreams.pendingAt, state.row.pendingAt!)))
      .returning({ topicId: durableStreams.topicId });
    if (updated.length === 0)
      return err({
        code: 'unavailable',
        message: `stream ${JSON.stringify(state.row.path)} was removed while it was being created; retry`,
      });
    state.row = { ...state.row, pendingAt: null };
    if (close) this.markClosed(state, null);
    return ok(undefined);
  }

  /** A pending create's progress (a long fork copy), so no other node takes it for a dead one. */
  private async refreshPending(state: StreamState): Promise<Result<void, StreamError>> {
    const now = this.clock();
    const updated = await this.o.db
      .update(durableStreams)
      .set({ pendingAt: now })
      .where(and(eq(durableStreams.topicId, state.topic.id), eq(durableStreams.pendingAt, state.row.pendingAt!)))
      .returning({ topicId: durableStreams.topicId });
    if (updated.length === 0)
      return err({
        code: 'unavailable',
        message: `stream ${JSON.stringify(state.row.path)} was removed while it was being created; retry`,
      });
    state.row = { ...state.row, pendingAt: now };
    return ok(undefined);
  }

  /** Where a fork diverges: an offset at or below the source's tail, and a sub-offset that stays in its data. */
  private resolveFork(source: StreamState, f: ForkInput): Result<ResolvedFork, StreamError> {
    const tail = source.log.endOffset();
    const offset = f.offset ?? tail;
    if (offset > tail)
      return err({ code: 'bad_request', message: 'Stream-Fork-Offset is beyond the tail of the source stream' });
    if (source.log.startOffset() > 0)
      return err({
        code: 'conflict',
        message: 'the source stream’s beginning was removed by retention, so a fork could not keep its offsets',
      });
    if (f.subOffset > 0) {
      if (offset >= tail)
        return err({ code: 'bad_request', message: 'Stream-Fork-Sub-Offset names a position past the source’s data' });
      if (isJsonContentType(source.row.contentType) && offset + f.subOffset > tail)
        return err({ code: 'bad_request', message: 'Stream-Fork-Sub-Offset is past the source’s last message' });
    }
    return ok({ source: f.sourcePath, offset, subOffset: f.subOffset });
  }

  /** Copy-on-fork: the fork's topic gets the source's records below the fork point, at the same offsets. */
  private async copyPrefix(
    source: StreamState,
    fork: StreamState,
    f: ResolvedFork,
  ): Promise<Result<void, StreamError>> {
    const json = isJsonContentType(source.row.contentType);
    const end = json ? f.offset + f.subOffset : f.offset;
    const durability = fork.topic.config.durability;
    const copy = async (records: RecordInput[]): Promise<Result<void, StreamError>> => {
      if (records.length === 0) return ok(undefined);
      const appended = await fork.log.append(records, { durability });
      return appended.ok ? ok(undefined) : err(appendFailure(appended.error));
    };
    const fresh = (r: StoredRecord): RecordInput => ({
      key: null,
      value: r.value ? Buffer.from(r.value) : null,
      headers: [],
      timestamp: r.timestamp,
    });
    // Records below the fork point missing: retention removed them, or the source was deleted.
    const lost = (): Result<never, StreamError> =>
      err(
        this.isDeleted(source)
          ? sourceDeleted(source.row.path)
          : { code: 'gone', message: 'the source stream’s data below the fork point was removed' },
      );
    for (let at = 0; at < end;) {
      if (this.clock() - (fork.row.pendingAt ?? 0) >= PENDING_REFRESH_MS) {
        const refreshed = await this.refreshPending(fork);
        if (!refreshed.ok) return refreshed;
      }
      const r = await source.log.read(at, { maxRecords: Math.min(1000, end - at), maxBytes: 4 * 1024 * 1024 });
      if (!r.ok) return lost();
      const batch = r.value.records.filter((rec) => rec.offset < end).map(fresh);
      if (batch.length === 0) return lost();
      const done = await copy(batch);
      if (!done.ok) return done;
      at += batch.length;
    }
    if (!json && f.subOffset > 0) {
      const r = await source.log.read(f.offset, { maxRecords: 1, maxBytes: 1 });
      const rec = r.ok ? r.value.records[0] : undefined;
      if (!rec || rec.offset !== f.offset || (rec.value?.length ?? 0) < f.subOffset)
        return err({
          code: 'bad_request',
          message: 'Stream-Fork-Sub-Offset is past the end of the data at the fork offset',
        });
      return copy([{ ...fresh(rec), value: Buffer.from(rec.value!.subarray(0, f.subOffset)) }]);
    }
    return ok(undefined);
  }

  private confirmExisting(s: StreamState, w: Wanted): Result<{ status: 200; view: StreamView }, StreamError> {
    // Not there until its create is done (find answers so too; this holds whoever calls).
    if (s.creating || s.row.pendingAt !== null) return err(beingCreated(s.row.path));
    const sameFork = w.fork
      ? s.row.forkSource === w.fork.source &&
        s.row.forkOffset === w.fork.offset &&
        (s.row.forkSubOffset ?? 0) === w.fork.subOffset
      : s.row.forkSource === null;
    const same =
      contentTypesMatch(s.row.contentType, w.contentType) &&
      s.row.ttlSeconds === w.ttlSeconds &&
      s.row.expiresAt === w.expiresAt &&
      s.closed === w.closed &&
      sameFork;
    if (!same) {
      return err({
        code: 'conflict',
        message: `stream ${JSON.stringify(s.row.path)} exists with a different configuration (content type, TTL/expiry, closed state or fork point)`,
      });
    }
    return ok({ status: 200, view: this.view(s) });
  }

  async head(path: string): Promise<Result<StreamView, StreamError>> {
    const s = await this.find(path);
    return s.ok ? ok(this.view(s.value)) : s;
  }

  /** `logger`: the request's, for the lines of the topic it deletes. */
  async delete(path: string, logger: Logger = this.o.logger): Promise<Result<void, StreamError>> {
    const s = await this.find(path);
    if (!s.ok) return s;
    const forks = await this.o.db
      .select({ id: durableStreams.topicId })
      .from(durableStreams)
      .where(eq(durableStreams.forkedFrom, s.value.topic.id))
      .limit(1);
    if (forks.length > 0) {
      // Forks remain: soft-delete (410 from now on, the path stays taken) until the last one goes.
      await this.o.db
        .update(durableStreams)
        .set({ softDeleted: true })
        .where(eq(durableStreams.topicId, s.value.topic.id));
      s.value.row = { ...s.value.row, softDeleted: true };
      return ok(undefined);
    }
    const deleted = await this.o.topics.delete(s.value.topic.name, logger);
    if (!deleted.ok) return err(notFound(path));
    return ok(undefined);
  }

  // ---- append --------------------------------------------------------------------------

  async append(path: string, input: AppendInput): Promise<Result<AppendOutcome, StreamError>> {
    const found = await this.find(path);
    if (!found.ok) return found;
    const s = found.value;
    const lock = this.o.lock;
    if (!lock) return this.appendHere(path, s, input);
    // Shared log: no other node decides on this stream until this append is acknowledged, and
    // what other nodes appended (producer sequences, Stream-Seq) or closed is applied first.
    const locked = await lock.run(s.topic.id, 'durable stream writer', async () => {
      try {
        // Only producer headers and Stream-Seq are checked against writer state; every append is
        // checked against a close.
        await this.catchUp(s, input.producer !== undefined || input.streamSeq !== undefined);
      } catch (e) {
        return err<StreamError>({
          code: 'unavailable',
          message: `could not read the stream's state to check what other nodes appended (${(e as Error).message}); retry`,
        });
      }
      return this.appendHere(path, s, input);
    });
    if (!locked.ok)
      return err({
        code: 'unavailable',
        message: `${locked.error.reason}: appends to a stream shared by several nodes need the database to coordinate them; retry (with the same producer headers, a retry appends nothing twice)`,
      });
    return locked.value;
  }

  /**
   * Shared log, under the stream's lock: apply the close (or soft delete) and the writer tags
   * other nodes appended since this node last looked.
   */
  private async catchUp(s: StreamState, withWriter: boolean): Promise<void> {
    const rows = await this.o.db
      .select({
        closed: durableStreams.closed,
        closedBy: durableStreams.closedBy,
        softDeleted: durableStreams.softDeleted,
        pendingAt: durableStreams.pendingAt,
      })
      .from(durableStreams)
      .where(eq(durableStreams.topicId, s.topic.id));
    const row = rows[0];
    if (!row) {
      this.markDeleted(s);
      return;
    }
    // Created on another node since this one loaded it: its topic takes appends now.
    if (row.pendingAt === null && s.row.pendingAt !== null) s.row = { ...s.row, pendingAt: null };
    if (row.softDeleted && !s.row.softDeleted) s.row = { ...s.row, softDeleted: true };
    if (row.closed && !s.closed) this.markClosed(s, row.closedBy);
    if (!withWriter || !s.log.tagsFrom) return;
    const w = await this.writerState(s);
    const { tags, end } = await s.log.tagsFrom(w.scanned ?? s.log.startOffset());
    const since = this.clock() - this.o.idempotencyWindowMs;
    for (const t of tags) if (t.appendTime >= since) applyTag(w, t.tag);
    w.scanned = Math.max(end, w.scanned ?? 0);
  }

  /** A close made durable (here, or by another node): refuse appends and end readers. */
  private markClosed(s: StreamState, closedBy: string | null): void {
    s.closing = true;
    s.closed = true;
    s.closedBy = closedBy;
    s.row = { ...s.row, closed: true, closedBy };
    if (closedBy && s.writer) {
      const [id, epoch, seq] = JSON.parse(closedBy) as [string, number, number];
      void s.writer.then((w) => applyProducer(w, { id, epoch, seq }));
    }
    for (const l of [...s.listeners]) l();
  }

  /** The stream's topic is gone (deleted here, or its row by another node): end its readers. */
  private markDeleted(s: StreamState): void {
    if (s.deleted) return;
    s.deleted = true;
    for (const l of [...s.listeners]) l();
  }

  /** Shared log: streams with readers waiting here learn of a close made on another node. */
  private async syncWatched(): Promise<void> {
    if (this.syncing) return;
    const open = [...this.watched].filter((s) => !s.closed && !s.deleted);
    if (open.length === 0) return;
    this.syncing = true;
    try {
      const rows = await this.o.db
        .select({ topicId: durableStreams.topicId, closed: durableStreams.closed, closedBy: durableStreams.closedBy })
        .from(durableStreams)
        .where(inArray(durableStreams.topicId, [...new Set(open.map((s) => s.topic.id))]));
      const byId = new Map(rows.map((r) => [r.topicId, r]));
      for (const s of open) {
        const row = byId.get(s.topic.id);
        if (row?.closed) this.markClosed(s, row.closedBy);
      }
    } catch (e) {
      this.o.logger.debug({ err: e }, 'checking streams for a close made on another node failed; will retry');
    } finally {
      this.syncing = false;
    }
  }

  private async appendHere(
    path: string,
    s: StreamState,
    input: AppendInput,
  ): Promise<Result<AppendOutcome, StreamError>> {
    const writer = await this.writerState(s);
    // A writer's appends are checked one after the other's outcome: Producer-Seq N+1 sent while N
    // is in flight (or N's retry) waits until N is written or refused, as Kafka's broker checks a
    // sequence against what the log holds. Other writers' appends still go in side by side.
    const claimKeys = [
      ...(input.producer ? [`producer:${input.producer.id}`] : []),
      ...(input.streamSeq !== undefined ? ['stream-seq'] : []),
    ];
    for (;;) {
      const busy = claimKeys.flatMap((k) => s.claims.get(k) ?? []);
      if (busy.length === 0) break;
      await Promise.all(busy);
    }
    if (s.deleted) return err(notFound(path));
    this.touch(s);
    const closedHeaders = () => ({ 'stream-closed': 'true', 'stream-next-offset': this.view(s).nextOffset });

    // Everything from here to the log append call is synchronous: checks and state changes
    // of concurrent requests cannot interleave, and the log keeps the order of the calls.
    const tuple = input.producer ? JSON.stringify([input.producer.id, input.producer.epoch, input.producer.seq]) : null;
    if (s.closing) {
      if (tuple !== null && tuple === s.closedBy) {
        await this.settled(s);
        return ok({
          view: this.view(s),
          status: 204,
          producer: { epoch: input.producer!.epoch, seq: input.producer!.seq },
        });
      }
      if (input.body.length === 0 && input.close && !input.producer) {
        await this.settled(s);
        return ok({ view: this.view(s), status: 204 });
      }
      if (input.producer) {
        const p = writer.producers.get(input.producer.id);
        if (p && input.producer.epoch < p.epoch) return err(staleEpoch(p.epoch));
      }
      return err({ code: 'closed', message: `stream ${JSON.stringify(path)} is closed`, headers: closedHeaders() });
    }
    if (input.body.length === 0 && !input.close)
      return err({
        code: 'bad_request',
        message: 'an append needs a body (an empty body is allowed only with Stream-Closed: true)',
      });
    if (input.body.length > 0) {
      if (input.contentType === undefined)
        return err({ code: 'bad_request', message: 'an append with a body needs a Content-Type' });
      if (!contentTypesMatch(s.row.contentType, normaliseContentType(input.contentType)))
        return err({
          code: 'conflict',
          message: `Content-Type ${JSON.stringify(input.contentType)} does not match the stream's ${JSON.stringify(s.row.contentType)}`,
        });
    }
    const records = toRecords(
      s.row.contentType,
      input.body,
      false,
      s.topic.config.max_record_bytes,
      this.o.maxJsonDepth,
    );
    if (!records.ok) return records;

    let producerNext: ProducerState | undefined;
    if (input.producer) {
      const { id, epoch, seq } = input.producer;
      const p = writer.producers.get(id);
      if (!p) {
        if (seq !== 0) return err(seqGap(0, seq));
      } else if (epoch < p.epoch) {
        return err(staleEpoch(p.epoch));
      } else if (epoch > p.epoch) {
        if (seq !== 0)
          return err({
            code: 'bad_request',
            message: `a new Producer-Epoch (${epoch}) must start at Producer-Seq 0, not ${seq}`,
          });
      } else if (seq <= p.lastSeq) {
        await this.settled(s);
        // The retry of an append whose record went in but whose close was not saved: save it now.
        if (input.close && seq === p.lastSeq && !s.closing) await this.closeAfterAppend(s, tuple, s.closedBy);
        return ok({ view: this.view(s), status: 204, producer: { epoch, seq: p.lastSeq } });
      } else if (seq !== p.lastSeq + 1) {
        return err(seqGap(p.lastSeq + 1, seq));
      }
      producerNext = { epoch, lastSeq: seq };
    }
    if (
      input.streamSeq !== undefined &&
      writer.lastStreamSeq !== undefined &&
      input.streamSeq <= writer.lastStreamSeq
    ) {
      return err({
        code: 'conflict',
        message: `Stream-Seq ${JSON.stringify(input.streamSeq)} is not greater than the last one (${JSON.stringify(writer.lastStreamSeq)})`,
      });
    }

    // Accepted: commit writer state now (synchronously), then append.
    let settle!: () => void;
    const claim = new Promise<void>((resolve) => (settle = resolve));
    for (const k of claimKeys) s.claims.set(k, claim);
    try {
      return await this.commitAppend(path, s, input, writer, records.value, producerNext, tuple);
    } finally {
      for (const k of claimKeys) if (s.claims.get(k) === claim) s.claims.delete(k);
      settle();
    }
  }

  /** An accepted append: its claim on the writer's state, the log append, the close it carries. */
  private async commitAppend(
    path: string,
    s: StreamState,
    input: AppendInput,
    writer: WriterState,
    records: RecordInput[],
    producerNext: ProducerState | undefined,
    tuple: string | null,
  ): Promise<Result<AppendOutcome, StreamError>> {
    const before = {
      producer: input.producer && writer.producers.get(input.producer.id),
      streamSeq: writer.lastStreamSeq,
      closedBy: s.closedBy,
    };
    if (input.producer && producerNext) writer.producers.set(input.producer.id, producerNext);
    if (input.streamSeq !== undefined) writer.lastStreamSeq = input.streamSeq;
    if (input.close) {
      s.closing = true;
      s.closedBy = tuple;
    }
    const tag = encodeWriterTag({
      ...(input.producer && { producer: input.producer }),
      ...(input.streamSeq !== undefined && { streamSeq: input.streamSeq }),
    });
    if (records.length > 0) {
      const appending = s.log.append(records, { durability: s.topic.config.durability, ...(tag && { tag }) });
      s.pending = appending;
      const appended = await appending;
      if (!appended.ok) {
        // Nothing of it was written: give back what it claimed, so that its retry is answered
        // as this attempt should have been (not "duplicate", not 409 for its Stream-Seq, not
        // closed). The writer's next append waited for this answer, so nothing claimed more.
        if (input.producer && producerNext && writer.producers.get(input.producer.id) === producerNext) {
          if (before.producer) writer.producers.set(input.producer.id, before.producer);
          else writer.producers.delete(input.producer.id);
        }
        if (input.streamSeq !== undefined && writer.lastStreamSeq === input.streamSeq)
          writer.lastStreamSeq = before.streamSeq;
        if (input.close && !s.closed && s.closedBy === tuple) {
          s.closing = false;
          s.closedBy = before.closedBy;
        }
        // Deleting the stream closes its partition under the append: a 404, as for an append
        // that starts after the delete, not a "retry".
        return err(s.deleted ? notFound(path) : appendFailure(appended.error));
      }
    } else {
      await this.settled(s);
    }
    if (input.close) await this.closeAfterAppend(s, tuple, before.closedBy);
    const status = input.producer ? (records.length > 0 ? 200 : 204) : 204;
    return ok({
      view: this.view(s),
      status,
      ...(input.producer && { producer: { epoch: input.producer.epoch, seq: input.producer.seq } }),
    });
  }

  /**
   * Save the close an append (or a create) carried, its record, if any, in the log. If Postgres
   * refuses, the stream stays open, here as there: the close's retry (same producer headers)
   * finds its record appended and saves only the close.
   */
  private async closeAfterAppend(s: StreamState, tuple: string | null, closedBefore: string | null): Promise<void> {
    s.closing = true;
    s.closedBy = tuple;
    try {
      await this.persistClosed(s, tuple);
    } catch (e) {
      if (!s.closed) {
        s.closing = false;
        s.closedBy = closedBefore;
      }
      throw e;
    }
  }

  /** Wait until every append issued so far has finished. */
  private async settled(s: StreamState): Promise<void> {
    for (let p = s.pending; ; p = s.pending) {
      await p;
      if (p === s.pending) return;
    }
  }

  private async persistClosed(s: StreamState, closedBy: string | null): Promise<void> {
    await this.o.db
      .update(durableStreams)
      .set({ closed: true, closedBy })
      .where(eq(durableStreams.topicId, s.topic.id));
    this.markClosed(s, closedBy);
  }

  /** Producer state and Stream-Seq: fresh for a new stream, else rebuilt from recent batch tags. */
  private writerState(s: StreamState): Promise<WriterState> {
    s.writer ??= (async () => {
      const w: WriterState = { producers: new Map(), lastStreamSeq: undefined };
      // A shared log is read from its start by the first catch-up instead (tagsFrom).
      if (!this.o.lock || !s.log.tagsFrom)
        for (const t of await s.log.recentTags(this.clock() - this.o.idempotencyWindowMs)) applyTag(w, t.tag);
      if (s.closedBy) {
        const [id, epoch, seq] = JSON.parse(s.closedBy) as [string, number, number];
        applyProducer(w, { id, epoch, seq });
      }
      return w;
    })();
    return s.writer;
  }

  // ---- read ----------------------------------------------------------------------------

  /** Resolve a requested offset against the stream (410 below retention or of another incarnation). */
  private position(s: StreamState, offset: ParsedOffset): Result<number, StreamError> {
    if (offset.kind === 'start') return ok(s.log.startOffset());
    if (offset.kind === 'now') return ok(s.log.endOffset());
    const inherited = s.inherited && offset.tag === s.inherited.tag && offset.offset <= s.inherited.upTo;
    if (offset.tag !== s.tag && !inherited)
      return err({
        code: 'gone',
        message:
          'the offset belongs to an earlier stream at this path (it was deleted and created again); read from -1',
      });
    if (offset.offset < s.log.startOffset())
      return err({
        code: 'gone',
        message: `the offset is before the earliest retained data (retention removed it); the stream now starts at ${encodeStreamOffset(s.log.startOffset(), s.tag)}`,
      });
    if (offset.offset > s.log.endOffset())
      return err({ code: 'bad_request', message: 'the offset is beyond the tail of the stream' });
    return ok(offset.offset);
  }

  /** Look up a stream for reading; renews its TTL. */
  async openForRead(
    path: string,
    offset: ParsedOffset,
  ): Promise<Result<{ state: StreamState; from: number }, StreamError>> {
    const found = await this.find(path);
    if (!found.ok) return found;
    this.touch(found.value);
    const from = this.position(found.value, offset);
    if (!from.ok) return from;
    return ok({ state: found.value, from: from.value });
  }

  async readAt(s: StreamState, from: number): Promise<Result<ReadOutcome, StreamError>> {
    const closed = s.closed;
    let r: Awaited<ReturnType<PartitionLog['read']>>;
    try {
      r = await s.log.read(from, { maxRecords: MAX_READ_RECORDS, maxBytes: this.o.maxReadBytes });
    } catch (e) {
      // Deleting the stream removes its files under a read walking them (ENOENT): a 404, as
      // for a read that starts after the delete. Anything else is a fault.
      if (s.deleted) return err(notFound(s.row.path));
      throw e;
    }
    if (!r.ok) {
      if (s.deleted) return err(notFound(s.row.path));
      return err({
        code: 'gone',
        message: `the offset is before the earliest retained data (retention removed it); the stream now starts at ${encodeStreamOffset(r.error.startOffset, s.tag)}`,
      });
    }
    const next = r.value.nextOffset;
    const upToDate = next >= s.log.endOffset();
    return ok({
      view: this.view(s),
      state: s,
      records: r.value.records,
      from,
      next,
      upToDate,
      eof: closed && upToDate,
    });
  }

  /**
   * Wait for data at `offset`, a close, a delete, the timeout or the signal. Resolves
   * 'data' | 'closed' | 'deleted' | 'timeout'.
   */
  async waitAt(
    s: StreamState,
    offset: number,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<'data' | 'closed' | 'deleted' | 'timeout'> {
    if (s.deleted) return 'deleted';
    if (s.log.endOffset() > offset) return 'data';
    if (s.closed) return 'closed';
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let woken: 'closed' | 'deleted' | undefined;
    const listener = () => {
      woken = s.deleted ? 'deleted' : 'closed';
      ac.abort();
    };
    s.listeners.add(listener);
    if (this.o.lock) this.watched.add(s);
    try {
      const got = await s.log.waitForData(offset, timeoutMs, ac.signal);
      if (s.deleted) return 'deleted';
      if (got || s.log.endOffset() > offset) return 'data';
      if (woken) return woken;
      return 'timeout';
    } finally {
      s.listeners.delete(listener);
      if (s.listeners.size === 0) this.watched.delete(s);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Listen for close/delete of a stream (SSE). */
  onChange(s: StreamState, listener: () => void): () => void {
    s.listeners.add(listener);
    if (this.o.lock) this.watched.add(s);
    return () => {
      s.listeners.delete(listener);
      if (s.listeners.size === 0) this.watched.delete(s);
    };
  }

  isDeleted(s: StreamState): boolean {
    return s.deleted;
  }

  offsetToken(s: StreamState, offset: number): string {
    return encodeStreamOffset(offset, s.tag);
  }
}

function applyTag(w: WriterState, bytes: Buffer): void {
  const tag = decodeWriterTag(bytes);
  if (!tag) return;
  if (tag.producer) applyProducer(w, tag.producer);
  // Stream-Seq only grows: the largest seen is the last accepted, in whatever order tags come.
  if (tag.streamSeq !== undefined && (w.lastStreamSeq === undefined || tag.streamSeq > w.lastStreamSeq))
    w.lastStreamSeq = tag.streamSeq;
}

function applyProducer(w: WriterState, p: { id: string; epoch: number; seq: number }): void {
  const cur = w.producers.get(p.id);
  if (!cur || p.epoch > cur.epoch) w.producers.set(p.id, { epoch: p.epoch, lastSeq: p.seq });
  else if (p.epoch === cur.epoch) cur.lastSeq = Math.max(cur.lastSeq, p.seq);
}

function sourceDeleted(path: string): StreamError {
  return {
    code: 'not_found',
    message: `the source stream ${JSON.stringify(path)} was deleted while the fork copied it`,
  };
}

function beingCreated(path: string): StreamError {
  return {
    code: 'unavailable',
    message: `stream ${JSON.stringify(path)} is still being created (a fork's copy or its initial body); retry`,
    headers: { 'retry-after': '1' },
  };
}

function notFound(path: string): StreamError {
  return { code: 'not_found', message: `stream ${JSON.stringify(path)} does not exist` };
}

function staleEpoch(current: number): StreamError {
  return {
    code: 'stale_epoch',
    message: `Producer-Epoch is stale: the producer is at epoch ${current}`,
    headers: { 'producer-epoch': String(current) },
  };
}

function seqGap(expected: number, received: number): StreamError {
  return {
    code: 'seq_gap',
    message: `Producer-Seq ${received} leaves a gap: expected ${expected}`,
    headers: { 'producer-expected-seq': String(expected), 'producer-received-seq': String(received) },
  };
}

function appendFailure(e: { code: string; reason: string }): StreamError {
  return e.code === 'storage_full'
    ? { code: 'storage_full', message: e.reason }
    : { code: 'unavailable', message: `the stream's partition refused the append: ${e.reason}` };
}

/**
 * The records an append (or initial body) becomes. JSON streams: one record per message,
 * a top-level array flattened one level (empty arrays refused on append, allowed on
 * create). Other content types: the body's bytes, split into records of at most
 * `maxRecordBytes` (one record per append in practice).
 */
function toRecords(
  contentType: string,
  body: Uint8Array,
  creating: boolean,
  maxRecordBytes: number,
  maxJsonDepth: number,
): Result<RecordInput[], StreamError> {
  const now = Date.now();
  const record = (value: Buffer): RecordInput => ({ key: null, value, headers: [], timestamp: now });
  if (body.length === 0) return ok([]);
  if (!isJsonContentType(contentType)) {
    const out: RecordInput[] = [];
    const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    // A text/* stream's topic holds strings: UTF-8 only (as its produce takes), each record
    // whole characters, so every record reads back as the text appended.
    const text = valueFormatFor(contentType) === 'string';
    if (text && !isUtf8(buf))
      return err({
        code: 'bad_request',
        message: `a ${mediaType(contentType)} stream takes UTF-8 text (its topic's value_format is string); the body is not UTF-8 (use application/octet-stream for other bytes)`,
      });
    for (let at = 0; at < buf.length;) {
      let end = Math.min(at + maxRecordBytes, buf.length);
      // Back off from a continuation byte to the start of its character (at most 3 bytes).
      if (text) while (end < buf.length && end > at && (buf[end]! & 0xc0) === 0x80) end--;
      if (end === at)
        return err({
          code: 'payload_too_large',
          message: `a character of the text is longer than the topic's max_record_bytes (${maxRecordBytes})`,
        });
      out.push(record(buf.subarray(at, end)));
      at = end;
    }
    return ok(out);
  }
  const parsed = jsonMessages(body, maxJsonDepth);
  if (!parsed.ok) return err({ code: 'bad_request', message: parsed.error });
  if (parsed.value.array && parsed.value.messages.length === 0 && !creating)
    return err({ code: 'bad_request', message: 'an empty JSON array appends nothing; send at least one message' });
  const out: RecordInput[] = [];
  for (const m of parsed.value.messages) {
    const json = Buffer.from(m, 'utf8');
    if (json.length > maxRecordBytes)
      return err({
        code: 'payload_too_large',
        message: `a JSON message exceeds ${maxRecordBytes} bytes (the topic's max_record_bytes)`,
      });
    out.push(record(json));
  }
  return ok(out);
}
