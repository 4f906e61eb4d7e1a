// Prometheus metrics: one registry per process (not prom-client's global one, so several
// servers in one test process never collide). Other modules register their own series on it.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  /** Records retention deleted before a webhook delivered them (each webhook counts its own). */
  readonly webhookRecordsExpired: Counter;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'sluice_' });
  return {
    registry,
    httpRequests: new Counter({
      name: 'sluice_http_requests_total',
      help: 'HTTP requests answered, by method, route template and status.',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'sluice_http_request_duration_seconds',
      help: 'Time to the response head (streams: until headers are sent), by method, route and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    webhookRecordsExpired: new Counter({
      name: 'sluice_webhook_records_expired_total',
      help: 'Records deleted by retention before a webhook delivered them (skipped, never sent; per webhook: GET /v1/webhooks/{id} records_expired).',
      registers: [registry],
    }),
  };
}
