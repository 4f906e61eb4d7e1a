// Durable Streams over Sluice topics: each stream is a one-partition topic whose records are
// the stream's messages (JSON mode) or byte chunks; this service adds what the protocol needs.
import { eq } from 'drizzle-orm';
import { err, ok, type Result } from '../lib/result.js';
import type { PartitionLog, RecordInput, StoredRecord } from '../log/index.js';
import type { Logger } from '../logger.js';
import type { MetadataDb } from '../metadata/connection.js';
import { durableStreams, type DurableStreamRow } from '../metadata/schema.js';
import type { Topic, TopicsService } from '../topics/topics-service.js';
import { contentTypesMatch, isJsonContentType, normaliseContentType, valueFormatFor } from './content-type.js';
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
  | 'storage_full';

export interface StreamError {
  code: StreamErrorCode;
  message: string;
  /** Protocol headers that go with the error (Stream-Closed, Producer-Expected-Seq, …). */
  headers?: Record<string, string>;
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
  /** Woken on close and delete (appends wake readers through the log). */
  listeners: Set<() => void>;
  deleted: boolean;
}

interface WriterState {
  producers: Map<string, ProducerState>;
  lastStreamSeq: string | undefined;
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
}

export interface CreateInput {
  contentType: string | undefined;
  ttlSeconds: number | null;
  expiresAt: number | null;
  closed: boolean;
  body: Uint8Array;
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

export class StreamsService {
  private readonly states = new Map<string, Promise<StreamState | undefined>>();
  private readonly clock: () => number;
  private readonly bootTime: number;
  private timer: NodeJS.Timeout | undefined;

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
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  // ---- lookups -------------------------------------------------------------------------

  private async find(path: string): Promise<Result<StreamState, StreamError>> {
    const name = streamTopicName(path);
    if (!name.ok) return err({ code: 'bad_request', message: name.error });
    const topic = this.o.topics.lookup(name.value);
    if (!topic) return err(notFound(path));
    let p = this.states.get(topic.id);
    if (!p) {
      p = this.load(topic);
      this.states.set(topic.id, p);
      p.then(
        (s) => s === undefined && this.states.delete(topic.id),
        () => this.states.delete(topic.id),
      );
    }
    const state = await p;
    if (!state || state.deleted) return err(notFound(path));
    if (this.expired(state)) {
      await this.removeExpired(state);
      return err(notFound(path));
    }
    return ok(state);
  }

  private async load(topic: Topic): Promise<StreamState | undefined> {
    const rows = await this.o.db.select().from(durableStreams).where(eq(durableStreams.topicId, topic.id));
    const row = rows[0];
    const log = this.o.topics.partitionLog(topic.name, 0);
    if (!row || !log.ok) return undefined;
    // A renewal not yet flushed when the process stopped is not lost: count from start-up.
    const access = Math.max(row.lastAccessAt, this.bootTime);
    return this.stateOf(topic, log.value.log, row, access);
  }

  private stateOf(topic: Topic, log: PartitionLog, row: DurableStreamRow, access: number): StreamState {
    return {
      topic,
      log,
      tag: streamTag(topic.id),
      row,
      closing: row.closed,
      closed: row.closed,
      closedBy: row.closedBy,
      lastAccess: access,
      persistedAccess: row.lastAccessAt,
      writer: undefined,
      pending: Promise.resolve(),
      listeners: new Set(),
      deleted: false,
    };
  }

