// The narrow port an SSE stream writes to, with backpressure: a Node response's connection (real
// sockets, `write()` → false + 'drain') or a web ReadableStream (for `app.request()`).
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FeedReader, SseFeed } from './sse-feed.js';
import {
  feedAppended,
  flushSoon,
  joined,
  JOIN_MAX_BYTES,
  queueForRound,
  urgentBacklogBytes,
  type RoundSink,
} from './sse-rounds.js';

export { urgentBacklogBytes } from './sse-rounds.js';

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
class NodeResponseSink implements SseSink, FeedReader, RoundSink {
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
      flushSoon(this);
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
    flushSoon(this);
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
    queueForRound(this);
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
