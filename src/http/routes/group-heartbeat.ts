// POST /v1/groups/{group}/members/{member}/heartbeat — keep a member's session alive and
// learn the current generation and assignment without fetching.
import { createRoute, z } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { MemberParam, MembershipJson, throwGroupError } from './group-schemas.js';

export const HeartbeatResponse = MembershipJson.extend({
  state: z.enum(['empty', 'rebalancing', 'stable']),
}).openapi('GroupHeartbeatResponse');

export const heartbeatRoute = createRoute({
  method: 'post',
  path: '/v1/groups/{group}/members/{member}/heartbeat',
  tags: ['Consumer groups'],
  operationId: 'heartbeatGroupMember',
  summary: 'Heartbeat a group member',
  description:
    'Extends the session by `session_timeout_ms`. An unknown or expired member gets 409 `fenced` and must join again.',
  request: { params: MemberParam },
  responses: {
    200: { description: 'Session extended', content: { 'application/json': { schema: HeartbeatResponse } } },
    ...errorResponses(400, 409, 503),
  },
});

export const registerGroupHeartbeat: RouteModule = (app) =>
  app.openapi(heartbeatRoute, async (c) => {
    const { group, member } = c.req.valid('param');
    const result = await c.get('services').groups.heartbeat(group, member);
    if (!result.ok) throwGroupError(result.error);
    const v = result.value;
    return c.json({ member_id: v.memberId, generation: v.generation, assignment: v.assignment, state: v.state }, 200);
  });
