// Requests a hostile or careless client sends, found by attacking a running server: each gets a
// clear 4xx naming what is wrong and changes nothing — never a silent misreading, a 500 or a hang.
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus } from './support/client.js';
import { startIsolatedServer, type TestServer } from './support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startIsolatedServer();
});
afterAll(async () => {
  await server?.stop();
});

async function topic(): Promise<string> {
  const name = `t-${randomUUID()}`;
  expectStatus(await server.client.post('/v1/topics', { body: { name } }), 201);
  return name;
}

/**
 * Status and JSON body of a GET that may open an event stream: the stream (a 200) is cancelled
 * as soon as its headers arrive, so a route that wrongly accepts the request cannot hang the test.
 */
async function statusOf(path: string): Promise<{ status: number; error?: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, { signal: AbortSignal.timeout(15_000) });
  if (res.status === 200 && (res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    await res.body?.cancel();
    return { status: 200 };
  }
  const body = (await res.json().catch(() => ({}))) as { error?: Record<string, unknown> };
  return { status: res.status, ...(body.error ? { error: body.error } : {}) };
}

describe('record filters (?key=, ?header.<name>=)', () => {
  it('a header filter with an empty name (?header.=x) is a 400 naming the parameter on both /events streams', async () => {
    const name = await topic();
    for (const path of [
      `/v1/topics/${name}/events?from=earliest&header.=x`,
      `/v1/topics/${name}/partitions/0/events?from=earliest&header.=x`,
    ]) {
      const res = await statusOf(path);
      expect(res.status, path).toBe(400);
      expect(res.error, path).toMatchObject({
        code: 'bad_request',
        message: expect.stringMatching(/^query\.header\.: /),
        issues: [{ field: 'query.header.' }],
      });
    }
    // A named header filter still opens the stream.
    expect((await statusOf(`/v1/topics/${name}/events?from=earliest&header.kind=x`)).status).toBe(200);
  });

  it('routes that deliver records without filtering refuse filter parameters instead of ignoring them', async () => {
    const name = await topic();
    const group = `g-${randomUUID()}`;
    const joined = expectStatus(
      await server.client.post('/v1/groups/{group}/members', { params: { group }, body: { topics: [name] } }),
      201,
    );
    const member = joined.member_id;
    for (const [path, param] of [
      [`/v1/topics/${name}/partitions/0/records?header.kind=x`, 'header.kind'],
      [`/v1/topics/${name}/partitions/0/records?key=k`, 'key'],
      [`/v1/groups/${group}/members/${member}/records?header.kind=x`, 'header.kind'],
      [`/v1/groups/${group}/events?topics=${name}&key=k`, 'key'],
      [`/v1/topics/${name}/queues/q1/events?header.kind=x`, 'header.kind'],
    ] as const) {
      const res = await statusOf(path);
      expect(res.status, path).toBe(400);
      expect(res.error, path).toMatchObject({
        code: 'bad_request',
        message: expect.stringMatching(/\/events streams/),
        issues: [{ field: `query.${param}` }],
      });
    }
    const receive = await server.client.raw('POST', `/v1/topics/${name}/queues/q1/receive?key=k`);
    expect(receive.status).toBe(400);
    // The refused group stream joined nobody: the group still has only the member above.
    const g = expectStatus(await server.client.get('/v1/groups/{group}', { params: { group } }), 200);
    expect(g.members.map((m) => m.member_id)).toEqual([member]);
  });
});

