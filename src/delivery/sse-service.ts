// Opens SSE streams: owns the shared partition tails, the one keepalive timer for all
// streams, and their registration with the shutdown registry (a final event, then close).
import type { PartitionLog } from '../log/index.js';
import { TailHub, type TailReadLimits } from './partition-tail.js';
import type { RecordFilter } from './record-filter.js';
import { shutdownFrame } from './sse-frame.js';
import type { SseSink } from './sse-sink.js';
import { SseStream, type StreamPartition } from './sse-stream.js';
import type { StreamRegistry } from './stream-registry.js';

export interface SseServiceOptions {
  registry: StreamRegistry;
  /** Interval of `: keepalive` comments (SLUICE_SSE_KEEPALIVE_MS). */
  keepaliveMs: number;
  /** Reconnect delay sent as `retry:` (ms). */
  retryMs?: number;
  /** Socket buffer above which a subscriber leaves the live fan-out to catch up on its own. */
  maxBufferedBytes?: number;
  /** Batch size for a stream's own catch-up reads (and for the shared tails unless tailReadLimits is given). */
  readLimits?: TailReadLimits;
  /** Batch size for the shared partition tails' reads. */
  tailReadLimits?: TailReadLimits;
}

export interface OpenStreamRequest {
  kind: 'partition' | 'topic';
  /** The topic's name, for `event: gap`. */
  topic: string;
  /** For shutdown logs, e.g. "sse orders/3". */
  description: string;
  partitions: StreamPartition[];
  filter: RecordFilter | null;
  batchMode: boolean;
  sink: SseSink;
  /** The topic's id: deleting the topic ends the stream at once (see endTopic). */
  topicId?: string;
  isGone?: () => boolean;
  /**
   * For a topic stream: the partitions from `from` to the topic's current count, to stream from
   * their first record (see growTopic); empty when the topic has no more.
   */
  partitionsFrom?: (from: number) => StreamPartition[];
}

export const DEFAULT_SSE_RETRY_MS = 2_000;
/** Enough to keep a fast client streaming through short hiccups; the bound per slow client. */
export const DEFAULT_SSE_MAX_BUFFERED_BYTES = 1024 * 1024;
export const DEFAULT_SSE_READ_LIMITS: TailReadLimits = {
  maxRecords: 1_000,
  maxBytes: 256 * 1024,
};
/**
 * A tail's read is encoded once and shared by all its subscribers (a frame per read, not per
 * client), so it can be larger: a stream replaying from the start rides its own tail, and
 * reads much shorter than the log's batches (a produce call's 5000 records are one batch)
 * would read and CRC-check each batch several times over.
 */
export const DEFAULT_SSE_TAIL_READ_LIMITS: TailReadLimits = {
  maxRecords: 10_000,
  maxBytes: 1024 * 1024,
};

export class SseService {
  readonly hub: TailHub;
  private readonly streams = new Set<SseStream>();
  private readonly topicOf = new Map<SseStream, string>();
  private readonly growers = new Map<SseStream, (from: number) => StreamPartition[]>();
  private timer: NodeJS.Timeout | undefined;
  private readonly retryMs: number;
  private readonly maxBufferedBytes: number;
  private readonly readLimits: TailReadLimits;

  constructor(private readonly options: SseServiceOptions) {
    this.retryMs = options.retryMs ?? DEFAULT_SSE_RETRY_MS;
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_SSE_MAX_BUFFERED_BYTES;
    this.readLimits = options.readLimits ?? DEFAULT_SSE_READ_LIMITS;
    this.hub = new TailHub(options.tailReadLimits ?? options.readLimits ?? DEFAULT_SSE_TAIL_READ_LIMITS);
  }

  /** Whether new streams are refused because shutdown has begun. */
  get closing(): boolean {
    return this.options.registry.closing;
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** A snapshot for metrics and tests: how many streams, how many live, what they buffer. */
  stats(): { open: number; live: number; tails: number; bufferedBytes: number; maxBufferedBytes: number } {
    let live = 0;
    let bufferedBytes = 0;
    let maxBufferedBytes = 0;
    for (const stream of this.streams) {
      if (stream.isLive) live++;
      const buffered = stream.bufferedBytes;
      bufferedBytes += buffered;
      maxBufferedBytes = Math.max(maxBufferedBytes, buffered);
    }
    return { open: this.streams.size, live, tails: this.hub.size, bufferedBytes, maxBufferedBytes };
  }

  /**
   * Start streaming to `request.sink`; the stream ends itself on disconnect or shutdown.
   * Once shutdown has begun the client gets only the final `shutdown` event.
   */
  open(request: OpenStreamRequest): SseStream {
    let unregister: (() => void) | undefined;
    const stream = new SseStream({
      kind: request.kind,
      topic: request.topic,
      partitions: request.partitions,
      filter: request.filter,
      batchMode: request.batchMode,
      sink: request.sink,
      hub: this.hub,
      retryMs: this.retryMs,
      maxBufferedBytes: this.maxBufferedBytes,
      readLimits: this.readLimits,
      ...(request.isGone ? { isGone: request.isGone } : {}),
      onEnd: () => {
        this.streams.delete(stream);
        this.topicOf.delete(stream);
        this.growers.delete(stream);
        unregister?.();
        if (this.streams.size === 0) this.dispose();
      },
    });
    try {
      unregister = this.options.registry.register({
        description: request.description,
        close: () => stream.end(shutdownFrame(this.retryMs)),
      });
    } catch {
      stream.end(shutdownFrame(this.retryMs));
      return stream;
    }
    this.streams.add(stream);
    if (request.topicId !== undefined) this.topicOf.set(stream, request.topicId);
    if (request.partitionsFrom) this.growers.set(stream, request.partitionsFrom);
    // One timer for every stream (10k clients must not mean 10k timers), only while any is open.
    this.timer ??= setInterval(() => {
      for (const s of [...this.streams]) s.keepalive();
    }, this.options.keepaliveMs).unref();
    stream.start();
    return stream;
  }

  /** End every open stream of a deleted topic now (collected first: ending one edits the maps). */
  endTopic(topicId: string): void {
    const doomed = [...this.topicOf].filter(([, id]) => id === topicId).map(([stream]) => stream);
    for (const stream of doomed) stream.endDeleted();
  }

  /**
   * A topic gained partitions: its open topic streams take them in, from their first record (so
   * a stream that stays open misses nothing, as a reconnect with its cursor would not).
   */
  growTopic(topicId: string): void {
    const growing = [...this.topicOf].filter(([, id]) => id === topicId).map(([stream]) => stream);
    for (const stream of growing) {
      const grow = this.growers.get(stream);
      if (grow) stream.addPartitions(grow(stream.partitionCount));
    }
  }

  /** Stop the keepalive timer (it restarts with the next stream; streams end via the registry). */
  dispose(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** Where a stream starts in one partition, before any resume cursor is applied. */
export type StartPosition = { from: 'earliest' | 'latest' } | { offset: number } | { timestamp: number };

/**
 * The next offset to deliver for `start`. An explicit offset is returned as given: below the
 * log start the stream sends `event: gap` and goes on from the start; beyond the end the
 * route answers 416 before the stream opens.
 */
export async function resolveStartOffset(log: PartitionLog, start: StartPosition): Promise<number> {
  if ('offset' in start) return start.offset;
  if ('timestamp' in start) return log.offsetForTimestamp(start.timestamp);
  return start.from === 'earliest' ? log.startOffset() : log.endOffset();
}
