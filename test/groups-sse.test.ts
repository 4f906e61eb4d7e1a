// Black-box tests of the SSE group member: the connection is the membership, records and
// assignment changes arrive as events, disconnect leaves, and auto-commit covers only what a
// reconnect's Last-Event-ID confirms.
import { randomUUID } from 'node:crypto';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus } from './support/client.js';
import { createTestEnv, startIsolatedServer, startTestServer, type TestServer } from './support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startIsolatedServer({ SLUICE_GROUP_REBALANCE_DELAY_MS: '20', SLUICE_SSE_KEEPALIVE_MS: '200' });
});
afterAll(async () => {
  await server?.stop();
});

const name = (p: string) => `${p}-${randomUUID()}`;

async function topic(partitions: number): Promise<string> {
  const t = name('t');
  expectStatus(await server.client.post('/v1/topics', { body: { name: t, partitions } }), 201);
  return t;
}

async function produce(t: string, values: Array<{ value: unknown; partition: number }>): Promise<void> {
  expectStatus(
    await server.client.post('/v1/topics/{topic}/records', { params: { topic: t }, body: { records: values } }),
    200,
  );
}

interface Stream {
  events: EventSourceMessage[];
  /** Resolve with the first event (at index ≥ from) matching, within the deadline. */
  next(match: (e: EventSourceMessage) => boolean, from?: number, timeoutMs?: number): Promise<EventSourceMessage>;
  close(): void;
}

async function open(
  group: string,
  query: string,
  at: TestServer = server,
  headers: Record<string, string> = {},
): Promise<{ status: number; stream?: Stream; body?: unknown }> {
  const controller = new AbortController();
  const res = await fetch(`${at.url}/v1/groups/${group}/events?${query}`, { signal: controller.signal, headers });
  if (res.status !== 200) return { status: res.status, body: await res.json() };
  const events: EventSourceMessage[] = [];
  const waiters = new Set<() => void>();
  const parser = createParser({
    onEvent: (e) => {
      events.push(e);
      for (const w of waiters) w();
    },
  });
  void (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
        parser.feed(decoder.decode(chunk, { stream: true }));
    } catch {
      // aborted by close()
    }
  })();
  const stream: Stream = {
    events,
    next: (match, from = 0, timeoutMs = 5_000) =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          const found = events.slice(from).find(match);
          if (found) {
            waiters.delete(check as () => void);
            clearTimeout(timer);
            resolve(found);
          }
          return Boolean(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check as () => void);
          reject(new Error(`no matching event within ${timeoutMs} ms; got ${events.map((e) => e.event).join(',')}`));
        }, timeoutMs);
        if (!check()) waiters.add(check as () => void);
      }),
    close: () => controller.abort(),
  };
  return { status: 200, stream };
}

async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const describeGroup = async (group: string) =>
  expectStatus(await server.client.get('/v1/groups/{group}', { params: { group } }), 200);

