// A group operation that looked its topic up just before the topic was deleted and created again
// under the same name: nothing it works out from the old topic (a member's position, a reset's
// offsets) may land on the new one. Each test holds one of the operation's topic lookups at a
// gate while the delete (and re-create) runs, then lets the operation go on.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { GroupTopics } from '../src/groups/ports.js';
import { expectStatus } from './support/client.js';
import { startIsolatedServer, type TestServer } from './support/server.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

/** A server with topic `name` holding `records` records in its one partition. */
async function serverWithTopic(name: string, records: number): Promise<TestServer> {
  const s = await startIsolatedServer();
  server = s;
  expectStatus(await s.client.post('/v1/topics', { body: { name, partitions: 1 } }), 201);
  await produce(s, name, records);
  return s;
}

async function produce(s: TestServer, topic: string, n: number): Promise<void> {
  const records = Array.from({ length: n }, (_, i) => ({ value: { i } }));
  expectStatus(await s.client.post('/v1/topics/{topic}/records', { params: { topic }, body: { records } }), 200);
}

/** Delete the topic and create it again, empty, under the same name. */
async function recreate(s: TestServer, topic: string): Promise<void> {
  expect((await s.client.delete('/v1/topics/{topic}', { params: { topic } })).status).toBe(204);
  expectStatus(await s.client.post('/v1/topics', { body: { name: topic, partitions: 1 } }), 201);
}

/**
 * Hold the groups service's topic lookup number `nth` (from 1) from now until `release`: after it
 * answered (the caller goes on with what it found then) or, `before`, ahead of it (the caller
 * finds what is there at the release). The port is private to the service; it is the one seam
 * between an operation's lookup and its group transaction.
 */
function holdLookup(s: TestServer, nth = 1, when: 'after' | 'before' = 'after') {
  const topics = (s.services.groups as unknown as { ctx: { topics: GroupTopics } }).ctx.topics;
  const lookup = topics.lookup.bind(topics);
  let release!: () => void;
  let reached!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  let calls = 0;
  topics.lookup = async (names) => {
    const held = ++calls === nth;
    if (held && when === 'before') {
      reached();
      await released;
    }
    const found = await lookup(names);
    if (held && when === 'after') {
      reached();
      await released;
    }
    return found;
  };
  return { arrived, release };
}

/**
 * Delete `topic` while `racing` waits at its gate, and let it go on once the delete has forgotten
 * the groups' offsets and positions on the topic (the first delete listener) but before the old
 * log is removed: the window where the old handle still reads as the old topic.
 */
async function deleteUnder(s: TestServer, topic: string, gate: { release: () => void }, racing: Promise<unknown>) {
  const unsubscribe = s.services.topics.onTopicDeleted(async () => {
    gate.release();
    await racing;
  });
  try {
    expect((await s.client.delete('/v1/topics/{topic}', { params: { topic } })).status).toBe(204);
  } finally {
    unsubscribe();
  }
}

const join = async (s: TestServer, group: string, topic: string, autoOffsetReset: 'earliest' | 'latest') =>
  expectStatus(
    await s.client.post('/v1/groups/{group}/members', {
      params: { group },
      body: { topics: [topic], auto_offset_reset: autoOffsetReset, session_timeout_ms: 60_000 },
    }),
    201,
  );

const fetchAs = async (s: TestServer, group: string, member: string, cursor?: string) =>
  expectStatus(
    await s.client.get('/v1/groups/{group}/members/{member}/records', {
      params: { group, member },
      query: { wait_ms: 0, ...(cursor !== undefined && { cursor }) },
    }),
    200,
  );

/**
 * Fetch, confirming each answer (from `cursor`, an earlier answer's) with the next fetch, until an
 * answer is empty; the offsets received.
 */
async function drain(s: TestServer, group: string, member: string, from?: string): Promise<number[]> {
  const offsets: number[] = [];
  let cursor = from;
  for (;;) {
    const answer = await fetchAs(s, group, member, cursor);
    if (answer.records.length === 0) return offsets;
    offsets.push(...answer.records.map((r) => r.offset));
    cursor = answer.cursor;
  }
}

