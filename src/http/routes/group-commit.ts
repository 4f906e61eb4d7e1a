// POST /v1/groups/{group}/offsets — commit offsets, fenced by member and generation; without
// them, an admin write allowed only while the group has no members.
import { createRoute, z } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { GroupParam, OffsetCommitJson, throwGroupError } from './group-schemas.js';

export const CommitOffsetsBody = z
  .strictObject({
    member_id: z.string().min(1).max(64).optional(),
    generation: z.number().int().min(0).optional(),
    offsets: z.array(OffsetCommitJson).min(1).max(10_000),
  })
  .openapi('CommitOffsetsRequest');

export const commitOffsetsRoute = createRoute({
  method: 'post',
  path: '/v1/groups/{group}/offsets',
  tags: ['Consumer groups'],
  operationId: 'commitGroupOffsets',
  summary: 'Commit offsets',
  description:
    '`offset` is the next record to read (Kafka’s convention). With `member_id` and `generation`: an unknown member, a stale generation, or a partition the member does not own in that generation → 409 `fenced`. ' +
    'Without them the commit is an admin write, allowed only while the group has no members (409 `conflict` otherwise); it creates the group if needed. ' +
    'An offset past the end of its partition → 422. All offsets are validated before any is written.',
  request: {
    params: GroupParam,
    body: { content: { 'application/json': { schema: CommitOffsetsBody } }, required: true },
  },
  responses: {
    204: { description: 'Committed' },
    ...errorResponses(400, 404, 409, 422, 503),
  },
});

export const registerCommitOffsets: RouteModule = (app) =>
  app.openapi(commitOffsetsRoute, async (c) => {
    const { group } = c.req.valid('param');
    const body = c.req.valid('json');
    const result = await c.get('services').groups.commit(group, {
      memberId: body.member_id,
      generation: body.generation,
      offsets: body.offsets,
    });
    if (!result.ok) throwGroupError(result.error);
    return c.body(null, 204);
  });
