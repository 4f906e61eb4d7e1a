// A Durable Stream is an ordinary topic, so the topic API (produce, queue dead letters) can write
// to it. Once the stream is closed nothing may: readers that reached its end have stopped, and a
// later record would be seen by some readers and not others.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus } from './support/client.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from './support/server.js';

const uid = () => randomUUID().slice(0, 8);

let env: TestEnv;
let server: TestServer;
beforeAll(async () => {
  env = await createTestEnv({ SLUICE_QUEUE_SWEEP_INTERVAL_MS: '50' });
  server = await startTestServer(env);
});
afterAll(async () => {
  await server?.stop();
  await env?.cleanup();
});

const stream = (path: string, method: string, init: RequestInit = {}) =>
  fetch(`${server.url}/v1/stream/${path}`, { method, ...init });

/** A JSON stream (its topic takes JSON values) holding `messages`; its topic's name. */
async function jsonStream(path: string, messages: unknown[]): Promise<string> {
  const made = await stream(path, 'PUT', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(messages),
  });
  expect(made.status).toBe(201);
  return path.replaceAll('/', '__');
}

const close = async (path: string) => {
  const closed = await stream(path, 'POST', { headers: { 'stream-closed': 'true' } });
  expect(closed.status).toBe(204);
};

const produce = (topic: string, values: unknown[], headers: Record<string, string> = {}) =>
  fetch(`${server.url}/v1/topics/${topic}/records`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ records: values.map((value) => ({ value })) }),
  });

const endOffset = async (topic: string): Promise<number> => {
  const d = expectStatus(await server.client.get('/v1/topics/{topic}', { params: { topic } }), 200);
  return d.partitions[0]!.end_offset;
};

/** Every message of the stream from its start, and whether it reported itself closed. */
async function readAll(path: string): Promise<{ messages: unknown[]; closed: boolean }> {
  const res = await stream(`${path}?offset=-1`, 'GET');
  expect(res.status).toBe(200);
  return { messages: (await res.json()) as unknown[], closed: res.headers.get('stream-closed') === 'true' };
}

describe('topic produce to a Durable Stream’s topic', () => {
  it('is taken while the stream is open and refused (409 stream_closed) once it is closed', async () => {
    const path = `closing/${uid()}`;
    const topic = await jsonStream(path, [{ m: 0 }]);
    expect((await produce(topic, [{ m: 1 }])).status).toBe(200);
    // An idempotent produce acknowledged before the close…
    const key = { 'idempotency-key': `k-${uid()}` };
    const keyed = await produce(topic, [{ m: 2 }], key);
    expect(keyed.status).toBe(200);
    const keyedAnswer: unknown = await keyed.json();
    await close(path);

    const refused = await produce(topic, [{ m: 3 }]);
    expect(refused.status).toBe(409);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error).toMatchObject({ code: 'conflict', reason: 'stream_closed', stream: path });
    expect(body.error.message).toContain('closed');
    const ndjson = await fetch(`${server.url}/v1/topics/${topic}/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: '{"value":{"m":4}}\n',
    });
    expect(ndjson.status).toBe(409);
    // …whose answer was lost: its retry answers the same offsets, appending nothing.
    const again = await produce(topic, [{ m: 2 }], key);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(keyedAnswer);

    expect(await endOffset(topic)).toBe(3);
    expect(await readAll(path)).toEqual({ messages: [{ m: 0 }, { m: 1 }, { m: 2 }], closed: true });
  });

  it('racing a close: every produce is either before the end readers see or refused, none after it', async () => {
    const path = `race/${uid()}`;
    const topic = await jsonStream(path, []);
    const produced = Array.from({ length: 60 }, (_, i) => produce(topic, [{ i }]).then((r) => r.status));
    await new Promise((r) => setTimeout(r, 5));
    const closing = close(path).then(() => endOffset(topic));
    const [statuses, endAtClose] = await Promise.all([Promise.all(produced), closing]);
    const taken = statuses.filter((s) => s === 200).length;
    expect(statuses.every((s) => s === 200 || s === 409)).toBe(true);
    // Nothing landed after the close was acknowledged, and each 200 is a record readers see.
    expect(await endOffset(topic)).toBe(endAtClose);
    expect(endAtClose).toBe(taken);
    const all = await readAll(path);
    expect(all.closed).toBe(true);
    expect(all.messages).toHaveLength(taken);
  });

  it('a stream deleted and its name taken by a plain topic: produce goes on as usual', async () => {
    const path = `recreated-${uid()}`;
    const topic = await jsonStream(path, [{ m: 0 }]);
    await close(path);
    expect((await produce(topic, [{ m: 1 }])).status).toBe(409);
    expect((await stream(path, 'DELETE')).status).toBe(204);
    expectStatus(await server.client.post('/v1/topics', { body: { name: topic, partitions: 1 } }), 201);
    expect((await produce(topic, [{ m: 1 }])).status).toBe(200);
  });

  it('a queue whose dead-letter topic is a closed stream archives the dead record instead of retrying it forever', async () => {
    const path = `dead-letters-${uid()}`;
    const dlq = await jsonStream(path, []);
    await close(path);
    const source = `src-${uid()}`;
    expectStatus(await server.client.post('/v1/topics', { body: { name: source, partitions: 1 } }), 201);
    expect((await produce(source, [{ poison: true }])).status).toBe(200);
    const put = await server.client.request('put', '/v1/topics/{topic}/queues/{queue}', {
      params: { topic: source, queue: 'q' },
      body: { dead_letter_topic: dlq },
    });
    expectStatus(put, 201);
    const got = expectStatus(
      await server.client.post('/v1/topics/{topic}/queues/{queue}/receive', {
        params: { topic: source, queue: 'q' },
        query: { max_records: 1 },
      }),
      200,
    ).records;
    expect(got).toHaveLength(1);
    expectStatus(
      await server.client.post('/v1/topics/{topic}/queues/{queue}/ack', {
        params: { topic: source, queue: 'q' },
        body: { acks: [{ lease: got[0]!.lease, action: 'reject' }] },
      }),
      200,
    );
    const deadline = Date.now() + 10_000;
    let desc: Record<string, unknown> = {};
    while (Date.now() < deadline) {
      desc = expectStatus(
        await server.client.get('/v1/topics/{topic}/queues/{queue}', { params: { topic: source, queue: 'q' } }),
        200,
      ) as unknown as Record<string, unknown>;
      if (desc['dead_letter_pending'] === 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(desc).toMatchObject({ dead_letter_pending: 0, archived: 1, dead_lettered: 0 });
    expect(await endOffset(dlq)).toBe(0);
  });
});

describe('across a restart', () => {
  it('a stream closed before the restart still refuses topic produce after it', async () => {
    const path = `restart-${uid()}`;
    const topic = await jsonStream(path, [{ m: 0 }]);
    await close(path);
    await server.stop();
    server = await startTestServer(env);
    expect((await produce(topic, [{ m: 1 }])).status).toBe(409);
    expect(await readAll(path)).toEqual({ messages: [{ m: 0 }], closed: true });
  });
});
