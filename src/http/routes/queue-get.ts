// GET /v1/topics/{topic}/queues/{queue} — a queue's settings and counts.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { QueueJson, QueueParam, throwQueueError } from './queue-schemas.js';

export const getQueueRoute = createRoute({
  method: 'get',
  path: '/v1/topics/{topic}/queues/{queue}',
  tags: ['Queues'],
  operationId: 'getQueue',
  summary: 'Describe a queue',
  description:
    'Settings, counts (available, in flight, accepted, dead-lettered, archived, skipped by retention) and the age of the oldest unfinished record.',
  request: { params: QueueParam },
  responses: {
    200: { description: 'The queue', content: { 'application/json': { schema: QueueJson } } },
    ...errorResponses(400, 404, 503),
  },
});

export const registerGetQueue: RouteModule = (app) =>
  app.openapi(getQueueRoute, async (c) => {
    const { topic, queue } = c.req.valid('param');
    const result = await c.get('services').queues.get(topic, queue);
    if (!result.ok) throwQueueError(result.error);
    return c.json(result.value, 200);
  });
