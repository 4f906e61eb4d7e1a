// With a real Postgres that stops answering (connections open, nothing comes back): queue
// receives and acks answer 503 `unavailable` in bounded time instead of waiting on the stuck
// state write forever, and the queue serves again once Postgres answers.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usingPostgres } from './support/database.js';
import { startServerBehindPostgresProxy } from './support/postgres-proxy.js';
import { createTestEnv, type TestEnv, type TestServer } from './support/server.js';
import type { TcpProxy } from './support/tcp-proxy.js';

if (!usingPostgres()) {
  console.warn('SKIPPED queues when Postgres stops answering: needs a real PostgreSQL (set DATABASE_URL)');
}
describe.skipIf(!usingPostgres())('queues when Postgres stops answering (DATABASE_URL only)', () => {
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

  /** status and how long it took; 'hung' past `ms`. */
  async function timed(
    path: string,
    body: unknown,
    ms: number,
  ): Promise<{ status: number | 'hung'; ms: number; body?: unknown }> {
    const started = Date.now();
    try {
      const res = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(ms),
      });
      return { status: res.status, ms: Date.now() - started, body: await res.json() };
    } catch {
      return { status: 'hung', ms: Date.now() - started };
    }
  }

  it('answers receive and ack with 503 while the state write is stuck, then serves the same leases', async () => {
    const topic = `t-${randomUUID()}`;
    const q = `/v1/topics/${topic}/queues/workers`;
    expect((await timed('/v1/topics', { name: topic }, 10_000)).status).toBe(201);
    expect((await timed(`/v1/topics/${topic}/records`, { records: [{ value: 1 }, { value: 2 }] }, 10_000)).status).toBe(
      200,
    );
    const first = await timed(`${q}/receive?max_records=1`, {}, 10_000);
    expect(first.status).toBe(200);
    const lease = (first.body as { records: Array<{ lease: string }> }).records[0]!.lease;

    proxy.stall();
    try {
      // SLUICE_DB_CONNECT_TIMEOUT_MS is 1000 here: a state write gets twice that.
      const [receive, ack] = await Promise.all([
        timed(`${q}/receive?max_records=1`, {}, 15_000),
        timed(`${q}/ack`, { acks: [{ lease, action: 'accept' }] }, 15_000),
      ]);
      expect(receive.status).toBe(503);
      expect(ack.status).toBe(503);
      expect(receive.ms).toBeLessThan(8_000);
      expect((receive.body as { error: { code: string } }).error.code).toBe('unavailable');
    } finally {
      await proxy.restore();
    }

    // Back: the queue is not stuck behind the write that timed out.
    const again = await timed(`${q}/ack`, { acks: [{ lease, action: 'accept' }] }, 15_000);
    expect(again.status).toBe(200);
    const status = (again.body as { results: Array<{ status: string }> }).results[0]!.status;
    // The stuck ack may have committed once Postgres answered: then the lease is already spent.
    expect(['ok', 'unknown']).toContain(status);
    const next = await timed(`${q}/receive?max_records=10`, {}, 15_000);
    expect(next.status).toBe(200);
  }, 60_000);
});
