// Prometheus metrics: one registry per process (not prom-client's global one, so several
// servers in one test process never collide). Other modules register their own series on it.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { createTrafficMetrics, type TrafficMetrics } from './metrics-traffic.js';

export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  /** Records retention deleted before a webhook delivered them (each webhook counts its own). */
  readonly webhookRecordsExpired: Counter;
  /** Log latency, records/bytes in and out, SSE streams, webhook outcomes, retention (metrics-traffic.ts). */
  readonly traffic: TrafficMetrics;
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
    traffic: createTrafficMetrics(registry),
  };
}

/** Size of the produce path's idempotency state, read at scrape time. */
export function registerIdempotencyMetrics(
  metrics: Metrics,
  stats: () => { entries: number; bytes: number; evicted: number },
): void {
  const series: Array<[string, string, 'entries' | 'bytes']> = [
    ['sluice_idempotency_entries', 'Idempotency-Keys and producer ids remembered for duplicate detection.', 'entries'],
    ['sluice_idempotency_bytes', 'Estimated memory held by idempotency state.', 'bytes'],
  ];
  for (const [name, help, field] of series) {
    new Gauge({
      name,
      help,
      registers: [metrics.registry],
      collect() {
        this.set(stats()[field]);
      },
    });
  }
  // A count that only grows: a counter (so rate() works on it), brought up to the state's own count at scrape time.
  let counted = 0;
  new Counter({
    name: 'sluice_idempotency_evicted_total',
    help: 'Idempotency entries forgotten before their window ended because SLUICE_IDEMPOTENCY_MAX_ENTRIES/_BYTES was reached.',
    registers: [metrics.registry],
    collect() {
      const evicted = stats().evicted;
      if (evicted > counted) this.inc(evicted - counted);
      counted = evicted;
    },
  });
}
