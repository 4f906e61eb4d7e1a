// The byte-level JSON scans agree with JSON.parse on what is JSON text, measure nesting the
// way the produce limit promises, and never recurse (depths far beyond any stack).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compactJsonText, isJsonText, jsonTextDeeperThan, jsonValueDeeperThan } from './record-json-scan.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const parses = (s: string): boolean => {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
};

describe('isJsonText', () => {
  it('agrees with JSON.parse on hand-picked texts', () => {
    const texts = [
      '1',
      '-0',
      '-0.5e+10',
      '1E5',
      '01',
      '1.',
      '.5',
      '-',
      '+1',
      '1e',
      'true',
      'tru',
      'nulll',
      'null',
      '""',
      '"\\u00e9\\n\\"\\/"',
      '"\\x"',
      '"\\u12g4"',
      '"a\tb"',
      '[]',
      '[ ]',
      '[1,]',
      '[,1]',
      '[1 2]',
      '{}',
      '{ }',
      '{"a":1}',
      '{"a":1,}',
      '{"a" 1}',
      '{a:1}',
      '{"a":1 "b":2}',
      ' \r\n\t[1,{"x":[null]}] ',
      '[1]]',
      '[[1]',
      '',
      ' ',
      '1 2',
      '{"a":[1,{"b":{}}],"c":"}"}',
      '"\u2028"',
      '[1]x',
      '\uFEFF1',
    ];
    for (const t of texts) expect(isJsonText(b(t)), JSON.stringify(t)).toBe(parses(t));
  });

  it('agrees with JSON.parse on generated JSON and on mutations of it', () => {
    fc.assert(
      fc.property(
        fc.json(),
        fc.nat(),
        fc.constantFrom('', ',', ']', '}', '"', ' ', ':', '\\', '0', '-'),
        (json, at, insert) => {
          expect(isJsonText(b(json))).toBe(true);
          const cut = at % (json.length + 1);
          const mutated = json.slice(0, cut) + insert + json.slice(cut);
          expect(isJsonText(b(mutated)), mutated).toBe(parses(mutated));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('takes any depth', () => {
    const n = 200_000;
    expect(isJsonText(b('['.repeat(n) + ']'.repeat(n)))).toBe(true);
    expect(isJsonText(b('['.repeat(n) + ']'.repeat(n - 1)))).toBe(false);
  });
});

describe('nesting depth', () => {
  it('counts arrays and objects, not brackets inside strings', () => {
    expect(jsonTextDeeperThan(b('[[["[[[[[[[[[["]]]'), 3)).toBe(false);
    expect(jsonTextDeeperThan(b('[[[{"a":1}]]]'), 3)).toBe(true);
    expect(jsonTextDeeperThan(b('[[[{"a":1}]]]'), 4)).toBe(false);
    expect(jsonTextDeeperThan(b(`"${'['.repeat(100)}"`), 2)).toBe(false);
    expect(jsonTextDeeperThan(b('{"a\\"[[[[[[":[[1]]}'), 3)).toBe(false);
  });

  it('measures text and parsed values alike, at any depth', () => {
    for (const text of [
      '1',
      '[]',
      '[[1],[2,[3]]]',
      '{"a":{"b":[{}]},"c":[]}',
      '['.repeat(50_000) + ']'.repeat(50_000),
    ]) {
      const value = JSON.parse(text) as unknown;
      for (const limit of [1, 2, 3, 4, 49_999, 50_000]) {
        expect(jsonValueDeeperThan(value, limit), `${text.slice(0, 30)} > ${limit}`).toBe(
          jsonTextDeeperThan(b(text), limit),
        );
      }
    }
  });
});

describe('compactJsonText', () => {
  it('drops insignificant whitespace only', () => {
    expect(compactJsonText(b('{ "a b" :\r\n [ 1 ,\t"x\\" y" ] }')).toString()).toBe('{"a b":[1,"x\\" y"]}');
  });
});
