// The narrow port an SSE stream writes to, with backpressure: a Node response's connection (real
// sockets, `write()` → false + 'drain') or a web ReadableStream (for `app.request()`).
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FeedReader, SseFeed } from './sse-feed.js';

export interface SseSink {
  /** Queue bytes for the client; false once the sink holds more than its high-water mark. */
  write(chunk: Buffer): boolean;
  /** Bytes accepted by write() but not yet handed to the client's connection. */
  bufferedBytes(): number;
  /** Run `listener` each time the buffer has drained after write() returned false. */
  onDrain(listener: () => void): void;
  /** Run `listener` once when the client is gone or end() has finished. */
  onClose(listener: () => void): void;
  readonly closed: boolean;
  /** Flush what is queued and close the connection. */
  end(): void;
  /**
   * Read `feed` from its end on (see SseFeed): its frames go to the client in the flush rounds
   * as if written, without a write() per frame. If the client holds more than `maxBufferedBytes`
   * the sink calls `onOverflow` (which must unfollow()) and 'drain' follows once it has read.
   * Absent on sinks that cannot share (they get write() per batch).
   */
  follow?(feed: SseFeed, maxBufferedBytes: number, onOverflow: () => void): void;
  /** Stop reading the feed: its frames this sink has not written yet are held as if written. */
  unfollow?(): void;
}

/**
 * Sinks holding bytes for the next flush round. One round writes them all, so a fan-out batch
 * to 10k subscribers schedules one callback, not one per subscriber (with AsyncLocalStorage on,
 * every tick or immediate object also runs the async-hooks init).
 *
 * A round starts once per event-loop turn (setImmediate, after the I/O callbacks of the turn), so
 * everything delivered during the turn leaves together: one socket write per subscriber per
 * round, however many batches it carries. A round of thousands of socket writes takes long
 * (~10–40 µs each on loopback, mostly in the kernel), so it is written in slices of about
 * ROUND_SLICE_MS, one per loop turn: between slices the loop takes in appends, and a subscriber
 * the round has not reached yet gets them in this round (a subscriber waits at most about one
 * round for an event, not the rest of the current round and then its own place in the next one).
 * After a round that spent `d` ms writing, the next one waits until `d × ROUND_HOLD_RATIO` (at
 * most MAX_ROUND_HOLD_MS) has passed; the loop meanwhile takes in appends and acknowledges
 * produces, and the next round carries all of them — under more load than one core can write,
 * rounds grow instead of queueing. A round of fewer than MIN_HELD_ROUND_SINKS sinks holds
 * nothing (it takes microseconds; a longer one is the scheduler's doing, not its writes).
 */
const ROUND_HOLD_RATIO = 0.5;
const MAX_ROUND_HOLD_MS = 1000;
/** Below this the hold is not worth a timer: the round runs on the next loop turn. */
const MIN_ROUND_HOLD_MS = 1;
const MIN_HELD_ROUND_SINKS = 100;
/** A round yields to the loop after writing this long (checked every ROUND_SLICE_CHECK sinks). */
const ROUND_SLICE_MS = 5;
const ROUND_SLICE_CHECK = 32;

/**
 * A round writes each subscriber's held frames as one Buffer (at most JOIN_MAX_BYTES; larger, a
 * catch-up read's batch, goes corked without a copy). Subscribers at the same position hold the
 * same frame Buffers (a batch is encoded once for all), so the round joins each distinct sequence
 * once and every such subscriber's socket gets that one Buffer: one plain write instead of cork,
 * N writes and uncork (~10–20 % less CPU per subscriber with several frames held, measured).
 */
const JOIN_MAX_BYTES = 64 * 1024;
let joinedFrames = new Map<Buffer, { frames: Buffer[]; bytes: Buffer }>();

/** `frames` as one Buffer, shared with every sink of this round that holds the same frames. */
function joined(frames: Buffer[], length: number): Buffer {
  const first = frames[0] as Buffer;
  const known = joinedFrames.get(first);
  if (known && known.frames.length === frames.length && known.frames.every((f, i) => f === frames[i]))
    return known.bytes;
  const bytes = Buffer.concat(frames, length);
  // Replaces a different sequence from the same frame on: the sinks after this one more likely
  // hold this one (an append during the round lengthens the sequence of those not reached yet).
  joinedFrames.set(first, { frames: frames.slice(), bytes });
  return bytes;
}

