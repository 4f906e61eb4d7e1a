// Byte-level scans of a stored or produced JSON value, none of them recursive: nesting depth
// (the produce limit), validation and one-line compaction (the read path's renderer).

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LF = 0x0a;
const CR = 0x0d;

/** Default for SLUICE_MAX_JSON_DEPTH: deep enough for any real document, shallow enough for any parser. */
export const DEFAULT_MAX_JSON_DEPTH = 128;

const isWs = (c: number): boolean => c === 0x20 || c === LF || c === CR || c === 0x09;

/** `i` at an opening quote; the index after the closing quote (the value is known valid JSON). */
function skipString(buf: Uint8Array, i: number): number {
  const end = buf.length;
  for (i++; i < end; i++) {
    const c = buf[i];
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) i++;
  }
  return end;
}

/**
 * Whether JSON text that `JSON.parse` accepted nests arrays/objects more than `limit` deep
 * (`1` and `"x"` are depth 0, `{}` and `[1]` depth 1). One pass, no recursion; text too
 * short to hold `limit + 1` levels is not scanned at all.
 */
export function jsonTextDeeperThan(buf: Uint8Array, limit: number): boolean {
  const end = buf.length;
  if (end < 2 * (limit + 1)) return false;
  let depth = 0;
  for (let i = 0; i < end; i++) {
    const c = buf[i];
    if (c === QUOTE) i = skipString(buf, i) - 1;
    else if (c === LBRACE || c === LBRACKET) {
      if (++depth > limit) return true;
    } else if (c === RBRACE || c === RBRACKET) depth--;
  }
  return false;
}

/**
 * Whether a parsed JSON value nests more than `limit` deep: for values whose text is not at
 * hand. Walks with an explicit stack, and stops as soon as the limit is passed.
 */
export function jsonValueDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const stack: Array<{ node: object; depth: number }> = [{ node: value, depth: 1 }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    if (top.depth > limit) return true;
    const children = Array.isArray(top.node) ? (top.node as unknown[]) : Object.values(top.node);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) stack.push({ node: child, depth: top.depth + 1 });
    }
  }
  return false;
}

// Byte classes for the validator: one table lookup per byte. produce-scan.ts keeps its own copy
// of these and of the primitives below, for speed (see there).
const WS = new Uint8Array(256);
for (const c of [0x20, LF, CR, 0x09]) WS[c] = 1;
const DIGIT = new Uint8Array(256);
for (let c = ZERO; c <= NINE; c++) DIGIT[c] = 1;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;
const ESCAPES = new Uint8Array(256);
for (const c of '"\\/bfnrtu') ESCAPES[c.charCodeAt(0)] = 1;
// Bytes that end the plain run of a string: the quote, a backslash, control characters.
const STRING_STOP = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STRING_STOP[c] = 1;
STRING_STOP[QUOTE] = 1;
STRING_STOP[BACKSLASH] = 1;

/** `i` at an opening quote: the index after the closing quote, or -1 if the string is invalid. */
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

/** `i` at a number's first byte: the index after it, or -1 if it is not a JSON number. */
function validNumber(buf: Uint8Array, i: number, end: number): number {
  if (buf[i] === MINUS) i++;
  if (i >= end) return -1;
  if (buf[i] === ZERO) i++;
  else if (DIGIT[buf[i]!] === 1) i = digits(buf, i + 1, end);
  else return -1;
  if (i < end && buf[i] === DOT) {
    if (i + 1 >= end || DIGIT[buf[i + 1]!] === 0) return -1;
    i = digits(buf, i + 2, end);
  }
  if (i < end && (buf[i] === 0x65 || buf[i] === 0x45)) {
    i++;
    if (i < end && (buf[i] === PLUS || buf[i] === MINUS)) i++;
    if (i >= end || DIGIT[buf[i]!] === 0) return -1;
    i = digits(buf, i + 1, end);
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

function skipWs(buf: Uint8Array, i: number, end: number): number {
  while (i < end && WS[buf[i]!] === 1) i++;
  return i;
}

/** `i` at an object member's key: the index after its colon, or -1. */
function objectKey(buf: Uint8Array, i: number, end: number): number {
  if (i >= end || buf[i] !== QUOTE) return -1;
  i = skipWs(buf, validString(buf, i, end), end);
  return i > 0 && i < end && buf[i] === COLON ? i + 1 : -1;
}

/** Open containers of isJsonText (1 = object, 0 = array), reused: it never yields. */
let openStack = new Uint8Array(256);

/**
 * Whether `bytes` is one complete JSON text (RFC 8259; bytes ≥ 0x80 are taken as string
 * content, as `JSON.parse` of their UTF-8 decoding would). Iterative: any depth is fine.
 */
export function isJsonText(buf: Uint8Array): boolean {
  // No plain Uint8Array view of a Buffer here: for short values creating it costs more than it saves.
  const end = buf.length;
  let depth = 0;
  let i = 0;
  for (;;) {
    // A value is expected at i.
    i = skipWs(buf, i, end);
    if (i >= end) return false;
    const c = buf[i]!;
    if (c === LBRACE || c === LBRACKET) {
      const object = c === LBRACE;
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
        if (object && (i = objectKey(buf, i, end)) < 0) return false;
        continue;
      }
    } else if (c === QUOTE) i = validString(buf, i, end);
    else if (c === MINUS || DIGIT[c] === 1) i = validNumber(buf, i, end);
    else if (c === 0x74) i = validLiteral(buf, i, end, TRUE);
    else if (c === 0x66) i = validLiteral(buf, i, end, FALSE);
    else if (c === 0x6e) i = validLiteral(buf, i, end, NULL);
    else return false;
    if (i < 0) return false;
    // After a complete value: close containers, or pass the separator before the next value.
    for (;;) {
      i = skipWs(buf, i, end);
      if (depth === 0) return i === end;
      if (i >= end) return false;
      const object = openStack[depth - 1] === 1;
      const d = buf[i]!;
      if (d === (object ? RBRACE : RBRACKET)) {
        depth--;
        i++;
        continue;
      }
      if (d !== COMMA) return false;
      i++;
      if (object && (i = objectKey(buf, skipWs(buf, i, end), end)) < 0) return false;
      break;
    }
  }
}

/** Valid JSON text without its insignificant whitespace (strings untouched): one line, always. */
export function compactJsonText(buf: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(buf.length);
  let n = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === QUOTE) {
      const after = skipString(buf, i);
      out.set(buf.subarray(i, after), n);
      n += after - i;
      i = after - 1;
    } else if (!isWs(c)) out[n++] = c;
  }
  return out.subarray(0, n);
}

