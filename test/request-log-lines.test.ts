// The request id on service log lines: a line a service writes for the operation a request asked
// for (a topic created, updated or deleted, a stream created or deleted, a queue created) carries
// that request's `request_id`, the one echoed as `x-request-id`, as does the error handler's line.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from './support/server.js';

type Line = Record<string, unknown>;
let env: TestEnv;
let server: TestServer;
const lines: Line[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Line);
      done();
    },
  });
  server = await startTestServer(env, { overrides: { logger: createLogger({ logLevel: 'info' }, sink) } });
});
afterAll(async () => {
  await server?.stop();
  await env?.cleanup();
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; requestId: string }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await res.arrayBuffer();
  return { status: res.status, requestId: res.headers.get('x-request-id')! };
}

/** The lines with message `msg` that mention `field: value`. */
const linesOf = (msg: string, field: string, value: unknown): Line[] =>
  lines.filter((l) => l['msg'] === msg && l[field] === value);

describe('service log lines written for a request', () => {
  it('carry its request_id: topic created, updated, deleted', async () => {
    const topic = `t-${randomUUID()}`;
    const created = await call('POST', '/v1/topics', { name: topic });
    expect(created.status).toBe(201);
    const updated = await call('PATCH', `/v1/topics/${topic}`, { partitions: 2 });
    expect(updated.status).toBe(200);
    const deleted = await call('DELETE', `/v1/topics/${topic}`);
    expect(deleted.status).toBe(204);
    expect(linesOf('topic created', 'topic', topic).map((l) => l['request_id'])).toEqual([created.requestId]);
    expect(linesOf('topic updated', 'topic', topic).map((l) => l['request_id'])).toEqual([updated.requestId]);
    expect(linesOf('topic deleted', 'topic', topic).map((l) => l['request_id'])).toEqual([deleted.requestId]);
  });

  it('carry its request_id: a durable stream created and deleted', async () => {
    const name = `s-${randomUUID()}`;
    const created = await call('PUT', `/v1/stream/${name}`);
    expect(created.status).toBe(201);
    const topicLine = lines.find((l) => l['msg'] === 'topic created' && l['request_id'] === created.requestId);
    expect(topicLine).toBeDefined();
    const deleted = await call('DELETE', `/v1/stream/${name}`);
    expect(deleted.status).toBe(204);
    expect(linesOf('topic deleted', 'topic_id', topicLine!['topic_id']).map((l) => l['request_id'])).toEqual([
      deleted.requestId,
    ]);
  });

  it('carry its request_id: a queue created', async () => {
    const topic = `t-${randomUUID()}`;
    expect((await call('POST', '/v1/topics', { name: topic })).status).toBe(201);
    const put = await call('PUT', `/v1/topics/${topic}/queues/q1`, {});
    expect(put.status).toBe(201);
    expect(linesOf('queue created', 'topic', topic).map((l) => l['request_id'])).toEqual([put.requestId]);
  });

  it('carry its request_id: a queue created by a receive', async () => {
    const topic = `t-${randomUUID()}`;
    expect((await call('POST', '/v1/topics', { name: topic })).status).toBe(201);
    const receive = await call('POST', `/v1/topics/${topic}/queues/q2/receive`, {});
    expect(receive.status).toBe(200);
    expect(linesOf('queue created', 'topic', topic).map((l) => l['request_id'])).toEqual([receive.requestId]);
  });

  it('the access line of every request carries its request_id', async () => {
    const r = await call('GET', '/v1/topics');
    expect(lines.filter((l) => l['msg'] === 'request completed' && l['request_id'] === r.requestId)).toHaveLength(1);
  });
});
