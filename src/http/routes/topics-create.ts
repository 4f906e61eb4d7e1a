// POST /v1/topics — create a topic with its partitions and config.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { requestLogger } from '../middleware/request-context.js';
import { CreateTopicBody, Topic, topicJson } from '../schemas/topic.js';

export const createTopicRoute = createRoute({
  method: 'post',
  path: '/v1/topics',
  tags: ['Topics'],
  operationId: 'createTopic',
  summary: 'Create a topic (or expose an existing Kafka topic)',
  description:
    'Creates the topic and its partition logs. Crash-safe: a create interrupted half-way is rolled back at the next start. On the Kafka store, `kafka_topic` exposes an existing Kafka topic instead (needing topic create on `name` and on `kafka_topic`); see that field.',
  request: { body: { required: true, content: { 'application/json': { schema: CreateTopicBody } } } },
  responses: {
    201: { description: 'Created', content: { 'application/json': { schema: Topic } } },
    ...errorResponses(400, 404, 409, 413, 415, 503),
  },
});

export const registerCreateTopic: RouteModule = (app) =>
  app.openapi(createTopicRoute, async (c) => {
    const { topics } = c.get('services');
    const result = await topics.create(c.req.valid('json'), requestLogger(c));
    if (!result.ok) throw new ApiError(result.error.code, result.error.message);
    c.header('location', `/v1/topics/${encodeURIComponent(result.value.name)}`);
    return c.json(topicJson(result.value, topics.partitionStats(result.value)), 201);
  });
