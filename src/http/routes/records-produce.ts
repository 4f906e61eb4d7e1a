// POST /v1/topics/{topic}/records — produce a batch (JSON or streamed NDJSON), validated
// whole before anything is appended, idempotent with Idempotency-Key or Producer-* headers.
import { createRoute, z } from '@hono/zod-openapi';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { AppEnv, RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { MAX_PRODUCER_SEQ } from '../../topics/idempotency.js';
import type { BodySource } from '../../topics/ndjson.js';
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
    'Keyless records without a partition all go to one partition per request, rotating between requests; a request that arrives while the last one placed is still being answered joins its partition (up to 16 KiB of records, and while neither its last fsync nor the one in flight has taken over 1 ms), so concurrent requests share its writes and fsyncs. ' +
    'Records for one partition are appended as one atomic batch; the response is sent once every batch is as durable as the topic’s `durability`. ' +
    'A request spanning partitions appends one batch per partition: if one fails (507 `storage_full`, 503 `unavailable`) others may have been appended — retry with idempotency headers. ' +
    'The topic of a Durable Stream (`/v1/stream`) takes records in the order of the stream’s own appends; once the stream is closed → 409 `conflict` with `reason: "stream_closed"` and `stream` (its path), so every reader sees the same end. ' +
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

/** Offsets per block copied whole: a decade, whose entries differ in the last digit only. */
const BLOCK = 10;

/**
 * JSON.stringify(response), written as ASCII into a reused buffer and read out as one string:
 * a batch answers thousands of offsets, and a string per offset (then joined) was a third of
 * the heap a batched produce allocated. One string, not a new buffer, so the answer adds no
 * off-heap memory (whose growth makes V8 collect the whole heap sooner).
 *
 * A batch's offsets run consecutively in one partition, so each decade of them (…0 to …9) is
 * written as a copy of the decade before, with its tens-and-up digits set: one native copy and
 * about a byte per entry, not 33 bytes and a division per digit.
 */
export function offsetsJson({ offsets }: ProduceResponse): string {
  const n = offsets.length;
  const bound = OFFSETS_HEAD.length + 2 + n * (PARTITION_FIELD.length + OFFSET_FIELD.length + 2 + 2 * INT_CHARS);
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(bound);
  const out = scratch;
  let p = putBytes(out, 0, OFFSETS_HEAD);
  // Each entry is written followed by a comma (the last one's becomes the closing bracket).
  // The decade being written (or copied) entry by entry: where it starts, how many entries so
  // far, its partition, bytes per entry, and where its first entry's offset digits are.
  let runAt = -1;
  let runLength = 0;
  let runPartition = -1;
  let unit = 0;
  let digitsAt = 0;
  let digits = 0;
  for (let i = 0; i < n;) {
    const o = offsets[i]!;
    const partition = o.partition;
    const offset = o.offset;
    if (runLength === BLOCK && partition === runPartition && i + BLOCK <= n && decadeFollows(offsets, i, offset)) {
      // The decade before, copied: its leading digits plus one, carried (none left to carry
      // into when they were all 9s: one digit longer, written entry by entry below instead).
      let k = digitsAt + digits - 2;
      while (k >= digitsAt && out[k] === 0x39) k--;
      if (k >= digitsAt) {
        const size = BLOCK * unit;
        out.copyWithin(p, runAt, runAt + size);
        // In each copied entry: the digit carried into plus one, the 9s after it now 0s.
        const shift = p - runAt;
        for (let e = shift; e < shift + size; e += unit) {
          out[e + k] = out[e + k]! + 1;
          for (let j = k + 1; j < digitsAt + digits - 1; j++) out[e + j] = 0x30;
        }
        digitsAt += shift;
        runAt = p;
        p += size;
        i += BLOCK;
        continue;
      }
    }
    const at = p;
    p = putInt(out, putBytes(out, p, PARTITION_FIELD), partition);
    p = putBytes(out, p, OFFSET_FIELD);
    const offsetAt = p;
    p = putInt(out, p, offset);
    out[p++] = 0x7d; // }
    out[p++] = 0x2c; // ,
    if (offset % BLOCK === 0 && offset > 0) {
      runAt = at;
      runLength = 1;
      runPartition = partition;
      unit = p - at;
      digitsAt = offsetAt;
      digits = p - 2 - offsetAt;
    } else if (
      runLength > 0 &&
      runLength < BLOCK &&
      partition === runPartition &&
      p - at === unit &&
      offset === offsets[i - 1]!.offset + 1
    ) {
      runLength++;
    } else runLength = 0;
    i++;
  }
  if (n > 0) p--; // the last comma
  out[p++] = 0x5d; // ]
  out[p++] = 0x7d; // }
  return out.toString('latin1', 0, p);
}

/** Whether offsets i … i+9 are one partition's, each one more than the one before (from i-1's). */
function decadeFollows(offsets: ProduceResponse['offsets'], i: number, offset: number): boolean {
  const partition = offsets[i]!.partition;
  if (offset !== offsets[i - 1]!.offset + 1) return false;
  for (let k = 1; k < BLOCK; k++) {
    const o = offsets[i + k]!;
    if (o.partition !== partition || o.offset !== offset + k) return false;
  }
  return true;
}

/** The whole request body; a failed read (client gone) is a 400 like a failed stream read. */
async function readJsonBody(c: Context<AppEnv>): Promise<Uint8Array> {
  try {
    return new Uint8Array(await c.req.raw.arrayBuffer());
  } catch (e) {
    throw new ApiError('bad_request', `request body could not be read (${(e as Error).message})`);
  }
}

/**
 * The Node request when served by Node: the body is read from it as it streams in. Its web body
 * would build a Request object and two web streams per request, each chunk passing both (NDJSON);
 * its arrayBuffer() copies the read body once more (JSON). Undefined under app.request (tests).
 */
function nodeRequest(c: Context<AppEnv>): BodySource | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
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
    // One with a declared length (judged by that length) is read from the Node request itself;
    // a chunked one is counted by the app's body limit as it is read, so it is read through it.
    const incoming = nodeRequest(c);
    const body =
      format === 'ndjson'
        ? (incoming ?? c.req.raw.body)
        : incoming && c.req.header('content-length') !== undefined && c.req.header('transfer-encoding') === undefined
          ? incoming
          : await readJsonBody(c);
    const result = await produce.produce({ topic: c.req.param('topic'), format, body, ...headers });
    if (!result.ok) {
      // A body refused as too large is not read to its end: the connection closes after the answer.
      const close: Record<string, string> = result.error.code === 'payload_too_large' ? { connection: 'close' } : {};
      throw new ApiError(result.error.code, result.error.message, result.error.details, close);
    }
    return c.body(offsetsJson(result.value satisfies ProduceResponse), 200, { 'content-type': 'application/json' });
  });
};
