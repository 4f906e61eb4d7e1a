// Kafka compatibility of the partitioner: the murmur2 vectors Kafka's own UtilsTest asserts,
// and the positive-modulo partition choice of its default partitioner.
import { describe, expect, it } from 'vitest';
import { KeylessSpreader, murmur2, partitionForKey, toPositive } from './partitioner.js';

const bytes = (s: string) => Buffer.from(s, 'utf8');

describe('murmur2', () => {
  // Values from apache/kafka UtilsTest.testMurmur2 (Java ints).
  const vectors: Array<[string, number]> = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  it.each(vectors)('murmur2(%s) = %i as Kafka computes it', (input, expected) => {
    expect(murmur2(bytes(input))).toBe(expected);
  });

  it('hashes the empty key and every tail length without throwing', () => {
    for (const s of ['', 'a', 'ab', 'abc', 'abcd', 'abcde']) {
      const h = murmur2(bytes(s));
      expect(Number.isInteger(h)).toBe(true);
      expect(h).toBeGreaterThanOrEqual(-0x80000000);
      expect(h).toBeLessThanOrEqual(0x7fffffff);
    }
  });
});

describe('partitionForKey', () => {
  it('is toPositive(murmur2) modulo the partition count, as Kafka', () => {
    // -973932308 & 0x7fffffff = 1173551340
    expect(toPositive(-973932308)).toBe(1173551340);
    expect(partitionForKey(bytes('21'), 3)).toBe(1173551340 % 3);
    expect(partitionForKey(bytes('foobar'), 7)).toBe((-790332482 & 0x7fffffff) % 7);
    expect(partitionForKey(bytes('abc'), 4)).toBe(479470107 % 4);
  });

  it('differs from Math.abs for negative hashes', () => {
    expect(toPositive(-1)).toBe(0x7fffffff);
    expect(toPositive(-0x80000000)).toBe(0);
  });

  it('uses the UTF-8 bytes of the key', () => {
    expect(partitionForKey(bytes('ключ'), 1000)).toBe(toPositive(murmur2(Buffer.from('ключ'))) % 1000);
  });
});

describe('KeylessSpreader', () => {
  it('rotates requests evenly across partitions', () => {
    const s = new KeylessSpreader();
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 400; i++) counts[s.pick('t', 4)]! += 1;
    expect(counts).toEqual([100, 100, 100, 100]);
  });
});
