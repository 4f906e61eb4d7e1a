// Unit tests of the cross-node idempotency lock on Postgres (DATABASE_URL): one holder per scope,
// release when a holder's connection dies, and the wait after a holder that died mid-append.
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { openMigratedTestDb, usingPostgres } from '../../test/support/database.js';
import { createPostgresIdempotencyLock, lockKey, type IdempotencyLock } from './idempotency-lock.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A migrated database of its own (the suite runs only on Postgres: DATABASE_URL). */
const database = async (): Promise<string> => (await openMigratedTestDb()).url!;

function lock(url: string, inFlightGraceMs = 10_000, staleMarkerMs?: number): IdempotencyLock {
  const l = createPostgresIdempotencyLock(url, {
    maxConnections: 4,
    connectTimeoutMs: 5000,
    lockTimeoutMs: 30_000,
    inFlightGraceMs,
    ...(staleMarkerMs !== undefined ? { staleMarkerMs } : {}),
  });
  cleanups.push(() => l.close());
  return l;
}

describe.skipIf(!usingPostgres())('Postgres idempotency lock', () => {
  it('runs one holder of a scope at a time, across lock instances (nodes); other scopes run alongside', async () => {
    const url = await database();
    const [a, b] = [lock(url), lock(url)];
    const topic = randomUUID();
    let releaseA!: () => void;
    const aHolds = new Promise<void>((r) => (releaseA = r));
    let aStarted!: () => void;
    const started = new Promise<void>((r) => (aStarted = r));
    const order: string[] = [];
    const first = a.run(topic, 'key k', async () => {
      aStarted();
      await aHolds;
      order.push('a');
      return 1;
    });
    await started;
    const second = b.run(topic, 'key k', async () => {
      order.push('b');
      return 2;
    });
    // Another scope is not held up by the first.
    expect(await b.run(topic, 'key other', async () => 3)).toEqual({ ok: true, value: 3 });
    await new Promise((r) => setTimeout(r, 300));
    expect(order).toEqual([]);
    releaseA();
    expect(await first).toEqual({ ok: true, value: 1 });
    expect(await second).toEqual({ ok: true, value: 2 });
    expect(order).toEqual(['a', 'b']);
  }, 30_000);

  it('after a holder died mid-append (marker left, lock gone), the next holder waits out the grace', async () => {
    const url = await database();
    const graceMs = 1500;
    const l = lock(url, graceMs);
    const topic = randomUUID();
    // A finished request leaves no marker: the next one does not wait.
    await l.run(topic, 'key k', async () => undefined);
    const t = Date.now();
    await l.run(topic, 'key k', async () => undefined);
    expect(Date.now() - t).toBeLessThan(graceMs);

    // A node that took the lock, marked its append in flight and died: its connection ends.
    const dead = postgres(url, { max: 1, onnotice: () => {} });
    const key = lockKey(topic, 'key k').toString();
    await dead.unsafe(`begin; select pg_advisory_xact_lock(${key});`);
    const marker = postgres(url, { max: 1, onnotice: () => {} });
    cleanups.push(() => marker.end({ timeout: 1 }));
    // The grace counts from the marker's started_at (the database's clock, the same machine's).
    const [{ startedAtMs }] = await marker<[{ startedAtMs: number }]>`
      insert into idempotency_inflight (lock_key, started_at) values (${key}::bigint, now())
      returning (extract(epoch from started_at) * 1000)::float8 as "startedAtMs"`;
    const next = l.run(topic, 'key k', async () => Date.now());
    await new Promise((r) => setTimeout(r, 200));
    await dead.end({ timeout: 0 });
    const ran = await next;
    expect(ran.ok).toBe(true);
    // Not before the grace has run out since the marker was left (a few ms for timer rounding).
    expect((ran.ok ? ran.value : 0) - startedAtMs).toBeGreaterThanOrEqual(graceMs - 5);
  }, 30_000);

  it('removes markers left long ago by holders that died (keys never used again); recent ones stay', async () => {
    const url = await database();
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    cleanups.push(() => sql.end({ timeout: 1 }));
    const stale = lockKey(randomUUID(), 'key old').toString();
    const recent = lockKey(randomUUID(), 'key new').toString();
    await sql`insert into idempotency_inflight (lock_key, started_at) values
      (${stale}::bigint, now() - interval '2 hours'), (${recent}::bigint, now() - interval '5 seconds')`;
    const l = lock(url, 1000, 60 * 60_000);
    expect((await l.run(randomUUID(), 'key other', async () => 1)).ok).toBe(true);
    const left = async () =>
      (await sql<Array<{ k: string }>>`select lock_key::text as k from idempotency_inflight order by lock_key`).map(
        (r) => r.k,
      );
    const deadline = Date.now() + 10_000;
    while ((await left()).includes(stale) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await left()).toEqual([recent]);
  });

  it('refuses (without running the request) when PostgreSQL cannot be reached', async () => {
    const l = lock('postgres://postgres:postgres@127.0.0.1:1/none');
    let ran = false;
    const r = await l.run(randomUUID(), 'key k', async () => (ran = true));
    expect(r.ok).toBe(false);
    expect(ran).toBe(false);
  }, 30_000);
});
