// GET /v1/topics/{topic}/queues — every queue of a topic with its counts.
import { createRoute, z } from '@hono/zod-openapi';
import { can } from '../../auth/principal.js';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { QueueJson, TopicQueuesParam, throwQueueError } from './queue-schemas.js';

export const listQueuesRoute = createRoute({
  method: 'get',
  path: '/v1/topics/{topic}/queues',
  tags: ['Queues'],
  operationId: 'listQueues',
  summary: 'List a topic’s queues',
  request: { params: TopicQueuesParam },
  responses: {
    200: {
      description: 'The queues, by name',
      content: { 'application/json': { schema: z.object({ queues: z.array(QueueJson) }) } },
    },
    ...errorResponses(400, 404, 503),
  },
});

export const registerListQueues: RouteModule = (app) =>
  app.openapi(listQueuesRoute, async (c) => {
    const result = await c.get('services').queues.list(c.req.valid('param').topic);
    if (!result.ok) throwQueueError(result.error);
    const principal = c.get('principal');
    return c.json({ queues: result.value.filter((q) => can(principal, 'group', q.name, 'describe')) }, 200);
  });
