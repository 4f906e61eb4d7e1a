// The typed hono environment every route and middleware shares: services are injected
// per request (never imported as singletons), with the request id and its logger.
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Principal } from '../auth/principal.js';
import type { Logger } from '../logger.js';
import type { Services } from '../services.js';

export interface AppEnv {
  Variables: {
    services: Services;
    requestId: string;
    /** The process logger; `requestLogger(c)` (middleware/request-context.ts) adds the request's `request_id`. */
    logger: Logger;
    /**
     * Who is asking (src/auth/principal.ts), set by the auth middleware before any route:
     * `kind` ('anonymous' | 'key' | 'admin' | 'token'), `keyId` (the key behind the request, `admin`
     * for SLUICE_ADMIN_KEY, the minting key for a token; null when anonymous), `grants`, `expiresAt`.
     * On public operations (health probes) it is an anonymous principal with no grants.
     */
    principal: Principal;
    /** The OpenAPI operationId of the matched route; null for other routes and unknown paths. */
    operationId: string | null;
    /**
     * Body bytes received so far, for a POST with a chunked body (set by `meterChunkedBodies`,
     * limits-middleware.ts, before anything reads the body); unset for other requests.
     */
    bodyBytes?: () => number;
  };
}

export type App = OpenAPIHono<AppEnv>;

/**
 * One operation: registers its route (schemas + handler) on the app. Route files export
 * one of these; src/http/routes/index.ts lists them all.
 */
export type RouteModule = (app: App) => void;
