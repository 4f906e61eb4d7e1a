// Access-control seams found by probing the integrated server: a dead-letter topic is written
// only with topic:write on it, a queue is deleted only with a grant on its topic, and a key a
// credential creates never outlives (or outlasts the revocation of) that credential.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from './support/server.js';
import { allOn, bearer, createKey, mintToken } from './auth-support.js';

const ADMIN_KEY = `slk_admin_${randomUUID().replace(/-/g, '')}`;

describe('delegation and indirect writes', () => {
  let server: TestServer;
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({
      SLUICE_AUTH: 'keys',
      SLUICE_ADMIN_KEY: ADMIN_KEY,
      SLUICE_WEBHOOK_ALLOW_PRIVATE: 'true',
    });
    server = await startTestServer(env);
  });
  afterAll(async () => {
    await server?.stop();
    await env?.cleanup();
  });
  const admin = bearer(ADMIN_KEY);
  const send = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    await res.arrayBuffer();
    return res.status;
  };
  const topic = async () => {
    const name = `t-${randomUUID()}`;
    expect(await send('POST', '/v1/topics', admin, { name })).toBe(201);
    return name;
  };
  const grant = (resource: string, name: string, actions: string[]) => ({
    resource,
    name,
    pattern: 'literal',
    actions,
  });

  it('exposing an existing Kafka topic needs topic:create on its Kafka name as well as on the Sluice name', async () => {
    const prefix = `team-${randomUUID()}.`;
    const key = bearer(
      (
        await createKey(server.url, [{ resource: 'topic', name: prefix, pattern: 'prefixed', actions: ['create'] }], {
          as: ADMIN_KEY,
        })
      ).key,
    );
    // Kafka topics outside the key's names are refused before anything is looked up.
    expect(await send('POST', '/v1/topics', key, { name: `${prefix}x`, kafka_topic: 'payroll' })).toBe(403);
    // Within them, the request reaches the handler (on the file store: 400, kafka_topic needs the Kafka store).
    const within = await send('POST', '/v1/topics', key, { name: `${prefix}y`, kafka_topic: `${prefix}orders` });
    expect(within).not.toBe(403);
    expect(await send('POST', '/v1/topics', key, { name: `${prefix}z` })).toBe(201);
  });

  it('naming a dead-letter topic needs topic:write on it (webhook create and update, queue put)', async () => {
    const source = await topic();
    const dlq = await topic();
    const queue = `q-${randomUUID()}`;
    const grants = [
      grant('topic', source, ['read', 'write', 'describe']),
      grant('webhook', source, ['create', 'describe', 'alter']),
      grant('group', queue, ['read', 'alter', 'describe', 'delete']),
    ];
    const key = bearer((await createKey(server.url, grants, { as: ADMIN_KEY })).key);
    const hook = { topic: source, url: 'http://127.0.0.1:9/hook' };
    expect(await send('POST', '/v1/webhooks', key, { ...hook, dead_letter_topic: dlq })).toBe(403);
    expect(await send('PUT', `/v1/topics/${source}/queues/${queue}`, key, { dead_letter_topic: dlq })).toBe(403);
    const created = await fetch(`${server.url}/v1/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...key },
      body: JSON.stringify(hook),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect(await send('PATCH', `/v1/webhooks/${id}`, key, { dead_letter_topic: dlq })).toBe(403);
    // With topic:write on the dead-letter topic the same calls pass.
    const writer = bearer(
      (await createKey(server.url, [...grants, grant('topic', dlq, ['write'])], { as: ADMIN_KEY })).key,
    );
    expect(await send('PATCH', `/v1/webhooks/${id}`, writer, { dead_letter_topic: dlq })).toBe(200);
    expect(await send('PUT', `/v1/topics/${source}/queues/${queue}`, writer, { dead_letter_topic: dlq })).toBe(201);
  });

  it('changing a webhook needs topic:read on its topic, as creating one does', async () => {
    // Alter alone would redirect the topic's records to the caller's URL, or make deliveries fail
    // (a 1 ms time-out) into a dead-letter topic the caller may read.
    const source = await topic();
    const dlq = await topic();
    const hook = { topic: source, url: 'http://127.0.0.1:9/hook' };
    const created = await fetch(`${server.url}/v1/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...admin },
      body: JSON.stringify(hook),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const alterOnly = [grant('webhook', source, ['alter', 'describe']), grant('topic', dlq, ['read', 'write'])];
    const key = bearer((await createKey(server.url, alterOnly, { as: ADMIN_KEY })).key);
    expect(await send('PATCH', `/v1/webhooks/${id}`, key, { url: 'http://127.0.0.1:9/elsewhere' })).toBe(403);
    expect(await send('PATCH', `/v1/webhooks/${id}`, key, { timeout_ms: 10, dead_letter_topic: dlq })).toBe(403);
    const got = (await (await fetch(`${server.url}/v1/webhooks/${id}`, { headers: admin })).json()) as {
      url: string;
      dead_letter_topic: string | null;
    };
    expect(got.url).toBe(hook.url);
    expect(got.dead_letter_topic).toBeNull();
    // With topic:read on the source the same change passes.
    const reader = bearer(
      (await createKey(server.url, [...alterOnly, grant('topic', source, ['read'])], { as: ADMIN_KEY })).key,
    );
    expect(await send('PATCH', `/v1/webhooks/${id}`, reader, { url: 'http://127.0.0.1:9/elsewhere' })).toBe(200);
  });

  it('deleting a queue needs a grant on its topic, not only on the queue name', async () => {
    const t = await topic();
    const queue = `q-${randomUUID()}`;
    expect(await send('PUT', `/v1/topics/${t}/queues/${queue}`, admin, {})).toBe(201);
    const key = bearer((await createKey(server.url, [grant('group', queue, ['delete'])], { as: ADMIN_KEY })).key);
    expect(await send('DELETE', `/v1/topics/${t}/queues/${queue}`, key)).toBe(403);
    expect(await send('GET', `/v1/topics/${t}/queues/${queue}`, admin)).toBe(200);
  });

  it('a key created by an expiring key expires with it; a browser token cannot create keys', async () => {
    const grants = [allOn('key'), allOn('topic')];
    const parentExpiry = Date.now() + 60_000;
    const parent = await createKey(server.url, grants, { as: ADMIN_KEY, expiresAt: parentExpiry });
    const child = await fetch(`${server.url}/v1/keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(parent.key) },
      body: JSON.stringify({ name: 'child', grants: [allOn('topic')] }),
    });
    expect(child.status).toBe(201);
    expect(((await child.json()) as { expires_at: number | null }).expires_at).toBe(parentExpiry);
    expect(
      await send('POST', '/v1/keys', bearer(parent.key), {
        name: 'later',
        grants: [allOn('topic')],
        expires_at: parentExpiry + 60_000,
      }),
    ).toBe(400);
    const token = await mintToken(server.url, ADMIN_KEY, grants, 60_000);
    expect(await send('POST', '/v1/keys', bearer(token.token), { name: 'from-token', grants: [allOn('topic')] })).toBe(
      403,
    );
  });

  it('revoking a key revokes the keys it created', async () => {
    const parent = await createKey(server.url, [allOn('key'), allOn('topic')], { as: ADMIN_KEY });
    const child = await createKey(server.url, [allOn('topic')], { as: parent.key });
    expect(await send('GET', '/v1/topics', bearer(child.key))).toBe(200);
    expect(await send('DELETE', `/v1/keys/${parent.id}`, admin)).toBe(204);
    const deadline = Date.now() + 5_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = await send('GET', '/v1/topics', bearer(child.key));
      if (status === 401) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(401);
  });
});
