// Unit tests of node leases on PGlite or Postgres (DATABASE_URL): one holder at a time, renewal,
// expiry by the database clock, release for an immediate takeover, and fencing by epoch.
import { describe, expect, it } from 'vitest';
import { openMigratedTestDb } from '../../test/support/database.js';
import { Leases } from './leases.js';

describe('leases', () => {
  it('has one holder at a time; the holder renews, a release lets the other in at once', async () => {
    const { db } = await openMigratedTestDb();
    const a = new Leases(db, { ttlMs: 60_000, exclusive: false });
    const b = new Leases(db, { ttlMs: 60_000, exclusive: false });
    const [ra, rb] = await Promise.all([a.acquire('w'), b.acquire('w')]);
    expect([ra, rb].filter((r) => r !== undefined)).toHaveLength(1); // a race has one winner
    const [winner, loser] = ra ? [a, b] : [b, a];
    const held = (ra ?? rb)!;
    expect(await winner.acquire('w')).toEqual(held); // renewal keeps the epoch
    expect(await loser.acquire('w')).toBeUndefined();
    expect((await loser.holders('')).get('w')).toBe(winner.nodeId);

    await winner.release('w');
    const taken = await loser.acquire('w');
    expect(taken?.epoch).toBe(held.epoch + 1);
    expect(await winner.acquire('w')).toBeUndefined();
  });

  it('expires by the database clock and fences the stale holder by epoch', async () => {
    const { db } = await openMigratedTestDb();
    const a = new Leases(db, { ttlMs: 200, exclusive: false });
    const b = new Leases(db, { ttlMs: 60_000, exclusive: false });
    const held = (await a.acquire('w'))!;
    expect(await b.acquire('w')).toBeUndefined();
    const deadline = Date.now() + 10_000;
    let taken;
    while (!(taken = await b.acquire('w'))) {
      if (Date.now() > deadline) throw new Error('the lease never expired');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(taken.epoch).toBe(held.epoch + 1);
    expect(await db.transaction((tx) => a.holds(tx, held))).toBe(false);
    expect(await db.transaction((tx) => b.holds(tx, taken))).toBe(true);
    expect(await a.acquire('w')).toBeUndefined(); // b's lease is unexpired
  });

  it('takes every lease at once when the node is the only one (a restart does not wait)', async () => {
    const { db } = await openMigratedTestDb();
    const before = new Leases(db, { ttlMs: 60_000, exclusive: true });
    const held = (await before.acquire('w'))!;
    const after = new Leases(db, { ttlMs: 60_000, exclusive: true });
    expect((await after.acquire('w'))?.epoch).toBe(held.epoch + 1);
    expect(await db.transaction((tx) => before.holds(tx, held))).toBe(false);
  });
});
