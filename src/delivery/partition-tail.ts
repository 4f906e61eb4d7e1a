// The live edge of one partition, shared by every SSE subscriber on it: one reader woken by
// appends (never a timer), each batch encoded once and handed to all subscribers at once.
import type { PartitionLog, ReadError } from '../log/index.js';
import { EncodedBatch, type RecordEncoder } from './encoded-batch.js';
import { SseFeed } from './sse-feed.js';

/** What a tail needs from a subscriber. Both calls are synchronous and must not throw. */
export interface TailSubscriber {
  /** A batch starting exactly at the subscriber's offset; it must advance to batch.nextOffset. */
  deliver(batch: EncodedBatch): void;
  /** The tail cannot read on; the subscriber has been dropped from it. */
  fail(failure: TailFailure): void;
  /**
   * Set when the subscriber takes every batch's shared partition frame unchanged: it is not
   * called per batch; the tail appends the frame once to the feed of that kind, which its sink
   * reads (`follow` is called with the feed on joining, at the feed's end = the tail's position).
   */
  readonly shares?: { batchMode: boolean; cursorTag: string; follow(feed: SseFeed): void };
}

/** Why a reader stopped: records deleted by retention before delivery, or an I/O fault. */
export type TailFailure = { kind: 'gap'; error: ReadError } | { kind: 'io'; message: string };

export interface TailReadLimits {
  maxRecords: number;
  maxBytes: number;
}

/** Outcome of asking to join: `behind`/`ahead` mean "catch up from the log" / "wait for the tail". */
export type JoinResult = 'joined' | 'behind' | 'ahead';

/**
 * Invariant: every subscriber in the set is at exactly `position` between deliveries, so one
 * read from `position` is right for all of them. A tail with no subscribers does not read
 * and is disposed; the next joiner re-creates it at its own offset.
 */
export class PartitionTail {
  private readonly subscribers = new Set<TailSubscriber>();
  /** Subscribers reading a feed (not called per batch), with theirs. */
  private readonly sharing = new Map<TailSubscriber, SseFeed>();
  /** One feed per frame kind (batch mode, cursor tag); appended to while it has readers. */
  private readonly feeds = new Map<string, SseFeed>();
  private reading = false;
  private disposed = false;
  private advanceWaiters: Array<() => void> = [];
  private readonly unlisten: () => void;
  /** Next offset the tail will read; all its subscribers are here. */
  position: number;

  constructor(
    readonly log: PartitionLog,
    private readonly encoder: RecordEncoder,
    private readonly limits: TailReadLimits,
    private readonly onDisposed: (tail: PartitionTail) => void,
  ) {
    this.position = log.endOffset();
    this.unlisten = log.onAppend(() => this.kick());
  }

  get subscriberCount(): number {
    return this.subscribers.size + this.sharing.size;
  }

  /** Whether subscribers are attached (then catch-up readers must stop below `position`). */
  get active(): boolean {
    return this.subscriberCount > 0 || this.reading;
  }

  join(subscriber: TailSubscriber, offset: number): JoinResult {
    if (this.disposed) throw new Error('join on a disposed partition tail');
    if (!this.active) this.position = offset;
    if (offset !== this.position) {
      this.disposeIfIdle();
      return offset < this.position ? 'behind' : 'ahead';
    }
    const shares = subscriber.shares;
    if (shares) {
      const key = `${shares.batchMode ? 'b' : 'r'}${shares.cursorTag}`;
      let feed = this.feeds.get(key);
      if (!feed) {
        feed = new SseFeed(this.position);
        this.feeds.set(key, feed);
      } else if (feed.readers.size === 0) feed.reset(this.position);
      this.sharing.set(subscriber, feed);
      shares.follow(feed);
    } else this.subscribers.add(subscriber);
    this.kick();
    return 'joined';
  }

