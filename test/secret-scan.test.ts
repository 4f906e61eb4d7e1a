// No key or token material in logs or /metrics: a real server process at `trace` (every line it
// can write) goes through keys, tokens, streams, failures and revocation; then its whole output
// and a /metrics scrape are searched for every secret, its unprefixed body and any 16-char piece.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestReceiver } from '../src/webhooks/webhooks-test-kit.js';
import { ADMIN_GRANTS, allOn, bearer, createKey, mintToken } from './auth-support.js';
import { killAllChildren, startChild, type ChildServer } from './support/child-server.js';
import { createTestEnv, type TestEnv } from './support/server.js';

const ADMIN_KEY = `adm_${randomBytes(32).toString('base64url')}`;
const TOKEN_SECRET = randomBytes(32).toString('base64url');
/** A piece this long of a secret is treated as the secret (enough to recognise or narrow a search). */
const PIECE = 16;

let env: TestEnv;
let server: ChildServer;
let receiver: TestReceiver;

beforeAll(async () => {
  env = await createTestEnv({
    SLUICE_ADMIN_KEY: ADMIN_KEY,
    SLUICE_TOKEN_SECRET: TOKEN_SECRET,
    SLUICE_WEBHOOK_ALLOW_PRIVATE: 'true',
  });
  receiver = await TestReceiver.start();
  server = await startChild(env.env, { logLevel: 'trace', captureAll: true });
}, 90_000);
afterAll(async () => {
  killAllChildren();
  await receiver?.close();
  await env?.cleanup();
});

/** Each secret, what follows its prefix, its SHA-256 and every PIECE-long substring. */
function forms(secret: string): string[] {
  const out = new Set([secret, createHash('sha256').update(secret).digest('hex')]);
  const body = secret.replace(/^(slk_|whsec_|adm_)/, '');
  out.add(body);
  // A JWT's signature alone is the part that cannot be forged; check it and its pieces too.
  for (const part of [body, ...(secret.split('.').length === 3 ? [secret.split('.')[2]!] : [])]) {
    for (let i = 0; i + PIECE <= part.length; i++) out.add(part.slice(i, i + PIECE));
  }
  return [...out];
}

