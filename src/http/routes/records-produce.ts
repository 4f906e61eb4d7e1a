// POST /v1/topics/{topic}/records — produce a batch (JSON or streamed NDJSON), validated
// whole before anything is appended, idempotent with Idempotency-Key or Producer-* headers.
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv, RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { MAX_PRODUCER_SEQ } from '../../topics/idempotency.js';
import type { ProduceRequest } from '../../topics/produce-service.js';

export const ProduceRecord = z
  .object({
    key: z
      .string()
      .nullable()
      .optional()
      .openapi({
        description:
          'UTF-8 key. Keyed records go to Kafka’s default partition for the key: murmur2(key bytes) & 0x7fffffff modulo the partition count. ' +
          'A key, header or `string` value holding a `\\u` escape of an unpaired surrogate, or bytes that are not UTF-8, is refused (422): it has no UTF-8 form to store.',
      }),
    value: z.unknown().openapi({
      description:
        'Per the topic’s `value_format`: any JSON value (`json`) nesting arrays/objects at most SLUICE_MAX_JSON_DEPTH (default 128) deep, UTF-8, with no `\\u` escape of an unpaired surrogate (strict parsers refuse those) and no number beyond a 64-bit float (`1e400`: 422), a string (`string`) or standard padded base64 (`binary`). `null` is a tombstone in every format.',
    }),
    headers: z
      .record(z.string(), z.string())
      .optional()
      .openapi({ description: 'String headers by name. Names starting with `__sluice.` are reserved.' }),
    partition: z
      .number()
      .int()
      .min(0)
      .optional()
      .openapi({ description: 'Explicit partition (must exist); overrides the key.' }),
    timestamp: z
      .number()
      .int()
      .min(0)
      .optional()
      .openapi({
        description:
          'Unix ms (Kafka’s CreateTime), kept as sent and used by `?timestamp=` lookups; defaults to the time the request is received. ' +
          'At most SLUICE_TIMESTAMP_AFTER_MAX_MS (default 1 h) ahead of the server clock and, when SLUICE_TIMESTAMP_BEFORE_MAX_MS is set, at most that far behind it; otherwise 422 naming the limit. ' +
          'Retention and the idempotency window run on the time the log appended the record, not on this value.',
      }),
  })
  .openapi('ProduceRecord', { description: 'Unknown fields are rejected (400).' });

export const ProduceBody = z.object({ records: z.array(ProduceRecord).min(1) }).openapi('ProduceRequest');

export const ProduceResponse = z
  .object({
    offsets: z.array(z.object({ partition: z.number().int(), offset: z.number().int() })).openapi({
      description: 'Where each record was appended, in request order.',
    }),
  })
  .openapi('ProduceResponse');
export type ProduceResponse = z.infer<typeof ProduceResponse>;

const IDEMPOTENCY_DOC =
  'Idempotent produce (both forms are recorded in the log, so they survive restarts, for SLUICE_IDEMPOTENCY_WINDOW_MS, default 1 h): ' +
  '**Idempotency-Key** — a repeat of a request with the same key and byte-identical body returns the first response and appends nothing; ' +
  'the same key with a different body → 422; a repeat sent while the first is in flight waits for it. ' +
  'A key is scoped to the topic and to the API key that sent it (a browser token shares its key’s scope): another key reusing the value appends anew and never sees the first one’s answer. ' +
  '**Producer-Id / Producer-Epoch / Producer-Seq** (Kafka-style, scoped to the topic and shared by every caller allowed to write to it: choose a random 63-bit id per producer) — `Producer-Seq` numbers requests (not records) per producer id and epoch; ' +
  'a producer’s requests are applied one at a time; seq = last + 1 appends; a seq already appended returns its original offsets (the last 32 requests are kept); ' +
  'a gap → 409 `conflict` with `expected_seq`; an epoch below the current → 409 `fenced` with `current_epoch`; a higher epoch starts afresh. ' +
  'A producer id or epoch with no state accepts any starting seq. `Producer-Seq` does not wrap (unlike Kafka’s): after 2^31-1 a producer bumps its epoch and starts again at 0 (a seq above 2^31-1 → 400; any other seq after 2^31-1 in the same epoch, e.g. a wrap to 0 → 409 `conflict` with `reason: "producer_seq_exhausted"` and `current_epoch`). If an append fails part-way (503/507), retrying with the same headers appends only what is missing. ' +
  'After a restart, state is rebuilt from the batches the log appended within the window (append time, whatever the records’ `timestamp`s). ' +
  'The state is bounded (SLUICE_IDEMPOTENCY_MAX_ENTRIES, SLUICE_IDEMPOTENCY_MAX_BYTES): past the bound the least recently used keys and producers are forgotten early.';