describe('request bodies with a Content-Encoding', () => {
  const gzip = (text: string) => new Uint8Array(gzipSync(Buffer.from(text)));

  it('are refused with 415 and Accept-Encoding: identity on every route with a body — never parsed as JSON, nothing changed', async () => {
    const name = await topic();
    const records = JSON.stringify({ records: [{ value: 1 }] });
    const cases: Array<
      [method: string, path: string, contentType: string, body: string | Uint8Array, encoding: string]
    > = [
      ['POST', `/v1/topics/${name}/records`, 'application/json', gzip(records), 'gzip'],
      ['POST', `/v1/topics/${name}/records`, 'application/x-ndjson', gzip('{"value":1}\n'), 'gzip'],
      // Plain JSON labelled as compressed: the label is what the server must not ignore.
      ['POST', `/v1/topics/${name}/records`, 'application/json', records, 'br'],
      ['POST', `/v1/topics/${name}/records`, 'application/json', records, 'deflate'],
      ['POST', `/v1/topics/${name}/records`, 'application/x-ndjson', '{"value":1}\n', 'GZIP'],
      ['POST', `/v1/topics/${name}/records`, 'application/json', records, 'identity, gzip'],
      ['POST', '/v1/topics', 'application/json', gzip(JSON.stringify({ name: `t-${randomUUID()}` })), 'gzip'],
      ['PATCH', `/v1/topics/${name}`, 'application/json', gzip('{"partitions":2}'), 'gzip'],
      [
        'POST',
        '/v1/webhooks',
        'application/json',
        gzip(JSON.stringify({ topic: name, url: 'https://example.com/h' })),
        'gzip',
      ],
      ['POST', '/v1/keys', 'application/json', gzip(JSON.stringify({ name: 'k', grants: [] })), 'gzip'],
      ['PUT', `/v1/stream/s-${randomUUID()}`, 'application/json', gzip('[1]'), 'gzip'],
    ];
    for (const [method, path, contentType, body, encoding] of cases) {
      const what = `${method} ${path} ${contentType} ${encoding}`;
      const res = await server.client.raw(method, path, {
        body,
        headers: { 'content-type': contentType, 'content-encoding': encoding },
      });
      expect(res.status, what).toBe(415);
      expect(res.headers.get('accept-encoding'), what).toBe('identity');
      expect((res.json as { error: Record<string, unknown> }).error, what).toMatchObject({
        code: 'unsupported_media_type',
        message: expect.stringMatching(/Content-Encoding/),
      });
    }
    const t = expectStatus(await server.client.get('/v1/topics/{topic}', { params: { topic: name } }), 200);
    expect(t.partitions.map((p) => p.end_offset)).toEqual([0]);
    expect(expectStatus(await server.client.get('/v1/webhooks'), 200).webhooks).toEqual([]);
  });

  it('Content-Encoding: identity (any case) is no encoding at all', async () => {
    const name = await topic();
    const res = await server.client.raw('POST', `/v1/topics/${name}/records`, {
      body: JSON.stringify({ records: [{ value: 1 }] }),
      headers: { 'content-type': 'application/json', 'content-encoding': 'Identity' },
    });
    expect(res.status).toBe(200);
  });
});

describe('malformed percent-encoding in a path segment', () => {
  it('is a 4xx on every audited operation (was a 500 from the audit log decoding the segment)', async () => {
    const name = await topic();
    const cases: Array<[method: string, path: string, body?: string]> = [
      ['PATCH', '/v1/topics/%ff', '{"partitions":2}'],
      ['DELETE', '/v1/topics/a%ffb'],
      ['DELETE', '/v1/groups/%ff'],
      ['POST', '/v1/groups/%ff/offsets/reset', JSON.stringify({ topic: name, to: 'earliest' })],
      ['PUT', `/v1/topics/${name}/queues/%ff`, '{}'],
      ['PUT', '/v1/topics/%ff/queues/q1', '{}'],
      ['DELETE', `/v1/topics/${name}/queues/%e2%82`],
      ['PATCH', '/v1/webhooks/%ff', '{"pause":true}'],
      ['DELETE', '/v1/webhooks/%ff'],
      ['POST', '/v1/webhooks/%ff/rotate-secret'],
      ['PATCH', '/v1/keys/%ff', '{"name":"x"}'],
      ['DELETE', '/v1/keys/%'],
    ];
    for (const [method, path, body] of cases) {
      const res = await server.client.raw(method, path, {
        ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}),
      });
      expect(res.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${method} ${path}: ${res.text}`).toBeLessThan(500);
    }
  });
});
