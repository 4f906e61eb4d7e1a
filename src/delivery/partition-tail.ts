// The live edge of one partition, shared by every SSE subscriber on it: one reader woken by
// appends (never a timer), each batch encoded once and handed to all subscribers at once.
import type { PartitionLog, ReadError } from '../log/index.js';
import { EncodedBatch, type RecordEncoder } from './encoded-batch.js';

/** What a tail needs from a subscriber. Both calls are synchronous and must not throw. */
export interface TailSubscriber {
  /** A batch starting exactly at the subscriber's offset; it must advance to batch.nextOffset. */
  deliver(batch: EncodedBatch): void;
  /** The tail cannot read on; the subscriber has been dropped from it. */
  fail(failure: TailFailure): void;
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
    return this.subscribers.size;
  }

  /** Whether subscribers are attached (then catch-up readers must stop below `position`). */
  get active(): boolean {
    return this.subscribers.size > 0 || this.reading;
  }

  join(subscriber: TailSubscriber, offset: number): JoinResult {
    if (this.disposed) throw new Error('join on a disposed partition tail');
    if (!this.active) this.position = offset;
    if (offset !== this.position) {
      this.disposeIfIdle();
      return offset < this.position ? 'behind' : 'ahead';
    }
    this.subscribers.add(subscriber);
    this.kick();
    return 'joined';
  }

  leave(subscriber: TailSubscriber): void {
    this.subscribers.delete(subscriber);
    this.disposeIfIdle();
  }

  /** Resolves after the tail's next delivery, or when it stops reading. */
  whenAdvanced(): Promise<void> {
    if (!this.reading) return Promise.resolve();
    return new Promise((resolve) => this.advanceWaiters.push(resolve));
  }

  private kick(): void {
    if (this.reading || this.disposed || this.subscribers.size === 0) return;
    if (this.log.endOffset() <= this.position) return;
    this.reading = true;
    void this.readLoop();
  }

  private async readLoop(): Promise<void> {
    try {
      while (this.subscribers.size > 0 && this.position < this.log.endOffset()) {
        const from = this.position;
        const result = await this.log.readRun(from, this.limits);
        if (!result.ok) {
          const subscribers = [...this.subscribers];
          this.subscribers.clear();
          for (const s of subscribers) s.fail({ kind: 'gap', error: result.error });
          break;
        }
        const { run, nextOffset } = result.value;
        // An empty batch that still moves on (a Kafka transaction marker) is delivered too:
        // subscribers advance past it instead of the tail reading the same offset again.
        if (nextOffset <= from) break;
        const batch = EncodedBatch.encode(this.log.partition, run, from, nextOffset, this.encoder);
        this.position = nextOffset;
        for (const s of [...this.subscribers]) s.deliver(batch);
        this.resolveAdvanceWaiters();
      }
    } catch (error) {
      // An I/O fault reading the log: drop the subscribers rather than stall them silently.
      const subscribers = [...this.subscribers];
      this.subscribers.clear();
      const message = `reading partition ${this.log.partition} failed: ${error instanceof Error ? error.message : String(error)}`;
      for (const s of subscribers) s.fail({ kind: 'io', message });
    } finally {
      this.reading = false;
      this.resolveAdvanceWaiters();
      // Appends that raced the last read (or a late joiner) start another round.
      this.kick();
      this.disposeIfIdle();
    }
  }

  private resolveAdvanceWaiters(): void {
    const waiters = this.advanceWaiters;
    this.advanceWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private disposeIfIdle(): void {
    if (this.disposed || this.reading || this.subscribers.size > 0) return;
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
