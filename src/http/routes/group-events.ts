// GET /v1/groups/{group}/events — an SSE consumer-group member: the connection is the
// membership; records of its partitions stream as events, assignment changes are announced.
import type { ServerResponse } from 'node:http';
import { createRoute, z } from '@hono/zod-openapi';
import { resumeCursor, sseHeaders, NO_RECORD_FILTERS_DOC, refuseRecordFilters } from '../../delivery/sse-http.js';
import { nodeResponseSink, webStreamSink } from '../../delivery/sse-sink.js';
import { decodeGroupCursor } from '../../groups/group-cursor.js';
import { SseGroupMember } from '../../groups/sse-member.js';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { GroupParam, NAME_PATTERN, throwGroupError } from './group-schemas.js';
import { intString } from '../schemas/int-query.js';
import { sseEvent } from '../schemas/sse.js';
import { requestLogger } from '../middleware/request-context.js';

export const GroupEventsQuery = z.object({
  topics: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== ''),
    )
    .pipe(z.array(z.string().regex(NAME_PATTERN, 'a topic name')).min(1).max(100))
    .openapi({ description: 'Comma-separated topics to consume.', example: 'orders,payments', type: 'string' }),
  session_timeout_ms: intString(100, 3_600_000).default(30_000).openapi({
    description: 'How long the group keeps the member if this server stops serving the stream without a clean leave.',
  }),
  auto_offset_reset: z.enum(['earliest', 'latest', 'none']).default('latest'),
  auto_commit: z.enum(['true', 'false'], { error: 'true or false' }).default('true').openapi({
    description:
      '`true`: the `Last-Event-ID` of a reconnect is committed before joining. `false`: nothing is committed for you (`Last-Event-ID` is ignored); commit with the member_id and generation from the events.',
  }),
  last_event_id: z.string().min(1).max(16_384).optional().openapi({
    description: 'Resume cursor when the `Last-Event-ID` header cannot be set (the header wins).',
  }),
});

export const groupEventsRoute = createRoute({
  method: 'get',
  path: '/v1/groups/{group}/events',
  tags: ['Consumer groups'],
  operationId: 'streamGroupEvents',
  summary: 'Consume as a group member over Server-Sent Events',
  description:
    'Joins the group for as long as the connection is open; closing it leaves the group. Events: `member` first ' +
    '(`{"member_id","generation","assignment"}`), `assignment` whenever a rebalance changes it (`{"generation","assignment"}`), ' +
    '`record` per record (a Record JSON) with `id:` = an opaque cursor of every position this connection delivered up to it, ' +
    '`gap` (`{"topic","partition","from_offset","to_offset"}`: offsets [from_offset, to_offset) were deleted by retention before the group read them, or skipped by `auto_offset_reset: latest`; the stream continues), ' +
    '`: keepalive` comments, `error` (e.g. `fenced` after the session expired; reconnect) and `shutdown`. ' +
    'Records start at the committed offsets (else, or when retention deleted them, per `auto_offset_reset`; with `none` the stream is refused with 409/416 instead of opened). ' +
    '**At-least-once**: nothing that was only written to the connection is committed. With auto-commit (default), a reconnect’s `Last-Event-ID` (what EventSource sends) is committed first — only forward — so the stream resumes exactly after the last event the client received; ' +
    'records in flight when the connection broke are delivered again, to this client or to the member that now owns their partition. Without auto-commit, commit explicitly.' +
    NO_RECORD_FILTERS_DOC,
  request: { params: GroupParam, query: GroupEventsQuery, headers: sseHeaders },
  responses: {
    200: {
      description: 'The event stream',
      content: {
        'text/event-stream': {
          schema: sseEvent({
            event: 'record',
            data: '{"topic":"orders","partition":0,"offset":7,"timestamp":1700000000000,"key":null,"value":1,"headers":{}}',
            id: 'g1.AAAA',
          }),
        },
      },
    },
    ...errorResponses(400, 404, 409, 416, 503),
  },
});

export const registerGroupEvents: RouteModule = (app) =>
  app.openapi(groupEventsRoute, async (c) => {
    const { groups, streams, config } = c.get('services');
    // The stream's own lines (a failure) carry this request's id.
    const logger = requestLogger(c);
    if (streams.closing)
      throw new ApiError('unavailable', 'server is shutting down; reconnect shortly', {}, { 'retry-after': '1' });
    const { group } = c.req.valid('param');
    refuseRecordFilters(c);
    const q = c.req.valid('query');
    const lastEventId = resumeCursor(c);
    const resume = lastEventId === undefined ? undefined : decodeGroupCursor(lastEventId);
    if (resume && !resume.ok) throw new ApiError('bad_request', `Last-Event-ID: ${resume.error.message}`);
    const joined = await SseGroupMember.join({
      groups,
      registry: streams,
      group,
      join: {
        topics: q.topics,
        sessionTimeoutMs: q.session_timeout_ms,
        autoOffsetReset: q.auto_offset_reset,
        autoCommit: q.auto_commit === 'true',
      },
      retryMs: config.sseRetryMs,
      keepaliveMs: config.sseKeepaliveMs,
      maxRecords: 500,
      maxBytes: 256 * 1024,
      resume: resume?.value,
      logger,
    });
    if (!joined.ok) throwGroupError(joined.error);
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    const { sink, body } =
      outgoing && typeof outgoing.write === 'function' ? nodeResponseSink(outgoing) : webStreamSink();
    void joined.value.run(sink);
    return new Response(body, {
      status: 200,
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
      },
    }) as never;
  });
