// A file-backed partition log: group-committed appends by a single writer, positional reads
// across segments with a small cache of recent batches, rolls, retention and checkpoints.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { ok, err, type Result } from '../lib/result.js';
import { AppendNotifier } from './append-notifier.js';
import { assertAppendInput, assertPartitionConfig, normaliseReadOptions } from './append-input.js';
import { writeAt, type LogFs } from './log-fs.js';
import type { LogLogger } from './logger.js';
import { writeCheckpoint, type RecoveryPosition } from './partition-checkpoint.js';
import { createSegmentFile, type RecoveredPartition } from './partition-recovery.js';
import { floorIndex } from './floor-index.js';
import { isDescriptorExhaustion, type HandlePool } from './handle-pool.js';
import type { ScannedBatch } from './batch-scanner.js';
import { ReadCollector, type BatchCollector } from './read-collector.js';
import { RunCollector } from './record-run.js';
import { ReadAhead, type ReadAheadBudget } from './read-ahead.js';
import { RecentBatches } from './recent-batches.js';
import { batchAppendTime, decodeBatch, encodeBatch, maxTimestampOf } from './record-batch.js';
import { planRetention } from './retention-policy.js';
import { LogCorruptionError, type Segment } from './segment.js';
import { SegmentIndex } from './segment-index.js';
import { recordQuarantine } from './partition-quarantine.js';
import { SegmentIndexes } from './segment-indexes.js';
import type {
  AppendError,
  AppendOptions,
  AppendResult,
  BatchTag,
  PartitionConfig,
  PartitionLog,
  ReadBatch,
  ReadError,
  ReadOptions,
  LogObserver,
  AppendRecords,
  RunReadBatch,
} from './types.js';

/** Tunables shared by every partition of a file store. */
export interface PartitionTuning {
  fs: LogFs;
  clock: () => number;
  logger: LogLogger;
  maxIndexEntries: number;
  /** Bytes of most recent batches kept in memory for tailing readers. */
  recentCacheBytes: number;
  /** Closed segments kept open (handle + index) per partition. */
  openSegments: number;
  /** Upper bound of one group commit's write. */
  maxGroupBytes: number;
  /** The store-wide bound on open segment descriptors. */
  pool: HandlePool;
  /** Metrics hooks, if any. */
  observer?: LogObserver | undefined;
  /** Told the bytes of every group written: the store flushes early when too much is unflushed. */
  written?: ((bytes: number) => void) | undefined;
  /** The store-wide bound on pages read ahead for sequential readers. */
  readAheadBudget: ReadAheadBudget;
}

/** A page read ahead: its records, and whether later appends could have added to it. */
interface AheadRun {
  collector: RunCollector;
  /** The log's visible end when the page was read. */
  end: number;
}

interface PendingAppend {
  kind: 'append';
  records: AppendRecords;
  options: AppendOptions;
  resolve: (r: Result<AppendResult, AppendError>) => void;
  reject: (e: unknown) => void;
  encoded?: { base: number; bytes: Buffer; maxTimestamp: number; appendTime: number };
}

