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
import { DEFAULT_MAX_JSON_DEPTH, hasLoneSurrogateEscape } from './record-json-scan.js';

// The byte tables and primitives below (validString, digits, validNumber, validLiteral, objectKey)
// mirror record-json-scan.ts's on purpose: sharing them through one module measured 14–30% slower
// on both scanners in the built server (imported tables and constants are live bindings V8 does
// not fold; 2026-12-01). Here strings also flag escapes and numbers bail beyond a double's range.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const PLUS = 0x2b;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const WS = new Uint8Array(256);
for (const c of [0x20, 0x0a, 0x0d, 0x09]) WS[c] = 1;
const DIGIT = new Uint8Array(256);
for (let c = ZERO; c <= NINE; c++) DIGIT[c] = 1;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;
const ESCAPES = new Uint8Array(256);
for (const c of '"\\/bfnrtu') ESCAPES[c.charCodeAt(0)] = 1;
const STRING_STOP = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STRING_STOP[c] = 1;
STRING_STOP[QUOTE] = 1;
STRING_STOP[BACKSLASH] = 1;

/** Set by validString when the last string scanned held an escape. */
let sawEscape = false;

function skipWs(buf: Uint8Array, i: number, end: number): number {
  while (i < end && WS[buf[i]!] === 1) i++;
  return i;
}

/** `i` at an opening quote: the index after the closing quote, or -1 if invalid. */
function validString(buf: Uint8Array, i: number, end: number): number {
  i++;
  while (i < end) {
    const c = buf[i]!;
    if (STRING_STOP[c] === 0) {
      i++;
      continue;
    }
    if (c === QUOTE) return i + 1;
    if (c !== BACKSLASH || i + 1 >= end) return -1;
    sawEscape = true;
    const e = buf[i + 1]!;
    if (ESCAPES[e] === 0) return -1;
    if (e === 0x75) {
      if (i + 5 >= end) return -1;
      if ((HEX[buf[i + 2]!]! & HEX[buf[i + 3]!]! & HEX[buf[i + 4]!]! & HEX[buf[i + 5]!]!) === 0) return -1;
      i += 6;
    } else i += 2;
  }
  return -1;
}

function digits(buf: Uint8Array, i: number, end: number): number {
  while (i < end && DIGIT[buf[i]!] === 1) i++;
  return i;
}

/**
 * `i` at a JSON number: the index just after it, or -1 if it is not valid or might lie beyond
 * a 64-bit float (over 300 integer digits, or a positive exponent of three digits or one that
 * could carry the integer part past 10^300): the full path refuses those that do.
 */
function validNumber(buf: Uint8Array, i: number, end: number): number {
  if (buf[i] === MINUS) i++;
  if (i >= end) return -1;
  let intDigits = 1;
  if (buf[i] === ZERO) i++;
  else if (DIGIT[buf[i]!] === 1) {
    const start = i;
    i = digits(buf, i + 1, end);
    intDigits = i - start;
    if (intDigits > 300) return -1;
  } else return -1;
  if (i < end && buf[i] === DOT) {
    if (i + 1 >= end || DIGIT[buf[i + 1]!] === 0) return -1;
    i = digits(buf, i + 2, end);
  }
  if (i < end && (buf[i] === 0x65 || buf[i] === 0x45)) {
    i++;
    const negative = i < end && buf[i] === MINUS;
    if (i < end && (buf[i] === PLUS || buf[i] === MINUS)) i++;
    if (i >= end || DIGIT[buf[i]!] === 0) return -1;
    const start = i;
    i = digits(buf, i + 1, end);
    // A large positive exponent may leave the range of a double (1e400): not ours to judge.
    if (!negative && (i - start > 2 || intDigits + (i - start === 2 ? 100 : 10) > 300)) return -1;
  }
  return i;
}

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

function validLiteral(buf: Uint8Array, i: number, end: number, word: Uint8Array): number {
  if (i + word.length > end) return -1;
  for (let k = 1; k < word.length; k++) if (buf[i + k] !== word[k]) return -1;
  return i + word.length;
}

function isNullAt(buf: Uint8Array, i: number, end: number): boolean {
  return buf[i] === 0x6e && validLiteral(buf, i, end, NULL) > 0;
}

