// The LogStore contract: what every layer above src/log may rely on. Partition logs are
// ordered, dense, durable sequences of records; no file handle or path leaks through here.
import type { Result } from '../lib/result.js';
import type { PackedRecords } from './packed-records.js';
import type { RecordRun } from './record-run.js';

/** One header as Kafka stores it: a UTF-8 key and a byte value (null allowed). */
export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

/** A record to append. Bytes only: value formats (json/string/binary) live above the log. */
export interface RecordInput {
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
  /** Unix ms. */
  timestamp: number;
}

/** What append takes: records as objects, or already laid out by the produce path (PackedRecords). */
export type AppendRecords = RecordInput[] | PackedRecords;

/** A record as read back, with its offset. Buffers may be views into a shared read buffer. */
export interface StoredRecord extends RecordInput {
  offset: number;
}

export type Durability = 'fsync' | 'write';

/** Per-partition settings, taken from the topic's config. */
export interface PartitionConfig {
  /** Roll the active segment when it would exceed this many bytes. */
  segmentBytes: number;
  /** Roll the active segment when its first record is older than this (ms); -1 = never. */
  segmentMs: number;
  /** Delete closed segments whose last append is older than this (ms); -1 = keep forever. */
  retentionMs: number;
  /** Delete oldest closed segments while the partition exceeds this many bytes; -1 = no limit. */
  retentionBytes: number;
}

export interface AppendOptions {
  durability: Durability;
  /**
   * Opaque bytes stored with the batch (at most 4 KiB) and handed back by `recentTags`, so
   * the produce path can rebuild idempotency state from the log after a restart. Never
   * visible to readers.
   */
  tag?: Buffer;
  /** Kafka producer fields written into the batch header (defaults: -1, -1, -1). */
  producer?: { id: bigint; epoch: number; baseSequence: number };
}

export interface AppendResult {
  baseOffset: number;
  /** Offset of the last record appended (baseOffset + count - 1). */
  lastOffset: number;
}

export type AppendError =
  /** The partition refuses writes: a previous write/fsync failed, or corruption was found. */
  | { code: 'partition_read_only'; reason: string }
  /** The disk is full (ENOSPC); nothing from this append is visible. */
  | { code: 'storage_full'; reason: string }
  /** Any other I/O failure (EIO, …); nothing from this append is visible. */
  | { code: 'io_error'; reason: string }
  /** The partition or its store is closed or deleted. */
  | { code: 'closed'; reason: string }
  /** A passing shortage (no file descriptor free): nothing was written, the partition stays writable. */
  | { code: 'unavailable'; reason: string };

export interface ReadOptions {
  /** At most this many records (≥ 1). */
  maxRecords: number;
  /** Stop once this many bytes of record data were returned; at least one record is always returned if one exists. */
  maxBytes: number;
}

export interface ReadBatch {
  records: StoredRecord[];
  /** The offset to read next: last returned offset + 1, or the requested offset if none. */
  nextOffset: number;
}

/** A read answered in place: the records stay in the log's bytes (see RecordRun). */
export interface RunReadBatch {
  run: RecordRun;
  /** As ReadBatch.nextOffset. */
  nextOffset: number;
}

export type ReadError = {
  code: 'offset_out_of_range';
  requestedOffset: number;
  startOffset: number;
  endOffset: number;
};

/** A batch's tag as stored by `append({ tag })`, for rebuilding idempotency state. */
export interface BatchTag {
  baseOffset: number;
  lastOffset: number;
  /** Largest record timestamp in the batch (Unix ms, as producers stamped them). */
  maxTimestamp: number;
  /** When the log appended the batch (Unix ms). */
  appendTime: number;
  tag: Buffer;
}

export interface PartitionLog {
  readonly topicId: string;
  readonly partition: number;
  /** First offset still readable (advances with retention). */
  startOffset(): number;
  /** Offset the next appended record will get (= last offset + 1). */
  endOffset(): number;
  /** Bytes on disk (log segments) for this partition. */
  sizeBytes(): number;
  /** Whether the partition accepts writes; when false, why. */
  writable(): { ok: true } | { ok: false; reason: string };

  /**
   * Append a non-empty batch atomically: either all records become visible with dense
   * offsets, or none do. Resolves only when the batch is as durable as `durability` says.
   * Concurrent appends are serialised; `fsync` appends share one fdatasync (group commit).
   */
  append(records: AppendRecords, options: AppendOptions): Promise<Result<AppendResult, AppendError>>;

  /**
   * Milliseconds the last group commit's fdatasync took, or the one in flight has taken so far
   * if that is longer (0 before the first). Optional: a store without its own fsyncs omits it.
   * The keyless spread reads it (partitioner.ts).
   */
  syncLatencyMs?(): number;

  /**
   * Read from `offset`. `offset === endOffset()` is valid and returns no records;
   * `offset < startOffset()` or `offset > endOffset()` is out of range.
   */
  read(offset: number, options: ReadOptions): Promise<Result<ReadBatch, ReadError>>;

  /**
   * The same read as `read` (same records, limits, nextOffset and errors), answered as a
   * RecordRun: stores that hold batch bytes hand out positions into them instead of one object
   * per record, for encoders that write straight from the bytes (catch-up reads, SSE).
   */
  readRun(offset: number, options: ReadOptions): Promise<Result<RunReadBatch, ReadError>>;

  /** First offset whose record timestamp is ≥ `timestamp`; endOffset() if none. */
  offsetForTimestamp(timestamp: number): Promise<number>;

