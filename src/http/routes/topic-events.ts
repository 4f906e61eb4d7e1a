// GET /v1/topics/{topic}/events — live SSE stream of every partition of a topic, merged
// (each partition in order); the cursor encodes the next offset of every partition.
import { createRoute, z } from '@hono/zod-openapi';
import { decodeTopicCursor, topicCursorTag } from '../../delivery/cursor.js';
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
import type { StreamPartition } from '../../delivery/sse-stream.js';
import type { PartitionLog } from '../../log/index.js';
import { recordJsonRenderer } from '../../topics/record-json-text.js';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { TopicNameParam } from '../schemas/topic.js';
import { sseEvent } from '../schemas/sse.js';

export const TopicEventsQuery = z.object({
  from: z.enum(['earliest', 'latest'], { error: 'earliest or latest' }).optional().openapi({
    description: '`earliest` (every retained record) or `latest` (default: only records produced from now on).',
    example: 'earliest',
  }),
  ...sseQueryFields,
});

export const topicEventsRoute = createRoute({
  method: 'get',
  path: '/v1/topics/{topic}/events',
  tags: ['Live'],
  operationId: 'streamTopicEvents',
  summary: 'Stream every partition of a topic (Server-Sent Events)',
  description:
    `${sseStreamDescription} Partitions are merged; records of one partition keep their order. The cursor ` +
    '(`id:`) is an opaque URL-safe token (`v2.<topic tag>.<offsets>`) holding the next offset of every partition ' +
    "and naming the topic's id; a malformed cursor, or one naming more partitions than the topic has, is a 400. " +
    'A cursor issued for a topic since deleted — even if a topic of the same name exists again — is refused with ' +
    '410 `gone` before the stream opens (so `EventSource` stops instead of silently skipping the new topic’s ' +
    'first records): open the stream again without a cursor. Cursors of the older `v1.` form carry no topic ' +
    'identity and are accepted as they are. Partitions added after the cursor was issued, or while the stream ' +
    'runs, are streamed from their first record.',
  request: { params: TopicNameParam, query: TopicEventsQuery, headers: sseHeaders },
  responses: {
    200: {
      description: 'The event stream',
      content: {
        'text/event-stream': {
          schema: sseEvent({
            event: 'record',
            data: '{"topic":"orders","partition":2,"offset":7,"timestamp":1700000000000,"key":null,"value":{"total":12.5},"headers":{}}',
            id: 'v2.k3Jx0a.AwUICA',
          }),
        },
      },
    },
    ...errorResponses(400, 404, 410, 416, 503),
  },
});

export const registerTopicEvents: RouteModule = (app) =>
  app.openapi(topicEventsRoute, async (c) => {
    const services = c.get('services');
    const query = c.req.valid('query');
    // The in-memory topic cache, not the database: live reads keep working while Postgres is down.
    const name = c.req.valid('param').topic;
    const topic = services.topics.lookup(name);
    if (!topic) throw new ApiError('topic_not_found', `topic ${JSON.stringify(name)} does not exist`);
    const logs: PartitionLog[] = [];
    for (let p = 0; p < topic.partitions; p++) {
      const result = services.topics.partitionLog(topic.name, p);
      if (!result.ok) throw new ApiError(result.error.code, result.error.message);
      logs.push(result.value.log);
    }
    const cursor = resumeCursor(c);
    let offsets: number[];
    if (cursor !== undefined) {
      const decoded = decodeTopicCursor(cursor, logs.length, topicCursorTag(topic.id));
      if (!decoded.ok) {
        const code = decoded.error.code === 'topic_mismatch' ? 'gone' : 'bad_request';
        throw new ApiError(code, decoded.error.message, { field: 'last_event_id' });
      }
      offsets = decoded.value.map((offset, p) => offset ?? (logs[p]?.startOffset() as number));
    } else {
      const start = startPosition(query.from, query.timestamp);
      offsets = await Promise.all(logs.map((log) => resolveStartOffset(log, start)));
    }
    logs.forEach((log, p) => refusePastEnd(log, offsets[p] as number));
    const format = topic.config.value_format;
    const partitions: StreamPartition[] = logs.map((log, p) => ({
      log,
      nextOffset: offsets[p] as number,
      encoder: recordJsonRenderer(topic.name, p, format),
    }));
    return respondWithStream(c, {
      kind: 'topic',
      topic: topic.name,
      description: `sse ${topic.name}`,
      partitions,
      filter: filterFromQuery(c),
      batchMode: query.batch === 'true',
      topicId: topic.id,
      isGone: () => logs.some((log, p) => services.log.getPartition(topic.id, p) !== log),
      partitionsFrom: (from) => {
        const now = services.topics.lookup(topic.name);
        const added: StreamPartition[] = [];
        if (now?.id !== topic.id) return added;
        for (let p = from; p < now.partitions; p++) {
          const log = services.log.getPartition(topic.id, p);
          if (!log) break;
          // A partition added after the stream opened: everything in it is new to the client.
          added.push({ log, nextOffset: log.startOffset(), encoder: recordJsonRenderer(topic.name, p, format) });
        }
        return added;
      },
    }) as never;
  });
