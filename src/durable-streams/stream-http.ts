// HTTP glue for the Durable Streams routes: protocol header parsing (strict, 400 on junk),
// error mapping onto the Sluice envelope, response headers, cursors and body rendering.
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../http/app-env.js';
import { ApiError, type ErrorCode } from '../http/errors.js';
import type { StoredRecord } from '../log/index.js';
import { isJsonContentType, isValidContentType } from './content-type.js';
import { forkSourcePath, streamPathOfRequestUrl } from './stream-path.js';
import type { ForkInput, ProducerHeaders, StreamError, StreamErrorCode, StreamView } from './streams-service.js';

/** Protocol headers a browser may read (added to the CORS expose list). */
export const STREAM_EXPOSED_HEADERS = [
  'stream-next-offset',
  'stream-cursor',
  'stream-up-to-date',
  'stream-closed',
  'stream-ttl',
  'stream-expires-at',
  'stream-sse-data-encoding',
  'producer-epoch',
  'producer-seq',
  'producer-expected-seq',
  'producer-received-seq',
  'etag',
];

const CODE: Record<StreamErrorCode, ErrorCode> = {
  not_found: 'stream_not_found',
  bad_request: 'bad_request',
  conflict: 'conflict',
  closed: 'conflict',
  gone: 'gone',
  payload_too_large: 'payload_too_large',
  stale_epoch: 'forbidden',
  seq_gap: 'conflict',
  unavailable: 'unavailable',
  storage_full: 'storage_full',
  forbidden: 'forbidden',
};

/** A service error as the API's error (with the protocol's headers). */
export function streamApiError(e: StreamError): ApiError {
  const details: Record<string, unknown> = {};
  if (e.code === 'closed') details.reason = 'stream_closed';
  if (e.code === 'stale_epoch') details.reason = 'stale_producer_epoch';
  if (e.code === 'seq_gap') details.reason = 'producer_seq_gap';
  if (e.needs) details.needs = e.needs;
  return new ApiError(CODE[e.code], e.message, details, e.headers ?? {});
}

export const bad = (message: string): ApiError => new ApiError('bad_request', message);

/** The stream path of the request, decoded from the raw URL (so `%2F` stays part of a segment name). */
export function requestStreamPath(c: Context<AppEnv>): string {
  const p = streamPathOfRequestUrl(c.req.url);
  if (!p.ok) throw bad(p.error);
  return p.value;
}

/**
 * `Stream-Closed` counts only when exactly `true` (any case); other values are ignored. Header
 * values are matched as received, here and below: their optional whitespace (spaces and tabs,
 * RFC 9110 §5.5) is already gone (Node's HTTP parser and `Headers` strip it), and
 * `String.trim()` would also drop a no-break space (as for Producer-*, 0047d72).
 */
export function streamClosedHeader(c: Context<AppEnv>): boolean {
  return (c.req.header('stream-closed') ?? '').toLowerCase() === 'true';
}

const NON_NEGATIVE = /^(0|[1-9][0-9]*)$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
/** Ten years: a TTL longer than that is a mistake, and it keeps the arithmetic safe. */
const MAX_TTL_SECONDS = 315_360_000;

export function parseContentType(c: Context<AppEnv>): string | undefined {
  const raw = c.req.header('content-type');
  if (raw === undefined) return undefined;
  if (!isValidContentType(raw)) throw bad(`Content-Type ${JSON.stringify(raw.slice(0, 100))} is not a media type`);
  return raw.trim();
}

export function parseExpiry(c: Context<AppEnv>): { ttlSeconds: number | null; expiresAt: number | null } {
  const ttl = c.req.header('stream-ttl');
  const at = c.req.header('stream-expires-at');
  if (ttl !== undefined && at !== undefined) throw bad('give Stream-TTL or Stream-Expires-At, not both');
  if (ttl !== undefined) {
    if (!NON_NEGATIVE.test(ttl) || Number(ttl) > MAX_TTL_SECONDS)
      throw bad(
        `Stream-TTL must be a whole number of seconds (no sign, leading zeros or exponent), at most ${MAX_TTL_SECONDS}`,
      );
    return { ttlSeconds: Number(ttl), expiresAt: null };
  }
  if (at !== undefined) {
    const ms = RFC3339.test(at) ? Date.parse(at) : NaN;
    if (!Number.isFinite(ms)) throw bad('Stream-Expires-At must be an RFC 3339 timestamp such as 2030-01-01T00:00:00Z');
    return { ttlSeconds: null, expiresAt: ms };
  }
  return { ttlSeconds: null, expiresAt: null };
}

/** A decimal header value; as for Producer-* on produce, only the parser's OWS stripping applies. */
function safeInt(name: string, raw: string): number {
  const n = NON_NEGATIVE.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) throw bad(`${name} must be an integer between 0 and 2^53-1`);
  return n;
}

