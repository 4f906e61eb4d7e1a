// The Postgres client survives a backend that dies under a transaction (real Postgres only).
// postgres.js 3.4.9 scheduled the transaction's own ROLLBACK on a socket it had already dropped
// and threw from a setImmediate callback: an uncaught TypeError that took the whole process down
// (upstream porsager/postgres#1208). `patches/postgres+3.4.9.patch`, applied by `npm ci`,
// settles that write with CONNECTION_CLOSED instead, and lets end() finish on a connection
// that closed under a query (it waited forever: Sluice's shutdown waited out its 5 s timeout).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/support/database.js';
import { loadConfig } from '../config.js';
import { openMetadata, postgresClientGuarded } from './connection.js';
import { resultRows } from './migrate.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const usingPostgres = Boolean(process.env['DATABASE_URL']);

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function freshUrl(): Promise<string> {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  if (!db.url) throw new Error('createTestDatabase gave no URL with DATABASE_URL set');
  return db.url;
}

// Runs in a child process so that an uncaught exception shows as its exit code, not as
// vitest's own failure; it imports `postgres` exactly as the server does.
const RACE = `
import postgres from 'postgres';
const url = process.env.RACE_URL;
const client = postgres(url, { max: 2, onnotice() {} });
const killer = postgres(url, { max: 1, onnotice() {} });
let pid = null;
const outcome = client
  .begin(async (t) => {
    const [row] = await t\`select pg_backend_pid() as pid\`;
    pid = row.pid;
    await t\`select pg_sleep(30)\`;
  })
  .then(() => 'committed', (e) => String(e.code ?? e.message));
while (pid === null) await new Promise((r) => setTimeout(r, 10));
await killer\`select pg_terminate_backend(\${pid})\`;
const settled = await outcome;
const [after] = await client\`select 41 + 1 as answer\`;
console.log(JSON.stringify({ outcome: settled, answer: after.answer }));
// No timeout: a closed connection still holding its failed query kept end() waiting forever.
await client.end();
await killer.end();
console.log('ended');
`;

function runRace(url: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', RACE], {
      cwd: ROOT,
      env: { ...process.env, RACE_URL: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

it('npm ci installs postgres.js with the guard from patches/ (the postinstall step ran)', async () => {
  expect(await postgresClientGuarded()).toBe(true);
});

describe.skipIf(!usingPostgres)('the Postgres client when a backend dies (DATABASE_URL only)', () => {
  it('a transaction whose backend is terminated rejects with CONNECTION_CLOSED; the process lives on and the pool answers', async () => {
    const url = await freshUrl();
    for (let round = 0; round < 3; round++) {
      const { code, stdout, stderr } = await runRace(url);
      expect(stderr, `round ${round}`).not.toMatch(/TypeError/);
      expect(code, `round ${round}: ${stderr}`).toBe(0);
      const lines = stdout.trim().split('\n');
      expect(lines.at(-1)).toBe('ended');
      expect(JSON.parse(lines.at(-2) ?? '')).toEqual({
        outcome: expect.stringMatching(/CONNECTION_CLOSED|57P01/),
        answer: 42,
      });
    }
  });

  it('through the metadata connection: the failed transaction is an error to its caller and the next statements succeed', async () => {
    const url = await freshUrl();
    const conn = await openMetadata(loadConfig({ DATABASE_URL: url, SLUICE_DB_POOL_MAX: '2' }));
    cleanups.push(() => conn.close());
    const killerConn = await openMetadata(loadConfig({ DATABASE_URL: url, SLUICE_DB_POOL_MAX: '1' }));
    cleanups.push(() => killerConn.close());

    let pid: number | null = null;
    const tx = conn.db.transaction(async (t) => {
      pid = resultRows<{ pid: number }>(await t.execute(sql`select pg_backend_pid() as pid`))[0]?.pid ?? null;
      await t.execute(sql`select pg_sleep(30)`);
    });
    const settled = tx.then(
      () => 'committed',
      (e: unknown) =>
        String((e as { code?: string; cause?: { code?: string } }).cause?.code ?? (e as { code?: string }).code ?? e),
    );
    const deadline = Date.now() + 10_000;
    while (pid === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(pid).not.toBeNull();
    await killerConn.db.execute(sql`select pg_terminate_backend(${pid})`);
    expect(await settled).toMatch(/CONNECTION_CLOSED|57P01/);
    for (let i = 0; i < 4; i++) {
      const rows = resultRows<{ n: number }>(await conn.db.execute(sql`select ${i}::int as n`));
      expect(rows[0]?.n).toBe(i);
    }
    await conn.ping(5_000);
    // close() gives busy connections 5 s; none is busy, so it must not wait for that timeout.
    const started = performance.now();
    await conn.close();
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
