// One open SSE stream (a partition, or every partition of a topic): live from the shared
// partition tails while the client keeps up, reading the log itself while it does not.
import type { PartitionLog, ReadError, StoredRecord } from '../log/index.js';
import { encodePartitionCursor, encodeTopicCursor, topicCursorTag } from './cursor.js';
import type { EncodedBatch, RecordEncoder } from './encoded-batch.js';
import { EncodedBatch as Batch } from './encoded-batch.js';
import type { PartitionTail, TailFailure, TailHub, TailReadLimits, TailSubscriber } from './partition-tail.js';
import { matchesFilter, type RecordFilter } from './record-filter.js';
import type { SseFeed } from './sse-feed.js';
import { KEEPALIVE_FRAME, errorFrame, gapFrame, retryFrame, type StreamErrorBody } from './sse-frame.js';
import type { SseSink } from './sse-sink.js';

export interface StreamPartition {
  log: PartitionLog;
  encoder: RecordEncoder;
  /** Next offset to deliver (already resolved from from=/timestamp=/cursor). */
  nextOffset: number;
}

export interface SseStreamOptions {
  /** `topic` streams carry topic cursors and `partitions[i]` must be partition i. */
  kind: 'partition' | 'topic';
  /** The topic's name, for `event: gap`. */
  topic: string;
  partitions: StreamPartition[];
  filter: RecordFilter | null;
  /** `?batch=true`: one `records` event per read batch instead of one event per record. */
  batchMode: boolean;
  sink: SseSink;
  hub: TailHub;
  retryMs: number;
  /** Detach from the live fan-out once this many bytes wait in the socket buffer. */
  maxBufferedBytes: number;
  /** Limits for this stream's own catch-up reads (also bounds memory per slow client). */
  readLimits: TailReadLimits;
  /** True once the partition's topic was deleted: the stream then ends with an error. */
  isGone?: () => boolean;
  /** Called once when the stream has ended, for whatever reason. */
  onEnd?: () => void;
}

interface Lane {
  index: number;
  spec: StreamPartition;
  tail: PartitionTail | null;
  subscriber: TailSubscriber;
  /** While live on a tail that appends this lane's frames to a feed its sink reads. */
  feed: SseFeed | null;
  /** The feed's end at the last keepalive tick (it moved: bytes went out since). */
  feedMark: number;
}

/**
 * Lifecycle: start() writes `retry:` and catches every partition up from the log until it
 * reaches the partition's tail, then joins it. When the socket buffer passes
 * maxBufferedBytes the stream leaves all tails and, after 'drain', catches up again from its
 * own offsets — so a slow client costs at most maxBufferedBytes plus one read batch.
 */
export class SseStream {
  private readonly lanes: Lane[];
  /** Next offset per lane: the topic cursor vector (or the single partition offset). */
  private readonly offsets: number[];
  private liveCount = 0;
  private closed = false;
  private catchingUp = false;
  private needDrain = false;
  private wakeups: Array<() => void> = [];
  /** Bytes went out since the last keepalive tick (then the client needs no keepalive). */
  private wroteSinceKeepalive = false;
  /** Names the topic id in topic cursors, so a deleted topic's cursor never fits its successor. */
  private readonly cursorTag: string;
  /**
   * Live batches reach this stream as its tail's shared frames, unchanged (a partition stream
   * without filters on a sink that can read a feed): the tail appends each frame once to a feed
   * the sinks of all such streams read, instead of a deliver() and a write() per subscriber.
   */
  private readonly sharesFrames: boolean;

  constructor(private readonly options: SseStreamOptions) {
    this.offsets = options.partitions.map((p) => p.nextOffset);
    const first = options.partitions[0];
    this.cursorTag = first ? topicCursorTag(first.log.topicId) : '';
    const { sink } = options;
    this.sharesFrames = options.kind === 'partition' && !options.filter && !!sink.follow && !!sink.unfollow;
    this.lanes = options.partitions.map((spec, index) => this.lane(spec, index));
    options.sink.onDrain(() => {
      this.needDrain = false;
      this.wake();
    });
    options.sink.onClose(() => this.release());
  }

  private lane(spec: StreamPartition, index: number): Lane {
    const lane: Lane = {
      index,
      spec,
      tail: null,
      subscriber: undefined as unknown as TailSubscriber,
      feed: null,
      feedMark: -1,
    };
    const { sink, batchMode, maxBufferedBytes } = this.options;
    const shares = this.sharesFrames
      ? {
          batchMode,
          cursorTag: this.cursorTag,
          follow: (feed: SseFeed) => {
            lane.feed = feed;
            lane.feedMark = feed.end;
            sink.follow?.(feed, maxBufferedBytes, () => {
              // Past the bound for a slow client: as deliverLive does, leave and catch up after 'drain'.
              this.needDrain = true;
              this.detachAll();
            });
          },
        }
      : undefined;
    lane.subscriber = {
      deliver: (batch) => this.deliverLive(lane, batch),
      ...(shares && { shares }),
      fail: (failure) => {
        lane.tail = null;
        this.leaveFeed(lane);
        this.liveCount--;
        // Retention passed the tail: this lane reads on its own, which reports the gap.
        if (failure.kind === 'gap') void this.catchUp();
        else this.fail(lane, failure);
      },
    };
    return lane;
  }

