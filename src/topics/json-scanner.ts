// The one byte-level JSON validator (RFC 8259, as JSON.parse accepts it): produce's body scan,
// the stored-value check and the read path's splice check all run this, with what it noticed.

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

/** Flag of scanFlags(): a string held a backslash escape. */
export const SAW_ESCAPE = 1;
/** A string held a byte ≥ 0x80 (valid UTF-8 is the caller's to check). */
export const SAW_HIGH_BYTE = 2;
/** Whitespace between tokens held a CR or LF (the text is not one line). */
export const SAW_LINE_BREAK = 4;
/**
 * A number may lie beyond a 64-bit float (over 300 integer digits, or a positive exponent of
 * three digits or one that could carry the integer part past 10^300). JSON.parse takes it as
 * ±Infinity; whether it really overflows is for a slower check.
 */
export const SAW_HUGE_NUMBER = 8;
/** Set for a plain space or tab: a bit no caller reads, so whitespace costs no branch. */
const BLANK = 16;

// Byte classes: one table lookup per byte.
const WS = new Uint8Array(256);
WS[0x20] = BLANK;
WS[0x09] = BLANK;
WS[0x0a] = SAW_LINE_BREAK;
WS[0x0d] = SAW_LINE_BREAK;
const DIGIT = new Uint8Array(256);
for (let c = ZERO; c <= NINE; c++) DIGIT[c] = 1;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;
const ESCAPES = new Uint8Array(256);
for (const c of '"\\/bfnrtu') ESCAPES[c.charCodeAt(0)] = 1;
// Inside a string: 0 plain ASCII, 1 stop (quote, backslash, control character), 2 a byte ≥ 0x80.
const STRING_CLASS = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STRING_CLASS[c] = 1;
STRING_CLASS[QUOTE] = 1;
STRING_CLASS[BACKSLASH] = 1;
for (let c = 0x80; c < 0x100; c++) STRING_CLASS[c] = 2;

/** What the scans since the last resetScanFlags() noticed (SAW_* bits). */
let flags = 0;

/** Clears the SAW_* flags. */
export function resetScanFlags(): void {
  flags = 0;
}

/** The SAW_* flags set since the last resetScanFlags() (the scanner never yields: module state is safe). */
export function scanFlags(): number {
  return flags;
}

/** The index of the first byte at or after `i` that is not JSON whitespace. */
export function skipWhitespace(buf: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const k = WS[buf[i]!]!;
    if (k === 0) break;
    flags |= k;
    i++;
  }
  return i;
}

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

/**
 * `i` at an opening quote: the index after the closing quote, or -1 if the string is not
 * valid JSON. `view`, a DataView over `buf`'s bytes, lets plain ASCII go four bytes at a time.
 */
export function scanString(buf: Uint8Array, i: number, end: number, view: DataView | undefined): number {
  i++;
  for (;;) {
    if (view !== undefined) while (i + 4 <= end && !mayStop(view.getUint32(i, true))) i += 4;
    // Plain ASCII byte by byte up to whatever ends the run (the rest of a word, or a short string).
    while (i < end && STRING_CLASS[buf[i]!] === 0) i++;
    if (i >= end) return -1;
    const c = buf[i]!;
    if (STRING_CLASS[c] === 2) {
      flags |= SAW_HIGH_BYTE;
      i++;
      continue;
    }
    if (c === QUOTE) return i + 1;
    if (c !== BACKSLASH || i + 1 >= end) return -1;
    flags |= SAW_ESCAPE;
    const e = buf[i + 1]!;
    if (ESCAPES[e] === 0) return -1;
    if (e === 0x75) {
      if (i + 5 >= end) return -1;
      if ((HEX[buf[i + 2]!]! & HEX[buf[i + 3]!]! & HEX[buf[i + 4]!]! & HEX[buf[i + 5]!]!) === 0) return -1;
      i += 6;
    } else i += 2;
  }
}

function digits(buf: Uint8Array, i: number, end: number): number {
  // A range compare (one subtraction, unsigned), not a table load per digit.
  while (i < end && (buf[i]! - ZERO) >>> 0 <= 9) i++;
  return i;
}

