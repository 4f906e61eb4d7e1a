import { describe, expect, it } from 'vitest';
import { ProduceQueue } from './produce-queue.js';

/** A fake partition: each send waits until released, then appends its records at the end. */
function fakePartition(opts: { maxBatchBytes?: number; maxSendRecords?: number } = {}) {
  const log: string[] = [];
  const sends: string[][] = [];
  const gates: Array<() => void> = [];
  let fail: unknown;
  const queue = new ProduceQueue<string>({
    maxBatchBytes: opts.maxBatchBytes ?? 1000,
    tooLarge: (e) => (e as { apiId?: string }).apiId === 'MESSAGE_TOO_LARGE',
    send: async (records) => {
      sends.push(records);
      await new Promise<void>((r) => gates.push(r));
      if (fail !== undefined) throw fail;
      if (records.length > (opts.maxSendRecords ?? Infinity)) throw { apiId: 'MESSAGE_TOO_LARGE' };
      const base = log.length;
      log.push(...records);
      return base;
    },
  });
  const release = async () => {
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
    gates.shift()!();
  };
  return {
    queue,
    log,
    sends,
    release,
    failWith: (e: unknown) => (fail = e),
    append: (records: string[], alone = false) => queue.produce({ records, bytes: 10 * records.length, alone }),
  };
}

describe('ProduceQueue', () => {
  it('sends an append at once when nothing is in flight', () => {
    const p = fakePartition();
    void p.append(['a']);
    expect(p.sends).toEqual([['a']]);
  });

  it('appends arriving while one is in flight go as one batch after it, each answered with its own offsets', async () => {
    const p = fakePartition();
    const first = p.append(['a']);
    const rest = [p.append(['b', 'c']), p.append(['d']), p.append(['e', 'f', 'g'])];
    expect(p.sends).toEqual([['a']]);
    await p.release();
    expect(await first).toBe(0);
    await p.release();
    expect(await Promise.all(rest)).toEqual([1, 3, 4]);
    expect(p.sends).toEqual([['a'], ['b', 'c', 'd', 'e', 'f', 'g']]);
    expect(p.log).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  });

  it('never merges an append that must stay alone (a tagged batch), and keeps the order', async () => {
    const p = fakePartition();
    const all = [p.append(['a']), p.append(['b']), p.append(['t1', 't2'], true), p.append(['c']), p.append(['d'])];
    for (let i = 0; i < 4; i++) await p.release();
    expect(await Promise.all(all)).toEqual([0, 1, 2, 4, 5]);
    expect(p.sends).toEqual([['a'], ['b'], ['t1', 't2'], ['c', 'd']]);
  });

  it('bounds a merged batch by its estimated bytes', async () => {
    const p = fakePartition({ maxBatchBytes: 25 });
    const all = [p.append(['a']), p.append(['b']), p.append(['c']), p.append(['d']), p.append(['e', 'f', 'g'])];
    for (let i = 0; i < 4; i++) await p.release();
    expect(await Promise.all(all)).toEqual([0, 1, 2, 3, 4]);
    expect(p.sends).toEqual([['a'], ['b', 'c'], ['d'], ['e', 'f', 'g']]);
  });

  it('a merged batch Kafka refuses as too large is sent again one append per batch', async () => {
    const p = fakePartition({ maxSendRecords: 2 });
    const first = p.append(['a']);
    const rest = [p.append(['b', 'c']), p.append(['d'])];
    for (let i = 0; i < 4; i++) await p.release();
    expect(await first).toBe(0);
    expect(await Promise.all(rest)).toEqual([1, 3]);
    expect(p.sends).toEqual([['a'], ['b', 'c', 'd'], ['b', 'c'], ['d']]);
    expect(p.log).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a failed batch fails every append in it, and the queue goes on with the next', async () => {
    const p = fakePartition();
    const first = p.append(['a']);
    const merged = [p.append(['b']), p.append(['c'])];
    await p.release();
    await first;
    p.failWith(new Error('broker gone'));
    await p.release();
    for (const m of merged) await expect(m).rejects.toThrow('broker gone');
    p.failWith(undefined);
    const after = p.append(['d']);
    await p.release();
    expect(await after).toBe(1);
    expect(p.log).toEqual(['a', 'd']);
  });
});
