// GET /v1/webhooks — every webhook with its state and lag (secrets are never listed).
import { createRoute, z } from '@hono/zod-openapi';
import { can } from '../../auth/principal.js';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { Webhook, webhookJson } from './webhook-schemas.js';

export const listWebhooksRoute = createRoute({
  method: 'get',
  path: '/v1/webhooks',
  tags: ['Webhooks'],
  operationId: 'listWebhooks',
  summary: 'List webhooks',
  responses: {
    200: {
      description: 'All webhooks, oldest first',
      content: { 'application/json': { schema: z.object({ webhooks: z.array(Webhook) }) } },
    },
    ...errorResponses(503),
  },
});

export const registerListWebhooks: RouteModule = (app) =>
  app.openapi(listWebhooksRoute, async (c) => {
    const principal = c.get('principal');
    const views = (await c.get('services').webhooks.list()).filter((v) =>
      can(principal, 'webhook', v.row.topic, 'describe'),
    );
    return c.json({ webhooks: views.map(webhookJson) }, 200);
  });
