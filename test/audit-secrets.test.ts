// Audit trail and webhook secret exposure against a real server: each change to topics, groups,
// webhooks and keys (and each offset reset) is one `audit: true` JSON line with the key id and
// request id, refused attempts too; signing secrets appear only in the create and rotate answers.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { TestReceiver } from '../src/webhooks/webhooks-test-kit.js';
import { ADMIN_GRANTS, allOn, bearer, createKey, type KeyBody } from './auth-support.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from './support/server.js';

const ADMIN_KEY = `adm_${randomUUID()}${randomUUID()}`;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let env: TestEnv;
let server: TestServer;
let receiver: TestReceiver;
const lines: string[] = [];

beforeAll(async () => {
  env = await createTestEnv({ SLUICE_ADMIN_KEY: ADMIN_KEY, SLUICE_WEBHOOK_ALLOW_PRIVATE: 'true' });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  // At `warn`, as a quiet production set-up would run: audit lines are still written.
  server = await startTestServer(env, { overrides: { logger: createLogger({ logLevel: 'warn' }, sink) } });
  receiver = await TestReceiver.start();
});
afterAll(async () => {
  await server?.stop();
  await receiver?.close();
  await env?.cleanup();
});

async function call(credential: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...bearer(credential), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    text,
    json: (text ? JSON.parse(text) : {}) as Json,
    requestId: res.headers.get('x-request-id')!,
  };
}

const audits = () => lines.map((l) => JSON.parse(l) as Json).filter((l) => l['audit'] === true);

describe('webhook signing secrets', () => {
  it('are returned by create and rotate only — never by get, list, patch or deliveries; rotating needs webhook:alter', async () => {
    const topic = `t-${randomUUID()}`;
    expect((await call(ADMIN_KEY, 'POST', '/v1/topics', { name: topic, config: { durability: 'write' } })).status).toBe(
      201,
    );
    const created = await call(ADMIN_KEY, 'POST', '/v1/webhooks', { topic, url: receiver.url, from: 'earliest' });
    expect(created.status).toBe(201);
    const first = created.json['secret'] as string;
    expect(first).toMatch(/^whsec_/);
    const id = created.json['id'] as string;
    expect((await call(ADMIN_KEY, 'POST', `/v1/topics/${topic}/records`, { records: [{ value: 1 }] })).status).toBe(
      200,
    );
    const deadline = Date.now() + 15_000;
    let deliveries = await call(ADMIN_KEY, 'GET', `/v1/webhooks/${id}/deliveries`);
    while ((deliveries.json['deliveries'] ?? []).length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      deliveries = await call(ADMIN_KEY, 'GET', `/v1/webhooks/${id}/deliveries`);
    }
    expect(deliveries.json['deliveries'].length).toBeGreaterThan(0);

    const rotated = await call(ADMIN_KEY, 'POST', `/v1/webhooks/${id}/rotate-secret`, {});
    expect(rotated.status).toBe(200);
    const second = rotated.json['secret'] as string;
    expect(second).toMatch(/^whsec_/);
    expect(second).not.toBe(first);
    // Every other answer about the webhook, after rotation too: no secret, old or new.
    const answers = [
      deliveries,
      await call(ADMIN_KEY, 'GET', `/v1/webhooks/${id}`),
      await call(ADMIN_KEY, 'GET', '/v1/webhooks'),
      await call(ADMIN_KEY, 'PATCH', `/v1/webhooks/${id}`, { state: 'paused' }),
      await call(ADMIN_KEY, 'GET', `/v1/webhooks/${id}/deliveries`),
    ];
    for (const a of answers) {
      expect(a.status, a.text).toBe(200);
      for (const secret of [first, second, first.slice(6), second.slice(6)]) expect(a.text).not.toContain(secret);
      expect(a.text).not.toMatch(/whsec_|"secret"/);
    }

    const describeOnly = await createKey(server.url, [{ ...allOn('webhook'), actions: ['describe'] }, allOn('topic')], {
      as: ADMIN_KEY,
    });
    const refused = await call(describeOnly.key, 'POST', `/v1/webhooks/${id}/rotate-secret`, {});
    expect(refused.status).toBe(403);
    expect(refused.text).not.toMatch(/whsec_/);
    expect((await call(describeOnly.key, 'GET', `/v1/webhooks/${id}`)).status).toBe(200);
  }, 30_000);
});

