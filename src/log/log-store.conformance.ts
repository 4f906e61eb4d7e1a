// The LogStore conformance suite: one set of black-box expectations run against every
// implementation (memory and file), so the fake other layers test with behaves like disk.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { recordDataBytes } from './append-input.js';
import { PackedRecords } from './packed-records.js';
import type { LogStore, PartitionConfig, PartitionLog, RecordInput, StoredRecord } from './types.js';

export interface ConformanceHarness {
  store: LogStore;
  /** Releases the store and anything it left behind (temp dirs). */
  dispose(): Promise<void>;
}

/** Builds a fresh, opened store whose segment age and retention follow `clock`. */
export type ConformanceFactory = (options: { clock: () => number }) => Promise<ConformanceHarness>;

export const defaultConfig: PartitionConfig = {
  segmentBytes: 1024 * 1024,
  segmentMs: -1,
  retentionMs: -1,
  retentionBytes: -1,
};

export const rec = (value: string, extra: Partial<RecordInput> = {}): RecordInput => ({
  key: null,
  value: Buffer.from(value),
  headers: [],
  timestamp: 1_700_000_000_000,
  ...extra,
});

const plain = (r: StoredRecord | RecordInput) => ({
  key: r.key ? Buffer.from(r.key).toString('hex') : null,
  value: r.value ? Buffer.from(r.value).toString('hex') : null,
  headers: r.headers.map((h) => ({ key: h.key, value: h.value ? Buffer.from(h.value).toString('hex') : null })),
  timestamp: r.timestamp,
});

async function readAll(log: PartitionLog, from = log.startOffset()): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  let offset = from;
  while (offset < log.endOffset()) {
    const r = await log.read(offset, { maxRecords: 1000, maxBytes: 1 << 20 });
    if (!r.ok) throw new Error(`read failed: ${JSON.stringify(r.error)}`);
    out.push(...r.value.records);
    offset = r.value.nextOffset;
  }
  return out;
}

/** What an implementation can do beyond the common contract; tests of the rest are skipped. */
export interface ConformanceCapabilities {
  /**
   * Segments roll and retention deletes them on the store's own clock (`enforceRetention(now)`).
   * False for the Kafka store: the brokers roll and retain segments on their clocks.
   */
  storeRunsRetention: boolean;
  /**
   * readRun marks the values of batches the produce path proved one-line JSON (ONE_LINE_JSON_VALUES)
   * so readers skip checking them. False for the Kafka store: its batches may come from any producer.
   */
  trustsOneLineJson?: boolean;
}

