// PUT /v1/topics/{topic}/queues/{queue} — create a queue over a topic, or change its settings.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { QueueJson, QueueParam, QueueSettingsBody, throwQueueError } from './queue-schemas.js';
import { requestLogger } from '../middleware/request-context.js';

export const putQueueRoute = createRoute({
  method: 'put',
  path: '/v1/topics/{topic}/queues/{queue}',
  tags: ['Queues'],
  operationId: 'putQueue',
  summary: 'Create or update a queue',
  description:
    'A queue hands the topic’s records to any number of receivers, one record to one receiver at a time, each acknowledged on its own. ' +
    'Omitted settings take their defaults. 201 when created, 200 when an existing queue was updated (its progress is kept).',
  request: {
    params: QueueParam,
    body: { content: { 'application/json': { schema: QueueSettingsBody } }, required: true },
  },
  responses: {
    200: { description: 'Updated', content: { 'application/json': { schema: QueueJson } } },
    201: { description: 'Created', content: { 'application/json': { schema: QueueJson } } },
    ...errorResponses(400, 404, 409, 503),
  },
});

export const registerPutQueue: RouteModule = (app) =>
  app.openapi(putQueueRoute, async (c) => {
    const { topic, queue } = c.req.valid('param');
    const result = await c.get('services').queues.put(topic, queue, c.req.valid('json'), requestLogger(c));
    if (!result.ok) throwQueueError(result.error);
    return c.json(result.value.queue, result.value.created ? 201 : 200);
  });
