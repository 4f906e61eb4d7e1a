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

  it('writes exactly JSON.stringify of runs of consecutive offsets (decades copied whole)', () => {
    // Runs as batches answer them: one partition's offsets one after another, starting anywhere
    // (near powers of ten too, where an offset gets a digit longer), interleaved with others.
    const start = fc.oneof(
      fc.nat({ max: 200 }),
      fc.integer({ min: 1, max: 15 }).chain((e) => fc.integer({ min: 10 ** e - 40, max: 10 ** e + 40 })),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 200 }),
    );
    const run = fc.record({ partition: fc.nat({ max: 12 }), start, length: fc.integer({ min: 0, max: 60 }) });
    fc.assert(
      fc.property(fc.array(run, { maxLength: 6 }), (runs) => {
        const offsets = runs.flatMap(({ partition, start, length }) =>
          Array.from({ length }, (_, k) => ({ partition, offset: start + k })),
        );
        expect(offsetsJson({ offsets })).toBe(JSON.stringify({ offsets }));
      }),
      { numRuns: 1000 },
    );
    const seams = [9, 99, 999_999, 10 ** 15 - 1].map((end) =>
      Array.from({ length: 45 }, (_, k) => ({ partition: 3, offset: end - 24 + k })),
    );
    for (const offsets of seams) expect(offsetsJson({ offsets })).toBe(JSON.stringify({ offsets }));
  });
});
