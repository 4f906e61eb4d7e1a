// The queue sweeper's worker lease: held across ticks without a write on every tick.
import { eq } from 'drizzle-orm';
import { expect, it } from 'vitest';
import { workerLeases } from '../metadata/schema.js';
import { openMigratedTestDb } from '../../test/support/database.js';
import type { Db } from './queue-repository.js';
import { QueueSweeper } from './queue-sweeper.js';
import type { QueuesService } from './queues-service.js';

const silent = { warn: () => {} };

async function expiry(db: Db): Promise<number | undefined> {
  const [row] = await db.select().from(workerLeases).where(eq(workerLeases.name, 'queue-sweeper'));
  return row?.expiresAt;
}

it('renews its lease when half of it has run out, not on every tick, and another node waits for it', async () => {
  const { db } = await openMigratedTestDb();
  let now = 1_000_000;
  const clock = () => now;
  const queues = {} as QueuesService; // no queue partitions are due: never called
  const mine = new QueueSweeper({ db, queues, intervalMs: 250, logger: silent, clock });
  const other = new QueueSweeper({ db, queues, intervalMs: 250, logger: silent, clock });
  const ttl = 5_000; // max(5 s, 10 ticks)

  await mine.sweepOnce();
  expect(await expiry(db)).toBe(now + ttl);
  const renewals = new Set<number>();
  for (let tick = 0; tick < 40; tick++) {
    now += 250;
    await mine.sweepOnce();
    renewals.add((await expiry(db))!);
    // The lease never runs out while its holder sweeps, so the other node never takes it.
    await other.sweepOnce();
    const [row] = await db.select().from(workerLeases).where(eq(workerLeases.name, 'queue-sweeper'));
    expect(row!.holder).toBe(mine.holder);
    expect(row!.expiresAt).toBeGreaterThan(now);
  }
  // 10 s of ticks: renewed every 2.5 s, not 40 times.
  expect(renewals.size).toBeLessThanOrEqual(5);
  expect(renewals.size).toBeGreaterThanOrEqual(3);

  // Its holder stops: the other node takes the lease once it has expired.
  now += ttl + 1;
  await other.sweepOnce();
  const [row] = await db.select().from(workerLeases).where(eq(workerLeases.name, 'queue-sweeper'));
  expect(row!.holder).toBe(other.holder);
});
