// Kafka compatibility of the partitioner: the murmur2 vectors Kafka's own UtilsTest asserts,
// and the positive-modulo partition choice of its default partitioner.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeylessSpreader, murmur2, partitionForKey, STICKY_MAX_SYNC_MS, toPositive } from './partitioner.js';

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
  it('rotates requests answered one at a time evenly across partitions', () => {
    const s = new KeylessSpreader();
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 400; i++) {
      const p = s.pick('t', 4);
      s.placed('t', p, 100);
      s.done('t', p);
      counts[p]! += 1;
    }
    expect(counts).toEqual([100, 100, 100, 100]);
  });

  it('keeps overlapping requests on one partition up to STICKY_BYTES, then moves to the next', () => {
    const s = new KeylessSpreader(undefined, 1000);
    const a = s.pick('t', 4);
    s.placed('t', a, 400);
    expect(s.pick('t', 4)).toBe(a); // a's request is still open
    s.placed('t', a, 400);
    expect(s.pick('t', 4)).toBe(a);
    s.placed('t', a, 400); // 1200 ≥ 1000
    const b = s.pick('t', 4);
    expect(b).toBe((a + 1) % 4);
    s.placed('t', b, 10);
    // Answers for the old partition do not close the new one's run.
    for (let i = 0; i < 3; i++) s.done('t', a);
    expect(s.pick('t', 4)).toBe(b);
    s.done('t', b);
    s.done('t', b);
    expect(s.pick('t', 4)).toBe((b + 1) % 4);
  });

  it('does not stay on a partition whose last fdatasync was slower than STICKY_MAX_SYNC_MS', () => {
    const slow = new Set<number>();
    const s = new KeylessSpreader((_, p) => (slow.has(p) ? STICKY_MAX_SYNC_MS + 0.5 : STICKY_MAX_SYNC_MS));
    const a = s.pick('t', 4);
    expect(s.pick('t', 4)).toBe(a); // a's request is open, its fdatasyncs fast enough
    slow.add(a);
    expect(s.pick('t', 4)).toBe((a + 1) % 4);
  });

  it('moves on when the partition count shrank under it, and forgets deleted topics', () => {
    const s = new KeylessSpreader();
    let p = s.pick('t', 8);
    while (p < 4) {
      s.done('t', p); // answered: the next request rotates
      p = s.pick('t', 8);
    }
    expect(s.pick('t', 4)).toBe((p + 1) % 4);
    s.forget('t');
    s.done('t', p); // after forget: no effect, no throw
    expect(s.pick('t', 4)).toBeLessThan(4);
  });

  it('property: follows the model (stay while a request there is open and under the bound, else the next in turn)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.record({ bytes: fc.integer({ min: 1, max: 600 }), answerBefore: fc.nat(4) }), {
          minLength: 1,
          maxLength: 300,
        }),
        (partitions, requests) => {
          const bound = 1000;
          const s = new KeylessSpreader(undefined, bound);
          const open: number[] = []; // requests not yet answered, oldest first
          let model: { p: number; bytes: number } | undefined;
          for (const r of requests) {
            for (const p of open.splice(0, r.answerBefore)) s.done('t', p);
            const p = s.pick('t', partitions);
            if (model === undefined)
              model = { p, bytes: 0 }; // the first is random
            else if (!(model.bytes < bound && open.includes(model.p)))
              model = { p: (model.p + 1) % partitions, bytes: 0 };
            expect(p).toBe(model.p);
            expect(p).toBeLessThan(partitions);
            // No partition takes more than the bound plus the one request that crossed it.
            expect(model.bytes).toBeLessThan(bound);
            s.placed('t', p, r.bytes);
            model.bytes += r.bytes;
            open.push(p);
          }
        },
      ),
    );
  });
});
