// The one JSON scanner accepts exactly what JSON.parse accepts (of UTF-8 text), ends a value
// where its text ends, keeps its depth limit, and reports escapes, non-ASCII, line breaks and
// numbers beyond a double without ever missing one.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  resetScanFlags,
  SAW_ESCAPE,
  SAW_HIGH_BYTE,
  SAW_HUGE_NUMBER,
  SAW_LINE_BREAK,
  scanFlags,
  scanJsonText,
  scanJsonValue,
} from './json-scanner.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const viewOf = (buf: Buffer) => new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
const parses = (s: string): boolean => {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
};

/** The scanner's verdict on whole text, with and without the four-bytes-at-a-time string path. */
function accepts(buf: Buffer, maxDepth = Infinity): boolean {
  const plain = scanJsonText(buf, 0, buf.length, maxDepth, undefined);
  const fast = scanJsonText(buf, 0, buf.length, maxDepth, viewOf(buf));
  expect(fast, buf.toString('latin1')).toBe(plain);
  return plain;
}

function flagsOf(text: string): number {
  const buf = b(text);
  resetScanFlags();
  expect(scanJsonText(buf, 0, buf.length, Infinity, viewOf(buf))).toBe(true);
  return scanFlags();
}

/** Whitespace JSON allows, and characters that look like it but are not. */
const ws = fc.array(fc.constantFrom(' ', '\t', '\n', '\r'), { maxLength: 3 }).map((a) => a.join(''));

/** JSON text of `v` with random whitespace between tokens (JSON.stringify spacing, then more). */
const spaced = fc
  .tuple(fc.jsonValue(), fc.constantFrom(undefined, 0, 1, 2, '\t'), ws, ws)
  .map(([v, indent, lead, trail]) => ({ value: v, text: lead + JSON.stringify(v, null, indent) + trail }));

/** Tokens a mutation inserts: structure, string and number parts, escapes, bytes JSON refuses. */
const token = fc.constantFrom(
  '',
  ',',
  ':',
  '[',
  ']',
  '{',
  '}',
  '"',
  '\\',
  '\\u',
  '\\ud800',
  '\\x',
  '0',
  '-',
  '+',
  '.',
  'e',
  'E',
  ' ',
  '\n',
  '\u000b',
  '\u00a0',
  '\ufeff',
  '\u0001',
  '\u007f',
  'é',
  '😀',
  'tru',
  'null',
);

