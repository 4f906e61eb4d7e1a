import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecentBatches } from './recent-batches.js';
import type { RecordInput } from '../types.js';

const rec = (value: string | null, extra: Partial<RecordInput> = {}): RecordInput => ({
  key: null,
  value: value === null ? null : Buffer.from(value),
  headers: [],
  timestamp: 1_700_000_000_000,
  ...extra,
});

describe('RecentBatches', () => {
  it('returns the batch holding an offset as stored records, copied from the input buffers', () => {
    const body = Buffer.from('k1v1hv');
    const input: RecordInput[] = [
      {
        key: body.subarray(0, 2),
        value: body.subarray(2, 4),
        headers: [
          { key: 'h', value: body.subarray(4, 6) },
          { key: 'h', value: null },
        ],
        timestamp: 5,
      },
      rec(null),
      rec(''),
    ];
    const recent = new RecentBatches(1 << 20);
    recent.add(10, input);
    body.fill(0); // the request body is reused or freed: what was kept must not change
    const batch = recent.batchAt(11);
    expect(batch?.map((r) => r.offset)).toEqual([10, 11, 12]);
    expect(batch?.[0]).toEqual({
      offset: 10,
      timestamp: 5,
      key: Buffer.from('k1'),
      value: Buffer.from('v1'),
      headers: [
        { key: 'h', value: Buffer.from('hv') },
        { key: 'h', value: null },
      ],
    });
    expect(batch?.[1]?.value).toBeNull();
    expect(batch?.[2]?.value).toEqual(Buffer.alloc(0));
    expect(recent.batchAt(9)).toBeUndefined();
    expect(recent.batchAt(13)).toBeUndefined();
  });

  it('keeps within its byte budget, oldest out first; never keeps a batch larger than the budget', () => {
    const recent = new RecentBatches(10);
    recent.add(0, [rec('aaaa')]);
    recent.add(1, [rec('bbbb')]);
    recent.add(2, [rec('cccc')]);
    expect(recent.batchAt(0)).toBeUndefined();
    expect(recent.batchAt(1)?.[0]?.value?.toString()).toBe('bbbb');
    expect(recent.batchAt(2)?.[0]?.value?.toString()).toBe('cccc');
    recent.add(3, [rec('x'.repeat(11))]);
    expect(recent.batchAt(3)).toBeUndefined();
    expect(recent.size).toBe(2);
  });

  it('forgets batches below a new log start, and everything on clear', () => {
    const recent = new RecentBatches(1 << 20);
    recent.add(0, [rec('a'), rec('b')]);
    recent.add(2, [rec('c')]);
    recent.dropBelow(2);
    expect(recent.batchAt(1)).toBeUndefined();
    expect(recent.batchAt(2)).toBeDefined();
    recent.clear();
    expect(recent.size).toBe(0);
  });

  it('keeps fetched batches with gaps in their offsets (compaction), and a batch already kept only once', () => {
    const recent = new RecentBatches(1 << 20);
    const fetched = [10, 12, 15].map((offset) => ({ ...rec(String(offset)), offset }));
    recent.keep(fetched);
    recent.keep(fetched);
    recent.add(10, [rec('again')]);
    expect(recent.size).toBe(1);
    expect(recent.batchAt(13)?.map((r) => r.offset)).toEqual([10, 12, 15]);
    expect(recent.batchAt(16)).toBeUndefined();
    recent.keep([]);
    expect(recent.size).toBe(1);
  });

  it('property: any offset maps to the one kept batch that holds it, whatever the order batches came in', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 20 }),
        fc.integer(),
        (sizes, seed) => {
          // Dense batches, added in a shuffled order (appends are acknowledged out of order).
          let base = 0;
          const batches = sizes.map((n) => {
            const b = { base, n };
            base += n;
            return b;
          });
          const order = [...batches].sort((a, b) => ((a.base * 7919 + seed) % 13) - ((b.base * 7919 + seed) % 13));
          const recent = new RecentBatches(1 << 20);
          for (const b of order)
            recent.add(
              b.base,
              Array.from({ length: b.n }, (_, i) => rec(String(b.base + i))),
            );
          for (let offset = 0; offset < base; offset++) {
            const batch = recent.batchAt(offset)!;
            const holder = batches.find((b) => b.base <= offset && offset < b.base + b.n)!;
            expect(batch.map((r) => r.offset)).toEqual(Array.from({ length: holder.n }, (_, i) => holder.base + i));
            expect(batch.map((r) => r.value?.toString())).toEqual(batch.map((r) => String(r.offset)));
          }
          expect(recent.batchAt(base)).toBeUndefined();
        },
      ),
    );
  });
});