async function call(path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}) {
  const res = await fetch(`${server.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: res.status, text: await res.text() };
}

/** Open an SSE stream, read until `until` appears in it (or 10 s), then close it. */
async function sse(path: string, headers: Record<string, string> = {}, until = 'event: record'): Promise<number> {
  const ac = new AbortController();
  const res = await fetch(`${server.url}${path}`, { headers, signal: ac.signal });
  if (res.status !== 200) {
    await res.text();
    return res.status;
  }
  const reader = res.body!.getReader();
  let seen = '';
  const deadline = Date.now() + 10_000;
  while (!seen.includes(until) && Date.now() < deadline) {
    const chunk = await reader.read();
    if (chunk.done) break;
    seen += Buffer.from(chunk.value).toString('utf8');
  }
  ac.abort();
  expect(seen).toContain(until);
  return 200;
}

describe('logs and /metrics at trace level', () => {
  it('hold no key, token or signing secret — whole or in pieces — across keys, tokens, streams, failures and revocation', async () => {
    const admin = bearer(ADMIN_KEY);
    const topic = `t-${randomUUID()}`;
    const secrets: string[] = [ADMIN_KEY, TOKEN_SECRET];
    expect((await call('/v1/topics', { method: 'POST', headers: admin, body: { name: topic } })).status).toBe(201);

    // Keys: from the admin key, and a child key created by a key.
    const ops = await createKey(server.url, ADMIN_GRANTS, { as: ADMIN_KEY, name: 'ops' });
    const reader = await createKey(server.url, [{ ...allOn('topic'), actions: ['read', 'describe'] }], {
      as: ADMIN_KEY,
      name: 'reader',
    });
    const child = await createKey(server.url, [allOn('topic')], { as: ops.key, name: 'child' });
    secrets.push(ops.key, reader.key, child.key);

    // Tokens: from a key, from the admin key, a short one that expires.
    const read = [{ resource: 'topic', name: topic, actions: ['read'] }];
    const t1 = (await mintToken(server.url, ops.key, read, 60_000)).token;
    const t2 = (await mintToken(server.url, ADMIN_KEY, read, 60_000)).token;
    const short = await mintToken(server.url, reader.key, read, 1_000);
    secrets.push(t1, t2, short.token);

    // Authenticated traffic: produce, reads, long-poll and SSE with the token in the query.
    const produce = `/v1/topics/${topic}/records`;
    for (const key of [ops.key, child.key, ADMIN_KEY]) {
      expect(
        (await call(produce, { method: 'POST', headers: bearer(key), body: { records: [{ value: 1 }] } })).status,
      ).toBe(200);
    }
    const records = `/v1/topics/${topic}/partitions/0/records`;
    expect((await call(`${records}?offset=0`, { headers: bearer(reader.key) })).status).toBe(200);
    expect((await call(`${records}?offset=0&wait_ms=100&access_token=${t1}`)).status).toBe(200);
    expect((await call(`${records}?access_token=${t2}&offset=0`)).status).toBe(200);
    expect(await sse(`/v1/topics/${topic}/events?from=earliest&access_token=${t1}`)).toBe(200);
    expect(await sse(`/v1/topics/${topic}/partitions/0/events?from=earliest`, bearer(reader.key))).toBe(200);

    // Failures: unknown key, malformed header, key in the URL, token on a write, tampered token,
    // a credential on an unknown path, a bad request body.
    const unknown = `slk_${randomBytes(32).toString('base64url')}`;
    secrets.push(unknown);
    const failures: Array<[Promise<{ status: number }>, number]> = [
      [call(records, { headers: bearer(unknown) }), 401],
      [call(records, { headers: { authorization: `Basic ${ops.key}` } }), 401],
      [call(records, { headers: { authorization: `Bearer ${ops.key} extra` } }), 401],
      [call(`${records}?access_token=${reader.key}`), 401],
      [call(`${produce}?access_token=${t1}`, { method: 'POST', body: { records: [{ value: 1 }] } }), 401],
      [call(`/v1/topics/${topic}?access_token=${t1}`), 401],
      [call(records, { headers: bearer(`${t1.slice(0, -4)}AAAA`) }), 401],
      [call(`/v1/nothing-here?access_token=${t1}`, { headers: bearer(ops.key) }), 404],
      [call(produce, { method: 'POST', headers: bearer(reader.key), body: { records: [{ value: 1 }] } }), 403],
      [call('/v1/keys', { method: 'POST', headers: bearer(ops.key), body: { name: 'x', grants: 'all' } }), 400],
    ];
    for (const [res, status] of failures) expect((await res).status).toBe(status);

    // Expiry and revocation: a token past its expiry, a revoked key and a token its key minted.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, short.expires_at - Date.now()) + 50));
    expect((await call(records, { headers: bearer(short.token) })).status).toBe(401);
    expect((await call(`/v1/keys/${ops.id}`, { method: 'DELETE', headers: admin })).status).toBe(204);
    expect((await call(records, { headers: bearer(ops.key) })).status).toBe(401);
    expect((await call(records, { headers: bearer(child.key) })).status).toBe(401); // revoked with its creator
    expect((await call(`${records}?access_token=${t1}`)).status).toBe(401);

    // Webhook signing secrets, at creation and rotation.
    const hook = await call('/v1/webhooks', { method: 'POST', headers: admin, body: { topic, url: receiver.url } });
    expect(hook.status).toBe(201);
    const hookBody = JSON.parse(hook.text) as { id: string; secret: string };
    const rotated = await call(`/v1/webhooks/${hookBody.id}/rotate-secret`, {
      method: 'POST',
      headers: admin,
      body: {},
    });
    expect(rotated.status).toBe(200);
    secrets.push(hookBody.secret, (JSON.parse(rotated.text) as { secret: string }).secret);

    const metrics = await call('/metrics', { headers: admin });
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('sluice_http_requests_total');
    await server.stop();
    const logs = server.output();

    // The scan sees what happened: the query-token stream and the refusals were logged.
    expect(logs).toContain(`"path":"/v1/topics/${topic}/events"`);
    expect(logs).toMatch(/"status":401/);
    expect(logs).toContain(ops.id);
    for (const secret of secrets) {
      for (const form of forms(secret)) {
        expect(logs.includes(form), `log output holds ${form} (from a secret)`).toBe(false);
        expect(metrics.text.includes(form), `/metrics holds ${form} (from a secret)`).toBe(false);
      }
    }
  }, 90_000);
});
