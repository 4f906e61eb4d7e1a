// Zigzag varints against a 64-bit reference (Kafka's ByteUtils.writeVarlong, in BigInt): every
// safe integer is written and read back exactly, record timestamps a full range apart included.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PackedRecords } from './packed-records.js';
import { decodeBatch, encodeBatch } from './record-batch.js';
import type { RecordInput } from './types.js';
import { VarReader, varintSize, writeVarint } from './varint.js';

/** Kafka's zigzag varlong of `n`, with 64-bit integers. */
function reference(n: number): Buffer {
  let z = BigInt.asUintN(64, (BigInt(n) << 1n) ^ (BigInt(n) >> 63n));
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return Buffer.from(out);
}

const safe = fc.oneof(
  fc.integer({ min: -100, max: 100 }),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.maxSafeInteger().map((n) => 0 - n), // never -0
  fc.integer({ min: 2 ** 52 - 1000, max: 2 ** 52 + 1000 }).map((n) => -n),
);

describe('zigzag varints', () => {
  it('write, size and read every safe integer as Kafka does, exactly', () => {
    fc.assert(
      fc.property(safe, (n) => {
        const want = reference(n);
        const buf = Buffer.alloc(12);
        const end = writeVarint(buf, 1, n);
        expect(buf.subarray(1, end).toString('hex')).toBe(want.toString('hex'));
        expect(varintSize(n)).toBe(want.length);
        const r = new VarReader(buf, 1, end);
        expect(r.varint()).toBe(n);
        expect(r.pos).toBe(end);
      }),
      { numRuns: 2000 },
    );
  });

  it('record timestamps of one batch any distance apart come back exactly, from both encoders', () => {
    const MAX_TIMESTAMP_MS = 8_640_000_000_000_000; // record-codec.ts: the largest a produce accepts
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: MAX_TIMESTAMP_MS }), fc.constantFrom(0, MAX_TIMESTAMP_MS)), {
          minLength: 1,
          maxLength: 6,
        }),
        (timestamps) => {
          const records: RecordInput[] = timestamps.map((timestamp) => ({
            key: null,
            value: Buffer.from('v'),
            headers: [],
            timestamp,
          }));
          const packed = new PackedRecords();
          for (const r of records) packed.addRecord(r);
          for (const batch of [
            encodeBatch({ baseOffset: 0, records }),
            encodeBatch({ baseOffset: 0, records: packed }),
          ])
            expect(decodeBatch(batch).records.map((r) => r.timestamp)).toEqual(timestamps);
        },
      ),
      { numRuns: 500 },
    );
  });
});