interface PendingTask {
  kind: 'task';
  run: () => Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** No index entry: the segment's first batch, at byte 0. */
const NO_ENTRY: [number, number] = [0, 0];

/** Bytes a read's chunks are (`collect`): a page's bytes and then some, 64 KiB to 1 MiB. */
const readChunk = (limits: ReadOptions): number =>
  Math.min(Math.max(limits.maxBytes + 16 * 1024, 64 * 1024), 1024 * 1024);

/**
 * Bytes a page can hold at most, reserved while it is read ahead: its records' data bytes, a
 * record's framing (well under 64 bytes) for each, and the chunk the last one straddles.
 */
const readAheadEstimate = (limits: ReadOptions): number => limits.maxBytes + limits.maxRecords * 64 + readChunk(limits);

const ioCode = (e: unknown): 'storage_full' | 'io_error' =>
  (e as NodeJS.ErrnoException | undefined)?.code === 'ENOSPC' ? 'storage_full' : 'io_error';

/** What failed, for API-visible reasons: the errno code and system call, never a path (that is logged). */
export function describeFailure(e: unknown): string {
  const x = e as NodeJS.ErrnoException | undefined;
  if (typeof x?.code === 'string') return x.syscall ? `${x.code} on ${x.syscall}` : x.code;
  return 'internal error';
}

export class FilePartitionLog implements PartitionLog {
  private segments: Segment[];
  private start: number;
  private visibleEnd: number;
  private durableEnd: number;
  private checkpointed: number;
  /** The resume point the checkpoint file holds (index files durable up to it). */
  private recoveryPosition: RecoveryPosition | undefined;
  private readOnlyReason: string | undefined;
  /** How refused appends are reported: a partition stopped by ENOSPC keeps answering `storage_full`. */
  private readOnlyCode: 'partition_read_only' | 'storage_full' = 'partition_read_only';
  private closedReason: string | undefined;
  /** Set when corruption was found: reported by the store, never written to again. */
  quarantineReason: string | undefined;
  private readonly queue: Array<PendingAppend | PendingTask> = [];
  /** The group taken off the queue and not yet answered: a failure anywhere answers it. */
  private inFlight: PendingAppend[] = [];
  private draining = false;
  /** Milliseconds the last group's fdatasync took. */
  private lastSync = 0;
  /** When the fdatasync in flight started (performance.now()), or 0. */
  private syncStarted = 0;
  private readonly recent: RecentBatches;
  private readonly ahead: ReadAhead<AheadRun>;
  private readonly indexes: SegmentIndexes;
  private readonly notifier = new AppendNotifier(() => this.visibleEnd);
  /** The quarantine marker's write, awaited by a scrub that found corruption and by shutdown. */
  private markerWritten: Promise<void> | undefined;
  /** The log as recovery left it at open, below the recovery point: what a scrub re-reads. */
  private readonly scrubEnd: { segment: number; position: number; offset: number };