/** Sinks written to since their turn in the round (or since the last round): the next round. */
let dirty: NodeResponseSink[] = [];
/** Feeds appended to since the last round started: their readers are in the next round. */
let dirtyFeeds: SseFeed[] = [];
/** The feeds of the round being written: trimmed once it is done. */
let roundFeeds: SseFeed[] = [];
/** The round being written, from `roundAt` on (still `queued`); empty between rounds. */
let round: NodeResponseSink[] = [];
let roundAt = 0;
/** Time the current round has spent writing, over its slices (not the loop turns between them). */
let roundWriteMs = 0;
/** A round is scheduled or under way. */
let flushScheduled = false;
/** No round before this time (performance.now()): the hold after the last round. */
let holdUntil = 0;
/**
 * A sink holding this much with an empty socket (a catch-up read's batch, up to 256 KiB) is
 * flushed on the next turn, not held for the round: 64 KiB, or twice the socket's high-water mark
 * where that is larger (16 KiB on Node 20, 64 KiB from Node 22), so the few 10-record batches a
 * live subscriber gathers during a hold still wait for the round.
 */
export function urgentBacklogBytes(socketHighWaterMark: number): number {
  return Math.max(64 * 1024, 2 * socketHighWaterMark);
}
/** Sinks holding urgentBacklogBytes() with an empty socket: flushed on the next turn, not held. */
let urgent: NodeResponseSink[] = [];
let urgentScheduled = false;

function scheduleRound(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  const wait = holdUntil - performance.now();
  if (wait >= MIN_ROUND_HOLD_MS) setTimeout(flushDirty, wait);
  else setImmediate(flushDirty);
}

function flushDirty(): void {
  if (roundAt === 0) {
    // A new round: what was written since the last one. A sink written after its turn (by an
    // append, or by a drain listener its flush ran) goes into the next round.
    const next = dirty;
    dirty = round;
    round = next;
    roundWriteMs = 0;
    // Each reader of a feed appended to since the last round (one append per batch for all of
    // them) is in this round once, like a sink written to.
    for (const feed of dirtyFeeds) {
      feed.queued = false;
      roundFeeds.push(feed);
      for (const reader of feed.readers) {
        const sink = reader as NodeResponseSink;
        if (sink.queued) continue;
        sink.queued = true;
        round.push(sink);
      }
    }
    dirtyFeeds = [];
  }
  const start = performance.now();
  let i = roundAt;
  while (i < round.length) {
    const sink = round[i++] as NodeResponseSink;
    sink.queued = false;
    sink.flush(true);
    if (i % ROUND_SLICE_CHECK === 0 && performance.now() - start >= ROUND_SLICE_MS) break;
  }
  const end = performance.now();
  roundWriteMs += end - start;
  if (i < round.length) {
    roundAt = i;
    setImmediate(flushDirty);
    return;
  }
  const sinks = round.length;
  round.length = 0;
  roundAt = 0;
  if (joinedFrames.size > 0) joinedFrames = new Map();
  for (const feed of roundFeeds) feed.trim();
  roundFeeds = [];
  if (sinks >= MIN_HELD_ROUND_SINKS) holdUntil = end + Math.min(roundWriteMs * ROUND_HOLD_RATIO, MAX_ROUND_HOLD_MS);
  flushScheduled = false;
  if (dirty.length > 0 || dirtyFeeds.length > 0) scheduleRound();
}

/**
 * A feed grew: its readers go into the next round. A small feed's reader (a client replaying on
 * its own tail) with a large backlog and an empty socket is flushed on the next turn, as a sink
 * written that much is (urgentBacklogBytes); a large feed's readers wait for the round together.
 */
function feedAppended(feed: SseFeed): void {
  if (!feed.queued) {
    feed.queued = true;
    dirtyFeeds.push(feed);
    scheduleRound();
  }
  if (feed.readers.size < MIN_HELD_ROUND_SINKS)
    for (const reader of feed.readers) (reader as NodeResponseSink).checkUrgent();
}

