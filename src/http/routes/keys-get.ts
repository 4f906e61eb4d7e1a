// GET /v1/keys/{id} — one API key (never its secret).
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { ApiKeyJson, KeyIdParam, keyJson } from './key-schemas.js';

export const getKeyRoute = createRoute({
  method: 'get',
  path: '/v1/keys/{id}',
  tags: ['Access control'],
  operationId: 'getKey',
  summary: 'Get an API key',
  request: { params: KeyIdParam },
  responses: {
    200: { description: 'The key', content: { 'application/json': { schema: ApiKeyJson } } },
    ...errorResponses(401, 403, 404, 503),
  },
});

export const registerGetKey: RouteModule = (app) =>
  app.openapi(getKeyRoute, async (c) => {
    const result = await c.get('services').auth.keys.get(c.req.valid('param').id);
    if (!result.ok) throw new ApiError(result.error.code, result.error.message);
    return c.json(keyJson(result.value), 200);
  });
