// GET /v1/topics/{topic}/partitions/{partition}/records — stateless read of one partition
// from an offset or timestamp, with record/byte limits and an optional long-poll.
import type { ServerResponse } from 'node:http';
import { createRoute, z } from '@hono/zod-openapi';
import { NO_RECORD_FILTERS_DOC, refuseRecordFilters } from '../../delivery/sse-http.js';
import type { Logger } from '../../logger.js';
import { JSON_SLICES } from '../../topics/read-service.js';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { intString } from '../schemas/int-query.js';
import { checkWaitMs, waitMsQuery } from '../schemas/long-poll.js';

const MiB = 1024 * 1024;

export const RecordSchema = z
  .object({
    topic: z.string(),
    partition: z.number().int(),
    offset: z.number().int(),
    timestamp: z.number().int().openapi({ description: 'Unix ms.' }),
    key: z.string().nullable(),
    value: z.unknown().openapi({
      description: 'Per the topic’s value_format: the JSON value, a string, or base64 bytes; null for a tombstone.',
    }),
    headers: z.record(z.string(), z.string()),
    value_encoding: z
      .literal('base64')
      .optional()
      .openapi({
        description:
          'Present only on a record of a json topic whose stored value is not JSON text (produce never writes ' +
          'one; another writer or an old log might): `value` then holds the stored bytes in base64, so one odd ' +
          'record never fails the page or the stream it is in.',
      }),
  })
  .openapi('Record');

export const ReadResponse = z
  .object({
    records: z.array(RecordSchema),
    next_offset: z.number().int().openapi({ description: 'Offset to read next (pass it as `offset`).' }),
    end_offset: z
      .number()
      .int()
      .openapi({ description: 'Offset the next appended record will get: the partition’s high watermark.' }),
  })
  .openapi('ReadRecordsResponse');
export type ReadResponse = z.infer<typeof ReadResponse>;

const int = intString;

export const readRecordsRoute = createRoute({
  method: 'get',
  path: '/v1/topics/{topic}/partitions/{partition}/records',
  tags: ['Records'],
  operationId: 'readRecords',
  summary: 'Read records from a partition',
  description:
    'Stateless fetch. Starts at `offset`, else at the first record with timestamp ≥ `timestamp`, else at the log start (Kafka’s `earliest`). ' +
    'Returns at most `max_records` records and stops after `max_bytes` of key+value+header bytes, but always returns at least one record if one exists. ' +
    '`offset` equal to `end_offset` is valid and returns no records; below the log start or beyond the end → 416 with `start_offset`/`end_offset`. ' +
    '`wait_ms` long-polls: when no record is available the request waits up to `wait_ms` and answers the moment one is appended (or empty at the timer, on disconnect or shutdown). ' +
    `A page of more than ${JSON_SLICES.whole} records is sent chunked as it is written (read whole first: every error is still its status); if writing it fails after the status line, the connection closes before the body ends, never with a shorter page that looks complete.` +
    NO_RECORD_FILTERS_DOC,
  request: {
    params: z.object({
      topic: z.string().openapi({ param: { name: 'topic', in: 'path' }, example: 'orders' }),
      partition: int(0, 1_000_000).openapi({ param: { name: 'partition', in: 'path' }, example: 0 }),
    }),
    query: z.object({
      offset: int(0, Number.MAX_SAFE_INTEGER).optional().openapi({ description: 'First offset to read.' }),
      timestamp: int(0, Number.MAX_SAFE_INTEGER).optional().openapi({
        description: 'Unix ms: start at the first record with a timestamp ≥ this. Not allowed with `offset`.',
      }),
      max_records: int(1, 10_000).default(500).openapi({ description: '1 … 10000, default 500.' }),
      max_bytes: int(1, 64 * MiB)
        .default(MiB)
        .openapi({ description: '1 … 64 MiB, default 1 MiB.' }),
      wait_ms: waitMsQuery(
        'Long-poll up to this long (≤ SLUICE_LONG_POLL_MAX_MS, default 30000, at most 30000); 0 answers at once.',
      ),
    }),
  },
  responses: {
    200: { description: 'Records (possibly none)', content: { 'application/json': { schema: ReadResponse } } },
    ...errorResponses(400, 404, 416),
  },
});

export const registerReadRecords: RouteModule = (app) =>
  app.openapi(readRecordsRoute, async (c) => {
    const { reads, streams, config } = c.get('services');
    const { topic, partition } = c.req.valid('param');
    refuseRecordFilters(c);
    const q = c.req.valid('query');
    if (q.offset !== undefined && q.timestamp !== undefined) {
      throw new ApiError('bad_request', 'give either offset or timestamp, not both');
    }
    checkWaitMs(q.wait_ms, config.longPollMaxMs);
    const result = await reads.readJson({
      topic,
      partition,
      ...(q.offset !== undefined && { offset: q.offset }),
      ...(q.timestamp !== undefined && { timestamp: q.timestamp }),
      maxRecords: q.max_records,
      maxBytes: q.max_bytes,
      waitMs: q.wait_ms,
      // Client disconnect or server shutdown ends the wait at once.
      signal: AbortSignal.any([c.req.raw.signal, streams.signal]),
    });
    if (!result.ok) {
      const e = result.error;
      if (e.code === 'offset_out_of_range') {
        throw new ApiError(e.code, e.message, { start_offset: e.startOffset, end_offset: e.endOffset });
      }
      throw new ApiError(e.code, e.message);
    }
    // The ReadResponse JSON, rendered as text by the service (no per-record objects); typed
    // routes only know c.json, hence the casts: the body is exactly the documented schema.
    const answer = result.value;
    if ('whole' in answer) return c.body(answer.whole, 200, { 'content-type': 'application/json' }) as never;
    // A large page goes out chunked as its slices are written. Chunked at once (not left to the
    // host to choose), so the head leaves before the second slice is written.
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    return c.body(sliceStream(answer.slices, c.get('logger'), outgoing), 200, {
      'content-type': 'application/json',
      'transfer-encoding': 'chunked',
    }) as never;
  });

/**
 * The slices as a body, each written when the host asks for the next chunk (after writing the
 * one before to the socket). The page was read whole before the status line went out, so
 * nothing expected can fail here. If writing a slice throws all the same, the connection is
 * closed once what was written has gone out (elsewhere, the stream errors): the client sees a
 * chunked body cut before its last chunk, and JSON without its closing `next_offset`, never a short page that looks complete.
 */
function sliceStream(
  slices: Iterator<Buffer<ArrayBuffer>>,
  logger: Logger,
  outgoing: ServerResponse | undefined,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      pull: (controller) => {
        let next: IteratorResult<Buffer<ArrayBuffer>>;
        try {
          next = slices.next();
        } catch (e) {
          logger.error({ err: e }, 'writing a records page failed after its status line: response cut');
          // Closed here rather than through the host's stream error path, which also tries to
          // end the response with an error text. What was written before must go out first: the
          // response holds a chunk it was just given until the next tick (Node 24 buffers it in
          // the response itself, not the socket), and destroying now would drop the head's slice.
          // So the socket is ended after that flush, and destroyed once its writes are out: the
          // client gets the head and earlier slices, then a close without the last chunk.
          if (!outgoing) throw e;
          setImmediate(() => {
            if (outgoing.socket) outgoing.socket.destroySoon();
            else outgoing.destroy();
          });
          return;
        }
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      cancel: () => {
        slices.return?.();
      },
    },
    // Nothing written ahead: a slice is written when the one before has gone to the socket.
    { highWaterMark: 0 },
  );
}
