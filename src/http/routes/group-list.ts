// GET /v1/groups — every consumer group with its state, generation and member count.
// Member counts skip expired sessions even before the sweeper has removed them.
import { createRoute, z } from '@hono/zod-openapi';
import { can } from '../../auth/principal.js';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';

export const GroupSummaryJson = z
  .object({
    name: z.string(),
    state: z.enum(['empty', 'rebalancing', 'stable']),
    generation: z.number().int(),
    members: z.number().int().openapi({ description: 'Members whose session has not expired.' }),
  })
  .openapi('GroupSummary');

export const ListGroupsResponse = z.object({ groups: z.array(GroupSummaryJson) }).openapi('ListGroupsResponse');

export const listGroupsRoute = createRoute({
  method: 'get',
  path: '/v1/groups',
  tags: ['Consumer groups'],
  operationId: 'listGroups',
  summary: 'List consumer groups',
  responses: {
    200: { description: 'Groups, by name', content: { 'application/json': { schema: ListGroupsResponse } } },
    ...errorResponses(503),
  },
});

export const registerListGroups: RouteModule = (app) =>
  app.openapi(listGroupsRoute, async (c) => {
    const principal = c.get('principal');
    const groups = (await c.get('services').groups.list()).filter((g) => can(principal, 'group', g.name, 'describe'));
    return c.json({ groups }, 200);
  });
