// Cross-origin policy: pages on origins listed in SLUICE_CORS_ORIGINS may call the API (CORS
// headers); in every mode a state-changing request from any other origin is refused with 403.
import type { Context, MiddlewareHandler, Next } from 'hono';
import { cors } from 'hono/cors';
import type { AppEnv } from '../http/app-env.js';
import { ApiError } from '../http/errors.js';
import { nextAnswered } from '../http/middleware/chain.js';
import { isStateChangingGet } from '../http/state-changing-gets.js';

import { STREAM_EXPOSED_HEADERS } from '../durable-streams/stream-http.js';

const CORS_EXPOSE = ['x-request-id', 'location', 'retry-after', ...STREAM_EXPOSED_HEADERS].join(',');
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A request that changes something: any method but GET/HEAD/OPTIONS, and the GETs that act. An
 * EventSource on any page opens those without a preflight, and the server would lease a queue's
 * records, join a group or move a member's positions before the browser hid the answer.
 */
function changesState(method: string, path: string): boolean {
  if (!SAFE_METHODS.has(method)) return true;
  return method !== 'OPTIONS' && isStateChangingGet(path);
}

/** Whether a request carrying `Origin: origin` may act (same origin, or listed). */
export function originAllowed(origins: readonly string[], origin: string, host: string | undefined): boolean {
  if (origins.includes('*') || origins.includes(origin)) return true;
  if (host === undefined) return false;
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false; // `null` (sandboxed frames, file://) and garbage
  }
}

/**
 * Refuses (403) preflights and state-changing requests whose `Origin` is neither this server
 * nor listed, whatever their content type (a form post needs no preflight); answers allowed
 * preflights and adds the CORS headers to responses for listed origins.
 */
export function originPolicy(origins: readonly string[]): MiddlewareHandler<AppEnv> {
  const any = origins.includes('*');
  const preflight = cors({ origin: any ? '*' : [...origins], exposeHeaders: CORS_EXPOSE.split(','), maxAge: 600 });
  return (c, next) => {
    const origin = c.req.header('origin');
    if (origin === undefined) return next();
    return crossOrigin(c, next, origin);
  };

  async function crossOrigin(c: Context<AppEnv>, next: Next, origin: string): Promise<Response | void> {
    const method = c.req.method;
    const allowed = originAllowed(origins, origin, c.req.header('host'));
    if (!allowed && changesState(method, c.req.path)) {
      throw new ApiError(
        'forbidden',
        `requests from origin ${JSON.stringify(origin)} may not change anything: list it in SLUICE_CORS_ORIGINS to allow its pages to call Sluice`,
      );
    }
    const listed = any || origins.includes(origin);
    if (method === 'OPTIONS' && c.req.header('access-control-request-method') !== undefined) {
      if (!listed) {
        throw new ApiError(
          'forbidden',
          `cross-origin requests from ${JSON.stringify(origin)} are not allowed (SLUICE_CORS_ORIGINS)`,
        );
      }
      return preflight(c, next);
    }
    // Answered here whatever happens inside: an error response gets the CORS headers too.
    await nextAnswered(c, next);
    if (!listed) return;
    // Set after the handler: hono's cors touches c.res before it, which would rebuild streamed responses.
    const apply = (headers: Headers) => {
      headers.set('Access-Control-Allow-Origin', any ? '*' : origin);
      headers.set('Access-Control-Expose-Headers', CORS_EXPOSE);
      if (!any) headers.append('Vary', 'Origin');
    };
    try {
      apply(c.res.headers);
    } catch {
      c.res = new Response(c.res.body, c.res); // immutable headers (a passed-through Response)
      apply(c.res.headers);
    }
  }
}
