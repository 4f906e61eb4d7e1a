// Service-level tests of consumer groups against PGlite and the memory log: splitting,
// exactly-once consumption with commits, rebalances, fencing, resets and lag.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupsService } from './groups-service.js';
import type { CursorEntry } from './group-cursor.js';
import { confirmOf, createGroupsKit, parsedRecords, type GroupsKit } from './groups-test-kit.js';

let kit: GroupsKit;
let svc: GroupsService;

const g = (): string => `g-${Math.random().toString(36).slice(2)}`;
const join = async (group: string, topics: string[], extra: Partial<Parameters<GroupsService['join']>[1]> = {}) => {
  const r = await svc.join(group, {
    topics,
    sessionTimeoutMs: 30_000,
    autoOffsetReset: 'earliest',
    autoCommit: false,
    ...extra,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.value;
};
const fetch = async (group: string, member: string, waitMs = 0, maxRecords = 1000, confirm?: CursorEntry[]) => {
  const r = await svc.fetch(group, member, { maxRecords, maxBytes: 1 << 20, waitMs, confirm });
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return { ...r.value, records: parsedRecords(r.value), confirm: confirmOf(r.value) };
};
const keys = (tps: Array<{ topic: string; partition: number }>) => tps.map((t) => `${t.topic}/${t.partition}`);

// Both ways a node coordinates: as the only writer of its embedded database (signals tell it
// every rebalance), and as one of many nodes over a shared Postgres (it asks the database).
describe.each([
  { mode: 'sole writer (embedded database)', soleWriter: true },
  { mode: 'one of many nodes (shared database)', soleWriter: false },
])('groups service, $mode', ({ soleWriter }) => {
  // One database per mode (PGlite start-up is slow); tests isolate by unique group/topic names.
  beforeAll(async () => {
    kit = await createGroupsKit({ soleWriter });
    svc = kit.service;
  });
  afterAll(async () => {
    await kit.close();
  });

  it('splits partitions between two and three members without overlap', async () => {
    const topic = await kit.createTopic(6);
    const group = g();
    await join(group, [topic]);
    await join(group, [topic]);
    const third = await join(group, [topic]);
    const d = await svc.describe(group);
    if (!d.ok) throw new Error('describe failed');
    expect(d.value.generation).toBe(third.generation);
    const owned = d.value.memberList.flatMap((m) => keys(m.assignment));
    expect(owned.sort()).toEqual(Array.from({ length: 6 }, (_, p) => `${topic}/${p}`).sort());
    expect(new Set(owned).size).toBe(6);
    for (const m of d.value.memberList) expect(m.assignment).toHaveLength(2);
  });

  it('consumes every record exactly once across members that commit', async () => {
    const topic = await kit.createTopic(4);
    for (let p = 0; p < 4; p++)
      await kit.produce(
        topic,
        p,
        Array.from({ length: 25 }, (_, i) => ({ p, i })),
      );
    const group = g();
    const a = await join(group, [topic]);
    const b = await join(group, [topic]);
    const seen: string[] = [];
    for (const m of [a, b]) {
      for (;;) {
        const r = await fetch(group, m.memberId, 0, 7);
        if (r.records.length === 0) break;
        for (const rec of r.records) seen.push(`${rec.partition}:${rec.offset}`);
        const last = new Map<number, number>();
        for (const rec of r.records) last.set(rec.partition, rec.offset + 1);
        const c = await svc.commit(group, {
          memberId: m.memberId,
          generation: r.generation,
          offsets: [...last].map(([partition, offset]) => ({ topic, partition, offset })),
        });
        expect(c.ok).toBe(true);
      }
    }
    expect(seen).toHaveLength(100);
    expect(new Set(seen).size).toBe(100);
    const d = await svc.describe(group);
    expect(d.ok && d.value.totalLag).toBe(0);
  });

  it('rebalances on leave: the survivor gets every partition and resumes from commits', async () => {
    const topic = await kit.createTopic(2);
    await kit.produce(topic, 0, [1, 2, 3]);
    await kit.produce(topic, 1, [4, 5, 6]);
    const group = g();
    const a = await join(group, [topic]);
    const b = await join(group, [topic]);
    const ra = await fetch(group, a.memberId);
    const rb = await fetch(group, b.memberId);
    expect(ra.records).toHaveLength(3);
    expect(rb.records).toHaveLength(3);
    const bPartition = rb.assignment[0]?.partition ?? -1;
    await svc.commit(group, {
      memberId: b.memberId,
      generation: rb.generation,
      offsets: [{ topic, partition: bPartition, offset: 2 }],
    });
    expect((await svc.leave(group, b.memberId)).ok).toBe(true);
    const after = await fetch(group, a.memberId, 0, 1000, ra.confirm);
    expect(after.generation).toBe(rb.generation + 1);
    expect(keys(after.assignment)).toEqual([`${topic}/0`, `${topic}/1`]);
    // Only b's uncommitted record is redelivered, to a (a confirmed its own answer).
    expect(after.records.map((r) => [r.partition, r.offset])).toEqual([[bPartition, 2]]);
  });

  it('expires a member that misses its session timeout and fences it', async () => {
    const topic = await kit.createTopic(2);
    const group = g();
    kit.clock.now = Date.now();
    const a = await join(group, [topic], { sessionTimeoutMs: 1_000 });
    const b = await join(group, [topic], { sessionTimeoutMs: 60_000 });
    expect(b.assignment).toHaveLength(1);
    kit.clock.now += 1_500;
    expect(await svc.sweep()).toEqual([group]);
    const hb = await svc.heartbeat(group, b.memberId);
    expect(hb.ok && hb.value.assignment).toHaveLength(2);
    const late = await svc.fetch(group, a.memberId, { maxRecords: 10, maxBytes: 1000, waitMs: 0 });
    expect(!late.ok && late.error.code).toBe('fenced');
    kit.clock.now = null;
  });

  it('fences stale generations, unknown members and partitions not owned', async () => {
    const topic = await kit.createTopic(2);
    const group = g();
    const a = await join(group, [topic]);
    const b = await join(group, [topic]);
    const stale = await svc.commit(group, {
      memberId: a.memberId,
      generation: a.generation,
      offsets: [{ topic, partition: 0, offset: 0 }],
    });
    expect(!stale.ok && stale.error.code).toBe('fenced');
    const unknown = await svc.commit(group, { memberId: 'nobody', generation: b.generation, offsets: [] });
    expect(!unknown.ok && unknown.error.code).toBe('fenced');
    const hbA = await svc.heartbeat(group, a.memberId);
    if (!hbA.ok) throw new Error('heartbeat');
    const notMine = hbA.value.assignment[0]?.partition === 0 ? 1 : 0;
    const foreign = await svc.commit(group, {
      memberId: a.memberId,
      generation: b.generation,
      offsets: [{ topic, partition: notMine, offset: 0 }],
    });
    expect(!foreign.ok && foreign.error.code).toBe('fenced');
    const past = await svc.commit(group, {
      memberId: a.memberId,
      generation: b.generation,
      offsets: [{ topic, partition: 1 - notMine, offset: 5 }],
    });
    expect(!past.ok && past.error.code).toBe('invalid_record');
    const admin = await svc.commit(group, { offsets: [{ topic, partition: 0, offset: 0 }] });
    expect(!admin.ok && admin.error.code).toBe('conflict');
  });

  it('auto_offset_reset none without a committed offset is a clear conflict, latest skips old records', async () => {
    const topic = await kit.createTopic(1);
    await kit.produce(topic, 0, ['old']);
    const strict = g();
    const none = await join(strict, [topic], { autoOffsetReset: 'none' });
    const r = await svc.fetch(strict, none.memberId, { maxRecords: 1, maxBytes: 100, waitMs: 0 });
    expect(!r.ok && r.error).toMatchObject({ code: 'conflict', topic, partition: 0 });
    const group = g();
    const latest = await join(group, [topic], { autoOffsetReset: 'latest' });
    await kit.produce(topic, 0, ['new']);
    const got = await fetch(group, latest.memberId);
    expect(got.records.map((x) => x.value)).toEqual(['new']);
  });

  it('auto-commits what the next fetch confirmed, never an answer that was only sent', async () => {
    const topic = await kit.createTopic(1);
    await kit.produce(topic, 0, [1, 2, 3, 4]);
    const group = g();
    const m = await join(group, [topic], { autoCommit: true });
    const lost = await fetch(group, m.memberId, 0, 3);
    expect(lost.records.map((r) => r.offset)).toEqual([0, 1, 2]);
    // A retry without confirmation gets the same records and commits nothing past them.
    const retry = await fetch(group, m.memberId, 0, 3);
    expect(retry.records.map((r) => r.offset)).toEqual([0, 1, 2]);
    let d = await svc.describe(group);
    expect(d.ok && (d.value.partitions[0]?.committedOffset ?? 0)).toBe(0);
    const next = await fetch(group, m.memberId, 0, 3, retry.confirm);
    expect(next.records.map((r) => r.offset)).toEqual([3]);
    d = await svc.describe(group);
    expect(d.ok && d.value.partitions[0]).toMatchObject({ committedOffset: 3, endOffset: 4, lag: 1 });
    // A confirmation of a partition the member does not own, or past the end, moves nothing.
    const foreign = [
      { ...next.confirm[0]!, partition: 1 },
      { ...next.confirm[0]!, topicId: randomUUID() },
    ];
    expect((await fetch(group, m.memberId, 0, 3, foreign)).records.map((r) => r.offset)).toEqual([3]);
    const past = [{ ...next.confirm[0]!, offset: 99 }];
    expect((await fetch(group, m.memberId, 0, 3, past)).records).toEqual([]);
    d = await svc.describe(group);
    expect(d.ok && d.value.partitions[0]?.committedOffset).toBe(4);
  });

  it('auto-commit leaves an offset already committed as it is untouched (its metadata kept)', async () => {
    const topic = await kit.createTopic(1);
    await kit.produce(topic, 0, [1, 2, 3, 4]);
    const group = g();
    const m = await join(group, [topic], { autoCommit: true });
    const first = await fetch(group, m.memberId, 0, 2);
    expect(first.records.map((r) => r.offset)).toEqual([0, 1]);
    const c = await svc.commit(group, {
      memberId: m.memberId,
      generation: first.generation,
      offsets: [{ topic, partition: 0, offset: 2, metadata: 'checkpoint' }],
    });
    expect(c.ok).toBe(true);
    // Confirming the same position again auto-commits nothing new: the member's own metadata stays.
    const next = await fetch(group, m.memberId, 0, 2, first.confirm);
    expect(next.records.map((r) => r.offset)).toEqual([2, 3]);
    let d = await svc.describe(group);
    expect(d.ok && d.value.partitions[0]).toMatchObject({ committedOffset: 2, metadata: 'checkpoint' });
    // A position that moved is committed, its metadata cleared.
    await fetch(group, m.memberId, 0, 2, next.confirm);
    d = await svc.describe(group);
    expect(d.ok && d.value.partitions[0]).toMatchObject({ committedOffset: 4, metadata: null });
  });

  it('long-polls: a fetch returns as soon as a record arrives', async () => {
    const topic = await kit.createTopic(2);
    const group = g();
    const m = await join(group, [topic]);
    const started = Date.now();
    const pending = fetch(group, m.memberId, 5_000);
    setTimeout(() => void kit.produce(topic, 1, ['late']), 100);
    const r = await pending;
    expect(r.records.map((x) => x.value)).toEqual(['late']);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('tells a member about a rebalance at once: a waiting long-poll wakes, a later one does not wait', async () => {
    const topic = await kit.createTopic(2);
    const group = g();
    const a = await join(group, [topic]);
    await fetch(group, a.memberId); // a has now seen generation 1
    const started = Date.now();
    const waiting = fetch(group, a.memberId, 3_000);
    const b = await join(group, [topic]);
    const woken = await waiting;
    expect(woken.generation).toBe(b.generation);
    expect(woken.assignment).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(2_000);
    // a was not waiting when c joined: its next long-poll answers at once with the news.
    const c = await join(group, [topic]);
    const t0 = Date.now();
    const forA = await fetch(group, a.memberId, 3_000);
    expect(forA.generation).toBe(c.generation);
    expect(Date.now() - t0).toBeLessThan(1_500);
  });

  it('a rebalance committed between a fetch’s plan and its wait still ends the long-poll at once', async () => {
    const topic = await kit.createTopic(2);
    const group = g();
    const a = await join(group, [topic]);
    await fetch(group, a.memberId); // a has seen generation 1
    // The fetch's first read (after its plan, before it waits) lets another member join first.
    const id = kit.topics.get(topic)!.id;
    const logs = [0, 1].map((p) => kit.log.getPartition(id, p)!);
    let joined: ReturnType<typeof join> | undefined;
    const restore = logs.map((log) => {
      const read = log.readRun.bind(log);
      log.readRun = async (...args) => {
        await (joined ??= join(group, [topic]));
        return read(...args);
      };
      return () => (log.readRun = read);
    });
    try {
      const started = Date.now();
      const r = await fetch(group, a.memberId, 10_000);
      const b = await joined!;
      expect(r.generation).toBe(b.generation);
      expect(r.assignment).toHaveLength(1);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      for (const undo of restore) undo();
    }
  });

  it('keeps offsets and membership across a restart (a second service on the same database)', async () => {
    const topic = await kit.createTopic(2);
    await kit.produce(topic, 0, ['a', 'b']);
    const group = g();
    const m = await join(group, [topic]);
    const r = await fetch(group, m.memberId, 0, 1);
    await svc.commit(group, {
      memberId: m.memberId,
      generation: r.generation,
      offsets: [{ topic, partition: 0, offset: 1 }],
    });
    const other = kit.restart();
    const again = await other.fetch(group, m.memberId, { maxRecords: 10, maxBytes: 1 << 20, waitMs: 0 });
    expect(again.ok && parsedRecords(again.value).map((x) => x.value)).toEqual(['b']);
    expect(again.ok && again.value.generation).toBe(r.generation);
  });

  it('reset and delete are refused while members exist, and work once the group is empty', async () => {
    const topic = await kit.createTopic(2);
    await kit.produce(topic, 0, [1, 2, 3]);
    const group = g();
    const m = await join(group, [topic]);
    expect((await svc.resetOffsets(group, { topic, to: 'earliest' })).ok).toBe(false);
    const del = await svc.delete(group);
    expect(!del.ok && del.error.code).toBe('conflict');
    await svc.leave(group, m.memberId);
    const reset = await svc.resetOffsets(group, { topic, to: 'latest' });
    expect(reset.ok && reset.value).toEqual([
      { topic, partition: 0, offset: 3 },
      { topic, partition: 1, offset: 0 },
    ]);
    const bad = await svc.resetOffsets(group, { topic, to: { offset: 9 } });
    expect(!bad.ok && bad.error.code).toBe('offset_out_of_range');
    expect((await svc.delete(group)).ok).toBe(true);
    const gone = await svc.describe(group);
    expect(!gone.ok && gone.error.code).toBe('group_not_found');
  });

  it('coalesces a burst of joins into one generation bump', async () => {
    const svc = kit.restart({ rebalanceDelayMs: 150 });
    const join = (group: string, topics: string[]) =>
      svc
        .join(group, { topics, sessionTimeoutMs: 30_000, autoOffsetReset: 'earliest', autoCommit: false })
        .then((r) => {
          if (!r.ok) throw new Error(r.error.message);
          return r.value;
        });
    const topic = await kit.createTopic(6);
    const group = g();
    const joined = await Promise.all([join(group, [topic]), join(group, [topic]), join(group, [topic])]);
    expect(new Set(joined.map((j) => j.generation))).toEqual(new Set([1]));
    expect(joined.map((j) => j.assignment.length)).toEqual([2, 2, 2]);
    const d = await svc.describe(group);
    expect(d.ok && d.value).toMatchObject({ generation: 1, state: 'stable', members: 3 });
  });
});
