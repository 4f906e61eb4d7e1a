// Per-key quotas against a real server, like Kafka's client quotas: produce and read bytes/s
// (429 rate_limited with Retry-After while a key is in debt; other keys unaffected; a token
// counts as its key) and open streams per key (anonymous loopback callers are one principal).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_GRANTS, bearer, createKey, mintToken, type KeyBody } from './auth-support.js';
import { rawConnect, type RawConnection } from './support/raw-http.js';
import { startIsolatedServer, type TestServer } from './support/server.js';

const ADMIN_KEY = `adm_${randomUUID()}${randomUUID()}`;
const name = () => `t-${randomUUID()}`;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function call(url: string, credential: string | undefined, method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(credential ? bearer(credential) : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    json: (text ? JSON.parse(text) : {}) as Json,
    retryAfter: res.headers.get('retry-after'),
  };
}

/** ~`bytes` of records in one produce body. */
const records = (bytes: number) => ({ records: Array.from({ length: 10 }, () => ({ value: 'x'.repeat(bytes / 10) })) });

async function openStream(url: string, path: string, credential?: string): Promise<RawConnection> {
  const conn = await rawConnect(url);
  const auth = credential ? `Authorization: Bearer ${credential}\r\n` : '';
  conn.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}\r\n`);
  const deadline = Date.now() + 10_000;
  while (conn.status() === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return conn;
}

describe('produce bytes/s per key (SLUICE_KEY_PRODUCE_BYTES_PER_SEC)', () => {
  let server: TestServer;
  let a: KeyBody;
  let b: KeyBody;
  const topic = name();
  beforeAll(async () => {
    server = await startIsolatedServer({ SLUICE_ADMIN_KEY: ADMIN_KEY, SLUICE_KEY_PRODUCE_BYTES_PER_SEC: '20000' });
    a = await createKey(server.url, ADMIN_GRANTS, { as: ADMIN_KEY, name: 'a' });
    b = await createKey(server.url, ADMIN_GRANTS, { as: ADMIN_KEY, name: 'b' });
    expect(
      (await call(server.url, a.key, 'POST', '/v1/topics', { name: topic, config: { durability: 'write' } })).status,
    ).toBe(201);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('a key over its rate gets 429 with Retry-After until it has paid off its debt; other keys go on; its tokens share its quota', async () => {
    expect((await call(server.url, a.key, 'POST', `/v1/topics/${topic}/records`, records(60_000))).status).toBe(200);
    const refused = await call(server.url, a.key, 'POST', `/v1/topics/${topic}/records`, records(100));
    expect(refused.status).toBe(429);
    expect(refused.json['error']).toMatchObject({
      code: 'rate_limited',
      limit: 'key_produce_bytes_per_sec',
      bytes_per_sec: 20000,
    });
    expect(refused.json['error']['message']).toMatch(/SLUICE_KEY_PRODUCE_BYTES_PER_SEC/);
    const retryAfter = Number(refused.retryAfter);
    expect(retryAfter).toBeGreaterThanOrEqual(2);
    expect(retryAfter).toBeLessThanOrEqual(4);

    expect((await call(server.url, b.key, 'POST', `/v1/topics/${topic}/records`, records(100))).status).toBe(200);
    const { token } = await mintToken(
      server.url,
      a.key,
      ADMIN_GRANTS.filter((g) => g.resource === 'topic'),
      60_000,
    );
    expect((await call(server.url, token, 'POST', `/v1/topics/${topic}/records`, records(100))).status).toBe(429);

    await new Promise((r) => setTimeout(r, retryAfter * 1000)); // waiting out the quota is the point
    expect((await call(server.url, a.key, 'POST', `/v1/topics/${topic}/records`, records(100))).status).toBe(200);
  }, 30_000);
});

describe('read bytes/s per key (SLUICE_KEY_READ_BYTES_PER_SEC)', () => {
  let server: TestServer;
  let a: KeyBody;
  let b: KeyBody;
  const topic = name();
  beforeAll(async () => {
    server = await startIsolatedServer({ SLUICE_ADMIN_KEY: ADMIN_KEY, SLUICE_KEY_READ_BYTES_PER_SEC: '20000' });
    a = await createKey(server.url, ADMIN_GRANTS, { as: ADMIN_KEY, name: 'a' });
    b = await createKey(server.url, ADMIN_GRANTS, { as: ADMIN_KEY, name: 'b' });
    expect(
      (await call(server.url, ADMIN_KEY, 'POST', '/v1/topics', { name: topic, config: { durability: 'write' } }))
        .status,
    ).toBe(201);
    expect((await call(server.url, ADMIN_KEY, 'POST', `/v1/topics/${topic}/records`, records(60_000))).status).toBe(
      200,
    );
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('reads and SSE streams are charged with what they send; over the rate a key gets 429, other keys do not', async () => {
    const read = (key: string) => call(server.url, key, 'GET', `/v1/topics/${topic}/partitions/0/records?offset=0`);
    expect((await read(a.key)).status).toBe(200);
    const refused = await read(a.key);
    expect(refused.status).toBe(429);
    expect(refused.json['error']).toMatchObject({ code: 'rate_limited', limit: 'key_read_bytes_per_sec' });
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await read(b.key)).status).toBe(200);

    // B's SSE stream replays the 60 kB: B is charged as it is sent, and refused afterwards.
    const c = await createKey(server.url, ADMIN_GRANTS, { as: ADMIN_KEY, name: 'c' });
    const sse = await openStream(server.url, `/v1/topics/${topic}/events?from=earliest`, c.key);
    expect(sse.status()).toBe(200);
    const deadline = Date.now() + 10_000;
    let status = 200;
    while (status !== 429 && Date.now() < deadline) {
      status = (await call(server.url, c.key, 'GET', `/v1/topics/${topic}/partitions/0/records?offset=0&max_records=1`))
        .status;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(429);
    sse.destroy();
  }, 30_000);
});

describe('streams per key (SLUICE_KEY_MAX_STREAMS)', () => {
  it('a key beyond its stream cap gets 429 key_max_streams; other keys go on; a closed stream frees its place', async () => {
    const server = await startIsolatedServer({ SLUICE_ADMIN_KEY: ADMIN_KEY, SLUICE_KEY_MAX_STREAMS: '2' });
    const streams: RawConnection[] = [];
    try {
      const a = await createKey(server.url, ADMIN_GRANTS, { as: ADMIN_KEY, name: 'a' });
      const b = await createKey(server.url, ADMIN_GRANTS, { as: ADMIN_KEY, name: 'b' });
      const topic = name();
      expect((await call(server.url, a.key, 'POST', '/v1/topics', { name: topic })).status).toBe(201);
      const path = `/v1/topics/${topic}/events`;
      for (let i = 0; i < 2; i++) streams.push(await openStream(server.url, path, a.key));
      expect(streams.map((s) => s.status())).toEqual([200, 200]);
      const third = await openStream(server.url, path, a.key);
      streams.push(third);
      const refused = await third.response();
      expect(refused.status).toBe(429);
      expect(refused.headers['retry-after']).toBe('5');
      expect(JSON.parse(refused.body)).toMatchObject({
        error: { code: 'rate_limited', limit: 'key_max_streams', max_streams: 2 },
      });
      const poll = await call(server.url, a.key, 'GET', `/v1/topics/${topic}/partitions/0/records?wait_ms=50`);
      expect(poll.status).toBe(429);
      const other = await openStream(server.url, path, b.key);
      streams.push(other);
      expect(other.status()).toBe(200);

      streams.shift()!.destroy();
      let status = 0;
      const deadline = Date.now() + 10_000;
      while (status !== 200 && Date.now() < deadline) {
        status = (await call(server.url, a.key, 'GET', `/v1/topics/${topic}/partitions/0/records?wait_ms=10`)).status;
      }
      expect(status).toBe(200);
    } finally {
      for (const s of streams) s.destroy();
      await server.stop();
    }
  }, 30_000);

  it('anonymous loopback callers (auto mode, no keys yet) count as one principal', async () => {
    const server = await startIsolatedServer({ SLUICE_KEY_MAX_STREAMS: '2' });
    const streams: RawConnection[] = [];
    try {
      const topic = name();
      expect((await call(server.url, undefined, 'POST', '/v1/topics', { name: topic })).status).toBe(201);
      const path = `/v1/topics/${topic}/events`;
      for (let i = 0; i < 2; i++) streams.push(await openStream(server.url, path));
      expect(streams.map((s) => s.status())).toEqual([200, 200]);
      const third = await openStream(server.url, path);
      streams.push(third);
      expect((await third.response()).status).toBe(429);
      expect(third.received()).toMatch(/anonymous callers/);
    } finally {
      for (const s of streams) s.destroy();
      await server.stop();
    }
  }, 30_000);
});