describe('SSE group member', () => {
  it('a HEAD request joins nothing (405, Allow: GET); nor does one on a member’s records', async () => {
    const t = await topic(1);
    const group = name('g');
    const head = await fetch(`${server.url}/v1/groups/${group}/events?topics=${t}`, { method: 'HEAD' });
    expect(head.status).toBe(405);
    expect(head.headers.get('allow')).toBe('GET');
    expect((await fetch(`${server.url}/v1/groups/${group}`)).status).toBe(404); // never joined
    const joined = expectStatus(
      await server.client.post('/v1/groups/{group}/members', { params: { group }, body: { topics: [t] } as never }),
      201,
    );
    const fetchHead = await fetch(`${server.url}/v1/groups/${group}/members/${joined.member_id}/records`, {
      method: 'HEAD',
    });
    expect(fetchHead.status).toBe(405);
  });

  it('announces membership, streams records, reports rebalances, auto-commits, and leaves on disconnect', async () => {
    const t = await topic(2);
    await produce(t, [
      { value: 'a', partition: 0 },
      { value: 'b', partition: 1 },
    ]);
    const group = name('g');
    const { stream } = await open(group, `topics=${t}&auto_offset_reset=earliest`);
    if (!stream) throw new Error('no stream');
    const member = JSON.parse((await stream.next((e) => e.event === 'member')).data) as {
      member_id: string;
      generation: number;
      assignment: unknown[];
    };
    expect(member.assignment).toHaveLength(2);
    await stream.next((e) => e.event === 'record' && JSON.parse(e.data).value === 'a');
    await stream.next((e) => e.event === 'record' && JSON.parse(e.data).value === 'b');

    // A poll member joins: the SSE member is told its new, smaller assignment.
    const mark = stream.events.length;
    const poller = expectStatus(
      await server.client.post('/v1/groups/{group}/members', {
        params: { group },
        body: { topics: [t], auto_offset_reset: 'earliest' } as never,
      }),
      201,
    );
    const change = JSON.parse((await stream.next((e) => e.event === 'assignment', mark)).data) as {
      generation: number;
      assignment: unknown[];
    };
    expect(change.generation).toBe(poller.generation);
    expect(change.assignment).toHaveLength(1);

    // What the stream only wrote to its socket is not committed: the poller's partition
    // starts at the committed offset (none: earliest), so its record comes again.
    expect((await describeGroup(group)).partitions.map((p) => p.committed_offset)).toEqual([null, null]);
    const fetched = expectStatus(
      await server.client.get('/v1/groups/{group}/members/{member}/records', {
        params: { group, member: poller.member_id },
      }),
      200,
    );
    expect(fetched.records.map((r) => r.offset)).toEqual([0]);

    // Disconnect = leave: the poller ends up with both partitions.
    stream.close();
    await eventually(async () => {
      const g = await describeGroup(group);
      return g.members.length === 1 && g.members[0]?.assignment.length === 2 ? g : undefined;
    });
  });

  it('with auto_commit=false commits nothing itself; the client commits with the member id', async () => {
    const t = await topic(1);
    await produce(t, [
      { value: 1, partition: 0 },
      { value: 2, partition: 0 },
    ]);
    const group = name('g');
    const { stream } = await open(group, `topics=${t}&auto_offset_reset=earliest&auto_commit=false`);
    if (!stream) throw new Error('no stream');
    const member = JSON.parse((await stream.next((e) => e.event === 'member')).data) as {
      member_id: string;
      generation: number;
    };
    await stream.next((e) => e.event === 'record' && JSON.parse(e.data).offset === 1);
    // A later fetch (it extends the session) would have auto-committed; nothing was.
    const before = (await describeGroup(group)).members[0]?.session_expires_at ?? 0;
    await eventually(async () =>
      ((await describeGroup(group)).members[0]?.session_expires_at ?? 0) > before ? true : undefined,
    );
    expect((await describeGroup(group)).partitions[0]?.committed_offset).toBeNull();
    expectStatus(
      await server.client.post('/v1/groups/{group}/offsets', {
        params: { group },
        body: {
          member_id: member.member_id,
          generation: member.generation,
          offsets: [{ topic: t, partition: 0, offset: 2 }],
        },
      }),
      204,
    );
    stream.close();
    await eventually(async () => ((await describeGroup(group)).members.length === 0 ? true : undefined));
    expect((await describeGroup(group)).partitions[0]?.committed_offset).toBe(2);
  });

  it('answers 404 for an unknown topic and 400 for a missing topics parameter, before any stream', async () => {
    const group = name('g');
    const missing = await open(group, `topics=${name('nope')}`);
    expect(missing.status).toBe(404);
    expect((missing.body as { error: { code: string } }).error.code).toBe('topic_not_found');
    expect((await open(group, '')).status).toBe(400);
  });

  it('on server shutdown sends a final shutdown event and leaves the group', async () => {
    const env = await createTestEnv({ SLUICE_GROUP_REBALANCE_DELAY_MS: '0' });
    let own = await startTestServer(env);
    try {
      const t = `t-${randomUUID()}`;
      expectStatus(await own.client.post('/v1/topics', { body: { name: t } }), 201);
      const group = name('g');
      const { stream } = await open(group, `topics=${t}&session_timeout_ms=600000`, own);
      if (!stream) throw new Error('no stream');
      await stream.next((e) => e.event === 'member');
      const stopping = own.stop();
      await stream.next((e) => e.event === 'shutdown');
      await stopping;
      own = await startTestServer(env);
      // Gone at once, not after its ten-minute session.
      const g = expectStatus(await own.client.get('/v1/groups/{group}', { params: { group } }), 200);
      expect(g.members).toEqual([]);
    } finally {
      await own.stop();
      await env.cleanup();
    }
  });
});

