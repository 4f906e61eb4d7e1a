// The HTTP application: middleware (request id, logs, metrics, origin/CORS, auth, body limit), every
// route from the registration list, error/404/405 handling, /openapi.json and /docs.
import { bodyLimit } from 'hono/body-limit';
import { authMiddleware } from './auth/auth-middleware.js';
import { originPolicy } from './auth/origin-policy.js';
import { StreamWatch } from './auth/stream-watch.js';
import { streamSecurityHeaders } from './durable-streams/stream-http.js';
import type { App } from './http/app-env.js';
import { notFoundHandler, onError } from './http/error-handler.js';
import { ApiError } from './http/errors.js';
import { auditLog } from './http/middleware/audit-log.js';
import { hostCheck } from './http/middleware/host-check.js';
import { trafficMeter } from './http/middleware/traffic-meter.js';
import { chain, guards } from './http/middleware/chain.js';
import { refuseUnsafeHead } from './http/middleware/unsafe-head.js';
import { refuseContentEncoding } from './http/middleware/content-encoding.js';
import { rememberJsonErrors } from './http/middleware/json-body.js';
import { allowedMethodsResolver } from './http/middleware/method-not-allowed.js';
import { InflightTracker, requestContext } from './http/middleware/request-context.js';
import {
  bodyBudget,
  connectionCap,
  createLimits,
  keyQuotas,
  meterChunkedBodies,
  streamCaps,
  type Limits,
} from './http/limits/limits-middleware.js';
import { matchedRoute } from './http/matched-route.js';
import { docsPageWithToken, renderDocsPage } from './http/docs-page.js';
import { registerUiPage } from './http/ui-page.js';
import { buildOpenApiDocument, createRouter } from './http/openapi.js';
import type { Services } from './services.js';

/** The one route that reads an NDJSON body as a stream, bounding it itself (records-produce.ts). */
const PRODUCE_ROUTE = '/v1/topics/:topic/records';

export interface CreatedApp {
  app: App;
  /** Requests still being answered; shutdown waits for it to become idle. */
  inflight: InflightTracker;
  /** Process-wide caps (connections, streams, body bytes); the server attaches the connection gate. */
  limits: Limits;
}

export function createApp(services: Services): CreatedApp {
  const { config } = services;
  const inflight = new InflightTracker();
  const limits = createLimits(config, services.metrics.registry);
  const app = createRouter((a) => {
    a.use('/v1/stream/*', streamSecurityHeaders());
    // Audited once answered, whoever answered: refused attempts are audited too.
    a.use('*', requestContext(services, inflight, auditLog(services.logger)));
    const tooLarge = () =>
      new ApiError(
        'payload_too_large',
        `request body exceeds ${config.maxBodyBytes} bytes (SLUICE_MAX_BODY_BYTES)`,
        {
          limit: 'max_body_bytes',
          max_bytes: config.maxBodyBytes,
        },
        // The rest of the body is never read: the connection closes (lingering, see client-error.ts).
        { connection: 'close' },
      );
    const limitBody = bodyLimit({
      maxSize: config.maxBodyBytes,
      onError: () => {
        throw tooLarge();
      },
    });
    // One middleware, in this order (see chain.ts for why and for what a step may do).
    a.use(
      '*',
      chain(
        guards(
          connectionCap(limits),
          hostCheck(config.host, config.limits.allowedHosts),
          rememberJsonErrors(),
          meterChunkedBodies(),
        ),
        originPolicy(config.corsOrigins),
        // Before the body limit and auth, which read JSON bodies: a compressed body is never parsed.
        guards(refuseUnsafeHead(), refuseContentEncoding()),
        (c, next) => {
          const method = c.req.method;
          // bodyLimit's own decision for requests without a body or with a declared length, made
          // without touching c.req.raw.body: on @hono/node-server that getter builds a web Request
          // and stream per request, which would defeat the route's direct body read.
          if (method === 'GET' || method === 'HEAD') return next();
          const length = c.req.header('content-length');
          const declared = length !== undefined && c.req.header('transfer-encoding') === undefined;
          // Refused here, not by bodyLimit, which reads c.req.raw: that starts reading the body,
          // and would answer `Expect: 100-continue` with a 100 before the 413 (server.ts).
          if (declared && parseInt(length || '0', 10) > config.maxBodyBytes) return Promise.reject(tooLarge());
          // NDJSON bodies are streamed by the produce route, which enforces the same limit as it
          // reads (one declared over it is refused above, at once); every other route (Durable
          // Streams take any type) is held to it here.
          if (
            declared ||
            (method === 'POST' &&
              (c.req.header('content-type') ?? '').startsWith('application/x-ndjson') &&
              matchedRoute(c)?.path === PRODUCE_ROUTE)
          ) {
            return next();
          }
          return limitBody(c, next);
        },
        // Before auth, which reads the (small) JSON body of a few operations to name their resource.
        bodyBudget(limits, config),
        // After the body limit: a few operations name their resource in the (small) JSON body.
        authMiddleware(services, () => app, new StreamWatch(services.auth)),
        // After auth: stream slots are counted per principal too.
        streamCaps(limits),
        keyQuotas(limits),
        trafficMeter(services.metrics.traffic.bytesOut),
      ),
    );
  });

  let document: ReturnType<typeof buildOpenApiDocument> | undefined;
  /** Built on first use (every route is registered by then), once for both routes below. */
  const openApiDocument = () =>
    (document ??= buildOpenApiDocument(app, {
      maxPartitions: config.maxPartitions,
      longPollMaxMs: config.longPollMaxMs,
    }));
  app.get('/openapi.json', (c) => c.json(openApiDocument()));
  let docsPage: string | undefined;
  // Rendered here from the document: self-contained, so it works without internet access.
  app.get('/docs', (c) => {
    const page = (docsPage ??= renderDocsPage(openApiDocument()));
    // A browser token in the URL (the dashboard's link) goes nowhere else and stays in no cache.
    c.header('referrer-policy', 'no-referrer');
    const token = c.req.query('access_token');
    if (!token) return c.html(page);
    c.header('cache-control', 'no-store');
    return c.html(docsPageWithToken(page, token));
  });
  registerUiPage(app);
  app.onError(onError);
  app.notFound(notFoundHandler(allowedMethodsResolver(app as never)));
  return { app, inflight, limits };
}
