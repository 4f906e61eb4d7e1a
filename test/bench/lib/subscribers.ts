// Consumers that time delivery: SSE subscribers (one socket each, thousands per process) and
// a long-poll loop. Both pull the send timestamps out of what arrives without a JSON parse.
import http from 'node:http';
import type { Dispatcher } from 'undici';
import { nowMs } from './histogram.js';
import { timestampsIn } from './records.js';

export type OnDelivered = (sentAtMs: number[], receivedAtMs: number) => void;

/**
 * What a subscriber's event stream brings, timed: text is cut at its last newline (the rest is
 * carried into the next chunk) and the send timestamps of the whole lines go to `onDelivered`.
 */
export class DeliveryLines {
  events = 0;
  private carry = '';

  constructor(private readonly onDelivered: OnDelivered) {}

  push(chunk: string, receivedAtMs: number): void {
    const text = this.carry + chunk;
    const cut = text.lastIndexOf('\n');
    this.carry = text.slice(cut + 1);
    const ts = timestampsIn(text.slice(0, cut + 1));
    if (ts.length) {
      this.events += ts.length;
      this.onDelivered(ts, receivedAtMs);
    }
  }
}

export interface Subscription {
  /** Resolves once the response head (200) arrived; rejects on a non-200 or socket error. */
  readonly ready: Promise<void>;
  events(): number;
  close(): void;
}

/** An SSE subscriber on its own socket (no agent pooling, as browsers' EventSource). */
export function subscribeSse(url: string, onDelivered: OnDelivered): Subscription {
  const lines = new DeliveryLines(onDelivered);
  let req: http.ClientRequest | undefined;
  let closed = false;
  const ready = new Promise<void>((resolve, reject) => {
    req = http.get(url, { agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => reject(new Error(`SSE ${url} → ${res.statusCode}: ${body.slice(0, 300)}`)));
        return;
      }
      resolve();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => lines.push(chunk, nowMs()));
      res.on('error', () => undefined);
    });
    req.on('error', (e) => (closed ? resolve() : reject(e)));
  });
  ready.catch(() => undefined);
  return {
    ready,
    events: () => lines.events,
    close: () => {
      closed = true;
      req?.destroy();
    },
  };
}

export interface LongPoller {
  events(): number;
  stop(): Promise<void>;
}

/**
 * A long-poll loop: `next(cursor)` builds the request path, the answer's records are timed
 * and `advance` pulls the next cursor out of the response (body or headers).
 */
export function longPoll(
  pool: Dispatcher,
  start: string,
  next: (cursor: string) => string,
  advance: (body: string, headers: Record<string, string | string[] | undefined>) => string | null,
  onDelivered: OnDelivered,
): LongPoller {
  let stopped = false;
  let events = 0;
  const ac = new AbortController();
  const loop = (async () => {
    let cursor = start;
    while (!stopped) {
      try {
        const res = await pool.request({ method: 'GET', path: next(cursor), signal: ac.signal });
        const body = await res.body.text();
        const at = nowMs();
        if (res.statusCode !== 200 && res.statusCode !== 204)
          throw new Error(`long-poll → ${res.statusCode}: ${body.slice(0, 300)}`);
        const ts = timestampsIn(body);
        if (ts.length) {
          events += ts.length;
          onDelivered(ts, at);
        }
        cursor = advance(body, res.headers) ?? cursor;
      } catch (e) {
        if (stopped) return;
        throw e;
      }
    }
  })();
  return {
    events: () => events,
    stop: async () => {
      stopped = true;
      ac.abort();
      await loop.catch(() => undefined);
    },
  };
}
