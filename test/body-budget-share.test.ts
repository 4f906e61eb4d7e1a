// One credential's share of SLUICE_MAX_BUFFERED_BODY_BYTES: a key (even one with no grants) that
// declares large bodies and sends them slowly holds at most a quarter of the budget, so everyone
// else's requests still get theirs instead of 503 until its uploads time out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyOwner } from '../src/http/limits/limits-middleware.js';
import { rawConnect, type RawConnection } from './support/raw-http.js';
import { startIsolatedServer, type TestServer } from './support/server.js';

const MiB = 1024 * 1024;
const ADMIN = 'body-budget-admin-key-0123456789abcdef';

describe('a credential’s share of the request-body budget', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startIsolatedServer({
      SLUICE_ADMIN_KEY: ADMIN,
      SLUICE_MAX_BODY_BYTES: String(MiB),
      SLUICE_MAX_BUFFERED_BODY_BYTES: String(4 * MiB),
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const post = (path: string, key: string, body: unknown) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    });

  it('a key without grants holds one share; others are served; its further bodies get 429', async () => {
    const created = await post('/v1/keys', ADMIN, { name: 'nogrants', grants: [] });
    expect(created.status).toBe(201);
    const key = ((await created.json()) as { key: string }).key;
    expect((await post('/v1/topics', ADMIN, { name: 'shared' })).status).toBe(201);

    // Four slow bodies of 1 MiB each: together the whole budget, were they all admitted.
    const held: RawConnection[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const conn = await rawConnect(server.url);
        held.push(conn);
        conn.write(
          `POST /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nauthorization: Bearer ${key}\r\n` +
            `content-type: application/json\r\ncontent-length: ${MiB}\r\n\r\n{"grants": [`,
        );
      }
      // The first is admitted and waits for its body; the rest are refused at once.
      const refusals = await Promise.all(held.slice(1).map((c) => c.response(10_000)));
      for (const r of refusals) {
        expect(r.status).toBe(429);
        expect(JSON.parse(r.body)).toMatchObject({
          error: { code: 'rate_limited', limit: 'key_max_buffered_body_bytes', max_bytes: MiB },
        });
        expect(r.headers['retry-after']).toBe('1');
      }
      expect(held[0]!.status()).toBeUndefined();

      // Meanwhile the admin produces as usual.
      const produced = await post('/v1/topics/shared/records', ADMIN, { records: [{ value: 1 }] });
      expect(produced.status).toBe(200);
    } finally {
      for (const c of held) c.destroy();
    }
  }, 60_000);

  it('charges a key’s browser tokens to the key, and false or absent credentials to no share', () => {
    const token = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`;
    expect(bodyOwner(`Bearer ${token({ k: 'abc' })}`)).toBe('key:abc');
    expect(bodyOwner(`bearer ${token({ k: 'abc', gr: [] })}`)).toBe('key:abc');
    // A token minted by an anonymous caller: anonymous, like its minter.
    expect(bodyOwner(`Bearer ${token({ k: null })}`)).toBeUndefined();
    expect(bodyOwner(undefined)).toBeUndefined();
    expect(bodyOwner('Basic dXNlcjpwYXNz')).toBeUndefined();
    const a = bodyOwner('Bearer slk_one');
    expect(a).toMatch(/^secret:/);
    expect(a).not.toContain('slk_one');
    expect(bodyOwner('Bearer slk_one')).toBe(a);
    expect(bodyOwner('Bearer slk_two')).not.toBe(a);
  });
});
