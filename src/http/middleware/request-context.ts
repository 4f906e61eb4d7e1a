// First middleware of every request: assigns the request id (echoed as `x-request-id`),
// a logger scope carrying it, and records the access log line and HTTP metrics.
import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { requestScope } from '../../logger.js';
import type { Services } from '../../services.js';
import type { AppEnv } from '../app-env.js';

const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Counts requests still being answered, so shutdown can wait for them. */
export class InflightTracker {
  private count = 0;
  private waiters: Array<() => void> = [];
  get size(): number {
    return this.count;
  }
  enter(): void {
    this.count++;
  }
  leave(): void {
    this.count--;
    if (this.count === 0) for (const w of this.waiters.splice(0)) w();
  }
  /** Resolve when no request is in flight (or at once if none is). */
  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

export function requestContext(services: Services, inflight: InflightTracker): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && ACCEPTABLE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const logger = services.logger;
    c.set('services', services);
    c.set('requestId', requestId);
    c.set('logger', logger);
    c.header('x-request-id', requestId);
    inflight.enter();
    try {
      await requestScope.run({ requestId }, next);
    } finally {
      inflight.leave();
      try {
        c.res.headers.set('x-request-id', requestId);
      } catch {
        // Immutable headers (a passed-through Response): the id was set before next() anyway.
      }
      const status = c.res.status;
      const route = routeTemplate(c);
      const seconds = (performance.now() - started) / 1000;
      const labels = { method: c.req.method, route, status: String(status) };
      services.metrics.httpRequests.inc(labels);
      services.metrics.httpDuration.observe(labels, seconds);
      const line = {
        method: c.req.method,
        path: c.req.path,
        route,
        status,
        duration_ms: Math.round(seconds * 10_000) / 10,
      };
      requestScope.run({ requestId }, () => {
        if (status >= 500) logger.error(line, 'request failed');
        else logger.info(line, 'request completed');
      });
    }
  };
}

/** The matched route template (`/v1/topics/:topic`), or `unmatched` for 404/405. */
function routeTemplate(c: Parameters<MiddlewareHandler<AppEnv>>[0]): string {
  const routes = matchedRoutes(c).filter((r) => r.method !== 'ALL');
  return routes.at(-1)?.path ?? 'unmatched';
}
