// Drizzle schema for the cluster identity: one row naming this metadata database, matched
// against DATA_DIR/cluster-id at start so log data is never paired with the wrong database.
import { bigint, pgTable, uuid } from 'drizzle-orm/pg-core';

export const cluster = pgTable('cluster', {
  id: uuid('id').primaryKey(),
  /** Unix ms. */
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
});
