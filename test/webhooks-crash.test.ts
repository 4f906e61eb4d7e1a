// Crash safety of webhooks: kill -9 a real server process while batches are in flight,
// restart on the same DATA_DIR and database: every record arrives at least once, in order
// per partition, and cut-off batches come again under the same webhook-id with the same body.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestReceiver } from '../src/webhooks/webhooks-test-kit.js';
import { killAllChildren, startChild } from './support/child-server.js';
import { createTestEnv, type TestEnv } from './support/server.js';

let env: TestEnv;
let receiver: TestReceiver;

beforeAll(async () => {
  env = await createTestEnv({ SLUICE_LOG_STORE: 'file', SLUICE_WEBHOOK_ALLOW_PRIVATE: 'true' });
  receiver = await TestReceiver.start();
});
afterAll(async () => {
  killAllChildren();
  await receiver?.close();
  await env?.cleanup();
});

const json = (body: unknown) => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

describe('kill -9 during webhook delivery', () => {
  it('loses nothing and re-sends cut-off batches under the same webhook-id', async () => {
    // The first few batches are accepted; later ones are held unanswered until the crash cuts them off.
    receiver.script = ({ seq }) => (seq < 4 ? { status: 200 } : { status: 200, delayMs: 60_000 });
    const first = await startChild(env.env);
    const topic = `t-${randomUUID()}`;
    expect((await first.client.raw('POST', '/v1/topics', json({ name: topic, partitions: 2 }))).status).toBe(201);
    const created = await first.client.raw(
      'POST',
      '/v1/webhooks',
      json({
        topic,
        url: receiver.url,
        from: 'earliest',
        batch: { max_records: 3 },
        retry: { initial_backoff_ms: 5, max_backoff_ms: 50 },
      }),
    );
    expect(created.status).toBe(201);
    const records = Array.from({ length: 30 }, (_, i) => ({ partition: i % 2, value: { i } }));
    expect((await first.client.raw('POST', `/v1/topics/${topic}/records`, json({ records }))).status).toBe(200);

    await receiver.waitFor(() => receiver.requests.length >= 6, 15_000, 'deliveries in progress');
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    const seen = receiver.requests.length;
    const cut = receiver.requests
      .filter((r) => !r.accepted)
      .map((r) => ({ id: r.headers['webhook-id'], body: r.body }));
    expect(cut.length).toBeGreaterThan(0);

    receiver.script = () => ({ status: 200 });
    const second = await startChild(env.env);
    await receiver.waitFor(
      () => [...receiver.acceptedOffsets().values()].reduce((s, l) => s + new Set(l).size, 0) === 30,
      20_000,
      'all 30 records',
    );
    for (const p of [0, 1]) {
      const offsets = receiver.acceptedOffsets().get(p) ?? [];
      expect([...new Set(offsets)]).toEqual(Array.from({ length: 15 }, (_, i) => i));
    }
    const after = receiver.requests.slice(seen);
    for (const c of cut) expect(after.find((r) => r.headers['webhook-id'] === c.id)?.body, c.id).toBe(c.body);
    second.child.kill('SIGTERM');
    await new Promise((resolve) => second.child.once('exit', resolve));
  }, 90_000);
});
