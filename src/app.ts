// The HTTP application: middleware (request id, logs, metrics, CORS, body limit), every
// route from the registration list, error/404/405 handling, /openapi.json and /docs.
import { Scalar } from '@scalar/hono-api-reference';
import { bodyLimit } from 'hono/body-limit';
import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import type { App, AppEnv } from './http/app-env.js';
import { notFoundHandler, onError } from './http/error-handler.js';
import { ApiError, errorResponse } from './http/errors.js';
import { rememberJsonErrors } from './http/middleware/json-body.js';
import { allowedMethodsResolver } from './http/middleware/method-not-allowed.js';
import { InflightTracker, requestContext } from './http/middleware/request-context.js';
import { buildOpenApiDocument, createRouter } from './http/openapi.js';
import type { Services } from './services.js';

export interface CreatedApp {
  app: App;
  /** Requests still being answered; shutdown waits for it to become idle. */
  inflight: InflightTracker;
}

const CORS_EXPOSE = 'x-request-id,location,retry-after';

/**
 * hono's cors for preflights; for other requests the same headers are set on the final
 * response after the handler. (hono's cors touches c.res before the handler, so the
 * handler's response is rebuilt through a web Response and its body streamed, per request.)
 */
function corsMiddleware(origins: string[]): MiddlewareHandler<AppEnv> {
  const any = origins.includes('*');
  const preflight = cors({ origin: any ? '*' : origins, exposeHeaders: CORS_EXPOSE.split(','), maxAge: 600 });
  return async (c, next) => {
    if (c.req.method === 'OPTIONS') return preflight(c, next);
    await next();
    const requestOrigin = c.req.header('origin') ?? '';
    const allow = any ? '*' : origins.includes(requestOrigin) ? requestOrigin : null;
    const apply = (headers: Headers) => {
      if (allow) headers.set('Access-Control-Allow-Origin', allow);
      headers.set('Access-Control-Expose-Headers', CORS_EXPOSE);
      if (!any) headers.append('Vary', 'Origin');
    };
    try {
      apply(c.res.headers);
    } catch {
      c.res = new Response(c.res.body, c.res); // immutable headers (a passed-through Response)
      apply(c.res.headers);
    }
  };
}

export function createApp(services: Services): CreatedApp {
  const { config } = services;
  const inflight = new InflightTracker();
  const app = createRouter((a) => {
    a.use('*', requestContext(services, inflight));
    a.use('*', rememberJsonErrors());
    if (config.corsOrigins.length > 0) a.use('*', corsMiddleware(config.corsOrigins));
    const limitBody = bodyLimit({
      maxSize: config.maxBodyBytes,
      onError: (ctx) =>
        errorResponse(
          ctx,
          new ApiError(
            'payload_too_large',
            `request body exceeds ${config.maxBodyBytes} bytes (SLUICE_MAX_BODY_BYTES)`,
            {
              limit: 'max_body_bytes',
              max_bytes: config.maxBodyBytes,
            },
          ),
        ),
    });
    a.use('*', async (c, next) => {
      // NDJSON bodies are streamed by the produce route, which enforces the same limit as it reads.
      if ((c.req.header('content-type') ?? '').startsWith('application/x-ndjson')) return next();
      // bodyLimit's own decision for requests without a body or with a declared length, made
      // without touching c.req.raw.body: on @hono/node-server that getter builds a web Request
      // and stream per request, which would defeat the route's direct body read.
      const method = c.req.method;
      if (method === 'GET' || method === 'HEAD') return next();
      const length = c.req.header('content-length');
      if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
        return parseInt(length || '0', 10) > config.maxBodyBytes ? limitBody(c, next) : next();
      }
      return limitBody(c, next);
    });
  });

  let document: ReturnType<typeof buildOpenApiDocument> | undefined;
  app.get('/openapi.json', (c) => c.json((document ??= buildOpenApiDocument(app))));
  app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'Sluice API' }));
  app.onError(onError);
  app.notFound(notFoundHandler(allowedMethodsResolver(app as never)));
  return { app, inflight };
}
