// HTTP glue shared by the two SSE routes: query/header schemas and their OpenAPI docs, and
// taking over the raw Node response so writes see real socket backpressure.
import type { ServerResponse } from 'node:http';
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../http/app-env.js';
import type { PartitionLog } from '../log/index.js';
import { ApiError } from '../http/errors.js';
import { HEADER_FILTER_PREFIX, parseRecordFilter, type RecordFilter } from './record-filter.js';
import type { OpenStreamRequest, StartPosition } from './sse-service.js';
import { nodeResponseSink, webStreamSink } from './sse-sink.js';

const TIMESTAMP = /^(0|[1-9][0-9]{0,15})$/;

export const sseQueryFields = {
  timestamp: z
    .string()
    .regex(TIMESTAMP, 'a Unix timestamp in ms (integer ≥ 0)')
    .refine((v) => Number.isSafeInteger(Number(v)), 'a Unix timestamp in ms ≤ 2^53-1')
    .optional()
    .openapi({
      description:
        'Start at the first record whose timestamp is ≥ this (Unix ms), per partition. Not combinable with `from`.',
      example: '1700000000000',
    }),
  last_event_id: z
    .string()
    .optional()
    .openapi({
      description:
        'Resume after this event: the `id:` of the last event received. The `Last-Event-ID` header (sent by ' +
        'EventSource on reconnect) wins over it. Takes precedence over `from`/`timestamp`.',
    }),
  key: z
    .string()
    .optional()
    .openapi({
      description:
        'Only records with exactly this key (UTF-8). Skipped records still advance the cursor. ' +
        'Header filters: `header.<name>=<value>` (repeat a name to accept any of several values); all filters must match.',
    }),
  batch: z
    .enum(['true', 'false'], { error: 'true or false' })
    .optional()
    .openapi({
      description:
        '`true`: one `event: records` per read batch with a JSON array of Records (fewer events under load). ' +
        'Default: one `event: record` per record.',
    }),
};

export const sseHeaders = z.object({
  'last-event-id': z
    .string()
    .optional()
    .openapi({
      param: { name: 'last-event-id', in: 'header' },
      description: 'Resume cursor; EventSource sends it on reconnect. Wins over `?last_event_id=`.',
    }),
});

export const sseStreamDescription =
  'A Server-Sent Events stream. It opens with `retry:`; each record arrives as `event: record` with ' +
  '`data:` a Record JSON and `id:` the resume cursor (with `?batch=true`: `event: records`, a JSON array). ' +
  'A `: keepalive` comment is sent every SLUICE_SSE_KEEPALIVE_MS (default 15 s) unless other bytes went out since the last one. ' +
  'Records deleted by retention before the stream delivered them (a cursor below the retained start, or a slow ' +
  'client that fell behind it) are reported, never skipped silently, as `event: gap` with `data:` ' +
  '`{"topic","partition","from_offset","to_offset"}`: offsets [from_offset, to_offset) of that partition are gone; ' +
  'the stream goes on from to_offset (the partition’s start) and the gap’s `id:` is already past it, so a ' +
  'reconnect never reports it again. Group streams send the same event. ' +
  'When the stream cannot continue it sends `event: error` with `{"code","message",...}` and closes (e.g. the ' +
  'topic was deleted). On server shutdown the last event is `event: shutdown`. ' +
  'A slow client is paused against its socket and catches up from the log; it never grows server memory. ' +
  'The body is delimited by the connection (`Connection: close`, not chunked): the stream ends when it closes. ' +
  'A start position or cursor beyond the end of a partition is refused before the stream opens with 416 ' +
  '`offset_out_of_range` and `partition`, `start_offset`, `end_offset` (as on /records; a non-200 also stops ' +
  'EventSource); exactly at the end is valid and waits for the next record.';

