// GET /v1/groups/{group}/members/{member}/records — a member's long-poll fetch across its
// partitions; counts as a heartbeat and reports the current generation and assignment.
import type { ServerResponse } from 'node:http';
import { createRoute, z } from '@hono/zod-openapi';
import { NO_RECORD_FILTERS_DOC, refuseRecordFilters } from '../../delivery/sse-http.js';
import { AnswerBuffers } from '../../groups/answer-buffers.js';
import { fetchAnswerJson } from '../../groups/fetch-answer.js';
import { decodeGroupCursor } from '../../groups/group-cursor.js';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { checkWaitMs, waitMsQuery } from '../schemas/long-poll.js';
import { RecordSchema } from './records-read.js';
import { MemberParam, MembershipJson, refuseUnreadableTopic, throwGroupError } from './group-schemas.js';
import { intString } from '../schemas/int-query.js';

const MiB = 1024 * 1024;
const int = intString;

export const GroupFetchResponse = MembershipJson.extend({
  records: z
    .array(RecordSchema)
    .openapi({ description: 'Records of the member’s partitions, in offset order per partition.' }),
  cursor: z.string().openapi({
    description:
      'Opaque token naming the positions after these records. Send it as `cursor` on the next fetch (or leave) to confirm you received them; until then they are not confirmed and a fetch without it returns them again.',
    example: 'g1.AQ',
  }),
}).openapi('GroupFetchResponse');
export type GroupFetchResponse = z.infer<typeof GroupFetchResponse>;

export const groupFetchRoute = createRoute({
  method: 'get',
  path: '/v1/groups/{group}/members/{member}/records',
  tags: ['Consumer groups'],
  operationId: 'fetchGroupRecords',
  summary: 'Fetch records as a group member',
  description:
    'Reads from the member’s confirmed positions (its in-progress position, else the committed offset, else per `auto_offset_reset`; ' +
    'a committed offset below the log start, deleted by retention, is reset the same way, or 416 with `none`). ' +
    '**At-least-once across lost answers**: an answer does not move the member’s positions. Each answer carries a `cursor`; send it as `?cursor=` on your next fetch to confirm you received that answer, and the fetch continues after it. ' +
    'A fetch without the cursor (a retry after a lost answer, a timeout, a crash) returns the unconfirmed records again. A commit also confirms up to its offsets; resending an old cursor is harmless. ' +
    'With `auto_commit` the confirmed positions are committed at each fetch and on leave (never what was only sent). ' +
    'Records of a partition are returned only if the member still owns it in the generation current when the fetch answers, so a member never receives records of a partition it lost. ' +
    '`wait_ms` long-polls until a record arrives or the group rebalances. ' +
    'An unknown or expired member gets 409 `fenced` and must join again.' +
    NO_RECORD_FILTERS_DOC,
  request: {
    params: MemberParam,
    query: z.object({
      max_records: int(1, 10_000)
        .default(500)
        .openapi({ description: '1 … 10000, default 500 (across all partitions).' }),
      max_bytes: int(1, 64 * MiB)
        .default(MiB)
        .openapi({ description: '1 … 64 MiB, default 1 MiB (at least one record is returned if any exists).' }),
      wait_ms: waitMsQuery(
        'Long-poll up to this long (≤ SLUICE_LONG_POLL_MAX_MS, default 30000, at most 30000); 0 answers at once.',
      ),
      cursor: z.string().max(16_384).optional().openapi({
        description:
          'The `cursor` of the last answer you received: confirms its records (400 if malformed). Omit it (or leave it empty) on the first fetch.',
      }),
    }),
  },
  responses: {
    200: {
      description: 'Records (possibly none) and the current membership',
      content: { 'application/json': { schema: GroupFetchResponse } },
    },
    ...errorResponses(400, 409, 416, 503),
  },
});

/** The process's group fetch answers: a buffer an answer has finished with is written again. */
export const groupFetchAnswerBuffers = new AnswerBuffers();

export const registerGroupFetch: RouteModule = (app) =>
  app.openapi(groupFetchRoute, async (c) => {
    const { groups, streams, config } = c.get('services');
    const { group, member } = c.req.valid('param');
    refuseRecordFilters(c);
    const q = c.req.valid('query');
    checkWaitMs(q.wait_ms, config.longPollMaxMs);
    const confirm = q.cursor === undefined || q.cursor === '' ? undefined : decodeGroupCursor(q.cursor);
    if (confirm && !confirm.ok) throw new ApiError('bad_request', confirm.error.message);
    const result = await groups.fetch(group, member, {
      maxRecords: q.max_records,
      maxBytes: q.max_bytes,
      waitMs: q.wait_ms,
      signal: AbortSignal.any([c.req.raw.signal, streams.signal]),
      confirm: confirm?.value,
      refuseTopic: refuseUnreadableTopic(c.get('principal')),
    });
    if (!result.ok) throwGroupError(result.error);
    // Records are written straight to bytes (fetch-answer.ts); typed routes only know c.json,
    // hence the cast: the body is exactly GroupFetchResponse. Under the Node server the answer
    // is written into a buffer lent until its last byte is handed to the socket ('finish', also
    // emitted when the connection breaks mid-write); elsewhere a new one. An answer pipelined
    // behind another never gets the socket if the connection closes first: it sees only 'close'
    // (server.ts), and its buffer is forgotten, not kept lent for ever.
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    const lend = outgoing !== undefined && typeof outgoing.once === 'function';
    const body = fetchAnswerJson(member, result.value, lend ? (size) => groupFetchAnswerBuffers.take(size) : undefined);
    if (lend) {
      let finished = false;
      outgoing.once('finish', () => {
        finished = true;
        groupFetchAnswerBuffers.give(body);
      });
      outgoing.once('close', () => {
        if (!finished) groupFetchAnswerBuffers.forget(body);
      });
    }
    return c.body(body, 200, { 'content-type': 'application/json' }) as never;
  });