/** `i` at a number's first byte: the index after it, or -1 if it is not a JSON number. */
function scanNumber(buf: Uint8Array, i: number, end: number): number {
  if (buf[i] === MINUS) i++;
  if (i >= end) return -1;
  let intDigits = 1;
  if (buf[i] === ZERO) i++;
  else if (DIGIT[buf[i]!] === 1) {
    const start = i;
    i = digits(buf, i + 1, end);
    intDigits = i - start;
    if (intDigits > 300) flags |= SAW_HUGE_NUMBER;
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
    if (!negative && (i - start > 2 || intDigits + (i - start === 2 ? 100 : 10) > 300)) flags |= SAW_HUGE_NUMBER;
  }
  return i;
}

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

function scanLiteral(buf: Uint8Array, i: number, end: number, word: Uint8Array): number {
  if (i + word.length > end) return -1;
  for (let k = 1; k < word.length; k++) if (buf[i + k] !== word[k]) return -1;
  return i + word.length;
}

/** `i` at an object member's key: the index after its colon, or -1. */
function scanKey(buf: Uint8Array, i: number, end: number, view: DataView | undefined): number {
  if (i >= end || buf[i] !== QUOTE) return -1;
  i = scanString(buf, i, end, view);
  if (i < 0) return -1;
  i = skipWhitespace(buf, i, end);
  return i < end && buf[i] === COLON ? i + 1 : -1;
}

/** Open containers of scanJsonValue (1 = object, 0 = array), reused: it never yields. */
let openStack = new Uint8Array(256);

/**
 * Scans one JSON value starting at or after `i` (leading whitespace skipped) and ending
 * before `end`: the index just after it (trailing whitespace not skipped), or -1 if there is
 * none, it is not valid JSON, or it nests arrays/objects more than `maxDepth` deep (`1` and
 * `"x"` are depth 0, `{}` and `[1]` depth 1). Bytes ≥ 0x80 are taken as string content, as
 * JSON.parse of their UTF-8 decoding would. Iterative: any depth within `maxDepth` is fine.
 * What it noticed is added to scanFlags().
 */
export function scanJsonValue(
  buf: Uint8Array,
  i: number,
  end: number,
  maxDepth: number,
  view: DataView | undefined,
): number {
  let depth = 0;
  for (;;) {
    // A value is expected at i.
    i = skipWhitespace(buf, i, end);
    if (i >= end) return -1;
    const c = buf[i]!;
    if (c === LBRACE || c === LBRACKET) {
      const object = c === LBRACE;
      if (depth >= maxDepth) return -1;
      i = skipWhitespace(buf, i + 1, end);
      if (i < end && buf[i] === (object ? RBRACE : RBRACKET)) {
        i++;
      } else {
        if (depth === openStack.length) {
          const grown = new Uint8Array(depth * 2);
          grown.set(openStack);
          openStack = grown;
        }
        openStack[depth++] = object ? 1 : 0;
        if (object && (i = scanKey(buf, i, end, view)) < 0) return -1;
        continue;
      }
    } else if (c === QUOTE) i = scanString(buf, i, end, view);
    else if (c === MINUS || DIGIT[c] === 1) i = scanNumber(buf, i, end);
    else if (c === 0x74) i = scanLiteral(buf, i, end, TRUE);
    else if (c === 0x66) i = scanLiteral(buf, i, end, FALSE);
    else if (c === 0x6e) i = scanLiteral(buf, i, end, NULL);
    else return -1;
    if (i < 0) return -1;
    // After a complete value: close containers, or pass the separator before the next value.
    for (;;) {
      if (depth === 0) return i;
      i = skipWhitespace(buf, i, end);
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
      if (object && (i = scanKey(buf, skipWhitespace(buf, i, end), end, view)) < 0) return -1;
      break;
    }
  }
}

/** Whether bytes [start, end) of `buf` are one JSON text: a value with only whitespace around it. */
export function scanJsonText(
  buf: Uint8Array,
  start: number,
  end: number,
  maxDepth: number,
  view: DataView | undefined,
): boolean {
  const i = scanJsonValue(buf, start, end, maxDepth, view);
  return i >= 0 && skipWhitespace(buf, i, end) === end;
}