  constructor(
    readonly topicId: string,
    readonly partition: number,
    private readonly dir: string,
    private config: PartitionConfig,
    recovered: RecoveredPartition,
    private readonly t: PartitionTuning,
  ) {
    this.recent = new RecentBatches(t.recentCacheBytes);
    this.ahead = new ReadAhead(t.readAheadBudget, () => t.observer?.readAhead?.(false));
    this.segments = recovered.segments;
    this.start = recovered.startOffset;
    this.visibleEnd = this.active.endOffset;
    this.durableEnd = recovered.recoveryPoint;
    this.checkpointed = recovered.recoveryPoint;
    this.recoveryPosition = recovered.recoveryPosition;
    this.quarantineReason = recovered.quarantineReason;
    if (this.quarantineReason) this.readOnlyReason = `quarantined: ${this.quarantineReason}`;
    this.scrubEnd = { segment: this.active.baseOffset, position: this.active.size, offset: this.active.endOffset };
    this.indexes = new SegmentIndexes({
      topicId,
      partition,
      maxIndexEntries: t.maxIndexEntries,
      openSegments: t.openSegments,
      logger: t.logger,
      observer: t.observer,
      isActive: (seg) => seg === this.active,
      holds: (seg) => this.segments.includes(seg),
      writable: () => !this.closedReason && !this.readOnlyReason,
      onWriter: (run) => this.task(run),
      corrupt: (seg, position, reason) => this.corrupt(seg, position, reason),
    });
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  startOffset(): number {
    return this.start;
  }
  endOffset(): number {
    return this.visibleEnd;
  }
  sizeBytes(): number {
    return this.segments.reduce((n, s) => n + s.size, 0);
  }
  writable(): { ok: true } | { ok: false; reason: string } {
    const reason = this.closedReason ?? this.readOnlyReason;
    return reason ? { ok: false, reason } : { ok: true };
  }

  async append(records: AppendRecords, options: AppendOptions): Promise<Result<AppendResult, AppendError>> {
    assertAppendInput(records, options);
    if (this.closedReason) return err({ code: 'closed', reason: this.closedReason });
    if (this.readOnlyReason) return err({ code: this.readOnlyCode, reason: this.readOnlyReason });
    const observer = this.t.observer;
    return new Promise((done, reject) => {
      let resolve = done as (r: Result<AppendResult, AppendError>) => void;
      if (observer?.appended) {
        const started = performance.now();
        resolve = (r) => {
          if (r.ok) observer.appended!((performance.now() - started) / 1000);
          done(r);
        };
      }
      this.queue.push({ kind: 'append', records, options, resolve, reject });
      this.kick();
    });
  }

  syncLatencyMs(): number {
    return this.syncStarted > 0 ? Math.max(this.lastSync, performance.now() - this.syncStarted) : this.lastSync;
  }

  /** Runs `run` on the writer, in order with appends (rolls, retention, flushes, close). */
  private task(run: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'task', run, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (!this.draining) void this.drain();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const head = this.queue[0]!;
        if (head.kind === 'task') {
          this.queue.shift();
          await head.run().then(head.resolve, head.reject);
        } else {
          // A bug must fail the queued appends and the group in flight, never leave them pending.
          await this.writeGroup().catch((e: unknown) => this.fail(e, this.inFlight));
          this.inFlight = [];
          // Let appenders woken by this group queue their next batch before the next group
          // forms; otherwise groups alternate between one batch and all the others.
          await yieldToLoop();
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /** Takes the queued appends at the head (up to a segment boundary), writes them with one write and at most one fdatasync. */
  private async writeGroup(): Promise<void> {
    if (this.readOnlyReason) return this.failQueued({ code: this.readOnlyCode, reason: this.readOnlyReason });
    try {
      const seg = this.active;
      const aged = this.config.segmentMs >= 0 && this.t.clock() - seg.createdAt >= this.config.segmentMs;
      if (seg.size > 0 && (aged || seg.index!.isFull())) await this.roll();
    } catch (e) {
      return this.fail(e, []);
    }
    const seg = this.active;
    // One append time per group: batches written together were appended together.
    const appendTime = this.t.clock();
    const group: PendingAppend[] = [];
    const buffers: Buffer[] = [];
    let bytes = 0;
    let next = this.visibleEnd;
    let sync = false;
    while (this.queue[0]?.kind === 'append' && group.length < 4096 && bytes < this.t.maxGroupBytes) {
      const a = this.queue[0];
      if (a.encoded?.base !== next) {
        const maxTimestamp = maxTimestampOf(a.records);
        try {
          const b = encodeBatch({
            baseOffset: next,
            records: a.records,
            tag: a.options.tag,
            producer: a.options.producer,
            appendTime,
          });
          a.encoded = { base: next, bytes: b, maxTimestamp, appendTime };
        } catch (e) {
          this.queue.shift();
          a.reject(e); // malformed input that got past validation: the caller's bug, not the log's
          continue;
        }
      }
      if (seg.size + bytes > 0 && seg.size + bytes + a.encoded.bytes.length > this.config.segmentBytes) break;
      this.queue.shift();
      group.push(a);
      buffers.push(a.encoded.bytes);
      bytes += a.encoded.bytes.length;
      next += a.records.length;
      sync ||= a.options.durability === 'fsync';
    }
    if (group.length === 0) {
      try {
        await this.roll(); // the head batch does not fit the active segment
      } catch (e) {
        this.fail(e, []);
      }
      return;
    }
    this.inFlight = group;
    const position = seg.size;
    const endBefore = seg.endOffset;
    let wrote = false;
    let writeSeconds = 0;
    let syncSeconds: number | null = null;
    try {
      await seg.use(async (h) => {
        wrote = true;
        const t0 = performance.now();
        await writeAt(h, buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers, bytes), position);
        const t1 = performance.now();
        writeSeconds = (t1 - t0) / 1000;
        if (sync) {
          this.syncStarted = t1;
          try {
            await h.datasync();
          } finally {
            this.syncStarted = 0;
          }
          this.lastSync = performance.now() - t1;
          syncSeconds = this.lastSync / 1000;
        }
      });
      // Bookkeeping may throw only through a bug; the catch below then cuts the bytes back.
      let pos = position;
      if (seg.size === 0) seg.createdAt = this.t.clock();
      for (const a of group) {
        const enc = a.encoded!;
        seg.index!.onBatch(enc.base - seg.baseOffset, pos, enc.maxTimestamp);
        seg.maxTimestamp = Math.max(seg.maxTimestamp, enc.maxTimestamp);
        seg.lastAppendTime = Math.max(seg.lastAppendTime, enc.appendTime);
        pos += enc.bytes.length;
      }
      for (const a of group)
        this.recent.push(a.encoded!.base, a.encoded!.base + a.records.length - 1, a.encoded!.bytes);
      seg.size = pos;
      seg.endOffset = next;
    } catch (e) {
      seg.size = position;
      seg.endOffset = endBefore;
      this.recent.truncate(this.visibleEnd);
      if (wrote) await this.discardTail(seg, position);
      return this.fail(e, group, !wrote);
    }
    this.t.observer?.written?.({ records: next - this.visibleEnd, bytes, writeSeconds, syncSeconds });
    this.t.written?.(bytes);
    this.visibleEnd = next;
    if (sync) this.durableEnd = next;
    for (const a of group)
      a.resolve(ok({ baseOffset: a.encoded!.base, lastOffset: a.encoded!.base + a.records.length - 1 }));
    this.inFlight = [];
    this.notifier.notify(next);
  }

  /**
   * Cuts bytes of a failed, unacknowledged write off the active segment. If the truncate
   * fails too, the checkpoint records a fence that recovery applies before it scans, so a
   * CRC-valid batch nobody acknowledged never becomes visible after a restart.
   */
  private async discardTail(seg: Segment, position: number): Promise<void> {
    try {
      await seg.use((h) => h.truncate(position));
      return;
    } catch (e) {
      this.t.logger.error(
        { topicId: this.topicId, partition: this.partition, path: seg.logPath, position, err: e },
        'truncating a failed write failed: fencing the tail in the checkpoint',
      );
    }
    try {
      await writeCheckpoint(this.t.fs, this.dir, {
        startOffset: this.start,
        recoveryPoint: Math.min(this.durableEnd, this.visibleEnd),
        recoveryPosition: this.recoveryPosition,
        discard: { segment: seg.baseOffset, position },
      });
    } catch (e) {
      this.t.logger.error(
        { topicId: this.topicId, partition: this.partition, path: seg.logPath, position, err: e },
        'cannot truncate or fence an unacknowledged write: it may become visible after a restart',
      );
    }
  }

  /** A failed write/fsync/truncate/checkpoint: never retried, never acknowledged; the partition turns read-only. */
  private fail(e: unknown, group: PendingAppend[], transientOk = true): void {
    if (transientOk && isDescriptorExhaustion(e)) {
      // Out of descriptors before anything was written: this group is refused, the
      // partition stays writable and the next group opens its file again.
      this.t.logger.warn(
        { topicId: this.topicId, partition: this.partition, err: e, openSegmentFiles: this.t.pool.size },
        'out of file descriptors: append refused, partition stays writable',
      );
      const reason = `too many open files (${describeFailure(e)}); retry shortly`;
      for (const a of group) a.resolve(err({ code: 'unavailable', reason }));
      // A failed roll has no group: refuse what waits, or the writer would retry it forever.
      if (group.length === 0) this.failQueued({ code: 'unavailable', reason });
      return;
    }
    const code = ioCode(e);
    const reason = `${code === 'storage_full' ? 'disk full' : 'I/O error'} (${describeFailure(e)})`;
    if (this.readOnlyReason === undefined) {
      this.readOnlyReason = `${reason} (reopen the store to re-verify the partition)`;
      if (code === 'storage_full') this.readOnlyCode = 'storage_full';
    }
    this.t.logger.error(
      { topicId: this.topicId, partition: this.partition, err: e },
      'log write failed: partition is read-only',
    );
    for (const a of group) a.resolve(err({ code, reason }));
    this.failQueued({ code: this.readOnlyCode, reason: this.readOnlyReason });
  }

  private failQueued(error: AppendError): void {
    const keep = this.queue.filter((q) => q.kind === 'task');
    for (const q of this.queue) if (q.kind === 'append') q.resolve(err(error));
    this.queue.splice(0, this.queue.length, ...keep);
  }

  /** Closes the active segment (fsynced, indexes written) and starts a new one at the end offset. */
  private async roll(): Promise<void> {
    const old = this.active;
    if (old.size === 0) return;
    if (this.durableEnd < this.visibleEnd) await old.use((h) => h.datasync());
    this.durableEnd = this.visibleEnd;
    await old.writeIndexFiles();
    const seg = await createSegmentFile(
      this.t.fs,
      this.dir,
      this.visibleEnd,
      this.t.clock(),
      this.t.maxIndexEntries,
      this.t.pool,
    );
    this.segments.push(seg);
    old.index = undefined;
    await old.release();
    await this.checkpoint(this.start, this.positionOf(seg));
  }

  /** The active segment's end as a resume point (call once its data and index files are durable). */
  private positionOf(seg: Segment): RecoveryPosition {
    return {
      segment: seg.baseOffset,
      position: seg.size,
      offset: seg.endOffset,
      index: seg.index!.mark(),
      appendTime: seg.lastAppendTime,
    };
  }

  private async checkpoint(startOffset = this.start, position = this.recoveryPosition): Promise<void> {
    await writeCheckpoint(this.t.fs, this.dir, {
      startOffset,
      recoveryPoint: this.durableEnd,
      recoveryPosition: position,
    });
    this.checkpointed = this.durableEnd;
    this.recoveryPosition = position;
  }

  private corrupt(seg: Segment, position: number, reason: string): never {
    const message = `segment ${seg.fileName}: invalid batch (${reason}) at byte ${position}`;
    this.quarantine(seg, message, { position, reason }, 'log corruption found while reading: partition quarantined');
    throw new LogCorruptionError(message);
  }

  /**
   * Read-only from now on, reported by the store; nothing is truncated or rewritten. A marker
   * file keeps it so across restarts until the damaged segment verifies again.
   */
  private quarantine(seg: Segment, message: string, fields: Record<string, unknown>, logMessage: string): void {
    if (this.quarantineReason) return;
    this.quarantineReason = message;
    this.readOnlyReason = `quarantined: ${message}`;
    this.t.logger.error({ topicId: this.topicId, partition: this.partition, ...fields }, logMessage);
    this.markerWritten = recordQuarantine(
      this.t.fs,
      this.dir,
      { reason: message, segment: seg.baseOffset },
      { logger: this.t.logger, topicId: this.topicId, partition: this.partition },
    );
  }

  /**
   * CRC-checks every batch of the log as it was at open (all of it below the recovery
   * point: closed segments whole, the active one up to where recovery left it), calling
   * `pace` with the bytes read every ~1 MiB; `pace` throttles and answers false to stop.
   * Corruption quarantines the partition as a read that finds it does. Each segment's index
   * (in memory, and the files of a closed one) is compared with one built from the batches
   * scanned, and rebuilt where they differ. Returns the bytes read.
   */
  async scrub(pace: (bytes: number) => Promise<boolean>): Promise<number> {
    let total = 0;
    let pending = 0;
    const stopped = (): boolean => this.closedReason !== undefined || this.quarantineReason !== undefined;
    for (const seg of [...this.segments]) {
      if (seg.baseOffset > this.scrubEnd.segment || stopped()) break;
      const end = seg.baseOffset === this.scrubEnd.segment ? this.scrubEnd.position : seg.size;
      const fresh = new SegmentIndex(this.t.maxIndexEntries);
      let scanned = 0;
      try {
        for await (const b of seg.scan(0, end, seg.baseOffset, 1024 * 1024)) {
          if (stopped()) break;
          if (!b.ok) {
            const offset = b.expectedOffset ?? seg.baseOffset;
            this.quarantine(
              seg,
              `segment ${seg.fileName}: invalid batch (${b.reason}) at byte ${b.position}, offset ${offset}, below the recovery point ${this.scrubEnd.offset} (found by the background scrub)`,
              { position: b.position, offset, reason: b.reason },
              'log corruption found by the background scrub: partition quarantined read-only',
            );
            await this.markerWritten;
            break;
          }
          fresh.onBatch(b.header.baseOffset - seg.baseOffset, b.position, b.header.maxTimestamp);
          scanned = b.position + b.header.sizeBytes;
          pending += b.header.sizeBytes;
          if (pending >= 1024 * 1024) {
            total += pending;
            const go = await pace(pending);
            pending = 0;
            if (!go) return total;
          }
        }
        if (scanned === end && !stopped()) await this.indexes.check(seg, fresh, end);
      } catch (e) {
        // Retention may delete a closed segment (or the topic go) under the scrub: nothing left to check.
        if (seg.baseOffset >= this.start && !this.closedReason) throw e;
      } finally {
        // A closed partition (topic deleted, store closing) already released its files: let this one go too.
        if (this.closedReason || (seg !== this.active && !this.indexes.keeps(seg))) await seg.release();
      }
    }
    total += pending;
    if (pending > 0) await pace(pending);
    return total;
  }

  async read(offset: number, options: ReadOptions): Promise<Result<ReadBatch, ReadError>> {
    const limits = normaliseReadOptions(offset, options);
    const collected = await this.collect(offset, limits, new ReadCollector(offset, limits));
    if (!collected.ok) return collected;
    const result = collected.value.result();
    if (result.records.length > 0) this.t.observer?.read?.(result.records.length);
    return ok(result);
  }

  /**
   * Reads as `read` does, as a run of the log's bytes. A read that continues the one before
   * (from where it ended, with the same limits) has the page after it read ahead (ReadAhead),
   * and takes its own page from there when it was: the same records a read now would give
   * (the page filled its limits, or nothing was appended since), still within the log's range.
   */
  async readRun(offset: number, options: ReadOptions): Promise<Result<RunReadBatch, ReadError>> {
    const limits = normaliseReadOptions(offset, options);
    let collector: RunCollector | undefined;
    const ahead = this.ahead.take(offset, limits);
    if (ahead !== undefined) {
      const page = await ahead;
      const current = page !== undefined && (page.value.collector.done || page.value.end === this.visibleEnd);
      if (current && offset >= this.start && offset <= this.visibleEnd) collector = page.value.collector;
      this.t.observer?.readAhead?.(collector !== undefined);
    }
    if (collector === undefined) {
      const collected = await this.collect(offset, limits, new RunCollector(offset, limits, true));
      if (!collected.ok) return collected;
      collector = collected.value;
    }
    const result = collector.result();
    if (result.run.length > 0) this.t.observer?.read?.(result.run.length);
    // Not once closing: its segments' files are being let go (or deleted with the topic).
    if (this.closedReason) return ok(result);
    this.ahead.served(offset, limits, result.nextOffset, this.visibleEnd, readAheadEstimate(limits), async (next) => {
      if (this.closedReason) throw new Error('read ahead: partition closed');
      const end = this.visibleEnd;
      const read = await this.collect(next, limits, new RunCollector(next, limits, true));
      if (!read.ok) throw new Error(`read ahead: ${read.error.code}`);
      return { value: { collector: read.value, end }, bytes: read.value.heldBytes() };
    });
    return ok(result);
  }

  /** Feeds `collector` the verified batches from `offset` until its limits are reached. */
  private async collect<C extends BatchCollector>(
    offset: number,
    limits: ReadOptions,
    collector: C,
  ): Promise<Result<C, ReadError>> {
    if (offset < this.start || offset > this.visibleEnd) {
      return err({
        code: 'offset_out_of_range',
        requestedOffset: offset,
        startOffset: this.start,
        endOffset: this.visibleEnd,
      });
    }
    if (offset === this.visibleEnd) return ok(collector);
    // Retention replaces the array; a read keeps walking the segments it started with.
    const segments = this.segments;
    if (this.recent.read(offset, collector)) return ok(collector);
    const chunk = readChunk(limits);
    const first = Math.max(
      0,
      floorIndex(segments.length, (i) => segments[i]!.baseOffset, offset),
    );
    for (let i = first; i < segments.length && !collector.done; i++) {
      const seg = segments[i]!;
      try {
        await this.readSegment(seg, offset, collector, chunk);
      } catch (e) {
        // Retention may delete a segment under a slow reader: that reader is now out of range.
        if (offset < this.start) {
          return err({
            code: 'offset_out_of_range',
            requestedOffset: offset,
            startOffset: this.start,
            endOffset: this.visibleEnd,
          });
        }
        throw e;
      }
    }
    return ok(collector);
  }

  /**
   * Feeds `collector` from `seg`, from the index entry at or below `offset`. The first batch
   * read there must start at the entry's offset (the scan checks every later one follows
   * densely); if it does not, the index is rebuilt from the log and the seek repeated, so a
   * damaged index entry never skips records nor fails a read of a healthy log.
   */
  private async readSegment(seg: Segment, offset: number, collector: BatchCollector, chunk: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const entry =
        offset > seg.baseOffset ? (await this.indexes.of(seg)).floorEntry(offset - seg.baseOffset) : NO_ENTRY;
      let first = true;
      let mismatch = false;
      for await (const b of seg.scan(entry[1], seg.size, seg.baseOffset + entry[0], chunk)) {
        if (!b.ok) {
          mismatch = first && entry[1] > 0;
          if (mismatch) break;
          this.corrupt(seg, b.position, b.reason);
        }
        first = false;
        if (b.header.baseOffset + b.header.lastOffsetDelta < offset) continue;
        if (collector.addBatch(b.buf, b.at)) return;
      }
      if (!mismatch) return;
      await this.indexes.mismatch(seg, attempt, entry, 'does not start a valid batch');
    }
  }

  /**
   * Verified batches whose max timestamp is ≥ `timestamp`, in offset order. Segments and
   * batches before the first whose (running) max reaches it hold only older records.
   */
  private async *batchesSince(timestamp: number): AsyncGenerator<ScannedBatch> {
    for (const seg of [...this.segments]) {
      if (seg.maxTimestamp < timestamp) continue;
      for (let attempt = 0; ; attempt++) {
        const index = await this.indexes.of(seg);
        // The time entry is checked against the batches up to the one it names (nothing is
        // yielded before): that batch starts at its offset with its max timestamp, and no
        // batch so far holds a record as new as `timestamp`.
        const time = index.timeFloor(timestamp);
        const entry = time ? index.floorEntry(time[1]) : NO_ENTRY;
        let checked = time === undefined;
        let mismatch: string | undefined;
        let first = true;
        for await (const b of seg.scan(entry[1], seg.size, seg.baseOffset + entry[0])) {
          if (!b.ok) {
            if (first && entry[1] > 0) mismatch = 'does not start a valid batch';
            else this.corrupt(seg, b.position, b.reason);
            break;
          }
          first = false;
          if (!checked) {
            const rel = b.header.baseOffset - seg.baseOffset;
            if (
              b.header.maxTimestamp >= timestamp ||
              rel > time![1] ||
              (rel === time![1] && b.header.maxTimestamp !== time![0])
            ) {
              mismatch = `disagrees with the time index entry (${time![0]} at offset ${seg.baseOffset + time![1]})`;
              break;
            }
            checked = rel === time![1];
          } else if (b.header.maxTimestamp >= timestamp) yield b;
        }
        if (!mismatch && !checked) mismatch = `ends before the time index entry's offset ${seg.baseOffset + time![1]}`;
        if (!mismatch) break;
        await this.indexes.mismatch(seg, attempt, entry, mismatch);
      }
    }
  }

  async offsetForTimestamp(timestamp: number): Promise<number> {
    for await (const b of this.batchesSince(timestamp)) {
      const hit = decodeBatch(b.buf, b.at).records.find((r) => r.timestamp >= timestamp);
      if (hit) return hit.offset;
    }
    return this.visibleEnd;
  }

  waitForData(offset: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.notifier.waitForData(offset, timeoutMs, signal);
  }

  onAppend(listener: (endOffset: number) => void): () => void {
    return this.notifier.onAppend(listener);
  }

  async recentTags(sinceAppendTime: number): Promise<BatchTag[]> {
    const tags: BatchTag[] = [];
    const now = this.t.clock();
    for (const seg of [...this.segments]) {
      if (seg.size === 0 || seg.lastAppendTime < sinceAppendTime) continue;
      const [rel, pos] = await this.appendTimeFloor(seg, sinceAppendTime, now);
      for await (const b of seg.scan(pos, seg.size, seg.baseOffset + rel)) {
        if (!b.ok) this.corrupt(seg, b.position, b.reason);
        const { tag, appendTime } = decodeBatch(b.buf, b.at, 1);
        const h = b.header;
        const at = appendTime ?? Math.min(h.maxTimestamp, now);
        if (tag && at >= sinceAppendTime)
          tags.push({
            baseOffset: h.baseOffset,
            lastOffset: h.baseOffset + h.lastOffsetDelta,
            maxTimestamp: h.maxTimestamp,
            appendTime: at,
            tag: Buffer.from(tag),
          });
      }
    }
    return tags;
  }

  /**
   * An index entry of `seg` (relative offset, position) before which every batch was appended
   * before `since`: a binary search over the offset index, reading one batch per probe (append
   * times grow with offsets), so a restart never rescans whole segments to rebuild idempotency
   * state. Each probe checks the batch starts at its entry's offset.
   */
  private async appendTimeFloor(seg: Segment, since: number, now: number): Promise<[number, number]> {
    for (let attempt = 0; ; attempt++) {
      const index = await this.indexes.of(seg);
      let lo = 0;
      let hi = index.entries - 1;
      let floor = NO_ENTRY;
      let bad: [number, number] | undefined;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const entry = index.entryAt(mid);
        let at: number | undefined;
        for await (const b of seg.scan(entry[1], seg.size, seg.baseOffset + entry[0], 64 * 1024)) {
          if (b.ok) at = batchAppendTime(b.buf, b.at, now);
          break;
        }
        if (at === undefined) {
          bad = entry;
          break;
        }
        if (at < since) {
          floor = entry;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      if (!bad) return floor;
      await this.indexes.mismatch(seg, attempt, bad, 'does not start a valid batch');
    }
  }

  updateConfig(config: PartitionConfig): void {
    assertPartitionConfig(config);
    this.config = config;
  }

  /** Deletes whole closed segments past retention; the start offset is checkpointed first. */
  enforceRetention(now: number): Promise<void> {
    // A read-only partition is left exactly as found until it has been re-verified.
    if (this.closedReason || this.readOnlyReason) return Promise.resolve();
    return this.task(async () => {
      const plan = planRetention(
        this.segments.map((s) => ({ sizeBytes: s.size, lastAppendTime: s.lastAppendTime, empty: s.size === 0 })),
        this.config,
        now,
      );
      if (plan.rollActive) await this.roll();
      if (plan.deleteCount === 0) return;
      const victims = this.segments.slice(0, plan.deleteCount);
      // The new start is durable before anything is deleted; if that fails nothing moves.
      const start = this.segments[plan.deleteCount]!.baseOffset;
      await this.checkpoint(start);
      this.start = start;
      this.segments = this.segments.slice(plan.deleteCount);
      const deletedBytes = victims.reduce((sum, v) => sum + v.size, 0);
      for (const v of victims) {
        this.indexes.forget(v);
        await v.deleteFiles();
      }
      await this.t.fs.syncDir(this.dir);
      this.t.observer?.retentionDeleted?.(victims.length, deletedBytes);
      this.t.logger.info(
        { topicId: this.topicId, partition: this.partition, segments: victims.length, startOffset: this.start },
        'retention deleted segments',
      );
    }).catch((e) => {
      this.t.logger.error({ topicId: this.topicId, partition: this.partition, err: e }, 'retention failed');
      this.fail(e, []);
    });
  }

  /**
   * Makes everything appended durable and moves the recovery point (periodic, off the append
   * path). In order, so a crash at any step leaves a checkpoint that describes the disk: the
   * data is fsynced, then the active segment's index files up to it, then the checkpoint
   * records that position, from which a restart after a crash resumes its scan.
   */
  flush(): Promise<void> {
    if (this.closedReason || this.readOnlyReason) return Promise.resolve();
    return this.task(async () => {
      const seg = this.active;
      if (this.durableEnd < this.visibleEnd) {
        await seg.use((h) => h.datasync());
        this.durableEnd = this.visibleEnd;
      }
      const at = this.recoveryPosition;
      if (at?.segment === seg.baseOffset && at.position === seg.size && this.checkpointed >= this.durableEnd) return;
      await seg.flushIndexFiles();
      await this.checkpoint(this.start, this.positionOf(seg));
    }).catch((e) => this.fail(e, []));
  }

  /**
   * Stops accepting appends, lets queued ones finish, then (when `clean`) syncs, writes the
   * active index and the recovery point. Resolves true when the partition closed cleanly.
   */
  async shutdown(reason: string, clean: boolean): Promise<boolean> {
    if (this.closedReason) return false;
    this.closedReason = reason; // new appends fail `closed`; those already queued still run
    this.ahead.clear();
    let cleanClose = false;
    const finish = this.task(async () => {
      if (!clean || this.readOnlyReason) return;
      await this.active.use((h) => h.datasync());
      this.durableEnd = this.visibleEnd;
      await this.active.writeIndexFiles();
      await this.checkpoint(this.start, this.positionOf(this.active));
      cleanClose = true;
    });
    await finish.catch((e) =>
      this.t.logger.error({ topicId: this.topicId, partition: this.partition, err: e }, 'log close failed'),
    );
    await this.markerWritten;
    this.notifier.close();
    for (const s of this.segments) await s.release();
    return cleanClose;
  }
}
