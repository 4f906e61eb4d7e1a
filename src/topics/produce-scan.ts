// The produce fast path: one pass over the request bytes straight to log records, JSON values
// kept as the producer's text. It accepts only what it fully understands; anything else bails.
//
// Bailing is the contract: on any input it is not sure about (an error of any kind, escapes in
// keys or header strings, duplicate fields, numbers that are not plain integers, …) it returns
// false and the caller runs the general path (JSON.parse + decodeRecord), which then produces
// the exact answer — including every error message — so behaviour stays byte-identical.
import { isUtf8 } from 'node:buffer';
import { RESERVED_HEADER_PREFIX, type RecordHeader, type RecordInput } from '../log/index.js';
import { MAX_TIMESTAMP_MS, type DecodeContext } from './record-codec.js';
import {
  resetScanFlags,
  SAW_ESCAPE,
  SAW_HUGE_NUMBER,
  scanFlags,
  scanJsonValue,
  scanString,
  skipWhitespace,
} from './json-scanner.js';
import { DEFAULT_MAX_JSON_DEPTH, hasLoneSurrogateEscape } from './record-json-scan.js';

const QUOTE = 0x22;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= ZERO && c <= NINE;

/** `i` at an opening quote: the index after the closing quote, or -1; sets `escaped` when it held an escape. */
let escaped = false;
function validString(buf: Uint8Array, i: number, end: number, view: DataView): number {
  resetScanFlags();
  i = scanString(buf, i, end, view);
  escaped = (scanFlags() & SAW_ESCAPE) !== 0;
  return i;
}

/**
 * `i` at a JSON value: the index just after it, or -1 if it is not valid JSON, nests deeper
 * than `limit`, or has a number that might lie beyond a 64-bit float (the full path refuses
 * those that do); sets `escaped` when a string in it held an escape.
 */
function scanValue(buf: Uint8Array, i: number, end: number, limit: number, view: DataView): number {
  resetScanFlags();
  i = scanJsonValue(buf, i, end, limit, view);
  const seen = scanFlags();
  escaped = (seen & SAW_ESCAPE) !== 0;
  return (seen & SAW_HUGE_NUMBER) !== 0 ? -1 : i;
}

function isNullAt(buf: Uint8Array, i: number, end: number): boolean {
  return i + 4 <= end && buf[i] === 0x6e && buf[i + 1] === 0x75 && buf[i + 2] === 0x6c && buf[i + 3] === 0x6c;
}

/**
 * `i` at a plain non-negative integer (no sign, fraction, exponent or leading zero), at most
 * `maxDigits` long: its value, with the index after it in `intEnd`; -1 for anything else.
 */
let intEnd = 0;
function plainInteger(buf: Uint8Array, i: number, end: number, maxDigits: number): number {
  const start = i;
  let n = 0;
  while (i < end && isDigit(buf[i])) {
    n = n * 10 + (buf[i]! - ZERO);
    i++;
  }
  const len = i - start;
  if (len === 0 || len > maxDigits || (len > 1 && buf[start] === ZERO)) return -1;
  if (i < end && (buf[i] === DOT || buf[i] === 0x65 || buf[i] === 0x45)) return -1;
  intEnd = i;
  return n;
}

// Field bits of a record object, to refuse duplicates.
const F_KEY = 1;
const F_VALUE = 2;
const F_HEADERS = 4;
const F_PARTITION = 8;
const F_TIMESTAMP = 16;

/** Which record field the key string at [s, e) (quotes excluded) names; 0 for any other. */
function fieldOf(buf: Uint8Array, s: number, e: number): number {
  const len = e - s;
  const c = buf[s];
  if (
    len === 5 &&
    c === 0x76 &&
    buf[s + 1] === 0x61 &&
    buf[s + 2] === 0x6c &&
    buf[s + 3] === 0x75 &&
    buf[s + 4] === 0x65
  )
    return F_VALUE; // value
  if (len === 3 && c === 0x6b && buf[s + 1] === 0x65 && buf[s + 2] === 0x79) return F_KEY;
  if (len === 7 && equalsAscii(buf, s, 'headers')) return F_HEADERS;
  if (len === 9 && equalsAscii(buf, s, 'partition')) return F_PARTITION;
  if (len === 9 && equalsAscii(buf, s, 'timestamp')) return F_TIMESTAMP;
  return 0;
}

function equalsAscii(buf: Uint8Array, s: number, word: string): boolean {
  for (let k = 0; k < word.length; k++) if (buf[s + k] !== word.charCodeAt(k)) return false;
  return true;
}

