// A fresh metadata database per test server: with DATABASE_URL set, a new Postgres
// database with a random name (dropped afterwards); otherwise embedded PGlite under DATA_DIR.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

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
