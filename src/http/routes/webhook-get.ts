// GET /v1/webhooks/{id} — one webhook: settings, state, lag, last success/error, per-partition progress.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { Webhook, WebhookIdParam, webhookJson } from './webhook-schemas.js';

export const getWebhookRoute = createRoute({
  method: 'get',
  path: '/v1/webhooks/{id}',
  tags: ['Webhooks'],
  operationId: 'getWebhook',
  summary: 'Describe a webhook',
  request: { params: WebhookIdParam },
  responses: {
    200: { description: 'The webhook and its delivery status', content: { 'application/json': { schema: Webhook } } },
    ...errorResponses(404, 503),
  },
});

export const registerGetWebhook: RouteModule = (app) =>
  app.openapi(getWebhookRoute, async (c) => {
    const result = await c.get('services').webhooks.get(c.req.valid('param').id);
    if (!result.ok) throw new ApiError(result.error.code, result.error.message);
    return c.json(webhookJson(result.value), 200);
  });
