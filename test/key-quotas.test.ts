// Per-key quota overrides (`quotas` on POST/PATCH /v1/keys) against a real server: they replace
// the SLUICE_KEY_* defaults for that key and its tokens, survive a restart with other defaults,
// and a key can never give another key (or itself) more than its own quotas.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_GRANTS, bearer, createKey, mintToken } from './auth-support.js';
import { rawConnect, type RawConnection } from './support/raw-http.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from './support/server.js';

const ADMIN_KEY = `adm_${randomUUID()}${randomUUID()}`;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function call(url: string, credential: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...bearer(credential), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as Json };
}

/** ~`bytes` of records in one produce body. */
const records = (bytes: number) => ({ records: Array.from({ length: 10 }, () => ({ value: 'x'.repeat(bytes / 10) })) });

async function keyWith(url: string, as: string, quotas: unknown, grants: unknown[] = ADMIN_GRANTS) {
  const res = await call(url, as, 'POST', '/v1/keys', { name: 'q', grants, quotas });
  return res;
}

async function openStream(url: string, path: string, credential: string): Promise<RawConnection> {
  const conn = await rawConnect(url);
  conn.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${credential}\r\n\r\n`);
  const deadline = Date.now() + 10_000;
  while (conn.status() === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return conn;
}

let env: TestEnv;
let server: TestServer;
const topic = `t-${randomUUID()}`;
const produce = `/v1/topics/${topic}/records`;

beforeAll(async () => {
  env = await createTestEnv({ SLUICE_ADMIN_KEY: ADMIN_KEY, SLUICE_KEY_PRODUCE_BYTES_PER_SEC: '1000000' });
  server = await startTestServer(env);
  expect(
    (await call(server.url, ADMIN_KEY, 'POST', '/v1/topics', { name: topic, config: { durability: 'write' } })).status,
  ).toBe(201);
});
afterAll(async () => {
  await server?.stop();
  await env?.cleanup();
});

describe('per-key quota overrides', () => {
  it('a key’s own produce quota replaces the default, for its tokens too; 0 means none; shown on the key', async () => {
    const slow = await keyWith(server.url, ADMIN_KEY, { produce_bytes_per_sec: 5_000 });
    expect(slow.status).toBe(201);
    expect(slow.json['quotas']).toEqual({ produce_bytes_per_sec: 5_000 });
    const unlimited = await keyWith(server.url, ADMIN_KEY, { produce_bytes_per_sec: 0 });
    const plain = await createKey(server.url, ADMIN_GRANTS, { as: ADMIN_KEY });
    expect((await call(server.url, ADMIN_KEY, 'GET', `/v1/keys/${plain.id}`)).json['quotas']).toBeNull();

    expect((await call(server.url, slow.json['key'], 'POST', produce, records(20_000))).status).toBe(200);
    const refused = await call(server.url, slow.json['key'], 'POST', produce, records(100));
    expect(refused.status).toBe(429);
    expect(refused.json['error']).toMatchObject({ limit: 'key_produce_bytes_per_sec', bytes_per_sec: 5_000 });
    expect(refused.json['error']['message']).toMatch(/quotas\.produce_bytes_per_sec/);
    const token = await mintToken(server.url, slow.json['key'], [ADMIN_GRANTS[0]], 60_000);
    expect((await call(server.url, token.token, 'POST', produce, records(100))).status).toBe(429);
    // The same bytes from a key at the default (1 MB/s) and from one without quota go through.
    for (const k of [plain.key, unlimited.json['key'] as string]) {
      expect((await call(server.url, k, 'POST', produce, records(20_000))).status).toBe(200);
      expect((await call(server.url, k, 'POST', produce, records(100))).status).toBe(200);
    }
  }, 30_000);

  it('PATCH changes a key’s quotas at once; null returns it to the defaults', async () => {
    const k = await createKey(server.url, ADMIN_GRANTS, { as: ADMIN_KEY });
    const patched = await call(server.url, ADMIN_KEY, 'PATCH', `/v1/keys/${k.id}`, {
      quotas: { produce_bytes_per_sec: 2_000 },
    });
    expect(patched.status).toBe(200);
    expect(patched.json['quotas']).toEqual({ produce_bytes_per_sec: 2_000 });
    expect((await call(server.url, k.key, 'POST', produce, records(10_000))).status).toBe(200);
    expect((await call(server.url, k.key, 'POST', produce, records(100))).status).toBe(429);
    const reset = await call(server.url, ADMIN_KEY, 'PATCH', `/v1/keys/${k.id}`, { quotas: null });
    expect(reset.json['quotas']).toBeNull();
    // Back at 1 MB/s the 8 kB debt is paid within 10 ms.
    const deadline = Date.now() + 5_000;
    let status = 429;
    while (status === 429 && Date.now() < deadline)
      status = (await call(server.url, k.key, 'POST', produce, records(100))).status;
    expect(status).toBe(200);

    expect(
      (await call(server.url, ADMIN_KEY, 'PATCH', `/v1/keys/${k.id}`, { quotas: { max_streams: 0 } })).status,
    ).toBe(400);
    expect((await call(server.url, ADMIN_KEY, 'PATCH', `/v1/keys/${k.id}`, { quotas: { bytes: 1 } })).status).toBe(400);
    expect((await call(server.url, ADMIN_KEY, 'PATCH', `/v1/keys/${randomUUID()}`, { quotas: null })).status).toBe(404);
  }, 30_000);

  it('max_streams per key, counted for the key’s tokens too', async () => {
    const k = await keyWith(server.url, ADMIN_KEY, { max_streams: 1 });
    const streams: RawConnection[] = [];
    try {
      const path = `/v1/topics/${topic}/events`;
      streams.push(await openStream(server.url, path, k.json['key']));
      expect(streams[0]!.status()).toBe(200);
      const token = await mintToken(server.url, k.json['key'], [ADMIN_GRANTS[0]], 60_000);
      const second = await openStream(server.url, path, token.token);
      streams.push(second);
      const refused = await second.response();
      expect(refused.status).toBe(429);
      expect(JSON.parse(refused.body)).toMatchObject({ error: { limit: 'key_max_streams', max_streams: 1 } });
    } finally {
      for (const s of streams) s.destroy();
    }
  }, 30_000);

  it('a key cannot give a key more than its own quotas, at creation or by PATCH; what a child leaves out it inherits', async () => {
    const parent = await keyWith(server.url, ADMIN_KEY, { produce_bytes_per_sec: 5_000, max_streams: 3 });
    const p = parent.json['key'] as string;
    for (const quotas of [{ produce_bytes_per_sec: 6_000 }, { produce_bytes_per_sec: 0 }, { max_streams: 4 }]) {
      const res = await keyWith(server.url, p, quotas);
      expect(res.status, JSON.stringify(quotas)).toBe(403);
      expect(res.json['error']['message']).toMatch(/more than your own quota/);
    }
    // The default read quota is none (0): a child may say so, not more.
    expect((await keyWith(server.url, p, { read_bytes_per_sec: 0 })).status).toBe(201);
    const child = await keyWith(server.url, p, { produce_bytes_per_sec: 1_000 });
    expect(child.status).toBe(201);
    expect(child.json['quotas']).toEqual({ produce_bytes_per_sec: 1_000, max_streams: 3 });
    const silent = await keyWith(server.url, p, undefined);
    expect(silent.json['quotas']).toEqual({ produce_bytes_per_sec: 5_000, max_streams: 3 });

    const id = child.json['id'] as string;
    const patch = (as: string, target: string, quotas: unknown) =>
      call(server.url, as, 'PATCH', `/v1/keys/${target}`, { quotas });
    expect((await patch(p, id, { produce_bytes_per_sec: 6_000, max_streams: 3 })).status).toBe(403);
    // Null would give the child the defaults (1 MB/s, 1000 streams): more than the parent has.
    expect((await patch(p, id, null)).status).toBe(403);
    expect((await patch(p, id, { produce_bytes_per_sec: 2_000, max_streams: 2 })).status).toBe(200);
    // Nor can a key raise its own quotas; the admin key can.
    expect((await patch(p, parent.json['id'], { produce_bytes_per_sec: 50_000, max_streams: 3 })).status).toBe(403);
    expect((await patch(ADMIN_KEY, id, { produce_bytes_per_sec: 50_000 })).status).toBe(200);
    // A browser token changes no key.
    const token = await mintToken(server.url, p, ADMIN_GRANTS, 60_000);
    expect((await patch(token.token, id, { produce_bytes_per_sec: 10 })).status).toBe(403);
  }, 30_000);

  it('a key’s quotas are kept across a restart with other defaults; keys without overrides follow the new defaults', async () => {
    const own = await keyWith(server.url, ADMIN_KEY, { produce_bytes_per_sec: 5_000 });
    const plain = await createKey(server.url, ADMIN_GRANTS, { as: ADMIN_KEY });
    await server.stop();
    server = await startTestServer(env, { env: { SLUICE_KEY_PRODUCE_BYTES_PER_SEC: '8000' } });
    // 12 kB: over the key's own 5 kB/s and over the new default of 8 kB/s.
    expect((await call(server.url, own.json['key'], 'POST', produce, records(12_000))).status).toBe(200);
    const refused = await call(server.url, own.json['key'], 'POST', produce, records(100));
    expect(refused.status).toBe(429);
    expect(refused.json['error']).toMatchObject({ bytes_per_sec: 5_000 });
    expect((await call(server.url, plain.key, 'POST', produce, records(12_000))).status).toBe(200);
    const plainRefused = await call(server.url, plain.key, 'POST', produce, records(100));
    expect(plainRefused.status).toBe(429);
    expect(plainRefused.json['error']).toMatchObject({ bytes_per_sec: 8_000 });
  }, 60_000);
});
