// Produce end to end through ProduceService, fast path against general path: the same records
// sent as a body the scan takes and as one it must refuse (an escaped "records" name) land as
// the same bytes at the same offsets, across partitions, NDJSON chunkings and idempotent retries.
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { createMemoryLogStore, type LogStore } from '../log/index.js';
import { ProduceService, type ProduceRequest, type ProduceTopic } from './produce-service.js';
import type { ValueFormat } from './record-codec.js';

const cfg = { segmentBytes: 1 << 20, segmentMs: -1, retentionMs: -1, retentionBytes: -1 };
const NOW = 1_700_000_000_000;

async function world(format: ValueFormat, partitions: number) {
  const topic: ProduceTopic = {
    id: 'tid',
    name: 't',
    partitions,
    config: { value_format: format, max_record_bytes: 400, durability: 'write' },
  };
  const store: LogStore = createMemoryLogStore({ retentionCheckIntervalMs: 0 });
  await store.open();
  for (let p = 0; p < partitions; p++) await store.createPartition('tid', p, cfg);
  const service = new ProduceService(
    { lookup: (n) => (n === 't' ? topic : undefined) },
    store,
    { maxBodyBytes: 1 << 20, maxRecordsPerRequest: 200, idempotencyWindowMs: 60_000 },
    () => NOW,
  );
  return { store, service, topic };
}

async function dump(store: LogStore, partitions: number) {
  const out: unknown[] = [];
  for (let p = 0; p < partitions; p++) {
    const log = store.getPartition('tid', p)!;
    const r = await log.read(0, { maxRecords: 10_000, maxBytes: 1 << 24 });
    if (!r.ok) throw new Error('read');
    for (const rec of r.value.records)
      out.push({
        p,
        offset: rec.offset,
        key: rec.key?.toString('hex') ?? null,
        value: rec.value?.toString('hex') ?? null,
        headers: rec.headers.map((h) => [h.key, h.value?.toString('hex') ?? null]),
        timestamp: rec.timestamp,
      });
  }
  return out;
}

/** A body in chunks of the given sizes (cycled). */
function chunked(bytes: Buffer, sizes: number[]): ReadableStream<Uint8Array> {
  let at = 0;
  let k = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      const n = Math.max(1, sizes[k++ % sizes.length]!);
      c.enqueue(new Uint8Array(bytes.subarray(at, at + n)));
      at += n;
    },
  });
}

const str = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ minLength: 16, maxLength: 80 }),
);
const record = fc.record(
  {
    key: fc.option(str),
    value: fc.oneof(fc.jsonValue({ maxDepth: 4 }), str, fc.constant(null)),
    headers: fc.option(fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), str, { maxKeys: 4 })),
    partition: fc.option(fc.integer({ min: 0, max: 3 })),
    timestamp: fc.option(fc.integer({ min: NOW - 10_000_000, max: NOW + 1000 })),
  },
  { requiredKeys: ['value'] },
);
const spacing = fc.constantFrom('', ' ', '\n  ', '\t');

function text(records: object[], sp: string): string[] {
  return records.map((r) =>
    JSON.stringify(r, null, sp === '' ? undefined : sp.length).replace(/\n/g, sp === '\n  ' ? ' ' : ''),
  );
}

describe('produce, fast path against general path (service level)', () => {
  it('stores the same bytes at the same offsets for JSON and NDJSON bodies', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(record, { minLength: 1, maxLength: 60 }),
        fc.constantFrom<ValueFormat>('json', 'string'),
        fc.integer({ min: 1, max: 4 }),
        spacing,
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        async (recs, format, partitions, sp, sizes, idem) => {
          const lines = text(recs, sp);
          const fastBody = Buffer.from(`{"records":[${lines.join(',')}]}`);
          const slowBody = Buffer.from(`{"rec\\u006frds":[${lines.join(',')}]}`);
          const ndjson = Buffer.from(lines.join('\n') + '\n');
          const results: unknown[] = [];
          for (const [fmt, bytes, chunks] of [
            ['json', slowBody, [1 << 20]],
            ['json', fastBody, sizes],
            ['ndjson', ndjson, sizes],
          ] as const) {
            vi.spyOn(Math, 'random').mockReturnValue(0.5); // the keyless spreader's first partition
            const w = await world(format, partitions);
            const req = (): ProduceRequest => ({
              topic: 't',
              format: fmt,
              body: chunked(bytes, [...chunks]),
              ...(idem && { idempotencyKey: 'k1' }),
            });
            const r = await w.service.produce(req());
            // A retry of an idempotent request answers the same and appends nothing.
            const again = idem ? await w.service.produce(req()) : r;
            const outcome = r.ok ? { offsets: r.value.offsets } : { code: r.error.code, details: r.error.details };
            const out2 = again.ok ? { offsets: again.value.offsets } : { code: again.error.code };
            if (r.ok) expect(out2).toEqual(outcome);
            results.push({ outcome, log: await dump(w.store, partitions) });
            w.service.close();
            await w.store.close();
            vi.restoreAllMocks();
          }
          expect(results[1]).toEqual(results[0]);
          // NDJSON words line numbers in its errors: compare data and success only.
          const [a, c] = [results[0] as { outcome: { code?: string } }, results[2] as { outcome: { code?: string } }];
          if (a.outcome.code === undefined) expect(results[2]).toEqual(results[0]);
          else expect(c.outcome.code).toBe(a.outcome.code);
        },
      ),
      { numRuns: Number(process.env.DIFF_RUNS ?? 150) },
    );
  }, 120_000);
});

