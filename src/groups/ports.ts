// What consumer groups need from topics and the log, as one narrow port: look topics up by
// name once, then read, wait and measure through handles that never touch the database.
import type { Result } from '../lib/result.js';

export interface GroupReadLimits {
  maxRecords: number;
  maxBytes: number;
}

/** One record as groups see it: its offset (the log's record carries more). */
export interface GroupRecord {
  readonly offset: number;
}

/**
 * The Record JSON of a read's records, written straight to UTF-8 bytes on demand (json values
 * copied from the log, never a string per record), byte-identical to joining each record's
 * Record JSON text.
 */
export interface GroupRecordJson {
  /**
   * `prefix` + each record's Record JSON, joined by commas, + `suffix` (a fetch answer), written
   * into `alloc(size)` (at least `size` bytes; the answer is a view of its start), by default a
   * new buffer.
   */
  join(prefix: string, suffix: string, alloc?: (size: number) => Buffer<ArrayBuffer>): Buffer<ArrayBuffer>;
  /** For each record: `head` + its Record JSON + `tail(record)`; `tail` is called once per record, in order. */
  frames(head: string, tail: (rec: GroupRecord) => string): Buffer<ArrayBuffer>;
}

export interface GroupReadBatch {
  /** How many records were read (in offset order, from the requested offset). */
  count: number;
  /** Their Record JSON. */
  json: GroupRecordJson;
  /** Offset to read next (last returned + 1, or the requested offset when none). */
  nextOffset: number;
  /** Bytes of record data returned, for the fetch-wide max_bytes budget. */
  bytes: number;
}

/** A live topic as groups see it. Every method is in-process (no metadata queries). */
export interface GroupTopicHandle {
  /** The topic's identity (a UUID): cursors name it, so a re-created topic is another topic. */
  readonly id: string;
  readonly name: string;
  readonly partitions: number;
  /**
   * Whether the name still means this topic (not deleted, not re-created under a new id).
   * In-process, so it can be asked inside a group transaction, after the group lock is held.
   */
  isCurrent(): boolean;
  /** Readable range of a partition: first readable offset and the next offset to be written. */
  offsets(partition: number): { start: number; end: number };
  read(
    partition: number,
    offset: number,
    limits: GroupReadLimits,
  ): Promise<Result<GroupReadBatch, { startOffset: number; endOffset: number }>>;
  /** Resolve true once the partition has a record at `offset`; false on timeout or abort. */
  waitForData(partition: number, offset: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  offsetForTimestamp(partition: number, timestamp: number): Promise<number>;
}

export interface GroupTopics {
  /**
   * Look topics up by name; names that do not exist (or are being deleted) are absent from
   * the map. Called outside group transactions: embedded PGlite runs one transaction at a
   * time, so a metadata query inside one would wait on itself.
   */
  lookup(names: readonly string[]): Promise<Map<string, GroupTopicHandle>>;
}
