// The protocol's SSE read mode: `event: data` (text lines, a JSON array, or base64) each
// followed by `event: control`; ends after a closed stream's final control, on delete or age.
import type { StreamRegistry } from '../delivery/stream-registry.js';
import type { StoredRecord } from '../log/index.js';
import { isJsonContentType, isTextContentType } from './content-type.js';
import type { StreamsService } from './streams-service.js';
import { nextCursor } from './stream-http.js';

type OpenStream = Parameters<StreamsService['readAt']>[0];

export interface SseOptions {
  streams: StreamsService;
  registry: StreamRegistry;
  state: OpenStream;
  from: number;
  cursor: string | undefined;
  /** Connections end after this long so proxies and CDNs can collapse them (~60 s). */
  maxAgeMs: number;
  /** Longest wait between events: an idle stream gets a `: keepalive` comment this often. */
  keepaliveMs: number;
  signal: AbortSignal;
}

const enc = (s: string) => Buffer.from(s, 'utf8');

/**
 * One `data:` line. No space after the colon (what the reference server and its suite expect),
 * except before a line that itself starts with a space: SSE parsers drop one leading space.
 */
const dataLine = (line: string) => (line.startsWith(' ') ? `data: ${line}` : `data:${line}`);

/** `event: data` frame for a batch of records, per the stream's content type. */
export function dataFrame(contentType: string, records: readonly StoredRecord[]): Buffer {
  if (isJsonContentType(contentType)) {
    const body = records.map((r) => (r.value ?? Buffer.from('null')).toString('utf8')).join(',');
    // JSON text as stored never holds a raw line break (JSON.stringify escapes them).
    return enc(`event: data\ndata:[${body}]\n\n`);
  }
  const bytes = Buffer.concat(records.map((r) => r.value ?? Buffer.alloc(0)));
  if (!isTextContentType(contentType)) return enc(`event: data\ndata:${bytes.toString('base64')}\n\n`);
  // Every line break form splits `data:` lines, so a payload can never end an event early.
  const lines = bytes.toString('utf8').split(/\r\n|\r|\n/);
  return enc(`event: data\n${lines.map(dataLine).join('\n')}\n\n`);
}

function controlFrame(fields: Record<string, unknown>): Buffer {
  return enc(`event: control\ndata:${JSON.stringify(fields)}\n\n`);
}

/** The SSE body: a pull-driven stream, so a slow client is read from the log at its own pace. */
export function sseBody(o: SseOptions): ReadableStream<Uint8Array> {
  const { streams, state } = o;
  const contentType = streams.view(state).contentType;
  const started = Date.now();
  const ac = new AbortController();
  const abort = () => ac.abort();
  o.signal.addEventListener('abort', abort, { once: true });
  let position = o.from;
  let cursor = o.cursor;
  let done = false;
  let unregister: (() => void) | undefined;
  const finish = (controller: ReadableStreamDefaultController<Uint8Array>) => {
    if (done) return;
    done = true;
    o.signal.removeEventListener('abort', abort);
    unregister?.();
    try {
      controller.close();
    } catch {
      // already closed by a cancel
    }
  };
  const control = (upToDate: boolean, eof: boolean): Buffer => {
    const next = streams.offsetToken(state, position);
    if (eof) return controlFrame({ streamNextOffset: next, streamClosed: true, upToDate: true });
    cursor = nextCursor(cursor);
    return controlFrame({ streamNextOffset: next, streamCursor: cursor, ...(upToDate && { upToDate: true }) });
  };
  let first = true;

  return new ReadableStream<Uint8Array>({
    start() {
      try {
        unregister = o.registry.register({
          description: `durable stream sse ${state.topic.name}`,
          close: () => ac.abort(),
        });
      } catch {
        ac.abort(); // shutting down
      }
    },
    async pull(controller) {
      for (;;) {
        if (done) return;
        if (ac.signal.aborted || streams.isDeleted(state) || Date.now() - started >= o.maxAgeMs) {
          finish(controller);
          return;
        }
        const read = await streams.readAt(state, position);
        if (!read.ok) {
          finish(controller);
          return;
        }
        const r = read.value;
        if (r.records.length > 0) {
          position = r.next;
          controller.enqueue(Buffer.concat([dataFrame(contentType, r.records), control(r.upToDate, r.eof)]));
          first = false;
          if (r.eof) finish(controller);
          return;
        }
        if (r.eof) {
          controller.enqueue(control(true, true));
          finish(controller);
          return;
        }
        if (first) {
          first = false;
          controller.enqueue(control(true, false));
          return;
        }
        const left = Math.max(0, o.maxAgeMs - (Date.now() - started));
        const woke = await streams.waitAt(state, position, Math.min(o.keepaliveMs, left), ac.signal);
        if (woke === 'deleted') {
          finish(controller);
          return;
        }
        if (woke === 'timeout' && !ac.signal.aborted && Date.now() - started < o.maxAgeMs) {
          controller.enqueue(enc(': keepalive\n\n'));
          return;
        }
      }
    },
    cancel() {
      ac.abort();
      done = true;
      o.signal.removeEventListener('abort', abort);
      unregister?.();
    },
  });
}