const RESERVED = Buffer.from(RESERVED_HEADER_PREFIX, 'utf8');

/** Whether [s, e) is all ASCII digits: such header names are ordered first by JSON.parse objects. */
function allDigits(buf: Uint8Array, s: number, e: number): boolean {
  for (let k = s; k < e; k++) if (!isDigit(buf[k])) return false;
  return true;
}

function startsWithBytes(buf: Uint8Array, s: number, e: number, prefix: Uint8Array): boolean {
  if (e - s < prefix.length) return false;
  for (let k = 0; k < prefix.length; k++) if (buf[s + k] !== prefix[k]) return false;
  return true;
}

/** Accepts a scanned record; false when the caller refuses it (the request then takes the general path). */
export type RecordSink = (input: RecordInput, partition: number | undefined, index: number) => boolean;

/** Index after the record object (the record in `scanned`), or -1 (bail). `i` at its `{`. */
function scanRecord(body: Buffer, buf: Uint8Array, view: DataView, i: number, end: number, ctx: DecodeContext): number {
  const limit = ctx.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH;
  let seen = 0;
  let key: Buffer | null = null;
  let value: Buffer | null = null;
  let headers: RecordHeader[] = [];
  let partition: number | undefined;
  let timestamp = ctx.now;
  i = skipWhitespace(buf, i + 1, end);
  if (buf[i] === RBRACE) return -1; // no "value"
  for (;;) {
    if (buf[i] !== QUOTE) return -1;
    const keyEnd = validString(buf, i, end, view);
    if (keyEnd < 0 || escaped) return -1;
    const field = fieldOf(buf, i + 1, keyEnd - 1);
    if (field === 0 || (seen & field) !== 0) return -1;
    seen |= field;
    i = skipWhitespace(buf, keyEnd, end);
    if (buf[i] !== COLON) return -1;
    i = skipWhitespace(buf, i + 1, end);
    if (i >= end) return -1;
    switch (field) {
      case F_VALUE: {
        if (isNullAt(buf, i, end)) {
          i += 4;
          break;
        }
        const s = i;
        if (ctx.format === 'json') {
          i = scanValue(buf, i, end, limit, view);
          if (i < 0) return -1;
          value = body.subarray(s, i);
          if (escaped && hasLoneSurrogateEscape(value)) return -1;
        } else if (ctx.format === 'string') {
          if (buf[i] !== QUOTE) return -1;
          i = validString(buf, i, end, view);
          if (i < 0 || escaped) return -1;
          value = body.subarray(s + 1, i - 1);
        } else return -1;
        break;
      }
      case F_KEY: {
        if (isNullAt(buf, i, end)) {
          i += 4;
          break;
        }
        if (buf[i] !== QUOTE) return -1;
        const s = i;
        i = validString(buf, i, end, view);
        if (i < 0 || escaped) return -1;
        key = body.subarray(s + 1, i - 1);
        break;
      }
      case F_PARTITION: {
        if (isNullAt(buf, i, end)) {
          i += 4;
          break;
        }
        const p = plainInteger(buf, i, end, 9);
        if (p < 0 || p >= ctx.partitionCount) return -1;
        partition = p;
        i = intEnd;
        break;
      }
      case F_TIMESTAMP: {
        if (isNullAt(buf, i, end)) {
          i += 4;
          break;
        }
        const t = plainInteger(buf, i, end, 16);
        if (t < 0 || t > MAX_TIMESTAMP_MS) return -1;
        timestamp = t;
        i = intEnd;
        break;
      }
      case F_HEADERS: {
        if (isNullAt(buf, i, end)) {
          i += 4;
          break;
        }
        if (buf[i] !== LBRACE) return -1;
        i = scanHeaders(body, buf, view, i, end);
        if (i < 0) return -1;
        headers = scannedHeaders;
        break;
      }
    }
    i = skipWhitespace(buf, i, end);
    if (buf[i] === COMMA) {
      i = skipWhitespace(buf, i + 1, end);
      continue;
    }
    if (buf[i] !== RBRACE) return -1;
    i++;
    break;
  }
  if ((seen & F_VALUE) === 0) return -1;
  let size = (key?.length ?? 0) + (value?.length ?? 0);
  for (const h of headers) size += Buffer.byteLength(h.key) + (h.value?.length ?? 0);
  if (size > ctx.maxRecordBytes) return -1;
  scanned = { key, value, headers, timestamp };
  scannedPartition = partition;
  return i;
}

