// Cursor round-trips and rejection of malformed tokens: a resume must land exactly where the
// last event left off, and garbage must be refused rather than guessed at.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePartitionCursor, decodeTopicCursor, encodePartitionCursor, encodeTopicCursor } from './cursor.js';

describe('partition cursor', () => {
  it('is the decimal next offset and round-trips', () => {
    expect(encodePartitionCursor(42)).toBe('42');
    expect(decodePartitionCursor('42')).toEqual({ ok: true, value: 42 });
    expect(decodePartitionCursor('0')).toEqual({ ok: true, value: 0 });
  });

  it.each(['', '-1', '01', '1.5', 'abc', '1e3', ' 1', '99999999999999999'])('rejects %j', (bad) => {
    const result = decodePartitionCursor(bad);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe('malformed');
  });
});

describe('topic cursor', () => {
  it('round-trips any offset vector, stays URL-safe and compact', () => {
    fc.assert(
      fc.property(fc.array(fc.maxSafeNat(), { minLength: 1, maxLength: 64 }), (offsets) => {
        const cursor = encodeTopicCursor(offsets);
        expect(cursor).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
        expect(encodeURIComponent(cursor)).toBe(cursor);
        expect(decodeTopicCursor(cursor, offsets.length)).toEqual({
          ok: true,
          value: offsets,
        });
      }),
      { numRuns: 300 },
    );
    // Small offsets cost one byte each: 8 partitions fit in a dozen characters.
    expect(encodeTopicCursor([1, 2, 3, 4, 5, 6, 7, 8]).length).toBeLessThanOrEqual(15);
  });

  it('fills partitions added after the cursor was issued with undefined', () => {
    expect(decodeTopicCursor(encodeTopicCursor([5, 7]), 4)).toEqual({
      ok: true,
      value: [5, 7, undefined, undefined],
    });
  });

  it('refuses a cursor naming more partitions than the topic has', () => {
    const result = decodeTopicCursor(encodeTopicCursor([1, 2, 3]), 2);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe('partition_mismatch');
  });

  it.each([
    ['no prefix', 'AQI'],
    ['wrong version', 'v2.AQI'],
    ['not base64url', 'v1.AQ+I'],
    ['padding', 'v1.AQI='],
    ['empty body', 'v1.'],
    ['truncated varint', `v1.${Buffer.from([2, 1, 0x80]).toString('base64url')}`],
    ['trailing bytes', `v1.${Buffer.from([1, 1, 1]).toString('base64url')}`],
    ['zero partitions', `v1.${Buffer.from([0]).toString('base64url')}`],
    [
      'overlong varint',
      `v1.${Buffer.from([1, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]).toString('base64url')}`,
    ],
    ['padded varint', `v1.${Buffer.from([1, 0x81, 0x00]).toString('base64url')}`],
    ['a partition cursor', '17'],
  ])('rejects %s', (_why, bad) => {
    const result = decodeTopicCursor(bad, 8);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe('malformed');
  });
});
