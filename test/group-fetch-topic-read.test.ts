// A group member's records are read with topic:read on its topics, checked on every fetch (as
// Kafka checks READ on the topic for every Fetch): the member id is no capability. Any caller
// with group:describe sees it (GET /v1/groups/{group}), so group:read alone must not read the
// member's topics through it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from './support/server.js';
import { bearer, createKey } from './auth-support.js';

const ADMIN_KEY = `slk_admin_${randomUUID().replace(/-/g, '')}`;

describe('group fetch needs topic:read on the member’s topics', () => {
  let server: TestServer;
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ SLUICE_AUTH: 'keys', SLUICE_ADMIN_KEY: ADMIN_KEY });
    server = await startTestServer(env);
  });
  afterAll(async () => {
    await server?.stop();
    await env?.cleanup();
  });
  const call = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
  };
  const grant = (resource: string, name: string, actions: string[]) => ({ resource, name, actions });

  it('refuses a caller with group:read but not topic:read, and confirms nothing for it', async () => {
    const admin = bearer(ADMIN_KEY);
    const topic = `secret-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    expect((await call('POST', '/v1/topics', admin, { name: topic })).status).toBe(201);
    const produced = await call('POST', `/v1/topics/${topic}/records`, admin, { records: [{ value: 'classified' }] });
    expect(produced.status).toBe(200);
    const consumer = await createKey(server.url, [grant('topic', topic, ['read']), grant('group', group, ['read'])], {
      as: ADMIN_KEY,
      name: 'consumer',
    });
    const other = await createKey(server.url, [grant('group', group, ['read', 'describe'])], {
      as: ADMIN_KEY,
      name: 'other',
    });
    const joined = await call('POST', `/v1/groups/${group}/members`, bearer(consumer.key), {
      topics: [topic],
      auto_offset_reset: 'earliest',
    });
    expect(joined.status).toBe(201);
    const member = joined.body!.member_id as string;
    // The member id is visible to anyone who may describe the group.
    const described = await call('GET', `/v1/groups/${group}`, bearer(other.key));
    expect((described.body!.members as Array<{ member_id: string }>).map((m) => m.member_id)).toContain(member);

    const first = await call('GET', `/v1/groups/${group}/members/${member}/records`, bearer(consumer.key));
    expect(first.status).toBe(200);
    const cursor = first.body!.cursor as string;

    const stolen = await call(
      'GET',
      `/v1/groups/${group}/members/${member}/records?cursor=${encodeURIComponent(cursor)}`,
      bearer(other.key),
    );
    expect(stolen.status).toBe(403);
    expect(stolen.body).toMatchObject({
      error: { code: 'forbidden', needs: { resource: 'topic', action: 'read', name: topic } },
    });
    expect(JSON.stringify(stolen.body)).not.toContain('classified');

    // The refused fetch confirmed nothing: the member still gets the record again.
    const again = await call('GET', `/v1/groups/${group}/members/${member}/records`, bearer(consumer.key));
    expect(again.status).toBe(200);
    expect((again.body!.records as Array<{ value: unknown }>).map((r) => r.value)).toEqual(['classified']);
  });
  it('a leave with a cursor (a commit, with auto_commit) needs topic:read too; a plain leave does not', async () => {
    const admin = bearer(ADMIN_KEY);
    const topic = `t-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    expect((await call('POST', '/v1/topics', admin, { name: topic })).status).toBe(201);
    const produced = await call('POST', `/v1/topics/${topic}/records`, admin, {
      records: [{ value: 1 }, { value: 2 }],
    });
    expect(produced.status).toBe(200);
    const consumer = await createKey(
      server.url,
      [grant('topic', topic, ['read']), grant('group', group, ['read', 'describe'])],
      { as: ADMIN_KEY, name: 'consumer' },
    );
    const other = await createKey(server.url, [grant('group', group, ['read', 'describe'])], {
      as: ADMIN_KEY,
      name: 'other',
    });
    const join = async () => {
      const joined = await call('POST', `/v1/groups/${group}/members`, bearer(consumer.key), {
        topics: [topic],
        auto_offset_reset: 'earliest',
        auto_commit: true,
      });
      expect(joined.status).toBe(201);
      return joined.body!.member_id as string;
    };
    const member = await join();
    const fetched = await call('GET', `/v1/groups/${group}/members/${member}/records`, bearer(consumer.key));
    expect(fetched.status).toBe(200);
    const cursor = encodeURIComponent(fetched.body!.cursor as string);
    const committed = async () => {
      const d = await call('GET', `/v1/groups/${group}`, bearer(consumer.key));
      return (d.body!.partitions as Array<{ committed_offset: number | null }>)[0]?.committed_offset ?? null;
    };
    const before = await committed();
    expect(before).not.toBe(2);
    const refused = await call('DELETE', `/v1/groups/${group}/members/${member}?cursor=${cursor}`, bearer(other.key));
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: { code: 'forbidden', needs: { resource: 'topic', name: topic } } });
    // Nothing was committed and the member is still there.
    const described = await call('GET', `/v1/groups/${group}`, bearer(consumer.key));
    expect((described.body!.members as Array<{ member_id: string }>).map((m) => m.member_id)).toContain(member);
    expect(await committed()).toBe(before);
    // Leaving without a cursor is a group action: group:read is enough.
    expect((await call('DELETE', `/v1/groups/${group}/members/${member}`, bearer(other.key))).status).toBe(204);
  });
  it('committing or resetting a group’s offsets needs topic:read on each topic it moves (as Kafka’s OffsetCommit)', async () => {
    const admin = bearer(ADMIN_KEY);
    const secret = `secret-${randomUUID()}`;
    const open = `open-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    for (const t of [secret, open]) {
      expect((await call('POST', '/v1/topics', admin, { name: t })).status).toBe(201);
      const produced = await call('POST', `/v1/topics/${t}/records`, admin, { records: [{ value: 1 }, { value: 2 }] });
      expect(produced.status).toBe(200);
    }
    // group:write on the group and topic:read on `open` only.
    const writer = await createKey(
      server.url,
      [grant('group', group, ['write', 'describe']), grant('topic', open, ['read'])],
      { as: ADMIN_KEY, name: 'writer' },
    );
    const committed = async () => {
      const d = await call('GET', `/v1/groups/${group}`, admin);
      if (d.status === 404) return {};
      return Object.fromEntries(
        (d.body!.partitions as Array<{ topic: string; committed_offset: number | null }>).map((p) => [
          p.topic,
          p.committed_offset,
        ]),
      );
    };
    // An admin commit that skips past the secret topic's records: refused, nothing written.
    const skip = await call('POST', `/v1/groups/${group}/offsets`, bearer(writer.key), {
      offsets: [
        { topic: open, partition: 0, offset: 1 },
        { topic: secret, partition: 0, offset: 2 },
      ],
    });
    expect(skip.status).toBe(403);
    expect(skip.body).toMatchObject({
      error: { code: 'forbidden', needs: { resource: 'topic', action: 'read', name: secret } },
    });
    expect(await committed()).toEqual({});
    // On the topic it may read, the same caller commits.
    const allowed = await call('POST', `/v1/groups/${group}/offsets`, bearer(writer.key), {
      offsets: [{ topic: open, partition: 0, offset: 1 }],
    });
    expect(allowed.status).toBe(204);
    expect(await committed()).toEqual({ [open]: 1 });
    // A reset is the same write: refused on the secret topic, allowed on the open one.
    const reset = await call('POST', `/v1/groups/${group}/offsets/reset`, bearer(writer.key), {
      topic: secret,
      to: 'latest',
    });
    expect(reset.status).toBe(403);
    expect(reset.body).toMatchObject({ error: { code: 'forbidden', needs: { resource: 'topic', name: secret } } });
    expect(await committed()).toEqual({ [open]: 1 });
    const resetOpen = await call('POST', `/v1/groups/${group}/offsets/reset`, bearer(writer.key), {
      topic: open,
      to: 'latest',
    });
    expect(resetOpen.status).toBe(200);
    expect(await committed()).toEqual({ [open]: 2 });
  });
  it('describing a group shows offsets and lag only of the topics the caller may describe', async () => {
    const admin = bearer(ADMIN_KEY);
    const secret = `secret-${randomUUID()}`;
    const open = `open-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    for (const t of [secret, open]) {
      expect((await call('POST', '/v1/topics', admin, { name: t })).status).toBe(201);
      expect(
        (await call('POST', `/v1/topics/${t}/records`, admin, { records: [{ value: 1 }, { value: 2 }] })).status,
      ).toBe(200);
    }
    const committed = await call('POST', `/v1/groups/${group}/offsets`, admin, {
      offsets: [
        { topic: secret, partition: 0, offset: 1 },
        { topic: open, partition: 0, offset: 0 },
      ],
    });
    expect(committed.status).toBe(204);
    type Described = { partitions: Array<{ topic: string; committed_offset: number | null }>; total_lag: number };
    const whole = (await call('GET', `/v1/groups/${group}`, admin)).body as unknown as Described;
    expect(whole.partitions.map((p) => p.topic).sort()).toEqual([open, secret].sort());
    expect(whole.total_lag).toBe(3);

    const watcher = await createKey(
      server.url,
      [grant('group', group, ['describe']), grant('topic', open, ['describe'])],
      { as: ADMIN_KEY, name: 'watcher' },
    );
    const seen = await call('GET', `/v1/groups/${group}`, bearer(watcher.key));
    expect(seen.status).toBe(200);
    const described = seen.body as unknown as Described;
    expect(described.partitions).toEqual([expect.objectContaining({ topic: open, committed_offset: 0 })]);
    expect(described.total_lag).toBe(2);
    expect(JSON.stringify(seen.body)).not.toContain(secret);
  });
});
