// POST /v1/webhooks/{id}/rotate-secret — new signing secret (shown once); the old one keeps signing for a grace period.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { RotateSecretBody, WebhookIdParam, WebhookWithSecret, webhookJson } from './webhook-schemas.js';

export const rotateWebhookSecretRoute = createRoute({
  method: 'post',
  path: '/v1/webhooks/{id}/rotate-secret',
  tags: ['Webhooks'],
  operationId: 'rotateWebhookSecret',
  summary: 'Rotate the signing secret',
  description:
    'Returns the new secret once. Until `previous_secret_expires_at`, `webhook-signature` carries two signatures ' +
    '(new and old secret, space-separated, as the Standard Webhooks spec allows), so receivers verifying with either pass.',
  request: {
    params: WebhookIdParam,
    body: { required: false, content: { 'application/json': { schema: RotateSecretBody } } },
  },
  responses: {
    200: {
      description: 'The webhook with its new secret',
      content: { 'application/json': { schema: WebhookWithSecret } },
    },
    ...errorResponses(400, 404, 503),
  },
});

export const registerRotateWebhookSecret: RouteModule = (app) =>
  app.openapi(rotateWebhookSecretRoute, async (c) => {
    const body = c.req.valid('json') as { grace_period_ms?: number } | undefined;
    const result = await c.get('services').webhooks.rotateSecret(c.req.valid('param').id, body?.grace_period_ms);
    if (!result.ok) throw new ApiError(result.error.code, result.error.message);
    return c.json({ ...webhookJson(result.value.view), secret: result.value.secret }, 200);
  });