/** Open containers of scanValue (1 = object, 0 = array), reused: it never yields. */
let openStack = new Uint8Array(256);

/**
 * `i` at a JSON value: the index just after it, or -1 if it is not valid JSON or nests
 * deeper than `limit`. Iterative, like isJsonText, but stops at the end of the value.
 */
function scanValue(buf: Uint8Array, i: number, end: number, limit: number): number {
  let depth = 0;
  for (;;) {
    i = skipWs(buf, i, end);
    if (i >= end) return -1;
    const c = buf[i]!;
    if (c === LBRACE || c === LBRACKET) {
      const object = c === LBRACE;
      if (depth + 1 > limit) return -1;
      i = skipWs(buf, i + 1, end);
      if (i < end && buf[i] === (object ? RBRACE : RBRACKET)) {
        i++;
      } else {
        if (depth === openStack.length) {
          const grown = new Uint8Array(depth * 2);
          grown.set(openStack);
          openStack = grown;
        }
        openStack[depth++] = object ? 1 : 0;
        if (object && (i = objectKey(buf, i, end)) < 0) return -1;
        continue;
      }
    } else if (c === QUOTE) i = validString(buf, i, end);
    else if (c === MINUS || DIGIT[c] === 1) i = validNumber(buf, i, end);
    else if (c === 0x74) i = validLiteral(buf, i, end, TRUE);
    else if (c === 0x66) i = validLiteral(buf, i, end, FALSE);
    else if (c === 0x6e) i = validLiteral(buf, i, end, NULL);
    else return -1;
    if (i < 0) return -1;
    for (;;) {
      if (depth === 0) return i;
      i = skipWs(buf, i, end);
      if (i >= end) return -1;
      const object = openStack[depth - 1] === 1;
      const d = buf[i]!;
      if (d === (object ? RBRACE : RBRACKET)) {
        depth--;
        i++;
        continue;
      }
      if (d !== COMMA) return -1;
      i++;
      if (object && (i = objectKey(buf, skipWs(buf, i, end), end)) < 0) return -1;
      break;
    }
  }
}

/** `i` at an object member's key: the index after its colon, or -1. */
function objectKey(buf: Uint8Array, i: number, end: number): number {
  if (i >= end || buf[i] !== QUOTE) return -1;
  i = validString(buf, i, end);
  if (i < 0) return -1;
  i = skipWs(buf, i, end);
  return i < end && buf[i] === COLON ? i + 1 : -1;
}

/**
 * `i` at a plain non-negative integer (no sign, fraction, exponent or leading zero), at most
 * `maxDigits` long: its value, with the index after it in `intEnd`; -1 for anything else.
 */
