// Error answers a newcomer meets (issue #14, "Errors"): one message per limit, allowed values
// listed, positions in JSON errors, one quoting style, no slash surprises, and no DNS wait
// before a 404.
import { randomUUID } from 'node:crypto';
import dns from 'node:dns';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LONG_POLL_LIMIT_MS } from '../src/config.js';
import { buildOpenApiDocument } from '../src/http/openapi.js';
import { expectStatus } from './support/client.js';
import { startIsolatedServer, type TestServer } from './support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startIsolatedServer();
});
afterAll(async () => {
  vi.restoreAllMocks();
  await server?.stop();
});

const json = { 'content-type': 'application/json' };
const message = (body: unknown) => (body as { error: { message: string } }).error.message;

async function topic(): Promise<string> {
  const name = `t-${randomUUID()}`;
  expectStatus(await server.client.post('/v1/topics', { body: { name } }), 201);
  return name;
}

describe('error messages', () => {
  it('wait_ms above the maximum: one message, and the document declares the enforced maximum', async () => {
    const name = await topic();
    const over = await server.client.raw('GET', `/v1/topics/${name}/partitions/0/records?wait_ms=40000`);
    const farOver = await server.client.raw('GET', `/v1/topics/${name}/partitions/0/records?wait_ms=400000`);
    expect(over.status).toBe(400);
    expect(farOver.status).toBe(400);
    expect(message(over.json)).toBe('query.wait_ms: must be ≤ 30000 (SLUICE_LONG_POLL_MAX_MS)');
    expect(message(farOver.json)).toBe(message(over.json));
    const doc = buildOpenApiDocument() as unknown as {
      paths: Record<string, Record<string, { parameters?: Array<{ name: string; schema: { maximum?: number } }> }>>;
    };
    for (const [path, op] of [
      ['/v1/topics/{topic}/partitions/{partition}/records', 'get'],
      ['/v1/groups/{group}/members/{member}/records', 'get'],
    ] as const) {
      const param = doc.paths[path]![op]!.parameters!.find((p) => p.name === 'wait_ms')!;
      expect(param.schema.maximum, path).toBe(LONG_POLL_LIMIT_MS);
    }
  });

  it('an invalid value of a union lists the allowed values', async () => {
    const name = await topic();
    const res = await server.client.raw('POST', `/v1/groups/g-${randomUUID()}/offsets/reset`, {
      body: JSON.stringify({ topic: name, to: 'beginning' }),
      headers: json,
    });
    expect(res.status).toBe(400);
    expect(message(res.json)).toBe(
      'body.to: must be "earliest", "latest", {"timestamp": <Unix ms ≥ 0>} or {"offset": <offset ≥ 0>}',
    );
  });

  it('GET /v1/topics/ (trailing slash) lists topics like /v1/topics', async () => {
    const name = await topic();
    const res = await server.client.raw('GET', '/v1/topics/');
    expect(res.status).toBe(200);
    expect((res.json as { topics: Array<{ name: string }> }).topics.map((t) => t.name)).toContain(name);
  });

  it('malformed JSON names the position on create-topic as on produce', async () => {
    const name = await topic();
    const create = await server.client.raw('POST', '/v1/topics', { body: '{"name": "x",}', headers: json });
    const produce = await server.client.raw('POST', `/v1/topics/${name}/records`, {
      body: '{"records": [],}',
      headers: json,
    });
    expect(create.status).toBe(400);
    expect(produce.status).toBe(400);
    expect(message(create.json)).toMatch(/^body is not valid JSON \(.*position \d+/);
    expect(message(produce.json)).toMatch(/^body is not valid JSON \(.*position \d+/);
  });

  it('names are quoted the same way in every message', async () => {
    const missing = `n-${randomUUID()}`;
    const messages = [
      message((await server.client.raw('GET', `/v1/topics/${missing}`)).json),
      message((await server.client.raw('GET', `/v1/groups/${missing}`)).json),
      message(
        (
          await server.client.raw('POST', `/v1/groups/${missing}/members`, {
            body: JSON.stringify({ topics: [missing] }),
            headers: json,
          })
        ).json,
      ),
    ];
    for (const m of messages) {
      expect(m).toContain(`"${missing}"`);
      expect(m).not.toContain(`'${missing}'`);
    }
  });

  it('a missing required parameter or field is named as missing, not as zod text', async () => {
    const events = await server.client.raw('GET', `/v1/groups/g-${randomUUID()}/events`);
    expect(events.status).toBe(400);
    expect(message(events.json)).toBe('query.topics: required');
    expect(events.json).toMatchObject({ error: { issues: [{ field: 'query.topics', message: 'required' }] } });
    const create = await server.client.raw('POST', '/v1/topics', { body: '{}', headers: json });
    expect(create.status).toBe(400);
    expect(message(create.json)).toBe('body.name: required');
    const grant = await server.client.raw('POST', '/v1/tokens', {
      body: JSON.stringify({ grants: [{ name: 'x', actions: ['read'] }], ttl_ms: 60_000 }),
      headers: json,
    });
    expect(grant.status).toBe(400);
    expect(message(grant.json)).toBe(
      'body.grants.0.resource: required: one of "topic", "group", "webhook", "key", "cluster"',
    );
    // A field whose schema words its own error keeps it after `required`.
    const reset = await server.client.raw('POST', `/v1/groups/g-${randomUUID()}/offsets/reset`, {
      body: JSON.stringify({ topic: 'orders' }),
      headers: json,
    });
    expect(message(reset.json)).toBe(
      'body.to: required: must be "earliest", "latest", {"timestamp": <Unix ms ≥ 0>} or {"offset": <offset ≥ 0>}',
    );
    // Every operation's required query parameter: no zod wording when it is left out.
    const doc = buildOpenApiDocument() as unknown as {
      paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string; required?: boolean }> }>>;
    };
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const param of op.parameters ?? []) {
          if (param.in !== 'query' || !param.required) continue;
          const url = path.replace(/\{[^}]+\}/g, 'x');
          const res = await server.client.raw(method.toUpperCase(), url);
          expect(res.status, `${method} ${path}`).toBe(400);
          expect(message(res.json), `${method} ${path}`).toContain(`query.${param.name}: required`);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('integers in paths and queries are canonical decimals: 00, -0, +0, 0x0, " 0", 1e0 are 400 on every route', async () => {
    const doc = buildOpenApiDocument() as unknown as {
      paths: Record<
        string,
        Record<
          string,
          {
            parameters?: Array<{
              name: string;
              in: string;
              schema: { type?: string; pattern?: string; minimum?: number };
            }>;
          }
        >
      >;
    };
    const fill = (path: string, name: string, value: string) =>
      path.replace(/\{([^}]+)\}/g, (_, p: string) => (p === name ? value : p === 'partition' ? '0' : `none-${p}`));
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const param of op.parameters ?? []) {
          const numeric = param.schema.type === 'integer' || (param.schema.pattern ?? '').includes('0|[1-9]');
          if (!numeric || (param.in !== 'path' && param.in !== 'query')) continue;
          const min = param.schema.minimum ?? 0;
          const request = (value: string) => {
            const encoded = encodeURIComponent(value);
            const url =
              param.in === 'path' ? fill(path, param.name, encoded) : `${fill(path, '', '')}?${param.name}=${encoded}`;
            return server.client.raw(method.toUpperCase(), url);
          };
          const field = `${param.in === 'path' ? 'path' : 'query'}.${param.name}`;
          for (const bad of [
            `0${min}`,
            '-0',
            `+${min}`,
            `0x${min.toString(16)}`,
            ` ${min}`,
            `${min}.0`,
            `${min}e0`,
            ...(param.in === 'query' ? [''] : []),
          ]) {
            const res = await request(bad);
            expect(res.status, `${method} ${path} ${param.name}=${JSON.stringify(bad)}`).toBe(400);
            expect(message(res.json), `${method} ${path} ${param.name}=${JSON.stringify(bad)}`).toContain(field);
          }
          // The canonical spelling passes validation (whatever the route then answers).
          const ok = await request(String(min));
          expect(JSON.stringify(ok.json ?? null), `${method} ${path} ${param.name}=${min}`).not.toContain(field);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(15);
  });

  it('PATCH /v1/webhooks/{id} with a new url answers 404 for an unknown id without resolving the host', async () => {
    const lookup = vi
      .spyOn(dns.promises, 'lookup')
      .mockImplementation(() => new Promise((_, reject) => setTimeout(() => reject(new Error('slow DNS')), 20_000)));
    try {
      const started = Date.now();
      const res = await server.client.raw('PATCH', `/v1/webhooks/${randomUUID()}`, {
        body: JSON.stringify({ url: 'https://typo.example.com/hook' }),
        headers: json,
      });
      expect(res.status).toBe(404);
      expect(res.json).toMatchObject({ error: { code: 'webhook_not_found' } });
      expect(lookup).not.toHaveBeenCalled();
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      lookup.mockRestore();
    }
  });
});

describe('found by schemathesis', () => {
  it('a grant name with a NUL character is a 400, not a 500', async () => {
    const res = await server.client.raw('POST', '/v1/tokens', {
      body: JSON.stringify({ grants: [{ resource: 'topic', name: 'a\u0000b', actions: ['read'] }], ttl_ms: 60_000 }),
      headers: json,
    });
    expect(res.status).toBe(400);
    const key = await server.client.raw('POST', '/v1/keys', {
      body: JSON.stringify({ name: 'nul', grants: [{ resource: 'topic', name: 'a\u0000b', actions: ['read'] }] }),
      headers: json,
    });
    expect(key.status).toBe(400);
    expect(message(key.json)).toMatch(/control characters/);
  });
});
