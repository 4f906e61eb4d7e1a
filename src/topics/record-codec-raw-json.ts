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
  for (;;) {
    const c = buf[i];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else return i;
  }
}

/** `i` at an opening quote; returns the index after the closing quote. */
function skipString(buf: Uint8Array, i: number): number {
  for (i++; ; i++) {
    const c = buf[i];
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) i++;
    else if (c === undefined) throw new RangeError('unterminated string');
  }
}

function skipValue(buf: Buffer, i: number): number {
  const first = buf[i];
  if (first === QUOTE) return skipString(buf, i);
  if (first === LBRACE || first === LBRACKET) {
    let depth = 0;
    for (;; i++) {
      const c = buf[i];
      if (c === QUOTE) i = skipString(buf, i) - 1;
      else if (c === LBRACE || c === LBRACKET) depth++;
      else if (c === RBRACE || c === RBRACKET) {
        if (--depth === 0) return i + 1;
      } else if (c === undefined) throw new RangeError('unterminated value');
    }
  }
  for (;; i++) {
    const c = buf[i];
    if (c === undefined || c === COMMA || c === RBRACE || c === RBRACKET || c <= 0x20) return i;
  }
}

/** Whether the JSON string at [start, end) (quotes included) equals `name`. */
function keyIs(buf: Buffer, start: number, end: number, name: Buffer): boolean {
  const len = end - start - 2;
  let plain = true;
  for (let k = start + 1; k < end - 1; k++) if (buf[k] === BACKSLASH) plain = false;
  if (plain) return len === name.length && buf.compare(name, 0, len, start + 1, end - 1) === 0;
  return JSON.parse(buf.toString('utf8', start, end)) === name.toString();
}

/**
 * `i` at the `{` of an object: returns the index after it, writing the span of the last
 * member named `name` (JSON.parse keeps the last duplicate) into out[at], out[at + 1].
 */
function objectMember(buf: Buffer, i: number, name: Buffer, out: Int32Array, at: number): number {
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
export function recordValueSpans(buf: Buffer, count: number): Int32Array | undefined {
  try {
    const top = new Int32Array(2);
    const i = skipWs(buf, 0);
    if (buf[i] !== LBRACE) return undefined;
    objectMember(buf, i, RECORDS, top, 0);
    let p = top[0]!;
    if (p < 0 || buf[p] !== LBRACKET) return undefined;
    const spans = new Int32Array(count * 2).fill(-1);
    p = skipWs(buf, p + 1);
    for (let r = 0; buf[p] !== RBRACKET; r++) {
      if (r >= count) return undefined;
      p = buf[p] === LBRACE ? objectMember(buf, p, VALUE, spans, r * 2) : skipValue(buf, p);
      p = skipWs(buf, p);
      if (buf[p] === COMMA) p = skipWs(buf, p + 1);
    }
    return spans;
  } catch {
    return undefined;
  }
}

/** Span of the "value" member of the single JSON object in `line`, or undefined. */
export function lineValueSpan(line: Buffer): [number, number] | undefined {
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