  /** The subscriber leaves (one reading a feed also stops reading it, through its sink). */
  leave(subscriber: TailSubscriber): void {
    this.subscribers.delete(subscriber);
    this.sharing.delete(subscriber);
    this.disposeIfIdle();
  }

  /** Resolves after the tail's next delivery, or when it stops reading. */
  whenAdvanced(): Promise<void> {
    if (!this.reading) return Promise.resolve();
    return new Promise((resolve) => this.advanceWaiters.push(resolve));
  }

  private kick(): void {
    if (this.reading || this.disposed || this.subscriberCount === 0) return;
    if (this.log.endOffset() <= this.position) return;
    this.reading = true;
    void this.readLoop();
  }

  private async readLoop(): Promise<void> {
    try {
      while (this.subscriberCount > 0 && this.position < this.log.endOffset()) {
        const from = this.position;
        const result = await this.log.readRun(from, this.limits);
        if (!result.ok) {
          for (const s of this.dropAll()) s.fail({ kind: 'gap', error: result.error });
          break;
        }
        const { run, nextOffset } = result.value;
        // An empty batch that still moves on (a Kafka transaction marker) is delivered too:
        // subscribers advance past it instead of the tail reading the same offset again.
        if (nextOffset <= from) break;
        const batch = EncodedBatch.encode(this.log.partition, run, from, nextOffset, this.encoder);
        this.position = nextOffset;
        const full: SseFeed[] = [];
        for (const [key, feed] of this.feeds) {
          if (feed.readers.size === 0) continue;
          feed.append(batch.sharedPartitionFrame(key[0] === 'b', key.slice(1)), nextOffset);
          if (feed.heldBytes > feed.budget) full.push(feed);
        }
        if (this.subscribers.size > 0) for (const s of [...this.subscribers]) s.deliver(batch);
        this.resolveAdvanceWaiters();
        // A feed holds what its slowest reader has not written yet: past its budget, read on only
        // once a write round has taken it (each reader then wrote it, or left for the log).
        for (const feed of full) await feed.whenTrimmed();
      }
    } catch (error) {
      // An I/O fault reading the log: drop the subscribers rather than stall them silently.
      const message = `reading partition ${this.log.partition} failed: ${error instanceof Error ? error.message : String(error)}`;
      for (const s of this.dropAll()) s.fail({ kind: 'io', message });
    } finally {
      this.reading = false;
      this.resolveAdvanceWaiters();
      // Appends that raced the last read (or a late joiner) start another round.
      this.kick();
      this.disposeIfIdle();
    }
  }

  /** Every subscriber, removed from the tail (to be told it failed). */
  private dropAll(): TailSubscriber[] {
    const all = [...this.subscribers, ...this.sharing.keys()];
    this.subscribers.clear();
    this.sharing.clear();
    return all;
  }

  private resolveAdvanceWaiters(): void {
    const waiters = this.advanceWaiters;
    this.advanceWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private disposeIfIdle(): void {
    if (this.disposed || this.reading || this.subscriberCount > 0) return;
    this.disposed = true;
    this.unlisten();
    this.onDisposed(this);
  }
}

/** All live partition tails of the process, keyed by partition log. */
export class TailHub {
  private readonly tails = new Map<PartitionLog, PartitionTail>();

  constructor(private readonly limits: TailReadLimits) {}

  /** The tail for `log`, created at `log`'s end if none is live. */
  tail(log: PartitionLog, encoder: RecordEncoder): PartitionTail {
    let tail = this.tails.get(log);
    if (!tail) {
      tail = new PartitionTail(log, encoder, this.limits, (t) => {
        if (this.tails.get(log) === t) this.tails.delete(log);
      });
      this.tails.set(log, tail);
    }
    return tail;
  }

  /** The live tail for `log`, if any (without creating one). */
  peek(log: PartitionLog): PartitionTail | undefined {
    return this.tails.get(log);
  }

  /** Live tails (for metrics and tests). */
  get size(): number {
    return this.tails.size;
  }
}
