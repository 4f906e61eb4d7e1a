// GET and HEAD /v1/stream/{path} — read a Durable Stream: catch-up by opaque offset (ETag /
// 304), long-poll with Stream-Cursor, or SSE; HEAD answers metadata only.
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { parseStreamOffset } from '../../durable-streams/stream-offset.js';
import {
  bad,
  etagFor,
  ifNoneMatchHits,
  nextCursor,
  renderBody,
  requestStreamPath,
  streamApiError,
  streamHeaders,
} from '../../durable-streams/stream-http.js';
import { sseBody } from '../../durable-streams/stream-sse.js';
import { isJsonContentType, isTextContentType } from '../../durable-streams/content-type.js';
import type { ReadOutcome } from '../../durable-streams/streams-service.js';
import type { AppEnv, RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { registerStreamRoute, StreamPathParam, StreamReadQuery, streamResponseHeaders } from './stream-schemas.js';

const readHeaders = {
  ...streamResponseHeaders,
  'Stream-Up-To-Date': { description: '`true` when the answer reaches the tail.', schema: { type: 'string' as const } },
  'Stream-Cursor': { description: 'Echo as `cursor=` on the next long-poll.', schema: { type: 'string' as const } },
  ETag: {
    description: 'Names the stream incarnation and the range (and whether it ends the stream).',
    schema: { type: 'string' as const },
  },
};

export const readStreamRoute = createRoute({
  method: 'get',
  path: '/v1/stream/{path}',
  tags: ['Durable Streams'],
  operationId: 'readStream',
  summary: 'Read a stream (catch-up, long-poll or SSE)',
  description:
    'Durable Streams protocol (PROTOCOL.md §5.6–5.8, §8). Offsets are opaque: `<16-digit Sluice offset>_<tag>`, the ' +
    'next record’s offset in the stream’s topic and a tag of the topic id, so they sort, stay valid across restarts, ' +
    'and an offset of a deleted stream is refused (410) by a new stream at the same path. 410 also when retention ' +
    '(the topic’s `retention_ms`/`retention_bytes`, -1 by default) removed the records an offset points at. ' +
    'Catch-up answers at most 1 MiB per request (`Stream-Up-To-Date` only when it reaches the tail); JSON streams ' +
    'answer a JSON array of messages. Long-poll waits up to SLUICE_STREAM_LONG_POLL_MS (204 on timeout). SSE ' +
    'sends `event: data` (text, a JSON array, or base64 with `Stream-SSE-Data-Encoding: base64` for non-text types) ' +
    'each followed by `event: control`, and ends after SLUICE_STREAM_SSE_MAX_MS. Reads renew a Stream-TTL. ' +
    'A live read (`live=long-poll` or `live=sse`) holds a stream slot like any SSE stream or long-poll: beyond ' +
    'SLUICE_KEY_MAX_STREAMS it is a 429 `key_max_streams`, beyond SLUICE_MAX_STREAMS a 503 `max_streams`.',
  request: { params: StreamPathParam, query: StreamReadQuery },
  responses: {
    200: {
      description: 'Data from the offset (possibly none); SSE: an event stream',
      headers: readHeaders,
      content: {
        '*/*': {
          schema: z.unknown().openapi({
            description:
              'The stream’s bytes from the offset, in its content type (JSON streams: a JSON array of messages).',
          }),
        },
        'text/event-stream': {
          schema: z.unknown().openapi({
            description:
              '`event: data` (the stream’s bytes: text lines, a JSON array, or base64) and `event: control` (JSON: ' +
              '`streamNextOffset`, `streamCursor`, `upToDate`, `streamClosed`) events.',
          }),
        },
      },
    },
    204: { description: 'Long-poll timed out, or the stream is closed at this offset', headers: readHeaders },
    304: { description: 'Not modified (If-None-Match matched the ETag)' },
    ...errorResponses(400, 404, 410),
  },
});

export const headStreamRoute = createRoute({
  method: 'head',
  path: '/v1/stream/{path}',
  tags: ['Durable Streams'],
  operationId: 'headStream',
  summary: 'Stream metadata',
  description:
    'Content type, tail offset, Stream-TTL / Stream-Expires-At and Stream-Closed, with `Cache-Control: no-store`. ' +
    'Does not renew a TTL.',
  request: { params: StreamPathParam },
  responses: {
    200: { description: 'The stream exists', headers: readHeaders },
    ...errorResponses(400, 404, 410),
  },
});

export const registerHeadStream: RouteModule = (app) =>
  registerStreamRoute(app, headStreamRoute, () => {
    throw new Error('HEAD is served by the GET handler');
  });

export const registerReadStream: RouteModule = (app) => registerStreamRoute(app, readStreamRoute, readStream);

async function readStream(c: Context<AppEnv>): Promise<Response> {
  const services = c.get('services');
  const ds = services.durableStreams;
  const path = requestStreamPath(c);
  if (c.req.method === 'HEAD') {
    const view = await ds.head(path);
    if (!view.ok) throw streamApiError(view.error);
    const h: Record<string, string> = {
      ...streamHeaders(view.value),
      'content-type': view.value.contentType,
      'cache-control': 'no-store',
    };
    if (view.value.closed) h['stream-closed'] = 'true';
    return c.body(null, 200, h);
  }

  const offsets = c.req.queries('offset') ?? [];
  if (offsets.length > 1) throw bad('give `offset` once');
  const rawOffset = offsets[0];
  if (rawOffset === '') throw bad('`offset` is empty (use -1 for the start)');
  const live = c.req.query('live');
  if (live !== undefined && live !== 'long-poll' && live !== 'sse') throw bad('`live` must be long-poll or sse');
  if (live !== undefined && rawOffset === undefined) throw bad(`live=${live} needs an offset (-1, now, or an offset)`);
  const parsed = parseStreamOffset(rawOffset);
  if (!parsed.ok) throw bad(parsed.error);
  const opened = await ds.openForRead(path, parsed.value);
  if (!opened.ok) throw streamApiError(opened.error);
  const { state, from } = opened.value;
  const contentType = ds.view(state).contentType;
  const clientCursor = c.req.query('cursor');
  const signal = AbortSignal.any([c.req.raw.signal, services.streams.signal]);

  if (live === 'sse') {
    const headers: Record<string, string> = {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    };
    if (!isTextContentType(contentType)) headers['stream-sse-data-encoding'] = 'base64';
    const body = sseBody({
      streams: ds,
      registry: services.streams,
      state,
      from,
      cursor: clientCursor,
      maxAgeMs: services.config.streamSseMaxMs,
      keepaliveMs: services.config.sseKeepaliveMs,
      signal,
    });
    return c.body(body, 200, headers);
  }

  // `offset=now` without `live` answers no data at all (PROTOCOL.md §8); live reads wait from the tail.
  const now = parsed.value.kind === 'now' && live === undefined;
  let read = await ds.readAt(state, from);
  if (!read.ok) throw streamApiError(read.error);
  if (live === 'long-poll' && read.value.records.length === 0 && !read.value.eof) {
    const woke = await ds.waitAt(state, from, services.config.streamLongPollMs, signal);
    if (woke === 'deleted')
      throw streamApiError({ code: 'not_found', message: `stream ${JSON.stringify(path)} was deleted` });
    read = await ds.readAt(state, from);
    if (!read.ok) throw streamApiError(read.error);
    if (read.value.records.length === 0) {
      const h: Record<string, string> = {
        ...streamHeaders(read.value.view, ds.offsetToken(state, from)),
        'stream-up-to-date': 'true',
      };
      if (read.value.eof) h['stream-closed'] = 'true';
      else h['stream-cursor'] = nextCursor(clientCursor);
      return c.body(null, 204, h);
    }
  } else if (live === 'long-poll' && read.value.records.length === 0 && read.value.eof) {
    return c.body(null, 204, {
      ...streamHeaders(read.value.view, ds.offsetToken(state, from)),
      'stream-up-to-date': 'true',
      'stream-closed': 'true',
    });
  }
  return catchUp(c, read.value, contentType, { now, live: live === 'long-poll', clientCursor });
}

function catchUp(
  c: Context<AppEnv>,
  r: ReadOutcome,
  contentType: string,
  o: { now: boolean; live: boolean; clientCursor: string | undefined },
): Response {
  const ds = c.get('services').durableStreams;
  const h: Record<string, string> = {
    ...streamHeaders(r.view, ds.offsetToken(r.state, r.next)),
    'content-type': contentType,
  };
  if (r.upToDate) h['stream-up-to-date'] = 'true';
  if (r.eof) h['stream-closed'] = 'true';
  if (o.live && !r.eof) h['stream-cursor'] = nextCursor(o.clientCursor);
  if (o.now) {
    h['cache-control'] = 'no-store';
  } else {
    const etag = etagFor(r.view, r.from, r.next, r.eof);
    h.etag = etag;
    // Access-controlled data: private caches only; the tail changes, so revalidate it.
    h['cache-control'] = r.upToDate ? 'private, no-cache' : 'private, max-age=60, stale-while-revalidate=300';
    if (ifNoneMatchHits(c.req.header('if-none-match'), etag)) return c.body(null, 304, h);
  }
  const body = o.now
    ? isJsonContentType(contentType)
      ? Buffer.from('[]')
      : Buffer.alloc(0)
    : renderBody(contentType, r.records);
  return c.body(new Uint8Array(body) as Uint8Array<ArrayBuffer>, 200, h);
}
