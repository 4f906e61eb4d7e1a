// Unit tests of JSON-mode body splitting: flattening one level, exact element text, refusals.
import { describe, expect, it } from 'vitest';
import { jsonMessages } from './json-messages.js';

const split = (s: string, depth = 128) => jsonMessages(Buffer.from(s), depth);

describe('jsonMessages', () => {
  it('flattens exactly one level and keeps each element’s source text', () => {
    expect(split('[{"a": 1}, [1,2], "x,]", 12345678901234567890]')).toEqual({
      ok: true,
      value: { messages: ['{"a": 1}', '[1,2]', '"x,]"', '12345678901234567890'], array: true },
    });
    expect(split(' {"k":"v"} ')).toEqual({ ok: true, value: { messages: ['{"k":"v"}'], array: false } });
    expect(split('[[[1]]]')).toEqual({ ok: true, value: { messages: ['[[1]]'], array: true } });
    expect(split('["a\\"],[", 2]')).toEqual({ ok: true, value: { messages: ['"a\\"],["', '2'], array: true } });
    expect(split('[]')).toEqual({ ok: true, value: { messages: [], array: true } });
  });

  it('refuses invalid JSON, invalid UTF-8 and deep nesting without throwing', () => {
    expect(split('{x').ok).toBe(false);
    expect(jsonMessages(Buffer.from([0x22, 0xc0, 0x22]), 128).ok).toBe(false);
    expect(split('['.repeat(100_000) + ']'.repeat(100_000)).ok).toBe(false);
    expect(split('[[1]]', 1).ok).toBe(false);
    expect(split('[[1]]', 2).ok).toBe(true);
  });

  it('refuses what topic produce refuses as a json value: half a surrogate pair, a number beyond a double', () => {
    // Stored, these are served by /v1/topics reads too, where jq, Go and serde refuse the whole page.
    for (const bad of [
      '"\\ud800"',
      '{"a":["x\\udc00y"]}',
      '[1, "\\ud83d"]',
      '{"n":1e400}',
      '[1, -2E+999]',
      `1${'0'.repeat(400)}`,
    ]) {
      expect(split(bad).ok, bad).toBe(false);
    }
    for (const fine of ['"\\ud83d\\ude00"', '{"n":1e308}', '1e-400', '{"e100":"1e999"}']) {
      expect(split(fine).ok, fine).toBe(true);
    }
  });
});
