// Drizzle table for API keys: name, grants and the SHA-256 of the secret (never the secret
// itself). Revoked keys stay as rows so that auto mode never reopens once a key was made.
import { bigint, jsonb, pgTable, text, uuid } from 'drizzle-orm/pg-core';

export interface StoredGrant {
  resource: string;
  name: string;
  pattern: string;
  actions: string[];
}

/** Per-key quota overrides (absent field: the SLUICE_KEY_* default; 0 bytes/s: no quota). */
export interface StoredQuotas {
  produce_bytes_per_sec?: number;
  read_bytes_per_sec?: number;
  max_streams?: number;
}

export const apiKeys = pgTable('api_keys', {
  id: uuid('id').primaryKey(),
  name: text('name').notNull(),
  /** Hex SHA-256 of the secret (keys are 256-bit random, so a fast hash is right). */
  secretHash: text('secret_hash').notNull().unique(),
  grants: jsonb('grants').$type<StoredGrant[]>().notNull(),
  /** Id of the key that created this one (`admin`, or null when created anonymously). */
  createdBy: text('created_by'),
  /** Unix ms. */
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  expiresAt: bigint('expires_at', { mode: 'number' }),
  revokedAt: bigint('revoked_at', { mode: 'number' }),
  /** Overrides of the SLUICE_KEY_* quotas for this key; null: the defaults. */
  quotas: jsonb('quotas').$type<StoredQuotas>(),
});

export type ApiKeyRow = typeof apiKeys.$inferSelect;
