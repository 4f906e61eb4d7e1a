// Write-path failures beyond a single failed write (#12.9): an exception after a group left
// the queue, a failed truncate after a failed fsync, a failed checkpoint during retention.
import { describe, expect, it } from 'vitest';
import { faultInjectingLogFs, nodeLogFs, type AppendResult, type FaultOp } from '../../src/log/index.js';
import type { Result } from '../../src/lib/result.js';
import { afterTest, batch, cleanUpAfterEach, config, newTopic, openStore, readAll, scratchDir } from './helpers.js';

cleanUpAfterEach();

/** Rejects when `p` has not settled within `ms`: a hang is a failure, never a stuck test. */
function answered<T>(p: Promise<T>, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer after ${ms} ms`)), ms))),
  ]);
}

type Faults = Partial<Record<FaultOp, { code: string; file: string }>>;

async function store(extra: { clock?: () => number } = {}) {
  const dir = await scratchDir();
  const faults: Faults = {};
  const fs = faultInjectingLogFs(nodeLogFs, (op, path) => {
    const f = faults[op];
    return f && path.endsWith(f.file) ? f.code : undefined;
  });
  const s = await openStore(dir, { fs, ...extra });
  afterTest(() => s.close());
  return { dir, store: s, faults };
}

const failed = (r: Result<AppendResult, unknown>) => !r.ok;

describe('write-path failures answer every waiter and stop writes', () => {
  it('an exception after a group left the queue answers the whole group and later appends', async () => {
    let calls = 0;
    let throwOnCall = Infinity;
    const clock = () => {
      if (++calls === throwOnCall) throw new Error('clock failed');
      return Date.now();
    };
    const { dir, store: s } = await store({ clock });
    const topic = newTopic();
    const log = await s.createPartition(topic, 0, config);
    // A group asks the clock for its append time, and again after writing into an empty segment.
    throwOnCall = calls + 2;
    const results = await answered(
      Promise.all(Array.from({ length: 5 }, (_, i) => log.append(batch(i), { durability: 'fsync' }))),
    );
    expect(results.every(failed)).toBe(true);
    expect(log.endOffset()).toBe(0);
    expect(log.writable().ok).toBe(false);
    expect(await answered(log.append(batch(9), { durability: 'write' }))).toMatchObject({ ok: false });
    await s.close();
    const again = await openStore(dir);
    afterTest(() => again.close());
    expect(again.getPartition(topic, 0)!.endOffset()).toBe(0); // nothing unacknowledged became visible
  });

  it('a failed truncate after a failed fsync: the unacknowledged batch never becomes visible after a restart', async () => {
    const { dir, store: s, faults } = await store();
    const topic = newTopic();
    const log = await s.createPartition(topic, 0, config);
    for (let i = 0; i < 3; i++) expect((await log.append(batch(i), { durability: 'fsync' })).ok).toBe(true);
    faults.datasync = { code: 'EIO', file: '.log' };
    faults.truncate = { code: 'EIO', file: '.log' };
    const r = await answered(log.append(batch(3), { durability: 'fsync' }));
    expect(r).toMatchObject({ ok: false, error: { code: 'io_error' } });
    expect(log.writable().ok).toBe(false);
    await s.close();
    const again = await openStore(dir);
    afterTest(() => again.close());
    const reopened = again.getPartition(topic, 0)!;
    expect(reopened.endOffset()).toBe(9);
    expect((await readAll(reopened)).map((x) => x.value?.toString())).not.toContain('b3r0');
    // The fence is consumed by recovery: the partition takes writes again at offset 9.
    expect(await reopened.append(batch(4), { durability: 'fsync' })).toEqual({
      ok: true,
      value: { baseOffset: 9, lastOffset: 11 },
    });
  });

  it('a failed checkpoint during retention stops writes and deletes nothing', async () => {
    const { store: s, faults } = await store();
    const topic = newTopic();
    const log = await s.createPartition(topic, 0, { ...config, segmentBytes: 1024, retentionBytes: 1024 });
    for (let i = 0; i < 20; i++) expect((await log.append(batch(i, 3, 100), { durability: 'write' })).ok).toBe(true);
    const before = await readAll(log);
    faults.rename = { code: 'EIO', file: 'partition.checkpoint' };
    await answered(s.enforceRetention());
    expect(log.startOffset()).toBe(0);
    expect(await readAll(log)).toHaveLength(before.length);
    expect(log.writable()).toMatchObject({ ok: false, reason: expect.stringMatching(/EIO/) });
    expect(await answered(log.append(batch(99), { durability: 'write' }))).toMatchObject({ ok: false });
  });

  it('error reasons name the failure, never a file-system path', async () => {
    const { dir, store: s, faults } = await store();
    const log = await s.createPartition(newTopic(), 0, config);
    faults.write = { code: 'EIO', file: '.log' };
    const r = await answered(log.append(batch(0), { durability: 'fsync' }));
    expect(r).toMatchObject({ ok: false, error: { code: 'io_error', reason: expect.stringMatching(/EIO/) } });
    expect(JSON.stringify(r)).not.toContain(dir);
    expect(JSON.stringify(log.writable())).not.toContain(dir);
  });
});
