// DELETE /v1/keys/{id} — revoke an API key and every browser token it minted.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { KeyIdParam } from './key-schemas.js';

export const revokeKeyRoute = createRoute({
  method: 'delete',
  path: '/v1/keys/{id}',
  tags: ['Access control'],
  operationId: 'revokeKey',
  summary: 'Revoke an API key',
  description:
    'The key, the tokens it minted and the keys it created (transitively) are refused within 1 s on every node, ' +
    'and streams opened with them end. ' +
    'The key stays listed with `revoked_at`. Revoking twice is harmless.',
  request: { params: KeyIdParam },
  responses: {
    204: { description: 'Revoked' },
    ...errorResponses(401, 403, 404, 503),
  },
});

export const registerRevokeKey: RouteModule = (app) =>
  app.openapi(revokeKeyRoute, async (c) => {
    const result = await c.get('services').auth.keys.revoke(c.req.valid('param').id);
    if (!result.ok) throw new ApiError(result.error.code, result.error.message);
    return c.body(null, 204);
  });
