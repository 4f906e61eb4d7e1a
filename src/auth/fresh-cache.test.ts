// FreshCache.peek(): answers without waiting exactly when get() would, and refreshes the same way.
import { describe, expect, it } from 'vitest';
import { FreshCache, NOT_READY } from './fresh-cache.js';

describe('FreshCache.peek', () => {
  it('answers like get() while the value is young, refreshes past half its age, and waits for nothing older', async () => {
    let now = 0;
    let loads = 0;
    const cache = new FreshCache<number>({ load: async () => ++loads, maxAgeMs: 1000, maxEntries: 10, now: () => now });
    expect(cache.peek('k')).toBe(NOT_READY);
    expect(loads).toBe(0); // a miss starts no load: the caller's get() does
    expect(await cache.get('k')).toBe(1);
    now = 400;
    expect(cache.peek('k')).toBe(1);
    expect(loads).toBe(1);
    now = 600; // past half the age: served, and refreshed in the background like get()
    expect(cache.peek('k')).toBe(1);
    expect(loads).toBe(2);
    await new Promise((r) => setImmediate(r));
    expect(cache.peek('k')).toBe(2);
    now = 600 + 1000; // too old to serve without the source
    expect(cache.peek('k')).toBe(NOT_READY);
  });
});
