// SLUICE_MAX_BODY_BYTES on every route whatever the request claims: only the produce route
// streams NDJSON and bounds it as it reads, so no other route may skip the limit for that type.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIsolatedServer, type TestServer } from './support/server.js';

const MAX = 64 * 1024;

describe('the body limit for bodies sent as application/x-ndjson', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startIsolatedServer({ SLUICE_MAX_BODY_BYTES: String(MAX) });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const big = `${'x'.repeat(4 * MAX)}\n`;
  const ndjson = { 'content-type': 'application/x-ndjson' };

  it('a Durable Streams append over SLUICE_MAX_BODY_BYTES is refused 413, as with any other type', async () => {
    const url = `${server.url}/v1/stream/s-${randomUUID()}`;
    expect((await fetch(url, { method: 'PUT', headers: ndjson })).status).toBe(201);
    const res = await fetch(url, { method: 'POST', headers: ndjson, body: big });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'payload_too_large', limit: 'max_body_bytes' } });
    const read = await fetch(`${url}?offset=-1`);
    expect((await read.arrayBuffer()).byteLength).toBe(0);
  });

  it('a Durable Streams create with a body over SLUICE_MAX_BODY_BYTES is refused 413', async () => {
    const url = `${server.url}/v1/stream/s-${randomUUID()}`;
    const res = await fetch(url, { method: 'PUT', headers: ndjson, body: big });
    expect(res.status).toBe(413);
    expect((await fetch(url, { method: 'HEAD' })).status).toBe(404);
  });

  it('the produce route still takes NDJSON within the limit (and counts it as it streams)', async () => {
    const topic = `t-${randomUUID()}`;
    const created = await fetch(`${server.url}/v1/topics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: topic, partitions: 1 }),
    });
    expect(created.status).toBe(201);
    const ok = await fetch(`${server.url}/v1/topics/${topic}/records`, {
      method: 'POST',
      headers: ndjson,
      body: '{"value":1}\n{"value":2}\n',
    });
    expect(ok.status).toBe(200);
    const tooBig = await fetch(`${server.url}/v1/topics/${topic}/records`, {
      method: 'POST',
      headers: ndjson,
      body: `{"value":"${'x'.repeat(2 * MAX)}"}\n`,
    });
    expect(tooBig.status).toBe(413);
  });
});
