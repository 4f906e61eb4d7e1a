// The typed hono environment every route and middleware shares: services are injected
// per request (never imported as singletons), with the request id and its logger.
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Logger } from '../logger.js';
import type { Services } from '../services.js';

export interface AppEnv {
  Variables: {
    services: Services;
    requestId: string;
    /** The process logger; lines written during the request carry its `request_id`. */
    logger: Logger;
  };
}

export type App = OpenAPIHono<AppEnv>;

/**
 * One operation: registers its route (schemas + handler) on the app. Route files export
 * one of these; src/http/routes/index.ts lists them all.
 */
export type RouteModule = (app: App) => void;
