// Opens the metadata database: postgres.js when DATABASE_URL is set, embedded PGlite
// (on disk under DATA_DIR/meta, or in memory for tests) otherwise. Both give one drizzle type.
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { Config } from '../config.js';
import * as schema from './schema.js';

/** The drizzle handle every repository takes: identical API on both drivers. */
export type MetadataDb = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface MetadataConnection {
  readonly kind: 'postgres' | 'pglite';
  readonly db: MetadataDb;
  /** Resolve if the database answers `select 1` within timeoutMs; throw otherwise. */
  ping(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** Called with notices/warnings the driver would otherwise print. */
  onNotice?: (message: string) => void;
  /** Called once with a problem of the installation the operator should fix. */
  onWarning?: (message: string) => void;
}

export async function openMetadata(config: Config, options: ConnectOptions = {}): Promise<MetadataConnection> {
  if (config.database.kind === 'postgres') {
    if (!(await postgresClientGuarded())) {
      options.onWarning?.(
        'the installed postgres.js lacks the fix in patches/postgres+3.4.9.patch (was `npm ci` run with --ignore-scripts?): ' +
          'a Postgres connection dying under a transaction can crash this process. Run `npm rebuild` or `npx patch-package`.',
      );
    }
    const client = postgres(config.database.url, {
      max: config.dbPoolMax,
      connect_timeout: Math.max(1, Math.ceil(config.dbConnectTimeoutMs / 1000)),
      idle_timeout: 60,
      // postgres.js's default reconnect backoff grows to 20 s and queries wait it out: cap it so an outage answers 503 fast and recovery is prompt.
      backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.5),
      onnotice: (n) => options.onNotice?.(String(n['message'] ?? '')),
    });
    const db = drizzlePostgres({ client, schema }) as unknown as MetadataDb;
    return {
      kind: 'postgres',
      db,
      ping: (timeoutMs) =>
        withTimeout(
          client`select 1`.then(() => undefined),
          timeoutMs,
        ),
      close: () => client.end({ timeout: 5 }),
    };
  }
  const dir = config.database.dataDir;
  if (dir !== null) await fs.mkdir(dir, { recursive: true });
  const client = dir === null ? new PGlite() : new PGlite(dir);
  await client.waitReady;
  const db = drizzlePglite({ client, schema }) as unknown as MetadataDb;
  return {
    kind: 'pglite',
    db,
    ping: (timeoutMs) =>
      withTimeout(
        db.execute(sql`select 1`).then(() => undefined),
        timeoutMs,
      ),
    close: () => client.close(),
  };
}

/**
 * True when the installed postgres.js carries the guard `npm ci` applies from
 * patches/postgres+3.4.9.patch: 3.4.9 throws an uncaught TypeError from a setImmediate when a
 * write is queued on a connection whose socket has closed (porsager/postgres#1208).
 */
export async function postgresClientGuarded(): Promise<boolean> {
  const cjsEntry = createRequire(import.meta.url).resolve('postgres');
  const root = path.resolve(path.dirname(cjsEntry), '../..');
  const sources = await Promise.all(
    ['src', 'cjs/src'].map((dir) => fs.readFile(path.join(root, dir, 'connection.js'), 'utf8')),
  );
  return sources.every((text) => /function nextWrite\(fn\) \{[^}]*if \(!socket\) \{/.test(text));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the database within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
