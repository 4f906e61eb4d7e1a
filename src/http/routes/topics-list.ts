// GET /v1/topics — every topic with its partitions' offsets.
import { createRoute, z } from '@hono/zod-openapi';
import { can } from '../../auth/principal.js';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { Topic, topicJson } from '../schemas/topic.js';

export const TopicList = z.object({ topics: z.array(Topic) }).openapi('TopicList');

export const listTopicsRoute = createRoute({
  method: 'get',
  path: '/v1/topics',
  tags: ['Topics'],
  operationId: 'listTopics',
  summary: 'List topics',
  description: 'All topics, sorted by name.',
  responses: {
    200: { description: 'Topics', content: { 'application/json': { schema: TopicList } } },
    ...errorResponses(503),
  },
});

export const registerListTopics: RouteModule = (app) =>
  app.openapi(listTopicsRoute, async (c) => {
    const { topics } = c.get('services');
    const principal = c.get('principal');
    const list = (await topics.list()).filter((t) => can(principal, 'topic', t.name, 'describe'));
    return c.json({ topics: list.map((t) => topicJson(t, topics.partitionStats(t))) }, 200);
  });
