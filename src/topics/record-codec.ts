// The HTTP record shape ⇄ log records: validates a produced record against the topic's
// value_format and limits, and renders a stored record back as JSON for readers.
import { err, ok, type Result } from '../lib/result.js';
import { RESERVED_HEADER_PREFIX } from '../log/index.js';
import type { RecordHeader, RecordInput, StoredRecord } from '../log/index.js';
import { isUtf8 } from 'node:buffer';
import {
  DEFAULT_MAX_JSON_DEPTH,
  hasLoneSurrogateEscape,
  hasNonFiniteNumber,
  jsonTextDeeperThan,
  jsonValueDeeperThan,
  mayHoldHugeNumber,
} from './record-json-scan.js';

export type ValueFormat = 'json' | 'string' | 'binary';

/** Largest timestamp accepted (the largest a JS Date can hold), in Unix ms. */
export const MAX_TIMESTAMP_MS = 8_640_000_000_000_000;

/**
 * Why a produce request was refused before anything was appended. `bad_request` (400) is a
 * malformed shape, `invalid_record` (422) a well-formed record the topic cannot take,
 * `payload_too_large` (413) a limit, named with its configured value.
 */
export type RecordProblem =
  | { code: 'bad_request' | 'invalid_record'; message: string; recordIndex?: number; line?: number }
  | {
      code: 'payload_too_large';
      message: string;
      recordIndex?: number;
      line?: number;
      limit: { name: string; value: number };
    };

/** A record ready to append, with the partition the producer asked for (if any). */
export interface DecodedRecord {
  input: RecordInput;
  partition: number | undefined;
}

export interface DecodeContext {
  format: ValueFormat;
  partitionCount: number;
  /** Topic's max_record_bytes: key + value + header keys and values, in bytes. */
  maxRecordBytes: number;
  /** Timestamp for records that carry none (Unix ms). */
  now: number;
  /** json topics: deepest array/object nesting accepted (SLUICE_MAX_JSON_DEPTH; default 128). */
  maxJsonDepth?: number;
}

/** A record as readers see it. */
export interface RecordJson {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  value: unknown;
  headers: Record<string, string>;
  /**
   * Present only when a json topic's stored value is not JSON text (never written by
   * produce): `value` then holds the stored bytes in base64 instead of failing the read.
   */
  value_encoding?: typeof UNRENDERABLE_VALUE_ENCODING;
}

/** `value_encoding` of a record whose stored json value cannot be served as JSON. */
export const UNRENDERABLE_VALUE_ENCODING = 'base64';

const FIELDS = new Set(['key', 'value', 'headers', 'partition', 'timestamp']);
// Strict standard base64 (RFC 4648 §4) with padding: no whitespace, no URL alphabet.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const shape = (index: number, message: string): RecordProblem => ({
  code: 'bad_request',
  message: `record ${index}: ${message}`,
  recordIndex: index,
});
const invalid = (index: number, message: string): RecordProblem => ({
  code: 'invalid_record',
  message: `record ${index}: ${message}`,
  recordIndex: index,
});

/** Whether raw JSON text starts like `value` would be serialised (guards span mix-ups). */
function rawMatches(value: unknown, raw: Buffer): boolean {
  const c = raw[0];
  switch (typeof value) {
    case 'string':
      return c === 0x22;
    case 'number':
      return c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39);
    case 'boolean':
      return c === (value ? 0x74 : 0x66);
    case 'object':
      return Array.isArray(value) ? c === 0x5b : c === 0x7b;
    default:
      return false;
  }
}

/** Half of a surrogate pair with no other half: a JS string that is not text (no UTF-8 for it). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why a key, header or string value cannot be stored as sent, if it cannot: half a surrogate
 * pair (`"\ud800"`) has no UTF-8 form, and a U+FFFD in a request whose bytes were not all UTF-8
 * stands for bytes the decoder replaced. Stored, either would read back as something else.
 */
function notText(s: string, requestNotUtf8: boolean): string | undefined {
  if (LONE_SURROGATE.test(s)) return 'has a \\u escape of half a surrogate pair, which is not text';
  if (requestNotUtf8 && s.includes('\uFFFD')) return 'is not UTF-8 text (JSON text must be UTF-8)';
  return undefined;
}

