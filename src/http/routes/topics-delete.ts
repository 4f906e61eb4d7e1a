// DELETE /v1/topics/{topic} — delete a topic and its data.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { requestLogger } from '../middleware/request-context.js';
import { TopicNameParam } from '../schemas/topic.js';

export const deleteTopicRoute = createRoute({
  method: 'delete',
  path: '/v1/topics/{topic}',
  tags: ['Topics'],
  operationId: 'deleteTopic',
  summary: 'Delete a topic',
  description:
    'Removes the topic and all its log data. The name can be reused at once; the new topic gets a new id and ' +
    'starts at offset 0. Everything that pointed at the old topic ends with it: open streams on it end; consumer ' +
    "groups' committed offsets and positions on it are removed (as Kafka does), so a group starts a new topic of the " +
    'name at its auto_offset_reset position; its webhooks end in state `topic_deleted`; SSE topic cursors issued for it ' +
    'are refused (410) on a new topic of the name. A topic exposing an existing Kafka topic (`kafka_topic`) only lets go ' +
    'of it: the Kafka topic and its data stay in Kafka, and exposing it again reads the same records.',
  request: { params: TopicNameParam },
  responses: {
    204: { description: 'Deleted' },
    ...errorResponses(404, 503),
  },
});

export const registerDeleteTopic: RouteModule = (app) =>
  app.openapi(deleteTopicRoute, async (c) => {
    const result = await c.get('services').topics.delete(c.req.valid('param').topic, requestLogger(c));
    if (!result.ok) throw new ApiError(result.error.code, result.error.message);
    return c.body(null, 204);
  });
