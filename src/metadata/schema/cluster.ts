// Drizzle schema for the cluster identity: one row naming this metadata database, matched
// against DATA_DIR/cluster-id at start so log data is never paired with the wrong database.
import { bigint, pgTable, text, uuid } from 'drizzle-orm/pg-core';

export const cluster = pgTable('cluster', {
  id: uuid('id').primaryKey(),
  /** Unix ms. */
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  /**
   * The browser-token signing key of a cluster whose nodes keep no shared DATA_DIR (the Kafka
   * store) and have no SLUICE_TOKEN_SECRET: made by the first node that needs it.
   */
  tokenSecret: text('token_secret'),
});