function encodeValue(
  value: unknown,
  index: number,
  ctx: DecodeContext,
  raw: Buffer | undefined,
  requestNotUtf8: boolean,
): Result<Buffer | null, RecordProblem> {
  // null is a tombstone in every format (Kafka's null value); for json it reads back as null.
  if (value === null) return ok(null);
  switch (ctx.format) {
    case 'json': {
      // What is accepted can always be served, by any reader's parser (and none recurses here).
      const limit = ctx.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH;
      const own = raw !== undefined && rawMatches(value, raw) ? raw : undefined;
      if (own ? jsonTextDeeperThan(own, limit) : jsonValueDeeperThan(value, limit)) {
        return err(invalid(index, `value nests arrays/objects more than ${limit} deep (SLUICE_MAX_JSON_DEPTH)`));
      }
      // A number beyond a double (1e400) has no value every reader agrees on: refused.
      if ((own === undefined || mayHoldHugeNumber(own)) && hasNonFiniteNumber(value)) {
        return err(invalid(index, 'value has a number beyond the range of a 64-bit float (e.g. 1e400)'));
      }
      // The producer's own JSON text when the body scanner found it: no re-serialisation.
      const text = own ?? Buffer.from(JSON.stringify(value), 'utf8');
      if (!isUtf8(text)) return err(invalid(index, 'value is not UTF-8 text (JSON text must be UTF-8)'));
      if (hasLoneSurrogateEscape(text)) {
        return err(invalid(index, 'value has a \\u escape of half a surrogate pair, which strict JSON parsers refuse'));
      }
      return ok(text);
    }
    case 'string': {
      if (typeof value !== 'string')
        return err(invalid(index, 'value must be a string (topic value_format is "string")'));
      const why = notText(value, requestNotUtf8);
      if (why) return err(invalid(index, `value ${why}`));
      return ok(Buffer.from(value, 'utf8'));
    }
    case 'binary':
      if (typeof value !== 'string') {
        return err(invalid(index, 'value must be a base64 string (topic value_format is "binary")'));
      }
      if (value.length % 4 !== 0 || !BASE64.test(value)) {
        return err(invalid(index, 'value is not valid base64 (standard alphabet, padded, no whitespace)'));
      }
      return ok(Buffer.from(value, 'base64'));
  }
}

function encodeHeaders(raw: unknown, index: number, requestNotUtf8: boolean): Result<RecordHeader[], RecordProblem> {
  if (raw === undefined || raw === null) return ok([]);
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    return err(shape(index, 'headers must be an object of string values'));
  }
  const headers: RecordHeader[] = [];
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof value !== 'string') return err(shape(index, `header "${key}" must be a string`));
    if (key.length === 0) return err(invalid(index, 'header names must not be empty'));
    if (key.startsWith(RESERVED_HEADER_PREFIX)) {
      return err(invalid(index, `header "${key}" uses the reserved prefix "${RESERVED_HEADER_PREFIX}"`));
    }
    const why = notText(key, requestNotUtf8) ?? notText(value, requestNotUtf8);
    if (why) return err(invalid(index, `header ${JSON.stringify(key)} ${why}`));
    headers.push({ key, value: Buffer.from(value, 'utf8') });
  }
  return ok(headers);
}

/**
 * Validates one produced record and encodes it for the log. Never throws for bad input:
 * the problem names the record index and what is wrong with it.
 */
