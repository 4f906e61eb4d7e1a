// One partition of a Kafka topic behind the PartitionLog contract: appends are produced with
// acks=all, reads fetch from the leader, and one shared tail per partition wakes waiters.
import { ok, err, type Result } from '../../lib/result.js';
import { AppendNotifier } from '../append-notifier.js';
import {
  APPEND_TIME_HEADER_KEY,
  RESERVED_HEADER_PREFIX,
  TAG_HEADER_KEY,
  assertAppendInput,
  assertPartitionConfig,
  normaliseReadOptions,
  recordDataBytes,
} from '../append-input.js';
import { LogUnavailableError } from '../log-unavailable.js';
import { ReadCollector } from '../read-collector.js';
import { RecordRun } from '../record-run.js';
import { ProduceQueue } from './produce-queue.js';
import { RecentBatches } from './recent-batches.js';
import type {
  AppendError,
  AppendOptions,
  AppendResult,
  BatchTag,
  PartitionConfig,
  PartitionLog,
  ReadBatch,
  ReadError,
  RunReadBatch,
  ReadOptions,
  AppendRecords,
  RecordInput,
  StoredRecord,
} from '../types.js';
import {
  KafkaErrors,
  isBatchTooLarge,
  type FetchedBatch,
  type FetchedPartition,
  type KafkaDriver,
  type KafkaRecordOut,
} from './kafka-driver.js';

/** What a partition needs from its store: the driver, the topic's leaders, the clock. */
export interface KafkaPartitionContext {
  driver: KafkaDriver;
  clock: () => number;
  /** Leader broker and Kafka topic id of a partition, refreshed when `force`. */
  route(kafkaTopic: string, partition: number, force: boolean): Promise<{ leader: number; topicId: string }>;
  applyConfig(kafkaTopic: string, config: PartitionConfig): void;
  /** Start/stop following the partition's high watermark (the node's shared tail). */
  watch(log: KafkaPartitionLog): void;
  unwatch(log: KafkaPartitionLog): void;
}

/** Per tailed partition: a few hundred KiB covers the batches a live tail has yet to deliver. */
export const RECENT_BATCH_BYTES = 256 << 10;
/**
 * Appends waiting behind an in-flight produce are merged into batches up to this size: well under
 * Kafka's default max.message.bytes (1 MiB); a topic allowing less gets them one batch each.
 */
export const MERGED_BATCH_BYTES = 256 << 10;

