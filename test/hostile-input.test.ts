// Requests a hostile or careless client sends, found by attacking a running server: each gets a
// clear 4xx naming what is wrong and changes nothing — never a silent misreading, a 500 or a hang.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus } from './support/client.js';
import { startIsolatedServer, type TestServer } from './support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startIsolatedServer();
});
afterAll(async () => {
  await server?.stop();
});

async function topic(): Promise<string> {
  const name = `t-${randomUUID()}`;
  expectStatus(await server.client.post('/v1/topics', { body: { name } }), 201);
  return name;
}

/**
 * Status and JSON body of a GET that may open an event stream: the stream (a 200) is cancelled
 * as soon as its headers arrive, so a route that wrongly accepts the request cannot hang the test.
 */
async function statusOf(path: string): Promise<{ status: number; error?: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, { signal: AbortSignal.timeout(15_000) });
  if (res.status === 200 && (res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    await res.body?.cancel();
    return { status: 200 };
  }
  const body = (await res.json().catch(() => ({}))) as { error?: Record<string, unknown> };
  return { status: res.status, ...(body.error ? { error: body.error } : {}) };
}

describe('record filters (?key=, ?header.<name>=)', () => {
  it('a header filter with an empty name (?header.=x) is a 400 naming the parameter on both /events streams', async () => {
    const name = await topic();
    for (const path of [
      `/v1/topics/${name}/events?from=earliest&header.=x`,
      `/v1/topics/${name}/partitions/0/events?from=earliest&header.=x`,
    ]) {
      const res = await statusOf(path);
      expect(res.status, path).toBe(400);
      expect(res.error, path).toMatchObject({
        code: 'bad_request',
        message: expect.stringMatching(/^query\.header\.: /),
        issues: [{ field: 'query.header.' }],
      });
    }
    // A named header filter still opens the stream.
    expect((await statusOf(`/v1/topics/${name}/events?from=earliest&header.kind=x`)).status).toBe(200);
  });

  it('routes that deliver records without filtering refuse filter parameters instead of ignoring them', async () => {
    const name = await topic();
    const group = `g-${randomUUID()}`;
    const joined = expectStatus(
      await server.client.post('/v1/groups/{group}/members', { params: { group }, body: { topics: [name] } }),
      201,
    );
    const member = joined.member_id;
    for (const [path, param] of [
      [`/v1/topics/${name}/partitions/0/records?header.kind=x`, 'header.kind'],
      [`/v1/topics/${name}/partitions/0/records?key=k`, 'key'],
      [`/v1/groups/${group}/members/${member}/records?header.kind=x`, 'header.kind'],
      [`/v1/groups/${group}/events?topics=${name}&key=k`, 'key'],
      [`/v1/topics/${name}/queues/q1/events?header.kind=x`, 'header.kind'],
    ] as const) {
      const res = await statusOf(path);
      expect(res.status, path).toBe(400);
      expect(res.error, path).toMatchObject({
        code: 'bad_request',
        message: expect.stringMatching(/\/events streams/),
        issues: [{ field: `query.${param}` }],
      });
    }
    const receive = await server.client.raw('POST', `/v1/topics/${name}/queues/q1/receive?key=k`);
    expect(receive.status).toBe(400);
    // The refused group stream joined nobody: the group still has only the member above.
    const g = expectStatus(await server.client.get('/v1/groups/{group}', { params: { group } }), 200);
    expect(g.members.map((m) => m.member_id)).toEqual([member]);
  });
});
