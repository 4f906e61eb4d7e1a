import { afterEach, describe, expect, it, vi } from 'vitest';
import { READ_AHEAD_MAX_PAGE_BYTES, ReadAhead, ReadAheadBudget, type AheadPage } from './read-ahead.js';

const shape = { maxRecords: 10, maxBytes: 1000 };
const turn = () => new Promise((r) => setImmediate(r));

/** A ReadAhead whose reads are recorded and answered by the test. */
function setUp(budgetBytes = 10_000) {
  const budget = new ReadAheadBudget(budgetBytes);
  let unused = 0;
  const clock = { now: 0 };
  const ahead = new ReadAhead<string>(
    budget,
    () => unused++,
    50,
    () => clock.now,
  );
  const reads: Array<{ offset: number; resolve: (p: AheadPage<string>) => void; reject: (e: Error) => void }> = [];
  const read = (offset: number) =>
    new Promise<AheadPage<string>>((resolve, reject) => reads.push({ offset, resolve, reject }));
  return { budget, ahead, reads, read, unused: () => unused, clock };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('ReadAhead', () => {
  it('reads ahead only once a read continues the one before it, with the same limits', async () => {
    const { ahead, reads, read } = setUp();
    ahead.served(0, shape, 10, 100, 500, read);
    await turn();
    expect(reads).toHaveLength(0); // one read is not yet a sequence
    ahead.served(10, { ...shape, maxBytes: 999 }, 20, 100, 500, read);
    await turn();
    expect(reads).toHaveLength(0); // other limits
    ahead.served(20, { ...shape, maxBytes: 999 }, 30, 100, 500, read);
    await turn();
    expect(reads.map((r) => r.offset)).toEqual([30]);
  });

  it('does not read ahead for a reader slower than the idle time (its page would be dropped unused)', async () => {
    const { ahead, reads, read, clock } = setUp();
    ahead.served(0, shape, 10, 100, 500, read);
    clock.now += 50;
    ahead.served(10, shape, 20, 100, 500, read);
    await turn();
    expect(reads).toHaveLength(0);
    clock.now += 49;
    ahead.served(20, shape, 30, 100, 500, read);
    await turn();
    expect(reads.map((r) => r.offset)).toEqual([30]);
  });

  it('does not read ahead at the log end, after an empty read, or for pages over READ_AHEAD_MAX_PAGE_BYTES', async () => {
    const { ahead, reads, read } = setUp(1 << 30);
    ahead.served(0, shape, 10, 100, 500, read);
    ahead.served(10, shape, 20, 20, 500, read); // reached the end
    ahead.served(20, shape, 20, 30, 500, read); // empty
    const big = { maxRecords: 10, maxBytes: READ_AHEAD_MAX_PAGE_BYTES + 1 };
    ahead.served(20, big, 30, 100, 500, read);
    ahead.served(30, big, 40, 100, 500, read);
    await turn();
    expect(reads).toHaveLength(0);
  });

  it('hands the page over to the read that asks for it, and only to that one', async () => {
    const { ahead, reads, read, budget } = setUp();
    ahead.served(0, shape, 10, 100, 500, read);
    ahead.served(10, shape, 20, 100, 500, read);
    await turn();
    expect(budget.inUse).toBe(500); // the estimate, while it is read
    reads[0]!.resolve({ value: 'page@20', bytes: 300 });
    await turn();
    expect(budget.inUse).toBe(300); // then its own bytes
    expect(ahead.take(21, shape)).toBeUndefined();
    expect(ahead.take(20, { ...shape, maxRecords: 11 })).toBeUndefined();
    expect(await ahead.take(20, shape)).toEqual({ value: 'page@20', bytes: 300 });
    expect(budget.inUse).toBe(0);
    expect(ahead.take(20, shape)).toBeUndefined(); // handed over once
  });

  it('a read still in flight is handed over too; the budget is freed at once', async () => {
    const { ahead, reads, read, budget } = setUp();
    ahead.served(0, shape, 10, 100, 500, read);
    ahead.served(10, shape, 20, 100, 500, read);
    await turn();
    const page = ahead.take(20, shape)!;
    expect(budget.inUse).toBe(0);
    reads[0]!.resolve({ value: 'late', bytes: 300 });
    expect((await page)!.value).toBe('late');
    expect(budget.inUse).toBe(0);
  });

  it('a failed read ahead resolves undefined (the reader reads as usual) and frees its budget', async () => {
    const { ahead, reads, read, budget, unused } = setUp();
    ahead.served(0, shape, 10, 100, 500, read);
    ahead.served(10, shape, 20, 100, 500, read);
    await turn();
    reads[0]!.reject(new Error('segment gone'));
    await turn();
    expect(budget.inUse).toBe(0);
    expect(unused()).toBe(1);
    expect(ahead.take(20, shape)).toBeUndefined();
  });

  it('drops an unused page after the idle time, and on clear', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { ahead, reads, read, budget, unused } = setUp();
    ahead.served(0, shape, 10, 100, 500, read);
    ahead.served(10, shape, 20, 100, 500, read);
    await turn();
    reads[0]!.resolve({ value: 'p', bytes: 300 });
    await turn();
    vi.advanceTimersByTime(49);
    expect(budget.inUse).toBe(300);
    vi.advanceTimersByTime(1);
    expect(budget.inUse).toBe(0);
    expect(unused()).toBe(1);
    expect(ahead.take(20, shape)).toBeUndefined();

    ahead.served(20, shape, 30, 100, 500, read);
    await turn();
    expect(budget.inUse).toBe(500);
    ahead.clear();
    expect(budget.inUse).toBe(0);
    expect(unused()).toBe(2);
    // Its read finishing later holds nothing.
    reads[1]!.resolve({ value: 'q', bytes: 300 });
    await turn();
    expect(budget.inUse).toBe(0);
  });

  it('reads nothing ahead past the budget, and drops a page bigger than its estimate that does not fit', async () => {
    const { ahead, reads, read, budget, unused } = setUp(1000);
    const other = new ReadAhead<string>(budget, () => undefined, 50);
    ahead.served(0, shape, 10, 100, 800, read);
    ahead.served(10, shape, 20, 100, 800, read);
    other.served(0, shape, 10, 100, 800, read);
    other.served(10, shape, 20, 100, 800, read); // 800 more do not fit
    await turn();
    expect(reads).toHaveLength(1);
    reads[0]!.resolve({ value: 'p', bytes: 1200 }); // over the whole budget
    await turn();
    expect(budget.inUse).toBe(0);
    expect(unused()).toBe(1);
  });

  it('a reader elsewhere on the partition leaves the page alone', async () => {
    const { ahead, reads, read } = setUp();
    ahead.served(0, shape, 10, 100, 500, read);
    ahead.served(10, shape, 20, 100, 500, read);
    await turn();
    reads[0]!.resolve({ value: 'p', bytes: 300 });
    expect(ahead.take(50, shape)).toBeUndefined();
    ahead.served(50, shape, 60, 100, 500, read); // not a continuation: reads nothing ahead
    await turn();
    expect(reads).toHaveLength(1);
    expect((await ahead.take(20, shape))!.value).toBe('p');
  });
});
