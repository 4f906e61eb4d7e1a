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
 * Take over a Node response for an SSE stream: headers are written and flushed at once so
 * the client sees the stream open before the first record, and Nagle is disabled so small
 * events leave immediately.
 */
export function nodeResponseSink(res: ServerResponse, headers: Record<string, string>): SseSink {
  res.writeHead(200, headers);
  res.flushHeaders();
  res.socket?.setNoDelay(true);
  let closed = false;
  const closeListeners: Array<() => void> = [];
  res.once('close', () => {
    closed = true;
    for (const listener of closeListeners.splice(0)) listener();
  });
  // A reset connection surfaces as 'error' then 'close'; the stream cleans up on 'close'.
  res.on('error', () => {});
  return {
    write: (chunk) => (closed ? false : res.write(chunk)),
    bufferedBytes: () => res.writableLength,
    onDrain: (listener) => {
      res.on('drain', listener);
    },
    onClose: (listener) => {
      if (closed) listener();
      else closeListeners.push(listener);
    },
    get closed() {
      return closed;
    },
    end: () => {
      if (!closed) res.end();
    },
  };
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
