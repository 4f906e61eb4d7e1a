// Maps everything a request can throw to the one envelope: ApiError as is, hono's own
// HTTP exceptions (malformed JSON, 415, 413) to their codes, a lost database to 503.
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { LogCorruptionError, LogUnavailableError } from '../log/index.js';
import { isDatabaseUnavailable } from '../metadata/errors.js';
import type { AppEnv } from './app-env.js';
import { ApiError, errorResponse, type ErrorCode } from './errors.js';
import { jsonParseError } from './middleware/json-body.js';

const HTTP_EXCEPTION_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'unavailable',
};

/** Convert anything thrown into an ApiError (unknown faults become `internal`). */
export function toApiError(error: unknown, c: Context<AppEnv>): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof HTTPException) {
    const code = HTTP_EXCEPTION_CODES[error.status] ?? (error.status >= 500 ? 'internal' : 'bad_request');
    if (code === 'unsupported_media_type') {
      const got = c.req.header('content-type') ?? 'none';
      return new ApiError(code, `Content-Type ${got} is not accepted here; send application/json`);
    }
    if (code === 'bad_request' && /malformed json/i.test(error.message)) {
      const reason = jsonParseError(c.req.raw)?.message;
      return new ApiError(code, reason ? `body is not valid JSON (${reason})` : 'body is not valid JSON');
    }
    return new ApiError(code, error.message || code);
  }
  if (isDatabaseUnavailable(error)) {
    return new ApiError(
      'unavailable',
      'the metadata database is unavailable; retry shortly',
      {},
      { 'retry-after': '5' },
    );
  }
  if (error instanceof LogCorruptionError) {
    // The log found a corrupt batch while reading: the partition is now quarantined and
    // nothing corrupt was served. The service is fine; this partition is not.
    return new ApiError('unavailable', `partition quarantined: ${error.message}; see /readyz`);
  }
  if (error instanceof LogUnavailableError) return new ApiError('unavailable', error.message);
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'EMFILE' || errno === 'ENFILE') {
    // Out of file descriptors: passing, and nothing about the data; the path stays in the log.
    return new ApiError('unavailable', `too many open files (${errno}); retry shortly`, {}, { 'retry-after': '1' });
  }
  return new ApiError('internal', 'internal error; the request id identifies it in the server log');
}

export const onError: ErrorHandler<AppEnv> = (error, c) => {
  const apiError = toApiError(error, c);
  const logger = c.get('logger');
  const requestId = c.get('requestId');
  if (apiError.code === 'internal') logger?.error({ request_id: requestId, err: error }, 'unhandled error');
  else if (apiError.code === 'unavailable')
    logger?.warn({ request_id: requestId, err: error }, 'dependency unavailable');
  return errorResponse(c, apiError);
};

export function notFoundHandler(allowedMethods: (path: string) => string[]): NotFoundHandler<AppEnv> {
  return (c) => {
    const allowed = allowedMethods(c.req.path);
    if (allowed.length > 0) {
      return errorResponse(
        c,
        new ApiError(
          'method_not_allowed',
          `${c.req.method} is not supported on ${c.req.path}; use ${allowed.join(', ')}`,
          {},
          { allow: allowed.join(', ') },
        ),
      );
    }
    return errorResponse(c, new ApiError('not_found', `no route for ${c.req.method} ${c.req.path}`));
  };
}
