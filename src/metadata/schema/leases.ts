// Drizzle schema for node leases: one row per singleton background worker (a webhook, the queue sweeper), held by
// one Sluice node at a time until `expires_at` (the database's clock), with a fencing epoch.
import { bigint, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

export const leases = pgTable('leases', {
  /** What is owned, e.g. `webhook:<id>`. */
  name: text('name').primaryKey(),
  /** The holding node's id (random per process). */
  holder: text('holder').notNull(),
  /** Bumped on every change of holder: a stale holder's writes carry an old epoch and are refused. */
  epoch: bigint('epoch', { mode: 'number' }).notNull(),
  /** Compared with the database's now(), never a node's clock. */
  expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
});

export type LeaseRow = typeof leases.$inferSelect;
