// Idempotent produce across a restart: the same DATA_DIR and database with the file log
// store; state is rebuilt from the tags in the log, so a retry never appends twice.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus } from './support/client.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from './support/server.js';

let env: TestEnv;
let server: TestServer | undefined;
beforeAll(async () => {
  env = await createTestEnv({ SLUICE_LOG_STORE: 'file' });
});
afterAll(async () => {
  await server?.stop();
  await env?.cleanup();
});

describe('idempotency across a restart', () => {
  it('answers retried requests from the log and appends nothing twice', async () => {
    server = await startTestServer(env);
    const name = `t-${randomUUID()}`;
    expectStatus(await server.client.post('/v1/topics', { body: { name, partitions: 3 } }), 201);
    const produce = (records: unknown[], headers: Record<string, string>) =>
      server!.client.post('/v1/topics/{topic}/records', {
        params: { topic: name },
        body: { records } as never,
        headers,
      });

    const key = randomUUID();
    const keyed = Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: i }));
    const first = expectStatus(await produce(keyed, { 'idempotency-key': key }), 200);
    const prod = (seq: number, epoch = 4) => ({
      'producer-id': '77',
      'producer-epoch': String(epoch),
      'producer-seq': String(seq),
    });
    const s0 = expectStatus(await produce([{ value: 's0' }, { key: 'x', value: 's0b' }], prod(0)), 200);
    const s1 = expectStatus(await produce([{ value: 's1' }], prod(1)), 200);

    const ends = async () =>
      expectStatus(await server!.client.get('/v1/topics/{topic}', { params: { topic: name } }), 200).partitions.map(
        (p) => p.end_offset,
      );
    const before = await ends();
    expect(before.reduce((a, b) => a + b)).toBe(33);

    await server.stop();
    server = await startTestServer(env);

    expect(expectStatus(await produce(keyed, { 'idempotency-key': key }), 200)).toEqual(first);
    expect((await produce([{ value: 'other' }], { 'idempotency-key': key })).status).toBe(422);
    expect(expectStatus(await produce([{ value: 's0' }, { key: 'x', value: 's0b' }], prod(0)), 200)).toEqual(s0);
    expect(expectStatus(await produce([{ value: 's1' }], prod(1)), 200)).toEqual(s1);
    const gap = await produce([{ value: 's3' }], prod(3));
    expect(gap.status === 409 && gap.body.error).toMatchObject({ code: 'conflict', expected_seq: 2 });
    const fenced = await produce([{ value: 'old' }], prod(2, 3));
    expect(fenced.status === 409 && fenced.body.error.code).toBe('fenced');
    expect(await ends()).toEqual(before);

    const s2 = expectStatus(await produce([{ value: 's2' }], prod(2)), 200);
    expect((await ends()).reduce((a, b) => a + b)).toBe(34);
    const p = s2.offsets[0]!;
    const got = expectStatus(
      await server.client.get('/v1/topics/{topic}/partitions/{partition}/records', {
        params: { topic: name, partition: p.partition },
        query: { offset: p.offset },
      }),
      200,
    );
    expect(got.records[0]!.value).toBe('s2');
  }, 90_000); // two server starts on the same on-disk data

  it('a retry of a request with old explicit timestamps is answered from the log after a restart', async () => {
    server ??= await startTestServer(env);
    const name = `t-${randomUUID()}`;
    expectStatus(await server.client.post('/v1/topics', { body: { name, partitions: 1 } }), 201);
    const key = randomUUID();
    // Stamped two days ago and in 1970: older than the idempotency window, appended just now.
    const records = [
      { value: 'a', timestamp: Date.now() - 2 * 86_400_000 },
      { value: 'b', timestamp: 5 },
    ];
    const produce = () =>
      server!.client.post('/v1/topics/{topic}/records', {
        params: { topic: name },
        body: { records },
        headers: { 'idempotency-key': key },
      });
    const first = expectStatus(await produce(), 200);
    await server.stop();
    server = await startTestServer(env);
    expect(expectStatus(await produce(), 200)).toEqual(first);
    const t = expectStatus(await server.client.get('/v1/topics/{topic}', { params: { topic: name } }), 200);
    expect(t.partitions[0]!.end_offset).toBe(2);
  }, 90_000);
});
