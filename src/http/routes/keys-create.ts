// POST /v1/keys — create an API key; its secret is returned only here.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { ApiKeyWithSecret, CreateKeyBody, keyJson, quotasFromJson } from './key-schemas.js';

export const createKeyRoute = createRoute({
  method: 'post',
  path: '/v1/keys',
  tags: ['Access control'],
  operationId: 'createKey',
  summary: 'Create an API key',
  description:
    'The answer carries the secret `key` (`slk_…`), shown only once; Sluice keeps only its SHA-256. ' +
    'A caller can only give grants it holds itself (403 otherwise). In `auto` mode the first key ends ' +
    'anonymous loopback access: from then on every request needs a credential; so it must hold every grant (400 otherwise). A key never outlives the key ' +
    'that creates it (no `expires_at` means the creator’s; a later one is 400), and browser tokens cannot create keys (403). ' +
    '`quotas` overrides the per-key quotas; a key cannot give more than its own (403).',
  request: { body: { required: true, content: { 'application/json': { schema: CreateKeyBody } } } },
  responses: {
    201: { description: 'Created', content: { 'application/json': { schema: ApiKeyWithSecret } } },
    ...errorResponses(400, 401, 403, 503),
  },
});

export const registerCreateKey: RouteModule = (app) =>
  app.openapi(createKeyRoute, async (c) => {
    const body = c.req.valid('json');
    const result = await c.get('services').auth.createKey(c.get('principal'), {
      name: body.name,
      grants: body.grants,
      expiresAt: body.expires_at ?? null,
      quotas: quotasFromJson(body.quotas),
    });
    if (!result.ok) throw new ApiError(result.error.code, result.error.message);
    const { key, secret } = result.value;
    c.header('location', `/v1/keys/${key.id}`);
    return c.json({ ...keyJson(key), key: secret }, 201);
  });
