// DELETE /v1/topics/{topic}/queues/{queue} — remove a queue and its progress.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { QueueParam, throwQueueError } from './queue-schemas.js';

export const deleteQueueRoute = createRoute({
  method: 'delete',
  path: '/v1/topics/{topic}/queues/{queue}',
  tags: ['Queues'],
  operationId: 'deleteQueue',
  summary: 'Delete a queue',
  description:
    'Removes the queue and its progress; the topic’s records stay. Leases it issued answer `unknown` afterwards.',
  request: { params: QueueParam },
  responses: {
    204: { description: 'Deleted' },
    ...errorResponses(400, 404, 503),
  },
});

export const registerDeleteQueue: RouteModule = (app) =>
  app.openapi(deleteQueueRoute, async (c) => {
    const { topic, queue } = c.req.valid('param');
    const result = await c.get('services').queues.delete(topic, queue);
    if (!result.ok) throwQueueError(result.error);
    return c.body(null, 204);
  });
