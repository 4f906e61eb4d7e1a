// POST /v1/topics/{topic}/queues/{queue}/ack — accept, release, reject or renew leased records.
import { createRoute, z } from '@hono/zod-openapi';
import { LEASE_FORMAT, parseLease } from '../../queues/lease.js';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { QueueParam, throwQueueError } from './queue-schemas.js';

export const MAX_ACKS = 10_000;

export const AckBody = z
  .strictObject({
    acks: z
      .array(
        z.strictObject({
          lease: z
            .string()
            .max(64)
            .openapi({ description: `A lease from receive (${LEASE_FORMAT}).` }),
          action: z.enum(['accept', 'release', 'reject', 'renew']).openapi({
            description:
              '`accept`: done. `release`: available again now (dead-lettered once max_deliveries is reached). `reject`: to the dead-letter topic now (archived without one). `renew`: extend the lease by the queue’s lock_ms from now.',
          }),
        }),
      )
      .min(1)
      .max(MAX_ACKS),
  })
  .openapi('QueueAckRequest');

export const AckResponse = z
  .object({
    results: z.array(
      z.object({
        lease: z.string(),
        status: z.enum(['ok', 'expired', 'unknown']).openapi({
          description:
            '`ok`: done as asked. `expired`: the lease ran out first (the record is available again or with another receiver); nothing changed. `unknown`: the lease does not hold the record (already acknowledged, released, or not from this queue); nothing changed.',
        }),
        lock_expires_at: z.number().int().optional().openapi({ description: 'renew: the new expiry (Unix ms).' }),
      }),
    ),
  })
  .openapi('QueueAckResponse');

export const ackRoute = createRoute({
  method: 'post',
  path: '/v1/topics/{topic}/queues/{queue}/ack',
  tags: ['Queues'],
  operationId: 'ackQueueRecords',
  summary: 'Acknowledge received records',
  description:
    'One result per ack, in request order; each lease is judged on its own (never a silent success). A malformed lease string is 400 and changes nothing.',
  request: {
    params: QueueParam,
    body: { content: { 'application/json': { schema: AckBody } }, required: true },
  },
  responses: {
    200: { description: 'Per-lease results', content: { 'application/json': { schema: AckResponse } } },
    ...errorResponses(400, 404, 503),
  },
});

export const registerAck: RouteModule = (app) =>
  app.openapi(ackRoute, async (c) => {
    const { topic, queue } = c.req.valid('param');
    const { acks } = c.req.valid('json');
    const items = acks.map((a, i) => {
      const lease = parseLease(a.lease);
      if (!lease) throw new ApiError('bad_request', `acks[${i}].lease is not a lease (${LEASE_FORMAT})`, { index: i });
      return { lease, text: a.lease, action: a.action };
    });
    const result = await c.get('services').queues.ack(topic, queue, items);
    if (!result.ok) throwQueueError(result.error);
    return c.json({ results: result.value }, 200);
  });
