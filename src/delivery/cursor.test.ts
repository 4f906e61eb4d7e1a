// Cursor round-trips and rejection of malformed tokens: a resume must land exactly where the
// last event left off, and garbage must be refused rather than guessed at.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodePartitionCursor,
  decodeTopicCursor,
  encodePartitionCursor,
  encodeTopicCursor,
  topicCursorTag,
} from './cursor.js';

const TAG = topicCursorTag('6f1c3f8e-6d7a-4c2e-9b1e-2f4f0c6f0a11');

describe('partition cursor', () => {
  it('is the decimal next offset and round-trips', () => {
    expect(encodePartitionCursor(42)).toBe('42');
    expect(decodePartitionCursor('42')).toEqual({ ok: true, value: 42 });
    expect(decodePartitionCursor('0')).toEqual({ ok: true, value: 0 });
  });

  it('carries the topic tag: round-trips for its topic, refused for another, a bare offset unchecked', () => {
    const other = topicCursorTag('0b9c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3');
    expect(encodePartitionCursor(42, TAG)).toBe(`42.${TAG}`);
    expect(decodePartitionCursor(`42.${TAG}`, TAG)).toEqual({ ok: true, value: 42 });
    expect(decodePartitionCursor('42', TAG)).toEqual({ ok: true, value: 42 });
    const mismatch = decodePartitionCursor(`42.${other}`, TAG);
    expect(!mismatch.ok && mismatch.error.code).toBe('topic_mismatch');
    fc.assert(
      fc.property(fc.nat(), (n) => {
        const back = decodePartitionCursor(encodePartitionCursor(n, TAG), TAG);
        return back.ok && back.value === n;
      }),
    );
  });

  it.each(['', '-1', '01', '1.5', 'abc', '1e3', ' 1', '99999999999999999', '1.', '1.abc', '1.abcdefg', '.abcdef'])(
    'rejects %j',
    (bad) => {
      const result = decodePartitionCursor(bad, TAG);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.code).toBe('malformed');
    },
  );
});

describe('topic cursor', () => {
  it('round-trips any offset vector, stays URL-safe and compact', () => {
    fc.assert(
      fc.property(fc.array(fc.maxSafeNat(), { minLength: 1, maxLength: 64 }), (offsets) => {
        const cursor = encodeTopicCursor(offsets, TAG);
        expect(cursor).toMatch(/^v2\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]+$/);
        expect(encodeURIComponent(cursor)).toBe(cursor);
        expect(decodeTopicCursor(cursor, offsets.length, TAG)).toEqual({
          ok: true,
          value: offsets,
        });
      }),
      { numRuns: 300 },
    );
    // Small offsets cost one byte each: 8 partitions and the topic tag fit in two dozen characters.
    expect(encodeTopicCursor([1, 2, 3, 4, 5, 6, 7, 8], TAG).length).toBeLessThanOrEqual(22);
  });

  it('fills partitions added after the cursor was issued with undefined', () => {
    expect(decodeTopicCursor(encodeTopicCursor([5, 7], TAG), 4, TAG)).toEqual({
      ok: true,
      value: [5, 7, undefined, undefined],
    });
  });

  it('refuses a cursor naming more partitions than the topic has', () => {
    const result = decodeTopicCursor(encodeTopicCursor([1, 2, 3], TAG), 2, TAG);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe('partition_mismatch');
  });

  it('refuses a cursor issued for another topic id (a deleted topic whose name was reused)', () => {
    const other = topicCursorTag('0b9c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3');
    expect(other).not.toBe(TAG);
    const result = decodeTopicCursor(encodeTopicCursor([1, 2], other), 2, TAG);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe('topic_mismatch');
  });

  it('still accepts v1 cursors (issued before topic tags), unchecked', () => {
    const v1 = `v1.${Buffer.from([2, 5, 7]).toString('base64url')}`;
    expect(decodeTopicCursor(v1, 2, TAG)).toEqual({ ok: true, value: [5, 7] });
  });

  it.each([
    ['no prefix', 'AQI'],
    ['wrong version', 'v3.AQI'],
    ['no topic tag', 'v2.AQI'],
    ['bad topic tag', `v2.ab+cde.${Buffer.from([1, 1]).toString('base64url')}`],
    ['garbage after a foreign tag', 'v2.abcdef.AQ+I'],
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
    const result = decodeTopicCursor(bad, 8, TAG);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe('malformed');
  });
});
