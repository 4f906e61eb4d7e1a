// With a real Postgres behind a proxy we can cut: while it is unreachable, admin calls
// answer 503 `unavailable` (never 500), /readyz says why, and both recover on their own.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus } from './support/client.js';
import { usingPostgres } from './support/database.js';
import { startServerBehindPostgresProxy } from './support/postgres-proxy.js';
import { createTestEnv, type TestEnv, type TestServer } from './support/server.js';
import type { TcpProxy } from './support/tcp-proxy.js';

if (!usingPostgres()) {
  console.warn('SKIPPED system when Postgres goes down: needs a real PostgreSQL (set DATABASE_URL)');
}
describe.skipIf(!usingPostgres())('when Postgres goes down (DATABASE_URL only)', () => {
  let env: TestEnv;
  let proxy: TcpProxy;
  let server: TestServer;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ proxy, server, stop } = await startServerBehindPostgresProxy(env));
  });
  afterAll(async () => {
    await stop?.();
    await env?.cleanup();
  });

  it('answers 503 unavailable for admin calls, keeps /healthz up, and recovers', async () => {
    const name = `t-${randomUUID()}`;
    expectStatus(await server.client.post('/v1/topics', { body: { name } }), 201);
    await proxy.cut();

    const list = await server.client.get('/v1/topics');
    expect(list.status).toBe(503);
    expect(expectStatus(list, 503).error.code).toBe('unavailable');
    expect(list.headers.get('retry-after')).toBe('5');
    const create = await server.client.post('/v1/topics', { body: { name: `t-${randomUUID()}` } });
    expect(expectStatus(create, 503).error.code).toBe('unavailable');
    const ready = await server.client.get('/readyz');
    expect(ready.status).toBe(503);
    expect(expectStatus(ready, 503).checks.database.ok).toBe(false);
    expect((await server.client.get('/healthz')).status).toBe(200);
    // The data path does not need Postgres.
    expect(server.services.topics.partitionLog(name, 0).ok).toBe(true);

    await proxy.restore();
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      status = (await server.client.get('/v1/topics')).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
    expect((await server.client.get('/readyz')).status).toBe(200);
  });
});
