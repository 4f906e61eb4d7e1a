// Topic identity (#12.2): a topic deleted and created again under its name is another topic.
// Group offsets and positions, webhooks and their progress of the old one end with it.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { getGroup } from '../src/groups/group-repository.js';
import { TestReceiver } from '../src/webhooks/webhooks-test-kit.js';
import { listen, until } from './sse-support.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from './support/server.js';

let env: TestEnv;
let server: TestServer;
const receivers: TestReceiver[] = [];
beforeAll(async () => {
  env = await createTestEnv({ SLUICE_WEBHOOK_ALLOW_PRIVATE: 'true', SLUICE_GROUP_REBALANCE_DELAY_MS: '20' });
  server = await startTestServer(env);
});
afterAll(async () => {
  await server?.stop();
  await env?.cleanup();
});
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await server.client.raw(
    method,
    path,
    body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } },
  );
  return { status: res.status, json: res.json as Json };
}

async function ok(method: string, path: string, body?: unknown, status = 200): Promise<Json> {
  const res = await api(method, path, body);
  expect(res.status, `${method} ${path}: ${JSON.stringify(res.json)}`).toBe(status);
  return res.json;
}

const createTopic = (t: string) => ok('POST', '/v1/topics', { name: t, config: { durability: 'write' } }, 201);
const deleteTopic = (t: string) => ok('DELETE', `/v1/topics/${t}`, undefined, 204);
const produce = (t: string, n: number, tag: string) =>
  ok('POST', `/v1/topics/${t}/records`, { records: Array.from({ length: n }, (_, i) => ({ value: { tag, i } })) });

async function receiver(): Promise<TestReceiver> {
  const r = await TestReceiver.start();
  receivers.push(r);
  return r;
}

/** Fetch as `member` until `want` records arrived (bounded); returns their values. */
async function fetchAll(group: string, member: string, want: number): Promise<Json[]> {
  const got: Json[] = [];
  const deadline = Date.now() + 15_000;
  while (got.length < want && Date.now() < deadline) {
    const res = await ok('GET', `/v1/groups/${group}/members/${member}/records?wait_ms=500&max_records=100`);
    got.push(...(res.records as Json[]));
  }
  return got;
}

