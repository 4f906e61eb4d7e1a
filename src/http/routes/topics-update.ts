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
    'partitions added to it outside Sluice are adopted by a PATCH to its new count. ' +
    'A Durable Stream’s topic keeps its one partition: changing its count is a 409.',
  request: {
    params: TopicNameParam,
    body: { required: true, content: { 'application/json': { schema: UpdateTopicBody } } },
  },
  responses: {
    200: { description: 'The updated topic', content: { 'application/json': { schema: Topic } } },
    ...errorResponses(400, 404, 409, 413, 415, 503),
  },
});

export const registerUpdateTopic: RouteModule = (app) =>
  app.openapi(updateTopicRoute, async (c) => {
    const { topics, durableStreams } = c.get('services');
    const name = c.req.valid('param').topic;
    const body = c.req.valid('json');
    const current = topics.lookup(name);
    if (current && body.partitions !== undefined && body.partitions !== current.partitions) {
      const stream = await durableStreams.pathOfTopic(current.id);
      if (stream !== undefined)
        throw new ApiError(
          'conflict',
          `topic ${JSON.stringify(name)} is the Durable Stream ${JSON.stringify(stream)}, which has one partition: its reads and appends use partition 0 only`,
        );
    }
    const result = await topics.update(name, body, requestLogger(c));
    if (!result.ok) throw new ApiError(result.error.code, result.error.message);
    return c.json(topicJson(result.value, topics.partitionStats(result.value)), 200);
  });
