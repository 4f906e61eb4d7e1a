// Finds the raw bytes of each record's "value" in an already-parsed JSON body, so json-format
// values are stored as the producer's own JSON text instead of being re-serialised per record.
// Only ever run on text JSON.parse accepted: it assumes valid JSON and does not validate.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;

const VALUE = Buffer.from('value');
const RECORDS = Buffer.from('records');

function skipWs(buf: Uint8Array, i: number): number {
  const end = buf.length;
  while (i < end) {
    const c = buf[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** `i` at an opening quote; returns the index after the closing quote. */
// Byte classes for the container scan: one table lookup per byte instead of five compares.
const OTHER = 0;
const IS_QUOTE = 1;
const IS_OPEN = 2;
const IS_CLOSE = 3;
const CLASS = new Uint8Array(256);
CLASS[QUOTE] = IS_QUOTE;
CLASS[LBRACE] = IS_OPEN;
CLASS[LBRACKET] = IS_OPEN;
CLASS[RBRACE] = IS_CLOSE;
CLASS[RBRACKET] = IS_CLOSE;

/** `i` at an opening quote; returns the index after the closing quote. */
function skipString(buf: Uint8Array, i: number): number {
  const end = buf.length;
  for (i++; i < end; i++) {
    const c = buf[i]!;
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) i++;
  }
  throw new RangeError('unterminated string');
}

function skipValue(buf: Uint8Array, i: number): number {
  const first = buf[i];
  if (first === QUOTE) return skipString(buf, i);
  const end = buf.length;
  if (first === LBRACE || first === LBRACKET) {
    let depth = 0;
    for (; i < end; i++) {
      const k = CLASS[buf[i]!]!;
      if (k === OTHER) continue;
      if (k === IS_QUOTE) i = skipString(buf, i) - 1;
      else if (k === IS_OPEN) depth++;
      else if (--depth === 0) return i + 1;
    }
    throw new RangeError('unterminated value');
  }
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === COMMA || c === RBRACE || c === RBRACKET || c <= 0x20) return i;
  }
  return i;
}

/** Whether the JSON string at [start, end) (quotes included) equals `name`. */
function keyIs(buf: Uint8Array, start: number, end: number, name: Buffer): boolean {
  const len = end - start - 2;
  let plain = true;
  for (let k = start + 1; k < end - 1; k++) if (buf[k] === BACKSLASH) plain = false;
  if (plain) {
    if (len !== name.length) return false;
    for (let k = 0; k < len; k++) if (buf[start + 1 + k] !== name[k]) return false;
    return true;
  }
  return JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('utf8')) === name.toString();
}

/**
 * `i` at the `{` of an object: returns the index after it, writing the span of the last
 * member named `name` (JSON.parse keeps the last duplicate) into out[at], out[at + 1].
 */
function objectMember(buf: Uint8Array, i: number, name: Buffer, out: Int32Array, at: number): number {
  out[at] = -1;
  out[at + 1] = -1;
  i = skipWs(buf, i + 1);
  while (buf[i] !== RBRACE) {
    const keyEnd = skipString(buf, i);
    const match = keyIs(buf, i, keyEnd, name);
    i = skipWs(buf, skipWs(buf, keyEnd) + 1); // past the colon
    const end = skipValue(buf, i);
    if (match) {
      out[at] = i;
      out[at + 1] = end;
    }
    i = skipWs(buf, end);
    if (buf[i] === COMMA) i = skipWs(buf, i + 1);
  }
  return i + 1;
}

/**
 * Spans of each record's "value" in a `{"records": [...]}` body: [start, end) pairs per
 * record, -1 where a record is not an object or has no value. Undefined if the body does
 * not have that shape (the caller then reports the error from the parsed value).
 */
export function recordValueSpans(body: Buffer, count: number): Int32Array | undefined {
  // A plain Uint8Array view: element access on it is faster than on the Buffer subclass.
  const buf = new Uint8Array(body.buffer, body.byteOffset, body.length);
  try {
    let i = skipWs(buf, 0);
    if (buf[i] !== LBRACE) return undefined;
    let spans: Int32Array | undefined;
    // One pass: the records array is walked where it stands, not skipped and walked again.
    i = skipWs(buf, i + 1);
    while (buf[i] !== RBRACE) {
      const keyEnd = skipString(buf, i);
      const isRecords = keyIs(buf, i, keyEnd, RECORDS);
      i = skipWs(buf, skipWs(buf, keyEnd) + 1); // past the colon
      if (isRecords && buf[i] === LBRACKET) {
        spans = new Int32Array(count * 2).fill(-1); // a later duplicate replaces it, as in JSON.parse
        i = recordsArray(buf, i, count, spans);
        if (i < 0) return undefined;
      } else {
        if (isRecords) spans = undefined;
        i = skipValue(buf, i);
      }
      i = skipWs(buf, i);
      if (buf[i] === COMMA) i = skipWs(buf, i + 1);
    }
    return spans;
  } catch {
    return undefined;
  }
}

/** `p` at the array's `[`: fills spans, returns the index after `]` (-1 if count is wrong). */
function recordsArray(buf: Uint8Array, p: number, count: number, spans: Int32Array): number {
  p = skipWs(buf, p + 1);
  let r = 0;
  for (; buf[p] !== RBRACKET; r++) {
    if (r >= count) return -1;
    p = buf[p] === LBRACE ? objectMember(buf, p, VALUE, spans, r * 2) : skipValue(buf, p);
    p = skipWs(buf, p);
    if (buf[p] === COMMA) p = skipWs(buf, p + 1);
  }
  return r === count ? p + 1 : -1;
}

/** Span of the "value" member of the single JSON object in `line`, or undefined. */
export function lineValueSpan(lineBytes: Buffer): [number, number] | undefined {
  const line = new Uint8Array(lineBytes.buffer, lineBytes.byteOffset, lineBytes.length);
  try {
    const out = new Int32Array(2);
    const i = skipWs(line, 0);
    if (line[i] !== LBRACE) return undefined;
    objectMember(line, i, VALUE, out, 0);
    return out[0]! < 0 ? undefined : [out[0]!, out[1]!];
  } catch {
    return undefined;
  }
}
