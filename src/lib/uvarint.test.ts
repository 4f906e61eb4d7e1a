// The cursors' varints: round trips up to 2^53 - 1, and refusals of what no encoder writes.
import { describe, expect, it } from 'vitest';
import { pushUvarint, readUvarint } from './uvarint.js';

const decode = (bytes: number[]) => readUvarint({ bytes: Uint8Array.from(bytes), pos: 0 });

describe('uvarint', () => {
  it('round-trips values up to 2^53 - 1', () => {
    for (const v of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
      const out: number[] = [];
      pushUvarint(out, v);
      const reader = { bytes: Uint8Array.from(out), pos: 0 };
      expect(readUvarint(reader)).toBe(v);
      expect(reader.pos).toBe(out.length);
    }
  });

  it('refuses truncated, padded, over-long and unsafe input, and unsafe values to encode', () => {
    expect(decode([0x80])).toBeUndefined();
    expect(decode([0x81, 0x00])).toBeUndefined();
    expect(decode([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])).toBeUndefined();
    expect(decode([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])).toBeUndefined(); // 2^56 - 1
    expect(() => pushUvarint([], -1)).toThrow(RangeError);
    expect(() => pushUvarint([], 2 ** 53)).toThrow(RangeError);
  });
});
