// DELETE /v1/groups/{group}/members/{member} — leave a group at once; the remaining members
// rebalance without waiting for the session timeout.
import { createRoute, z } from '@hono/zod-openapi';
import { decodeGroupCursor } from '../../groups/group-cursor.js';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { MemberParam, refuseUnreadableTopic, throwGroupError } from './group-schemas.js';

export const leaveGroupRoute = createRoute({
  method: 'delete',
  path: '/v1/groups/{group}/members/{member}',
  tags: ['Consumer groups'],
  operationId: 'leaveGroup',
  summary: 'Leave a consumer group',
  description:
    'With `auto_commit`, the confirmed positions are committed first (as Kafka’s consumer does on close): pass the `cursor` of the last fetch answer you received to confirm it too. ' +
    'Records that were sent but never confirmed are not committed, so the next owner reads them again. ' +
    'A member the group does not know (it left, or its session expired) is 404 `member_not_found`: it is gone already.',
  request: {
    params: MemberParam,
    query: z.object({
      cursor: z.string().max(16_384).optional().openapi({
        description:
          'The `cursor` of the last fetch answer you received: confirms it before leaving (400 if malformed).',
      }),
    }),
  },
  responses: {
    204: { description: 'Left' },
    ...errorResponses(400, 404, 503),
  },
});

export const registerLeaveGroup: RouteModule = (app) =>
  app.openapi(leaveGroupRoute, async (c) => {
    const { group, member } = c.req.valid('param');
    const { cursor } = c.req.valid('query');
    const confirm = cursor === undefined || cursor === '' ? undefined : decodeGroupCursor(cursor);
    if (confirm && !confirm.ok) throw new ApiError('bad_request', confirm.error.message);
    const result = await c.get('services').groups.leave(group, member, {
      confirm: confirm?.value,
      refuseTopic: refuseUnreadableTopic(c.get('principal')),
    });
    if (!result.ok) throwGroupError(result.error);
    return c.body(null, 204);
  });
