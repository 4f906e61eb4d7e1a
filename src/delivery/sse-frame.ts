// Server-Sent Events wire format: the few frames Sluice sends (records, errors, shutdown,
// keepalive). JSON never contains a raw CR/LF, so every payload fits one `data:` line.

/** Frame types a client can listen for with `addEventListener(type)`. */
export type SseEventType = 'record' | 'records' | 'error' | 'shutdown';

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
 * Body of `event: error`: the stream cannot continue (e.g. records were deleted by
 * retention before they were delivered). The server closes right after sending it.
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
