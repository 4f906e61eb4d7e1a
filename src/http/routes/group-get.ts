// GET /v1/groups/{group} — a group's state, members with their assignments, and per-partition
// committed offset, end offset and lag of the topics the caller may describe.
import { createRoute, z } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { can } from '../../auth/principal.js';
import { GroupParam, TopicPartitionJson, throwGroupError } from './group-schemas.js';

export const GroupMemberJson = z
  .object({
    member_id: z.string(),
    kind: z.enum(['poll', 'sse']).openapi({ description: '`sse` members are held by an open event stream.' }),
    topics: z.array(z.string()),
    session_timeout_ms: z.number().int(),
    session_expires_at: z.number().int().openapi({ description: 'Unix ms.' }),
    auto_offset_reset: z.enum(['earliest', 'latest', 'none']),
    auto_commit: z.boolean(),
    joined_at: z.number().int().openapi({ description: 'Unix ms.' }),
    assignment: z.array(TopicPartitionJson),
  })
  .openapi('GroupMember');

export const GroupPartitionJson = z
  .object({
    topic: z.string(),
    partition: z.number().int(),
    committed_offset: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'Next record to read; null if never committed.' }),
    metadata: z.string().nullable(),
    end_offset: z.number().int().nullable().openapi({ description: 'Null if the topic no longer exists.' }),
    lag: z.number().int().nullable().openapi({
      description:
        'end_offset − committed_offset. Without a committed offset: end_offset − the offset the group would start at (the owner’s position, else per its `auto_offset_reset`: `earliest` = the start offset, `latest` = the end); null with `none` or when the topic is gone.',
    }),
    owner: z.string().nullable().openapi({ description: 'member_id owning the partition in the current generation.' }),
  })
  .openapi('GroupPartition');

export const GroupJson = z
  .object({
    name: z.string(),
    state: z.enum(['empty', 'rebalancing', 'stable']),
    generation: z.number().int(),
    protocol: z.string().openapi({ description: 'Assignment strategy (`sticky`).' }),
    members: z.array(GroupMemberJson),
    partitions: z.array(GroupPartitionJson),
    total_lag: z.number().int().openapi({ description: 'Sum of the known (non-null) lags of the partitions listed.' }),
  })
  .openapi('Group');

export const getGroupRoute = createRoute({
  method: 'get',
  path: '/v1/groups/{group}',
  tags: ['Consumer groups'],
  operationId: 'getGroup',
  summary: 'Describe a consumer group',
  description:
    'Partitions listed are those of subscribed topics plus any with committed offsets, of the topics the caller may describe (`topic:describe`; as Kafka’s OffsetFetch filters by topic). Members and their assignments are shown whole, as Kafka’s DescribeGroups shows them.',
  request: { params: GroupParam },
  responses: {
    200: { description: 'The group', content: { 'application/json': { schema: GroupJson } } },
    ...errorResponses(400, 404, 503),
  },
});

export const registerGetGroup: RouteModule = (app) =>
  app.openapi(getGroupRoute, async (c) => {
    const result = await c.get('services').groups.describe(c.req.valid('param').group);
    if (!result.ok) throwGroupError(result.error);
    const g = result.value;
    const principal = c.get('principal');
    const partitions = g.partitions.filter((p) => can(principal, 'topic', p.topic, 'describe'));
    const totalLag = partitions.reduce((sum, p) => sum + (p.lag ?? 0), 0);
    return c.json(
      {
        name: g.name,
        state: g.state,
        generation: g.generation,
        protocol: g.protocol,
        members: g.memberList.map((m) => ({
          member_id: m.memberId,
          kind: m.kind === 'sse' ? ('sse' as const) : ('poll' as const),
          topics: m.topics,
          session_timeout_ms: m.sessionTimeoutMs,
          session_expires_at: m.sessionExpiresAt,
          auto_offset_reset: m.autoOffsetReset as 'earliest' | 'latest' | 'none',
          auto_commit: m.autoCommit,
          joined_at: m.joinedAt,
          assignment: m.assignment,
        })),
        partitions: partitions.map((p) => ({
          topic: p.topic,
          partition: p.partition,
          committed_offset: p.committedOffset,
          metadata: p.metadata,
          end_offset: p.endOffset,
          lag: p.lag,
          owner: p.owner,
        })),
        total_lag: totalLag,
      },
      200,
    );
  });