async function waitForWebhook(id: string, predicate: (w: Json) => boolean, timeoutMs = 15_000): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api('GET', `/v1/webhooks/${id}`);
    if (predicate(res.json)) return res.json;
    if (Date.now() > deadline) throw new Error(`webhook never reached the expected state: ${JSON.stringify(res.json)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('a topic deleted and created again', () => {
  it('starts a group with committed offsets at its auto_offset_reset position, not at the old offset', async () => {
    const t = `t-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    await createTopic(t);
    await produce(t, 7, 'old');
    const m = await ok('POST', `/v1/groups/${group}/members`, { topics: [t], auto_offset_reset: 'earliest' }, 201);
    const offsets = [{ topic: t, partition: 0, offset: 5 }];
    await ok('POST', `/v1/groups/${group}/offsets`, { member_id: m.member_id, generation: m.generation, offsets }, 204);
    await ok('DELETE', `/v1/groups/${group}/members/${m.member_id}`, undefined, 204);

    await deleteTopic(t);
    const described = await ok('GET', `/v1/groups/${group}`);
    expect(JSON.stringify(described)).not.toContain(t);
    await createTopic(t);
    await produce(t, 7, 'new');
    const again = await ok('POST', `/v1/groups/${group}/members`, { topics: [t], auto_offset_reset: 'earliest' }, 201);
    const got = await fetchAll(group, again.member_id as string, 7);
    expect(got.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(got.every((r) => r.value.tag === 'new')).toBe(true);
  });

  it('restarts a member that stays joined from the new topic’s start, not from its old position', async () => {
    const t = `t-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    await createTopic(t);
    await produce(t, 5, 'old');
    const m = await ok('POST', `/v1/groups/${group}/members`, { topics: [t], auto_offset_reset: 'earliest' }, 201);
    const member = m.member_id as string;
    expect((await fetchAll(group, member, 5)).map((r) => r.offset)).toEqual([0, 1, 2, 3, 4]);
    const offsets = [{ topic: t, partition: 0, offset: 5 }];
    await ok('POST', `/v1/groups/${group}/offsets`, { member_id: member, generation: m.generation, offsets }, 204);

    await deleteTopic(t);
    await createTopic(t);
    await produce(t, 7, 'new');
    const got = await fetchAll(group, member, 7);
    expect(got.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(got.every((r) => r.value.tag === 'new')).toBe(true);
  });

  it('ends its webhooks (state topic_deleted, progress removed); they never deliver the new topic, not after a restart either', async () => {
    const t = `t-${randomUUID()}`;
    await createTopic(t);
    const oldTopic = await ok('GET', `/v1/topics/${t}`);
    const old = await receiver();
    const hook = await ok('POST', '/v1/webhooks', { topic: t, url: old.url, from: 'earliest' }, 201);
    expect(hook.topic_id).toBe(oldTopic.id);
    await produce(t, 3, 'old');
    await waitForWebhook(hook.id as string, (w) => w.lag === 0 && w.partitions[0]?.next_offset === 3);
    // The progress group is internal (hidden from GET /v1/groups): look in the database.
    const progress = () => getGroup(server.services.db, `__webhook.${hook.id}`);
    expect(await progress()).toBeDefined();

    await deleteTopic(t);
    const ended = await ok('GET', `/v1/webhooks/${hook.id}`);
    expect(ended).toMatchObject({ state: 'topic_deleted', lag: 0, partitions: [] });
    expect(ended.state_reason).toContain('deleted');
    expect(await progress()).toBeUndefined();
    const patched = await api('PATCH', `/v1/webhooks/${hook.id}`, { state: 'active' });
    expect(patched.status).toBe(409);
    expect(patched.json.error.code).toBe('conflict');

    await createTopic(t);
    // A witness webhook on the new topic: once it has everything, the old one had its chance too.
    const witness = await receiver();
    const fresh = await ok('POST', '/v1/webhooks', { topic: t, url: witness.url, from: 'earliest' }, 201);
    await produce(t, 4, 'new');
    await witness.waitFor(() => new Set(witness.acceptedOffsets().get(0) ?? []).size === 4, 15_000, 'witness');
    expect(old.requests.flatMap((q) => q.json.records.map((r) => (r.value as Json).tag))).toEqual([
      'old',
      'old',
      'old',
    ]);
    expect((await ok('GET', `/v1/webhooks/${hook.id}`)).state).toBe('topic_deleted');

    await server.stop();
    server = await startTestServer(env);
    await produce(t, 2, 'new');
    await witness.waitFor(() => new Set(witness.acceptedOffsets().get(0) ?? []).size === 6, 15_000, 'witness');
    expect((await ok('GET', `/v1/webhooks/${hook.id}`)).state).toBe('topic_deleted');
    expect((await ok('GET', `/v1/webhooks/${fresh.id}`)).state).toBe('active');
    expect(old.requests.flatMap((q) => q.json.records)).toHaveLength(3);
    await ok('DELETE', `/v1/webhooks/${hook.id}`, undefined, 204);
  });

  it('keeps a webhook whose dead-letter topic was deleted failing, never skipping a record', async () => {
    const t = `t-${randomUUID()}`;
    const dlt = `dlt-${randomUUID()}`;
    await createTopic(t);
    await createTopic(dlt);
    const r = await receiver();
    let healthy = false;
    r.script = () => ({ status: healthy ? 200 : 500 });
    const hook = await ok(
      'POST',
      '/v1/webhooks',
      {
        topic: t,
        url: r.url,
        from: 'earliest',
        dead_letter_topic: dlt,
        retry: { max_attempts: 1, initial_backoff_ms: 5, max_backoff_ms: 20 },
      },
      201,
    );
    await deleteTopic(dlt);
    await produce(t, 3, 'x');
    const failing = await waitForWebhook(
      hook.id as string,
      (w) => w.consecutive_failures >= 3 && String(w.last_error).includes(dlt),
    );
    expect(failing.state).toBe('failing');
    expect(failing.last_error).toContain(dlt);
    expect(failing.partitions[0].next_offset).toBe(0);
    healthy = true;
    await waitForWebhook(hook.id as string, (w) => w.lag === 0 && w.state === 'active');
    expect(new Set(r.acceptedOffsets().get(0))).toEqual(new Set([0, 1, 2]));
  });

  it('ends open partition and topic streams as soon as their topic is deleted, not at the next keepalive', async () => {
    const t = `t-${randomUUID()}`;
    await createTopic(t);
    await produce(t, 2, 'old');
    const readers = [
      listen(`${server.url}/v1/topics/${t}/partitions/0/events?from=earliest`),
      listen(`${server.url}/v1/topics/${t}/events?from=earliest`),
    ];
    try {
      for (const r of readers) await until(() => r.records().length === 2, 'old records');
      const deletedAt = Date.now();
      await deleteTopic(t);
      // The keepalive (which also noticed deletions) is 15 s by default: well past this deadline.
      for (const r of readers) {
        await until(() => r.events.some((e) => e.type === 'error'), 'an error event after the delete', 5_000);
        const error = JSON.parse(r.events.find((e) => e.type === 'error')!.data) as Json;
        expect(error.code ?? error.error?.code).toBe('topic_not_found');
      }
      expect(Date.now() - deletedAt).toBeLessThan(5_000);
    } finally {
      for (const r of readers) r.close();
    }
  });

  it('refuses an SSE topic cursor of the deleted topic (410 before the stream opens) and accepts the new topic’s', async () => {
    const t = `t-${randomUUID()}`;
    await createTopic(t);
    await produce(t, 3, 'old');
    const url = `${server.url}/v1/topics/${t}/events?from=earliest`;
    const reader = listen(url);
    try {
      await until(() => reader.records().length === 3, 'old records');
    } finally {
      reader.close();
    }
    const cursor = reader.events.at(-1)!.id;
    const open = async (lastEventId: string) => {
      const res = await fetch(url, { headers: { 'last-event-id': lastEventId } });
      const json = res.headers.get('content-type')?.includes('json');
      const body = json ? ((await res.json()) as Json) : undefined;
      if (!json) await res.body?.cancel();
      return { status: res.status, code: body?.error?.code as string | undefined };
    };
    expect((await open(cursor)).status).toBe(200);

    await deleteTopic(t);
    await createTopic(t);
    await produce(t, 2, 'new');
    expect(await open(cursor)).toEqual({ status: 410, code: 'gone' });
    // Without the cursor the new topic streams from its start; its own cursors resume it.
    const fresh = listen(url);
    try {
      await until(() => fresh.records().length === 2, 'new records');
      expect(fresh.records().map((r) => (r.value as Json).tag)).toEqual(['new', 'new']);
      expect((await open(fresh.events.at(-1)!.id)).status).toBe(200);
    } finally {
      fresh.close();
    }
  });
});

describe('partition SSE cursors name their topic', () => {
  it('refuses a partition cursor of the deleted topic (410) and resumes the new topic with its own', async () => {
    const t = `t-${randomUUID()}`;
    await createTopic(t);
    await produce(t, 3, 'old');
    const url = `${server.url}/v1/topics/${t}/partitions/0/events?from=earliest`;
    const reader = listen(url);
    try {
      await until(() => reader.records().length === 3, 'old records');
    } finally {
      reader.close();
    }
    const cursor = reader.events.at(-1)!.id;
    expect(cursor).toMatch(/^3\.[A-Za-z0-9_-]{6}$/);
    const open = async (lastEventId: string) => {
      const res = await fetch(url, { headers: { 'last-event-id': lastEventId } });
      const json = res.headers.get('content-type')?.includes('json');
      const body = json ? ((await res.json()) as Json) : undefined;
      if (!json) await res.body?.cancel();
      return { status: res.status, code: body?.error?.code as string | undefined };
    };
    expect((await open(cursor)).status).toBe(200);

    await deleteTopic(t);
    await createTopic(t);
    await produce(t, 5, 'new');
    // Resuming the new topic at offset 3 would skip its first three records without a word.
    expect(await open(cursor)).toEqual({ status: 410, code: 'gone' });
    const fresh = listen(url);
    try {
      await until(() => fresh.records().length === 5, 'new records');
      expect(fresh.records().map((r) => (r.value as Json).tag)).toEqual(['new', 'new', 'new', 'new', 'new']);
      expect((await open(fresh.events.at(-1)!.id)).status).toBe(200);
    } finally {
      fresh.close();
    }
    // A bare offset, as a person types it, is still accepted (and not checked).
    expect((await open('2')).status).toBe(200);
  });
});
