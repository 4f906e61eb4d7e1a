import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeGroupCursor, encodeGroupCursor } from './group-cursor.js';

describe('group cursor', () => {
  it('round-trips entries of several topics and large offsets', () => {
    const a = randomUUID();
    const b = randomUUID();
    const entries = [
      { topicId: a, partition: 0, offset: 0 },
      { topicId: b, partition: 63, offset: 2 ** 53 - 1 },
      { topicId: a, partition: 7, offset: 1_000_000 },
    ];
    const cursor = encodeGroupCursor(entries);
    expect(cursor).toMatch(/^g1\.[A-Za-z0-9_-]+$/);
    const decoded = decodeGroupCursor(cursor);
    expect(decoded.ok && [...decoded.value].sort((x, y) => x.partition - y.partition)).toEqual(
      [...entries].sort((x, y) => x.partition - y.partition),
    );
    expect(decodeGroupCursor(encodeGroupCursor([]))).toEqual({ ok: true, value: [] });
  });

  it('refuses malformed, truncated, padded and foreign tokens', () => {
    const good = encodeGroupCursor([{ topicId: randomUUID(), partition: 1, offset: 5 }]);
    const bytes = Buffer.from(good.slice(3), 'base64url');
    const bad = [
      '',
      '17',
      'v1.AQA',
      'g1.',
      'g1.!!',
      `g1.${bytes.subarray(0, bytes.length - 1).toString('base64url')}`,
      `g1.${Buffer.concat([bytes, Buffer.from([0])]).toString('base64url')}`,
      `${good}=`,
    ];
    for (const cursor of bad) expect(decodeGroupCursor(cursor).ok, cursor).toBe(false);
  });
});
