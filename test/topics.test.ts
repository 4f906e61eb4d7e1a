// Black-box tests of the Topics API (DESIGN §3) against a real server: create, list,
// describe, PATCH, delete, and every error status these endpoints document.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus } from './support/client.js';
import { startIsolatedServer, type TestServer } from './support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startIsolatedServer({ SLUICE_MAX_PARTITIONS: '16' });
});
afterAll(async () => {
  await server?.stop();
});

const name = () => `t-${randomUUID()}`;
const create = (body: { name: string; partitions?: number; config?: Record<string, unknown> }) =>
  server.client.post('/v1/topics', { body: body as never });

async function appendTo(topic: string, partition: number, values: string[]): Promise<void> {
  const found = server.services.topics.partitionLog(topic, partition);
  if (!found.ok) throw new Error(found.error.message);
  const result = await found.value.log.append(
    values.map((v) => ({ key: null, value: Buffer.from(JSON.stringify(v)), headers: [], timestamp: Date.now() })),
    { durability: 'write' },
  );
  if (!result.ok) throw new Error(result.error.reason);
}

describe('POST /v1/topics', () => {
  it('creates a topic with defaults and reports it', async () => {
    const n = name();
    const res = await create({ name: n });
    const topic = expectStatus(res, 201);
    expect(res.headers.get('location')).toBe(`/v1/topics/${n}`);
    expect(topic.name).toBe(n);
    expect(topic.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(topic.partition_count).toBe(1);
    expect(topic.partitions).toEqual([{ partition: 0, start_offset: 0, end_offset: 0, size_bytes: 0, writable: true }]);
    expect(topic.config).toEqual({
      retention_ms: 7 * 24 * 3600 * 1000,
      retention_bytes: -1,
      segment_bytes: 128 * 1024 * 1024,
      segment_ms: 7 * 24 * 3600 * 1000,
      durability: 'fsync',
      value_format: 'json',
      max_record_bytes: 1024 * 1024,
    });
    expect(topic.created_at).toBeGreaterThan(Date.now() - 60_000);
  });

  it('takes partitions and config', async () => {
    const topic = expectStatus(
      await create({
        name: name(),
        partitions: 3,
        config: { retention_ms: -1, durability: 'write', value_format: 'binary', segment_bytes: 4096 },
      }),
      201,
    );
    expect(topic.partition_count).toBe(3);
    expect(topic.partitions.map((p) => p.partition)).toEqual([0, 1, 2]);
    expect(topic.config).toMatchObject({
      retention_ms: -1,
      durability: 'write',
      value_format: 'binary',
      segment_bytes: 4096,
    });
  });

  it('answers 409 topic_exists for a duplicate name and leaves the first topic alone', async () => {
    const n = name();
    const first = expectStatus(await create({ name: n, partitions: 2 }), 201);
    const dup = await create({ name: n });
    expect(dup.status).toBe(409);
    const error = expectStatus(dup, 409).error;
    expect(error.code).toBe('topic_exists');
    expect(error.request_id).toBe(dup.headers.get('x-request-id'));
    const after = expectStatus(await server.client.get('/v1/topics/{topic}', { params: { topic: n } }), 200);
    expect(after.id).toBe(first.id);
    expect(after.partition_count).toBe(2);
  });

  it('answers 409 to concurrent creates of one name except exactly one', async () => {
    const n = name();
    const results = await Promise.all([1, 2, 3, 4].map(() => create({ name: n })));
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409]);
  });

  it.each([
    ['empty name', { name: '' }],
    ['space in name', { name: 'a b' }],
    ['slash in name', { name: 'a/b' }],
    ['250-character name', { name: 'x'.repeat(250) }],
    ['zero partitions', { name: 'ok-name', partitions: 0 }],
    ['fractional partitions', { name: 'ok-name', partitions: 1.5 }],
    ['too many partitions', { name: 'ok-name', partitions: 17 }],
    ['unknown field', { name: 'ok-name', partition: 3 }],
    ['unknown config field', { name: 'ok-name', config: { retention: 5 } }],
    ['retention_ms -2', { name: 'ok-name', config: { retention_ms: -2 } }],
    ['segment_bytes too small', { name: 'ok-name', config: { segment_bytes: 10 } }],
    ['bad durability', { name: 'ok-name', config: { durability: 'sometimes' } }],
    ['bad value_format', { name: 'ok-name', config: { value_format: 'xml' } }],
    ['max_record_bytes 0', { name: 'ok-name', config: { max_record_bytes: 0 } }],
    ['name not a string', { name: 42 }],
    ['missing name', { partitions: 1 }],
  ])('answers 400 bad_request for %s and creates nothing', async (_, body) => {
    const res = await server.client.raw('POST', '/v1/topics', {
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: 'bad_request' } });
    expect((res.json as { error: { message: string } }).error.message.length).toBeGreaterThan(5);
    const list = expectStatus(await server.client.get('/v1/topics'), 200);
    expect(list.topics.some((t) => t.name === 'ok-name')).toBe(false);
  });

  it.each(['.', '..'])('refuses the name %j with 400, as Kafka does (URL clients normalise it away)', async (n) => {
    const res = await server.client.raw('POST', '/v1/topics', {
      body: JSON.stringify({ name: n }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({
      error: { code: 'bad_request', message: expect.stringMatching(/"\." or "\.\."/) },
    });
    const list = expectStatus(await server.client.get('/v1/topics'), 200);
    expect(list.topics.some((t) => t.name === n)).toBe(false);
  });

  it('accepts names of dots other than "." and ".."', async () => {
    for (const n of ['...', `.a${randomUUID()}`, `..${randomUUID()}`]) expectStatus(await create({ name: n }), 201);
  });

  it('accepts a 249-character name with every allowed character class', async () => {
    const n = `Ab.9_-${randomUUID()}`.padEnd(249, 'z');
    expectStatus(await create({ name: n }), 201);
  });
});

describe('GET /v1/topics and /v1/topics/{topic}', () => {
  it('lists topics sorted by name with per-partition offsets', async () => {
    const prefix = `t-${randomUUID()}`;
    for (const suffix of ['b', 'a', 'c']) expectStatus(await create({ name: `${prefix}-${suffix}` }), 201);
    const list = expectStatus(await server.client.get('/v1/topics'), 200);
    const mine = list.topics.filter((t) => t.name.startsWith(prefix)).map((t) => t.name);
    expect(mine).toEqual([`${prefix}-a`, `${prefix}-b`, `${prefix}-c`]);
    const all = list.topics.map((t) => t.name);
    expect(all).toEqual([...all].sort());
  });

  it('describes end offsets and sizes after records are appended', async () => {
    const n = name();
    expectStatus(await create({ name: n, partitions: 2 }), 201);
    await appendTo(n, 1, ['a', 'b', 'c']);
    const topic = expectStatus(await server.client.get('/v1/topics/{topic}', { params: { topic: n } }), 200);
    expect(topic.partitions[0]).toMatchObject({ partition: 0, start_offset: 0, end_offset: 0, size_bytes: 0 });
    expect(topic.partitions[1]).toMatchObject({ partition: 1, start_offset: 0, end_offset: 3 });
    expect(topic.partitions[1]?.size_bytes).toBeGreaterThan(0);
  });

  it('answers 404 topic_not_found for an unknown topic', async () => {
    const res = await server.client.get('/v1/topics/{topic}', { params: { topic: name() } });
    expect(expectStatus(res, 404).error.code).toBe('topic_not_found');
  });
});

describe('PATCH /v1/topics/{topic}', () => {
  it('grows partitions, keeping existing data', async () => {
    const n = name();
    expectStatus(await create({ name: n, partitions: 2 }), 201);
    await appendTo(n, 0, ['x']);
    const topic = expectStatus(
      await server.client.patch('/v1/topics/{topic}', { params: { topic: n }, body: { partitions: 5 } }),
      200,
    );
    expect(topic.partition_count).toBe(5);
    expect(topic.partitions.map((p) => [p.partition, p.end_offset])).toEqual([
      [0, 1],
      [1, 0],
      [2, 0],
      [3, 0],
      [4, 0],
    ]);
    expect(server.services.topics.partitionLog(n, 4).ok).toBe(true);
  });

  it('refuses to shrink partitions with 400 and a clear message', async () => {
    const n = name();
    expectStatus(await create({ name: n, partitions: 3 }), 201);
    const res = await server.client.patch('/v1/topics/{topic}', { params: { topic: n }, body: { partitions: 2 } });
    const error = expectStatus(res, 400).error;
    expect(error.code).toBe('bad_request');
    expect(error.message).toMatch(/only grow/);
    const topic = expectStatus(await server.client.get('/v1/topics/{topic}', { params: { topic: n } }), 200);
    expect(topic.partition_count).toBe(3);
  });

  it('changes config, keeping fields not mentioned', async () => {
    const n = name();
    expectStatus(await create({ name: n, config: { retention_bytes: 1_000_000 } }), 201);
    const topic = expectStatus(
      await server.client.patch('/v1/topics/{topic}', {
        params: { topic: n },
        body: { config: { retention_ms: 60_000, durability: 'write' } },
      }),
      200,
    );
    expect(topic.config).toMatchObject({ retention_ms: 60_000, durability: 'write', retention_bytes: 1_000_000 });
    expect(server.services.topics.lookup(n)?.config.durability).toBe('write');
    const again = expectStatus(await server.client.get('/v1/topics/{topic}', { params: { topic: n } }), 200);
    expect(again.config.retention_ms).toBe(60_000);
    expect(again.updated_at).toBeGreaterThanOrEqual(again.created_at);
  });

  it('refuses to change value_format', async () => {
    const n = name();
    expectStatus(await create({ name: n }), 201);
    const res = await server.client.patch('/v1/topics/{topic}', {
      params: { topic: n },
      body: { config: { value_format: 'binary' } },
    });
    expect(expectStatus(res, 400).error.message).toMatch(/value_format/);
  });

  it('answers 400 for invalid values and 404 for unknown topics', async () => {
    const n = name();
    expectStatus(await create({ name: n }), 201);
    const bad = await server.client.patch('/v1/topics/{topic}', {
      params: { topic: n },
      body: { config: { segment_bytes: -5 } },
    });
    expect(expectStatus(bad, 400).error.code).toBe('bad_request');
    const tooMany = await server.client.patch('/v1/topics/{topic}', {
      params: { topic: n },
      body: { partitions: 10_000 },
    });
    expect(expectStatus(tooMany, 400).error.message).toMatch(/partitions/);
    const missing = await server.client.patch('/v1/topics/{topic}', {
      params: { topic: name() },
      body: { partitions: 2 },
    });
    expect(expectStatus(missing, 404).error.code).toBe('topic_not_found');
  });
});

describe('DELETE /v1/topics/{topic}', () => {
  it('deletes the topic and its data; recreating starts afresh with a new id', async () => {
    const n = name();
    const first = expectStatus(await create({ name: n, partitions: 2 }), 201);
    await appendTo(n, 0, ['a', 'b']);
    const res = await server.client.delete('/v1/topics/{topic}', { params: { topic: n } });
    expect(res.status).toBe(204);
    expect(server.services.log.topicIds()).not.toContain(first.id);
    expect(server.services.topics.lookup(n)).toBeUndefined();
    const gone = await server.client.get('/v1/topics/{topic}', { params: { topic: n } });
    expect(gone.status).toBe(404);

    const second = expectStatus(await create({ name: n, partitions: 1 }), 201);
    expect(second.id).not.toBe(first.id);
    expect(second.partitions).toEqual([
      { partition: 0, start_offset: 0, end_offset: 0, size_bytes: 0, writable: true },
    ]);
  });

  it('answers 404 for an unknown topic', async () => {
    const res = await server.client.delete('/v1/topics/{topic}', { params: { topic: name() } });
    expect(expectStatus(res, 404).error.code).toBe('topic_not_found');
  });
});
