// Sparse offset index (relative offset → file position) and time index (running max
// timestamp → relative offset) of one segment: growable typed arrays mirrored to files.
import { floorIndex } from './floor-index.js';

/**
 * What a flush made durable of an index: how many offset and time entries the files hold,
 * and the newest time entry as it was then (it may be raised in place afterwards, so the
 * file's copy of it is not trusted), with the position it was added at.
 */
export interface IndexMark {
  entries: number;
  timeEntries: number;
  lastTimestamp: number;
  lastTimeRel: number;
  lastTimePosition: number;
}

/** Bytes of log between two offset-index (and time-index) entries. */
export const INDEX_INTERVAL_BYTES = 4096;
const OFFSET_ENTRY_BYTES = 8;
const TIME_ENTRY_BYTES = 12;

function grow<T extends Int32Array | Float64Array>(arr: T, make: (n: number) => T): T {
  const next = make(Math.max(16, arr.length * 2));
  next.set(arr);
  return next;
}

/**
 * Entries are a pure function of the batch sequence (positions, sizes, timestamps), so an
 * index rebuilt from the log equals the one built while appending.
 */
export class SegmentIndex {
  private rel = new Int32Array(0);
  private pos = new Int32Array(0);
  private count = 0;
  private timeTs = new Float64Array(0);
  private timeRel = new Int32Array(0);
  private timeCount = 0;
  private lastTimePos = 0;
  /** Largest timestamp seen so far in this segment (-1 when empty). */
  runningMax = -1;

  constructor(readonly maxEntries: number) {}

  get entries(): number {
    return this.count;
  }

  /** Whether another entry might not fit: the segment should roll. */
  isFull(): boolean {
    return this.count >= this.maxEntries - 1 || this.timeCount >= this.maxEntries - 1;
  }

  /** Records a batch at `position` (relative base offset `relOffset`), in log order. */
  onBatch(relOffset: number, position: number, maxTimestamp: number): void {
    const lastPos = this.count > 0 ? this.pos[this.count - 1]! : 0;
    if (position - lastPos >= INDEX_INTERVAL_BYTES) {
      if (this.count === this.rel.length) {
        this.rel = grow(this.rel, (n) => new Int32Array(n));
        this.pos = grow(this.pos, (n) => new Int32Array(n));
      }
      this.rel[this.count] = relOffset;
      this.pos[this.count] = position;
      this.count++;
    }
    if (maxTimestamp > this.runningMax) {
      this.runningMax = maxTimestamp;
      if (this.timeCount === 0 || position - this.lastTimePos >= INDEX_INTERVAL_BYTES) {
        this.addTime(maxTimestamp, relOffset);
        this.lastTimePos = position;
      } else {
        // Keep the newest entry exact for the batch it names: raise it in place.
        this.timeTs[this.timeCount - 1] = maxTimestamp;
        this.timeRel[this.timeCount - 1] = relOffset;
      }
    }
  }

  private addTime(ts: number, relOffset: number): void {
    if (this.timeCount === this.timeTs.length) {
      this.timeTs = grow(this.timeTs, (n) => new Float64Array(n));
      this.timeRel = grow(this.timeRel, (n) => new Int32Array(n));
    }
    this.timeTs[this.timeCount] = ts;
    this.timeRel[this.timeCount] = relOffset;
    this.timeCount++;
  }

  /**
   * The last entry whose relative offset is ≤ relOffset, as [relative offset, position]:
   * the batch at that position must start at exactly that offset (callers check it, the
   * files are only a hint). [0, 0], the segment's start, when there is none.
   */
  floorEntry(relOffset: number): [number, number] {
    const i = floorIndex(this.count, (j) => this.rel[j]!, relOffset);
    return i < 0 ? [0, 0] : [this.rel[i]!, this.pos[i]!];
  }

  /**
   * Where to scan from for the first record with timestamp ≥ ts, as [max timestamp, relative
   * offset]: the batch starting at that offset has exactly that max timestamp, and it and every
   * batch before it hold only older records (callers check it). Undefined: from the start.
   */
  timeFloor(ts: number): [number, number] | undefined {
    // Timestamps are integer ms: "< ts" is "≤ ts - 1".
    const i = floorIndex(this.timeCount, (j) => this.timeTs[j]!, ts - 1);
    return i < 0 ? undefined : [this.timeTs[i]!, this.timeRel[i]!];
  }

  /**
   * Whether this index holds what `fresh`, built from this segment's batches below byte
   * `end`, does: the same entries for that part (but the newest time entry, which later
   * batches may raise in place, unless `whole`: `end` is the segment's end) and no other
   * offset entry before `end`.
   */
  agreesWith(fresh: SegmentIndex, end: number, whole: boolean): boolean {
    const n = fresh.count;
    if (this.count < n || (whole ? this.count > n : this.count > n && this.pos[n]! < end)) return false;
    for (let i = 0; i < n; i++) if (this.rel[i] !== fresh.rel[i] || this.pos[i] !== fresh.pos[i]) return false;
    const t = whole ? fresh.timeCount : Math.max(0, fresh.timeCount - 1);
    if (this.timeCount < t || (whole && this.timeCount > t)) return false;
    for (let i = 0; i < t; i++)
      if (this.timeTs[i] !== fresh.timeTs[i] || this.timeRel[i] !== fresh.timeRel[i]) return false;
    return true;
  }

