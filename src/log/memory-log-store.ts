// In-memory LogStore: the same semantics as the file store (dense offsets, read limits,
// segments, retention, tags) without a disk, for tests of the layers above and for dev.
import { ok, err, type Result } from '../lib/result.js';
import { AppendNotifier } from './append-notifier.js';
import { assertAppendInput, assertPartitionConfig, normaliseReadOptions } from './append-input.js';
import type { LogLogger } from './logger.js';
import { floorIndex } from './floor-index.js';
import { ReadCollector, type BatchCollector } from './read-collector.js';
import { RunCollector } from './record-run.js';
import { decodeBatch, encodeBatch, maxTimestampOf } from './record-batch.js';
import { planRetention } from './retention-policy.js';
import type {
  AppendError,
  AppendOptions,
  AppendResult,
  BatchTag,
  LogStore,
  PartitionConfig,
  PartitionLog,
  QuarantinedPartition,
  ReadBatch,
  ReadError,
  ReadOptions,
  AppendRecords,
  RecoveryReport,
  RunReadBatch,
} from './types.js';

export interface MemoryLogStoreOptions {
  /** Wall clock for segment age and retention (default Date.now); tests inject their own. */
  clock?: () => number;
  /** Interval of the background retention pass; 0 disables it (default 5 minutes). */
  retentionCheckIntervalMs?: number;
  logger?: LogLogger;
}

interface MemBatch {
  baseOffset: number;
  lastOffset: number;
  maxTimestamp: number;
  /** Largest timestamp of this and every earlier batch: monotone, for timestamp search. */
  runningMax: number;
  /** When the batch was appended (the store's clock). */
  appendTime: number;
  bytes: Buffer;
  tag: Buffer | undefined;
}

interface MemSegment {
  baseOffset: number;
  batches: MemBatch[];
  sizeBytes: number;
  maxTimestamp: number;
  /** Append time of the newest batch (-1 when empty): what retention_ms measures. */
  lastAppendTime: number;
  /** Clock time of the first append into the segment (for segmentMs). */
  createdAt: number;
}

class MemoryPartitionLog implements PartitionLog {
  private readonly segments: MemSegment[];
  private end = 0;
  private closedReason: string | undefined;
  private readonly notifier = new AppendNotifier(() => this.end);

  constructor(
    readonly topicId: string,
    readonly partition: number,
    private config: PartitionConfig,
    private readonly clock: () => number,
  ) {
    this.segments = [this.newSegment(0)];
  }

  private newSegment(baseOffset: number): MemSegment {
    return { baseOffset, batches: [], sizeBytes: 0, maxTimestamp: -1, lastAppendTime: -1, createdAt: this.clock() };
  }

  private get active(): MemSegment {
    return this.segments[this.segments.length - 1]!;
  }

  startOffset(): number {
    const first = this.segments[0]!;
    return first.batches[0]?.baseOffset ?? first.baseOffset;
  }

  endOffset(): number {
    return this.end;
  }

  sizeBytes(): number {
    return this.segments.reduce((n, s) => n + s.sizeBytes, 0);
  }

  writable(): { ok: true } | { ok: false; reason: string } {
    return this.closedReason ? { ok: false, reason: this.closedReason } : { ok: true };
  }

  async append(records: AppendRecords, options: AppendOptions): Promise<Result<AppendResult, AppendError>> {
    assertAppendInput(records, options);
    if (this.closedReason) return err({ code: 'closed', reason: this.closedReason });
    const baseOffset = this.end;
    const now = this.clock();
    const bytes = encodeBatch({ baseOffset, records, tag: options.tag, producer: options.producer, appendTime: now });
    const maxTimestamp = maxTimestampOf(records);
    const active = this.active;
    const tooBig = active.sizeBytes + bytes.length > this.config.segmentBytes;
    const tooOld = this.config.segmentMs >= 0 && now - active.createdAt >= this.config.segmentMs;
    if (active.batches.length > 0 && (tooBig || tooOld)) this.segments.push(this.newSegment(baseOffset));
    const segment = this.active;
    if (segment.batches.length === 0) segment.createdAt = now;
    const prev = this.lastBatch();
    segment.batches.push({
      baseOffset,
      lastOffset: baseOffset + records.length - 1,
      maxTimestamp,
      runningMax: Math.max(prev?.runningMax ?? -1, maxTimestamp),
      appendTime: now,
      bytes,
      tag: options.tag ? Buffer.from(options.tag) : undefined,
    });
    segment.sizeBytes += bytes.length;
    segment.maxTimestamp = Math.max(segment.maxTimestamp, maxTimestamp);
    segment.lastAppendTime = Math.max(segment.lastAppendTime, now);
    this.end = baseOffset + records.length;
    this.notifier.notify(this.end);
    return ok({ baseOffset, lastOffset: this.end - 1 });
  }

