// Shared partition frames are written straight to bytes when the encoder has a writer: they
// must be the very bytes the string path builds, in both event modes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordRun, type StoredRecord } from '../log/index.js';
import { decodeBatch, encodeBatch } from '../log/record-batch.js';
import { RunCollector } from '../log/record-run.js';
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

  it('are the same bytes when the read left the records in the log’s batch bytes (a packed run)', () => {
    fc.assert(
      fc.property(
        records,
        fc.constantFrom<ValueFormat>('json', 'string', 'binary'),
        fc.nat(3),
        (recs, format, skip) => {
          const bytes = encodeBatch({ baseOffset: 100, records: recs, appendTime: 5 });
          const collector = new RunCollector(100 + skip, { maxRecords: 100, maxBytes: 1 << 20 });
          collector.addBatch(bytes, 0);
          const { run, nextOffset } = collector.result();
          const decoded = decodeBatch(bytes).records.filter((r) => r.offset >= 100 + skip);
          const withWriter = recordJsonRenderer('t', 0, format);
          const stringsOnly = (r: StoredRecord) => withWriter(r);
          for (const batchMode of [false, true]) {
            for (const tag of ['', 'kq3vXe']) {
              const a = EncodedBatch.encode(0, run, 100 + skip, nextOffset, withWriter).sharedPartitionFrame(
                batchMode,
                tag,
              );
              const b = EncodedBatch.encode(0, RecordRun.fromRecords(decoded), 100 + skip, nextOffset, stringsOnly);
              expect(a?.toString('latin1')).toBe(b.sharedPartitionFrame(batchMode, tag)?.toString('latin1'));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
