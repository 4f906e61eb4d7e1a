// GET /v1/webhooks/{id}/deliveries — the most recent delivery attempts, newest first (a bounded log).
import { createRoute, z } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { WebhookDelivery, WebhookIdParam, deliveryJson } from './webhook-schemas.js';
import { intString } from '../schemas/int-query.js';

export const listWebhookDeliveriesRoute = createRoute({
  method: 'get',
  path: '/v1/webhooks/{id}/deliveries',
  tags: ['Webhooks'],
  operationId: 'listWebhookDeliveries',
  summary: 'Recent delivery attempts',
  description:
    'Each attempt with its outcome, status and error. Only the last SLUICE_WEBHOOK_DELIVERIES_KEPT (default 100) attempts are kept.',
  request: {
    params: WebhookIdParam,
    query: z.object({
      limit: intString(1, 10_000).optional().openapi({ description: 'At most this many (default 100).' }),
    }),
  },
  responses: {
    200: {
      description: 'Attempts, newest first',
      content: { 'application/json': { schema: z.object({ deliveries: z.array(WebhookDelivery) }) } },
    },
    ...errorResponses(400, 404, 503),
  },
});

export const registerListWebhookDeliveries: RouteModule = (app) =>
  app.openapi(listWebhookDeliveriesRoute, async (c) => {
    const result = await c
      .get('services')
      .webhooks.deliveries(c.req.valid('param').id, c.req.valid('query').limit ?? 100);
    if (!result.ok) throw new ApiError(result.error.code, result.error.message);
    return c.json({ deliveries: result.value.map(deliveryJson) }, 200);
  });
