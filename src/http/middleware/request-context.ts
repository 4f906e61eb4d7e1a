// First middleware of every request: assigns the request id (echoed as `x-request-id`) and
// records the access log line and HTTP metrics; `requestLogger` gives the request's logger.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from '../../logger.js';
import type { Services } from '../../services.js';
import type { AppEnv } from '../app-env.js';
import { matchedRoute } from '../matched-route.js';

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

/**
 * The request's logger: the process logger with the request's `request_id` on every line. Made
 * on demand (most requests never log through it); a route hands it to the service calls whose
 * lines belong to the request (topic created, queue created, an SSE stream's failure, …).
 */
export function requestLogger(c: Context<AppEnv>): Logger {
  return c.get('logger').child({ request_id: c.get('requestId') });
}

/**
 * `answered` runs once the response is settled (before the access line), with the request's
 * final status, whichever middleware or handler produced it; undefined when it has nothing to do.
 */
export function requestContext(
  services: Services,
  inflight: InflightTracker,
  answered: (c: Context<AppEnv>) => Promise<void> | undefined = () => undefined,
): MiddlewareHandler<AppEnv> {
  const { logger, metrics } = services;
  const series = new HttpSeries(metrics);
  return async (c, next) => {
    const started = performance.now();
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && ACCEPTABLE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    c.set('services', services);
    c.set('requestId', requestId);
    c.set('logger', logger);
    // On the Node response itself when there is one: every answer carries it, and the route's own
    // headers stay a plain object (hono's c.header() would build a Headers per request, and
    // @hono/node-server then writes the response through its slow path).
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (outgoing) outgoing.setHeader('x-request-id', requestId);
    else c.header('x-request-id', requestId);
    inflight.enter();
    try {
      await next();
    } finally {
      const pending = answered(c);
      if (pending) await pending;
      inflight.leave();
      if (!outgoing) {
        try {
          c.res.headers.set('x-request-id', requestId);
        } catch {
          // Immutable headers (a passed-through Response): the id was set before next() anyway.
        }
      }
      const status = c.res.status;
      const route = matchedRoute(c)?.path ?? 'unmatched';
      const seconds = (performance.now() - started) / 1000;
      series.observe(c.req.method, route, status, seconds);
      const level = status >= 500 ? 'error' : 'info';
      if (logger.isLevelEnabled(level)) {
        const line = {
          request_id: requestId,
          method: c.req.method,
          path: c.req.path,
          route,
          status,
          duration_ms: Math.round(seconds * 10_000) / 10,
        };
        if (level === 'error') logger.error(line, 'request failed');
        else logger.info(line, 'request completed');
      }
    }
  };
}

/** The HTTP request counter and duration histogram, with one labels object per method, route and status. */
class HttpSeries {
  private readonly labels = new Map<string, { method: string; route: string; status: string }>();
  constructor(private readonly metrics: Services['metrics']) {}

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let labels = this.labels.get(key);
    if (!labels) {
      labels = { method, route, status: String(status) };
      // Bounded by the route table times methods and statuses; a guard all the same.
      if (this.labels.size < 10_000) this.labels.set(key, labels);
    }
    this.metrics.httpRequests.inc(labels);
    this.metrics.httpDuration.observe(labels, seconds);
  }
}