/** Registers the conformance tests for one LogStore implementation. */
export function runLogStoreConformance(
  name: string,
  factory: ConformanceFactory,
  capabilities: ConformanceCapabilities = { storeRunsRetention: true },
): void {
  const retentionIt = it.skipIf(!capabilities.storeRunsRetention);
  describe(`LogStore conformance: ${name}`, () => {
    let now = 1_700_000_000_000;
    const harnesses: ConformanceHarness[] = [];
    const setup = async (config: Partial<PartitionConfig> = {}) => {
      now = 1_700_000_000_000;
      const h = await factory({ clock: () => now });
      harnesses.push(h);
      const topicId = randomUUID();
      const log = await h.store.createPartition(topicId, 0, { ...defaultConfig, ...config });
      return { store: h.store, log, topicId };
    };
    afterEach(async () => {
      for (const h of harnesses.splice(0)) await h.dispose();
    });

    it('assigns dense offsets from 0 and reads records back byte for byte', async () => {
      const { log } = await setup();
      expect([log.startOffset(), log.endOffset(), log.sizeBytes()]).toEqual([0, 0, 0]);
      const batch1: RecordInput[] = [
        rec('a', { key: Buffer.from('k1'), headers: [{ key: 'h', value: Buffer.from([0, 1, 255]) }] }),
        { key: null, value: null, headers: [{ key: 'ünï', value: null }], timestamp: 5 },
      ];
      const batch2 = [rec('c', { key: Buffer.alloc(0), value: Buffer.alloc(0) })];
      expect(await log.append(batch1, { durability: 'fsync' })).toEqual({
        ok: true,
        value: { baseOffset: 0, lastOffset: 1 },
      });
      expect(await log.append(batch2, { durability: 'write' })).toEqual({
        ok: true,
        value: { baseOffset: 2, lastOffset: 2 },
      });
      expect(log.endOffset()).toBe(3);
      expect(log.sizeBytes()).toBeGreaterThan(61 * 2);
      const all = await readAll(log);
      expect(all.map((r) => r.offset)).toEqual([0, 1, 2]);
      expect(all.map(plain)).toEqual([...batch1, ...batch2].map(plain));
    });

    it('reads from the middle of a batch and honours maxRecords and maxBytes (≥ 1 record)', async () => {
      const { log } = await setup();
      await log.append(
        ['0', '1', '2', '3', '4'].map((v) => rec(v.repeat(10))),
        { durability: 'fsync' },
      );
      const mid = await log.read(2, { maxRecords: 2, maxBytes: 1 << 20 });
      expect(mid.ok && mid.value.records.map((r) => r.offset)).toEqual([2, 3]);
      expect(mid.ok && mid.value.nextOffset).toBe(4);
      const bytes = await log.read(0, { maxRecords: 100, maxBytes: 25 });
      expect(bytes.ok && bytes.value.records.map((r) => r.offset)).toEqual([0, 1]);
      const tiny = await log.read(3, { maxRecords: 100, maxBytes: 1 });
      expect(tiny.ok && tiny.value.records.map((r) => r.value?.toString())).toEqual(['3'.repeat(10)]);
    });

    it('treats endOffset as an empty read and anything outside [start, end] as out of range', async () => {
      const { log } = await setup();
      await log.append([rec('x')], { durability: 'fsync' });
      expect(await log.read(1, { maxRecords: 10, maxBytes: 100 })).toEqual({
        ok: true,
        value: { records: [], nextOffset: 1 },
      });
      expect(await log.read(2, { maxRecords: 10, maxBytes: 100 })).toEqual({
        ok: false,
        error: { code: 'offset_out_of_range', requestedOffset: 2, startOffset: 0, endOffset: 1 },
      });
      const below = await log.read(-1, { maxRecords: 10, maxBytes: 100 });
      expect(below.ok).toBe(false);
    });

    it('rolls segments and reads across their boundaries', async () => {
      const { log } = await setup({ segmentBytes: 1024 });
      const values = Array.from({ length: 60 }, (_, i) => `v${i}-${'x'.repeat(i * 7)}`);
      for (let i = 0; i < values.length; i += 3) {
        await log.append(
          values.slice(i, i + 3).map((v) => rec(v)),
          { durability: 'write' },
        );
      }
      expect((await readAll(log)).map((r) => r.value?.toString())).toEqual(values);
      const across = await log.read(17, { maxRecords: 30, maxBytes: 1 << 20 });
      expect(across.ok && across.value.records.map((r) => r.offset)).toEqual(
        Array.from({ length: 30 }, (_, i) => 17 + i),
      );
    });

    retentionIt('rolls segments by age', async () => {
      const { log, store } = await setup({ segmentMs: 1000, retentionBytes: 0 });
      await log.append([rec('old')], { durability: 'write' });
      now += 2000;
      await log.append([rec('new')], { durability: 'write' });
      // The age roll closed the first segment, so size retention can now delete it.
      await store.enforceRetention(now);
      expect(log.startOffset()).toBe(1);
      expect((await readAll(log)).map((r) => r.value?.toString())).toEqual(['new']);
    });

    it('finds the first offset at or after a timestamp, even with unordered timestamps', async () => {
      const { log } = await setup({ segmentBytes: 1024 });
      const stamps = [10, 30, 20, 40, 40, 35, 50, 60];
      for (const t of stamps) await log.append([rec(`t${t}`.repeat(40), { timestamp: t })], { durability: 'write' });
      expect(await log.offsetForTimestamp(0)).toBe(0);
      expect(await log.offsetForTimestamp(10)).toBe(0);
      expect(await log.offsetForTimestamp(11)).toBe(1);
      expect(await log.offsetForTimestamp(25)).toBe(1);
      expect(await log.offsetForTimestamp(31)).toBe(3);
      expect(await log.offsetForTimestamp(45)).toBe(6);
      expect(await log.offsetForTimestamp(61)).toBe(8);
    });

    it('wakes waiters on append, times out, aborts, and notifies listeners', async () => {
      const { log } = await setup();
      const seen: number[] = [];
      const off = log.onAppend((end) => seen.push(end));
      expect(await log.waitForData(0, 20)).toBe(false);
      const waiting = log.waitForData(0, 10_000);
      await log.append([rec('a'), rec('b')], { durability: 'fsync' });
      expect(await waiting).toBe(true);
      expect(await log.waitForData(1, 10_000)).toBe(true);
      const controller = new AbortController();
      const aborted = log.waitForData(2, 10_000, controller.signal);
      controller.abort();
      expect(await aborted).toBe(false);
      off();
      await log.append([rec('c')], { durability: 'fsync' });
      expect(seen).toEqual([2]);
    });

    it('serialises concurrent appends into dense, distinct offsets', async () => {
      const { log } = await setup({ segmentBytes: 2048 });
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          log.append([rec(`a${i}`), rec(`b${i}`)], { durability: i % 2 ? 'fsync' : 'write' }),
        ),
      );
      const bases = results.map((r) => (r.ok ? r.value.baseOffset : -1)).sort((a, b) => a - b);
      expect(bases).toEqual(Array.from({ length: 40 }, (_, i) => i * 2));
      const all = await readAll(log);
      for (const [i, r] of results.entries()) {
        const base = r.ok ? r.value.baseOffset : -1;
        expect(all[base]?.value?.toString()).toBe(`a${i}`);
        expect(all[base + 1]?.value?.toString()).toBe(`b${i}`);
      }
    });

    it('stores batch tags for recentTags and never shows them to readers', async () => {
      const { log } = await setup();
      await log.append(
        [rec('a', { timestamp: 100, headers: [{ key: 'x', value: null }] }), rec('b', { timestamp: 300 })],
        {
          durability: 'fsync',
          tag: Buffer.from('tag-1'),
        },
      );
      await log.append([rec('c', { timestamp: 150 })], { durability: 'fsync' });
      await log.append([rec('d', { timestamp: 200 })], { durability: 'fsync', tag: Buffer.from('tag-2') });
      const tags = await log.recentTags(0);
      expect(tags.map((t) => ({ ...t, tag: t.tag.toString() }))).toEqual([
        { baseOffset: 0, lastOffset: 1, maxTimestamp: 300, appendTime: now, tag: 'tag-1' },
        { baseOffset: 3, lastOffset: 3, maxTimestamp: 200, appendTime: now, tag: 'tag-2' },
      ]);
      const all = await readAll(log);
      expect(all[0]?.headers).toEqual([{ key: 'x', value: null }]);
      expect(all[3]?.headers).toEqual([]);
    });

    it('recentTags selects by append time, whatever the records are stamped', async () => {
      const { log } = await setup();
      await log.append([rec('old', { timestamp: 5 })], { durability: 'write', tag: Buffer.from('t1') });
      now += 1000;
      const future = now + 100 * 365 * 86_400_000;
      await log.append([rec('new', { timestamp: future })], { durability: 'write', tag: Buffer.from('t2') });
      expect((await log.recentTags(now - 1000)).map((t) => t.tag.toString())).toEqual(['t1', 't2']);
      expect((await log.recentTags(now - 500)).map((t) => [t.tag.toString(), t.appendTime])).toEqual([['t2', now]]);
      expect(await log.recentTags(now + 1)).toEqual([]);
      const all = await readAll(log);
      expect(all.map((r) => r.timestamp)).toEqual([5, future]); // the producer's timestamps are kept
      expect(all.map((r) => r.headers)).toEqual([[], []]);
    });

    retentionIt(
      'retention runs on append time: a record stamped 100 years ahead expires with its segment',
      async () => {
        const { log, store } = await setup({ segmentBytes: 1024, retentionMs: 60_000 });
        await log.append([rec('f'.repeat(200), { timestamp: now + 100 * 365 * 86_400_000 })], { durability: 'write' });
        for (let i = 0; i < 20; i++) await log.append([rec('z'.repeat(200))], { durability: 'write' });
        await store.enforceRetention(now + 30_000);
        expect(log.startOffset()).toBe(0);
        await store.enforceRetention(now + 120_000);
        expect([log.startOffset(), log.endOffset()]).toEqual([21, 21]);
      },
    );

    retentionIt(
      'retention runs on append time: records stamped in the past are kept retention_ms after their append',
      async () => {
        const { log, store } = await setup({ segmentBytes: 1024, retentionMs: 60_000 });
        for (let i = 0; i < 20; i++)
          await log.append([rec('p'.repeat(200), { timestamp: 1_000 + i })], { durability: 'write' });
        await store.enforceRetention(now + 30_000);
        expect(log.startOffset()).toBe(0);
        expect((await readAll(log)).length).toBe(20);
        await store.enforceRetention(now + 120_000);
        expect(log.startOffset()).toBe(20);
      },
    );

    it('rejects caller bugs: empty batches, reserved headers, oversized tags', async () => {
      const { log } = await setup();
      await expect(log.append([], { durability: 'fsync' })).rejects.toThrow(/empty/);
      await expect(
        log.append([rec('a', { headers: [{ key: '__sluice.tag', value: null }] })], { durability: 'fsync' }),
      ).rejects.toThrow(/reserved/);
      await expect(log.append([rec('a')], { durability: 'fsync', tag: Buffer.alloc(4097) })).rejects.toThrow(/tag/);
      expect(log.endOffset()).toBe(0);
    });

    retentionIt('retention by bytes deletes whole closed segments, advances start, never reuses offsets', async () => {
      const { log, store } = await setup({ segmentBytes: 1024, retentionBytes: 2048 });
      for (let i = 0; i < 40; i++) await log.append([rec(`r${i}-${'y'.repeat(100)}`)], { durability: 'write' });
      const before = log.sizeBytes();
      await store.enforceRetention(now);
      expect(log.sizeBytes()).toBeLessThan(before);
      expect(log.sizeBytes()).toBeLessThanOrEqual(2048 + 1024);
      const start = log.startOffset();
      expect(start).toBeGreaterThan(0);
      const below = await log.read(start - 1, { maxRecords: 1, maxBytes: 100 });
      expect(below).toEqual({
        ok: false,
        error: { code: 'offset_out_of_range', requestedOffset: start - 1, startOffset: start, endOffset: 40 },
      });
      const first = await log.read(start, { maxRecords: 1, maxBytes: 100 });
      expect(first.ok && first.value.records[0]?.value?.toString()).toMatch(new RegExp(`^r${start}-`));
      expect(await log.append([rec('next')], { durability: 'write' })).toEqual({
        ok: true,
        value: { baseOffset: 40, lastOffset: 40 },
      });
    });

    retentionIt('retention by time can expire everything and still continue the offsets', async () => {
      const { log, store } = await setup({ segmentBytes: 1024, retentionMs: 60_000 });
      for (let i = 0; i < 20; i++)
        await log.append([rec('z'.repeat(200), { timestamp: now })], { durability: 'write' });
      await store.enforceRetention(now + 30_000);
      expect(log.startOffset()).toBe(0);
      await store.enforceRetention(now + 120_000);
      expect([log.startOffset(), log.endOffset()]).toEqual([20, 20]);
      expect(await log.read(20, { maxRecords: 5, maxBytes: 100 })).toEqual({
        ok: true,
        value: { records: [], nextOffset: 20 },
      });
      expect(await log.offsetForTimestamp(0)).toBe(20);
      expect(await log.append([rec('after')], { durability: 'fsync' })).toEqual({
        ok: true,
        value: { baseOffset: 20, lastOffset: 20 },
      });
      expect((await readAll(log)).map((r) => r.offset)).toEqual([20]);
    });

    it('lists topics and partitions; createPartition returns the existing log', async () => {
      const { store, log, topicId } = await setup();
      await log.append([rec('a')], { durability: 'fsync' });
      await store.createPartition(topicId, 2, defaultConfig);
      const again = await store.createPartition(topicId, 0, defaultConfig);
      expect(again.endOffset()).toBe(1);
      expect(store.getPartition(topicId, 0)?.endOffset()).toBe(1);
      expect(store.topicIds()).toContain(topicId);
      expect(store.partitions(topicId)).toEqual([0, 2]);
      expect(store.getPartition(topicId, 1)).toBeUndefined();
    });

    it('deleteTopic wakes waiters, fails later appends and forgets the topic', async () => {
      const { store, log, topicId } = await setup();
      const waiting = log.waitForData(0, 10_000);
      await store.deleteTopic(topicId);
      expect(await waiting).toBe(false);
      const r = await log.append([rec('late')], { durability: 'fsync' });
      expect(r.ok || r.error.code).toBe('closed');
      expect(store.getPartition(topicId, 0)).toBeUndefined();
      expect(store.topicIds()).not.toContain(topicId);
      const fresh = await store.createPartition(topicId, 0, defaultConfig);
      expect(fresh.endOffset()).toBe(0);
    });

    it('close finishes, wakes waiters, and refuses further appends', async () => {
      const { store, log } = await setup();
      const pending = log.append([rec('a')], { durability: 'fsync' });
      const waiting = log.waitForData(5, 10_000);
      await store.close();
      expect((await pending).ok).toBe(true);
      expect(await waiting).toBe(false);
      const r = await log.append([rec('b')], { durability: 'fsync' });
      expect(r.ok || r.error.code).toBe('closed');
    });

    it('property: offsets dense, reads are byte-exact prefixes, timestamp lookup is exact', async () => {
      const recordArb = fc.record({
        key: fc.option(fc.uint8Array({ maxLength: 20 }), { nil: null }),
        value: fc.option(fc.uint8Array({ maxLength: 300 }), { nil: null }),
        headers: fc.array(
          fc.record({
            key: fc.string({ maxLength: 8 }),
            value: fc.option(fc.uint8Array({ maxLength: 8 }), { nil: null }),
          }),
          { maxLength: 2 },
        ),
        timestamp: fc.integer({ min: 0, max: 1000 }),
      });
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(recordArb, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 15 }),
          fc.nat(),
          fc.integer({ min: 1, max: 10 }),
          fc.integer({ min: 0, max: 600 }),
          fc.integer({ min: -1, max: 1002 }),
          async (batches, startSeed, maxRecords, maxBytes, ts) => {
            const { log } = await setup({ segmentBytes: 1024 });
            const appended: RecordInput[] = [];
            for (const raw of batches) {
              const records: RecordInput[] = raw.map((r) => ({
                key: r.key && Buffer.from(r.key),
                value: r.value && Buffer.from(r.value),
                headers: r.headers.map((h) => ({ key: h.key || 'h', value: h.value && Buffer.from(h.value) })),
                timestamp: r.timestamp,
              }));
              const res = await log.append(records, { durability: 'write' });
              expect(res).toEqual({
                ok: true,
                value: { baseOffset: appended.length, lastOffset: appended.length + records.length - 1 },
              });
              appended.push(...records);
            }
            expect(log.endOffset()).toBe(appended.length);
            expect((await readAll(log)).map(plain)).toEqual(appended.map(plain));
            const from = startSeed % (appended.length + 1);
            const part = await log.read(from, { maxRecords, maxBytes });
            if (!part.ok) throw new Error('unexpected out of range');
            const got = part.value.records;
            expect(got.map(plain)).toEqual(appended.slice(from, from + got.length).map(plain));
            expect(got.length).toBeLessThanOrEqual(maxRecords);
            if (from < appended.length) expect(got.length).toBeGreaterThanOrEqual(1);
            expect(part.value.nextOffset).toBe(from + got.length);
            const firstAtOrAfter = appended.findIndex((r) => r.timestamp >= ts);
            expect(await log.offsetForTimestamp(ts)).toBe(firstAtOrAfter === -1 ? appended.length : firstAtOrAfter);
            for (const h of harnesses.splice(0)) await h.dispose();
          },
        ),
        { numRuns: 40, interruptAfterTimeLimit: 8000 },
      );
    });

    it('readRun marks values one-line JSON exactly where every value of the batch was proven so', async () => {
      const { log } = await setup({ segmentBytes: 1024 });
      const values = ['{"a":1}', '[1,"é"]', 'null', '"x"'].map((v) => Buffer.from(v));
      const packed = (proven: boolean[]) => {
        const p = new PackedRecords(64, true);
        proven.forEach((ok, i) => {
          const v = values[i % values.length]!;
          p.add(v, 0, -1, 0, v.length, new Int32Array(0), 0, 1_700_000_000_000 + i, ok);
        });
        return p;
      };
      const batches: Array<[RecordInput[] | PackedRecords, boolean]> = [
        [packed([true, true, true]), true],
        [packed([true, false]), false],
        [[rec('{"b":2}')], false],
        [packed([true]), true],
      ];
      const want: boolean[] = [];
      for (const [records, flagged] of batches) {
        for (let i = 0; i < records.length; i++) want.push(flagged && capabilities.trustsOneLineJson !== false);
        const appended = await log.append(records, { durability: 'write' });
        // The refusal itself when it fails (once on the Kafka store under load, reason unseen).
        expect(appended.ok || appended.error).toBe(true);
      }
      for (const from of [0, 2, 4]) {
        const r = await log.readRun(from, { maxRecords: 100, maxBytes: 1 << 20 });
        if (!r.ok) throw new Error('unexpected out of range');
        const got = Array.from({ length: r.value.run.length }, (_, i) => r.value.run.oneLineJson(i));
        expect(got).toEqual(want.slice(from));
      }
    });

    it('property: readRun answers exactly what read answers (records, limits, next offset, data bytes)', async () => {
      const bytes = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
      const recordArb = fc.record({
        key: fc.option(bytes, { nil: null }),
        value: fc.option(
          fc.oneof(
            bytes,
            fc.string({ unit: 'binary', maxLength: 30 }).map((t) => Buffer.from(t)),
          ),
          {
            nil: null,
          },
        ),
        headers: fc.array(
          fc.record({
            key: fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }),
            value: fc.option(bytes, { nil: null }),
          }),
          { maxLength: 3 },
        ),
        timestamp: fc.integer({ min: 0, max: 2 ** 45 }),
      });
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.tuple(fc.array(recordArb, { minLength: 1, maxLength: 8 }), fc.option(bytes, { nil: undefined })),
            {
              minLength: 1,
              maxLength: 10,
            },
          ),
          fc.nat(),
          fc.integer({ min: 1, max: 12 }),
          fc.integer({ min: 0, max: 400 }),
          async (batches, startSeed, maxRecords, maxBytes) => {
            const { log } = await setup({ segmentBytes: 1024 });
            let total = 0;
            for (const [records, tag] of batches) {
              const res = await log.append(records, { durability: 'write', ...(tag ? { tag } : {}) });
              expect(res.ok).toBe(true);
              total += records.length;
            }
            for (const from of [startSeed % (total + 1), 0, total]) {
              const limits = { maxRecords, maxBytes };
              const a = await log.read(from, limits);
              const b = await log.readRun(from, limits);
              if (!a.ok || !b.ok) throw new Error('unexpected out of range');
              const run = b.value.run;
              expect(b.value.nextOffset).toBe(a.value.nextOffset);
              expect(run.length).toBe(a.value.records.length);
              expect(run.toRecords().map(plain)).toEqual(a.value.records.map(plain));
              expect(run.toRecords().map((r) => r.offset)).toEqual(a.value.records.map((r) => r.offset));
              expect(run.dataBytes()).toBe(a.value.records.reduce((n, r) => n + recordDataBytes(r), 0));
              for (let i = 0; i < run.length; i++) {
                expect(run.offset(i)).toBe(a.value.records[i]!.offset);
                expect(run.timestamp(i)).toBe(a.value.records[i]!.timestamp);
                expect(run.headerCount(i)).toBe(a.value.records[i]!.headers.length);
              }
            }
            const below = await log.readRun(total + 1, { maxRecords, maxBytes });
            expect(below).toEqual(await log.read(total + 1, { maxRecords, maxBytes }));
            for (const h of harnesses.splice(0)) await h.dispose();
          },
        ),
        { numRuns: 40, interruptAfterTimeLimit: 8000 },
      );
    });
  });
}