function flushUrgent(): void {
  urgentScheduled = false;
  const sinks = urgent;
  urgent = [];
  // Each stays in `dirty` too; its turn in the round then finds nothing left to write.
  for (const sink of sinks) sink.flush();
  for (const sink of sinks) sink.trimFeed();
}

/**
 * Writes SSE bytes to the connection of a Node response while the framework sends the headers.
 * @hono/node-server writes the status and headers (so CORS and request-id middleware apply) and
 * pumps the returned `body`, which never yields; closing `body` ends the response.
 *
 * The body is delimited by closing the connection (`Connection: close`, no
 * `Transfer-Encoding`), as an event stream ends only when its connection does: so once the
 * head is on the socket the body is the socket's bytes, and frames go to `socket.write()`
 * unchanged — fan-out encodes once and never frames or copies per subscriber (several frames
 * are joined once per round for all subscribers holding them, see joined()), and skips the
 * ServerResponse layer (which would add nothing but per-write checks). Writes are held until
 * the next flush round and leave together (one socket write per subscriber per round; corked
 * outside a round or past JOIN_MAX_BYTES); write()'s answer and 'drain' follow the socket's buffer plus what is
 * held. A large backlog of held bytes (urgentBacklogBytes) leaves on the next loop turn,
 * without the round's hold, when the socket itself is empty (a catch-up read, not a slow client).
 * Writes made before the head is on the socket (the `retry:` line, at most one batch) are held
 * and flushed first, in order.
 */
class NodeResponseSink implements SseSink, FeedReader {
  readonly body: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  /** The connection, once the head has been written to it (then the body goes here directly). */
  private socket: Socket | null = null;
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  /** In `dirty`, waiting for the next flush round (set and cleared by the round). */
  queued = false;
  /** In `urgent`, waiting for the next loop turn. */
  private urgent = false;
  /** write() answered false: call the drain listeners once the buffer is below its mark. */
  private wantDrain = false;
  private ending = false;
  private isClosed = false;
  private readonly closeListeners: Array<() => void> = [];
  private readonly drainListeners: Array<() => void> = [];
  /** The feed this sink reads (see follow()), its position in it, and what to do past the budget. */
  private feed: SseFeed | null = null;
  feedPosition = 0;
  private feedBudget = Number.POSITIVE_INFINITY;
  private onOverflow: (() => void) | null = null;

