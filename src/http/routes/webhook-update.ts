// PATCH /v1/webhooks/{id} — pause/resume, or change the URL, batching, retry, time-out, dead-letter topic or filter.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { UpdateWebhookBody, Webhook, WebhookIdParam, webhookJson } from './webhook-schemas.js';

export const updateWebhookRoute = createRoute({
  method: 'patch',
  path: '/v1/webhooks/{id}',
  tags: ['Webhooks'],
  operationId: 'updateWebhook',
  summary: 'Update, pause or resume a webhook',
  description:
    "Fields left out keep their value. Any change stops the webhook's in-flight requests first (their batches are " +
    'not committed and are re-sent, with the same webhook-id, under the new settings), so no request with the old ' +
    'settings is in flight once this answers. The topic cannot change: create another webhook. A webhook whose topic ' +
    'was deleted (state `topic_deleted`) cannot change: 409 `conflict`.',
  request: {
    params: WebhookIdParam,
    body: { required: true, content: { 'application/json': { schema: UpdateWebhookBody } } },
  },
  responses: {
    200: { description: 'The updated webhook', content: { 'application/json': { schema: Webhook } } },
    ...errorResponses(400, 404, 409, 413, 415, 503),
  },
});

export const registerUpdateWebhook: RouteModule = (app) =>
  app.openapi(updateWebhookRoute, async (c) => {
    const result = await c.get('services').webhooks.update(c.req.valid('param').id, c.req.valid('json'));
    if (!result.ok) throw new ApiError(result.error.code, result.error.message);
    return c.json(webhookJson(result.value), 200);
  });
