// GET /healthz (the process answers) and GET /readyz (Postgres reachable, log recovered,
// no quarantined or read-only partitions, not shutting down) for load balancers and orchestrators.
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
        read_only: z
          .array(z.object({ topic_id: z.string(), partition: z.number().int(), reason: z.string() }))
          .openapi({
            description:
              'Partitions refusing writes (a write, fsync or truncate failed, or corruption was found) until a restart re-verifies them.',
          }),
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
  summary: 'Readiness: Postgres reachable, log recovered, no quarantined or read-only partitions',
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
    const readOnly: Array<{ topic_id: string; partition: number; reason: string }> = [];
    for (const id of services.log.topicIds()) {
      for (const p of services.log.partitions(id)) {
        const w = services.log.getPartition(id, p)?.writable();
        if (w && !w.ok) readOnly.push({ topic_id: id, partition: p, reason: w.reason });
      }
    }
    const shuttingDown = services.streams.closing;
    const logOk = quarantined.length === 0 && readOnly.length === 0;
    const ready = dbError === undefined && logOk && !shuttingDown;
    const body = {
      status: ready ? ('ready' as const) : ('not_ready' as const),
      checks: {
        database: { ok: dbError === undefined, kind: services.metadata.kind, ...(dbError ? { error: dbError } : {}) },
        log: { ok: logOk, recovered: true, quarantined, read_only: readOnly },
        shutting_down: shuttingDown,
      },
    };
    return ready ? c.json(body, 200) : c.json(body, 503);
  });
};
