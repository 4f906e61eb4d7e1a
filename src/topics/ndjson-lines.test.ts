// NDJSON lines against JSON.parse: only JSON whitespace makes a line blank (skipped); a line of
// any other text, Unicode spaces included, is a line JSON.parse refuses, so the request is 400.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readNdjson } from './ndjson.js';

async function read(text: string) {
  const values: unknown[] = [];
  const body = new Blob([text]).stream();
  const r = await readNdjson(body, { maxBodyBytes: 1 << 20, maxRecords: 100 }, (v) => {
    values.push(v);
    return undefined;
  });
  return { r, values };
}

describe('readNdjson blank lines', () => {
  it.each([
    ['no-break space', '\u00a0'],
    ['byte order mark', '\ufeff'],
    ['line separator', '\u2028'],
    ['vertical tab', '\v'],
    ['form feed', '\f'],
    ['ideographic space', '\u3000'],
  ])('a line holding only a %s is not blank: 400 naming its line', async (_, space) => {
    const { r } = await read(`{"value":1}\n${space}\n{"value":2}\n`);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ code: 'bad_request', line: 2 });
  });

  it('skips exactly the lines JSON.parse would find empty, and parses every other as JSON.parse does', async () => {
    const blankish = fc.constantFrom('', ' ', '\t', '\r', '  \t ', '\u00a0', '\ufeff', '\v', '\f', '\u2028', '\u3000');
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            blankish,
            fc.jsonValue().map((v) => JSON.stringify({ value: v })),
          ),
        ),
        async (lines) => {
          const { r, values } = await read(lines.join('\n'));
          const expected: unknown[] = [];
          let refused = false;
          for (const line of lines) {
            const text = line.endsWith('\r') ? line.slice(0, -1) : line;
            if (/^[ \t\r\n]*$/.test(text)) continue;
            try {
              expected.push(JSON.parse(text));
            } catch {
              refused = true;
              break;
            }
          }
          expect(r.ok).toBe(!refused);
          if (!refused) expect(values).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });
});
