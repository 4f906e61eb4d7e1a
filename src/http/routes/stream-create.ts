// PUT /v1/stream/{path} — create a Durable Stream (a one-partition topic), or confirm one
// that exists with the same configuration.
import { createRoute, z } from '@hono/zod-openapi';
import {
  parseContentType,
  parseFork,
  parseExpiry,
  requestStreamPath,
  streamApiError,
  streamClosedHeader,
  streamHeaders,
} from '../../durable-streams/stream-http.js';
import { can, describePrincipal, type Principal } from '../../auth/principal.js';
import type { StreamError } from '../../durable-streams/streams-service.js';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { requestLogger } from '../middleware/request-context.js';
import { registerStreamRoute, StreamCreateHeaders, StreamPathParam, streamResponseHeaders } from './stream-schemas.js';

export const createStreamRoute = createRoute({
  method: 'put',
  path: '/v1/stream/{path}',
  tags: ['Durable Streams'],
  operationId: 'createStream',
  summary: 'Create a stream',
  description:
    'Durable Streams protocol (PROTOCOL.md §5.1). Creates the stream as a topic with one partition, ' +
    '`retention_ms: -1` and the `value_format` its content type suggests (`application/json` → json, `text/*` → ' +
    'string, else binary), so it is listed by GET /v1/topics and readable by groups, queues and webhooks. The body, ' +
    'if any, is its first content (JSON: a top-level array is flattened into messages; `[]` creates it empty). ' +
    'An existing stream with the same content type, TTL/expiry and closed state answers 200; a different one, or a ' +
    'topic of that name that is not a stream, 409 (an empty one-partition topic of the `value_format` the content ' +
    'type suggests becomes the stream, if the caller also holds `topic:delete` on it, else 403: the stream’s expiry ' +
    'or DELETE deletes it). Forks (`Stream-Forked-From`, `Stream-Fork-Offset`, ' +
    '`Stream-Fork-Sub-Offset`) copy the source’s records below the fork point into the new topic at the same ' +
    'offsets (copy-on-fork) and share its offset tag, so offsets read from the source address the same data in ' +
    'the fork; a source deleted while forks exist is soft-deleted (410, its path blocked) until its last fork goes. ' +
    'A create is all or nothing: concurrent creates of one path on a node run one at a time (identical ones answer ' +
    '201 once, then 200), and a request for a stream still being created waits up to 3 s for it, then answers 503 ' +
    'with `Retry-After`.',
  request: {
    params: StreamPathParam,
    headers: StreamCreateHeaders,
    body: { content: { '*/*': { schema: z.string().openapi({ format: 'binary' }) } }, required: false },
  },
  responses: {
    200: { description: 'The stream exists with this configuration', headers: streamResponseHeaders },
    201: {
      description: 'Created',
      headers: { ...streamResponseHeaders, Location: { description: 'The stream URL', schema: { type: 'string' } } },
    },
    ...errorResponses(400, 404, 409, 410, 413, 503, 507),
  },
});

export const registerCreateStream: RouteModule = (app) =>
  registerStreamRoute(app, createStreamRoute, async (c) => {
    const path = requestStreamPath(c);
    const fork = parseFork(c);
    const contentType = parseContentType(c);
    const expiry = parseExpiry(c);
    const body = new Uint8Array(await c.req.arrayBuffer());
    const result = await c.get('services').durableStreams.create(
      path,
      {
        contentType,
        ...expiry,
        closed: streamClosedHeader(c),
        body,
        ...(fork && { fork }),
        refuseAdoption: refuseUndeletableTopic(c.get('principal')),
      },
      requestLogger(c),
    );
    if (!result.ok) throw streamApiError(result.error);
    const { view, status } = result.value;
    const headers: Record<string, string> = { ...streamHeaders(view), 'content-type': view.contentType };
    if (view.closed) headers['stream-closed'] = 'true';
    if (status === 201) {
      const url = new URL(c.req.url);
      headers.location = `${url.origin}${url.pathname}`;
    }
    return c.body(null, status, headers);
  });

/** Adopting an existing topic hands it to the stream's expiry and DELETE: it needs topic:delete on it. */
function refuseUndeletableTopic(principal: Principal | undefined): (topic: string) => StreamError | undefined {
  return (topic) =>
    principal === undefined || can(principal, 'topic', topic, 'delete')
      ? undefined
      : {
          code: 'forbidden',
          message:
            `${describePrincipal(principal)} may not delete topic ${JSON.stringify(topic)} (needs topic:delete): ` +
            'adopting an existing topic as a stream hands it to the stream, whose expiry or DELETE deletes it',
          needs: { resource: 'topic', action: 'delete', name: topic },
        };
}
