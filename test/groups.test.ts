// Black-box tests of consumer groups over HTTP: splitting partitions, exactly-once consumption
// with commits, rebalances on leave and session timeout, fencing, admin rules, lag, restarts.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus } from './support/client.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from './support/server.js';

const ENV = {
  SLUICE_GROUP_REBALANCE_DELAY_MS: '20',
  SLUICE_GROUP_SWEEP_INTERVAL_MS: '50',
  SLUICE_LONG_POLL_MAX_MS: '5000',
};

let env: TestEnv;
let server: TestServer;
beforeAll(async () => {
  env = await createTestEnv(ENV);
  server = await startTestServer(env);
});
afterAll(async () => {
  await server?.stop();
  await env?.cleanup();
});

const name = (prefix: string) => `${prefix}-${randomUUID()}`;

async function topic(partitions: number, perPartition = 0): Promise<string> {
  const t = name('t');
  expectStatus(await server.client.post('/v1/topics', { body: { name: t, partitions } }), 201);
  for (let p = 0; p < partitions && perPartition > 0; p++) {
    const records = Array.from({ length: perPartition }, (_, i) => ({ value: { p, i }, partition: p }));
    expectStatus(
      await server.client.post('/v1/topics/{topic}/records', { params: { topic: t }, body: { records } }),
      200,
    );
  }
  return t;
}

async function join(group: string, topics: string[], extra: Record<string, unknown> = {}) {
  const res = await server.client.post('/v1/groups/{group}/members', {
    params: { group },
    body: { topics, session_timeout_ms: 30_000, auto_offset_reset: 'earliest', ...extra } as never,
  });
  return expectStatus(res, 201);
}

const fetchAs = (
  group: string,
  member: string,
  query: { max_records?: number; wait_ms?: number; cursor?: string } = {},
) => server.client.get('/v1/groups/{group}/members/{member}/records', { params: { group, member }, query });

const leave = (group: string, member: string, cursor?: string) =>
  server.client.delete('/v1/groups/{group}/members/{member}', {
    params: { group, member },
    ...(cursor !== undefined && { query: { cursor } }),
  });

const commit = (group: string, body: Record<string, unknown>) =>
  server.client.post('/v1/groups/{group}/offsets', { params: { group }, body: body as never });

const describeGroup = async (group: string) =>
  expectStatus(await server.client.get('/v1/groups/{group}', { params: { group } }), 200);

/** Poll until `check` yields a value or the deadline passes (no blind sleeps). */
async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const keys = (a: Array<{ topic: string; partition: number }>) => a.map((x) => `${x.topic}/${x.partition}`);

