// GET /healthz (the process answers) and GET /readyz (Postgres reachable, log recovered,
// no quarantined partitions, not shutting down) for load balancers and orchestrators.
import { createRoute, z } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';

const Health = z.object({ status: z.literal('ok') }).openapi('Health');

const Readiness = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.object({
      database: z.object({ ok: z.boolean(), kind: z.enum(['postgres', 'pglite']), error: z.string().optional() }),
      log: z.object({
        ok: z.boolean(),
        recovered: z.boolean(),
        quarantined: z.array(z.object({ topic_id: z.string(), partition: z.number().int(), reason: z.string() })),
      }),
      shutting_down: z.boolean(),
    }),
  })
  .openapi('Readiness');

export const healthzRoute = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['System'],
  operationId: 'healthz',
  summary: 'Liveness: the process is up',
  responses: { 200: { description: 'Alive', content: { 'application/json': { schema: Health } } } },
});

export const readyzRoute = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['System'],
  operationId: 'readyz',
  summary: 'Readiness: Postgres reachable, log recovered, no quarantined partitions',
  responses: {
    200: { description: 'Ready', content: { 'application/json': { schema: Readiness } } },
    503: { description: 'Not ready; `checks` says why', content: { 'application/json': { schema: Readiness } } },
  },
});

const DB_PING_TIMEOUT_MS = 2_000;

export const registerHealth: RouteModule = (app) => {
  app.openapi(healthzRoute, (c) => c.json({ status: 'ok' as const }, 200));
  app.openapi(readyzRoute, async (c) => {
    const services = c.get('services');
    let dbError: string | undefined;
    try {
      await services.metadata.ping(DB_PING_TIMEOUT_MS);
    } catch (e) {
      dbError = e instanceof Error ? e.message : String(e);
    }
    const quarantined = services.log
      .quarantined()
      .map((q) => ({ topic_id: q.topicId, partition: q.partition, reason: q.reason }));
    const shuttingDown = services.streams.closing;
    const ready = dbError === undefined && quarantined.length === 0 && !shuttingDown;
    const body = {
      status: ready ? ('ready' as const) : ('not_ready' as const),
      checks: {
        database: { ok: dbError === undefined, kind: services.metadata.kind, ...(dbError ? { error: dbError } : {}) },
        log: { ok: quarantined.length === 0, recovered: true, quarantined },
        shutting_down: shuttingDown,
      },
    };
    return ready ? c.json(body, 200) : c.json(body, 503);
  });
};
