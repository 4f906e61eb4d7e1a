// PATCH /v1/topics/{topic} — grow partitions and/or change config.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { requestLogger } from '../middleware/request-context.js';
import { Topic, TopicNameParam, UpdateTopicBody, topicJson } from '../schemas/topic.js';

export const updateTopicRoute = createRoute({
  method: 'patch',
  path: '/v1/topics/{topic}',
  tags: ['Topics'],
  operationId: 'updateTopic',
  summary: 'Grow partitions or change config',
  description:
    'Partitions only grow (shrinking is a 400). Config changes apply to the partition logs at once ' +
    '(retention, segment size) or to the next produce (durability, max_record_bytes). value_format is fixed. ' +
    'On a topic exposing an existing Kafka topic (`kafka_topic`), growing partitions grows that Kafka topic (as ' +
    'kafka-topics.sh --alter would: keys of native producers may map to other partitions afterwards) and a changed ' +
    'retention_ms, retention_bytes, segment_bytes or segment_ms is written to its Kafka config (only what changed); ' +
    'partitions added to it outside Sluice are adopted by a PATCH to its new count.',
  request: {
    params: TopicNameParam,
    body: { required: true, content: { 'application/json': { schema: UpdateTopicBody } } },
  },
  responses: {
    200: { description: 'The updated topic', content: { 'application/json': { schema: Topic } } },
    ...errorResponses(400, 404, 413, 415, 503),
  },
});

export const registerUpdateTopic: RouteModule = (app) =>
  app.openapi(updateTopicRoute, async (c) => {
    const { topics } = c.get('services');
    const result = await topics.update(c.req.valid('param').topic, c.req.valid('json'), requestLogger(c));
    if (!result.ok) throw new ApiError(result.error.code, result.error.message);
    return c.json(topicJson(result.value, topics.partitionStats(result.value)), 200);
  });
