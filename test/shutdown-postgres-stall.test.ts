// Shutdown with a real Postgres that stopped answering: the services' database work at close
// (sweepers, lease releases) is bounded by SLUICE_SHUTDOWN_TIMEOUT_MS like the drain before it,
// and the log is still closed cleanly, so the next start trusts it.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLEAN_SHUTDOWN_MARKER } from '../src/log/index.js';
import { usingPostgres } from './support/database.js';
import { createTestEnv, startTestServer, type TestEnv } from './support/server.js';
import { startTcpProxy } from './support/tcp-proxy.js';

const envs: TestEnv[] = [];
afterAll(async () => {
  for (const e of envs) await e.cleanup();
});

describe.skipIf(!usingPostgres())('shutdown while Postgres stops answering (DATABASE_URL only)', () => {
  it('finishes within the shutdown timeout and leaves the clean-shutdown marker', async () => {
    const env = await createTestEnv();
    envs.push(env);
    const url = new URL(env.env['DATABASE_URL']!);
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const server = await startTestServer(env, {
      env: {
        DATABASE_URL: url.toString(),
        SLUICE_DB_CONNECT_TIMEOUT_MS: '1000',
        SLUICE_SHUTDOWN_TIMEOUT_MS: '2000',
        SLUICE_QUEUE_SWEEP_INTERVAL_MS: '50',
      },
    });
    try {
      const res = await fetch(`${server.url}/v1/topics`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'stall-shutdown' }),
      });
      expect(res.status).toBe(201);
      proxy.stall();
      // Let the sweepers start a query that will not be answered.
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      await server.stop();
      expect(Date.now() - started).toBeLessThan(6_000);
      await expect(fs.access(path.join(env.dataDir, CLEAN_SHUTDOWN_MARKER))).resolves.toBeUndefined();
    } finally {
      await proxy.restore();
      await proxy.close();
    }
  }, 60_000);
});
