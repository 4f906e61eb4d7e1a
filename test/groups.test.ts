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

const fetchAs = (group: string, member: string, query: { max_records?: number; wait_ms?: number } = {}) =>
  server.client.get('/v1/groups/{group}/members/{member}/records', { params: { group, member }, query });

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

  it('auto-commits what the previous fetch delivered, and on leave', async () => {
    const t = await topic(1, 5);
    const group = name('g');
    const m = await join(group, [t], { auto_commit: true });
    expectStatus(await fetchAs(group, m.member_id, { max_records: 2 }), 200);
    expectStatus(await fetchAs(group, m.member_id, { max_records: 2 }), 200);
    expect((await describeGroup(group)).partitions[0]).toMatchObject({ committed_offset: 2, lag: 3 });
    await server.client.delete('/v1/groups/{group}/members/{member}', { params: { group, member: m.member_id } });
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
    // Still a member: the next fetch continues from its position (nothing new yet).
    const again = expectStatus(await fetchAs(group, m.member_id), 200);
    expect(again.records).toEqual([]);
    expect(again.generation).toBe(first.generation);
  });
});
