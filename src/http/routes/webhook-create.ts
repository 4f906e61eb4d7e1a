// POST /v1/webhooks — subscribe a URL to a topic; the signing secret is returned only here.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { CreateWebhookBody, WebhookWithSecret, webhookJson } from './webhook-schemas.js';

export const createWebhookRoute = createRoute({
  method: 'post',
  path: '/v1/webhooks',
  tags: ['Webhooks'],
  operationId: 'createWebhook',
  summary: 'Create a webhook',
  description:
    'Pushes the topic\'s records to `url` as `POST {"topic","partition","records":[Record]}`, one batch in flight per ' +
    'partition (order kept per partition, partitions independent), at least once. Requests are signed per the ' +
    'Standard Webhooks spec (`webhook-id` — stable across retries and restarts of a batch, dedupe on it — ' +
    '`webhook-timestamp`, `webhook-signature`). 2xx commits the batch; 410 disables the webhook; anything else, ' +
    'connection errors and time-outs are retried with exponential backoff and full jitter, honouring Retry-After. ' +
    'The response carries `secret`, shown only once.',
  request: { body: { required: true, content: { 'application/json': { schema: CreateWebhookBody } } } },
  responses: {
    201: { description: 'Created', content: { 'application/json': { schema: WebhookWithSecret } } },
    ...errorResponses(400, 404, 413, 415, 503),
  },
});

export const registerCreateWebhook: RouteModule = (app) =>
  app.openapi(createWebhookRoute, async (c) => {
    const result = await c.get('services').webhooks.create(c.req.valid('json'));
    if (!result.ok) throw new ApiError(result.error.code, result.error.message);
    c.header('location', `/v1/webhooks/${result.value.view.row.id}`);
    return c.json({ ...webhookJson(result.value.view), secret: result.value.secret }, 201);
  });
