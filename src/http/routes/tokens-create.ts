// POST /v1/tokens — mint a short-lived browser token holding some of the caller's grants.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { CreateTokenBody, TokenJson } from './key-schemas.js';

export const createTokenRoute = createRoute({
  method: 'post',
  path: '/v1/tokens',
  tags: ['Access control'],
  operationId: 'createToken',
  summary: 'Mint a browser token',
  description:
    'For pages and other places a key must not go: a signed token (JWT) with the given grants, which must be a ' +
    'subset of the caller’s (403 otherwise), valid for `ttl_ms` (≤ 24 h). Verified without a database look-up; ' +
    'refused after expiry and within 1 s of its key being revoked. Send it as `Authorization: Bearer`, or on GET ' +
    'streams as `?access_token=` (what `EventSource` can do); it is never written to logs.',
  request: { body: { required: true, content: { 'application/json': { schema: CreateTokenBody } } } },
  responses: {
    201: { description: 'Minted', content: { 'application/json': { schema: TokenJson } } },
    ...errorResponses(400, 401, 403, 503),
  },
});

export const registerCreateToken: RouteModule = (app) =>
  app.openapi(createTokenRoute, async (c) => {
    const { grants, ttl_ms } = c.req.valid('json');
    const result = await c.get('services').auth.mintToken(c.get('principal'), grants, ttl_ms);
    if (!result.ok) throw new ApiError(result.error.code, result.error.message);
    return c.json({ token: result.value.token, expires_at: result.value.expiresAt }, 201);
  });
