// GET /metrics — Prometheus text exposition of the process registry.
import { createRoute, z } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';

export const metricsRoute = createRoute({
  method: 'get',
  path: '/metrics',
  tags: ['System'],
  operationId: 'metrics',
  summary: 'Prometheus metrics',
  responses: {
    200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } },
  },
});

export const registerMetrics: RouteModule = (app) =>
  app.openapi(metricsRoute, async (c) => {
    const { registry } = c.get('services').metrics;
    return c.text(await registry.metrics(), 200, { 'content-type': registry.contentType });
  });
