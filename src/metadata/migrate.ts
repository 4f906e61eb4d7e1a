// Applies the drizzle-kit migrations in migrations/ inside one transaction holding a
// Postgres advisory lock, so concurrent starts never race; same code on both drivers.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { MetadataDb } from './connection.js';

/** Arbitrary but fixed: every Sluice process contends on this key while migrating. */
const MIGRATION_LOCK_KEY = 0x51_75_1c_e0;

/** migrations/ at the package root, from src/metadata or dist/metadata alike. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

export interface Migration {
  tag: string;
  hash: string;
  statements: string[];
}

interface Journal {
  entries: Array<{ idx: number; tag: string }>;
}

/** Read drizzle-kit's journal and SQL files, in order. */
export async function readMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const journal = JSON.parse(await fs.readFile(path.join(dir, 'meta', '_journal.json'), 'utf8')) as Journal;
  const entries = [...journal.entries].sort((a, b) => a.idx - b.idx);
  return Promise.all(
    entries.map(async ({ tag }) => {
      const text = await fs.readFile(path.join(dir, `${tag}.sql`), 'utf8');
      return {
        tag,
        hash: createHash('sha256').update(text).digest('hex'),
        statements: text
          .split('--> statement-breakpoint')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      };
    }),
  );
}

export interface MigrationReport {
  applied: string[];
  alreadyApplied: number;
}

/**
 * Apply every migration not yet recorded in `sluice_migrations`. All pending migrations
 * run in one transaction, so a failure leaves the schema as it was. An applied migration
 * whose file changed since is refused: migrations are append-only.
 */
export async function migrate(db: MetadataDb, dir: string = MIGRATIONS_DIR): Promise<MigrationReport> {
  const migrations = await readMigrations(dir);
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
    await tx.execute(sql`
      create table if not exists sluice_migrations (
        tag text primary key,
        hash text not null,
        applied_at timestamptz not null default now()
      )`);
    const rows = (await tx.execute(sql`select tag, hash from sluice_migrations`)) as unknown;
    const applied = new Map(resultRows<{ tag: string; hash: string }>(rows).map((r) => [r.tag, r.hash]));
    const known = new Set(migrations.map((m) => m.tag));
    for (const tag of applied.keys()) {
      if (!known.has(tag)) {
        throw new Error(`database has migration ${tag} that this version of Sluice does not know; refusing to start`);
      }
    }
    const report: MigrationReport = { applied: [], alreadyApplied: 0 };
    for (const m of migrations) {
      const hash = applied.get(m.tag);
      if (hash !== undefined) {
        if (hash !== m.hash) {
          throw new Error(`migration ${m.tag} was edited after it was applied; migrations are append-only`);
        }
        report.alreadyApplied++;
        continue;
      }
      for (const statement of m.statements) await tx.execute(sql.raw(statement));
      await tx.execute(sql`insert into sluice_migrations (tag, hash) values (${m.tag}, ${m.hash})`);
      report.applied.push(m.tag);
    }
    return report;
  });
}

/** postgres.js returns an array of rows, PGlite an object with `rows`. */
export function resultRows<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