  private forget(topicId: string): void {
    const p = this.states.get(topicId);
    this.states.delete(topicId);
    void p?.then((s) => {
      if (!s) return;
      s.deleted = true;
      for (const l of [...s.listeners]) l();
    });
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

  /** Delete expired streams and write TTL renewals to Postgres (runs on a timer). */
  async sweep(): Promise<void> {
    const now = this.clock();
    const rows = await this.o.db.select().from(durableStreams);
    for (const row of rows) {
      if (row.ttlSeconds === null && row.expiresAt === null) continue;
      const cached = await this.states.get(row.topicId);
      const state = cached ?? undefined;
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

  async create(
    path: string,
    input: CreateInput,
  ): Promise<Result<{ status: 200 | 201; view: StreamView }, StreamError>> {
    const name = streamTopicName(path);
    if (!name.ok) return err({ code: 'bad_request', message: name.error });
    const contentType = normaliseContentType(input.contentType ?? DEFAULT_CONTENT_TYPE);
    const messages = toRecords(contentType, input.body, true, DEFAULT_MAX_RECORD_BYTES, this.o.maxJsonDepth);
    if (!messages.ok) return messages;

    const existing = await this.find(path);
    if (existing.ok) return this.confirmExisting(existing.value, contentType, input);
    if (existing.error.code !== 'not_found') return existing;

    let topic = this.o.topics.lookup(name.value);
    if (!topic) {
      const created = await this.o.topics.create({
        name: name.value,
        partitions: 1,
        config: { retention_ms: -1, value_format: valueFormatFor(contentType) },
      });
      if (!created.ok) {
        if (created.error.code === 'topic_exists') {
          // Lost a race with another create of the same path: answer as for an existing stream.
          const again = await this.find(path);
          if (again.ok) return this.confirmExisting(again.value, contentType, input);
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
    }
    const log = this.o.topics.partitionLog(topic.name, 0);
    if (!log.ok) return err({ code: 'unavailable', message: log.error.message });
    const now = this.clock();
    const row: DurableStreamRow = {
      topicId: topic.id,
      path,
      contentType,
      ttlSeconds: input.ttlSeconds,
      expiresAt: input.expiresAt,
      lastAccessAt: now,
      closed: false,
      closedBy: null,
      createdAt: now,
    };
    const inserted = await this.o.db.insert(durableStreams).values(row).onConflictDoNothing().returning();
    if (inserted.length === 0) {
      const again = await this.find(path);
      if (again.ok) return this.confirmExisting(again.value, contentType, input);
      return err({ code: 'conflict', message: `stream ${JSON.stringify(path)} is being created concurrently` });
    }
    const state = this.stateOf(topic, log.value.log, row, now);
    state.writer = Promise.resolve({ producers: new Map(), lastStreamSeq: undefined });
    this.states.set(topic.id, Promise.resolve(state));
    if (messages.value.length > 0) {
      const appended = await state.log.append(messages.value, { durability: topic.config.durability });
      if (!appended.ok) return err(appendFailure(appended.error));
    }
    if (input.closed) {
      state.closing = true;
      await this.persistClosed(state, null);
    }
    return ok({ status: 201, view: this.view(state) });
  }

  private confirmExisting(
    s: StreamState,
    contentType: string,
    input: CreateInput,
  ): Result<{ status: 200; view: StreamView }, StreamError> {
    const same =
      contentTypesMatch(s.row.contentType, contentType) &&
      s.row.ttlSeconds === input.ttlSeconds &&
      s.row.expiresAt === input.expiresAt &&
      s.closed === input.closed;
    if (!same) {
      return err({
        code: 'conflict',
        message: `stream ${JSON.stringify(s.row.path)} exists with a different configuration (content type, TTL/expiry or closed state)`,
      });
    }
    return ok({ status: 200, view: this.view(s) });
  }

  async head(path: string): Promise<Result<StreamView, StreamError>> {
    const s = await this.find(path);
    return s.ok ? ok(this.view(s.value)) : s;
  }

  async delete(path: string): Promise<Result<void, StreamError>> {
    const s = await this.find(path);
    if (!s.ok) return s;
    const deleted = await this.o.topics.delete(s.value.topic.name);
    if (!deleted.ok) return err(notFound(path));
    return ok(undefined);
  }

  // ---- append --------------------------------------------------------------------------

  async append(path: string, input: AppendInput): Promise<Result<AppendOutcome, StreamError>> {
    const found = await this.find(path);
    if (!found.ok) return found;
    const s = found.value;
    const writer = await this.writerState(s);
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
    if (records.value.length > 0) {
      const appending = s.log.append(records.value, { durability: s.topic.config.durability, ...(tag && { tag }) });
      s.pending = appending;
      const appended = await appending;
      if (!appended.ok) return err(appendFailure(appended.error));
    } else {
      await this.settled(s);
    }
    if (input.close) await this.persistClosed(s, tuple);
    const status = input.producer ? (records.value.length > 0 ? 200 : 204) : 204;
    return ok({
      view: this.view(s),
      status,
      ...(input.producer && { producer: { epoch: input.producer.epoch, seq: input.producer.seq } }),
    });
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
    s.closed = true;
    s.row = { ...s.row, closed: true, closedBy };
    for (const l of [...s.listeners]) l();
  }

  /** Producer state and Stream-Seq: fresh for a new stream, else rebuilt from recent batch tags. */
  private writerState(s: StreamState): Promise<WriterState> {
    s.writer ??= (async () => {
      const w: WriterState = { producers: new Map(), lastStreamSeq: undefined };
      for (const t of await s.log.recentTags(this.clock() - this.o.idempotencyWindowMs)) {
        const tag = decodeWriterTag(t.tag);
        if (!tag) continue;
        if (tag.producer) applyProducer(w, tag.producer);
        if (tag.streamSeq !== undefined) w.lastStreamSeq = tag.streamSeq;
      }
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
    if (offset.tag !== s.tag)
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
    const r = await s.log.read(from, { maxRecords: MAX_READ_RECORDS, maxBytes: this.o.maxReadBytes });
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
    try {
      const got = await s.log.waitForData(offset, timeoutMs, ac.signal);
      if (s.deleted) return 'deleted';
      if (got || s.log.endOffset() > offset) return 'data';
      if (woken) return woken;
      return 'timeout';
    } finally {
      s.listeners.delete(listener);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Listen for close/delete of a stream (SSE). */
  onChange(s: StreamState, listener: () => void): () => void {
    s.listeners.add(listener);
    return () => s.listeners.delete(listener);
  }

  isDeleted(s: StreamState): boolean {
    return s.deleted;
  }

  offsetToken(s: StreamState, offset: number): string {
    return encodeStreamOffset(offset, s.tag);
  }
}

function applyProducer(w: WriterState, p: { id: string; epoch: number; seq: number }): void {
  const cur = w.producers.get(p.id);
  if (!cur || p.epoch > cur.epoch) w.producers.set(p.id, { epoch: p.epoch, lastSeq: p.seq });
  else if (p.epoch === cur.epoch) cur.lastSeq = Math.max(cur.lastSeq, p.seq);
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
    for (let at = 0; at < buf.length; at += maxRecordBytes) out.push(record(buf.subarray(at, at + maxRecordBytes)));
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
