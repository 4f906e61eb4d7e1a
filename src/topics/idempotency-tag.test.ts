// Tag layout round trips: every identity and index form decodes to what was encoded, and the
// largest allowed request still fits the log's 4 KiB tag limit.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_TAG_BYTES } from '../log/index.js';
import { decodeTag, encodeTag, MAX_TAGGED_REQUEST_RECORDS } from './idempotency-tag.js';

const hash = Buffer.alloc(16, 7);

describe('idempotency tag', () => {
  it('round-trips a key identity with the whole request', () => {
    const t = decodeTag(encodeTag({ kind: 'key', key: 'k-123' }, hash, 3, 1234.5, [0, 1, 2]))!;
    expect(t.identity).toEqual({ kind: 'key', key: 'k-123' });
    expect(t.bodyHash.equals(hash)).toBe(true);
    expect([t.requestRecords, t.appendedAt, t.indexes()]).toEqual([3, 1234.5, [0, 1, 2]]);
  });

  it('round-trips a producer identity', () => {
    const id = { kind: 'producer' as const, id: 9_007_199_254_740_993n, epoch: 32767, seq: 2 ** 31 - 1 };
    expect(decodeTag(encodeTag(id, hash, 1, 0, [0]))!.identity).toEqual(id);
  });

  it('round-trips any subset of request indexes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer(),
        (n, density, seed) => {
          let x = seed >>> 0;
          const indexes: number[] = [];
          for (let i = 0; i < n; i++) {
            x = (Math.imul(x, 1103515245) + 12345) >>> 0;
            if (x / 2 ** 32 < density) indexes.push(i);
          }
          if (indexes.length === 0) indexes.push(n - 1);
          const tag = encodeTag({ kind: 'key', key: 'k' }, hash, n, 1, indexes);
          expect(decodeTag(tag)!.indexes()).toEqual(indexes);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('fits the largest tagged request with a 255-char key and scattered indexes', () => {
    const n = MAX_TAGGED_REQUEST_RECORDS;
    const odd = Array.from({ length: n / 2 }, (_, i) => 2 * i + 1);
    const tag = encodeTag({ kind: 'key', key: 'x'.repeat(255) }, hash, n, Date.now(), odd);
    expect(tag.length).toBeLessThanOrEqual(MAX_TAG_BYTES);
    expect(decodeTag(tag)!.indexes()).toEqual(odd);
  });

  it('ignores foreign bytes', () => {
    expect(decodeTag(Buffer.from('hello'))).toBeUndefined();
    expect(decodeTag(Buffer.alloc(0))).toBeUndefined();
  });
});