export const produceRecordsRoute = createRoute({
  method: 'post',
  path: '/v1/topics/{topic}/records',
  tags: ['Records'],
  operationId: 'produceRecords',
  summary: 'Produce records',
  description:
    'Send `application/json` `{"records": [...]}` or `application/x-ndjson` (one record object per line, parsed as it streams in). ' +
    'The whole request is validated before anything is appended: a bad record → 400 (shape) or 422 (semantics) naming `record_index` (and `line` for NDJSON); ' +
    'limits → 413 naming the `limit` (`max_body_bytes`, `max_records_per_request`, `max_record_bytes`) and its value. ' +
    'Keyless records without a partition all go to one partition per request, rotating between requests. ' +
    'Records for one partition are appended as one atomic batch; the response is sent once every batch is as durable as the topic’s `durability`. ' +
    'A request spanning partitions appends one batch per partition: if one fails (507 `storage_full`, 503 `unavailable`) others may have been appended — retry with idempotency headers. ' +
    IDEMPOTENCY_DOC,
  request: {
    params: z.object({ topic: z.string().openapi({ param: { name: 'topic', in: 'path' }, example: 'orders' }) }),
    headers: z.object({
      'idempotency-key': z
        .string()
        .min(1)
        .max(255)
        .optional()
        .openapi({ description: '1–255 visible ASCII characters, e.g. a UUID.' }),
      'producer-id': z.string().optional().openapi({ description: 'Decimal integer 0 … 2^63-1.' }),
      'producer-epoch': z.string().optional().openapi({ description: 'Integer 0 … 32767 (default 0).' }),
      'producer-seq': z.string().optional().openapi({ description: 'Integer 0 … 2^31-1; required with Producer-Id.' }),
    }),
    body: {
      required: true,
      content: {
        'application/json': { schema: ProduceBody },
        'application/x-ndjson': {
          schema: z
            .string()
            .openapi({ description: 'One ProduceRecord JSON object per line; blank lines are ignored.' }),
        },
      },
    },
  },
  responses: {
    200: {
      description: 'Appended (or an idempotent repeat of an appended request)',
      content: { 'application/json': { schema: ProduceResponse } },
    },
    ...errorResponses(400, 404, 409, 413, 415, 422, 503, 507),
  },
});

const VISIBLE_ASCII = /^[\x21-\x7e]{1,255}$/;

/**
 * A decimal header value. Its optional whitespace (spaces and tabs, RFC 9110 §5.5) is already gone:
 * Node's HTTP parser and `Headers` strip it. Anything else around the digits (`String.trim()` would
 * also drop a no-break space) is 400.
 */
function integerHeader(c: Context<AppEnv>, name: string, max: bigint, hint = ''): bigint | undefined {
  const raw = c.req.header(name);
  if (raw === undefined) return undefined;
  if (!/^\d{1,19}$/.test(raw) || BigInt(raw) > max) {
    throw new ApiError('bad_request', `${name} must be an integer between 0 and ${max}${hint}`, {
      header: name.toLowerCase(),
    });
  }
  return BigInt(raw);
}

/**
 * An Idempotency-Key belongs to whoever sent it: another key reusing the same value must not be
 * answered with the first one's offsets. Keys and their tokens share a scope (`<key id> <key>`: a
 * space never occurs in a key); anonymous callers use the key as sent.
 */
function scopedIdempotencyKey(c: Context<AppEnv>, key: string): string {
  const owner = c.get('principal')?.keyId;
  return owner ? `${owner} ${key}` : key;
}

/** Reads the idempotency headers; throws 400 for malformed ones. */
function idempotencyHeaders(c: Context<AppEnv>): Pick<ProduceRequest, 'idempotencyKey' | 'producer'> {
  const key = c.req.header('idempotency-key');
  const id = integerHeader(c, 'Producer-Id', 2n ** 63n - 1n);
  const epoch = integerHeader(c, 'Producer-Epoch', 32767n);
  const seq = integerHeader(
    c,
    'Producer-Seq',
    BigInt(MAX_PRODUCER_SEQ),
    ' (it does not wrap: after the maximum, bump Producer-Epoch and start again at Producer-Seq 0)',
  );
  if (key !== undefined && !VISIBLE_ASCII.test(key)) {
    throw new ApiError('bad_request', 'Idempotency-Key must be 1–255 visible ASCII characters', {
      header: 'idempotency-key',
    });
  }
  if (key !== undefined && id !== undefined) {
    throw new ApiError('bad_request', 'use either Idempotency-Key or Producer-Id, not both');
  }
  if (id === undefined) {
    if (epoch !== undefined || seq !== undefined)
      throw new ApiError('bad_request', 'Producer-Epoch and Producer-Seq require Producer-Id');
    return key === undefined ? {} : { idempotencyKey: scopedIdempotencyKey(c, key) };
  }
  if (seq === undefined)
    throw new ApiError('bad_request', 'Producer-Id requires Producer-Seq', { header: 'producer-seq' });
  return { producer: { id, epoch: Number(epoch ?? 0n), seq: Number(seq) } };
}

