// Rebalance safety across "nodes" (several services on one database): a member never gets
// records of a partition it lost, and random join/leave/expire/fetch sequences keep the group
// at one owner per partition with balanced, sticky assignments.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupsService } from './groups-service.js';
import { createGroupsKit, parsedRecords, type GroupsKit } from './groups-test-kit.js';

let kit: GroupsKit;
/** One node as the server runs on its embedded database: the only writer of the group tables. */
let sole: GroupsKit;
beforeAll(async () => {
  kit = await createGroupsKit();
  sole = await createGroupsKit({ soleWriter: true });
});
afterAll(async () => {
  await kit.close();
  await sole.close();
});

const joinOn = async (svc: GroupsService, group: string, topic: string, sessionTimeoutMs = 60_000) => {
  const r = await svc.join(group, {
    topics: [topic],
    sessionTimeoutMs,
    autoOffsetReset: 'earliest',
    autoCommit: false,
  });
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
};

describe('rebalance safety', () => {
  it('drops records of a partition lost during a long-poll (the rebalance ran on another node)', async () => {
    const nodeA = kit.service;
    const nodeB = kit.restart();
    const topic = await kit.createTopic(2);
    const group = `g-${Math.random().toString(36).slice(2)}`;
    const a = await joinOn(nodeA, group, topic);
    expect(a.assignment).toHaveLength(2);
    await nodeA.fetch(group, a.memberId, { maxRecords: 10, maxBytes: 1 << 20, waitMs: 0 }); // seen generation
    const pending = nodeA.fetch(group, a.memberId, { maxRecords: 10, maxBytes: 1 << 20, waitMs: 3_000 });
    // B joins through the other node: no in-process wake-up reaches A's long-poll.
    const b = await joinOn(nodeB, group, topic);
    const lost = b.assignment[0]?.partition as number;
    await kit.produce(topic, lost, ['for-b']);
    const got = await pending;
    if (!got.ok) throw new Error(got.error.message);
    expect(got.value.batches).toEqual([]);
    expect(got.value.generation).toBe(b.generation);
    expect(got.value.assignment.map((tp) => tp.partition)).toEqual([1 - lost]);
    const forB = await nodeB.fetch(group, b.memberId, { maxRecords: 10, maxBytes: 1 << 20, waitMs: 0 });
    expect(forB.ok && parsedRecords(forB.value).map((r) => r.value)).toEqual(['for-b']);
  });

  it('a sole writer withholds records of a partition lost between its fetch’s plan and read', async () => {
    const node = sole.service;
    const topic = await sole.createTopic(2);
    const group = `g-${Math.random().toString(36).slice(2)}`;
    const a = await joinOn(node, group, topic);
    await node.fetch(group, a.memberId, { maxRecords: 10, maxBytes: 1 << 20, waitMs: 0 }); // seen generation
    for (const p of [0, 1]) await sole.produce(topic, p, [`p${p}`]);
    // The fetch's first read (after its plan committed) lets another member join and rebalance.
    const logs = [0, 1].map((p) => sole.log.getPartition(sole.topics.get(topic)!.id, p)!);
    let joined: ReturnType<typeof joinOn> | undefined;
    const restore = logs.map((log) => {
      const read = log.readRun.bind(log);
      log.readRun = async (...args) => {
        await (joined ??= joinOn(node, group, topic));
        return read(...args);
      };
      return () => (log.readRun = read);
    });
    try {
      const got = await node.fetch(group, a.memberId, { maxRecords: 10, maxBytes: 1 << 20, waitMs: 0 });
      if (!got.ok) throw new Error(got.error.message);
      const b = await joined!;
      const kept = 1 - (b.assignment[0]?.partition as number);
      expect(got.value.generation).toBe(b.generation);
      expect(got.value.assignment.map((tp) => tp.partition)).toEqual([kept]);
      expect(parsedRecords(got.value).map((r) => r.value)).toEqual([`p${kept}`]);
    } finally {
      for (const undo of restore) undo();
    }
  });

  it('keeps one owner per partition, balance and stickiness through random membership changes', async () => {
    const nodes = [kit.service, kit.restart()];
    const topic = await kit.createTopic(7);
    const op = fc.oneof(
      fc.record({ kind: fc.constant('join' as const), node: fc.nat(1) }),
      fc.record({ kind: fc.constant('leave' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('expire' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('fetch' as const), pick: fc.nat(), node: fc.nat(1) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
        const group = `g-${Math.random().toString(36).slice(2)}`;
        const live: string[] = [];
        let lastGeneration = 0;
        let previous = new Map<string, string>(); // partition → owner
        kit.clock.now = Date.now();
        try {
          for (const o of ops) {
            const node = nodes['node' in o ? o.node : 0] as GroupsService;
            const joiningBefore = new Set(live);
            if (o.kind === 'join') live.push((await joinOn(node, group, topic, 10_000)).memberId);
            else if (live.length === 0) continue;
            else if (o.kind === 'leave') {
              const [gone] = live.splice(o.pick % live.length, 1);
              expect((await node.leave(group, gone as string)).ok).toBe(true);
            } else if (o.kind === 'expire') {
              // Everyone else heartbeats; the chosen member stays silent past its session.
              const [silent] = live.splice(o.pick % live.length, 1);
              kit.clock.now += 6_000;
              for (const id of live) expect((await node.heartbeat(group, id)).ok).toBe(true);
              kit.clock.now += 6_000;
              for (const id of live) expect((await node.heartbeat(group, id)).ok).toBe(true);
              expect((await node.heartbeat(group, silent as string)).ok).toBe(false);
            } else {
              const r = await node.fetch(group, live[o.pick % live.length] as string, {
                maxRecords: 1,
                maxBytes: 100,
                waitMs: 0,
              });
              expect(r.ok).toBe(true);
            }
            const d = await nodes[0]!.describe(group);
            if (!d.ok) throw new Error(d.error.message);
            const g = d.value;
            expect(g.generation).toBeGreaterThanOrEqual(lastGeneration);
            lastGeneration = g.generation;
            expect(g.memberList.map((m) => m.memberId).sort()).toEqual([...live].sort());
            const owners = new Map<string, string>();
            for (const m of g.memberList) {
              for (const tp of m.assignment) {
                expect(owners.has(String(tp.partition))).toBe(false);
                owners.set(String(tp.partition), m.memberId);
              }
            }
            if (live.length > 0) {
              expect(owners.size).toBe(7);
              const loads = g.memberList.map((m) => m.assignment.length);
              expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(1);
              // Sticky: a partition whose owner is still here moved only if that owner had too many.
              for (const [p, owner] of previous) {
                if (owners.get(p) === owner || !live.includes(owner) || !joiningBefore.has(owner)) continue;
                const before = [...previous.values()].filter((x) => x === owner).length;
                expect(before).toBeGreaterThan(Math.floor(7 / live.length));
              }
            }
            previous = owners;
          }
        } finally {
          kit.clock.now = null;
        }
      }),
      { numRuns: 15, interruptAfterTimeLimit: 20_000 },
    );
  });
});