let intEnd = 0;
function plainInteger(buf: Uint8Array, i: number, end: number, maxDigits: number): number {
  const start = i;
  let n = 0;
  while (i < end && DIGIT[buf[i]!] === 1) {
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
  for (let k = s; k < e; k++) if (DIGIT[buf[k]!] === 0) return false;
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
function scanRecord(body: Buffer, buf: Uint8Array, i: number, end: number, ctx: DecodeContext): number {
  const limit = ctx.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH;
  let seen = 0;
  let key: Buffer | null = null;
  let value: Buffer | null = null;
  let headers: RecordHeader[] = [];
  let partition: number | undefined;
  let timestamp = ctx.now;
  i = skipWs(buf, i + 1, end);
  if (buf[i] === RBRACE) return -1; // no "value"
  for (;;) {
    if (buf[i] !== QUOTE) return -1;
    sawEscape = false;
    const keyEnd = validString(buf, i, end);
    if (keyEnd < 0 || sawEscape) return -1;
    const field = fieldOf(buf, i + 1, keyEnd - 1);
    if (field === 0 || (seen & field) !== 0) return -1;
    seen |= field;
    i = skipWs(buf, keyEnd, end);
    if (buf[i] !== COLON) return -1;
    i = skipWs(buf, i + 1, end);
    if (i >= end) return -1;
    switch (field) {
      case F_VALUE: {
        if (isNullAt(buf, i, end)) {
          i += 4;
          break;
        }
        sawEscape = false;
        const s = i;
        if (ctx.format === 'json') {
          i = scanValue(buf, i, end, limit);
          if (i < 0) return -1;
          value = body.subarray(s, i);
          if (sawEscape && hasLoneSurrogateEscape(value)) return -1;
        } else if (ctx.format === 'string') {
          if (buf[i] !== QUOTE) return -1;
          i = validString(buf, i, end);
          if (i < 0 || sawEscape) return -1;
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
        sawEscape = false;
        const s = i;
        i = validString(buf, i, end);
        if (i < 0 || sawEscape) return -1;
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
        i = scanHeaders(body, buf, i, end);
        if (i < 0) return -1;
        headers = scannedHeaders;
        break;
      }
    }
    i = skipWs(buf, i, end);
    if (buf[i] === COMMA) {
      i = skipWs(buf, i + 1, end);
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
function scanHeaders(body: Buffer, buf: Uint8Array, i: number, end: number): number {
  const out: RecordHeader[] = [];
  i = skipWs(buf, i + 1, end);
  if (buf[i] === RBRACE) {
    scannedHeaders = out;
    return i + 1;
  }
  for (;;) {
    if (buf[i] !== QUOTE) return -1;
    sawEscape = false;
    const ks = i + 1;
    i = validString(buf, i, end);
    if (i < 0 || sawEscape) return -1;
    const ke = i - 1;
    // Empty, reserved or integer-like names (ordered differently by JSON.parse): general path.
    if (ke === ks || allDigits(buf, ks, ke) || startsWithBytes(buf, ks, ke, RESERVED)) return -1;
    i = skipWs(buf, i, end);
    if (buf[i] !== COLON) return -1;
    i = skipWs(buf, i + 1, end);
    if (buf[i] !== QUOTE) return -1;
    const vs = i + 1;
    i = validString(buf, i, end);
    if (i < 0 || sawEscape) return -1;
    const name = body.toString('utf8', ks, ke);
    for (const h of out) if (h.key === name) return -1; // a repeat: JSON.parse keeps the last
    out.push({ key: name, value: body.subarray(vs, i - 1) });
    i = skipWs(buf, i, end);
    if (buf[i] === COMMA) {
      i = skipWs(buf, i + 1, end);
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
  // A plain Uint8Array view: element access on it is faster than on the Buffer subclass.
  const buf = new Uint8Array(body.buffer, body.byteOffset, body.length);
  const end = buf.length;
  let i = skipWs(buf, 0, end);
  if (buf[i] !== LBRACE) return false;
  i = skipWs(buf, i + 1, end);
  if (buf[i] !== QUOTE) return false;
  sawEscape = false;
  const keyEnd = validString(buf, i, end);
  if (keyEnd !== i + 9 || sawEscape || !equalsAscii(buf, i + 1, 'records')) return false;
  i = skipWs(buf, keyEnd, end);
  if (buf[i] !== COLON) return false;
  i = skipWs(buf, i + 1, end);
  if (buf[i] !== LBRACKET) return false;
  i = skipWs(buf, i + 1, end);
  if (buf[i] === RBRACKET) return false;
  let index = 0;
  for (;;) {
    if (index >= maxRecords || buf[i] !== LBRACE) return false;
    i = scanRecord(body, buf, i, end, ctx);
    if (i < 0 || !sink(scanned!, scannedPartition, index)) return false;
    index++;
    i = skipWs(buf, i, end);
    if (buf[i] === COMMA) {
      i = skipWs(buf, i + 1, end);
      continue;
    }
    if (buf[i] !== RBRACKET) return false;
    break;
  }
  i = skipWs(buf, i + 1, end);
  if (buf[i] !== RBRACE) return false;
  return skipWs(buf, i + 1, end) === end;
}

/** One NDJSON line holding one record object (no newline); false (bail) as scanProduceBody. */
export function scanProduceLine(line: Buffer, ctx: DecodeContext, index: number, sink: RecordSink): boolean {
  if (!isUtf8(line)) return false;
  const buf = new Uint8Array(line.buffer, line.byteOffset, line.length);
  const end = buf.length;
  const i = skipWs(buf, 0, end);
  if (buf[i] !== LBRACE) return false;
  const after = scanRecord(line, buf, i, end, ctx);
  return after >= 0 && skipWs(buf, after, end) === end && sink(scanned!, scannedPartition, index);
}
