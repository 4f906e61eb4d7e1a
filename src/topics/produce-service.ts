// Produce: validate a whole request (JSON or streamed NDJSON), choose partitions, apply
// idempotency, append one batch per partition and answer offsets in request order.
import { isUtf8 } from 'node:buffer';
import { createHash, type Hash } from 'node:crypto';
import { err, ok, type Result } from '../lib/result.js';
import {
  PackedRecords,
  type AppendError,
  type AppendRecords,
  type LogStore,
  type PartitionLog,
  type RecordInput,
} from '../log/index.js';
import { MAX_TAGGED_REQUEST_RECORDS, BODY_HASH_BYTES, type IdempotencyIdentity } from './idempotency-tag.js';
import type { IdempotencyLock } from './idempotency-lock.js';
import { IdempotencyTracker, type IdempotencyClaim, type IdempotencyStats, type OffsetRef } from './idempotency.js';
import { readLimitedBody, readNdjson, type BodySource } from './ndjson.js';
import { KeylessSpreader, partitionForKey } from './partitioner.js';
import { scanProduceBody, scanProduceLine, type RecordSink } from './produce-scan.js';
import { lineValueSpan, recordValueSpans } from './record-codec-raw-json.js';
import { decodeRecord, type DecodeContext, type RecordProblem, type ValueFormat } from './record-codec.js';

/** The part of a topic produce needs. */
export interface ProduceTopic {
  id: string;
  name: string;
  partitions: number;
  config: { value_format: ValueFormat; max_record_bytes: number; durability: 'fsync' | 'write' };
}

/**
 * Orders the appends to topics another service owns. A Durable Stream's topic takes no record
 * once the stream is closed, and an append must not race the close: it lands before the close
 * (and readers see it before EOF) or is refused.
 */
export interface AppendOwner {
  /**
   * Undefined when the topic has no owner: append as usual. Otherwise runs `append` in the
   * owner's order. On a log other nodes share the owner holds its cross-node lock around
   * `append` (`locked`), which then takes no lock of its own.
   */
  ordered<T>(
    topic: ProduceTopic,
    append: (gate: AppendGate, locked: boolean) => Promise<Result<T, ProduceError>>,
  ): Promise<Result<T, ProduceError>> | undefined;
}

/** What an owner decides for one append. */
export interface AppendGate {
  /** Asked in the same tick as the log appends are issued: a refusal, or undefined to go on. */
  admit(): ProduceError | undefined;
  /** The appends just issued: the owner lets a close finish only after them. */
  issued(done: Promise<unknown>): void;
}

/** Narrow port onto the topics service. */
export interface ProduceTopics {
  lookup(name: string): ProduceTopic | undefined;
  onChange?(listener: (change: { type: string; topic: { id: string } }) => void): () => void;
}

export interface ProduceLimits {
  maxBodyBytes: number;
  maxRecordsPerRequest: number;
  idempotencyWindowMs: number;
  /** How far ahead of the server clock a record timestamp may be (default 1 h; Kafka's message.timestamp.after.max.ms). */
  timestampAfterMaxMs?: number;
  /** How far behind the server clock a record timestamp may be; -1 = no limit (the default). */
  timestampBeforeMaxMs?: number;
  /** Bounds of the idempotency state (defaults: 100,000 entries, 64 MiB). */
  idempotencyMaxEntries?: number;
  idempotencyMaxBytes?: number;
  /** json topics: deepest value nesting accepted (default DEFAULT_MAX_JSON_DEPTH). */
  maxJsonDepth?: number;
}

export interface ProduceRequest {
  topic: string;
  format: 'json' | 'ndjson';
  /** The body as a stream, or already read (JSON bodies: the HTTP layer reads them directly). */
  body: BodySource | Uint8Array | null;
  /** Idempotency-Key header (already validated: 1–255 visible ASCII characters). */
  idempotencyKey?: string;
  /** Producer-Id / Producer-Epoch / Producer-Seq headers (already validated). */
  producer?: { id: bigint; epoch: number; seq: number };
  /**
   * Bytes a record may exceed the topic's max_record_bytes by (never from HTTP): the headers
   * Sluice adds to a record it dead-letters, which the source topic accepted without them.
   */
  recordBytesAllowance?: number;
}