  constructor(private readonly res: ServerResponse) {
    if (!res.headersSent) {
      res.removeHeader('transfer-encoding');
      res.setHeader('connection', 'close');
    }
    this.body = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.controller = c;
      },
      cancel: () => this.markClosed(),
    });
    setImmediate(this.becomeReady);
    res.once('close', () => this.markClosed());
    // A reset connection surfaces as 'error' then 'close'; the stream cleans up on 'close'.
    res.on('error', () => {});
  }

  get closed(): boolean {
    return this.isClosed;
  }

  write(chunk: Buffer): boolean {
    if (this.isClosed || this.ending) return false;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.feed) {
      // Reading a feed (a keepalive comes this way): the same answer, counting the feed's frames held.
      if (this.socket) this.queue();
      if (this.bufferedBytes() < (this.socket ?? this.res).writableHighWaterMark) return true;
      this.wantDrain = true;
      return false;
    }
    const socket = this.socket;
    if (!socket) {
      // Before the head is out the sink only holds: a few writes (the retry: line, one batch)
      // are not backpressure, but a response pipelined behind a slow one may wait for its
      // socket indefinitely, so past the response's mark it says stop like a full socket.
      if (this.pendingBytes < this.res.writableHighWaterMark) return true;
      this.wantDrain = true;
      return false;
    }
    this.queue();
    if (socket.writableLength + this.pendingBytes < socket.writableHighWaterMark) return true;
    if (
      this.pendingBytes >= urgentBacklogBytes(socket.writableHighWaterMark) &&
      socket.writableLength === 0 &&
      !this.urgent
    ) {
      this.urgent = true;
      urgent.push(this);
      if (!urgentScheduled) {
        urgentScheduled = true;
        setImmediate(flushUrgent);
      }
    }
    this.wantDrain = true;
    return false;
  }

  bufferedBytes(): number {
    const fromFeed = this.feed ? this.feed.bytesFrom(this.feedPosition) : 0;
    return (this.socket?.writableLength ?? 0) + this.pendingBytes + fromFeed;
  }

  follow(feed: SseFeed, maxBufferedBytes: number, onOverflow: () => void): void {
    if (this.feed) throw new Error('the sink already follows a feed');
    if (this.isClosed || this.ending) return;
    this.feed = feed;
    this.feedPosition = feed.end;
    this.feedBudget = maxBufferedBytes;
    this.onOverflow = onOverflow;
    feed.budget = Math.min(feed.budget, maxBufferedBytes);
    feed.onAppend ??= feedAppended;
    feed.add(this);
  }

  unfollow(): void {
    const feed = this.feed;
    if (!feed) return;
    // Held as if written: they go out first in this sink's next flush, before anything later.
    if (!this.isClosed) {
      for (const frame of feed.framesFrom(this.feedPosition)) {
        this.pending.push(frame);
        this.pendingBytes += frame.length;
      }
    }
    this.feed = null;
    this.onOverflow = null;
    feed.remove(this);
    if (this.pending.length > 0 && this.socket) this.queue();
  }

  /** The feed grew (a small feed): flush on the next turn if the backlog is large and the socket empty. */
  checkUrgent(): void {
    const socket = this.socket;
    if (!socket || this.urgent || socket.writableLength > 0) return;
    if (this.bufferedBytes() < urgentBacklogBytes(socket.writableHighWaterMark)) return;
    this.urgent = true;
    urgent.push(this);
    if (!urgentScheduled) {
      urgentScheduled = true;
      setImmediate(flushUrgent);
    }
  }

  /** After a flush outside a round: let the feed drop what this sink has written. */
  trimFeed(): void {
    this.feed?.trim();
  }

  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  onClose(listener: () => void): void {
    if (this.isClosed) listener();
    else this.closeListeners.push(listener);
  }

  end(): void {
    if (this.isClosed || this.ending) return;
    this.unfollow();
    this.ending = true;
    if (this.socket) this.finish();
  }

  /**
   * Hand what is held to the socket (in a flush round, or before the response ends); in a round
   * (`inRound`), frames held by other sinks too are joined once for all of them.
   */
  flush(inRound = false): void {
    this.urgent = false;
    const socket = this.socket;
    const feed = this.feed;
    if (!socket) {
      // The head is not out yet (a response pipelined behind another): hold the feed's frames up
      // to the budget, as write() would, then leave it (onOverflow) with them held.
      if (feed && this.pendingBytes + feed.bytesFrom(this.feedPosition) > this.feedBudget) this.overflow();
      return;
    }
    const fromFeed = feed ? feed.bytesFrom(this.feedPosition) : 0;
    if (this.pending.length === 0 && fromFeed === 0) return;
    const pending = this.pending;
    if (this.isClosed || socket.destroyed) {
      pending.length = 0;
      this.pendingBytes = 0;
      if (feed) this.feedPosition = feed.end;
      return;
    }
    if (fromFeed === 0) {
      if (pending.length === 1) socket.write(pending[0] as Buffer);
      else if (inRound && this.pendingBytes <= JOIN_MAX_BYTES) socket.write(joined(pending, this.pendingBytes));
      else this.writeCorked(pending, null);
    } else {
      const feedFrames = fromFeed <= JOIN_MAX_BYTES ? null : (feed as SseFeed).framesFrom(this.feedPosition);
      // The frames from this position on, joined once for every reader at the same position.
      const shared = feedFrames ? null : (feed as SseFeed).joinedFrom(this.feedPosition);
      if (pending.length === 0 && shared) socket.write(shared);
      else this.writeCorked(pending, shared ? [shared] : feedFrames);
      this.feedPosition = (feed as SseFeed).end;
    }
    pending.length = 0;
    this.pendingBytes = 0;
    if (feed && socket.writableLength > this.feedBudget) {
      this.overflow();
      return;
    }
    // The socket took it without asking for a drain: nothing more will come to wait for.
    if (this.wantDrain && !socket.writableNeedDrain) this.drained();
  }

  private writeCorked(first: Buffer[], then: Buffer[] | null): void {
    const socket = this.socket as Socket;
    socket.cork();
    for (const chunk of first) socket.write(chunk);
    if (then) for (const chunk of then) socket.write(chunk);
    socket.uncork();
  }

  /** Too much held for a slow client: the stream leaves the feed and catches up after 'drain'. */
  private overflow(): void {
    this.wantDrain = true;
    const onOverflow = this.onOverflow;
    onOverflow?.();
    // A stream that did not unfollow must not keep the feed from trimming.
    this.unfollow();
  }

  private queue(): void {
    if (this.queued) return;
    this.queued = true;
    dirty.push(this);
    scheduleRound();
  }

  private drained(): void {
    if (!this.wantDrain || this.isClosed) return;
    this.wantDrain = false;
    for (const listener of this.drainListeners) listener();
  }

  /**
   * The head is on the socket once the response has flushed it and holds nothing itself (its
   * writable length is the socket's; a pipelined response waits its turn): from then on the
   * socket's bytes are the body.
   */
  private readonly becomeReady = (): void => {
    if (this.isClosed) return;
    const { res } = this;
    const socket = res.socket;
    if (!socket) {
      // Pipelined behind another response on its connection: Node assigns the socket once that
      // one has finished (and emits 'socket').
      res.once('socket', () => setImmediate(this.becomeReady));
      return;
    }
    if (!res.headersSent) {
      setImmediate(this.becomeReady);
      return;
    }
    // A HEAD request runs the GET route but its answer has no body: nothing to stream.
    if (res.req.method === 'HEAD') {
      this.pending.length = 0;
      this.pendingBytes = 0;
      this.finish();
      return;
    }
    // Stored is not sent: put the head on the wire (a no-op if the framework already did).
    res.flushHeaders();
    if (res.writableLength !== socket.writableLength) {
      setImmediate(this.becomeReady);
      return;
    }
    // Events are small and latency-sensitive: no Nagle delay between them.
    socket.setNoDelay(true);
    socket.on('drain', () => this.drained());
    this.socket = socket;
    // What was held (a feed's rounds skipped this sink while it had no socket) goes out now.
    if (this.bufferedBytes() > 0) this.queue();
    if (this.ending) this.finish();
  };

  private finish(): void {
    this.flush();
    try {
      this.controller.close();
    } catch {
      // Already cancelled by the server because the client went away.
    }
    this.markClosed();
  }

  private markClosed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.unfollow();
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}

