// RecordRun: positions into batch bytes that decode exactly as decodeBatch does, cut to a prefix
// where a reader must stop (an SSE catch-up read never passes the live tail).
import { describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch } from './record-batch.js';
import { RecordRun, RunCollector } from './record-run.js';
import type { RecordInput } from './types.js';

const rec = (value: string | null, extra: Partial<RecordInput> = {}): RecordInput => ({
  key: null,
  value: value === null ? null : Buffer.from(value),
  headers: [],
  timestamp: 1_700_000_000_000,
  ...extra,
});

describe('RecordRun', () => {
  const records = [
    rec('a', { key: Buffer.from('k'), headers: [{ key: 'h', value: Buffer.from('v') }] }),
    rec(null),
    rec('c', { headers: [{ key: 'ü', value: null }] }),
    rec('d'),
  ];
  const bytes = encodeBatch({ baseOffset: 10, records, tag: Buffer.from('tag'), appendTime: 42 });

  it('leaves the log’s reserved headers out, as decodeBatch does, and counts data bytes as reads do', () => {
    const c = new RunCollector(10, { maxRecords: 100, maxBytes: 1 << 20 });
    c.addBatch(bytes, 0);
    const { run, nextOffset } = c.result();
    expect(nextOffset).toBe(14);
    expect(run.isPacked).toBe(true);
    expect(run.toRecords()).toEqual(decodeBatch(bytes).records);
    expect(run.headerCount(0)).toBe(1);
    expect(run.dataBytes()).toBe(1 + 1 + 1 + 1 + 0 + 1 + 2 + 1);
  });

  it('cuts to the records below a bound, packed or decoded', () => {
    const c = new RunCollector(11, { maxRecords: 100, maxBytes: 1 << 20 });
    c.addBatch(bytes, 0);
    const { run } = c.result();
    for (const r of [run, RecordRun.fromRecords(run.toRecords())]) {
      expect(r.countBelow(13)).toBe(2);
      const cut = r.slice(r.countBelow(13));
      expect(cut.length).toBe(2);
      expect(cut.toRecords().map((x) => x.offset)).toEqual([11, 12]);
      expect(r.slice(99)).toBe(r);
      expect(r.countBelow(5)).toBe(0);
    }
  });

  it('stops at maxRecords and maxBytes with one record minimum, mid-batch', () => {
    const byCount = new RunCollector(10, { maxRecords: 2, maxBytes: 1 << 20 });
    expect(byCount.addBatch(bytes, 0)).toBe(true);
    expect(byCount.result().run.length).toBe(2);
    const byBytes = new RunCollector(10, { maxRecords: 100, maxBytes: 1 });
    expect(byBytes.addBatch(bytes, 0)).toBe(true);
    expect(byBytes.result()).toMatchObject({ nextOffset: 11 });
  });
});
