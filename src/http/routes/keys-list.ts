// GET /v1/keys — the keys the caller may describe (never their secrets).
import { createRoute, z } from '@hono/zod-openapi';
import { can } from '../../auth/principal.js';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { ApiKeyJson, keyJson } from './key-schemas.js';

export const listKeysRoute = createRoute({
  method: 'get',
  path: '/v1/keys',
  tags: ['Access control'],
  operationId: 'listKeys',
  summary: 'List API keys',
  responses: {
    200: {
      description: 'Keys the caller may describe, oldest first, revoked ones included',
      content: { 'application/json': { schema: z.object({ keys: z.array(ApiKeyJson) }) } },
    },
    ...errorResponses(401, 403, 503),
  },
});

export const registerListKeys: RouteModule = (app) =>
  app.openapi(listKeysRoute, async (c) => {
    const principal = c.get('principal');
    const keys = await c.get('services').auth.keys.list();
    return c.json({ keys: keys.filter((k) => can(principal, 'key', k.name, 'describe')).map(keyJson) }, 200);
  });