export function decodeRecord(
  raw: unknown,
  index: number,
  ctx: DecodeContext,
  /** For json topics: the exact JSON text of the value in the request body, if known. */
  rawValue?: Buffer,
  /** The request text (body, or NDJSON line) held bytes that are not UTF-8, decoded as U+FFFD. */
  requestNotUtf8 = false,
): Result<DecodedRecord, RecordProblem> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return err(shape(index, 'must be a JSON object with a "value"'));
  }
  const rec = raw as Record<string, unknown>;
  for (const field in rec) {
    if (!FIELDS.has(field))
      return err(shape(index, `unknown field "${field}" (allowed: key, value, headers, partition, timestamp)`));
  }
  if (!('value' in rec)) return err(shape(index, '"value" is required (use null for a tombstone)'));

  const key = rec.key;
  if (key !== undefined && key !== null && typeof key !== 'string')
    return err(shape(index, 'key must be a string or null'));

  let partition: number | undefined;
  if (rec.partition !== undefined && rec.partition !== null) {
    const p = rec.partition;
    if (typeof p !== 'number' || !Number.isInteger(p)) return err(shape(index, 'partition must be an integer'));
    if (p < 0 || p >= ctx.partitionCount) {
      return err(invalid(index, `partition ${p} does not exist (topic has ${ctx.partitionCount} partitions)`));
    }
    partition = p;
  }

  let timestamp = ctx.now;
  if (rec.timestamp !== undefined && rec.timestamp !== null) {
    const t = rec.timestamp;
    if (typeof t !== 'number') return err(shape(index, 'timestamp must be a number (Unix ms)'));
    if (!Number.isInteger(t) || t < 0 || t > MAX_TIMESTAMP_MS) {
      return err(invalid(index, `timestamp must be an integer Unix ms between 0 and ${MAX_TIMESTAMP_MS}`));
    }
    timestamp = t;
  }

  const value = encodeValue(rec.value, index, ctx, rawValue, requestNotUtf8);
  if (!value.ok) return value;
  const headers = encodeHeaders(rec.headers, index, requestNotUtf8);
  if (!headers.ok) return headers;
  if (typeof key === 'string') {
    const why = notText(key, requestNotUtf8);
    if (why) return err(invalid(index, `key ${why}`));
  }

  const keyBytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : null;
  let size = (keyBytes?.length ?? 0) + (value.value?.length ?? 0);
  for (const h of headers.value) size += Buffer.byteLength(h.key) + (h.value?.length ?? 0);
  if (size > ctx.maxRecordBytes) {
    return err({
      code: 'payload_too_large',
      message: `record ${index}: ${size} bytes of key, value and headers exceed the topic's max_record_bytes (${ctx.maxRecordBytes})`,
      recordIndex: index,
      limit: { name: 'max_record_bytes', value: ctx.maxRecordBytes },
    });
  }
  return ok({ input: { key: keyBytes, value: value.value, headers: headers.value, timestamp }, partition });
}

function renderValue(value: Buffer | null, format: ValueFormat): unknown {
  if (value === null) return null;
  switch (format) {
    case 'json':
      try {
        return JSON.parse(value.toString('utf8')) as unknown;
      } catch {
        return undefined; // not JSON text: the caller serves the fallback form
      }
    case 'string':
      return value.toString('utf8');
    case 'binary':
      return value.toString('base64');
  }
}

/**
 * A stored record as readers see it: value decoded per the topic's value_format, key as a
 * UTF-8 string, headers as an object (Sluice never writes null or repeated header names;
 * should a log hold them, a null value is skipped and the last repeat wins). A json value
 * that is not JSON text comes back as base64 with `value_encoding: "base64"`. The object of
 * a very deep value cannot be passed to JSON.stringify (it recurses): to send records, use
 * recordJsonRenderer (record-json-text.ts), which never parses.
 */
export function renderRecord(topic: string, partition: number, rec: StoredRecord, format: ValueFormat): RecordJson {
  // Null prototype: a header named "__proto__" must stay a plain field.
  const headers = Object.create(null) as Record<string, string>;
  for (const h of rec.headers) if (h.value !== null) headers[h.key] = h.value.toString('utf8');
  const value = renderValue(rec.value, format);
  const json: RecordJson = {
    topic,
    partition,
    offset: rec.offset,
    timestamp: rec.timestamp,
    key: rec.key === null ? null : rec.key.toString('utf8'),
    value: value === undefined ? rec.value!.toString('base64') : value,
    headers,
  };
  if (value === undefined) json.value_encoding = UNRENDERABLE_VALUE_ENCODING;
  return json;
}
