// The queue sweeper's lease: held across ticks without a write on every tick.
import { eq, sql } from 'drizzle-orm';
import { expect, it } from 'vitest';
import { Leases } from '../cluster/leases.js';
import { leases } from '../metadata/schema.js';
import { openMigratedTestDb } from '../../test/support/database.js';
import type { Db } from './queue-repository.js';
import { QUEUE_SWEEPER_LEASE, QueueSweeper } from './queue-sweeper.js';
import type { QueuesService } from './queues-service.js';

const silent = { warn: () => {} };

/** The sweeper's lease row, and whether it is unexpired by the database's clock. */
async function lease(db: Db) {
  const [row] = await db
    .select({
      holder: leases.holder,
      epoch: leases.epoch,
      expiresAt: leases.expiresAt,
      live: sql<boolean>`${leases.expiresAt} > now()`,
    })
    .from(leases)
    .where(eq(leases.name, QUEUE_SWEEPER_LEASE));
  return row!;
}

it('renews its lease when half of it has run out, not on every tick, and another node waits for it', async () => {
  const { db } = await openMigratedTestDb();
  const queues = {} as QueuesService; // no queue partitions are due: never called
  const ttlMs = 5_000;
  const mineLeases = new Leases(db, { ttlMs, exclusive: false });
  const otherLeases = new Leases(db, { ttlMs, exclusive: false });
  const mine = new QueueSweeper({ db, queues, leases: mineLeases, intervalMs: 250, logger: silent });
  const other = new QueueSweeper({ db, queues, leases: otherLeases, intervalMs: 250, logger: silent });

  await mine.sweepOnce();
  expect((await lease(db)).holder).toBe(mineLeases.nodeId);
  const renewals = new Set<number>();
  // 10 s of ticks every 250 ms, in real time: the lease expires by the database's clock.
  const start = Date.now();
  while (Date.now() - start < 10_000) {
    await new Promise((r) => setTimeout(r, 250));
    await mine.sweepOnce();
    const row = await lease(db);
    renewals.add(row.expiresAt.getTime());
    // The lease never runs out while its holder sweeps, so the other node never takes it.
    await other.sweepOnce();
    const after = await lease(db);
    expect(after.holder).toBe(mineLeases.nodeId);
    expect(after.live).toBe(true);
  }
  // 10 s of ticks: renewed every 2.5 s, not 40 times.
  expect(renewals.size).toBeLessThanOrEqual(5);
  expect(renewals.size).toBeGreaterThanOrEqual(3);

  // Its holder stops sweeping (without handing the lease back): the other node takes the lease
  // once it has expired by the database's clock, and not before.
  const last = await lease(db);
  const deadline = Date.now() + ttlMs + 15_000;
  let taken;
  while ((taken = await lease(db)).holder !== otherLeases.nodeId) {
    if (Date.now() > deadline) throw new Error('the other node never took the lease');
    await other.sweepOnce();
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(taken.epoch).toBe(last.epoch + 1);
  // Taken at the database's now() = its new expiry less the lease time: after the old one expired.
  expect(taken.expiresAt.getTime() - ttlMs).toBeGreaterThanOrEqual(last.expiresAt.getTime());
}, 120_000); // real time: 10 s of ticks and a lease running out, on a loaded machine