export type ProduceErrorCode =
  | 'topic_not_found'
  | 'bad_request'
  | 'invalid_record'
  | 'payload_too_large'
  | 'conflict'
  | 'fenced'
  | 'storage_full'
  | 'unavailable';

export interface ProduceError {
  code: ProduceErrorCode;
  message: string;
  /** snake_case fields for the error envelope (record_index, line, limit, expected_seq, …). */
  details: Record<string, unknown>;
}

/** The partition the spread gave a request's keyless records, if it has any. */
interface KeylessPick {
  partition?: number;
}

interface Decoded {
  /** Each partition's records, in request order, laid out for the log. */
  batches: Map<number, PackedRecords>;
  /** The partition of each record, in request order. */
  partitions: number[];
}

/** 413 details in the app's one shape: the limit's name, and its value as max_bytes or max_records. */
function limitDetails(name: string, value: number): Record<string, unknown> {
  return { limit: name, [name === 'max_records_per_request' ? 'max_records' : 'max_bytes']: value };
}

function fromProblem(p: RecordProblem): ProduceError {
  const details: Record<string, unknown> = {};
  if (p.recordIndex !== undefined) details.record_index = p.recordIndex;
  if (p.line !== undefined) details.line = p.line;
  if (p.code === 'payload_too_large') Object.assign(details, limitDetails(p.limit.name, p.limit.value));
  return { code: p.code, message: p.message, details };
}

function fromAppendError(e: AppendError, partition: number, idempotent: boolean): ProduceError {
  const retry = idempotent
    ? ' Retrying with the same idempotency headers completes the request without duplicates.'
    : ' Records for other partitions of this request may have been appended.';
  return {
    code: e.code === 'storage_full' ? 'storage_full' : 'unavailable',
    message: `partition ${partition}: ${e.reason}.${retry}`,
    details: { partition, reason: e.code },
  };
}

/** Kafka 4's default for message.timestamp.after.max.ms. */
export const DEFAULT_TIMESTAMP_AFTER_MAX_MS = 3_600_000;

export class ProduceService {
  /** Keyless requests that overlap share a partition, and so its group commits. */
  private readonly spreader = new KeylessSpreader(
    (topicId, partition) => this.log.getPartition(topicId, partition)?.syncLatencyMs?.() ?? 0,
  );

  private readonly idempotency: IdempotencyTracker;

  constructor(
    private readonly topics: ProduceTopics,
    private readonly log: Pick<LogStore, 'getPartition'>,
    private readonly limits: ProduceLimits,
    private readonly clock: () => number = Date.now,
    /**
     * For a log other nodes append to: idempotent requests run under this cross-node lock and
     * catch up with the log first. Without it (one node) they cost what they always did.
     */
    private readonly lock?: IdempotencyLock,
    /** Orders appends to the topics it owns (Durable Streams' topics). */
    private readonly owner?: AppendOwner,
  ) {
    this.idempotency = new IdempotencyTracker(limits.idempotencyWindowMs, clock, {
      ...(limits.idempotencyMaxEntries !== undefined && { maxEntries: limits.idempotencyMaxEntries }),
      ...(limits.idempotencyMaxBytes !== undefined && { maxBytes: limits.idempotencyMaxBytes }),
    });
    topics.onChange?.((change) => {
      if (change.type === 'deleted') {
        this.idempotency.forget(change.topic.id);
        this.spreader.forget(change.topic.id);
      }
    });
  }

  /** Size of the idempotency state, for /metrics. */
  idempotencyStats(): IdempotencyStats {
    return this.idempotency.stats();
  }

