// With a real Postgres behind a proxy we can cut: group calls answer 503 `unavailable` (never
// 500) while it is unreachable, and the same member carries on once it is back.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus } from './support/client.js';
import { usingPostgres } from './support/database.js';
import { startServerBehindPostgresProxy } from './support/postgres-proxy.js';
import { createTestEnv, type TestEnv, type TestServer } from './support/server.js';
import type { TcpProxy } from './support/tcp-proxy.js';

if (!usingPostgres()) {
  console.warn('SKIPPED consumer groups when Postgres goes down: needs a real PostgreSQL (set DATABASE_URL)');
}
describe.skipIf(!usingPostgres())('consumer groups when Postgres goes down (DATABASE_URL only)', () => {
  let env: TestEnv;
  let proxy: TcpProxy;
  let server: TestServer;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    env = await createTestEnv({ SLUICE_GROUP_REBALANCE_DELAY_MS: '0' });
    ({ proxy, server, stop } = await startServerBehindPostgresProxy(env));
  });
  afterAll(async () => {
    await stop?.();
    await env?.cleanup();
  });

  it('answers 503 for join, fetch, commit and describe, then serves the same member again', async () => {
    const topic = `t-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    expectStatus(await server.client.post('/v1/topics', { body: { name: topic } }), 201);
    expectStatus(
      await server.client.post('/v1/topics/{topic}/records', { params: { topic }, body: { records: [{ value: 1 }] } }),
      200,
    );
    const m = expectStatus(
      await server.client.post('/v1/groups/{group}/members', {
        params: { group },
        body: { topics: [topic], auto_offset_reset: 'earliest' } as never,
      }),
      201,
    );
    await proxy.cut();

    const fetchAs = () =>
      server.client.get('/v1/groups/{group}/members/{member}/records', { params: { group, member: m.member_id } });
    expect(expectStatus(await fetchAs(), 503).error.code).toBe('unavailable');
    const join = await server.client.post('/v1/groups/{group}/members', {
      params: { group },
      body: { topics: [topic] } as never,
    });
    expect(expectStatus(join, 503).error.code).toBe('unavailable');
    const commit = await server.client.post('/v1/groups/{group}/offsets', {
      params: { group },
      body: { member_id: m.member_id, generation: m.generation, offsets: [{ topic, partition: 0, offset: 1 }] },
    });
    expect(expectStatus(commit, 503).error.code).toBe('unavailable');
    expect(expectStatus(await server.client.get('/v1/groups/{group}', { params: { group } }), 503).error.code).toBe(
      'unavailable',
    );

    await proxy.restore();
    const deadline = Date.now() + 10_000;
    let status = 0;
    let body: unknown;
    while (Date.now() < deadline && status !== 200) {
      const res = await fetchAs();
      status = res.status;
      body = res.body;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
    expect((body as { records: Array<{ value: unknown }> }).records.map((r) => r.value)).toEqual([1]);
  });
});
