// GET /v1/topics/{topic}/partitions/{partition}/events — live SSE stream of one partition,
// resumable by Last-Event-ID (the next offset) with no gap and no repeat.
import { createRoute, z } from '@hono/zod-openapi';
import { decodePartitionCursor, topicCursorTag } from '../../delivery/cursor.js';
import {
  filterFromQuery,
  refusePastEnd,
  respondWithStream,
  resumeCursor,
  sseHeaders,
  sseQueryFields,
  sseStreamDescription,
  startPosition,
} from '../../delivery/sse-http.js';
import { resolveStartOffset } from '../../delivery/sse-service.js';
import { recordJsonRenderer } from '../../topics/record-json-text.js';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { sseEvent } from '../schemas/sse.js';

export const PartitionEventsParams = z.object({
  topic: z.string().openapi({ param: { name: 'topic', in: 'path' }, example: 'orders' }),
  partition: z
    .string()
    .regex(/^(0|[1-9][0-9]{0,8})$/, 'a partition number (integer ≥ 0)')
    .openapi({ param: { name: 'partition', in: 'path' }, example: '0' }),
});

export const PartitionEventsQuery = z.object({
  from: z
    .string()
    .regex(/^(earliest|latest|0|[1-9][0-9]{0,15})$/, 'earliest, latest or an offset (integer ≥ 0)')
    .refine((v) => v === 'earliest' || v === 'latest' || Number.isSafeInteger(Number(v)), 'an offset ≤ 2^53-1')
    .optional()
    .openapi({
      description:
        '`earliest` (the first retained record), `latest` (default: only records produced from now on) or an ' +
        'offset to start at. An offset below the retained start yields `event: gap`, then the retained records; ' +
        'one beyond the end is a 416.',
      example: 'earliest',
    }),
  ...sseQueryFields,
});

export const partitionEventsRoute = createRoute({
  method: 'get',
  path: '/v1/topics/{topic}/partitions/{partition}/events',
  tags: ['Live'],
  operationId: 'streamPartitionEvents',
  summary: 'Stream one partition (Server-Sent Events)',
  description:
    `${sseStreamDescription} The cursor (\`id:\`) is \`<next offset>.<tag>\`: the next offset in this partition in ` +
    'decimal, and a tag naming this incarnation of the topic. A cursor of a deleted topic whose name was reused is ' +
    'refused with 410 `gone` (reconnect without it); a bare decimal offset is accepted as it is; a malformed cursor is a 400.',
  request: { params: PartitionEventsParams, query: PartitionEventsQuery, headers: sseHeaders },
  responses: {
    200: {
      description: 'The event stream',
      content: {
        'text/event-stream': {
          schema: sseEvent({
            event: 'record',
            data: '{"topic":"orders","partition":0,"offset":41,"timestamp":1700000000000,"key":null,"value":{"total":12.5},"headers":{}}',
            id: '42.kq3vXe',
          }),
        },
      },
    },
    ...errorResponses(400, 404, 410, 416, 503),
  },
});

export const registerPartitionEvents: RouteModule = (app) =>
  app.openapi(partitionEventsRoute, async (c) => {
    const { topics } = c.get('services');
    const params = c.req.valid('param');
    const query = c.req.valid('query');
    const found = topics.partitionLog(params.topic, Number(params.partition));
    if (!found.ok) throw new ApiError(found.error.code, found.error.message);
    const { topic, log } = found.value;
    const cursor = resumeCursor(c);
    let nextOffset: number;
    if (cursor !== undefined) {
      const decoded = decodePartitionCursor(cursor, topicCursorTag(topic.id));
      if (!decoded.ok) {
        const code = decoded.error.code === 'topic_mismatch' ? 'gone' : 'bad_request';
        throw new ApiError(code, decoded.error.message, { field: 'last_event_id' });
      }
      nextOffset = decoded.value;
    } else {
      nextOffset = await resolveStartOffset(log, startPosition(query.from, query.timestamp));
    }
    refusePastEnd(log, nextOffset);
    const format = topic.config.value_format;
    return respondWithStream(c, {
      kind: 'partition',
      topic: topic.name,
      description: `sse ${topic.name}/${log.partition}`,
      partitions: [{ log, nextOffset, encoder: recordJsonRenderer(topic.name, log.partition, format) }],
      filter: filterFromQuery(c),
      batchMode: query.batch === 'true',
      topicId: topic.id,
      isGone: () => c.get('services').log.getPartition(topic.id, log.partition) !== log,
    }) as never;
  });
