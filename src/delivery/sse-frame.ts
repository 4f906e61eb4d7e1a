// Server-Sent Events wire format: the few frames Sluice sends (records, gaps, errors, shutdown,
// keepalive). JSON never contains a raw CR/LF, so every payload fits one `data:` line.

/** Frame types a client can listen for with `addEventListener(type)`. */
export type SseEventType = 'record' | 'records' | 'gap' | 'error' | 'shutdown';

/** `retry:` tells EventSource how long to wait before reconnecting (ms). */
export function retryFrame(retryMs: number): Buffer {
  return Buffer.from(`retry: ${retryMs}\n\n`);
}

/** A comment line: ignored by clients, keeps proxies and load balancers from timing out. */
export const KEEPALIVE_FRAME: Buffer = Buffer.from(': keepalive\n\n');

/** The `event:`/`data:` head of one record event; the `id:` line and blank line follow. */
export function recordHead(recordJson: string): string {
  return `event: record\ndata: ${recordJson}\n`;
}

/** The `event:`/`data:` head of one batch event (`?batch=true`): a JSON array of records. */
export function recordsHead(recordJsons: readonly string[]): string {
  return `event: records\ndata: [${recordJsons.join(',')}]\n`;
}

/** The tail of an event: its resume cursor, then the blank line that dispatches it. */
export function idTail(cursor: string): string {
  return `id: ${cursor}\n\n`;
}

/**
 * Body of `event: gap`: offsets [from_offset, to_offset) of the partition were deleted by
 * retention before this stream delivered them; the stream goes on from to_offset. Partition,
 * topic and group streams all send exactly this shape.
 */
export interface StreamGap {
  topic: string;
  partition: number;
  from_offset: number;
  to_offset: number;
}

/**
 * `event: gap` with the cursor after the gap as its `id:`, so a client that reconnects right
 * after it resumes past the gap and is never told about it twice.
 */
export function gapFrame(gap: StreamGap, cursor: string): Buffer {
  const body = JSON.stringify({
    topic: gap.topic,
    partition: gap.partition,
    from_offset: gap.from_offset,
    to_offset: gap.to_offset,
  });
  return Buffer.from(`event: gap\ndata: ${body}\nid: ${cursor}\n\n`);
}

/**
 * Body of `event: error`: the stream cannot continue (e.g. the topic was deleted, or a
 * partition's end moved below the stream's position). The server closes right after it.
 */
export interface StreamErrorBody {
  code: string;
  message: string;
  [field: string]: unknown;
}

export function errorFrame(body: StreamErrorBody): Buffer {
  return Buffer.from(`event: error\ndata: ${JSON.stringify(body)}\n\n`);
}

/** Final event before the server closes the stream because it is shutting down. */
export function shutdownFrame(retryMs: number): Buffer {
  const body = JSON.stringify({
    message: 'server shutting down; reconnect to resume',
    retry_ms: retryMs,
  });
  return Buffer.from(`event: shutdown\ndata: ${body}\n\n`);
}
