// GET /v1/topics/{topic} — one topic with per-partition start/end offsets and sizes.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { Topic, TopicNameParam, topicJson } from '../schemas/topic.js';

export const getTopicRoute = createRoute({
  method: 'get',
  path: '/v1/topics/{topic}',
  tags: ['Topics'],
  operationId: 'getTopic',
  summary: 'Describe a topic',
  request: { params: TopicNameParam },
  responses: {
    200: { description: 'The topic', content: { 'application/json': { schema: Topic } } },
    ...errorResponses(404, 503),
  },
});

export const registerGetTopic: RouteModule = (app) =>
  app.openapi(getTopicRoute, async (c) => {
    const { topics } = c.get('services');
    const result = await topics.get(c.req.valid('param').topic);
    if (!result.ok) throw new ApiError(result.error.code, result.error.message);
    return c.json(topicJson(result.value, topics.partitionStats(result.value)), 200);
  });
