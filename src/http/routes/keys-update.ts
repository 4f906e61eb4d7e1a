// PATCH /v1/keys/{id} — change an API key's quota overrides (its grants and secret never change).
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { ApiKeyJson, KeyIdParam, keyJson, quotasFromJson, UpdateKeyBody } from './key-schemas.js';

export const updateKeyRoute = createRoute({
  method: 'patch',
  path: '/v1/keys/{id}',
  tags: ['Access control'],
  operationId: 'updateKey',
  summary: 'Change an API key’s quotas',
  description:
    '`quotas` replaces the key’s overrides (null: back to the server defaults). In force at once on this node and ' +
    'within 1 s on others. A key cannot give more than its own quotas (403), and browser tokens cannot change keys (403). ' +
    'Keys the changed key created keep their own quotas.',
  request: {
    params: KeyIdParam,
    body: { required: true, content: { 'application/json': { schema: UpdateKeyBody } } },
  },
  responses: {
    200: { description: 'The key', content: { 'application/json': { schema: ApiKeyJson } } },
    ...errorResponses(400, 401, 403, 404, 503),
  },
});

export const registerUpdateKey: RouteModule = (app) =>
  app.openapi(updateKeyRoute, async (c) => {
    const result = await c
      .get('services')
      .auth.setKeyQuotas(c.get('principal'), c.req.valid('param').id, quotasFromJson(c.req.valid('json').quotas));
    if (!result.ok) throw new ApiError(result.error.code, result.error.message);
    return c.json(keyJson(result.value), 200);
  });
