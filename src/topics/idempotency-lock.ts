// Serialises idempotent produce requests across Sluice nodes that share a log (Kafka) and one
// Postgres: a transaction-scoped advisory lock per (topic, Idempotency-Key or Producer-Id).
import { createHash } from 'node:crypto';
import postgres from 'postgres';
import { err, ok, type Result } from '../lib/result.js';

/** Runs a request's decide-and-append while no other node runs one for the same topic and scope. */
export interface IdempotencyLock {
  /**
   * Runs `fn` holding the lock of (topicId, scope). Fails (without running `fn`) when the lock
   * cannot be taken; what `fn` throws is rethrown. Once `fn` has run its result is returned,
   * even if releasing the lock failed (a lost connection releases it anyway).
   */
  run<T>(topicId: string, scope: string, fn: () => Promise<T>): Promise<Result<T, { reason: string }>>;
  close(): Promise<void>;
}

/** The advisory lock key: 64 bits of SHA-256 (a collision only serialises two unrelated scopes). */
export function lockKey(topicId: string, scope: string): bigint {
  return createHash('sha256').update(topicId).update('\u0000').update(scope).digest().readBigInt64BE(0);
}

export interface PostgresIdempotencyLockOptions {
  /** Connections held by requests in flight (each holds one across its append). */
  maxConnections: number;
  connectTimeoutMs: number;
  /** Longest wait for a lock another node holds (Postgres lock_timeout). */
  lockTimeoutMs: number;
  /**
   * After a holder ended without clearing its in-flight marker (its process died, or lost
   * PostgreSQL, mid-append), how long from its start the next holder waits before deciding,
   * so an append still travelling to the broker has landed and is seen (default 10 s).
   */
  inFlightGraceMs?: number;
  /**
   * Markers older than this were left by holders that died and whose key was never used again:
   * removed (at most once a minute, by the next request) so the table does not grow with every
   * crash (default 10 min; far above any append's time in flight).
   */
  staleMarkerMs?: number;
}

/** How often a node sweeps stale markers, at most. */
const SWEEP_EVERY_MS = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The lock on its own connection pool, so requests holding a lock across a Kafka append never
 * starve group, queue and webhook queries of connections.
 */
export function createPostgresIdempotencyLock(url: string, o: PostgresIdempotencyLockOptions): IdempotencyLock {
  const sql = postgres(url, {
    max: o.maxConnections,
    connect_timeout: Math.max(1, Math.ceil(o.connectTimeoutMs / 1000)),
    idle_timeout: 60,
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.5),
    onnotice: () => {},
    connection: { application_name: 'sluice-idempotency', lock_timeout: o.lockTimeoutMs },
  });
  // The in-flight markers commit on their own (never inside the lock's transaction, whose
  // rollback on a crash would erase them), on a pool no lock holder ever waits for.
  const markers = postgres(url, {
    max: 2,
    connect_timeout: Math.max(1, Math.ceil(o.connectTimeoutMs / 1000)),
    idle_timeout: 60,
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.5),
    onnotice: () => {},
    connection: { application_name: 'sluice-idempotency-marker' },
  });
  const grace = o.inFlightGraceMs ?? 10_000;
  const staleSecs = Math.max(grace, o.staleMarkerMs ?? 600_000) / 1000;
  let lastSweep = 0;
  const sweep = () => {
    if (Date.now() - lastSweep < SWEEP_EVERY_MS) return;
    lastSweep = Date.now();
    void markers`delete from idempotency_inflight where started_at < now() - make_interval(secs => ${staleSecs})`.catch(
      () => (lastSweep = 0),
    );
  };
  return {
    async run<T>(topicId: string, scope: string, fn: () => Promise<T>): Promise<Result<T, { reason: string }>> {
      sweep();
      const key = lockKey(topicId, scope).toString();
      let outcome: { value: T } | { error: unknown } | undefined;
      try {
        await sql.begin(async (tx) => {
          await tx`select pg_advisory_xact_lock(${key}::bigint)`;
          // Mark the append as in flight; a marker already there is a holder that never finished.
          const [mark] = await markers<Array<{ prev_age_ms: number | null }>>`
            with prev as (select started_at from idempotency_inflight where lock_key = ${key}::bigint)
            insert into idempotency_inflight (lock_key, started_at) values (${key}::bigint, now())
            on conflict (lock_key) do update set started_at = now()
            returning (select extract(epoch from now() - started_at) * 1000 from prev)::float8 as prev_age_ms`;
          const age = mark?.prev_age_ms;
          if (age !== null && age !== undefined && age < grace) await sleep(grace - age);
          try {
            outcome = { value: await fn() };
          } catch (e) {
            outcome = { error: e };
          }
          // Finished (appended or not): the next holder need not wait. If this fails the marker
          // stays, and the next holder only waits out the grace.
          await markers`delete from idempotency_inflight where lock_key = ${key}::bigint`.catch(() => {});
        });
      } catch (e) {
        if (!outcome) return err({ reason: `could not take the idempotency lock in PostgreSQL (${errorText(e)})` });
      }
      if (!outcome) throw new Error('idempotency lock: the transaction ended without running the request');
      if ('error' in outcome) throw outcome.error;
      return ok(outcome.value);
    },
    close: async () => {
      await Promise.all([sql.end({ timeout: 5 }), markers.end({ timeout: 5 })]);
    },
  };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