const LOWER_U = 0x75;

function hexAt(buf: Buffer, i: number): number {
  return parseInt(buf.toString('latin1', i, i + 4), 16);
}

/**
 * Whether valid JSON text has a `\uXXXX` escape of half a surrogate pair with no other half:
 * JSON.parse takes it, but strict parsers (jq, Go, Rust's serde) refuse the whole document it
 * is served in. Backslashes occur only inside strings, so escapes are found by jumping from one
 * backslash to the next (a native scan; text without any is not walked at all).
 */
export function hasLoneSurrogateEscape(buf: Buffer): boolean {
  let highEnd = -1; // just after a high-surrogate escape still waiting for its low half
  let i = buf.indexOf(BACKSLASH);
  while (i !== -1) {
    if (highEnd !== -1 && i !== highEnd) return true;
    if (buf[i + 1] !== LOWER_U) {
      if (highEnd !== -1) return true;
      i = buf.indexOf(BACKSLASH, i + 2);
      continue;
    }
    const code = hexAt(buf, i + 2);
    const high = code >= 0xd800 && code <= 0xdbff;
    const low = code >= 0xdc00 && code <= 0xdfff;
    if (highEnd !== -1) {
      if (!low) return true;
      highEnd = -1;
    } else if (high) highEnd = i + 6;
    else if (low) return true;
    i = buf.indexOf(BACKSLASH, i + 6);
  }
  return highEnd !== -1;
}

/** A number with an exponent of 3+ digits or 309+ digits in a row: the only texts that can overflow a double. */
const HUGE_NUMBER_HINT = /[0-9][eE]\+?[0-9]{3}|[0-9]{309}/;

/** Whether JSON text may hold a number beyond a double's range (cheap; confirm with hasNonFiniteNumber). */
export function mayHoldHugeNumber(buf: Buffer): boolean {
  return HUGE_NUMBER_HINT.test(buf.toString('latin1'));
}

/**
 * Whether a parsed JSON value holds a number JSON.parse turned into ±Infinity (`1e400`): stored as
 * sent it reads back as infinity or an error depending on the parser, re-serialised it becomes null.
 */
export function hasNonFiniteNumber(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return true;
    } else if (Array.isArray(v)) {
      for (const x of v) if (typeof x !== 'string') stack.push(x);
    } else if (v !== null && typeof v === 'object') {
      for (const x of Object.values(v)) if (typeof x !== 'string') stack.push(x);
    }
  }
  return false;
}

// The read path's splice check, over a range of the log's bytes (no view per value). Strings
// flag bytes ≥ 0x80 so that only values holding them need a UTF-8 check.
const STRING_CLASS = new Uint8Array(256); // 0 plain ASCII, 1 stop (quote, backslash, control), 2 ≥ 0x80
for (let c = 0; c < 0x20; c++) STRING_CLASS[c] = 1;
STRING_CLASS[QUOTE] = 1;
STRING_CLASS[BACKSLASH] = 1;
for (let c = 0x80; c < 0x100; c++) STRING_CLASS[c] = 2;

/** Set by spliceString when a string held a byte ≥ 0x80. */
let sawHighByte = false;

/**
 * Whether any of the 4 bytes in `w` may end a plain string run: below 0x20, a quote, a
 * backslash, or ≥ 0x80 (bit tricks per byte lane, exact: it never misses one).
 */