/** An SSE sink on a Node response (see NodeResponseSink); `body` is what the route returns. */
export function nodeResponseSink(res: ServerResponse): { sink: SseSink; body: ReadableStream<Uint8Array> } {
  const sink = new NodeResponseSink(res);
  return { sink, body: sink.body };
}

/**
 * An SSE sink whose bytes come out of a web ReadableStream (the Response body), for hosts
 * without a Node response — hono's `app.request()` in route tests. Backpressure follows the
 * stream's byte-length queue: the reader pulling is the 'drain'.
 */
export function webStreamSink(highWaterMark = 64 * 1024): {
  sink: SseSink;
  body: ReadableStream<Uint8Array>;
} {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  const drainListeners: Array<() => void> = [];
  const closeListeners: Array<() => void> = [];
  const markClosed = (): void => {
    if (closed) return;
    closed = true;
    for (const listener of closeListeners.splice(0)) listener();
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start: (c) => {
        controller = c;
      },
      // The reader asking for more is the web-stream equivalent of 'drain'.
      pull: () => {
        for (const listener of drainListeners) listener();
      },
      cancel: () => markClosed(),
    },
    { highWaterMark, size: (chunk) => chunk.byteLength },
  );
  const sink: SseSink = {
    write: (chunk) => {
      if (closed) return false;
      controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      return (controller.desiredSize ?? 0) > 0;
    },
    bufferedBytes: () => highWaterMark - (controller.desiredSize ?? 0),
    onDrain: (listener) => {
      drainListeners.push(listener);
    },
    onClose: (listener) => {
      if (closed) listener();
      else closeListeners.push(listener);
    },
    get closed() {
      return closed;
    },
    end: () => {
      if (closed) return;
      controller.close();
      markClosed();
    },
  };
  return { sink, body };
}
