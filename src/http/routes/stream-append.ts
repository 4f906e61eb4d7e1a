// POST /v1/stream/{path} — append to a Durable Stream and/or close it, with the protocol's
// Stream-Seq and idempotent-producer headers.
import { createRoute, z } from '@hono/zod-openapi';
import {
  parseContentType,
  parseProducer,
  parseStreamSeq,
  requestStreamPath,
  streamApiError,
  streamClosedHeader,
  streamHeaders,
} from '../../durable-streams/stream-http.js';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { registerStreamRoute, StreamAppendHeaders, StreamPathParam, streamResponseHeaders } from './stream-schemas.js';

const producerHeaders = {
  'Producer-Epoch': {
    description: 'The accepted (or, on 403, the current) producer epoch.',
    schema: { type: 'string' as const },
  },
  'Producer-Seq': {
    description: 'The highest sequence accepted for this producer and epoch.',
    schema: { type: 'string' as const },
  },
};

export const appendToStreamRoute = createRoute({
  method: 'post',
  path: '/v1/stream/{path}',
  tags: ['Durable Streams'],
  operationId: 'appendToStream',
  summary: 'Append to (or close) a stream',
  description:
    'Durable Streams protocol (PROTOCOL.md §5.2–5.3). Byte streams: the body is appended as one record (split into ' +
    'records of the topic’s max_record_bytes, 1 MiB by default, if larger; a text/* stream takes UTF-8 only, else ' +
    '400, and is split between characters). JSON streams: one record per message, a top-level array flattened one level (`[]` is ' +
    'a 400). Appends are durable as the topic’s `durability` says (fsync by default, group commit). ' +
    '`Stream-Closed: true` closes the stream after the body (empty body: close only, idempotent). ' +
    'Idempotent producers (`Producer-Id`/`-Epoch`/`-Seq`, per request): 200 new data, 204 duplicate, 403 stale epoch ' +
    '(`Producer-Epoch` says the current one), 409 sequence gap (`Producer-Expected-Seq`, `Producer-Received-Seq`), ' +
    '400 a new epoch not starting at 0. A producer’s appends (and a stream’s `Stream-Seq` appends) are checked one ' +
    'after the other’s outcome: seq N+1 (or N’s retry) sent while N is in flight waits for N, and if the log refuses ' +
    'N (503, nothing written), N+1 is a 409 gap and N’s retry appends. Producer and Stream-Seq state is kept with the batches in the log, so it ' +
    'survives restarts for SLUICE_IDEMPOTENCY_WINDOW_MS (like Sluice’s own Producer-Seq). 409 with ' +
    '`Stream-Closed: true` on a closed stream.',
  request: {
    params: StreamPathParam,
    headers: StreamAppendHeaders,
    body: { content: { '*/*': { schema: z.string().openapi({ format: 'binary' }) } }, required: false },
  },
  responses: {
    200: {
      description: 'Appended (idempotent producer, new data)',
      headers: { ...streamResponseHeaders, ...producerHeaders },
    },
    204: { description: 'Appended, closed, or a duplicate', headers: { ...streamResponseHeaders, ...producerHeaders } },
    ...errorResponses(400, 403, 404, 409, 410, 413, 503, 507),
  },
});

export const registerAppendToStream: RouteModule = (app) =>
  registerStreamRoute(app, appendToStreamRoute, async (c) => {
    const path = requestStreamPath(c);
    const close = streamClosedHeader(c);
    const body = new Uint8Array(await c.req.arrayBuffer());
    // An empty close-only request ignores its Content-Type, whatever a library put there.
    const contentType = body.length === 0 ? undefined : parseContentType(c);
    const producer = parseProducer(c);
    const streamSeq = parseStreamSeq(c);
    const result = await c
      .get('services')
      .durableStreams.append(path, { contentType, body, close, streamSeq, producer });
    if (!result.ok) throw streamApiError(result.error);
    const { view, status } = result.value;
    const headers = streamHeaders(view);
    if (view.closed || close) headers['stream-closed'] = 'true';
    if (result.value.producer) {
      headers['producer-epoch'] = String(result.value.producer.epoch);
      headers['producer-seq'] = String(result.value.producer.seq);
    }
    return c.body(null, status, headers);
  });