describe('consumer groups over HTTP', () => {
  it('splits partitions among two and then three members without overlap', async () => {
    const t = await topic(6);
    const group = name('g');
    const a = await join(group, [t]);
    expect(a.assignment).toHaveLength(6);
    await join(group, [t]);
    await join(group, [t]);
    const g = await describeGroup(group);
    expect(g.state).toBe('stable');
    expect(g.members).toHaveLength(3);
    const owned = g.members.flatMap((m) => keys(m.assignment));
    expect(new Set(owned).size).toBe(6);
    expect(owned).toHaveLength(6);
    for (const m of g.members) expect(m.assignment).toHaveLength(2);
    // Sticky: the first member kept two of its original partitions.
    const first = g.members.find((m) => m.member_id === a.member_id);
    expect(first?.assignment.every((tp) => keys(a.assignment).includes(`${tp.topic}/${tp.partition}`))).toBe(true);
  });

  it('delivers every record exactly once across members that commit', async () => {
    const t = await topic(4, 30);
    const group = name('g');
    const members = [await join(group, [t]), await join(group, [t]), await join(group, [t])];
    const seen: string[] = [];
    let idle = 0;
    while (idle < members.length) {
      idle = 0;
      for (const m of members) {
        const body = expectStatus(await fetchAs(group, m.member_id, { max_records: 11 }), 200);
        if (body.records.length === 0) {
          idle++;
          continue;
        }
        const next = new Map<number, number>();
        for (const r of body.records) {
          seen.push(`${r.partition}:${r.offset}`);
          next.set(r.partition, r.offset + 1);
        }
        const offsets = [...next].map(([partition, offset]) => ({ topic: t, partition, offset }));
        expectStatus(await commit(group, { member_id: m.member_id, generation: body.generation, offsets }), 204);
      }
    }
    expect(seen).toHaveLength(120);
    expect(new Set(seen).size).toBe(120);
    const g = await describeGroup(group);
    expect(g.total_lag).toBe(0);
    expect(g.partitions.map((p) => [p.committed_offset, p.end_offset, p.lag])).toEqual(Array(4).fill([30, 30, 0]));
  });

  it('rebalances on leave: the survivor owns everything and resumes from the committed offsets', async () => {
    const t = await topic(2, 3);
    const group = name('g');
    const a = await join(group, [t]);
    const b = await join(group, [t]);
    const fb = expectStatus(await fetchAs(group, b.member_id), 200);
    expect(fb.records).toHaveLength(3);
    const bp = fb.assignment[0]?.partition as number;
    expectStatus(
      await commit(group, {
        member_id: b.member_id,
        generation: fb.generation,
        offsets: [{ topic: t, partition: bp, offset: 1 }],
      }),
      204,
    );
    expect(
      (await server.client.delete('/v1/groups/{group}/members/{member}', { params: { group, member: b.member_id } }))
        .status,
    ).toBe(204);
    const fa = expectStatus(await fetchAs(group, a.member_id, { max_records: 100 }), 200);
    expect(fa.generation).toBe(fb.generation + 1);
    expect(keys(fa.assignment).sort()).toEqual([`${t}/0`, `${t}/1`]);
    const fromB = fa.records.filter((r) => r.partition === bp).map((r) => r.offset);
    expect(fromB).toEqual([1, 2]);
    // The departed member is fenced.
    expect(expectStatus(await fetchAs(group, b.member_id), 409).error.code).toBe('fenced');
  });

  it('expires a member that misses its session timeout and hands its partitions over', async () => {
    const t = await topic(2);
    const group = name('g');
    const started = Date.now();
    const quiet = await join(group, [t], { session_timeout_ms: 300 });
    const busy = await join(group, [t]);
    expect(busy.assignment).toHaveLength(1);
    // A long-poll by the live member is woken by the rebalance and reports the new assignment.
    const after = await eventually(async () => {
      const body = expectStatus(await fetchAs(group, busy.member_id, { wait_ms: 1_000 }), 200);
      return body.assignment.length === 2 ? body : undefined;
    });
    // Not before its session ran out (300 ms after its join at the earliest).
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(after.generation).toBeGreaterThan(busy.generation);
    const late = expectStatus(
      await server.client.post('/v1/groups/{group}/members/{member}/heartbeat', {
        params: { group, member: quiet.member_id },
      }),
      409,
    );
    expect(late.error.code).toBe('fenced');
  });

  it('fences stale generations, unknown members and partitions the member does not own', async () => {
    const t = await topic(2, 1);
    const group = name('g');
    const a = await join(group, [t]);
    const b = await join(group, [t]);
    const stale = expectStatus(
      await commit(group, {
        member_id: a.member_id,
        generation: a.generation,
        offsets: [{ topic: t, partition: 0, offset: 1 }],
      }),
      409,
    );
    expect(stale.error.code).toBe('fenced');
    const unknown = expectStatus(
      await commit(group, {
        member_id: 'ghost',
        generation: b.generation,
        offsets: [{ topic: t, partition: 0, offset: 1 }],
      }),
      409,
    );
    expect(unknown.error.code).toBe('fenced');
    // Fetch and heartbeat say the same to a member the group does not know; leaving it is 404.
    for (const res of [
      await server.client.get('/v1/groups/{group}/members/{member}/records', { params: { group, member: 'ghost' } }),
      await server.client.post('/v1/groups/{group}/members/{member}/heartbeat', { params: { group, member: 'ghost' } }),
    ]) {
      expect(res.status).toBe(409);
      expect(res.status === 409 && res.body.error.code).toBe('fenced');
    }
    const gone = await server.client.delete('/v1/groups/{group}/members/{member}', {
      params: { group, member: 'ghost' },
    });
    expect(gone.status === 404 && gone.body.error.code).toBe('member_not_found');
    const notMine = b.assignment[0]?.partition as number;
    const foreign = expectStatus(
      await commit(group, {
        member_id: a.member_id,
        generation: b.generation,
        offsets: [{ topic: t, partition: notMine, offset: 1 }],
      }),
      409,
    );
    expect(foreign.error.code).toBe('fenced');
    const past = expectStatus(
      await commit(group, {
        member_id: b.member_id,
        generation: b.generation,
        offsets: [{ topic: t, partition: notMine, offset: 2 }],
      }),
      422,
    );
    expect(past.error).toMatchObject({ end_offset: 1 });
    const admin = expectStatus(await commit(group, { offsets: [{ topic: t, partition: 0, offset: 1 }] }), 409);
    expect(admin.error.code).toBe('conflict');
    expectStatus(
      await commit(group, {
        member_id: b.member_id,
        generation: b.generation,
        offsets: [{ topic: t, partition: notMine, offset: 1, metadata: 'ok' }],
      }),
      204,
    );
    const g = await describeGroup(group);
    expect(g.partitions.find((p) => p.partition === notMine)).toMatchObject({
      committed_offset: 1,
      metadata: 'ok',
      lag: 0,
    });
  });

  it('answers 409 for auto_offset_reset none without a committed offset, and reads after an admin commit', async () => {
    const t = await topic(1, 2);
    const group = name('g');
    expectStatus(await commit(group, { offsets: [{ topic: t, partition: 0, offset: 1 }] }), 204);
    const other = name('g');
    const m = await join(other, [t], { auto_offset_reset: 'none' });
    const res = expectStatus(await fetchAs(other, m.member_id), 409);
    expect(res.error).toMatchObject({ code: 'conflict', topic: t, partition: 0 });
    const n = await join(group, [t], { auto_offset_reset: 'none' });
    const body = expectStatus(await fetchAs(group, n.member_id), 200);
    expect(body.records.map((r) => r.offset)).toEqual([1]);
  });

  it('auto-commits what the next fetch confirmed, and on leave', async () => {
    const t = await topic(1, 5);
    const group = name('g');
    const m = await join(group, [t], { auto_commit: true });
    const first = expectStatus(await fetchAs(group, m.member_id, { max_records: 2 }), 200);
    const second = expectStatus(await fetchAs(group, m.member_id, { max_records: 2, cursor: first.cursor }), 200);
    expect(second.records.map((r) => r.offset)).toEqual([2, 3]);
    expect((await describeGroup(group)).partitions[0]).toMatchObject({ committed_offset: 2, lag: 3 });
    expect((await leave(group, m.member_id, second.cursor)).status).toBe(204);
    expect((await describeGroup(group)).partitions[0]).toMatchObject({ committed_offset: 4, lag: 1 });
  });

  it('refuses reset and delete while members exist, then resets, reports lag and deletes', async () => {
    const t = await topic(2, 4);
    const group = name('g');
    const m = await join(group, [t]);
    const reset = () =>
      server.client.post('/v1/groups/{group}/offsets/reset', { params: { group }, body: { topic: t, to: 'latest' } });
    expect(expectStatus(await reset(), 409).error.code).toBe('conflict');
    expect(expectStatus(await server.client.delete('/v1/groups/{group}', { params: { group } }), 409).error.code).toBe(
      'conflict',
    );
    await server.client.delete('/v1/groups/{group}/members/{member}', { params: { group, member: m.member_id } });
    expect(expectStatus(await reset(), 200).offsets).toEqual([
      { topic: t, partition: 0, offset: 4 },
      { topic: t, partition: 1, offset: 4 },
    ]);
    const toOffset = await server.client.post('/v1/groups/{group}/offsets/reset', {
      params: { group },
      body: { topic: t, to: { offset: 1 }, partitions: [1] },
    });
    expect(expectStatus(toOffset, 200).offsets).toEqual([{ topic: t, partition: 1, offset: 1 }]);
    const g = await describeGroup(group);
    expect(g.state).toBe('empty');
    expect(g.total_lag).toBe(3);
    const listed = expectStatus(await server.client.get('/v1/groups'), 200).groups.find((x) => x.name === group);
    expect(listed).toMatchObject({ state: 'empty', members: 0 });
    expect(
      expectStatus(
        await server.client.post('/v1/groups/{group}/offsets/reset', {
          params: { group },
          body: { topic: t, to: { offset: 99 } },
        }),
        416,
      ).error,
    ).toMatchObject({ start_offset: 0, end_offset: 4 });
    expect((await server.client.delete('/v1/groups/{group}', { params: { group } })).status).toBe(204);
    expect(expectStatus(await server.client.get('/v1/groups/{group}', { params: { group } }), 404).error.code).toBe(
      'group_not_found',
    );
  });

  it('rejects bad input with 400 and unknown topics with 404, changing nothing', async () => {
    const group = name('g');
    const bad = await server.client.raw('POST', `/v1/groups/${group}/members`, {
      body: JSON.stringify({ topics: [], session_timeout_ms: 5 }),
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.status).toBe(400);
    const missing = await server.client.post('/v1/groups/{group}/members', {
      params: { group },
      body: { topics: [name('nope')] } as never,
    });
    expect(expectStatus(missing, 404).error.code).toBe('topic_not_found');
    const t = await topic(1, 1);
    const commitRaw = (body: unknown) =>
      server.client.raw('POST', `/v1/groups/${group}/offsets`, {
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
    const long = await commitRaw({ offsets: [{ topic: t, partition: 0, offset: 1, metadata: 'x'.repeat(4097) }] });
    expect(long.status).toBe(400);
    // PostgreSQL text cannot hold U+0000: refused with a 400, not a 500 at the insert.
    const nul = await commitRaw({ offsets: [{ topic: t, partition: 0, offset: 1, metadata: 'a\u0000b' }] });
    expect(nul.status).toBe(400);
    expect((nul.json as { error: { message: string } }).error.message).toMatch(/metadata.*U\+0000/);
    const twice = await commitRaw({
      offsets: [
        { topic: t, partition: 0, offset: 1 },
        { topic: t, partition: 0, offset: 0 },
      ],
    });
    expect(twice.status).toBe(400);
    const halfFenced = await commitRaw({ member_id: 'm', offsets: [{ topic: t, partition: 0, offset: 1 }] });
    expect(halfFenced.status).toBe(400);
    const noPartition = await commitRaw({ offsets: [{ topic: t, partition: 3, offset: 0 }] });
    expect(noPartition.status).toBe(404);
    // None of these created the group or wrote an offset (checked below: still 404).
    expect(expectStatus(await server.client.get('/v1/groups/{group}', { params: { group } }), 404).error.code).toBe(
      'group_not_found',
    );
  });

  it('rebalances when a subscribed topic grows or is deleted', async () => {
    const t = await topic(1);
    const other = await topic(1);
    const group = name('g');
    const a = await join(group, [t, other]);
    const b = await join(group, [t, other]);
    expectStatus(
      await server.client.patch('/v1/topics/{topic}', { params: { topic: t }, body: { partitions: 4 } }),
      200,
    );
    const grown = expectStatus(await fetchAs(group, a.member_id), 200);
    expect(grown.generation).toBe(b.generation + 1);
    const owned = (await describeGroup(group)).members.flatMap((m) => keys(m.assignment));
    expect(owned.sort()).toEqual([`${other}/0`, `${t}/0`, `${t}/1`, `${t}/2`, `${t}/3`].sort());
    expect((await server.client.delete('/v1/topics/{topic}', { params: { topic: other } })).status).toBe(204);
    const shrunk = expectStatus(await fetchAs(group, b.member_id), 200);
    expect(shrunk.generation).toBe(grown.generation + 1);
    const g = await describeGroup(group);
    expect(g.members.flatMap((m) => keys(m.assignment)).sort()).toEqual([0, 1, 2, 3].map((p) => `${t}/${p}`));
    expect(g.members.map((m) => m.assignment.length)).toEqual([2, 2]);
  });

  it('a long-poll fetch waiting on a topic that is deleted or grows answers with the new generation, not the old one at its timer', async () => {
    const t = await topic(1);
    const group = name('g');
    const m = await join(group, [t]);
    const first = expectStatus(await fetchAs(group, m.member_id), 200); // the member has seen its generation
    // The topic grows while the fetch waits (SLUICE_LONG_POLL_MAX_MS is 5 s here).
    const waiting = fetchAs(group, m.member_id, { wait_ms: 5_000 });
    await new Promise((r) => setTimeout(r, 300)); // let the fetch start waiting (a grow before it is also fine)
    expectStatus(
      await server.client.patch('/v1/topics/{topic}', { params: { topic: t }, body: { partitions: 2 } }),
      200,
    );
    const grown = expectStatus(await waiting, 200);
    expect(grown.generation).toBe(first.generation + 1);
    expect(keys(grown.assignment).sort()).toEqual([`${t}/0`, `${t}/1`]);
    // The topic is deleted while the fetch waits.
    const waiting2 = fetchAs(group, m.member_id, { wait_ms: 5_000 });
    await new Promise((r) => setTimeout(r, 300));
    expect((await server.client.delete('/v1/topics/{topic}', { params: { topic: t } })).status).toBe(204);
    const deleted = expectStatus(await waiting2, 200);
    expect(deleted.generation).toBe(grown.generation + 1);
    expect(deleted.assignment).toEqual([]);
  });

  it('keeps members, generation and committed offsets across a restart', async () => {
    const t = await topic(2, 3);
    const group = name('g');
    const m = await join(group, [t]);
    const first = expectStatus(await fetchAs(group, m.member_id, { max_records: 100 }), 200);
    expect(first.records).toHaveLength(6);
    expectStatus(
      await commit(group, {
        member_id: m.member_id,
        generation: first.generation,
        offsets: [
          { topic: t, partition: 0, offset: 2 },
          { topic: t, partition: 1, offset: 3 },
        ],
      }),
      204,
    );
    await server.stop();
    server = await startTestServer(env);
    const g = await describeGroup(group);
    expect(g.generation).toBe(first.generation);
    expect(g.members.map((x) => x.member_id)).toEqual([m.member_id]);
    expect(g.partitions.map((p) => p.committed_offset)).toEqual([2, 3]);
    // Still a member: the next fetch continues from its confirmed positions (the commit).
    const again = expectStatus(await fetchAs(group, m.member_id), 200);
    expect(again.records.map((r) => [r.partition, r.offset])).toEqual([[0, 2]]);
    expect(again.generation).toBe(first.generation);
  });
});

describe('lost answers: positions move only with what the client confirms', () => {
  it('a fetch whose answer is lost returns the same records on a plain retry', async () => {
    const t = await topic(1, 10);
    const group = name('g');
    const m = await join(group, [t]);
    const lost = expectStatus(await fetchAs(group, m.member_id, { max_records: 10 }), 200);
    expect(lost.records.map((r) => r.offset)).toEqual([...Array(10).keys()]);
    // The answer never reached the client: it simply asks again.
    const retry = expectStatus(await fetchAs(group, m.member_id, { max_records: 10 }), 200);
    expect(retry.records.map((r) => r.offset)).toEqual([...Array(10).keys()]);
    // Naming the answer it received confirms it: the next fetch starts after it.
    const next = expectStatus(await fetchAs(group, m.member_id, { cursor: retry.cursor }), 200);
    expect(next.records).toEqual([]);
    // Naming the same cursor again changes nothing (a retried confirmation is idempotent).
    const again = expectStatus(await fetchAs(group, m.member_id, { cursor: retry.cursor }), 200);
    expect(again.records).toEqual([]);
  });

  it('auto_commit commits only what a later fetch confirmed, never an answer that was only sent', async () => {
    const t = await topic(1, 10);
    const group = name('g');
    const m = await join(group, [t], { auto_commit: true });
    const first = expectStatus(await fetchAs(group, m.member_id, { max_records: 4 }), 200);
    expect(first.records.map((r) => r.offset)).toEqual([0, 1, 2, 3]);
    // Lost; the retry (no cursor) must not commit the lost answer.
    const retry = expectStatus(await fetchAs(group, m.member_id, { max_records: 4 }), 200);
    expect(retry.records.map((r) => r.offset)).toEqual([0, 1, 2, 3]);
    let p = (await describeGroup(group)).partitions[0];
    expect(p?.committed_offset ?? 0).toBe(0);
    // Confirmed by the next fetch: committed up to it, and the fetch continues after it.
    const second = expectStatus(await fetchAs(group, m.member_id, { max_records: 4, cursor: retry.cursor }), 200);
    expect(second.records.map((r) => r.offset)).toEqual([4, 5, 6, 7]);
    p = (await describeGroup(group)).partitions[0];
    expect(p).toMatchObject({ committed_offset: 4, lag: 6 });
    // Leaving without naming the last answer commits only what was confirmed.
    expect((await leave(group, m.member_id)).status).toBe(204);
    expect((await describeGroup(group)).partitions[0]).toMatchObject({ committed_offset: 4 });
  });

  it('leaving with the last cursor confirms it (auto_commit)', async () => {
    const t = await topic(1, 5);
    const group = name('g');
    const m = await join(group, [t], { auto_commit: true });
    const got = expectStatus(await fetchAs(group, m.member_id, { max_records: 3 }), 200);
    expect((await leave(group, m.member_id, got.cursor)).status).toBe(204);
    expect((await describeGroup(group)).partitions[0]).toMatchObject({ committed_offset: 3, lag: 2 });
  });

  it('a commit confirms: a plain fetch after it starts at the committed offset', async () => {
    const t = await topic(1, 10);
    const group = name('g');
    const m = await join(group, [t]);
    const got = expectStatus(await fetchAs(group, m.member_id, { max_records: 10 }), 200);
    expectStatus(
      await commit(group, {
        member_id: m.member_id,
        generation: got.generation,
        offsets: [{ topic: t, partition: 0, offset: 6 }],
      }),
      204,
    );
    const next = expectStatus(await fetchAs(group, m.member_id), 200);
    expect(next.records.map((r) => r.offset)).toEqual([6, 7, 8, 9]);
  });

  it('refuses a malformed cursor with 400, changing nothing', async () => {
    const t = await topic(1, 2);
    const group = name('g');
    const m = await join(group, [t]);
    for (const cursor of ['nope', 'g1.', 'g1.!!', 'v1.AQA']) {
      const res = expectStatus(await fetchAs(group, m.member_id, { cursor }), 400);
      expect(res.error.code).toBe('bad_request');
    }
    expect(expectStatus(await fetchAs(group, m.member_id), 200).records.map((r) => r.offset)).toEqual([0, 1]);
    // An empty cursor (a shell loop's first iteration) is no cursor.
    const empty = expectStatus(await fetchAs(group, m.member_id, { cursor: '' }), 200);
    expect(empty.records.map((r) => r.offset)).toEqual([0, 1]);
  });

  it('a cursor of a deleted and re-created topic confirms nothing on the new one', async () => {
    const t = await topic(1, 5);
    const group = name('g');
    const m = await join(group, [t]);
    const old = expectStatus(await fetchAs(group, m.member_id), 200);
    expect((await leave(group, m.member_id)).status).toBe(204);
    expect((await server.client.delete('/v1/topics/{topic}', { params: { topic: t } })).status).toBe(204);
    expectStatus(await server.client.post('/v1/topics', { body: { name: t, partitions: 1 } }), 201);
    const records = Array.from({ length: 5 }, (_, i) => ({ value: i }));
    expectStatus(
      await server.client.post('/v1/topics/{topic}/records', { params: { topic: t }, body: { records } }),
      200,
    );
    const n = await join(group, [t]);
    const fresh = expectStatus(await fetchAs(group, n.member_id, { cursor: old.cursor }), 200);
    expect(fresh.records.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('group fixes', () => {
  it('a stale generation committing past the end is fenced (409), not an invalid offset', async () => {
    const t = await topic(1, 1);
    const group = name('g');
    const a = await join(group, [t]);
    await join(group, [t]);
    const res = expectStatus(
      await commit(group, {
        member_id: a.member_id,
        generation: a.generation,
        offsets: [{ topic: t, partition: 0, offset: 99 }],
      }),
      409,
    );
    expect(res.error.code).toBe('fenced');
    const ghost = expectStatus(
      await commit(group, { member_id: 'ghost', generation: 0, offsets: [{ topic: t, partition: 0, offset: 99 }] }),
      409,
    );
    expect(ghost.error.code).toBe('fenced');
  });

  it('resetting offsets of a group that does not exist is 404 and creates nothing', async () => {
    const t = await topic(1, 1);
    const group = name('g');
    const res = expectStatus(
      await server.client.post('/v1/groups/{group}/offsets/reset', {
        params: { group },
        body: { topic: t, to: 'earliest' },
      }),
      404,
    );
    expect(res.error.code).toBe('group_not_found');
    expect((await server.client.get('/v1/groups/{group}', { params: { group } })).status).toBe(404);
  });

  it('reports lag from where the group would start when nothing is committed', async () => {
    const t = await topic(1, 7);
    const early = name('g');
    await join(early, [t]);
    const e = await describeGroup(early);
    expect(e.partitions[0]).toMatchObject({ committed_offset: null, end_offset: 7, lag: 7 });
    expect(e.total_lag).toBe(7);
    const late = name('g');
    await join(late, [t], { auto_offset_reset: 'latest' });
    expectStatus(
      await server.client.post('/v1/topics/{topic}/records', {
        params: { topic: t },
        body: { records: [{ value: 'x' }, { value: 'y' }] },
      }),
      200,
    );
    const l = await describeGroup(late);
    expect(l.partitions[0]).toMatchObject({ committed_offset: null, end_offset: 9, lag: 2 });
    expect(l.total_lag).toBe(2);
  });

  it('a deeply nested record is delivered with its neighbours, and nothing is committed past an unconfirmed answer', async () => {
    const t = await topic(1);
    const topicId = server.services.topics.lookup(t)?.id;
    const log = topicId === undefined ? undefined : server.services.log.getPartition(topicId, 0);
    if (!log) throw new Error('no partition log');
    // Written under the produce API (which refuses it now), as an older server could have stored it.
    const depth = 5_000;
    const poison = Buffer.from(`${'['.repeat(depth)}\n${']'.repeat(depth)}`);
    const rec = (value: Buffer) => ({ key: null, value, headers: [], timestamp: Date.now() });
    for (const value of [Buffer.from('1'), Buffer.from('2'), poison, Buffer.from('4'), Buffer.from('5')]) {
      const r = await log.append([rec(value)], { durability: 'write' });
      if (!r.ok) throw new Error(r.error.reason);
    }
    const group = name('g');
    const m = await join(group, [t], { auto_commit: true });
    const first = expectStatus(await fetchAs(group, m.member_id, { max_records: 10 }), 200);
    expect(first.records.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.isArray(first.records[2]?.value)).toBe(true);
    expect((await describeGroup(group)).partitions[0]?.committed_offset ?? 0).toBe(0);
    const next = expectStatus(await fetchAs(group, m.member_id, { cursor: first.cursor }), 200);
    expect(next.records).toEqual([]);
    expect((await describeGroup(group)).partitions[0]).toMatchObject({ committed_offset: 5, lag: 0 });
  });
});
