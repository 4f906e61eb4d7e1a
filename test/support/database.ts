// A fresh metadata database per test server: with DATABASE_URL set, a new Postgres
// database with a random name (dropped afterwards); otherwise embedded PGlite under DATA_DIR.
// For unit tests, the same opened and migrated (in-memory PGlite without DATABASE_URL).
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { onTestFinished } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openMetadata, type MetadataDb } from '../../src/metadata/connection.js';
import { migrate } from '../../src/metadata/migrate.js';

export interface TestDatabase {
  /** DATABASE_URL for the server, or undefined for embedded PGlite. */
  readonly url: string | undefined;
  drop(): Promise<void>;
}

/** Whether tests run against a real Postgres (DATABASE_URL set) rather than PGlite. */
export const usingPostgres = (): boolean => Boolean(process.env['DATABASE_URL']);

export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = process.env['DATABASE_URL'];
  if (!adminUrl) return { url: undefined, drop: async () => {} };
  const name = `sluice_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}

export interface MigratedTestDb {
  readonly db: MetadataDb;
  /** The database's DATABASE_URL, or undefined for in-memory PGlite. */
  readonly url: string | undefined;
}

/**
 * A fresh database with every migration applied, open for the current test: a new Postgres
 * database when DATABASE_URL is set, in-memory PGlite otherwise. Closed and dropped when the
 * test finishes (after its afterEach hooks, so whatever uses it has stopped by then).
 */
export async function openMigratedTestDb(): Promise<MigratedTestDb> {
  const test = await createTestDatabase();
  onTestFinished(() => test.drop()); // these run last registered first: closed, then dropped
  const conn = await openMetadata(
    loadConfig(test.url ? { DATABASE_URL: test.url } : { SLUICE_PGLITE_IN_MEMORY: 'true' }),
  );
  onTestFinished(() => conn.close());
  await migrate(conn.db);
  return { db: conn.db, url: test.url };
}
