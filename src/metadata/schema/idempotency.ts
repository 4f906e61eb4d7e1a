// Drizzle schema for idempotent produce across nodes: a row per lock key while a node is
// appending under it, so the next holder knows an append may still be in flight after a crash.
import { bigint, pgTable, timestamp } from 'drizzle-orm/pg-core';

export const idempotencyInflight = pgTable('idempotency_inflight', {
  /** The advisory lock key of (topic id, Idempotency-Key or Producer-Id). */
  lockKey: bigint('lock_key', { mode: 'bigint' }).primaryKey(),
  /** When the holder began its append (the database's clock). */
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
});
