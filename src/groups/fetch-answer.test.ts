// A member's fetch answer and its SSE record events, written straight to bytes, must be the very
// bytes the per-record string rendering sent before: any records, keys, headers, formats, batches.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idTail, recordHead } from '../delivery/sse-frame.js';
import { createMemoryLogStore, type LogStore, type RecordInput, type StoredRecord } from '../log/index.js';
import type { ValueFormat } from '../topics/record-codec.js';
import { recordJsonRenderer } from '../topics/record-json-text.js';
import { TOPIC_CONFIG_DEFAULTS } from '../topics/topic-config.js';
import type { Topic } from '../topics/topics-service.js';
import { fetchAnswerJson } from './fetch-answer.js';
import { encodeGroupCursor, type CursorEntry } from './group-cursor.js';
import type { DeliveredBatch, FetchResult } from './member-fetch.js';
import { recordEventFrames } from './sse-member.js';
import { createGroupTopics } from './topic-adapter.js';

/** The route's answer as it was assembled before: one Record JSON string per record. */
function answerViaStrings(
  memberId: string,
  r: FetchResult,
  strings: ReadonlyArray<{ json: string }[]>,
): Buffer<ArrayBuffer> {
  const text =
    `{"member_id":${JSON.stringify(memberId)},"generation":${r.generation},` +
    `"assignment":${JSON.stringify(r.assignment)},` +
    `"records":[${strings.map((b) => b.map((x) => x.json).join(',')).join(',')}],` +
    `"cursor":${JSON.stringify(encodeGroupCursor(r.batches.map((b) => ({ topicId: b.topicId, partition: b.partition, offset: b.nextOffset }))))}}`;
  return Buffer.from(text, 'utf8');
}

/** The SSE member's record events as they were built before. */
function eventsViaStrings(
  batches: readonly DeliveredBatch[],
  strings: ReadonlyArray<Array<{ offset: number; json: string }>>,
  sent: Map<string, CursorEntry>,
): Buffer<ArrayBuffer> {
  let text = '';
  batches.forEach((b, i) => {
    const key = `${b.topicId}/${b.partition}`;
    for (const rec of strings[i]!) {
      sent.set(key, { topicId: b.topicId, partition: b.partition, offset: rec.offset + 1 });
      text += recordHead(rec.json) + idTail(encodeGroupCursor([...sent.values()]));
    }
  });
  return Buffer.from(text, 'utf8');
}

const b = (s: string) => Buffer.from(s, 'utf8');
const bytesArb = fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u));
const keyArb = fc.oneof(
  fc.constant(null),
  fc.string({ maxLength: 20, unit: 'grapheme' }).map(b),
  fc.stringMatching(/^[ -~]{0,20}$/).map(b),
  bytesArb,
);
const valueArb = fc.oneof(
  fc.constant(null),
  fc.json({ maxDepth: 3 }).map(b),
  fc.json({ maxDepth: 3, stringUnit: 'grapheme' }).map(b),
  fc.json({ maxDepth: 3 }).map((t) => b(JSON.stringify(JSON.parse(t), null, 2))),
  fc.string({ maxLength: 30, unit: 'grapheme' }).map(b),
  bytesArb,
);
const headerArb = fc.record({
  key: fc.string({ maxLength: 8, unit: 'grapheme' }).filter((k) => !k.startsWith('__sluice.')),
  value: fc.option(bytesArb, { nil: null }),
});
const recordArb: fc.Arbitrary<RecordInput> = fc.record({
  timestamp: fc.integer({ min: 0, max: 2 ** 50 }),
  key: keyArb,
  value: valueArb,
  headers: fc.oneof(
    fc.constant([]).map((): RecordInput['headers'] => []),
    fc.array(headerArb, { maxLength: 3 }),
  ),
});

