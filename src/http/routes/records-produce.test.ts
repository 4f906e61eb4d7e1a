// The produce answer is written as bytes without JSON.stringify: the same bytes, for any offsets.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { offsetsJson } from './records-produce.js';

describe('offsetsJson', () => {
  it('writes exactly JSON.stringify of the response', () => {
    const offset = fc.record({
      partition: fc.nat({ max: 1_000_000 }),
      offset: fc.oneof(fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
    });
    fc.assert(
      fc.property(fc.array(offset, { maxLength: 50 }), (offsets) => {
        expect(offsetsJson({ offsets })).toBe(JSON.stringify({ offsets }));
      }),
      { numRuns: 500 },
    );
    const edge = [0, 9, 10, 99, 100, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER].map((o) => ({
      partition: o % 7,
      offset: o,
    }));
    expect(offsetsJson({ offsets: edge })).toBe(JSON.stringify({ offsets: edge }));
  });
});
