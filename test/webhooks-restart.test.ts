// Restart safety of webhooks: stop the service while batches are in flight, start a new one on
// the same DATA_DIR and database, and every record still arrives — re-sent under the same webhook-id.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { TestReceiver } from '../src/webhooks/webhooks-test-kit.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from './support/server.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function api(
  server: TestServer,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Json }> {
  const res = await server.client.raw(
    method,
    path,
    body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } },
  );
  return { status: res.status, json: res.json as Json };
}

async function start(env: TestEnv): Promise<TestServer> {
  const server = await startTestServer(env);
  let stopped = false;
  cleanups.push(async () => {
    if (!stopped) await server.stop();
  });
  return { ...server, stop: async () => ((stopped = true), server.stop()) };
}

describe('webhooks across a restart', () => {
  it('resumes from committed offsets; an interrupted batch is re-sent with the same webhook-id; nothing is lost', async () => {
    const env = await createTestEnv({ SLUICE_WEBHOOK_ALLOW_PRIVATE: 'true' });
    cleanups.push(() => env.cleanup());
    const receiver = await TestReceiver.start();
    cleanups.push(() => receiver.close());
    // Slow answers, so the stop lands while batches are in flight.
    receiver.script = () => ({ status: 200, delayMs: 150 });

    const a = await start(env);
    const topic = `t-${randomUUID()}`;
    expect(
      (await api(a, 'POST', '/v1/topics', { name: topic, partitions: 2, config: { durability: 'write' } })).status,
    ).toBe(201);
    const created = await api(a, 'POST', '/v1/webhooks', {
      topic,
      url: receiver.url,
      from: 'earliest',
      batch: { max_records: 4 },
      retry: { initial_backoff_ms: 5, max_backoff_ms: 20 },
    });
    expect(created.status).toBe(201);
    const id = created.json.id as string;
    const records = Array.from({ length: 40 }, (_, i) => ({ partition: i % 2, value: { i } }));
    expect((await api(a, 'POST', `/v1/topics/${topic}/records`, { records })).status).toBe(200);

    await receiver.waitFor(
      () => receiver.requests.filter((r) => r.accepted).length >= 2 && receiver.requests.some((r) => !r.accepted),
      10_000,
      'deliveries in progress',
    );
    await a.stop();
    // Requests the stop cut off (never answered): their batches were not committed.
    const inFlightAtStop = receiver.requests
      .filter((r) => !r.accepted)
      .map((r) => ({ id: r.headers['webhook-id'], body: r.body }));
    const seenBeforeRestart = receiver.requests.length;
    expect(inFlightAtStop.length).toBeGreaterThan(0);

    receiver.script = () => ({ status: 200 });
    const b = await start(env);
    await receiver.waitFor(
      () => [...receiver.acceptedOffsets().values()].reduce((s, l) => s + new Set(l).size, 0) === 40,
      15_000,
      'all 40 records after restart',
    );

    for (const p of [0, 1]) {
      const offsets = receiver.acceptedOffsets().get(p) ?? [];
      expect([...new Set(offsets)]).toEqual(Array.from({ length: 20 }, (_, i) => i));
    }
    // The batches cut off by the stop came again, byte-identical, under the same webhook-id.
    const after = receiver.requests.slice(seenBeforeRestart);
    for (const cut of inFlightAtStop) {
      const resent = after.find((r) => r.headers['webhook-id'] === cut.id);
      expect(resent, `re-sent ${cut.id}`).toBeDefined();
      expect(resent!.body).toBe(cut.body);
    }
    // The receiver has every record once its 2xx is sent; the commit follows it, so poll (bounded).
    let status = await api(b, 'GET', `/v1/webhooks/${id}`);
    for (const deadline = Date.now() + 10_000; status.json.lag !== 0 && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = await api(b, 'GET', `/v1/webhooks/${id}`);
    }
    expect(status.json).toMatchObject({ state: 'active', lag: 0 });
    const deliveries = (await api(b, 'GET', `/v1/webhooks/${id}/deliveries?limit=1000`)).json.deliveries as Json[];
    expect(deliveries.filter((d) => d.outcome === 'delivered').length).toBeGreaterThanOrEqual(
      receiver.requests.filter((r) => r.accepted).length - inFlightAtStop.length,
    );
  });
});