const RETRIABLE = new Set<number>([
  KafkaErrors.LEADER_NOT_AVAILABLE,
  KafkaErrors.NOT_LEADER_OR_FOLLOWER,
  KafkaErrors.FENCED_LEADER_EPOCH,
  KafkaErrors.UNKNOWN_LEADER_EPOCH,
  KafkaErrors.UNKNOWN_TOPIC_ID,
  KafkaErrors.INCONSISTENT_TOPIC_ID,
  KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION,
]);
const FETCH_ATTEMPTS = 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class KafkaPartitionLog implements PartitionLog {
  private start: number;
  private end: number;
  private bytes = 0;
  private closedReason: string | undefined;
  /** Set when the exposed Kafka topic was deleted and created again under its name: never served again. */
  private replacedReason: string | undefined;
  private readonly notifier = new AppendNotifier(() => this.end);
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Waiters + listeners: the partition is on the node's tail only while someone is interested. */
  private interest = 0;
  /** This node's latest acknowledged batches, kept while someone is interested. */
  private readonly recent: RecentBatches;
  /** One produce in flight; appends arriving meanwhile go together in the next. */
  private readonly produceQueue: ProduceQueue<KafkaRecordOut>;

  constructor(
    readonly topicId: string,
    readonly partition: number,
    readonly kafkaTopic: string,
    offsets: { start: number; end: number },
    private config: PartitionConfig,
    private readonly ctx: KafkaPartitionContext,
    /**
     * Whether this node's own acknowledged batches are kept for its tails as sent. Only for topics
     * whose timestamps are the producer's (CreateTime): under LogAppendTime the broker rewrites
     * them, and only a fetch tells. Batches the shared tail fetched are kept either way.
     */
    private readonly keepOwnAppends = false,
    /**
     * An exposed Kafka topic, and Kafka's id for it as of opening (else taken at the first fetch):
     * another id, or an append acknowledged below an offset already handed out, means the topic
     * was deleted and created again in Kafka, and its offsets name other records now.
     */
    private readonly exposed?: { kafkaTopicId: string | undefined },
  ) {
    this.start = offsets.start;
    this.end = offsets.end;
    this.recent = new RecentBatches(RECENT_BATCH_BYTES);
    this.produceQueue = new ProduceQueue({
      // acks=all for both durabilities: the producer is idempotent, which Kafka ties to acks=all.
      send: (records) => this.ctx.driver.produce(this.kafkaTopic, this.partition, records, -1),
      maxBatchBytes: MERGED_BATCH_BYTES,
      tooLarge: isBatchTooLarge,
    });
  }

  startOffset(): number {
    return this.start;
  }

  endOffset(): number {
    return this.end;
  }

  /**
   * Kafka's figure as of the store's last refresh, plus an estimate of what this node appended
   * since (Kafka's figure covers every node and every producer).
   */
  sizeBytes(): number {
    return this.bytes;
  }

  /** The partition's bytes on disk as Kafka reported them (DescribeLogDirs). */
  observeSize(bytes: number): void {
    this.bytes = bytes;
  }

  writable(): { ok: true } | { ok: false; reason: string } {
    return this.closedReason ? { ok: false, reason: this.closedReason } : { ok: true };
  }

  append(packed: AppendRecords, options: AppendOptions): Promise<Result<AppendResult, AppendError>> {
    // Kafka's client takes records as objects.
    const records = Array.isArray(packed) ? packed : packed.toInputs();
    try {
      assertAppendInput(records, options);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    if (this.closedReason) return Promise.resolve(err({ code: 'closed', reason: this.closedReason }));
    const p = this.produce(records, options);
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  private async produce(records: RecordInput[], options: AppendOptions): Promise<Result<AppendResult, AppendError>> {
    const out: KafkaRecordOut[] = records.map((r) => ({
      key: r.key,
      value: r.value,
      headers: r.headers.map((h): [Buffer, Buffer | null] => [Buffer.from(h.key), h.value]),
      timestamp: BigInt(r.timestamp),
    }));
    // Tagged batches (idempotent produce) carry the tag and the append time on their first record,
    // as in the file store; readers never see these headers. Untagged batches stay exactly as sent.
    if (options.tag) {
      const at = Buffer.alloc(8);
      at.writeBigInt64BE(BigInt(this.ctx.clock()));
      out[0]!.headers.unshift([Buffer.from(APPEND_TIME_HEADER_KEY), at], [Buffer.from(TAG_HEADER_KEY), options.tag]);
    }
    // Estimated bytes: per-record framing (varints, attributes) besides the data.
    let bytes = 0;
    for (const r of records) bytes += recordDataBytes(r) + 10 + 4 * r.headers.length;
    // Kafka gives this batch an offset at or past every end known before it was sent.
    const floor = this.end;
    let baseOffset: number;
    try {
      baseOffset = await this.produceQueue.produce({ records: out, bytes, alone: options.tag !== undefined });
    } catch (e) {
      if (this.closedReason) return err({ code: 'closed', reason: this.closedReason });
      return err({ code: 'unavailable', reason: `Kafka produce failed: ${errorText(e)}` });
    }
    if (this.exposed && baseOffset < floor) {
      this.replaced(`Kafka gave offset ${baseOffset} to an append though offsets up to ${floor} were handed out`);
      return err({ code: 'closed', reason: this.replacedReason! });
    }
    const lastOffset = baseOffset + records.length - 1;
    // Kept before readers wake below: a live tail then delivers it without a fetch.
    if (this.interest > 0 && this.keepOwnAppends) this.recent.add(baseOffset, records);
    // The 61-byte batch header (counted per append, merged or not: an estimate).
    this.bytes += 61 + bytes;
    this.advance(lastOffset + 1);
    return ok({ baseOffset, lastOffset });
  }

  /** Moves the end forward (never back) and wakes readers. */
  private advance(end: number, start?: number): void {
    if (start !== undefined && start > this.start) {
      this.start = start;
      this.recent.dropBelow(start);
    }
    if (end > this.end) {
      this.end = end;
      this.notifier.notify(end);
    }
  }

  /** Kafka's start and end offsets as a refresh of many partitions read them. */
  observeOffsets(start: number, end: number): void {
    this.advance(end, start);
  }

  /** Asks Kafka for the current start and end offsets. */
  async refresh(): Promise<void> {
    const [start, end] = await Promise.all([
      this.ctx.driver.listOffset(this.kafkaTopic, this.partition, -2),
      this.ctx.driver.listOffset(this.kafkaTopic, this.partition, -1),
    ]);
    this.advance(end, start);
  }

  async read(offset: number, options: ReadOptions): Promise<Result<ReadBatch, ReadError>> {
    const limits = normaliseReadOptions(offset, options);
    if (this.replacedReason) throw new LogUnavailableError(this.replacedReason);
    // At or past the end this node knows, ask Kafka: other nodes and native producers append too.
    if (offset < this.start || offset >= this.end) await this.refresh();
    if (offset < this.start || offset > this.end) {
      return err({
        code: 'offset_out_of_range',
        requestedOffset: offset,
        startOffset: this.start,
        endOffset: this.end,
      });
    }
    const collector = new ReadCollector(offset, limits);
    let next = offset;
    while (next < this.end && !collector.done) {
      const kept = this.recent.batchAt(next);
      if (kept) {
        collector.add(kept);
        next = kept[kept.length - 1]!.offset + 1;
        continue;
      }
      const fetched = await this.fetch(next, Math.min(8 << 20, Math.max(64 << 10, limits.maxBytes + (64 << 10))), 0);
      if (fetched.errorCode === KafkaErrors.OFFSET_OUT_OF_RANGE) {
        await this.refresh();
        if (next === offset) {
          return err({
            code: 'offset_out_of_range',
            requestedOffset: offset,
            startOffset: this.start,
            endOffset: this.end,
          });
        }
        break;
      }
      const records = fetched.batches.flatMap((b) => toStored(b));
      if (records.length === 0) {
        // Only transaction markers (or batches compaction emptied) here: step over them, so a
        // reader is never stuck in front of a marker, also when one is the last thing in the log.
        if (fetched.nextOffset !== undefined && fetched.nextOffset > next) {
          next = fetched.nextOffset;
          continue;
        }
        break;
      }
      collector.add(records);
      next = records[records.length - 1]!.offset + 1;
    }
    const result = collector.result();
    // Not cut short by a limit: every record before `next` was taken, and markers stepped over
    // after them need not be read again.
    if (!collector.done && next > result.nextOffset) return ok({ records: result.records, nextOffset: next });
    return ok(result);
  }

  /** Kafka's batches are decoded as they are fetched (recent ones kept decoded): the records wrapped. */
  async readRun(offset: number, options: ReadOptions): Promise<Result<RunReadBatch, ReadError>> {
    const read = await this.read(offset, options);
    return read.ok ? ok({ run: RecordRun.fromRecords(read.value.records), nextOffset: read.value.nextOffset }) : read;
  }

  /** Fetch with leader routing and retries on leadership changes. */
  private async fetch(offset: number, maxBytes: number, maxWaitMs: number): Promise<FetchedPartition> {
    let lastError = 'unknown';
    for (let attempt = 0; attempt < FETCH_ATTEMPTS; attempt++) {
      try {
        const route = await this.ctx.route(this.kafkaTopic, this.partition, attempt > 0);
        if (this.exposed) {
          this.exposed.kafkaTopicId ??= route.topicId;
          if (route.topicId !== this.exposed.kafkaTopicId) {
            this.replaced(`Kafka topic id ${route.topicId}, not ${this.exposed.kafkaTopicId} as when it was opened`);
            throw new LogUnavailableError(this.replacedReason!);
          }
        }
        if (route.leader < 0) throw new Error('no leader');
        const r = await this.ctx.driver.fetch(route.leader, route.topicId, this.partition, offset, maxBytes, maxWaitMs);
        if (!RETRIABLE.has(r.errorCode)) {
          if (r.errorCode === 0) this.advance(r.highWatermark, r.logStartOffset);
          return r;
        }
        lastError = `Kafka error ${r.errorCode}`;
      } catch (e) {
        if (e instanceof LogUnavailableError) throw e;
        lastError = errorText(e);
      }
      if (this.closedReason) break;
      await sleep(Math.min(1000, 50 * 2 ** attempt));
    }
    // Kafka kept refusing (no leader, brokers gone, its topic deleted behind Sluice): the log is
    // unavailable, which the HTTP layer answers 503, not a fault of Sluice's (500).
    throw new LogUnavailableError(`fetch ${this.kafkaTopic}/${this.partition} at ${offset} failed: ${lastError}`);
  }

  async offsetForTimestamp(timestamp: number): Promise<number> {
    // ListOffsets reads -1/-2 as latest/earliest: clamp, since every record is stamped ≥ 0.
    const o = await this.ctx.driver.listOffset(this.kafkaTopic, this.partition, Math.max(0, timestamp));
    if (o < 0) {
      await this.refresh();
      return this.end;
    }
    return o;
  }

  waitForData(offset: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.end > offset || this.closedReason || signal?.aborted || timeoutMs <= 0) {
      return this.notifier.waitForData(offset, timeoutMs, signal);
    }
    this.interested(+1);
    return this.notifier.waitForData(offset, timeoutMs, signal).finally(() => this.interested(-1));
  }

  onAppend(listener: (endOffset: number) => void): () => void {
    const off = this.notifier.onAppend(listener);
    this.interested(+1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.interested(-1);
      off();
    };
  }

  /**
   * Appends by other nodes and native producers become visible through the node's shared tail,
   * which follows this partition's high watermark while anyone waits or listens.
   */
  private interested(delta: 1 | -1): void {
    this.interest += delta;
    if (delta === 1 && this.interest === 1 && !this.closedReason) this.ctx.watch(this);
    if (delta === -1 && this.interest === 0) {
      this.ctx.unwatch(this);
      this.recent.clear();
    }
  }

  /** The tail saw Kafka's offsets for this partition, and the batches past its end it fetched. */
  observe(highWatermark: number, logStartOffset: number, batches: readonly FetchedBatch[] = []): void {
    // Kept before readers wake below, for as long as someone tails the partition.
    if (this.interest > 0) {
      for (const b of batches) {
        // Often this node's own append, kept at its acknowledgement: not converted again.
        if (this.recent.batchAt(b.baseOffset) !== undefined) continue;
        const records = toStored(b).filter((r) => r.offset < highWatermark);
        if (records.length > 0) this.recent.keep(records);
      }
    }
    this.advance(highWatermark, logStartOffset);
  }

  async recentTags(sinceAppendTime: number): Promise<BatchTag[]> {
    // Kafka has no index by append time; scan the log for tagged batches (their first record
    // carries the append time). Cost grows with the partition: the produce path calls it once.
    await this.refresh();
    const { tags } = await this.tagsFrom(this.start);
    return tags.filter((t) => t.appendTime >= sinceAppendTime);
  }

  /** Tagged batches from `fromOffset` to the high watermark: one ListOffsets when nothing new was appended. */
  async tagsFrom(fromOffset: number): Promise<{ tags: BatchTag[]; end: number }> {
    const tags: BatchTag[] = [];
    // The high watermark now: batches acknowledged (acks=all) before this call are below it.
    const end = await this.ctx.driver.listOffset(this.kafkaTopic, this.partition, -1);
    this.advance(end);
    let next = fromOffset;
    while (next < end) {
      const fetched = await this.fetch(next, 1 << 20, 0);
      if (fetched.errorCode === KafkaErrors.OFFSET_OUT_OF_RANGE) {
        // Retention removed what was below the start: carry on from there.
        await this.refresh();
        if (next >= this.start) break;
        next = this.start;
        continue;
      }
      if (fetched.errorCode !== 0)
        throw new Error(`fetch ${this.kafkaTopic}/${this.partition} at ${next}: Kafka error ${fetched.errorCode}`);
      for (const batch of fetched.batches) {
        if (batch.baseOffset < next) continue; // a batch this scan (or an earlier one) already saw
        const first = batch.records[0];
        const at = first?.headers.find(([k]) => k?.toString() === APPEND_TIME_HEADER_KEY)?.[1];
        const tag = first?.headers.find(([k]) => k?.toString() === TAG_HEADER_KEY)?.[1];
        if (!at || !tag || at.length !== 8) continue;
        let maxTimestamp = 0;
        for (const r of batch.records) if (r.timestamp > maxTimestamp) maxTimestamp = r.timestamp;
        tags.push({
          baseOffset: batch.baseOffset,
          lastOffset: batch.lastOffset,
          maxTimestamp,
          appendTime: Number(at.readBigInt64BE()),
          tag: Buffer.from(tag),
        });
      }
      if (fetched.nextOffset === undefined || fetched.nextOffset <= next) break;
      next = fetched.nextOffset;
    }
    return { tags, end: next };
  }

  updateConfig(config: PartitionConfig): void {
    assertPartitionConfig(config);
    this.config = config;
    this.ctx.applyConfig(this.kafkaTopic, config);
  }

  get partitionConfig(): PartitionConfig {
    return this.config;
  }

  /** Stop accepting appends; in-flight ones finish first when `drain`. */
  /** The exposed Kafka topic was replaced: refuse appends and reads from now on, wake waiters. */
  private replaced(how: string): void {
    this.replacedReason ??= `Kafka topic ${JSON.stringify(this.kafkaTopic)} was deleted and created again outside Sluice (${how}): its offsets no longer name the records Sluice served`;
    this.closedReason ??= this.replacedReason;
    this.recent.clear();
    this.notifier.close();
    this.ctx.unwatch(this);
  }

  async close(reason: string, drain: boolean): Promise<void> {
    if (drain) await Promise.allSettled([...this.inFlight]);
    this.closedReason ??= reason;
    this.recent.clear();
    this.notifier.close();
    this.ctx.unwatch(this);
  }
}

/** A fetched batch as the contract's records: reserved headers (tag, append time) removed. */
function toStored(batch: FetchedBatch): StoredRecord[] {
  return batch.records.map((r) => ({
    offset: r.offset,
    timestamp: r.timestamp,
    key: r.key,
    value: r.value,
    headers: r.headers
      .filter(([k]) => !(k?.toString() ?? '').startsWith(RESERVED_HEADER_PREFIX))
      .map(([k, v]) => ({ key: k?.toString() ?? '', value: v })),
  }));
}

function errorText(e: unknown): string {
  if (e instanceof AggregateError) return e.errors.map(errorText).join('; ');
  return e instanceof Error ? e.message : String(e);
}
