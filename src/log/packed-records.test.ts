// PackedRecords against the object encoder: the same records, tag, append time and producer
// give the same batch bytes, however often a packed batch is encoded, and decode back alike.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PackedRecords } from './packed-records.js';
import { ONE_LINE_JSON_VALUES } from './append-input.js';
import { checkBatch, decodeBatch, encodeBatch, readBatchHeader } from './record-batch.js';
import type { RecordInput } from './types.js';

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b));
const record: fc.Arbitrary<RecordInput> = fc.record({
  key: fc.option(bytes(20), { nil: null }),
  value: fc.option(fc.oneof(bytes(40), bytes(300)), { nil: null }),
  headers: fc.array(
    fc.record({
      key: fc.string({ unit: 'binary', maxLength: 8 }).filter((k) => !k.startsWith('__sluice.')),
      value: fc.option(bytes(20), { nil: null }),
    }),
    { maxLength: 3 },
  ),
  // Small deltas, and deltas up to the largest timestamp a produce accepts (8.64e15, past 2^52).
  timestamp: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 8_640_000_000_000_000 })),
});
const options = fc.record({
  baseOffset: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
  tag: fc.option(bytes(200), { nil: undefined }),
  appendTime: fc.option(fc.integer({ min: 0, max: 2 ** 50 }), { nil: undefined }),
  producer: fc.option(
    fc.record({
      id: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
      epoch: fc.integer({ min: 0, max: 32767 }),
      baseSequence: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    }),
    { nil: undefined },
  ),
});

function pack(records: RecordInput[], capacity?: number): PackedRecords {
  const packed = new PackedRecords(capacity);
  for (const r of records) packed.addRecord(r);
  return packed;
}

describe('PackedRecords', () => {
  it('encodes the batch encodeBatch writes for the same records, again and again', () => {
    fc.assert(
      fc.property(
        fc.array(record, { minLength: 1, maxLength: 20 }),
        fc.array(options, { minLength: 1, maxLength: 3 }),
        fc.constantFrom(1, 64, 1 << 16),
        (records, runs, capacity) => {
          const packed = pack(records, capacity);
          for (const o of runs) {
            const want = encodeBatch({ ...o, records });
            expect(Buffer.compare(packed.encode(o.baseOffset, o.tag, o.appendTime, o.producer), want)).toBe(0);
            expect(Buffer.compare(encodeBatch({ ...o, records: packed }), want)).toBe(0);
          }
          expect(packed.length).toBe(records.length);
          expect(packed.maxTimestamp).toBe(Math.max(...records.map((r) => r.timestamp)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('writes the same batch from records lying in shared source buffers, copied whole or not', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(record, fc.nat(20), fc.boolean()), { minLength: 1, maxLength: 20 }),
        fc.boolean(),
        options,
        (rows, shadow, o) => {
          // Each record's fields laid out in order (value first when asked) with gaps, in one
          // source per run of rows; a new source wherever a gap is 0 mod 7.
          const packed = new PackedRecords(8, shadow);
          let parts: Buffer[] = [];
          let at = 0;
          let pending: Array<() => void> = [];
          const flush = () => {
            const src = Buffer.concat(parts);
            for (const f of pending) f.call(src);
            parts = [];
            at = 0;
            pending = [];
          };
          for (const [r, gap, valueFirst] of rows) {
            const place = (b: Buffer | null): [number, number] => {
              parts.push(Buffer.alloc(gap % 5, 0x20));
              at += gap % 5;
              if (b === null) return [0, -1];
              parts.push(b);
              at += b.length;
              return [at - b.length, b.length];
            };
            const [va, vl] = valueFirst ? place(r.value) : [0, 0];
            const [ka, kl] = place(r.key);
            const [va2, vl2] = valueFirst ? [va, vl] : place(r.value);
            const spans = new Int32Array(4 * r.headers.length);
            r.headers.forEach((h, k) => {
              [spans[4 * k], spans[4 * k + 1]] = place(Buffer.from(h.key, 'utf8'));
              [spans[4 * k + 2], spans[4 * k + 3]] = place(h.value);
            });
            pending.push(function (this: Buffer) {
              packed.add(this, ka, kl, va2, vl2, spans, r.headers.length, r.timestamp);
            });
            if (gap % 7 === 0) flush();
          }
          flush();
          const records = rows.map(([r]) => r);
          expect(packed.encode(o.baseOffset, o.tag, o.appendTime, o.producer).toString('hex')).toBe(
            encodeBatch({ ...o, records }).toString('hex'),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('gives back the records it holds, before and after an encode', () => {
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 10 }), options, (records, o) => {
        const packed = pack(records);
        const plain = (rs: RecordInput[]) =>
          rs.map((r) => ({
            key: r.key && Buffer.from(r.key),
            value: r.value && Buffer.from(r.value),
            headers: r.headers.map((h) => ({ key: h.key, value: h.value && Buffer.from(h.value) })),
            timestamp: r.timestamp,
          }));
        expect(plain(packed.toInputs())).toEqual(plain(records));
        const batch = packed.encode(o.baseOffset, o.tag, o.appendTime, o.producer);
        expect(plain(packed.toInputs())).toEqual(plain(records));
        const decoded = decodeBatch(batch);
        expect(decoded.tag).toEqual(o.tag && o.tag);
        expect(decoded.appendTime).toBe(o.appendTime);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a reserved header name and a bad timestamp as append does', () => {
    const p = new PackedRecords();
    expect(() =>
      p.addRecord({ key: null, value: null, headers: [{ key: '__sluice.x', value: null }], timestamp: 1 }),
    ).toThrow(/reserved prefix/);
    expect(() => p.addRecord({ key: null, value: null, headers: [], timestamp: -1 })).toThrow(/invalid timestamp/);
    expect(() => p.encode(0, undefined, undefined, undefined)).toThrow(/empty/);
  });

  it('carries the one-line JSON bit only when every record added was proven one-line JSON', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), fc.boolean(), (proven, viaObject) => {
        const src = Buffer.from('{"a":1}');
        const packed = new PackedRecords(64, true);
        for (const p of proven) {
          if (viaObject && !p) packed.addRecord({ key: null, value: src, headers: [], timestamp: 5 });
          else packed.add(src, 0, -1, 0, src.length, new Int32Array(0), 0, 5, p);
        }
        const all = proven.every(Boolean);
        expect(packed.oneLineJson).toBe(all);
        const batch = encodeBatch({ baseOffset: 3, records: packed, appendTime: 9 });
        expect(readBatchHeader(batch).attributes).toBe(all ? ONE_LINE_JSON_VALUES : 0);
        expect(checkBatch(batch, 0, batch.length, 3).ok).toBe(true);
        // Objects never carry it: a retry re-encodes the records it still has to append without it.
        const again = encodeBatch({ baseOffset: 3, records: packed.toInputs(), appendTime: 9 });
        expect(readBatchHeader(again).attributes).toBe(0);
      }),
    );
  });
});
