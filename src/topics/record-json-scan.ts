// Byte-level checks of a stored or produced JSON value, none of them recursive: nesting depth
// (the produce limit), validation and splicing (json-scanner.ts) and one-line compaction.
import { resetScanFlags, SAW_HIGH_BYTE, SAW_LINE_BREAK, scanFlags, scanJsonText } from './json-scanner.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
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

/**
 * Whether `bytes` is one complete JSON text (RFC 8259; bytes ≥ 0x80 are taken as string
 * content, as `JSON.parse` of their UTF-8 decoding would). Iterative: any depth is fine.
 */
export function isJsonText(buf: Uint8Array): boolean {
  // Strings go four bytes at a time through a view; below ~64 bytes making one costs more than it saves.
  const view = buf.length >= 64 ? new DataView(buf.buffer, buf.byteOffset, buf.byteLength) : undefined;
  return scanJsonText(buf, 0, buf.length, Infinity, view);
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
  resetScanFlags();
  if (!scanJsonText(buf, start, end, Infinity, view)) return SPLICE_NO;
  const seen = scanFlags();
  return (seen & SAW_LINE_BREAK) !== 0 ? SPLICE_NO : (seen & SAW_HIGH_BYTE) !== 0 ? SPLICE_IF_UTF8 : SPLICE_ASCII;
}