  /** Stops background work (the idempotency sweep timer). */
  close(): void {
    this.idempotency.close();
  }

  /** Records per request accepted: the configured limit, capped so idempotency tags fit. */
  get maxRecordsPerRequest(): number {
    return Math.min(this.limits.maxRecordsPerRequest, MAX_TAGGED_REQUEST_RECORDS);
  }

  async produce(req: ProduceRequest): Promise<Result<{ offsets: OffsetRef[] }, ProduceError>> {
    const topic = this.topics.lookup(req.topic);
    if (!topic)
      return err({
        code: 'topic_not_found',
        message: `topic ${JSON.stringify(req.topic)} does not exist`,
        details: {},
      });
    const identity: IdempotencyIdentity | undefined = req.producer
      ? { kind: 'producer', ...req.producer }
      : req.idempotencyKey !== undefined
        ? { kind: 'key', key: req.idempotencyKey }
        : undefined;
    const hash = identity ? createHash('sha256') : undefined;

    const spread: KeylessPick = {};
    try {
      const decoded = await this.decode(req, topic, hash, spread);
      if (!decoded.ok) return decoded;
      const { batches, partitions } = decoded.value;
      const bodyHash = hash?.digest().subarray(0, BODY_HASH_BYTES);
      const owned = this.owner?.ordered(topic, (gate, locked) =>
        this.decide(topic, identity, bodyHash, batches, partitions, gate, locked),
      );
      return await (owned ?? this.decide(topic, identity, bodyHash, batches, partitions, undefined, false));
    } finally {
      if (spread.partition !== undefined) this.spreader.done(topic.id, spread.partition);
    }
  }

  /** Appends the decoded request, once idempotency allows (`locked`: a cross-node lock is held). */
  private async decide(
    topic: ProduceTopic,
    identity: IdempotencyIdentity | undefined,
    bodyHash: Buffer | undefined,
    batches: Map<number, PackedRecords>,
    partitions: number[],
    gate: AppendGate | undefined,
    locked: boolean,
  ): Promise<Result<{ offsets: OffsetRef[] }, ProduceError>> {
    if (!identity || !bodyHash) return this.append(topic, batches, partitions, undefined, gate);
    if (!this.lock) return this.appendIdempotent(topic, identity, bodyHash, batches, partitions, gate);
    const caughtUp = async () => {
      try {
        await this.idempotency.catchUp(topic.id, () => this.partitionLogs(topic));
      } catch (e) {
        return err<ProduceError>({
          code: 'unavailable',
          message: `could not read the log to check for an earlier attempt (${(e as Error).message}). Retrying with the same idempotency headers completes the request without duplicates.`,
          details: {},
        });
      }
      return this.appendIdempotent(topic, identity, bodyHash, batches, partitions, gate);
    };
    if (locked) return caughtUp();
    // Shared log: no other node decides on this key or producer until this request has appended,
    // and what other nodes appended before is applied here before deciding.
    const scope = identity.kind === 'key' ? `key ${identity.key}` : `producer ${identity.id}`;
    const held = await this.lock.run(topic.id, scope, caughtUp);
    if (!held.ok) {
      return err({
        code: 'unavailable',
        message: `${held.error.reason}: idempotent produce needs the database to coordinate nodes. Retrying with the same idempotency headers completes the request without duplicates.`,
        details: {},
      });
    }
    return held.value;
  }

  private async appendIdempotent(
    topic: ProduceTopic,
    identity: IdempotencyIdentity,
    bodyHash: Buffer,
    batches: Map<number, PackedRecords>,
    partitions: number[],
    gate: AppendGate | undefined,
  ): Promise<Result<{ offsets: OffsetRef[] }, ProduceError>> {
    const logs = () => this.partitionLogs(topic);
    const begun = await this.idempotency.begin(topic.id, logs, identity, bodyHash, partitions.length);
    if (!begun.ok) {
      const e = begun.error;
      const details: Record<string, unknown> = {};
      if (e.code === 'conflict' && e.expectedSeq !== undefined) details.expected_seq = e.expectedSeq;
      if (e.code === 'conflict' && e.reason !== undefined) details.reason = e.reason;
      if (e.code !== 'invalid_record' && e.currentEpoch !== undefined) details.current_epoch = e.currentEpoch;
      return err({ code: e.code, message: e.message, details });
    }
    if (begun.value.kind === 'replay') return ok({ offsets: begun.value.offsets });
    const claim = begun.value.claim;
    try {
      return await this.append(topic, batches, partitions, claim, gate);
    } finally {
      claim.release();
    }
  }

