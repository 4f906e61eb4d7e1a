// Unit tests of the migrator: applies drizzle-kit's migrations once, refuses edited or
// unknown ones, and serialises concurrent starts with the advisory lock (real Postgres).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/support/database.js';
import { loadConfig } from '../config.js';
import { openMetadata, type MetadataConnection } from './connection.js';
import { MIGRATIONS_DIR, migrate, readMigrations, resultRows } from './migrate.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function connect(url?: string): Promise<MetadataConnection> {
  const conn = await openMetadata(loadConfig(url ? { DATABASE_URL: url } : { SLUICE_PGLITE_IN_MEMORY: 'true' }));
  cleanups.push(() => conn.close());
  return conn;
}

async function freshDatabaseUrl(): Promise<string | undefined> {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  return db.url;
}

describe('migrate', () => {
  it('applies every migration once, in journal order', async () => {
    const conn = await connect(await freshDatabaseUrl());
    const all = await readMigrations();
    expect(all[0]?.tag).toBe('0000_init');
    const first = await migrate(conn.db);
    expect(first.applied).toEqual(all.map((m) => m.tag));
    const second = await migrate(conn.db);
    expect(second).toEqual({ applied: [], alreadyApplied: all.length });
    const rows = resultRows<{ n: number }>(await conn.db.execute(sql`select count(*)::int as n from topics`));
    expect(rows[0]?.n).toBe(0);
  });

  it('refuses a migration edited after it was applied', async () => {
    const conn = await connect(await freshDatabaseUrl());
    await migrate(conn.db);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-migrations-'));
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    await fs.cp(MIGRATIONS_DIR, dir, { recursive: true });
    await fs.appendFile(path.join(dir, '0000_init.sql'), '\n-- edited\n');
    await expect(migrate(conn.db, dir)).rejects.toThrow(/0000_init was edited after it was applied/);
  });

  if (!process.env['DATABASE_URL']) {
    console.warn('SKIPPED concurrent migration test: needs a real PostgreSQL (set DATABASE_URL)');
  }
  it.skipIf(!process.env['DATABASE_URL'])('lets concurrent starts migrate one at a time (advisory lock)', async () => {
    const url = await freshDatabaseUrl();
    const conns = await Promise.all([connect(url), connect(url), connect(url)]);
    const reports = await Promise.all(conns.map((c) => migrate(c.db)));
    const total = (await readMigrations()).length;
    expect(reports.filter((r) => r.applied.length === total)).toHaveLength(1);
    expect(reports.filter((r) => r.alreadyApplied === total)).toHaveLength(2);
  });
});
