// OpenAPI pieces shared by the Durable Streams operations at /v1/stream/{path}: the path
// parameter, protocol headers, and the route registration that accepts '/' inside {path}.
import { z, type RouteConfig } from '@hono/zod-openapi';
import type { Handler } from 'hono';
import type { App, AppEnv } from '../app-env.js';

export const StreamPathParam = z.object({
  path: z
    .string()
    .min(1)
    .openapi({
      param: { name: 'path', in: 'path' },
      description:
        'The stream path; may contain `/` (e.g. `chat/room-1`). Its topic is the path with `/` written `__` and ' +
        'every byte other than letters, digits, `.` and `-` written `_XX` (hex): `chat/room_1` → topic ' +
        '`chat__room_5F1`. At most 249 characters once escaped; no empty, `.` or `..` segments, no control characters.',
    }),
});

const header = (description: string, example?: string) =>
  z
    .string()
    .optional()
    .openapi({ description, ...(example !== undefined && { example }) });

export const streamResponseHeaders = {
  'Stream-Next-Offset': {
    description: 'The tail (or, on reads, the next offset to read) as an opaque offset.',
    schema: { type: 'string' as const },
  },
  'Stream-Closed': {
    description: '`true` when the stream is closed (on reads: when this answer reaches its end).',
    schema: { type: 'string' as const },
  },
};

export const StreamCreateHeaders = z.object({
  'content-type': header('The stream content type (default application/octet-stream).', 'application/json'),
  'stream-ttl': header('Sliding time-to-live in seconds (renewed by reads and writes, not HEAD).', '3600'),
  'stream-expires-at': header('Absolute expiry (RFC 3339). Not together with Stream-TTL.', '2030-01-01T00:00:00Z'),
  'stream-closed': header('`true`: create the stream closed (the body, if any, is its whole content).', 'true'),
});

export const StreamAppendHeaders = z.object({
  'content-type': header('Must match the stream content type when there is a body.', 'application/json'),
  'stream-closed': header('`true`: close the stream after this append (an empty body just closes it).', 'true'),
  'stream-seq': header('Writer sequence: must be byte-wise greater than the last one given for this stream.'),
  'producer-id': header('Idempotent producer id (with Producer-Epoch and Producer-Seq).'),
  'producer-epoch': header('Idempotent producer epoch (integer ≥ 0).'),
  'producer-seq': header('Idempotent producer sequence of this request (integer ≥ 0).'),
});

export const StreamReadQuery = z.object({
  offset: z
    .string()
    .regex(/^(-1|now|[0-9]{16}_[A-Za-z0-9_-]{6})$/, '-1, now, or an offset this server issued')
    .optional()
    .openapi({
      description: '`-1` (start, the default), `now` (the tail) or a Stream-Next-Offset value.',
      example: '-1',
    }),
  live: z
    .enum(['long-poll', 'sse'])
    .optional()
    .openapi({ description: '`long-poll`: wait for data; `sse`: Server-Sent Events. Both need `offset`.' }),
  cursor: z.string().optional().openapi({ description: 'Echo of the last Stream-Cursor (long-poll).' }),
});

/** The handler path: `{path}` matches the rest of the URL, slashes included. */
export const STREAM_HANDLER_PATH = '/v1/stream/:path{[\\s\\S]+}';

/** Document `route` and serve it with `handler` on the slash-accepting path. */
export function registerStreamRoute(app: App, route: RouteConfig, handler: Handler<AppEnv>): void {
  app.openAPIRegistry.registerPath(route);
  if (route.method !== 'head') app.on(route.method.toUpperCase(), STREAM_HANDLER_PATH, handler);
}
