// DELETE /v1/groups/{group} — delete an empty group and its committed offsets.
// Refused (409) while members exist, as Kafka's tools refuse to delete an active group.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { GroupParam, throwGroupError } from './group-schemas.js';

export const deleteGroupRoute = createRoute({
  method: 'delete',
  path: '/v1/groups/{group}',
  tags: ['Consumer groups'],
  operationId: 'deleteGroup',
  summary: 'Delete a consumer group',
  description:
    'Removes the group and its committed offsets. 409 `conflict` while it has members (expired sessions do not count).',
  request: { params: GroupParam },
  responses: {
    204: { description: 'Deleted' },
    ...errorResponses(400, 404, 409, 503),
  },
});

export const registerDeleteGroup: RouteModule = (app) =>
  app.openapi(deleteGroupRoute, async (c) => {
    const result = await c.get('services').groups.delete(c.req.valid('param').group);
    if (!result.ok) throwGroupError(result.error);
    return c.body(null, 204);
  });