  /**
   * Resolve once endOffset() > offset (true), or false after timeoutMs or when the signal
   * aborts or the partition closes. Woken by appends, never by polling.
   */
  waitForData(offset: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;

  /** Listen for appends (called with the new endOffset after each visible append). */
  onAppend(listener: (endOffset: number) => void): () => void;

  /**
   * Tags of batches appended at or after `sinceAppendTime` (the log's clock, not the
   * records' timestamps, which producers choose), oldest first.
   */
  recentTags(sinceAppendTime: number): Promise<BatchTag[]>;

  /**
   * Stores that other processes append to (Kafka) implement this: tags of every batch from
   * `fromOffset` (a batch boundary, or below the start) up to the log's current end, and that
   * end, so a node can catch its idempotency state up with what others appended since it looked.
   */
  tagsFrom?(fromOffset: number): Promise<{ tags: BatchTag[]; end: number }>;

  /** Apply new settings (retention, segment size) from now on. */
  updateConfig(config: PartitionConfig): void;
}

/** A partition that recovery found corrupt below its recovery point; served read-only. */
export interface QuarantinedPartition {
  topicId: string;
  partition: number;
  reason: string;
}

export interface RecoveryReport {
  /** Whether the previous shutdown was clean (marker present). */
  cleanShutdown: boolean;
  partitions: number;
  /** Bytes cut from torn tails, per partition where any were cut. */
  truncated: Array<{ topicId: string; partition: number; bytes: number }>;
  quarantined: QuarantinedPartition[];
  /**
   * Bytes of log read and CRC-checked at start-up. After a crash that is what was written
   * since the last flush (and the tails of closed segments), not the retained size.
   * Absent where the store reads no files at start-up.
   */
  scannedBytes?: number;
  durationMs: number;
}

/**
 * Optional hooks for metrics (Prometheus series and the dashboard). Called synchronously on
 * the log's paths, so each must be cheap and must not throw. Times are in seconds.
 */
export interface LogObserver {
  /** A group commit reached the file: its records and bytes, the write's time and the fdatasync's (null: none). */
  written?(w: { records: number; bytes: number; writeSeconds: number; syncSeconds: number | null }): void;
  /** An append was acknowledged, `seconds` after it was called (queueing and group commit included). */
  appended?(seconds: number): void;
  /** A read returned `records` records. */
  read?(records: number): void;
  /** A page read ahead for a sequential reader was used by its read (true), or dropped unused (false). */
  readAhead?(used: boolean): void;
  /** Retention deleted whole segments holding `bytes` bytes. */
  retentionDeleted?(segments: number, bytes: number): void;
  /** The background scrub read and CRC-checked `bytes` more bytes of the log. */
  scrubbed?(bytes: number): void;
  /** A scrub pass over the log as it was at start-up finished, after `seconds`. */
  scrubFinished?(seconds: number): void;
  /** A segment's index disagreed with the log (found at start, by a read or the scrub) and was rebuilt from it. */
  indexRebuilt?(): void;
}

/** An existing log the store did not create (on Kafka: a Kafka topic), as `ExternalLogs.describe` finds it. */
export interface ExternalLog {
  partitions: number;
  /** The settings of the external log that map to PartitionConfig (absent ones keep Sluice's defaults). */
  config: Partial<PartitionConfig>;
}

/**
 * What a store offers that can serve logs it did not create (the Kafka store: existing Kafka
 * topics). A topic bound to an external log reads and appends it; growing it grows the external
 * log; config changes are applied to it; deleting the topic only lets go of it, never deletes it.
 */
export interface ExternalLogs {
  /** The external log named `name`: `missing` when there is none, `own` when it is one of the store's own logs. */
  describe(name: string): Promise<ExternalLog | 'missing' | 'own'>;
}

export interface LogStore {
  /** Recover every partition on disk. Must be called once before anything else. */
  open(): Promise<RecoveryReport>;
  /**
   * Create (or return the existing) partition log; directories are fsynced before it resolves.
   * With `external` (only stores that have `external`), the partition is that existing log's
   * partition instead: pass it on every call for the topic, at start-up too.
   */
  createPartition(
    topicId: string,
    partition: number,
    config: PartitionConfig,
    options?: { external?: string },
  ): Promise<PartitionLog>;
  /** Present when the store can expose logs it did not create (see ExternalLogs). */
  readonly external?: ExternalLogs;
  /**
   * Present when the log's own system keeps consumer-group offsets (Kafka): record `offsets`
   * (the next record to read, per partition of Sluice topic ids) as group `group`'s there.
   */
  mirrorGroupOffsets?(
    group: string,
    offsets: Array<{ topicId: string; partition: number; offset: number }>,
  ): Promise<void>;
  getPartition(topicId: string, partition: number): PartitionLog | undefined;
  /** Topic ids with data on disk, for reconciling with metadata after a crash. */
  topicIds(): string[];
  /** Partitions of a topic present on disk. */
  partitions(topicId: string): number[];
  /** Remove a topic's data (all partitions); waiters are woken and further appends fail `closed`. */
  deleteTopic(topicId: string): Promise<void>;
  /**
   * Present when several nodes share the log (Kafka): let go of a topic another node deleted, as
   * deleteTopic does here (waiters woken, further appends fail `closed`) without asking the log's
   * system to remove the data: the deleting node does that, and the data may be gone already.
   */
  releaseTopic?(topicId: string): Promise<void>;
  /** Apply retention to every partition now (also runs on a timer inside the store). */
  enforceRetention(now?: number): Promise<void>;
  quarantined(): QuarantinedPartition[];
  /** Finish in-flight appends, sync, write the clean-shutdown marker, release everything. */
  close(): Promise<void>;
}
