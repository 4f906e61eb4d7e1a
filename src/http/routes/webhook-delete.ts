// DELETE /v1/webhooks/{id} — stop delivery and remove the webhook, its deliveries log and its offsets.
import { createRoute } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { WebhookIdParam } from './webhook-schemas.js';

export const deleteWebhookRoute = createRoute({
  method: 'delete',
  path: '/v1/webhooks/{id}',
  tags: ['Webhooks'],
  operationId: 'deleteWebhook',
  summary: 'Delete a webhook',
  description: 'In-flight requests are aborted; nothing more is sent once this answers.',
  request: { params: WebhookIdParam },
  responses: {
    204: { description: 'Deleted' },
    ...errorResponses(404, 503),
  },
});

export const registerDeleteWebhook: RouteModule = (app) =>
  app.openapi(deleteWebhookRoute, async (c) => {
    const result = await c.get('services').webhooks.delete(c.req.valid('param').id);
    if (!result.ok) throw new ApiError(result.error.code, result.error.message);
    return c.body(null, 204);
  });
