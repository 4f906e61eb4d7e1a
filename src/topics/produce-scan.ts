// The produce fast path: one pass over the request bytes straight to log records, JSON values
// kept as the producer's text. It accepts only what it fully understands; anything else bails.
//
// Bailing is the contract: on any input it is not sure about (an error of any kind, escapes in
// keys or header strings, duplicate fields, numbers that are not plain integers, …) it returns
// false and the caller runs the general path (JSON.parse + decodeRecord), which then produces
// the exact answer — including every error message — so behaviour stays byte-identical.
import { isUtf8 } from 'node:buffer';
import { RESERVED_HEADER_PREFIX } from '../log/index.js';
import { MAX_TIMESTAMP_MS, type DecodeContext } from './record-codec.js';
import {
  resetScanFlags,
  SAW_ESCAPE,
  SAW_HUGE_NUMBER,
  SAW_LINE_BREAK,
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
 * those that do); sets `escaped` when a string in it held an escape, `lineBreak` when its
 * whitespace held a CR or LF.
 */
let lineBreak = false;
function scanValue(buf: Uint8Array, i: number, end: number, limit: number, view: DataView): number {
  resetScanFlags();
  i = scanJsonValue(buf, i, end, limit, view);
  const seen = scanFlags();
  escaped = (seen & SAW_ESCAPE) !== 0;
  lineBreak = (seen & SAW_LINE_BREAK) !== 0;
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

/** Whether `"value"` is at `i` (the caller knows the 7 bytes lie within the text). */
function isValueKey(buf: Uint8Array, i: number): boolean {
  return (
    buf[i + 1] === 0x76 &&
    buf[i + 2] === 0x61 &&
    buf[i + 3] === 0x6c &&
    buf[i + 4] === 0x75 &&
    buf[i + 5] === 0x65 &&
    buf[i + 6] === QUOTE
  );
}

/** Whether `"key"` is at `i` (the caller knows the 5 bytes lie within the text). */
function isKeyKey(buf: Uint8Array, i: number): boolean {
  return buf[i + 1] === 0x6b && buf[i + 2] === 0x65 && buf[i + 3] === 0x79 && buf[i + 4] === QUOTE;
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

/**
 * The record scanRecord accepted last, left where it lies in `src` (one object, reused: the scan
 * never yields). Lengths are -1 for null; `headers` holds [nameAt, nameLen, valueAt, valueLen]
 * for each of the first `headerCount` headers.
 */
export interface ScannedRecord {
  src: Buffer;
  keyAt: number;
  keyLen: number;
  valueAt: number;
  valueLen: number;
  headers: Int32Array;
  headerCount: number;
  /** The partition asked for, or -1. */
  partition: number;
  timestamp: number;
  /** The value is null or one-line JSON text (json topics; the body is valid UTF-8): see ONE_LINE_JSON_VALUES. */
  oneLineJson: boolean;
}

const scanned: ScannedRecord = {
  src: Buffer.alloc(0),
  keyAt: 0,
  keyLen: -1,
  valueAt: 0,
  valueLen: -1,
  headers: new Int32Array(64),
  headerCount: 0,
  partition: -1,
  timestamp: 0,
  oneLineJson: false,
};

/** Accepts a scanned record; false when the caller refuses it (the request then takes the general path). */
export type RecordSink = (record: ScannedRecord, index: number) => boolean;

/** Index after the record object (the record in `scanned`), or -1 (bail). `i` at its `{`. */
function scanRecord(body: Buffer, view: DataView, i: number, end: number, ctx: DecodeContext): number {
  const buf = body;
  const limit = ctx.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH;
  const rec = scanned;
  rec.src = body;
  rec.keyLen = -1;
  rec.valueLen = -1;
  rec.headerCount = 0;
  rec.partition = -1;
  rec.timestamp = ctx.now;
  rec.oneLineJson = ctx.format === 'json';
  let seen = 0;
  i = skipWhitespace(buf, i + 1, end);
  if (buf[i] === RBRACE) return -1; // no "value"
  for (;;) {
    if (buf[i] !== QUOTE) return -1;
    // "value" and "key" as plain bytes (what most records hold); any other key is read in full.
    let keyEnd: number;
    let field: number;
    if (i + 7 <= end && isValueKey(buf, i)) {
      keyEnd = i + 7;
      field = F_VALUE;
    } else if (i + 5 <= end && isKeyKey(buf, i)) {
      keyEnd = i + 5;
      field = F_KEY;
    } else {
      keyEnd = validString(buf, i, end, view);
      if (keyEnd < 0 || escaped) return -1;
      field = fieldOf(buf, i + 1, keyEnd - 1);
    }
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
          if (escaped && hasLoneSurrogateEscape(body.subarray(s, i))) return -1;
          rec.valueAt = s;
          rec.valueLen = i - s;
          rec.oneLineJson = !lineBreak;
        } else if (ctx.format === 'string') {
          if (buf[i] !== QUOTE) return -1;
          i = validString(buf, i, end, view);
          if (i < 0 || escaped) return -1;
          rec.valueAt = s + 1;
          rec.valueLen = i - s - 2;
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
        rec.keyAt = s + 1;
        rec.keyLen = i - s - 2;
        break;
      }
      case F_PARTITION: {
        if (isNullAt(buf, i, end)) {
          i += 4;
          break;
        }
        const p = plainInteger(buf, i, end, 9);
        if (p < 0 || p >= ctx.partitionCount) return -1;
        rec.partition = p;
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
        rec.timestamp = t;
        i = intEnd;
        break;
      }
      case F_HEADERS: {
        if (isNullAt(buf, i, end)) {
          i += 4;
          break;
        }
        if (buf[i] !== LBRACE) return -1;
        i = scanHeaders(buf, view, i, end);
        if (i < 0) return -1;
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
  let size = (rec.keyLen > 0 ? rec.keyLen : 0) + (rec.valueLen > 0 ? rec.valueLen : 0);
  const h = rec.headers;
  for (let k = 0; k < rec.headerCount; k++) size += h[4 * k + 1]! + h[4 * k + 3]!;
  if (size > ctx.maxRecordBytes) return -1;
  return i;
}

function sameBytes(buf: Uint8Array, a: number, b: number, len: number): boolean {
  for (let k = 0; k < len; k++) if (buf[a + k] !== buf[b + k]) return false;
  return true;
}

/** `i` at the headers object's `{`: plain string names and values only, into `scanned.headers`. */
function scanHeaders(buf: Buffer, view: DataView, i: number, end: number): number {
  const rec = scanned;
  let n = 0;
  i = skipWhitespace(buf, i + 1, end);
  if (buf[i] === RBRACE) return i + 1;
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
    let h = rec.headers;
    // A repeat: JSON.parse keeps the last (names are UTF-8, so equal strings are equal bytes).
    for (let k = 0; k < n; k++) if (h[4 * k + 1] === ke - ks && sameBytes(buf, h[4 * k]!, ks, ke - ks)) return -1;
    if (4 * n + 4 > h.length) {
      const grown = new Int32Array(h.length * 2);
      grown.set(h);
      rec.headers = h = grown;
    }
    h[4 * n] = ks;
    h[4 * n + 1] = ke - ks;
    h[4 * n + 2] = vs;
    h[4 * n + 3] = i - 1 - vs;
    rec.headerCount = ++n;
    i = skipWhitespace(buf, i, end);
    if (buf[i] === COMMA) {
      i = skipWhitespace(buf, i + 1, end);
      continue;
    }
    if (buf[i] !== RBRACE) return -1;
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
    i = scanRecord(body, view, i, end, ctx);
    if (i < 0 || !sink(scanned, index)) return false;
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
  const after = scanRecord(buf, view, i, end, ctx);
  return after >= 0 && skipWhitespace(buf, after, end) === end && sink(scanned, index);
}