function mayStop(w: number): boolean {
  const quote = w ^ 0x22222222;
  const slash = w ^ 0x5c5c5c5c;
  const lanes = ((w - 0x20202020) & ~w) | ((quote - 0x01010101) & ~quote) | ((slash - 0x01010101) & ~slash) | w;
  return (lanes & 0x80808080) !== 0;
}

/** `i` at an opening quote: the index after the closing quote, or -1. `view` is over `buf`'s bytes. */
function spliceString(buf: Uint8Array, view: DataView, i: number, end: number): number {
  i++;
  for (;;) {
    // Plain ASCII four bytes at a time (most of a value is string content); the byte loop
    // below decides about any word that may hold something else.
    while (i + 4 <= end && !mayStop(view.getUint32(i, true))) i += 4;
    if (i >= end) return -1;
    const c = buf[i]!;
    const k = STRING_CLASS[c]!;
    if (k === 0) {
      i++;
      continue;
    }
    if (k === 2) {
      sawHighByte = true;
      i++;
      continue;
    }
    if (c === QUOTE) return i + 1;
    if (c !== BACKSLASH || i + 1 >= end) return -1;
    const e = buf[i + 1]!;
    if (ESCAPES[e] === 0) return -1;
    if (e === 0x75) {
      if (i + 5 >= end) return -1;
      if ((HEX[buf[i + 2]!]! & HEX[buf[i + 3]!]! & HEX[buf[i + 4]!]! & HEX[buf[i + 5]!]!) === 0) return -1;
      i += 6;
    } else i += 2;
  }
}

/** Spaces and tabs only: a line break anywhere makes a value need compacting. */
function skipBlanks(buf: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const c = buf[i];
    if (c !== 0x20 && c !== 0x09) break;
    i++;
  }
  return i;
}

function spliceKey(buf: Uint8Array, view: DataView, i: number, end: number): number {
  if (i >= end || buf[i] !== QUOTE) return -1;
  i = spliceString(buf, view, i, end);
  if (i < 0) return -1;
  i = skipBlanks(buf, i, end);
  return i < end && buf[i] === COLON ? i + 1 : -1;
}

function spliceLiteral(buf: Uint8Array, i: number, end: number, word: Uint8Array): number {
  if (i + word.length > end) return -1;
  for (let k = 1; k < word.length; k++) if (buf[i + k] !== word[k]) return -1;
  return i + word.length;
}

/** What `spliceableJson` found. */
export const SPLICE_NO = 0;
/** One-line JSON text, all ASCII: goes out as its bytes. */
export const SPLICE_ASCII = 1;
/** One-line JSON text with bytes ≥ 0x80 (inside strings): goes out as its bytes if they are valid UTF-8. */
export const SPLICE_IF_UTF8 = 2;

/**
 * Whether bytes [start, end) of `buf` are one complete JSON text without a CR or LF (so they
 * can be copied into a one-line answer as they are). Never claims more than isJsonText: a
 * value this refuses may still be JSON (pretty-printed), and is then rendered the slow way.
 * `view` (a DataView of `buf`'s bytes) lets a caller checking many values share one.
 */
export function spliceableJson(
  buf: Uint8Array,
  start: number,
  end: number,
  view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength),
): number {
  sawHighByte = false;
  let depth = 0;
  let i = start;
  for (;;) {
    i = skipBlanks(buf, i, end);
    if (i >= end) return SPLICE_NO;
    const c = buf[i]!;
    if (c === LBRACE || c === LBRACKET) {
      const object = c === LBRACE;
      i = skipBlanks(buf, i + 1, end);
      if (i < end && buf[i] === (object ? RBRACE : RBRACKET)) {
        i++;
      } else {
        if (depth === openStack.length) {
          const grown = new Uint8Array(depth * 2);
          grown.set(openStack);
          openStack = grown;
        }
        openStack[depth++] = object ? 1 : 0;
        if (object && (i = spliceKey(buf, view, i, end)) < 0) return SPLICE_NO;
        continue;
      }
    } else if (c === QUOTE) i = spliceString(buf, view, i, end);
    else if (c === MINUS || DIGIT[c] === 1) i = validNumber(buf, i, end);
    else if (c === 0x74) i = spliceLiteral(buf, i, end, TRUE);
    else if (c === 0x66) i = spliceLiteral(buf, i, end, FALSE);
    else if (c === 0x6e) i = spliceLiteral(buf, i, end, NULL);
    else return SPLICE_NO;
    if (i < 0) return SPLICE_NO;
    for (;;) {
      i = skipBlanks(buf, i, end);
      if (depth === 0) return i !== end ? SPLICE_NO : sawHighByte ? SPLICE_IF_UTF8 : SPLICE_ASCII;
      if (i >= end) return SPLICE_NO;
      const object = openStack[depth - 1] === 1;
      const d = buf[i]!;
      if (d === (object ? RBRACE : RBRACKET)) {
        depth--;
        i++;
        continue;
      }
      if (d !== COMMA) return SPLICE_NO;
      i++;
      if (object && (i = spliceKey(buf, view, skipBlanks(buf, i, end), end)) < 0) return SPLICE_NO;
      break;
    }
  }
}