describe('SSE group member: at-least-once across reconnects', () => {
  const ids = (s: Stream) => s.events.filter((e) => e.event === 'record');

  it('gives records id cursors; a reconnect with Last-Event-ID commits and resumes exactly after it', async () => {
    const t = await topic(2);
    await produce(
      t,
      Array.from({ length: 10 }, (_, i) => ({ value: i, partition: i % 2 })),
    );
    const group = name('g');
    const first = (await open(group, `topics=${t}&auto_offset_reset=earliest`)).stream;
    if (!first) throw new Error('no stream');
    await eventually(async () => (ids(first).length === 10 ? true : undefined));
    for (const e of ids(first)) expect(e.id).toMatch(/^g1\.[A-Za-z0-9_-]+$/);
    // The client saw the records up to the 6th event (3 of each partition), then the connection broke.
    const seen = ids(first).slice(0, 6);
    const lastId = seen.at(-1)?.id as string;
    const got = seen.map((e) => JSON.parse(e.data) as { partition: number; offset: number });
    const next = [0, 1].map((p) => Math.max(...got.filter((r) => r.partition === p).map((r) => r.offset)) + 1);
    first.close();
    await eventually(async () => ((await describeGroup(group)).members.length === 0 ? true : undefined));
    // What was only written to the socket is not committed.
    expect((await describeGroup(group)).partitions.filter((p) => p.committed_offset !== null)).toEqual([]);

    const second = (await open(group, `topics=${t}&auto_offset_reset=earliest`, server, { 'last-event-id': lastId }))
      .stream;
    if (!second) throw new Error('no stream');
    await eventually(async () => (ids(second).length === 10 - 6 ? true : undefined));
    const resumed = ids(second).map((e) => JSON.parse(e.data) as { partition: number; offset: number });
    for (const p of [0, 1]) {
      expect(resumed.filter((r) => r.partition === p).map((r) => r.offset)).toEqual(
        [...Array(5 - next[p]!).keys()].map((i) => i + next[p]!),
      );
    }
    expect((await describeGroup(group)).partitions.map((p) => p.committed_offset)).toEqual(next);
    second.close();
  });

  it('refuses a malformed Last-Event-ID with 400 before joining', async () => {
    const t = await topic(1);
    const group = name('g');
    const res = await open(group, `topics=${t}`, server, { 'last-event-id': 'garbage' });
    expect(res.status).toBe(400);
    expect((await server.client.get('/v1/groups/{group}', { params: { group } })).status).toBe(404);
  });

  it('a committed offset below the retention start emits event: gap and continues from the start', async () => {
    const t = name('t');
    expectStatus(
      await server.client.post('/v1/topics', {
        body: { name: t, partitions: 1, config: { segment_bytes: 1024, retention_bytes: 1024 } },
      }),
      201,
    );
    for (let i = 0; i < 10; i++) await produce(t, [{ value: 'z'.repeat(400), partition: 0 }]);
    const group = name('g');
    // Committed before retention ran: offset 1.
    expectStatus(
      await server.client.post('/v1/groups/{group}/offsets', {
        params: { group },
        body: { offsets: [{ topic: t, partition: 0, offset: 1 }] },
      }),
      204,
    );
    await server.services.log.enforceRetention();
    const start = server.services.log.getPartition(server.services.topics.lookup(t)!.id, 0)!.startOffset();
    expect(start).toBeGreaterThan(1);

    const { stream } = await open(group, `topics=${t}&auto_offset_reset=earliest`);
    if (!stream) throw new Error('no stream');
    const gap = await stream.next((e) => e.event === 'gap');
    expect(JSON.parse(gap.data)).toEqual({ topic: t, partition: 0, from_offset: 1, to_offset: start });
    await eventually(async () => (ids(stream).length === 10 - start ? true : undefined));
    expect(JSON.parse(ids(stream)[0]!.data).offset).toBe(start);
    expect(stream.events.some((e) => e.event === 'error')).toBe(false);
    stream.close();
    await eventually(async () => ((await describeGroup(group)).members.length === 0 ? true : undefined));

    // With auto_offset_reset=none the stream is refused (EventSource stops), not an error loop.
    const other = name('g');
    expectStatus(
      await server.client.post('/v1/groups/{group}/offsets', {
        params: { group: other },
        body: { offsets: [{ topic: t, partition: 0, offset: 1 }] },
      }),
      204,
    );
    const refused = await open(other, `topics=${t}&auto_offset_reset=none`);
    expect(refused.status).toBe(416);
    expect((refused.body as { error: { code: string } }).error.code).toBe('offset_out_of_range');
    expect((await describeGroup(other)).members).toEqual([]);
  });
});