describe('json scanner', () => {
  it('accepts generated JSON (any spacing), ending each value where its text ends', () => {
    fc.assert(
      fc.property(spaced, ws, ({ value, text }, after) => {
        const buf = b(text);
        expect(accepts(buf)).toBe(true);
        // Within a longer buffer (a produce body): the value's bytes are exactly its text.
        const body = b(`${text}${after},"next"`);
        const end = scanJsonValue(body, 0, body.length, Infinity, viewOf(body));
        expect(end).toBeGreaterThan(0);
        const start = text.length - text.trimStart().length;
        const span = body.subarray(Buffer.byteLength(text.slice(0, start)), end).toString('utf8');
        expect(span).toBe(text.trim());
        expect(JSON.parse(span)).toEqual(JSON.parse(text));
        expect(JSON.stringify(JSON.parse(span))).toBe(JSON.stringify(value));
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with JSON.parse on mutations of JSON text', () => {
    fc.assert(
      fc.property(spaced, fc.nat(), fc.nat(3), token, ({ text }, at, drop, insert) => {
        const cut = at % (text.length + 1);
        const mutated = text.slice(0, cut) + insert + text.slice(cut + drop);
        expect(accepts(b(mutated)), JSON.stringify(mutated)).toBe(parses(mutated));
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees with JSON.parse on arbitrary text and on bytes that are not UTF-8', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'[]{}",:\\ 0123456789-+.eEtrufalsn\t\n\u00e9') }), (s) => {
        expect(accepts(b(s)), JSON.stringify(s)).toBe(parses(s));
      }),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => {
        const buf = Buffer.from(bytes);
        expect(accepts(buf)).toBe(parses(buf.toString('utf8')));
      }),
      { numRuns: 5000 },
    );
    // Invalid UTF-8 inside a string decodes to U+FFFD for JSON.parse: accepted alike, outside refused.
    for (const [bytes, ok] of [
      [[0x22, 0xff, 0x22], true],
      [[0x22, 0xc3, 0x22], true],
      [[0x5b, 0xff, 0x5d], false],
      [[0xef, 0xbb, 0xbf, 0x31], false],
    ] as const) {
      expect(accepts(Buffer.from(bytes))).toBe(ok);
      expect(parses(Buffer.from(bytes).toString('utf8'))).toBe(ok);
    }
  });

  it('takes escapes, surrogates and control characters as JSON.parse does', () => {
    const texts = [
      '"\\u00e9\\n\\"\\/\\\\\\b\\f\\r\\t"',
      '"\\ud83d\\ude00"',
      '"\\ud800"',
      '"\\udc00x"',
      '"\\u12g4"',
      '"\\u12"',
      '"\\U0041"',
      '"\\x41"',
      '"\\',
      '"a\tb"',
      '"a\nb"',
      '"\u007f"',
      '"\u2028\u2029"',
      '"😀"',
      '"abc',
      '"abcd"x',
    ];
    for (const t of texts) expect(accepts(b(t)), JSON.stringify(t)).toBe(parses(t));
  });

  it('takes numbers as JSON.parse does, and flags every one beyond a double', () => {
    const number = fc
      .tuple(
        fc.constantFrom('', '-', '+'),
        fc.constantFrom('0', '00', '1', '9', '12', '01', '1'.repeat(300), '9'.repeat(309), ''),
        fc.constantFrom('', '.', '.0', '.5', '.25', '.e'),
        fc.constantFrom('', 'e', 'E', 'e+', 'e-', 'e1', 'E+2', 'e-5', 'e99', 'e308', 'e309', 'e400', 'e-400', 'e+0'),
      )
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(number, ws, (n, space) => {
        const text = `${space}${n}${space}`;
        expect(accepts(b(text)), text).toBe(parses(text));
        if (parses(text) && !Number.isFinite(JSON.parse(text) as number)) {
          expect(flagsOf(text) & SAW_HUGE_NUMBER, text).toBe(SAW_HUGE_NUMBER);
        }
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (d) => {
        const text = JSON.stringify(d);
        expect(accepts(b(text))).toBe(true);
      }),
    );
    expect(flagsOf('[1,-2.5,1e10,123456789012345678901234567890,1e-400]') & SAW_HUGE_NUMBER).toBe(0);
    expect(flagsOf('1e400') & SAW_HUGE_NUMBER).toBe(SAW_HUGE_NUMBER);
  });

  it('refuses whitespace JSON does not allow', () => {
    for (const c of ['\u000b', '\u000c', '\u00a0', '\ufeff', '\u2028', '\u0000']) {
      for (const t of [`${c}1`, `[1,${c}2]`, `{${c}"a":1}`]) expect(accepts(b(t)), JSON.stringify(t)).toBe(false);
    }
  });

  it('reports escapes, non-ASCII and line breaks outside strings, never missing one', () => {
    fc.assert(
      fc.property(spaced, ({ text }) => {
        const flags = flagsOf(text);
        // JSON.stringify escapes only `"`, `\` and control characters: a backslash in the text is an escape.
        expect((flags & SAW_ESCAPE) !== 0).toBe(text.includes('\\'));
        // Non-ASCII is only ever string content; CR/LF only ever whitespace (strings hold them escaped).
        expect((flags & SAW_HIGH_BYTE) !== 0).toBe(/[^\x00-\x7f]/.test(text));
        expect((flags & SAW_LINE_BREAK) !== 0).toBe(/[\r\n]/.test(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps the depth limit: depth d passes a limit of d, not d - 1, at any depth', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.boolean(), (d, objects) => {
        const open = objects ? '{"a":' : '[';
        const close = objects ? '}' : ']';
        const text = d === 0 ? '1' : open.repeat(d - 1) + (objects ? '{}' : '[]') + close.repeat(d - 1);
        expect(accepts(b(text), d)).toBe(true);
        if (d > 0) expect(accepts(b(text), d - 1)).toBe(false);
      }),
      { numRuns: 300 },
    );
    const n = 200_000;
    expect(accepts(b('['.repeat(n) + ']'.repeat(n)))).toBe(true);
    expect(accepts(b('['.repeat(n) + ']'.repeat(n - 1)))).toBe(false);
  });

  it('scans only its range of a larger buffer', () => {
    const buf = b('xx[1, "a"]yy');
    expect(scanJsonText(buf, 2, 10, Infinity, viewOf(buf))).toBe(true);
    expect(scanJsonText(buf, 2, 9, Infinity, viewOf(buf))).toBe(false);
    expect(scanJsonText(buf, 2, 11, Infinity, viewOf(buf))).toBe(false);
    // A string running to the range's end is unterminated even if the buffer goes on.
    const s = b('"abcdefgh"');
    expect(scanJsonText(s, 0, 6, Infinity, viewOf(s))).toBe(false);
  });
});
