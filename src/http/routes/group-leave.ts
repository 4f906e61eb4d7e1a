// DELETE /v1/groups/{group}/members/{member} — leave a group at once; the remaining members
// rebalance without waiting for the session timeout.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { MemberParam, throwGroupError } from './group-schemas.js';

export const leaveGroupRoute = createRoute({
  method: 'delete',
  path: '/v1/groups/{group}/members/{member}',
  tags: ['Consumer groups'],
  operationId: 'leaveGroup',
  summary: 'Leave a consumer group',
  description:
    'With `auto_commit`, the positions delivered so far are committed first (as Kafka’s consumer does on close).',
  request: { params: MemberParam },
  responses: {
    204: { description: 'Left' },
    ...errorResponses(400, 404, 503),
  },
});

export const registerLeaveGroup: RouteModule = (app) =>
  app.openapi(leaveGroupRoute, async (c) => {
    const { group, member } = c.req.valid('param');
    const result = await c.get('services').groups.leave(group, member);
    if (!result.ok) throwGroupError(result.error);
    return c.body(null, 204);
  });