/** The last record scanRecord accepted (it never yields, so module state is safe). */
let scanned: RecordInput | undefined;
let scannedPartition: number | undefined;

let scannedHeaders: RecordHeader[] = [];

/** `i` at the headers object's `{`: plain string names and values only. */
function scanHeaders(body: Buffer, buf: Uint8Array, view: DataView, i: number, end: number): number {
  const out: RecordHeader[] = [];
  i = skipWhitespace(buf, i + 1, end);
  if (buf[i] === RBRACE) {
    scannedHeaders = out;
    return i + 1;
  }
  for (;;) {
    if (buf[i] !== QUOTE) return -1;
    const ks = i + 1;
    i = validString(buf, i, end, view);
    if (i < 0 || escaped) return -1;
    const ke = i - 1;
    // Empty, reserved or integer-like names (ordered differently by JSON.parse): general path.
    if (ke === ks || allDigits(buf, ks, ke) || startsWithBytes(buf, ks, ke, RESERVED)) return -1;
    i = skipWhitespace(buf, i, end);
    if (buf[i] !== COLON) return -1;
    i = skipWhitespace(buf, i + 1, end);
    if (buf[i] !== QUOTE) return -1;
    const vs = i + 1;
    i = validString(buf, i, end, view);
    if (i < 0 || escaped) return -1;
    const name = body.toString('utf8', ks, ke);
    for (const h of out) if (h.key === name) return -1; // a repeat: JSON.parse keeps the last
    out.push({ key: name, value: body.subarray(vs, i - 1) });
    i = skipWhitespace(buf, i, end);
    if (buf[i] === COMMA) {
      i = skipWhitespace(buf, i + 1, end);
      continue;
    }
    if (buf[i] !== RBRACE) return -1;
    scannedHeaders = out;
    return i + 1;
  }
}

/**
 * A whole `{"records": [...]}` body, each record handed to `sink` in order. False (bail)
 * if anything is not plainly valid, in which case the caller discards what the sink got.
 */
export function scanProduceBody(body: Buffer, ctx: DecodeContext, maxRecords: number, sink: RecordSink): boolean {
  if (!isUtf8(body)) return false;
  // The Buffer itself: every caller of the shared scanner hands it Buffers, so its element
  // access sees one kind of array (a plain Uint8Array here made the others' calls polymorphic).
  const buf = body;
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  const end = buf.length;
  let i = skipWhitespace(buf, 0, end);
  if (buf[i] !== LBRACE) return false;
  i = skipWhitespace(buf, i + 1, end);
  if (buf[i] !== QUOTE) return false;
  const keyEnd = validString(buf, i, end, view);
  if (keyEnd !== i + 9 || escaped || !equalsAscii(buf, i + 1, 'records')) return false;
  i = skipWhitespace(buf, keyEnd, end);
  if (buf[i] !== COLON) return false;
  i = skipWhitespace(buf, i + 1, end);
  if (buf[i] !== LBRACKET) return false;
  i = skipWhitespace(buf, i + 1, end);
  if (buf[i] === RBRACKET) return false;
  let index = 0;
  for (;;) {
    if (index >= maxRecords || buf[i] !== LBRACE) return false;
    i = scanRecord(body, buf, view, i, end, ctx);
    if (i < 0 || !sink(scanned!, scannedPartition, index)) return false;
    index++;
    i = skipWhitespace(buf, i, end);
    if (buf[i] === COMMA) {
      i = skipWhitespace(buf, i + 1, end);
      continue;
    }
    if (buf[i] !== RBRACKET) return false;
    break;
  }
  i = skipWhitespace(buf, i + 1, end);
  if (buf[i] !== RBRACE) return false;
  return skipWhitespace(buf, i + 1, end) === end;
}

/**
 * One NDJSON line, bytes [start, end) of `buf` (no newline; `view` a DataView of `buf`), holding
 * one record object; `utf8` when those bytes are known to be UTF-8. False (bail) as scanProduceBody.
 */
export function scanProduceLine(
  buf: Buffer,
  view: DataView,
  start: number,
  end: number,
  utf8: boolean,
  ctx: DecodeContext,
  index: number,
  sink: RecordSink,
): boolean {
  if (!utf8 && !isUtf8(buf.subarray(start, end))) return false;
  const i = skipWhitespace(buf, start, end);
  if (buf[i] !== LBRACE) return false;
  const after = scanRecord(buf, buf, view, i, end, ctx);
  return after >= 0 && skipWhitespace(buf, after, end) === end && sink(scanned!, scannedPartition, index);
}
