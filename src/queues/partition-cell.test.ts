// The batching writer of one queue partition, against an in-memory row with a version:
// group commit, compare-and-set conflicts, answers never resting on a stale cache.
import { describe, expect, it } from 'vitest';
import { PartitionCell, type CellStore, type Transition } from './partition-cell.js';
import { initialState, type PartitionState } from './partition-state.js';

/** A row in memory; `writes` counts UPDATEs, `loads` SELECTs; `gate` holds writes until released. */
class FakeRow implements CellStore {
  state: PartitionState = initialState(0);
  version = 1;
  loads = 0;
  writes = 0;
  fail: Error | undefined;
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.open?.();
    this.gate = undefined;
  }
  /** Another node writes the row. */
  external(state: PartitionState): void {
    this.state = state;
    this.version++;
  }

  async load(): Promise<{ state: PartitionState; version: string }> {
    this.loads++;
    if (this.fail) throw this.fail;
    return { state: this.state, version: String(this.version) };
  }
  async write(version: string, state: PartitionState): Promise<string | undefined> {
    this.writes++;
    await this.gate;
    if (this.fail) throw this.fail;
    if (version !== String(this.version)) return undefined;
    this.state = state;
    this.version++;
    return String(this.version);
  }
}

/** Grow the window by one record; answers the offset it took. */
const takeOne: Transition<number> = (s) => ({
  state: { ...s, endOffset: s.endOffset + 1 },
  value: s.endOffset,
  delivered: 1,
});
/** Change nothing; answers the window end it saw. */
const peek: Transition<number> = (s) => ({ state: s, value: s.endOffset });

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('PartitionCell', () => {
  it('fails a batch whose write goes unanswered, and the next batch builds on what that write did', async () => {
    const row = new FakeRow();
    const cell = new PartitionCell(row, () => 0, 50);
    row.hold();
    await expect(cell.run(takeOne)).rejects.toThrow(/no answer from the database within 50 ms/);
    // The cell is not stuck behind the write, which then commits after all.
    const next = cell.run(takeOne);
    await settle();
    row.release();
    expect((await next).value).toBe(1);
    expect(row.state.endOffset).toBe(2);
  });

  it('applies requests that arrive during a write in order, with one write for all of them', async () => {
    const row = new FakeRow();
    const cell = new PartitionCell(row, () => 0);
    row.hold();
    const first = cell.run(takeOne);
    await settle();
    expect(row.writes).toBe(1);
    const later = [cell.run(takeOne), cell.run(takeOne), cell.run(takeOne)];
    await settle();
    expect(cell.busy).toBe(true);
    row.release();
    expect((await first).value).toBe(0);
    expect((await Promise.all(later)).map((r) => r.value)).toEqual([1, 2, 3]);
    expect(row.writes).toBe(2);
    expect(row.state.endOffset).toBe(4);
  });

  it('answers nothing before its write has committed', async () => {
    const row = new FakeRow();
    const cell = new PartitionCell(row, () => 0);
    row.hold();
    let answered = false;
    const r = cell.run(takeOne).then(() => (answered = true));
    await settle();
    expect(answered).toBe(false);
    row.release();
    await r;
    expect(answered).toBe(true);
  });

  it('reloads and re-applies a batch when another writer moved the row', async () => {
    const row = new FakeRow();
    const cell = new PartitionCell(row, () => 0);
    expect((await cell.run(takeOne)).value).toBe(0);
    row.external({ startOffset: 0, endOffset: 10, ranges: [] });
    expect((await cell.run(takeOne)).value).toBe(10);
    expect(row.state.endOffset).toBe(11);
    expect(row.loads).toBe(2);
  });

  it('does not answer from its cache when nothing is written: it re-reads the row', async () => {
    const row = new FakeRow();
    const cell = new PartitionCell(row, () => 0);
    await cell.run(takeOne);
    row.external({ startOffset: 0, endOffset: 7, ranges: [] });
    expect((await cell.run(peek)).value).toBe(7);
    expect(row.writes).toBe(1);
  });

  it('rejects the whole batch when the store fails, and starts from a fresh read afterwards', async () => {
    const row = new FakeRow();
    const cell = new PartitionCell(row, () => 0);
    await cell.run(takeOne);
    row.fail = new Error('connection lost');
    await expect(cell.run(takeOne)).rejects.toThrow('connection lost');
    row.fail = undefined;
    const loads = row.loads;
    expect((await cell.run(takeOne)).value).toBe(1);
    expect(row.loads).toBe(loads + 1);
  });
});
