// The frames a partition tail hands to every subscriber that takes them unchanged, appended once
// per batch and read by each subscriber's sink from its own position (no write() per subscriber).
/** A sink reading the feed; the feed only reads its position (to trim what all have written). */
export interface FeedReader {
  /** Index of the next entry the reader has not handed to its connection (absolute, see SseFeed.end). */
  readonly feedPosition: number;
}

/**
 * An append-only list of encoded frames with the offset after each, shared by its readers. Entries
 * every reader has passed are trimmed (trim()); `heldBytes` is what the slowest reader still
 * needs, and the tail that appends waits (whenTrimmed()) while it is over `budget`, so a feed
 * never holds more than about one budget plus one batch. Positions are absolute entry counts,
 * so trimming never moves a reader.
 */
export class SseFeed {
  /** Entries from `base` on: a frame (null for a batch without records, e.g. a transaction marker). */
  private readonly frames: Array<Buffer | null> = [];
  /** The offset after each entry. */
  private readonly nextOffsets: number[] = [];
  /** Bytes before each entry, counted from `base`; one more element than `frames` (the total). */
  private readonly starts: number[] = [0];
  private base = 0;
  /** The offset at `base` (before its entry). */
  private baseOffset: number;
  private readonly joins = new Map<number, Buffer>();
  private trimWaiters: Array<() => void> = [];
  readonly readers = new Set<FeedReader>();
  /** Bytes the slowest reader may hold before the appending tail waits for a round to write them. */
  budget = Number.POSITIVE_INFINITY;
  /** Called after each append (the sink module schedules the readers' next write round). */
  onAppend: ((feed: SseFeed) => void) | null = null;
  /** Waiting for the next write round (maintained by the sink module). */
  queued = false;

  constructor(offset: number) {
    this.baseOffset = offset;
  }

  /** Absolute index after the last entry. */
  get end(): number {
    return this.base + this.frames.length;
  }

  /** The offset after the last entry: where every reader is once it has written all. */
  get endOffset(): number {
    return this.nextOffsets.length > 0 ? (this.nextOffsets[this.nextOffsets.length - 1] as number) : this.baseOffset;
  }

  /** Bytes between the oldest entry kept and the end. */
  get heldBytes(): number {
    return this.starts[this.frames.length] as number;
  }

  /** An idle feed (no readers) starts over at `offset`, the tail's position when a reader joins. */
  reset(offset: number): void {
    if (this.readers.size > 0) throw new Error('reset of a feed with readers');
    this.base = this.end;
    this.frames.length = 0;
    this.nextOffsets.length = 0;
    this.starts.length = 1;
    this.baseOffset = offset;
    this.joins.clear();
  }

  append(frame: Buffer | null, nextOffset: number): void {
    this.starts.push(this.heldBytes + (frame?.length ?? 0));
    this.frames.push(frame);
    this.nextOffsets.push(nextOffset);
    this.joins.clear();
    this.onAppend?.(this);
  }

  /** A new reader starts at the end. */
  add(reader: FeedReader): void {
    this.readers.add(reader);
  }

  /** The reader leaves; an emptied feed drops its entries (and releases a waiting tail). */
  remove(reader: FeedReader): void {
    if (!this.readers.delete(reader) || this.readers.size > 0) return;
    this.reset(this.endOffset);
    this.releaseTrimWaiters();
  }

  /** Bytes from `position` to the end. */
  bytesFrom(position: number): number {
    const i = position - this.base;
    return this.heldBytes - (this.starts[i] ?? this.heldBytes);
  }

  /** The frames from `position` to the end, in order (none once trimmed past it). */
  framesFrom(position: number): Buffer[] {
    const out: Buffer[] = [];
    for (let i = Math.max(0, position - this.base); i < this.frames.length; i++) {
      const frame = this.frames[i];
      if (frame) out.push(frame);
    }
    return out;
  }

  /**
   * The frames from `position` to the end as one Buffer, shared by every reader at that position
   * until the next append (a lone frame is returned as is); null when there are no bytes.
   */
  joinedFrom(position: number): Buffer | null {
    const known = this.joins.get(position);
    if (known) return known;
    const frames = this.framesFrom(position);
    if (frames.length === 0) return null;
    const bytes = frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames, this.bytesFrom(position));
    this.joins.set(position, bytes);
    return bytes;
  }

  /** Drop the entries every reader has passed; a tail waiting for room goes on. */
  trim(): void {
    let min = this.end;
    for (const reader of this.readers) if (reader.feedPosition < min) min = reader.feedPosition;
    const drop = min - this.base;
    if (drop > 0) {
      this.baseOffset = this.nextOffsets[drop - 1] as number;
      const dropped = this.starts[drop] as number;
      this.frames.splice(0, drop);
      this.nextOffsets.splice(0, drop);
      this.starts.splice(0, drop);
      for (let i = 0; i < this.starts.length; i++) this.starts[i] = (this.starts[i] as number) - dropped;
      this.base = min;
      this.joins.clear();
    }
    if (this.heldBytes <= this.budget) this.releaseTrimWaiters();
  }

  /** Resolves once the feed holds no more than its budget (or has no readers). */
  whenTrimmed(): Promise<void> {
    if (this.heldBytes <= this.budget || this.readers.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.trimWaiters.push(resolve));
  }

  private releaseTrimWaiters(): void {
    const waiters = this.trimWaiters;
    this.trimWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
