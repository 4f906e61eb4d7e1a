// Shared partition frames are written straight to bytes when the encoder has a writer: they
// must be the very bytes the string path builds, in both event modes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StoredRecord } from '../log/index.js';
import type { ValueFormat } from '../topics/record-codec.js';
import { recordJsonRenderer } from '../topics/record-json-text.js';
import { EncodedBatch } from './encoded-batch.js';

const value = fc.oneof(
  fc.constant(null),
  fc.json({ maxDepth: 2 }).map((t) => Buffer.from(t)),
  fc.json({ maxDepth: 2 }).map((t) => Buffer.from(JSON.stringify(JSON.parse(t), null, 1))),
  fc.uint8Array({ maxLength: 16 }).map((u) => Buffer.from(u)),
);
const records = fc
  .array(
    fc.record({
      key: fc.option(
        fc.string({ maxLength: 8 }).map((s) => Buffer.from(s)),
        { nil: null },
      ),
      value,
      headers: fc.oneof(
        fc.constant([]).map((): StoredRecord['headers'] => []),
        fc.array(fc.record({ key: fc.string({ maxLength: 4 }), value: fc.constant(Buffer.from('v')) }), {
          maxLength: 2,
        }),
      ),
      timestamp: fc.nat(),
    }),
    { minLength: 1, maxLength: 10 },
  )
  .map((rs): StoredRecord[] => rs.map((r, i) => ({ ...r, offset: 100 + i })));

describe('EncodedBatch shared partition frames', () => {
  it('are byte-identical with and without the encoder’s writer, per record and in batch mode', () => {
    fc.assert(
      fc.property(records, fc.constantFrom<ValueFormat>('json', 'string', 'binary'), (recs, format) => {
        const withWriter = recordJsonRenderer('t', 0, format);
        const stringsOnly = (r: StoredRecord) => withWriter(r);
        const next = 100 + recs.length;
        for (const batchMode of [false, true]) {
          const a = EncodedBatch.encode(0, recs, 100, next, withWriter).sharedPartitionFrame(batchMode, 'kq3vXe');
          const b = EncodedBatch.encode(0, recs, 100, next, stringsOnly).sharedPartitionFrame(batchMode, 'kq3vXe');
          expect(a?.toString('latin1')).toBe(b?.toString('latin1'));
        }
      }),
      { numRuns: 300 },
    );
  });
});
