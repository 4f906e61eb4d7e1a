// Unit tests of GroupSignals: a change notified before a waiter subscribed is never missed, and
// what it keeps does not grow with the number of groups ever notified.
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { GroupSignals } from './group-signals.js';

describe('GroupSignals', () => {
  it('wakes the waiters of the group notified, once, and not those of other groups', () => {
    const s = new GroupSignals();
    const woke: string[] = [];
    s.once('a', () => woke.push('a1'));
    s.once('a', () => woke.push('a2'));
    const offB = s.once('b', () => woke.push('b'));
    s.notify('a');
    s.notify('a');
    expect(woke).toEqual(['a1', 'a2']);
    offB();
    s.notify('b');
    expect(woke).toEqual(['a1', 'a2']);
  });

  it('a notify between reading the version and subscribing shows as a changed version', () => {
    const s = new GroupSignals();
    for (const group of ['g', 'orders-readers', 'x'.repeat(300)]) {
      const seen = s.version(group);
      s.notify(group);
      expect(s.version(group)).not.toBe(seen);
      const again = s.version(group);
      expect(s.version(group)).toBe(again);
    }
  });

  it('keeps nothing per group: notifying 300k distinct groups leaves the heap where it was', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const s = new GroupSignals();
    s.notify('warm-up');
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 300_000; i++) s.notify(`group-${i}-${'p'.repeat(24)}`);
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(grown).toBeLessThan(4 * 1024 * 1024);
    expect(s.version('group-7-' + 'p'.repeat(24))).toBeGreaterThan(0);
  });
});
