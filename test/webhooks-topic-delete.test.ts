// Deleting a webhook's topic in a real server process (#12.1): the delete is answered, the
// process keeps answering. A child process, so a hang fails the test instead of freezing it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestReceiver } from '../src/webhooks/webhooks-test-kit.js';
import { killAllChildren, startChild, type ChildServer } from './support/child-server.js';
import { createTestEnv, type TestEnv } from './support/server.js';

let env: TestEnv;
let receiver: TestReceiver;
let server: ChildServer;

beforeAll(async () => {
  env = await createTestEnv({ SLUICE_WEBHOOK_ALLOW_PRIVATE: 'true' });
  receiver = await TestReceiver.start();
  server = await startChild(env.env);
});
afterAll(async () => {
  killAllChildren();
  await receiver?.close();
  await env?.cleanup();
});

/** A request that gives up after `timeoutMs` (a hung server fails the test, not the run). */
async function call(method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<number> {
  const res = await fetch(server.url + path, {
    method,
    signal: AbortSignal.timeout(timeoutMs),
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('deleting a topic that has webhooks', () => {
  it('answers the delete at once and the process keeps answering', async () => {
    const topic = `t-${randomUUID()}`;
    expect(await call('POST', '/v1/topics', { name: topic, partitions: 2 })).toBe(201);
    for (let i = 0; i < 2; i++)
      expect(await call('POST', '/v1/webhooks', { topic, url: receiver.url, from: 'earliest' })).toBe(201);
    expect(await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 1 }, { value: 2 }] })).toBe(200);

    expect(await call('DELETE', `/v1/topics/${topic}`)).toBe(204);
    expect(await call('GET', '/healthz', undefined, 5_000)).toBe(200);
    expect(await call('GET', '/v1/topics', undefined, 5_000)).toBe(200);
    // The name is free again, and the process still answers with a webhook-less topic of that name.
    expect(await call('POST', '/v1/topics', { name: topic })).toBe(201);
    expect(await call('DELETE', `/v1/topics/${topic}`)).toBe(204);
    expect(await call('GET', '/healthz', undefined, 5_000)).toBe(200);
  });
});
