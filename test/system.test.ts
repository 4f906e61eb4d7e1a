// Black-box tests of cross-cutting HTTP behaviour: health, readiness, metrics, request ids,
// the error envelope for unknown routes, wrong methods, media types, sizes and bad JSON.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus } from './support/client.js';
import { startIsolatedServer, type TestServer } from './support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startIsolatedServer({ SLUICE_MAX_BODY_BYTES: '2048' });
});
afterAll(async () => {
  await server?.stop();
});

const ERROR_SHAPE = {
  error: expect.objectContaining({
    code: expect.any(String),
    message: expect.any(String),
    request_id: expect.any(String),
  }),
};

describe('system endpoints', () => {
  it('GET /healthz answers ok', async () => {
    expect(expectStatus(await server.client.get('/healthz'), 200)).toEqual({ status: 'ok' });
  });

  it('GET /readyz reports the database and the log as ready', async () => {
    const body = expectStatus(await server.client.get('/readyz'), 200);
    expect(body.status).toBe('ready');
    expect(body.checks.database.ok).toBe(true);
    expect(body.checks.log).toEqual({ ok: true, recovered: true, quarantined: [], read_only: [] });
  });

  it('GET /metrics exposes request counters by route and status', async () => {
    await server.client.get('/healthz');
    await server.client.get('/v1/topics/{topic}', { params: { topic: `t-${randomUUID()}` } });
    const res = await server.client.raw('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.text).toMatch(/sluice_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    expect(res.text).toMatch(/^sluice_idempotency_entries \d+$/m);
    expect(res.text).toMatch(/^sluice_idempotency_bytes \d+$/m);
    expect(res.text).toMatch(/^sluice_idempotency_evicted_total \d+$/m);
    expect(res.text).toMatch(/^# TYPE sluice_idempotency_evicted_total counter$/m);
    expect(res.text).toMatch(
      /sluice_http_requests_total\{method="GET",route="\/v1\/topics\/:topic",status="404"\} \d+/,
    );
    expect(res.text).toContain('sluice_http_request_duration_seconds_bucket');
  });

  it('serves the OpenAPI 3.1 document and the interactive reference', async () => {
    const doc = await server.client.raw('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.json).toMatchObject({ openapi: '3.1.0', info: { title: 'Sluice' } });
    const docs = await server.client.raw('GET', '/docs');
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toMatch(/text\/html/);
    expect(docs.text).toContain('/openapi.json');
  });
});

describe('request ids', () => {
  it('generates an x-request-id and repeats it in error bodies', async () => {
    const res = await server.client.raw('GET', '/no/such/route');
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.json).toMatchObject({ error: { request_id: id } });
  });

  it('keeps a well-formed incoming x-request-id and replaces a malformed one', async () => {
    const kept = await server.client.raw('GET', '/healthz', { headers: { 'x-request-id': 'abc-123.X' } });
    expect(kept.headers.get('x-request-id')).toBe('abc-123.X');
    const replaced = await server.client.raw('GET', '/healthz', { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('error envelope by request shape', () => {
  it('404 not_found for unknown routes', async () => {
    const res = await server.client.raw('GET', '/v2/whatever');
    expect(res.status).toBe(404);
    expect(res.json).toMatchObject({ error: { code: 'not_found' } });
    expect(res.json).toEqual(ERROR_SHAPE);
  });

  it('405 method_not_allowed with an Allow header for a known path', async () => {
    const res = await server.client.raw('PUT', '/v1/topics');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD, POST');
    expect(res.json).toMatchObject({ error: { code: 'method_not_allowed' } });
    const item = await server.client.raw('POST', `/v1/topics/t-${randomUUID()}`);
    expect(item.status).toBe(405);
    expect(item.headers.get('allow')).toContain('PATCH');
  });

  it('415 unsupported_media_type for a body that is not JSON', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await server.client.raw('POST', '/v1/topics', {
        body: 'name=x',
        headers: { 'content-type': contentType },
      });
      expect(res.status).toBe(415);
      expect(res.json).toMatchObject({ error: { code: 'unsupported_media_type' } });
    }
  });

  it('400 bad_request for malformed or empty JSON', async () => {
    for (const body of ['{"name": ', 'not json', '']) {
      const res = await server.client.raw('POST', '/v1/topics', {
        body,
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ error: { code: 'bad_request' } });
    }
    const array = await server.client.raw('POST', '/v1/topics', {
      body: '[1,2]',
      headers: { 'content-type': 'application/json' },
    });
    expect(array.status).toBe(400);
  });

  it('413 payload_too_large above SLUICE_MAX_BODY_BYTES, with or without Content-Length', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(3000) });
    const res = await server.client.raw('POST', '/v1/topics', {
      body: big,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(413);
    expect(res.json).toMatchObject({ error: { code: 'payload_too_large', limit: 'max_body_bytes', max_bytes: 2048 } });

    const chunks = [big.slice(0, 1500), big.slice(1500)];
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    });
    const chunked = await fetch(`${server.url}/v1/topics`, {
      method: 'POST',
      body: stream,
      headers: { 'content-type': 'application/json' },
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(await chunked.json()).toMatchObject({ error: { code: 'payload_too_large' } });
  });

  it('never answers 500 for odd but well-formed requests', async () => {
    const odd: Array<[string, string, string | undefined]> = [
      ['GET', `/v1/topics/${encodeURIComponent('%%%')}`, undefined],
      ['GET', '/v1/topics/' + 'x'.repeat(5000), undefined],
      ['DELETE', '/v1/topics/..', undefined],
      ['PATCH', '/v1/topics/nope', '{"partitions": "many"}'],
      ['PATCH', '/v1/topics/nope', 'null'],
      ['POST', '/v1/topics', '{"name": "a", "partitions": 1e400}'],
      ['POST', '/v1/topics', '{"name": "a", "config": null}'],
      ['POST', '/v1/topics', '{"__proto__": {"x": 1}, "name": "b"}'],
    ];
    for (const [method, path, body] of odd) {
      const res = await server.client.raw(method, path, {
        ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}),
      });
      expect(res.status, `${method} ${path} ${body}`).toBeLessThan(500);
      expect(res.json, `${method} ${path}`).toEqual(ERROR_SHAPE);
    }
  });
});