/** `Stream-Forked-From`, `Stream-Fork-Offset`, `Stream-Fork-Sub-Offset` of a PUT (PROTOCOL.md §4.2). */
export function parseFork(c: Context<AppEnv>): ForkInput | undefined {
  const from = c.req.header('stream-forked-from');
  const rawOffset = c.req.header('stream-fork-offset');
  const rawSub = c.req.header('stream-fork-sub-offset');
  if (from === undefined) {
    if (rawOffset !== undefined || rawSub !== undefined)
      throw bad('Stream-Fork-Offset and Stream-Fork-Sub-Offset need Stream-Forked-From');
    return undefined;
  }
  const source = forkSourcePath(from);
  if (!source.ok) throw bad(`Stream-Forked-From: ${source.error}`);
  const sourcePath = source.value;
  let offset: number | undefined;
  if (rawOffset !== undefined) {
    // The number part of an offset token (its tag is the source's by construction, so not compared).
    const m = /^([0-9]{16})_[A-Za-z0-9_-]{1,64}$/.exec(rawOffset);
    const n = m ? Number(m[1]) : NaN;
    if (!Number.isSafeInteger(n)) throw bad('Stream-Fork-Offset is not an offset this server issued');
    offset = n;
  }
  let subOffset = 0;
  if (rawSub !== undefined) subOffset = safeInt('Stream-Fork-Sub-Offset', rawSub);
  if (subOffset > 0 && offset === undefined) throw bad('Stream-Fork-Sub-Offset needs Stream-Fork-Offset');
  return { sourcePath, offset, subOffset };
}

/** Producer-Id / Producer-Epoch / Producer-Seq: all three or none. */
export function parseProducer(c: Context<AppEnv>): ProducerHeaders | undefined {
  const id = c.req.header('producer-id');
  const epoch = c.req.header('producer-epoch');
  const seq = c.req.header('producer-seq');
  if (id === undefined && epoch === undefined && seq === undefined) return undefined;
  if (id === undefined || epoch === undefined || seq === undefined)
    throw bad('Producer-Id, Producer-Epoch and Producer-Seq go together: send all three or none');
  if (id.trim() === '') throw bad('Producer-Id must not be empty');
  if (id.length > 256) throw bad('Producer-Id is longer than 256 characters');
  return { id, epoch: safeInt('Producer-Epoch', epoch), seq: safeInt('Producer-Seq', seq) };
}

export function parseStreamSeq(c: Context<AppEnv>): string | undefined {
  const v = c.req.header('stream-seq');
  if (v === undefined) return undefined;
  if (v.length > 256) throw bad('Stream-Seq is longer than 256 characters');
  return v;
}

/** Headers every answer about a stream carries. */
export function streamHeaders(view: StreamView, nextOffset: string = view.nextOffset): Record<string, string> {
  const h: Record<string, string> = { 'stream-next-offset': nextOffset };
  if (view.ttlSeconds !== null) h['stream-ttl'] = String(view.ttlSeconds);
  if (view.expiresAt !== null) h['stream-expires-at'] = new Date(view.expiresAt).toISOString();
  return h;
}

/** Cursor intervals: 20 s from 2024-10-09T00:00:00Z, as the protocol's reference does. */
const CURSOR_EPOCH = Date.UTC(2024, 9, 9);
const CURSOR_INTERVAL_MS = 20_000;

/** The cursor for a live answer: the current interval, or past the client's if it is not behind. */
export function nextCursor(clientCursor: string | undefined, now = Date.now()): string {
  const current = Math.floor((now - CURSOR_EPOCH) / CURSOR_INTERVAL_MS);
  const client = clientCursor !== undefined && /^[0-9]{1,15}$/.test(clientCursor) ? Number(clientCursor) : -1;
  if (client < current) return String(current);
  // 1–3600 s of jitter, in whole intervals (at least one).
  const jitter = Math.max(1, Math.ceil((1 + Math.floor(Math.random() * 3600)) / (CURSOR_INTERVAL_MS / 1000)));
  return String(client + jitter);
}

/** A catch-up body: a JSON array of the messages, or the records' bytes concatenated. */
export function renderBody(contentType: string, records: readonly StoredRecord[]): Buffer {
  if (isJsonContentType(contentType)) {
    const parts: Buffer[] = [Buffer.from('[')];
    records.forEach((r, i) => {
      if (i > 0) parts.push(Buffer.from(','));
      parts.push(r.value ?? Buffer.from('null'));
    });
    parts.push(Buffer.from(']'));
    return Buffer.concat(parts);
  }
  return Buffer.concat(records.map((r) => r.value ?? Buffer.alloc(0)));
}

/** Strong ETag naming the stream incarnation, the range served and whether it ends the stream. */
export function etagFor(view: StreamView, from: number, next: number, eof: boolean): string {
  return `"${view.tag}:${from}:${next}${eof ? ':c' : ''}"`;
}

export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((t) => {
    const v = t.trim();
    return v === etag || v === `W/${etag}` || v === '*';
  });
}

/**
 * Browser security headers on every /v1/stream answer, errors included (PROTOCOL.md §12.7):
 * no MIME sniffing of stream bytes, and an explicit cross-origin resource policy.
 */
export function streamSecurityHeaders(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    const apply = (h: Headers) => {
      h.set('x-content-type-options', 'nosniff');
      h.set('cross-origin-resource-policy', 'cross-origin');
    };
    try {
      apply(c.res.headers);
    } catch {
      c.res = new Response(c.res.body, c.res);
      apply(c.res.headers);
    }
  };
}
