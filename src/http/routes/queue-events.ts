// GET /v1/topics/{topic}/queues/{queue}/events — receive from a queue over Server-Sent Events;
// leases arrive in each event, acknowledgements go to POST …/ack.
import type { ServerResponse } from 'node:http';
import { NO_RECORD_FILTERS_DOC, refuseRecordFilters } from '../../delivery/sse-http.js';
import { createRoute, z } from '@hono/zod-openapi';
import { nodeResponseSink, webStreamSink } from '../../delivery/sse-sink.js';
import { SseQueueReceiver } from '../../queues/sse-receiver.js';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { LOCK_MS_MAX, LOCK_MS_MIN, QueueParam, RECEIVE_MAX_RECORDS, throwQueueError } from './queue-schemas.js';
import { intString } from '../schemas/int-query.js';
import { sseEvent } from '../schemas/sse.js';
import { requestLogger } from '../middleware/request-context.js';

export const QueueEventsQuery = z.object({
  max_in_flight: intString(1, RECEIVE_MAX_RECORDS)
    .default(10)
    .openapi({
      description: `Most leases this stream holds unacknowledged at once (1 … ${RECEIVE_MAX_RECORDS}, default 10); more records follow as they are acknowledged or their leases run out.`,
    }),
  lock_ms: intString(LOCK_MS_MIN, LOCK_MS_MAX)
    .optional()
    .openapi({ description: 'Lease length; the queue’s lock_ms by default.' }),
});

export const queueEventsRoute = createRoute({
  method: 'get',
  path: '/v1/topics/{topic}/queues/{queue}/events',
  tags: ['Queues'],
  operationId: 'streamQueueEvents',
  summary: 'Receive from a queue over Server-Sent Events',
  description:
    'A receiver that holds a stream open. Events: `records` (`{"records": [QueueRecord]}`, each with its `lease`), `: keepalive` comments, ' +
    '`error` (then the stream closes) and `shutdown`. Acknowledge with POST …/ack; the stream holds at most `max_in_flight` unacknowledged leases. ' +
    'Leases of a stream that closes are not released: they run out and the records return to the queue (at-least-once). ' +
    'Every event carries `id:` (the queue\u2019s id), so a reconnect sends `Last-Event-ID`. Deleting the queue ends its open streams with `event: error` (`queue_not_found`), deleting its topic with `topic_not_found`; ' +
    'a reconnect with `Last-Event-ID` never creates the queue nor joins one deleted and created again under the same name (404 `queue_not_found`, which stops an EventSource), while a new connection creates it as a receive does.' +
    NO_RECORD_FILTERS_DOC,
  request: { params: QueueParam, query: QueueEventsQuery },
  responses: {
    200: {
      description: 'The event stream',
      content: {
        'text/event-stream': {
          schema: sseEvent({
            event: 'records',
            data: '{"records":[{"topic":"orders","partition":0,"offset":7,"lease":"0.0.29ce5e1d4e9d.mx4wkm2r","delivery_count":1}]}',
          }),
        },
      },
    },
    ...errorResponses(400, 404, 503),
  },
});

export const registerQueueEvents: RouteModule = (app) =>
  app.openapi(queueEventsRoute, async (c) => {
    const { queues, streams, config } = c.get('services');
    // The stream's own lines (a failure) carry this request's id.
    const logger = requestLogger(c);
    if (streams.closing)
      throw new ApiError('unavailable', 'server is shutting down; reconnect shortly', {}, { 'retry-after': '1' });
    const { topic, queue } = c.req.valid('param');
    refuseRecordFilters(c);
    const q = c.req.valid('query');
    // Answer a missing topic with a status before the stream opens. A new connection creates the
    // queue if new; a reconnect (`Last-Event-ID`: an EventSource's automatic one after the queue
    // was deleted and its stream ended) does not, nor joins a queue created again under the same
    // name (another id): it gets 404, which stops an EventSource.
    const found = await queues.ensure(topic, queue, c.req.header('last-event-id'), logger);
    if (!found.ok) throwQueueError(found.error);
    const receiver = new SseQueueReceiver({
      queues,
      registry: streams,
      topic,
      queue,
      queueId: found.value,
      maxInFlight: q.max_in_flight,
      ...(q.lock_ms !== undefined ? { lockMs: q.lock_ms } : {}),
      retryMs: config.sseRetryMs,
      keepaliveMs: config.sseKeepaliveMs,
      logger,
    });
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    const { sink, body } =
      outgoing && typeof outgoing.write === 'function' ? nodeResponseSink(outgoing) : webStreamSink();
    void receiver.run(sink);
    return new Response(body, {
      status: 200,
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
      },
    }) as never;
  });