  /**
   * The two files' contents: Kafka-sized entries, big-endian. With `fromEntry`/`fromTime`
   * only the entries from there on (for writing a file's tail in place).
   */
  serialize(fromEntry = 0, fromTime = 0): { index: Buffer; timeIndex: Buffer } {
    const index = Buffer.allocUnsafe(Math.max(0, this.count - fromEntry) * OFFSET_ENTRY_BYTES);
    for (let i = fromEntry; i < this.count; i++) {
      index.writeInt32BE(this.rel[i]!, (i - fromEntry) * OFFSET_ENTRY_BYTES);
      index.writeInt32BE(this.pos[i]!, (i - fromEntry) * OFFSET_ENTRY_BYTES + 4);
    }
    const timeIndex = Buffer.allocUnsafe(Math.max(0, this.timeCount - fromTime) * TIME_ENTRY_BYTES);
    for (let i = fromTime; i < this.timeCount; i++) {
      timeIndex.writeBigInt64BE(BigInt(this.timeTs[i]!), (i - fromTime) * TIME_ENTRY_BYTES);
      timeIndex.writeInt32BE(this.timeRel[i]!, (i - fromTime) * TIME_ENTRY_BYTES + 8);
    }
    return { index, timeIndex };
  }

  /** Entry counts and the newest time entry now: what a checkpoint records after the files are written. */
  mark(): IndexMark {
    const t = this.timeCount - 1;
    return {
      entries: this.count,
      timeEntries: this.timeCount,
      lastTimestamp: t >= 0 ? this.timeTs[t]! : -1,
      lastTimeRel: t >= 0 ? this.timeRel[t]! : 0,
      lastTimePosition: this.lastTimePos,
    };
  }

  /**
   * The index as `mark` recorded it, from files that may have grown since (a later flush
   * whose checkpoint never landed): only the marked prefix is read, the newest time entry
   * comes from the mark. Undefined when the files are too short or the entries are not
   * plausible for a segment whose checkpointed part ends at byte `endPosition` before
   * relative offset `endRel` (the caller then scans the segment from its start).
   */
  static restore(
    index: Buffer,
    timeIndex: Buffer,
    mark: IndexMark,
    endPosition: number,
    endRel: number,
    maxEntries: number,
  ): SegmentIndex | undefined {
    const timeFromFile = Math.max(0, mark.timeEntries - 1);
    // No bound by `maxEntries` here: a group of many batches can carry an index past it (the
    // segment rolls at the next group), and the files themselves bound what the mark may claim.
    if (index.length < mark.entries * OFFSET_ENTRY_BYTES || timeIndex.length < timeFromFile * TIME_ENTRY_BYTES)
      return undefined;
    const idx = SegmentIndex.parse(
      index.subarray(0, mark.entries * OFFSET_ENTRY_BYTES),
      timeIndex.subarray(0, timeFromFile * TIME_ENTRY_BYTES),
      endPosition,
      endRel - 1,
      maxEntries,
    );
    if (!idx) return undefined;
    if (mark.timeEntries > 0) {
      const prevTs = idx.timeCount > 0 ? idx.timeTs[idx.timeCount - 1]! : -Infinity;
      const prevRel = idx.timeCount > 0 ? idx.timeRel[idx.timeCount - 1]! : 0;
      const { lastTimestamp: ts, lastTimeRel: rel, lastTimePosition: at } = mark;
      if (ts <= prevTs || rel < prevRel || rel >= endRel || at < 0 || at >= Math.max(endPosition, 1)) return undefined;
      idx.addTime(ts, rel);
      idx.runningMax = ts;
      idx.lastTimePos = at;
    }
    return idx;
  }

  /** Entries as plain arrays (tests compare a live index with a fresh rebuild). */
  snapshot(): { offsets: Array<[number, number]>; times: Array<[number, number]> } {
    return {
      offsets: Array.from({ length: this.count }, (_, i) => [this.rel[i]!, this.pos[i]!]),
      times: Array.from({ length: this.timeCount }, (_, i) => [this.timeTs[i]!, this.timeRel[i]!]),
    };
  }

  /**
   * Parses index files written by `serialize`, or undefined when they are not plausible for
   * a segment of `segmentSize` bytes and `maxRel + 1` offsets (the caller then rebuilds).
   */
  static parse(
    index: Buffer,
    timeIndex: Buffer,
    segmentSize: number,
    maxRel: number,
    maxEntries: number,
  ): SegmentIndex | undefined {
    if (index.length % OFFSET_ENTRY_BYTES || timeIndex.length % TIME_ENTRY_BYTES) return undefined;
    const idx = new SegmentIndex(maxEntries);
    let prevRel = -1;
    let prevPos = 0;
    for (let at = 0; at < index.length; at += OFFSET_ENTRY_BYTES) {
      const rel = index.readInt32BE(at);
      const pos = index.readInt32BE(at + 4);
      if (rel <= prevRel || rel > maxRel || pos - prevPos < INDEX_INTERVAL_BYTES || pos >= segmentSize)
        return undefined;
      idx.onBatch(rel, pos, -1);
      prevRel = rel;
      prevPos = pos;
    }
    let prevTs = -Infinity;
    prevRel = -1;
    for (let at = 0; at < timeIndex.length; at += TIME_ENTRY_BYTES) {
      const ts = Number(timeIndex.readBigInt64BE(at));
      const rel = timeIndex.readInt32BE(at + 8);
      if (ts <= prevTs || rel < prevRel || rel > maxRel) return undefined;
      idx.addTime(ts, rel);
      prevTs = ts;
      prevRel = rel;
    }
    idx.runningMax = idx.timeCount > 0 ? idx.timeTs[idx.timeCount - 1]! : -1;
    return idx;
  }

  /** The i-th offset entry as (relative offset, position). */
  entryAt(i: number): [number, number] {
    return [this.rel[i]!, this.pos[i]!];
  }

  /** Last indexed (relative offset, position), to resume a scan from; [0, 0] when none. */
  lastEntry(): [number, number] {
    return this.count > 0 ? [this.rel[this.count - 1]!, this.pos[this.count - 1]!] : [0, 0];
  }
}
