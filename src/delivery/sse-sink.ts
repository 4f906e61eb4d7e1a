// The narrow port an SSE stream writes to, with backpressure: a Node ServerResponse (real
// sockets, `write()` → false + 'drain') or a web ReadableStream (for `app.request()`).
import type { ServerResponse } from 'node:http';

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
}

/**
 * Write SSE bytes to a Node response through its public API while the framework sends the
 * headers. @hono/node-server writes the status and headers (so CORS and request-id
 * middleware apply) and pumps the returned `body`, which never yields; closing `body` ends
 * the response. Data goes to `res.write()` once the headers are stored.
 *
 * The body is delimited by closing the connection (`Connection: close`, no
 * `Transfer-Encoding`), as an event stream ends only when its connection does: so each
 * `res.write()` of a shared Buffer is one socket write of that very Buffer — fan-out encodes
 * once and never frames or copies per subscriber. `res.write()`'s return value and the
 * response's 'drain' are the backpressure, and the response is corked for the rest of the
 * tick on its first write, so everything written in one tick leaves in one socket write.
 * Writes made before the headers are stored (the `retry:` line, at most one batch) are held
 * and flushed first, in order.
 */
export function nodeResponseSink(res: ServerResponse): { sink: SseSink; body: ReadableStream<Uint8Array> } {
  if (!res.headersSent) {
    res.removeHeader('transfer-encoding');
    res.setHeader('connection', 'close');
  }
  let closed = false;
  let ending = false;
  let ready = false;
  let corked = false;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const closeListeners: Array<() => void> = [];
  const drainListeners: Array<() => void> = [];
  const markClosed = (): void => {
    if (closed) return;
    closed = true;
    for (const listener of closeListeners.splice(0)) listener();
  };
  const body = new ReadableStream<Uint8Array>({
    start: (c) => {
      controller = c;
    },
    cancel: () => markClosed(),
  });
  const finish = (): void => {
    try {
      controller.close();
    } catch {
      // Already cancelled by the server because the client went away.
    }
    markClosed();
  };
  const uncork = (): void => {
    corked = false;
    res.uncork();
  };
  const out = (chunk: Buffer): boolean => {
    if (!corked) {
      corked = true;
      res.cork();
      process.nextTick(uncork);
    }
    return res.write(chunk);
  };
  const becomeReady = (): void => {
    if (closed) return;
    if (!res.headersSent) {
      setImmediate(becomeReady);
      return;
    }
    // Events are small and latency-sensitive: no Nagle delay between them.
    res.socket?.setNoDelay(true);
    ready = true;
    const chunks = pending;
    pending = [];
    pendingBytes = 0;
    for (const chunk of chunks) out(chunk);
    if (ending) finish();
  };
  setImmediate(becomeReady);
  res.on('drain', () => {
    for (const listener of drainListeners) listener();
  });
  res.once('close', markClosed);
  // A reset connection surfaces as 'error' then 'close'; the stream cleans up on 'close'.
  res.on('error', () => {});
  const sink: SseSink = {
    write: (chunk) => {
      if (closed || ending) return false;
      if (!ready) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        return true;
      }
      return out(chunk);
    },
    bufferedBytes: () => res.writableLength + pendingBytes,
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
      if (closed || ending) return;
      ending = true;
      if (ready) finish();
    },
  };
  return { sink, body };
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
