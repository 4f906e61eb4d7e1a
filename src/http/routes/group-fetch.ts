// GET /v1/groups/{group}/members/{member}/records — a member's long-poll fetch across its
// partitions; counts as a heartbeat and reports the current generation and assignment.
import { createRoute, z } from '@hono/zod-openapi';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { checkWaitMs, waitMsQuery } from '../schemas/long-poll.js';
import { RecordSchema } from './records-read.js';
import { MemberParam, MembershipJson, throwGroupError } from './group-schemas.js';

const MiB = 1024 * 1024;
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const GroupFetchResponse = MembershipJson.extend({
  records: z
    .array(RecordSchema)
    .openapi({ description: 'Records of the member’s partitions, in offset order per partition.' }),
}).openapi('GroupFetchResponse');
export type GroupFetchResponse = z.infer<typeof GroupFetchResponse>;

export const groupFetchRoute = createRoute({
  method: 'get',
  path: '/v1/groups/{group}/members/{member}/records',
  tags: ['Consumer groups'],
  operationId: 'fetchGroupRecords',
  summary: 'Fetch records as a group member',
  description:
    'Reads from the member’s positions (its in-progress position, else the committed offset, else per `auto_offset_reset`). ' +
    'Records of a partition are returned only if the member still owns it in the generation current when the fetch answers, so a member never receives records of a partition it lost. ' +
    '`wait_ms` long-polls until a record arrives or the group rebalances. With `auto_commit`, the positions delivered by the previous fetch are committed first. ' +
    'An unknown or expired member gets 409 `fenced` and must join again.',
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

export const registerGroupFetch: RouteModule = (app) =>
  app.openapi(groupFetchRoute, async (c) => {
    const { groups, streams, config } = c.get('services');
    const { group, member } = c.req.valid('param');
    const q = c.req.valid('query');
    checkWaitMs(q.wait_ms, config.longPollMaxMs);
    const result = await groups.fetch(group, member, {
      maxRecords: q.max_records,
      maxBytes: q.max_bytes,
      waitMs: q.wait_ms,
      signal: AbortSignal.any([c.req.raw.signal, streams.signal]),
    });
    if (!result.ok) throwGroupError(result.error);
    const v = result.value;
    return c.json(
      {
        member_id: member,
        generation: v.generation,
        assignment: v.assignment,
        records: v.records,
      } as GroupFetchResponse,
      200,
    );
  });
