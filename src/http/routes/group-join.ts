// POST /v1/groups/{group}/members — join a consumer group and receive a member id, the
// generation and this member's partitions (after the coalesced rebalance settles).
import { createRoute, z } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { GroupParam, MembershipJson, NAME_PATTERN, throwGroupError } from './group-schemas.js';

export const JoinGroupBody = z
  .strictObject({
    topics: z
      .array(z.string().regex(NAME_PATTERN, 'a topic name'))
      .min(1)
      .max(100)
      .openapi({ description: 'Topics to consume (1–100); every partition of each is shared among the members.' }),
    session_timeout_ms: z.number().int().min(100).max(3_600_000).default(30_000).openapi({
      description:
        'The member is removed (and its partitions reassigned) if no fetch or heartbeat arrives for this long.',
    }),
    auto_offset_reset: z.enum(['earliest', 'latest', 'none']).default('latest').openapi({
      description:
        'Where to start a partition with no committed offset (or one outside the log): `earliest`, `latest` (from when the member got the partition), or `none` — fetch answers 409 `conflict` naming the partition.',
    }),
    auto_commit: z.boolean().default(false).openapi({
      description:
        'Each fetch first commits what the previous fetch delivered (at-least-once, like Kafka’s poll loop); leaving commits too.',
    }),
  })
  .openapi('JoinGroupRequest');

export const JoinGroupResponse = MembershipJson.extend({
  session_timeout_ms: z.number().int(),
}).openapi('JoinGroupResponse');

export const joinGroupRoute = createRoute({
  method: 'post',
  path: '/v1/groups/{group}/members',
  tags: ['Consumer groups'],
  operationId: 'joinGroup',
  summary: 'Join a consumer group',
  description:
    'Creates the group on first join. Joins arriving within `SLUICE_GROUP_REBALANCE_DELAY_MS` of each other share one rebalance, so the answer may take that long. ' +
    'The sticky assignor keeps every partition with its current owner where it can and moves as few as balance requires.',
  request: { params: GroupParam, body: { content: { 'application/json': { schema: JoinGroupBody } }, required: true } },
  responses: {
    201: { description: 'Joined', content: { 'application/json': { schema: JoinGroupResponse } } },
    ...errorResponses(400, 404, 503),
  },
});

export const registerJoinGroup: RouteModule = (app) =>
  app.openapi(joinGroupRoute, async (c) => {
    const { group } = c.req.valid('param');
    const body = c.req.valid('json');
    const result = await c.get('services').groups.join(group, {
      topics: body.topics,
      sessionTimeoutMs: body.session_timeout_ms,
      autoOffsetReset: body.auto_offset_reset,
      autoCommit: body.auto_commit,
    });
    if (!result.ok) throwGroupError(result.error);
    const v = result.value;
    c.header('Location', `/v1/groups/${group}/members/${v.memberId}`);
    return c.json(
      {
        member_id: v.memberId,
        generation: v.generation,
        assignment: v.assignment,
        session_timeout_ms: body.session_timeout_ms,
      },
      201,
    );
  });
