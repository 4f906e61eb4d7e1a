// POST /v1/groups/{group}/offsets/reset — move a group's committed offsets for a topic to the
// start, the end, a timestamp or an explicit offset; only while the group has no members.
import { createRoute, z } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { GroupParam, NAME_PATTERN, throwGroupError } from './group-schemas.js';

export const ResetOffsetsBody = z
  .strictObject({
    topic: z.string().regex(NAME_PATTERN, 'a topic name'),
    to: z.union(
      [
        z.enum(['earliest', 'latest']),
        z.strictObject({ timestamp: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }),
        z.strictObject({ offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }),
      ],
      { error: 'must be "earliest", "latest", {"timestamp": <Unix ms ≥ 0>} or {"offset": <offset ≥ 0>}' },
    ),
    partitions: z
      .array(z.number().int().min(0))
      .min(1)
      .max(100_000)
      .optional()
      .openapi({ description: 'Only these partitions (default: all of the topic’s).' }),
  })
  .openapi('ResetOffsetsRequest');

export const ResetOffsetsResponse = z
  .object({
    offsets: z.array(z.object({ topic: z.string(), partition: z.number().int(), offset: z.number().int() })),
  })
  .openapi('ResetOffsetsResponse');

export const resetOffsetsRoute = createRoute({
  method: 'post',
  path: '/v1/groups/{group}/offsets/reset',
  tags: ['Consumer groups'],
  operationId: 'resetGroupOffsets',
  summary: 'Reset committed offsets',
  description:
    '`earliest` = each partition’s start, `latest` = its end, `{"timestamp"}` = first record at or after it (end if none), `{"offset"}` = that offset, which must lie in every chosen partition’s range (416 otherwise, nothing written). ' +
    'The group must exist (404 `group_not_found` otherwise: a group is created by a join or by an admin commit to `POST /v1/groups/{group}/offsets`); 409 `conflict` while it has members.',
  request: {
    params: GroupParam,
    body: { content: { 'application/json': { schema: ResetOffsetsBody } }, required: true },
  },
  responses: {
    200: {
      description: 'The committed offsets now',
      content: { 'application/json': { schema: ResetOffsetsResponse } },
    },
    ...errorResponses(400, 404, 409, 416, 503),
  },
});

export const registerResetOffsets: RouteModule = (app) =>
  app.openapi(resetOffsetsRoute, async (c) => {
    const { group } = c.req.valid('param');
    const body = c.req.valid('json');
    const result = await c.get('services').groups.resetOffsets(group, body);
    if (!result.ok) throwGroupError(result.error);
    return c.json({ offsets: result.value }, 200);
  });
