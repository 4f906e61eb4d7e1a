// The one error vocabulary of the HTTP API: codes, their statuses (DESIGN §3), the
// envelope every error response uses, and the ApiError that handlers throw to produce it.
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** Every error code the API can answer with. Add a code here and its status below. */
export const ErrorCode = z.enum([
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'topic_not_found',
  'partition_not_found',
  'group_not_found',
  'member_not_found',
  'queue_not_found',
  'webhook_not_found',
  'stream_not_found',
  'method_not_allowed',
  'request_timeout',
  'topic_exists',
  'fenced',
  'conflict',
  'gone',
  'payload_too_large',
  'unsupported_media_type',
  'offset_out_of_range',
  'invalid_record',
  'rate_limited',
  'headers_too_large',
  'internal',
  'unavailable',
  'storage_full',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** The single status table (DESIGN §3). Exhaustive: a new code without a status fails to compile. */
export const errorStatus = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  topic_not_found: 404,
  partition_not_found: 404,
  group_not_found: 404,
  member_not_found: 404,
  queue_not_found: 404,
  webhook_not_found: 404,
  stream_not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  topic_exists: 409,
  fenced: 409,
  conflict: 409,
  gone: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  offset_out_of_range: 416,
  invalid_record: 422,
  rate_limited: 429,
  headers_too_large: 431,
  internal: 500,
  unavailable: 503,
  storage_full: 507,
} as const satisfies Record<ErrorCode, ContentfulStatusCode>;

export type ErrorStatus = (typeof errorStatus)[ErrorCode];

export const ErrorEnvelope = z
  .object({
    error: z
      .looseObject({
        code: ErrorCode,
        message: z.string().openapi({ description: 'Human-readable explanation; not for parsing.' }),
        request_id: z
          .string()
          .openapi({ description: 'Same as the `x-request-id` response header; quote it in bug reports.' }),
      })
      .openapi({
        description:
          'Some errors carry extra fields beside `code`, e.g. `start_offset`/`end_offset` on 416 or `limit` on 413.',
      }),
  })
  .openapi('Error');
export type ErrorEnvelope = z.infer<typeof ErrorEnvelope>;

/**
 * Thrown by handlers (and middleware) for any expected failure; the app's error handler
 * renders it as the envelope with the status from `errorStatus`.
 */
export class ApiError extends Error {
  readonly status: ErrorStatus;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra snake_case fields placed beside code/message in the envelope. */
    readonly details: Record<string, unknown> = {},
    /** Extra response headers (e.g. `Allow`, `Retry-After`). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = errorStatus[code];
  }
}

/** Build the error response for `error` within request context `c`. */
export function errorResponse(c: Context, error: ApiError): Response {
  const requestId = (c.get('requestId') as string | undefined) ?? '';
  for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
  const body: ErrorEnvelope = {
    error: { ...error.details, code: error.code, message: error.message, request_id: requestId },
  };
  return c.json(body, error.status);
}

const descriptions: Record<ErrorStatus, string> = {
  400: 'Bad request: malformed JSON or a parameter/body field failed validation',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Method not allowed',
  408: 'Request timeout: the request line, headers or body did not arrive within SLUICE_HEADERS_TIMEOUT_MS / SLUICE_REQUEST_TIMEOUT_MS',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload too large',
  415: 'Unsupported media type',
  416: 'Offset out of range',
  422: 'Invalid record',
  429: 'Rate limited: the key is over a quota (`limit`: `key_produce_bytes_per_sec`, `key_read_bytes_per_sec`, `key_max_streams`, `key_max_buffered_body_bytes`; see the README "Quotas per key"); retry after `Retry-After` seconds',
  431: 'The URL or headers are larger than the server accepts (32 KiB in all); nothing was done',
  500: 'Internal error',
  503: 'Unavailable: a dependency (e.g. Postgres) is down, or a process-wide limit is reached (`limit`: `max_connections`, `max_streams`, `max_buffered_body_bytes`; see the README "Limits"); retry after `Retry-After` seconds',
  507: 'Storage full',
};

/**
 * OpenAPI `responses` entries for the given error statuses, all using the one envelope.
 * Spread into a route's `responses`: `{ 200: ..., ...errorResponses(400, 404) }`.
 */
export function errorResponses<S extends ErrorStatus>(...statuses: S[]) {
  const out = {} as Record<
    S,
    { description: string; content: { 'application/json': { schema: typeof ErrorEnvelope } } }
  >;
  for (const status of statuses) {
    out[status] = { description: descriptions[status], content: { 'application/json': { schema: ErrorEnvelope } } };
  }
  return out;
}
