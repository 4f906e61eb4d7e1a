// POST /v1/topics/{topic}/queues/{queue}/receive — lease available records (long-poll).
import { createRoute, z } from '@hono/zod-openapi';
import { NO_RECORD_FILTERS_DOC, refuseRecordFilters } from '../../delivery/sse-http.js';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import {
  LOCK_MS_MAX,
  LOCK_MS_MIN,
  QueueParam,
  RECEIVE_MAX_RECORDS,
  ReceiveResponse,
  throwQueueError,
} from './queue-schemas.js';
import { intString } from '../schemas/int-query.js';
import { requestLogger } from '../middleware/request-context.js';

const int = intString;

export const ReceiveQuery = z.object({
  max_records: int(1, RECEIVE_MAX_RECORDS)
    .default(10)
    .openapi({ description: `1 … ${RECEIVE_MAX_RECORDS}, default 10.` }),
  wait_ms: int(0, 300_000)
    .default(0)
    .openapi({ description: 'Long-poll up to this long (≤ SLUICE_LONG_POLL_MAX_MS) for a record; 0 answers at once.' }),
  lock_ms: int(LOCK_MS_MIN, LOCK_MS_MAX)
    .optional()
    .openapi({ description: 'Lease length for this receive; the queue’s lock_ms by default.' }),
});

export const receiveRoute = createRoute({
  method: 'post',
  path: '/v1/topics/{topic}/queues/{queue}/receive',
  tags: ['Queues'],
  operationId: 'receiveFromQueue',
  summary: 'Receive records from a queue',
  description:
    'Leases up to `max_records` available records across the topic’s partitions; any number of receivers share the same partitions. ' +
    'Each record carries a `lease` to acknowledge it with, its `delivery_count` and `lock_expires_at`. A record not acknowledged before its lease runs out ' +
    'returns to the queue (within about a second) and is delivered again — so a lost answer means the records come back (at-least-once). ' +
    'With `wait_ms` the request waits until a record is available. A receive on a queue that does not exist creates it with defaults (`start: earliest`); one waiting on a queue that is deleted meanwhile answers 404 `queue_not_found` instead of re-creating it.' +
    NO_RECORD_FILTERS_DOC,
  request: { params: QueueParam, query: ReceiveQuery },
  responses: {
    200: {
      description: 'Leased records (possibly none)',
      content: { 'application/json': { schema: ReceiveResponse } },
    },
    ...errorResponses(400, 404, 503),
  },
});

export const registerReceive: RouteModule = (app) =>
  app.openapi(receiveRoute, async (c) => {
    const { queues, streams, config } = c.get('services');
    const { topic, queue } = c.req.valid('param');
    refuseRecordFilters(c);
    const q = c.req.valid('query');
    if (q.wait_ms > config.longPollMaxMs)
      throw new ApiError('bad_request', `wait_ms must be ≤ ${config.longPollMaxMs} (SLUICE_LONG_POLL_MAX_MS)`);
    const result = await queues.receive(topic, queue, {
      maxRecords: q.max_records,
      waitMs: q.wait_ms,
      ...(q.lock_ms !== undefined ? { lockMs: q.lock_ms } : {}),
      signal: AbortSignal.any([c.req.raw.signal, streams.signal]),
      logger: requestLogger(c),
    });
    if (!result.ok) throwQueueError(result.error);
    return c.body(`{"records":[${result.value.map((r) => r.json).join(',')}]}`, 200, {
      'content-type': 'application/json',
    }) as never;
  });