describe('audit log', () => {
  it('one audit line per change, with key id and request id, for refused attempts too; no secret in any log line', async () => {
    const key: KeyBody = await createKey(server.url, ADMIN_GRANTS, { as: ADMIN_KEY, name: 'ops' });
    const readOnly: KeyBody = await createKey(server.url, [{ ...allOn('topic'), actions: ['describe', 'read'] }], {
      as: ADMIN_KEY,
    });
    const topic = `t-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    const k = key.key;
    const expected: Array<[event: string, res: { status: number; requestId: string }, keyId: string, name?: string]> =
      [];
    const step = async (
      event: string,
      credential: string,
      keyId: string,
      method: string,
      path: string,
      body?: unknown,
      name?: string,
    ) => {
      const res = await call(credential, method, path, body);
      expected.push([event, res, keyId, name]);
      return res;
    };
    await step(
      'topic.create',
      k,
      key.id,
      'POST',
      '/v1/topics',
      { name: topic, config: { durability: 'write' } },
      topic,
    );
    await step('topic.alter', k, key.id, 'PATCH', `/v1/topics/${topic}`, { partitions: 2 }, topic);
    await step('topic.delete', readOnly.key, readOnly.id, 'DELETE', `/v1/topics/${topic}`, undefined, topic); // refused
    const hook = await step('webhook.create', k, key.id, 'POST', '/v1/webhooks', { topic, url: receiver.url });
    const hookId = hook.json['id'] as string;
    await step('webhook.alter', k, key.id, 'PATCH', `/v1/webhooks/${hookId}`, { state: 'paused' }, hookId);
    const rotated = await step(
      'webhook.rotate_secret',
      k,
      key.id,
      'POST',
      `/v1/webhooks/${hookId}/rotate-secret`,
      {},
      hookId,
    );
    await step('webhook.delete', k, key.id, 'DELETE', `/v1/webhooks/${hookId}`, undefined, hookId);
    await step(
      'group.offsets_reset',
      k,
      key.id,
      'POST',
      `/v1/groups/${group}/offsets/reset`,
      { topic, to: 'earliest' },
      group,
    );
    await step('group.delete', k, key.id, 'DELETE', `/v1/groups/${group}`, undefined, group);
    await step('topic.delete', k, key.id, 'DELETE', `/v1/topics/${topic}`, undefined, topic);
    // A Durable Stream's create and delete make and delete its topic: audited as the stream, named by its topic.
    const stream = `audit/s-${randomUUID()}`;
    const streamTopic = stream.replace('/', '__');
    await step('stream.create', k, key.id, 'PUT', `/v1/stream/${stream}`, [1, 2], streamTopic);
    await step('stream.delete', readOnly.key, readOnly.id, 'DELETE', `/v1/stream/${stream}`, undefined, streamTopic);
    await step('stream.delete', k, key.id, 'DELETE', `/v1/stream/${stream}`, undefined, streamTopic);
    await step('key.revoke', ADMIN_KEY, 'admin', 'DELETE', `/v1/keys/${readOnly.id}`, undefined, readOnly.id);

    const byRequest = new Map(audits().map((a) => [a['request_id'] as string, a]));
    for (const [event, res, keyId, name] of expected) {
      const line = byRequest.get(res.requestId);
      expect(line, `${event} (${res.status}) has an audit line`).toBeDefined();
      expect(line).toMatchObject({
        event,
        status: res.status,
        key_id: keyId,
        outcome: res.status < 300 ? 'success' : res.status === 403 ? 'denied' : 'failed',
      });
      if (name !== undefined) expect(line!['name'], event).toBe(name);
      expect(audits().filter((a) => a['request_id'] === res.requestId)).toHaveLength(1);
    }
    expect(byRequest.get(expected[2]![1].requestId)).toMatchObject({ outcome: 'denied', status: 403 });
    // The key creations of this test were audited with the admin key id, naming the new key's id only.
    const keyCreates = audits().filter((a) => a['event'] === 'key.create' && a['name'] === key.id);
    expect(keyCreates).toHaveLength(1);
    expect(keyCreates[0]).toMatchObject({ key_id: 'admin', principal: 'admin', key_name: 'ops' });
    // Reads are not audited.
    expect(audits().some((a) => a['operation'] === 'getTopic' || a['operation'] === 'listWebhooks')).toBe(false);

    const all = lines.join('\n');
    for (const secret of [
      ADMIN_KEY,
      key.key,
      readOnly.key,
      hook.json['secret'] as string,
      rotated.json['secret'] as string,
    ]) {
      expect(all).not.toContain(secret);
    }
  }, 30_000);
});
