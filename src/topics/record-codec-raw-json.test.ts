// The raw-value scanner must agree with JSON.parse on every body: each span parses to the
// same value JSON.parse gives, whatever the formatting, escapes or duplicate keys.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lineValueSpan, recordValueSpans } from './record-codec-raw-json.js';

function valuesVia(body: string): unknown[] {
  const buf = Buffer.from(body);
  const parsed = JSON.parse(body) as { records: unknown[] };
  const spans = recordValueSpans(buf, parsed.records.length);
  if (!spans) throw new Error('no spans');
  return parsed.records.map((_, i) =>
    spans[2 * i]! < 0 ? undefined : JSON.parse(buf.toString('utf8', spans[2 * i], spans[2 * i + 1])),
  );
}

const expected = (records: unknown[]) =>
  records.map((r) =>
    typeof r === 'object' && r !== null && !Array.isArray(r) && 'value' in r
      ? (r as { value: unknown }).value
      : undefined,
  );

describe('recordValueSpans', () => {
  it('agrees with JSON.parse for arbitrary records and formatting', () => {
    const record = fc.oneof(
      fc.record(
        { value: fc.jsonValue(), key: fc.option(fc.string()), headers: fc.dictionary(fc.string(), fc.string()) },
        { requiredKeys: ['value'] },
      ),
      fc.jsonValue(),
    );
    fc.assert(
      fc.property(fc.array(record, { maxLength: 8 }), fc.constantFrom(undefined, 1, 2, '\t'), (records, indent) => {
        const body = JSON.stringify({ before: [1, '"}]'], records, after: { x: '\\' } }, null, indent);
        expect(valuesVia(body)).toEqual(expected(JSON.parse(body).records as unknown[]));
      }),
      { numRuns: 300 },
    );
  });

  it('handles escaped keys, duplicates (last wins) and strings full of brackets', () => {
    const body = '{"records":[{"val\\u0075e":1},{"value":"a\\"}]{","value":[2]},{"x":{"value":9}}],"records2":[]}';
    expect(valuesVia(body)).toEqual([1, [2], undefined]);
    const dup = '{"records":[{"value":1}],"records":[{"value":"second"}]}';
    expect(valuesVia(dup)).toEqual(['second']);
  });

  it('gives up on bodies of another shape', () => {
    expect(recordValueSpans(Buffer.from('[1,2]'), 2)).toBeUndefined();
    expect(recordValueSpans(Buffer.from('{"records":{}}'), 0)).toBeUndefined();
    expect(recordValueSpans(Buffer.from('{"records":[{"value":1}],"records":5}'), 1)).toBeUndefined();
    expect(recordValueSpans(Buffer.from('{"records":[{"value":1},{"value":2}]}'), 1)).toBeUndefined();
  });
});

describe('lineValueSpan', () => {
  it('finds the value of an NDJSON line', () => {
    const line = Buffer.from('  {"key":"k", "value" : {"a":[1,"}"]} , "headers":{}}  ');
    const span = lineValueSpan(line)!;
    expect(JSON.parse(line.toString('utf8', span[0], span[1]))).toEqual({ a: [1, '}'] });
    expect(lineValueSpan(Buffer.from('{"key":"k"}'))).toBeUndefined();
  });
});