describe('group fetch answer bytes', () => {
  let store: LogStore;
  let n = 0;
  beforeAll(async () => {
    store = createMemoryLogStore({ retentionCheckIntervalMs: 0 });
    await store.open();
  });
  afterAll(async () => {
    await store.close();
  });

  it('equal the per-record string rendering, for the JSON answer and the SSE events', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('t.1', 'ünïcode-topic ☃'),
        fc.constantFrom<ValueFormat>('json', 'string', 'binary'),
        // Records per partition (1 to 3 partitions); empty partitions are not delivered.
        fc.array(fc.array(recordArb, { maxLength: 8 }), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 10 }),
        fc.string({ maxLength: 12, unit: 'grapheme' }),
        fc.nat({ max: 1000 }),
        async (name, format, partitions, maxRecords, memberId, generation) => {
          const topic: Topic = {
            id: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
            name,
            partitions: partitions.length,
            config: { ...TOPIC_CONFIG_DEFAULTS, value_format: format },
            createdAt: 0,
            updatedAt: 0,
          };
          for (let p = 0; p < partitions.length; p++) {
            const log = await store.createPartition(topic.id, p, {
              segmentBytes: 1 << 20,
              segmentMs: -1,
              retentionMs: -1,
              retentionBytes: -1,
            });
            if (partitions[p]!.length > 0) await log.append(partitions[p]!, { durability: 'write' });
          }
          const handle = (await createGroupTopics({ lookup: () => topic }, store).lookup([name])).get(name)!;
          const batches: DeliveredBatch[] = [];
          const strings: Array<Array<{ offset: number; json: string }>> = [];
          // Partitions in a rotated order, as a fetch delivers them.
          for (const p of [...partitions.keys()].reverse()) {
            const limits = { maxRecords, maxBytes: 1 << 20 };
            const read = await handle.read(p, 0, limits);
            if (!read.ok) throw new Error('read failed');
            if (read.value.count === 0) continue;
            const { count, json, nextOffset } = read.value;
            batches.push({ topic: name, topicId: topic.id, partition: p, count, json, nextOffset });
            const stored = await store.getPartition(topic.id, p)!.read(0, limits);
            if (!stored.ok) throw new Error('read failed');
            const render = recordJsonRenderer(name, p, format);
            strings.push(stored.value.records.map((r: StoredRecord) => ({ offset: r.offset, json: render(r) })));
          }
          const result: FetchResult = {
            generation,
            assignment: [...partitions.keys()].map((partition) => ({ topic: name, partition })),
            batches,
            gaps: [],
          };
          const got = fetchAnswerJson(memberId, result);
          expect(got.toString('latin1')).toBe(answerViaStrings(memberId, result, strings).toString('latin1'));
          expect(JSON.parse(got.toString('utf8'))).toMatchObject({ member_id: memberId, generation });
          // Written into a lent buffer (a dirty one, as a reused answer buffer is): the same bytes.
          const lent: Buffer[] = [];
          const into = fetchAnswerJson(memberId, result, (size) => {
            const buf = Buffer.alloc(size + 64, 0xa5).subarray(0, size);
            lent.push(buf);
            return buf;
          });
          expect(into.toString('latin1')).toBe(got.toString('latin1'));
          // (An answer without records is only its membership and cursor: not worth a lent buffer.)
          expect(lent).toHaveLength(batches.length === 0 ? 0 : 1);
          if (lent.length > 0) expect(into.buffer).toBe(lent[0]!.buffer);
          // A connection that already delivered another partition carries it in every cursor.
          const earlier: CursorEntry = { topicId: topic.id, partition: 99, offset: 5 };
          const events = recordEventFrames(batches, new Map([[`${topic.id}/99`, earlier]]));
          const expected = eventsViaStrings(batches, strings, new Map([[`${topic.id}/99`, earlier]]));
          expect(events.toString('latin1')).toBe(expected.toString('latin1'));
          await store.deleteTopic(topic.id);
        },
      ),
      { numRuns: 300 },
    );
  });
});