describe('a group member racing its topic’s delete and re-create', () => {
  it('a fetch planned with the old topic leaves no position on the new one (auto_offset_reset latest starts at its end)', async () => {
    const t = `t-${randomUUID()}`;
    const g = `g-${randomUUID()}`;
    const s = await serverWithTopic(t, 10);
    const { member_id: member } = await join(s, g, t, 'latest');
    expect(await drain(s, g, member)).toEqual([]); // at the old topic's end, 10

    const gate = holdLookup(s);
    const racing = fetchAs(s, g, member);
    await gate.arrived;
    await deleteUnder(s, t, gate, racing);
    expectStatus(await s.client.post('/v1/topics', { body: { name: t, partitions: 1 } }), 201);
    await produce(s, t, 15);

    // The old end (10) is no position in the new topic: gaining its partition, a `latest`
    // member starts at its end (15), rather than reading 10..14.
    expect(await drain(s, g, member)).toEqual([]);
    await produce(s, t, 2);
    expect(await drain(s, g, member)).toEqual([15, 16]);
  });

  it('a rebalance run with the old topic gives no member a position on the new one', async () => {
    const t = `t-${randomUUID()}`;
    const g = `g-${randomUUID()}`;
    const s = await serverWithTopic(t, 10);
    const a = await join(s, g, t, 'latest');
    const b = await join(s, g, t, 'latest');
    const described = expectStatus(await s.client.get('/v1/groups/{group}', { params: { group: g } }), 200);
    const owner = described.members.find((m) => m.assignment.length > 0)?.member_id;
    expect(owner).toBeDefined();
    const other = owner === a.member_id ? b.member_id : a.member_id;

    // The owner's leave hands the partition over in its transaction, with the old topic's handle.
    const gate = holdLookup(s);
    const leaving = s.client.delete('/v1/groups/{group}/members/{member}', {
      params: { group: g, member: owner ?? '' },
    });
    await gate.arrived;
    await deleteUnder(s, t, gate, leaving);
    expect((await leaving).status).toBe(204);
    expectStatus(await s.client.post('/v1/topics', { body: { name: t, partitions: 1 } }), 201);
    await produce(s, t, 15);

    expect(await drain(s, g, other)).toEqual([]);
    await produce(s, t, 2);
    expect(await drain(s, g, other)).toEqual([15, 16]);
  });

  it('records read after the plan come from the topic the positions were planned on (auto_offset_reset earliest reads the new topic from 0)', async () => {
    const t = `t-${randomUUID()}`;
    const g = `g-${randomUUID()}`;
    const s = await serverWithTopic(t, 10);
    const { member_id: member } = await join(s, g, t, 'earliest');
    const first = await fetchAs(s, g, member);
    expect(first.records.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    // The confirming fetch plans position 10 on the old topic. Should it look topics up again
    // before it reads (a second lookup), the topic is re-created there, with records at 10..14;
    // a fetch that reads through the handles it planned with answers before any such lookup.
    const gate = holdLookup(s, 2, 'before');
    const racing = fetchAs(s, g, member, first.cursor);
    const held = await Promise.race([gate.arrived.then(() => true), racing.then(() => false)]);
    if (!held) gate.release();
    await recreate(s, t);
    await produce(s, t, 15);
    gate.release();
    const raced = await racing;

    // Going on from that answer, the member reads the whole new topic, none of it skipped.
    const received = [...raced.records.map((r) => r.offset), ...(await drain(s, g, member, raced.cursor))];
    expect(received).toEqual([...Array(15).keys()]);
  });
});

describe('an offset reset racing its topic’s delete and re-create', () => {
  it('answers 404 topic_not_found and commits nothing to the new topic, as a commit racing the delete does', async () => {
    const t = `t-${randomUUID()}`;
    const g = `g-${randomUUID()}`;
    const s = await serverWithTopic(t, 10);
    // An admin commit creates the group, without members.
    expect(
      (
        await s.client.post('/v1/groups/{group}/offsets', {
          params: { group: g },
          body: { offsets: [{ topic: t, partition: 0, offset: 0 }] },
        })
      ).status,
    ).toBe(204);

    // The reset works out "latest" (10) from its own lookup; its transaction's lookup waits here.
    const gate = holdLookup(s, 2);
    const resetting = s.client.post('/v1/groups/{group}/offsets/reset', {
      params: { group: g },
      body: { topic: t, to: 'latest' },
    });
    await gate.arrived;
    await recreate(s, t);
    await produce(s, t, 15);
    gate.release();

    expect(expectStatus(await resetting, 404).error.code).toBe('topic_not_found');
    const after = expectStatus(await s.client.get('/v1/groups/{group}', { params: { group: g } }), 200);
    expect(after.partitions.filter((p) => p.topic === t && p.committed_offset !== null)).toEqual([]);
  });
});