const OFFSETS_HEAD = Buffer.from('{"offsets":[');
const PARTITION_FIELD = Buffer.from('{"partition":');
const OFFSET_FIELD = Buffer.from(',"offset":');
/** Longest `String(n)` of a safe integer, sign included. */
const INT_CHARS = 17;
const DIGITS = new Uint8Array(INT_CHARS);

function putBytes(out: Buffer, p: number, bytes: Buffer): number {
  for (let k = 0; k < bytes.length; k++) out[p + k] = bytes[k]!;
  return p + bytes.length;
}

/** `String(n)` of a safe integer as ASCII at `p`; the position after it. */
function putInt(out: Buffer, p: number, n: number): number {
  if (n < 0) {
    out[p++] = 0x2d;
    n = -n;
  }
  let k = 0;
  while (n >= 10) {
    const q = Math.floor(n / 10);
    DIGITS[k++] = n - q * 10;
    n = q;
  }
  out[p++] = 0x30 + n;
  while (k > 0) out[p++] = 0x30 + DIGITS[--k]!;
  return p;
}

/** Where offsetsJson writes (reused: it never yields), grown to the largest answer so far. */
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * JSON.stringify(response), written as ASCII into a reused buffer and read out as one string:
 * a batch answers thousands of offsets, and a string per offset (then joined) was a third of
 * the heap a batched produce allocated. One string, not a new buffer, so the answer adds no
 * off-heap memory (whose growth makes V8 collect the whole heap sooner).
 */
export function offsetsJson({ offsets }: ProduceResponse): string {
  const bound =
    OFFSETS_HEAD.length + 2 + offsets.length * (PARTITION_FIELD.length + OFFSET_FIELD.length + 2 + 2 * INT_CHARS);
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(bound);
  const out = scratch;
  let p = putBytes(out, 0, OFFSETS_HEAD);
  for (let i = 0; i < offsets.length; i++) {
    const o = offsets[i]!;
    if (i > 0) out[p++] = 0x2c; // ,
    p = putInt(out, putBytes(out, p, PARTITION_FIELD), o.partition);
    p = putInt(out, putBytes(out, p, OFFSET_FIELD), o.offset);
    out[p++] = 0x7d; // }
  }
  out[p++] = 0x5d; // ]
  out[p++] = 0x7d; // }
  return out.toString('latin1', 0, p);
}

/** The whole request body; a failed read (client gone) is a 400 like a failed stream read. */
async function readJsonBody(c: Context<AppEnv>): Promise<Uint8Array> {
  try {
    return new Uint8Array(await c.req.raw.arrayBuffer());
  } catch (e) {
    throw new ApiError('bad_request', `request body could not be read (${(e as Error).message})`);
  }
}

export const registerProduceRecords: RouteModule = (app) => {
  // Documented from the zod schemas, handled raw: the body is streamed and validated by the
  // produce service (NDJSON line by line) instead of being buffered by a JSON validator.
  app.openAPIRegistry.registerPath(produceRecordsRoute);
  app.post('/v1/topics/:topic/records', async (c) => {
    const contentType = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    const format =
      contentType === 'application/json' ? 'json' : contentType === 'application/x-ndjson' ? 'ndjson' : undefined;
    if (!format) {
      throw new ApiError(
        'unsupported_media_type',
        `Content-Type must be application/json or application/x-ndjson${contentType ? `, not ${contentType}` : ''}`,
      );
    }
    const headers = idempotencyHeaders(c);
    const { produce } = c.get('services');
    // JSON bodies are read whole anyway (size already held to SLUICE_MAX_BODY_BYTES by the app's
    // body limit): reading the bytes directly skips the web stream @hono/node-server would build.
    const body = format === 'json' ? await readJsonBody(c) : c.req.raw.body;
    const result = await produce.produce({ topic: c.req.param('topic'), format, body, ...headers });
    if (!result.ok) {
      // A body refused as too large is not read to its end: the connection closes after the answer.
      const close: Record<string, string> = result.error.code === 'payload_too_large' ? { connection: 'close' } : {};
      throw new ApiError(result.error.code, result.error.message, result.error.details, close);
    }
    return c.body(offsetsJson(result.value satisfies ProduceResponse), 200, { 'content-type': 'application/json' });
  });
};