  /** How many partitions this stream covers. */
  get partitionCount(): number {
    return this.lanes.length;
  }

  /**
   * The topic grew while this stream ran: cover `added` too (a topic stream only; `added[i]` is
   * partition `partitionCount + i`), caught up from their `nextOffset` and then live.
   */
  addPartitions(added: StreamPartition[]): void {
    if (this.closed || this.options.kind !== 'topic' || added.length === 0) return;
    for (const spec of added) {
      this.offsets.push(spec.nextOffset);
      this.lanes.push(this.lane(spec, this.lanes.length));
    }
    // A catch-up pass already running picks the new lanes up on its next round; wake it.
    this.wake();
    void this.catchUp();
  }

  /** Current cursor positions (next offset per partition), for tests and diagnostics. */
  get nextOffsets(): readonly number[] {
    // A lane reading a feed is at its end: every frame in it is this stream's to write.
    return this.lanes.map((lane, i) => lane.feed?.endOffset ?? (this.offsets[i] as number));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes queued for this client and not yet taken by its connection. */
  get bufferedBytes(): number {
    return this.closed ? 0 : this.options.sink.bufferedBytes();
  }

  /** Whether every partition is attached to its live tail. */
  get isLive(): boolean {
    return this.liveCount === this.lanes.length;
  }

  start(): void {
    this.write(retryFrame(this.options.retryMs));
    void this.catchUp();
  }

  /**
   * Send `: keepalive` if nothing else went out since the last tick and the client is not behind
   * (then it needs no more bytes): a stream that carries events needs no keepalives, and 10k
   * busy streams must not mean 10k extra socket writes per tick.
   */
  keepalive(): void {
    if (this.closed) return;
    if (this.options.isGone?.()) {
      this.endDeleted();
      return;
    }
    let fed = false;
    for (const lane of this.lanes) {
      if (!lane.feed) continue;
      if (lane.feed.end !== lane.feedMark) fed = true;
      lane.feedMark = lane.feed.end;
    }
    if (!this.needDrain && !this.wroteSinceKeepalive && !fed) this.write(KEEPALIVE_FRAME);
    this.wroteSinceKeepalive = false;
  }

  /** Its topic was deleted: end with an error event (a reconnect then learns 404, or 410 for a topic cursor). */
  endDeleted(): void {
    this.end(errorFrame({ code: 'topic_not_found', message: 'the topic was deleted while streaming' }));
  }

  /** End the stream: write `final` (if any), close the connection, release every resource. */
  end(final?: Buffer): void {
    if (this.closed) return;
    // What the feeds hold for this client goes out before the final event.
    for (const lane of this.lanes) this.leaveFeed(lane);
    if (final) this.options.sink.write(final);
    this.options.sink.end();
    this.release();
  }

  private write(frame: Buffer): boolean {
    this.wroteSinceKeepalive = true;
    const ok = this.options.sink.write(frame);
    if (!ok) this.needDrain = true;
    return ok;
  }

  private frameFor(batch: EncodedBatch): Buffer | null {
    const { filter, batchMode, kind } = this.options;
    const keep = filter ? (r: StoredRecord) => matchesFilter(filter, r) : null;
    if (kind === 'partition') {
      return keep
        ? batch.frameFor(keep, batchMode, undefined, this.cursorTag)
        : batch.sharedPartitionFrame(batchMode, this.cursorTag);
    }
    if (!keep && this.liveCount === this.lanes.length)
      return batch.sharedTopicFrame(this.offsets, batchMode, this.cursorTag);
    return batch.frameFor(keep, batchMode, this.offsets, this.cursorTag);
  }

  private deliverLive(lane: Lane, batch: EncodedBatch): void {
    if (this.closed) return;
    const frame = this.frameFor(batch);
    this.offsets[lane.index] = batch.nextOffset;
    if (!frame || this.write(frame)) return;
    if (this.options.sink.bufferedBytes() > this.options.maxBufferedBytes) this.detachAll();
  }

  /** Too far behind: stop taking live batches; catch up from the log after 'drain'. */
  private detachAll(): void {
    for (const lane of this.lanes) {
      if (!lane.tail) continue;
      const tail = lane.tail;
      lane.tail = null;
      tail.leave(lane.subscriber);
      this.leaveFeed(lane);
    }
    this.liveCount = 0;
    void this.catchUp();
  }

  /** Stop reading the lane's feed: its frames not yet written are held by the sink, this lane is past them. */
  private leaveFeed(lane: Lane): void {
    const feed = lane.feed;
    if (!feed) return;
    lane.feed = null;
    this.offsets[lane.index] = feed.endOffset;
    this.options.sink.unfollow?.();
  }

  private async catchUp(): Promise<void> {
    if (this.catchingUp || this.closed) return;
    this.catchingUp = true;
    try {
      while (!this.closed) {
        if (this.needDrain) {
          await this.sleep();
          continue;
        }
        const pending = this.lanes.filter((lane) => !lane.tail);
        if (pending.length === 0) return;
        let progressed = false;
        const waits: Array<Promise<void>> = [];
        for (const lane of pending) {
          if (this.closed || this.needDrain) break;
          const step = await this.catchUpLane(lane);
          if (step === 'progressed') progressed = true;
          else if (step !== 'joined') waits.push(step.wait);
        }
        if (!progressed && waits.length > 0 && !this.needDrain) await Promise.race([...waits, this.sleep()]);
      }
    } catch (error) {
      this.fail(null, {
        kind: 'io',
        message: error instanceof Error ? error.message : String(error),
      });
    } finally {
      this.catchingUp = false;
    }
  }

  /** One step for one partition: join its tail, or read and write one batch from the log. */
  private async catchUpLane(lane: Lane): Promise<'joined' | 'progressed' | { wait: Promise<void> }> {
    const { hub, readLimits } = this.options;
    const { log, encoder } = lane.spec;
    const offset = this.offsets[lane.index] as number;
    // Below the start: report the gap here; a tail joined there would only fail again.
    const start = log.startOffset();
    if (offset < start) {
      this.skipGap(lane, offset, start);
      return 'progressed';
    }
    const tail = hub.tail(log, encoder);
    const joined = tail.join(lane.subscriber, offset);
    if (joined === 'joined') {
      lane.tail = tail;
      this.liveCount++;
      return 'joined';
    }
    if (joined === 'ahead') return { wait: tail.whenAdvanced() };
    const result = await log.readRun(offset, readLimits);
    if (this.closed) return 'progressed';
    if (!result.ok) {
      const { requestedOffset, startOffset } = result.error;
      if (requestedOffset < startOffset) this.skipGap(lane, requestedOffset, startOffset);
      else this.fail(lane, { kind: 'gap', error: result.error });
      return 'progressed';
    }
    let { run, nextOffset } = result.value;
    // Never pass the live tail: it will deliver from its position to us once we join.
    const live = hub.peek(log);
    const bound = live?.active ? live.position : Number.POSITIVE_INFINITY;
    if (nextOffset > bound) {
      run = run.slice(run.countBelow(bound));
      nextOffset = bound;
    }
    if (nextOffset === offset) return live ? { wait: live.whenAdvanced() } : 'progressed';
    const frame = this.frameFor(Batch.encode(log.partition, run, offset, nextOffset, encoder));
    this.offsets[lane.index] = nextOffset;
    if (frame) this.write(frame);
    return 'progressed';
  }

  /**
   * Retention deleted [from, to) before this stream delivered it: say so with `event: gap`
   * (its id already past the gap) and go on from `to` — never close, or a reconnecting
   * EventSource would ask for the same deleted offsets forever.
   */
  private skipGap(lane: Lane, from: number, to: number): void {
    this.offsets[lane.index] = to;
    const cursor =
      this.options.kind === 'topic'
        ? encodeTopicCursor(this.offsets, this.cursorTag)
        : encodePartitionCursor(to, this.cursorTag);
    const partition = lane.spec.log.partition;
    this.write(gapFrame({ topic: this.options.topic, partition, from_offset: from, to_offset: to }, cursor));
  }

  private fail(lane: Lane | null, failure: TailFailure): void {
    if (this.closed) return;
    // Deleting the topic removes its files under a read walking them: end as its deletion ends
    // a stream, not with the file system's error.
    if (failure.kind === 'io' && this.options.isGone?.()) {
      this.endDeleted();
      return;
    }
    const partition = lane?.spec.log.partition;
    this.end(
      errorFrame(
        failure.kind === 'gap'
          ? gapError(failure.error, partition ?? -1)
          : { code: 'internal', message: failure.message },
      ),
    );
  }

  /** Resolves on the next drain, close, or other wake-up. */
  private sleep(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.wakeups.push(resolve));
  }

  private wake(): void {
    const wakeups = this.wakeups;
    this.wakeups = [];
    for (const resolve of wakeups) resolve();
  }

  private release(): void {
    if (this.closed) return;
    this.closed = true;
    for (const lane of this.lanes) {
      const tail = lane.tail;
      lane.tail = null;
      tail?.leave(lane.subscriber);
      this.leaveFeed(lane);
    }
    this.liveCount = 0;
    this.wake();
    this.options.onEnd?.();
  }
}

/**
 * The `event: error` body for a position beyond a partition's end (its end moved below the
 * stream, e.g. a quarantine). Positions below the start are gaps, reported with `event: gap`.
 */
export function gapError(error: ReadError, partition: number): StreamErrorBody {
  const { requestedOffset, startOffset, endOffset } = error;
  return {
    code: 'offset_out_of_range',
    message: `offset ${requestedOffset} is beyond the end of partition ${partition} (end offset ${endOffset})`,
    partition,
    requested_offset: requestedOffset,
    start_offset: startOffset,
    end_offset: endOffset,
  };
}