/** The resume cursor: the `Last-Event-ID` header wins over `?last_event_id=`; empty = none. */
export function resumeCursor(c: Context<AppEnv>): string | undefined {
  const header = c.req.header('last-event-id');
  if (header !== undefined && header !== '') return header;
  const query = c.req.query('last_event_id');
  return query !== undefined && query !== '' ? query : undefined;
}

/**
 * A stream may start anywhere up to the partition's end (at the end it waits for the next
 * record); past the end is refused with 416 before the stream opens — the same answer as
 * /records, and a non-200 also stops EventSource from reconnecting with the same position.
 */
export function refusePastEnd(log: PartitionLog, offset: number): void {
  const end = log.endOffset();
  if (offset <= end) return;
  const start = log.startOffset();
  throw new ApiError(
    'offset_out_of_range',
    `offset ${offset} is beyond the end of partition ${log.partition} (readable range [${start}, ${end}]); ` +
      'resume from a cursor this topic issued, or use from=earliest|latest',
    { partition: log.partition, start_offset: start, end_offset: end },
  );
}

/** `from=` and `timestamp=` → where to start when there is no resume cursor. */
export function startPosition(from: string | undefined, timestamp: string | undefined): StartPosition {
  if (from !== undefined && timestamp !== undefined) {
    throw new ApiError('bad_request', 'give either `from` or `timestamp`, not both');
  }
  if (timestamp !== undefined) return { timestamp: Number(timestamp) };
  if (from === undefined || from === 'latest') return { from: 'latest' };
  if (from === 'earliest') return { from: 'earliest' };
  return { offset: Number(from) };
}

const isFilterParam = (name: string): boolean => name === 'key' || name.startsWith(HEADER_FILTER_PREFIX);

/** A 400 naming one query parameter, shaped like a schema validation failure. */
function queryParamError(param: string, message: string): ApiError {
  const field = `query.${param}`;
  return new ApiError('bad_request', `${field}: ${message}`, { issues: [{ field, message }] });
}

/** The `?key=` / `?header.<name>=` filter from the raw query (all values of each name); 400 for `header.` without a name. */
export function filterFromQuery(c: Context<AppEnv>): RecordFilter | null {
  const all = c.req.queries();
  const relevant: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(all)) {
    if (name === HEADER_FILTER_PREFIX)
      throw queryParamError(name, 'a header filter needs a header name: header.<name>=<value>');
    if (isFilterParam(name)) relevant[name] = values;
  }
  return parseRecordFilter(relevant);
}

/**
 * Routes that deliver records but do not filter them refuse `?key=` / `?header.<name>=`: a client
 * that asked for a filter must not silently get (or, in a group, commit) every record.
 */
export function refuseRecordFilters(c: Context<AppEnv>): void {
  const param = Object.keys(c.req.queries()).find(isFilterParam);
  if (param !== undefined)
    throw queryParamError(
      param,
      'this route does not filter records; key= and header.<name>= filters apply to the topic and partition /events streams',
    );
}

/** For the descriptions of routes that call `refuseRecordFilters`. */
export const NO_RECORD_FILTERS_DOC =
  ' Record filters (`key`, `header.<name>`) are not applied here: passing one is a 400 (they work on the topic and partition `/events` streams).';

/**
 * Answer with an SSE stream. Under @hono/node-server the data is written to the raw Node
 * response (real `write()` backpressure, one write per batch, nothing buffered by any
 * middleware); elsewhere (`app.request()`) it flows through a web ReadableStream.
 */
export function respondWithStream(c: Context<AppEnv>, request: Omit<OpenStreamRequest, 'sink'>): Response {
  const { sse } = c.get('services');
  if (sse.closing)
    throw new ApiError('unavailable', 'server is shutting down; reconnect shortly', {}, { 'retry-after': '1' });
  // Middleware headers (request id, CORS) are merged in by hono as for any response.
  const headers = {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
  };
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  const { sink, body } =
    outgoing && typeof outgoing.write === 'function' ? nodeResponseSink(outgoing) : webStreamSink();
  sse.open({ ...request, sink });
  return new Response(body, { status: 200, headers });
}