  private lastBatch(): MemBatch | undefined {
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const batches = this.segments[i]!.batches;
      if (batches.length > 0) return batches[batches.length - 1];
    }
    return undefined;
  }

  /** Batches in offset order starting with the one that holds `offset`. */
  private *batchesFrom(offset: number): Generator<MemBatch> {
    let s = Math.max(
      0,
      floorIndex(this.segments.length, (i) => this.segments[i]!.baseOffset, offset),
    );
    let b = Math.max(
      0,
      floorIndex(this.segments[s]!.batches.length, (i) => this.segments[s]!.batches[i]!.baseOffset, offset),
    );
    for (; s < this.segments.length; s++, b = 0) {
      const batches = this.segments[s]!.batches;
      for (; b < batches.length; b++) yield batches[b]!;
    }
  }

  async read(offset: number, options: ReadOptions): Promise<Result<ReadBatch, ReadError>> {
    const limits = normaliseReadOptions(offset, options);
    const collected = this.collect(offset, new ReadCollector(offset, limits));
    return collected.ok ? ok(collected.value.result()) : collected;
  }

  async readRun(offset: number, options: ReadOptions): Promise<Result<RunReadBatch, ReadError>> {
    const limits = normaliseReadOptions(offset, options);
    const collected = this.collect(offset, new RunCollector(offset, limits, true));
    return collected.ok ? ok(collected.value.result()) : collected;
  }

  private collect<C extends BatchCollector>(offset: number, collector: C): Result<C, ReadError> {
    const start = this.startOffset();
    if (offset < start || offset > this.end) {
      return err({ code: 'offset_out_of_range', requestedOffset: offset, startOffset: start, endOffset: this.end });
    }
    for (const batch of this.batchesFrom(offset)) {
      if (batch.lastOffset < offset) continue;
      if (collector.addBatch(batch.bytes, 0)) break;
    }
    return ok(collector);
  }

  async offsetForTimestamp(timestamp: number): Promise<number> {
    // runningMax is monotone: the first batch whose runningMax reaches `timestamp` holds the
    // first record at or after it, and every earlier record is older.
    const all = this.segments.flatMap((s) => s.batches);
    const i = floorIndex(all.length, (j) => all[j]!.runningMax, timestamp - 1) + 1;
    const batch = all[i];
    if (!batch) return this.end;
    const hit = decodeBatch(batch.bytes).records.find((r) => r.timestamp >= timestamp);
    return hit ? hit.offset : this.end;
  }

  waitForData(offset: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.notifier.waitForData(offset, timeoutMs, signal);
  }

  onAppend(listener: (endOffset: number) => void): () => void {
    return this.notifier.onAppend(listener);
  }

  async recentTags(sinceAppendTime: number): Promise<BatchTag[]> {
    const tags: BatchTag[] = [];
    for (const s of this.segments) {
      for (const b of s.batches) {
        if (b.tag && b.appendTime >= sinceAppendTime) {
          const { baseOffset, lastOffset, maxTimestamp, appendTime, tag } = b;
          tags.push({ baseOffset, lastOffset, maxTimestamp, appendTime, tag });
        }
      }
    }
    return tags;
  }

  updateConfig(config: PartitionConfig): void {
    assertPartitionConfig(config);
    this.config = config;
  }

  /** Deletes whole closed segments per the retention settings. */
  enforceRetention(now: number): void {
    const plan = planRetention(
      this.segments.map((s) => ({
        sizeBytes: s.sizeBytes,
        lastAppendTime: s.lastAppendTime,
        empty: s.batches.length === 0,
      })),
      this.config,
      now,
    );
    if (plan.rollActive) this.segments.push(this.newSegment(this.end));
    this.segments.splice(0, plan.deleteCount);
  }

  close(reason: string): void {
    this.closedReason ??= reason;
    this.notifier.close();
  }
}

/** Creates an in-memory LogStore. Data lives as encoded v2 batches, exactly as on disk. */
export function createMemoryLogStore(options: MemoryLogStoreOptions = {}): LogStore {
  const clock = options.clock ?? Date.now;
  const topics = new Map<string, Map<number, MemoryPartitionLog>>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const enforceRetention = async (now = clock()): Promise<void> => {
    for (const partitions of topics.values()) for (const p of partitions.values()) p.enforceRetention(now);
  };

  return {
    async open(): Promise<RecoveryReport> {
      const interval = options.retentionCheckIntervalMs ?? 5 * 60_000;
      if (interval > 0 && !timer) {
        timer = setInterval(() => void enforceRetention(), interval);
        timer.unref();
      }
      return { cleanShutdown: true, partitions: 0, truncated: [], quarantined: [], durationMs: 0 };
    },
    async createPartition(topicId, partition, config) {
      if (closed) throw new Error('log store is closed');
      assertPartitionConfig(config);
      let partitions = topics.get(topicId);
      if (!partitions) topics.set(topicId, (partitions = new Map()));
      let log = partitions.get(partition);
      if (log) log.updateConfig(config);
      else partitions.set(partition, (log = new MemoryPartitionLog(topicId, partition, config, clock)));
      return log;
    },
    getPartition: (topicId, partition) => topics.get(topicId)?.get(partition),
    topicIds: () => [...topics.keys()],
    partitions: (topicId) => [...(topics.get(topicId)?.keys() ?? [])].sort((a, b) => a - b),
    async deleteTopic(topicId) {
      for (const p of topics.get(topicId)?.values() ?? []) p.close('topic deleted');
      topics.delete(topicId);
    },
    enforceRetention,
    quarantined: (): QuarantinedPartition[] => [],
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      for (const partitions of topics.values()) for (const p of partitions.values()) p.close('log store closed');
    },
  };
}
