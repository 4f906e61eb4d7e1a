// Produce service against the in-memory log: offsets in request order, Kafka partitioning,
// whole-request validation (log unchanged on refusal), idempotent retries, append errors.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryLogStore, type LogStore } from '../log/index.js';
import { partitionForKey } from './partitioner.js';
import { ProduceService, type ProduceRequest, type ProduceTopic } from './produce-service.js';

const cfg = { segmentBytes: 1 << 20, segmentMs: -1, retentionMs: -1, retentionBytes: -1 };
const topic: ProduceTopic = {
  id: 'tid',
  name: 'orders',
  partitions: 3,
  config: { value_format: 'json', max_record_bytes: 100, durability: 'write' },
};

let store: LogStore;
let service: ProduceService;
beforeEach(async () => {
  store = createMemoryLogStore({ retentionCheckIntervalMs: 0 });
  await store.open();
  for (let p = 0; p < 3; p++) await store.createPartition('tid', p, cfg);
  service = new ProduceService({ lookup: (n) => (n === 'orders' ? topic : undefined) }, store, {
    maxBodyBytes: 10_000,
    maxRecordsPerRequest: 5,
    idempotencyWindowMs: 60_000,
  });
});
afterEach(() => store.close());

const body = (s: string) => new Response(s).body;
const json = (records: unknown[], extra: Partial<ProduceRequest> = {}): ProduceRequest => ({
  topic: 'orders',
  format: 'json',
  body: body(JSON.stringify({ records })),
  ...extra,
});
const ends = () => [0, 1, 2].map((p) => store.getPartition('tid', p)!.endOffset());

describe('ProduceService', () => {
  it('answers offsets in request order, keyed records where Kafka puts them', async () => {
    const r = await service.produce(
      json([
        { key: 'a', value: 1 },
        { value: 2, partition: 2 },
        { key: 'foobar', value: 3 },
        { key: 'a', value: 4 },
      ]),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const pa = partitionForKey(Buffer.from('a'), 3);
    const pf = partitionForKey(Buffer.from('foobar'), 3);
    expect(r.value.offsets.map((o) => o.partition)).toEqual([pa, 2, pf, pa]);
    expect(r.value.offsets[3]!.offset).toBe(r.value.offsets[0]!.offset + 1 + (pf === pa ? 1 : 0));
    const read = await store
      .getPartition('tid', pa)!
      .read(r.value.offsets[3]!.offset, { maxRecords: 1, maxBytes: 1000 });
    expect(read.ok && read.value.records[0]!.value!.toString()).toBe('4');
  });

  it('puts a request’s keyless records in one partition and rotates between requests', async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const r = await service.produce(json([{ value: 1 }, { value: 2 }]));
      if (!r.ok) throw new Error(r.error.message);
      expect(r.value.offsets[0]!.partition).toBe(r.value.offsets[1]!.partition);
      seen.add(r.value.offsets[0]!.partition);
    }
    expect(seen.size).toBe(3);
  });

  it('accepts NDJSON', async () => {
    const r = await service.produce({
      topic: 'orders',
      format: 'ndjson',
      body: body('{"value":1,"partition":0}\n\n{"value":2,"partition":0}\n'),
    });
    expect(r).toEqual({
      ok: true,
      value: {
        offsets: [
          { partition: 0, offset: 0 },
          { partition: 0, offset: 1 },
        ],
      },
    });
  });

  it.each([
    ['a bad record', json([{ value: 1 }, { value: 2, partition: 9 }]), 'invalid_record', { record_index: 1 }],
    ['a shape error', json([{ value: 1 }, { key: 5, value: 2 }]), 'bad_request', { record_index: 1 }],
    [
      'too many records',
      json([1, 2, 3, 4, 5, 6].map((value) => ({ value }))),
      'payload_too_large',
      { limit: 'max_records_per_request', max_records: 5 },
    ],
    [
      'a too large record',
      json([{ value: 'x'.repeat(200) }]),
      'payload_too_large',
      { limit: 'max_record_bytes', max_bytes: 100, record_index: 0 },
    ],
    [
      'a too large body',
      { topic: 'orders', format: 'json' as const, body: body('{"records":[' + '{"value":1},'.repeat(1000) + ']}') },
      'payload_too_large',
      { limit: 'max_body_bytes', max_bytes: 10_000 },
    ],
    ['invalid JSON', { topic: 'orders', format: 'json' as const, body: body('{"records":[') }, 'bad_request', {}],
    ['no records', json([]), 'bad_request', {}],
    [
      'a bad NDJSON line',
      { topic: 'orders', format: 'ndjson' as const, body: body('{"value":1}\n{"value":}\n') },
      'bad_request',
      { line: 2 },
    ],
  ])('refuses %s and leaves the log unchanged', async (_n, req, code, details) => {
    const r = await service.produce(req);
    expect(!r.ok && r.error.code).toBe(code);
    expect(!r.ok && r.error.details).toMatchObject(details);
    expect(ends()).toEqual([0, 0, 0]);
  });

  it('answers 404 for an unknown topic', async () => {
    const r = await service.produce({ ...json([{ value: 1 }]), topic: 'nope' });
    expect(!r.ok && r.error.code).toBe('topic_not_found');
  });

  it('never appends a retried Idempotency-Key request twice', async () => {
    const records = [
      { key: 'a', value: 1 },
      { key: 'b', value: 2 },
    ];
    const first = await service.produce(json(records, { idempotencyKey: 'k' }));
    const again = await service.produce(json(records, { idempotencyKey: 'k' }));
    expect(again).toEqual(first);
    expect(ends().reduce((a, b) => a + b)).toBe(2);
    const other = await service.produce(json([{ value: 3 }], { idempotencyKey: 'k' }));
    expect(!other.ok && other.error.code).toBe('invalid_record');
  });

  it('maps producer sequence errors with what the producer needs', async () => {
    const p = (seq: number, epoch = 1) => json([{ value: seq }], { producer: { id: 7n, epoch, seq } });
    expect((await service.produce(p(0))).ok).toBe(true);
    const gap = await service.produce(p(2));
    expect(!gap.ok && gap.error).toMatchObject({ code: 'conflict', details: { expected_seq: 1 } });
    const fenced = await service.produce(p(1, 0));
    expect(!fenced.ok && fenced.error).toMatchObject({ code: 'fenced', details: { current_epoch: 1 } });
  });

  it('maps append failures to storage_full / unavailable', async () => {
    const failing = (code: 'storage_full' | 'io_error') => ({
      getPartition: () =>
        ({ append: async () => ({ ok: false as const, error: { code, reason: 'disk says no' } }) }) as never,
    });
    const topics = { lookup: () => topic };
    const limits = { maxBodyBytes: 1000, maxRecordsPerRequest: 10, idempotencyWindowMs: 1000 };
    const full = await new ProduceService(topics, failing('storage_full'), limits).produce(json([{ value: 1 }]));
    expect(!full.ok && full.error.code).toBe('storage_full');
    const io = await new ProduceService(topics, failing('io_error'), limits).produce(json([{ value: 1 }]));
    expect(!io.ok && io.error.code).toBe('unavailable');
  });
});