describe('idempotent retry after a partial failure (fast path batches decoded back)', () => {
  it('appends exactly the records the first attempt did not, with their bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(record, { minLength: 2, maxLength: 30 }),
        fc.constantFrom<ValueFormat>('json', 'string'),
        fc.integer({ min: 2, max: 4 }),
        fc.nat(),
        fc.constantFrom<'json' | 'ndjson'>('json', 'ndjson'),
        fc.nat(),
        async (recs, format, partitions, failSeed, fmt, rnd) => {
          const lines = text(recs, '');
          const bytes =
            fmt === 'json' ? Buffer.from(`{"records":[${lines.join(',')}]}`) : Buffer.from(lines.join('\n'));
          const slow = Buffer.from(`{"rec\\u006frds":[${lines.join(',')}]}`);
          // Reference: the general path, all at once.
          vi.spyOn(Math, 'random').mockReturnValue((rnd % 97) / 97);
          const ref = await world(format, partitions);
          const r0 = await ref.service.produce({ topic: 't', format: 'json', body: chunked(slow, [1 << 20]) });
          vi.restoreAllMocks();
          if (!r0.ok) {
            ref.service.close();
            await ref.store.close();
            return;
          }
          const expected = new Map<number, unknown>();
          for (const [i, o] of r0.value.offsets.entries()) {
            const rd = await ref.store
              .getPartition('tid', o.partition)!
              .read(o.offset, { maxRecords: 1, maxBytes: 1 << 20 });
            if (!rd.ok) throw new Error('read');
            const x = rd.value.records[0]!;
            expected.set(i, [
              x.key?.toString('hex'),
              x.value?.toString('hex'),
              x.headers.map((h) => [h.key, h.value?.toString('hex')]),
              x.timestamp,
            ]);
          }
          ref.service.close();
          await ref.store.close();

          vi.spyOn(Math, 'random').mockReturnValue((rnd % 97) / 97);
          const w = await world(format, partitions);
          const failing = failSeed % partitions;
          let failed = false;
          const real = w.store.getPartition.bind(w.store);
          w.store.getPartition = (id: string, p: number) => {
            const log = real(id, p);
            if (!log || p !== failing || failed) return log;
            return new Proxy(log, {
              get(target, prop, recv) {
                if (prop === 'append')
                  return async () => {
                    failed = true;
                    return { ok: false, error: { code: 'io_error', reason: 'injected' } };
                  };
                const v = Reflect.get(target, prop, recv) as unknown;
                return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
              },
            });
          };
          const req = (): ProduceRequest => ({
            topic: 't',
            format: fmt,
            body: chunked(bytes, [37, 1 << 20]),
            idempotencyKey: 'k',
          });
          await w.service.produce(req());
          const r = await w.service.produce(req());
          vi.restoreAllMocks();
          expect(r.ok).toBe(true);
          if (!r.ok) return;
          // Every record exactly once, at the offset the answer gives, with its bytes.
          let total = 0;
          for (let p = 0; p < partitions; p++) total += w.store.getPartition('tid', p)!.endOffset();
          expect(total).toBe(recs.length);
          for (const [i, o] of r.value.offsets.entries()) {
            const rd = await w.store
              .getPartition('tid', o.partition)!
              .read(o.offset, { maxRecords: 1, maxBytes: 1 << 20 });
            if (!rd.ok) throw new Error('read');
            const x = rd.value.records[0]!;
            expect([
              x.key?.toString('hex'),
              x.value?.toString('hex'),
              x.headers.map((h) => [h.key, h.value?.toString('hex')]),
              x.timestamp,
            ]).toEqual(expected.get(i));
          }
          w.service.close();
          await w.store.close();
        },
      ),
      { numRuns: Number(process.env.DIFF_RUNS ?? 150) },
    );
  }, 120_000);
});