  private partitionLogs(topic: ProduceTopic): PartitionLog[] {
    const logs: PartitionLog[] = [];
    for (let p = 0; p < topic.partitions; p++) {
      const log = this.log.getPartition(topic.id, p);
      if (log) logs.push(log);
    }
    return logs;
  }

  /** A record timestamp too far from the server clock (Kafka's message.timestamp.after/before.max.ms). */
  private timestampProblem(timestamp: number, now: number, index: number): RecordProblem | undefined {
    const after = this.limits.timestampAfterMaxMs ?? DEFAULT_TIMESTAMP_AFTER_MAX_MS;
    const before = this.limits.timestampBeforeMaxMs ?? -1;
    let limit: string | undefined;
    if (timestamp > now + after)
      limit = `${timestamp - now} ms ahead of the server clock; SLUICE_TIMESTAMP_AFTER_MAX_MS allows ${after}`;
    else if (before >= 0 && timestamp < now - before)
      limit = `${now - timestamp} ms behind the server clock; SLUICE_TIMESTAMP_BEFORE_MAX_MS allows ${before}`;
    if (!limit) return undefined;
    return {
      code: 'invalid_record',
      message: `record ${index}: timestamp ${timestamp} is ${limit}`,
      recordIndex: index,
    };
  }

  /** Read and validate the whole body; nothing is appended unless every record is valid. */
  private async decode(
    req: ProduceRequest,
    topic: ProduceTopic,
    hash: Hash | undefined,
    spread: KeylessPick,
  ): Promise<Result<Decoded, ProduceError>> {
    const maxRecords = this.maxRecordsPerRequest;
    const ctx: DecodeContext = {
      format: topic.config.value_format,
      partitionCount: topic.partitions,
      maxRecordBytes: topic.config.max_record_bytes + Math.max(0, req.recordBytesAllowance ?? 0),
      now: this.clock(),
      ...(this.limits.maxJsonDepth !== undefined && { maxJsonDepth: this.limits.maxJsonDepth }),
    };
    const onChunk = hash ? (c: Uint8Array) => void hash.update(c) : undefined;
    const batches = new Map<number, PackedRecords>();
    const partitions: number[] = [];
    let keyless: number | undefined;
    /** The partition of the request's keyless records, picked at the first one. */
    const keylessPartition = (): number =>
      (keyless ??= spread.partition = this.spreader.pick(topic.id, topic.partitions));
    /**
     * The partition's records. The first partition's batch is sized for the rest of the source
     * and copies each source buffer whole (then moves fields within its own buffer); others,
     * which usually get a share of the records, copy field by field.
     */
    const batchFor = (partition: number, bytes: number): PackedRecords => {
      let b = batches.get(partition);
      if (b === undefined) {
        const first = batches.size === 0;
        batches.set(partition, (b = new PackedRecords(first ? bytes : bytes >> 2, first)));
      }
      return b;
    };
    const take = (raw: unknown, index: number, rawValue?: Buffer, notUtf8 = false): RecordProblem | undefined => {
      const r = decodeRecord(raw, index, ctx, rawValue, notUtf8);
      if (!r.ok) return r.error;
      const { input, partition } = r.value;
      const skew = this.timestampProblem(input.timestamp, ctx.now, index);
      if (skew) return skew;
      const p = partition ?? (input.key !== null ? partitionForKey(input.key, topic.partitions) : keylessPartition());
      batchFor(p, 1024).addRecord(input);
      partitions.push(p);
      return undefined;
    };

    /**
     * Body bytes already counted toward the partition's sticky bound: an NDJSON body's chunks
     * are, as they arrive after its first keyless record, so a long stream moves the spread on
     * while it is read.
     */
    let counted = 0;
    /**
     * The decoded request; its keyless records count toward their partition's sticky bound now,
     * in the same turn as the last record was placed (a burst cannot overrun the bound unseen).
     */
    const decoded = (): Result<Decoded, ProduceError> => {
      const rest = keyless === undefined ? 0 : batches.get(keyless)!.byteLength - counted;
      if (rest > 0) this.spreader.placed(topic.id, keyless!, rest);
      return ok({ batches, partitions });
    };

    // The fast path's records, written straight into their partition's batch once fully
    // validated; refused (so the general path answers) when the timestamp is out of bounds.
    const accept: RecordSink = (rec, index) => {
      if (this.timestampProblem(rec.timestamp, ctx.now, index)) return false;
      const p =
        rec.partition >= 0
          ? rec.partition
          : rec.keyLen >= 0
            ? partitionForKey(rec.src.subarray(rec.keyAt, rec.keyAt + rec.keyLen), topic.partitions)
            : keylessPartition();
      batchFor(p, Math.max(1024, rec.src.length)).add(
        rec.src,
        rec.keyAt,
        rec.keyLen,
        rec.valueAt,
        rec.valueLen,
        rec.headers,
        rec.headerCount,
        rec.timestamp,
        rec.oneLineJson,
      );
      partitions.push(p);
      return true;
    };

    if (req.format === 'ndjson') {
      const json = ctx.format === 'json';
      const ndjsonChunk = (c: Uint8Array): void => {
        hash?.update(c);
        if (keyless === undefined) return;
        counted += c.length;
        this.spreader.placed(topic.id, keyless, c.length);
      };
      const r = await readNdjson(
        req.body instanceof Uint8Array ? new Blob([req.body]).stream() : req.body,
        {
          maxBodyBytes: this.limits.maxBodyBytes,
          maxRecords,
          onChunk: ndjsonChunk,
          fastLine: (buf, view, start, end, index, utf8) =>
            scanProduceLine(buf, view, start, end, utf8, ctx, index, accept),
        },
        (raw, index, line) => {
          const span = json ? lineValueSpan(line) : undefined;
          return take(raw, index, span && line.subarray(span[0], span[1]), !isUtf8(line));
        },
      );
      if (!r.ok) return err(fromProblem(r.error));
    } else {
      const body = await readLimitedBody(req.body, { maxBodyBytes: this.limits.maxBodyBytes, onChunk });
      if (!body.ok) return err(fromProblem(body.error));
      if (scanProduceBody(body.value, ctx, maxRecords, accept)) return decoded();
      // Not plainly valid: the general path below decides, and words any error.
      batches.clear();
      partitions.length = 0;
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.value.toString('utf8'));
      } catch (e) {
        return err({ code: 'bad_request', message: `body is not valid JSON (${(e as Error).message})`, details: {} });
      }
      if (
        typeof parsed !== 'object' ||
        parsed === null ||
        Array.isArray(parsed) ||
        !Array.isArray((parsed as { records?: unknown }).records)
      ) {
        return err({ code: 'bad_request', message: 'body must be an object {"records": [...]}', details: {} });
      }
      const extra = Object.keys(parsed).find((k) => k !== 'records');
      if (extra !== undefined)
        return err({ code: 'bad_request', message: `unknown body field "${extra}"`, details: {} });
      const list = (parsed as { records: unknown[] }).records;
      if (list.length > maxRecords) {
        return err({
          code: 'payload_too_large',
          message: `${list.length} records exceed max_records_per_request (${maxRecords})`,
          details: limitDetails('max_records_per_request', maxRecords),
        });
      }
      const spans = ctx.format === 'json' ? recordValueSpans(body.value, list.length) : undefined;
      const notUtf8 = !isUtf8(body.value);
      for (let i = 0; i < list.length; i++) {
        const s = spans?.[2 * i] ?? -1;
        const problem = take(list[i], i, s >= 0 ? body.value.subarray(s, spans![2 * i + 1]) : undefined, notUtf8);
        if (problem) return err(fromProblem(problem));
      }
      // Bytes that are not UTF-8 somewhere no record check above could place: refused all the same.
      if (notUtf8) {
        return err({ code: 'bad_request', message: 'body is not UTF-8 text (JSON text must be UTF-8)', details: {} });
      }
    }
    if (partitions.length === 0)
      return err({ code: 'bad_request', message: 'the request holds no records', details: {} });
    return decoded();
  }

  /** One batch per partition, appended concurrently; each resolves when durable per the topic. */
  private async append(
    topic: ProduceTopic,
    batches: Map<number, PackedRecords>,
    partitions: number[],
    claim: IdempotencyClaim | undefined,
    gate?: AppendGate,
  ): Promise<Result<{ offsets: OffsetRef[] }, ProduceError>> {
    // From the owner's answer to the last log append call below nothing awaits: no close of the
    // owner can come in between.
    const refused = gate?.admit();
    if (refused) return err(refused);
    const count = partitions.length;
    // Per partition, the request indexes of its records (in its batch's order).
    const groups = new Map<number, number[]>();
    for (let i = 0; i < count; i++) {
      const p = partitions[i]!;
      let g = groups.get(p);
      if (!g) groups.set(p, (g = []));
      g.push(i);
    }
    const offsets = new Array<OffsetRef>(count);
    const failures: ProduceError[] = [];
    const appended = Promise.all(
      [...groups].map(async ([partition, all]) => {
        // A retry appends only what an earlier attempt did not.
        let indexes = all;
        let batch: AppendRecords = batches.get(partition)!;
        if (claim && all.some((i) => claim.alreadyAppended.has(i))) {
          const inputs = batch.toInputs();
          const todo: RecordInput[] = [];
          indexes = [];
          for (let k = 0; k < all.length; k++) {
            if (claim.alreadyAppended.has(all[k]!)) continue;
            indexes.push(all[k]!);
            todo.push(inputs[k]!);
          }
          if (indexes.length === 0) return;
          batch = todo;
        }
        const log = this.log.getPartition(topic.id, partition);
        if (!log) {
          failures.push({
            code: 'unavailable',
            message: `partition ${partition} is not available`,
            details: { partition },
          });
          return;
        }
        const result = await log.append(batch, {
          durability: topic.config.durability,
          ...(claim && { tag: claim.tag(indexes) }),
          ...(claim?.producer && { producer: claim.producer }),
        });
        if (!result.ok) {
          failures.push(fromAppendError(result.error, partition, claim !== undefined));
          return;
        }
        claim?.recorded(partition, result.value.baseOffset, indexes);
        for (let k = 0; k < indexes.length; k++)
          offsets[indexes[k]!] = { partition, offset: result.value.baseOffset + k };
      }),
    );
    gate?.issued(appended);
    await appended;
    if (failures.length > 0) {
      // Deleting the topic closes its partitions under the append: that is the 404 of a topic
      // gone before the request (its records, any appended, went with it), not a "retry".
      if (this.topics.lookup(topic.name)?.id !== topic.id)
        return err({
          code: 'topic_not_found',
          message: `topic ${JSON.stringify(topic.name)} was deleted while the request appended to it`,
          details: {},
        });
      return err(failures.find((f) => f.code === 'storage_full') ?? failures[0]!);
    }
    if (claim) {
      const all = claim.offsets();
      if (!all) throw new Error('idempotent produce: request incomplete after every append succeeded');
      return ok({ offsets: all });
    }
    return ok({ offsets });
  }
}
