// Property tests of the sticky assignor: one owner per partition, balance, minimal movement
// on a join or a leave, determinism, and respect for each member's subscription.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assign, movedPartitions, type AssignorMember, type TopicPartition } from './assignor.js';

const RUNS = { numRuns: 200, interruptAfterTimeLimit: 5_000 };

function partitionsOf(topics: Record<string, number>): TopicPartition[] {
  return Object.entries(topics).flatMap(([topic, n]) =>
    Array.from({ length: n }, (_, partition) => ({ topic, partition })),
  );
}

function loads(a: Map<string, TopicPartition[]>): number[] {
  return [...a.values()].map((tps) => tps.length);
}

function owners(a: Map<string, TopicPartition[]>): Map<string, string[]> {
  const byKey = new Map<string, string[]>();
  for (const [id, tps] of a) {
    for (const tp of tps) {
      const k = `${tp.topic}/${tp.partition}`;
      byKey.set(k, [...(byKey.get(k) ?? []), id]);
    }
  }
  return byKey;
}

const memberIds = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 9 });
const topicSizes = fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 1, max: 24 }), {
  minKeys: 1,
});

/** A homogeneous group: every member subscribes to every topic. */
const homogeneous = fc.record({ ids: memberIds, topics: topicSizes });

function members(ids: string[], topics: string[]): AssignorMember[] {
  return ids.map((id) => ({ id, topics }));
}

describe('assign', () => {
  it('gives every partition exactly one owner and balances loads within one', () => {
    fc.assert(
      fc.property(homogeneous, ({ ids, topics }) => {
        const parts = partitionsOf(topics);
        const result = assign({ partitions: parts, members: members(ids, Object.keys(topics)), current: new Map() });
        const o = owners(result);
        expect(o.size).toBe(parts.length);
        for (const list of o.values()) expect(list).toHaveLength(1);
        const l = loads(result);
        expect(Math.max(...l) - Math.min(...l)).toBeLessThanOrEqual(1);
        expect([...result.keys()].sort()).toEqual([...ids].sort());
      }),
      RUNS,
    );
  });

  it('moves only what the new member takes when one member joins', () => {
    fc.assert(
      fc.property(homogeneous, fc.string({ minLength: 7, maxLength: 8 }), ({ ids, topics }, joiner) => {
        const parts = partitionsOf(topics);
        const names = Object.keys(topics);
        const before = assign({ partitions: parts, members: members(ids, names), current: new Map() });
        const after = assign({ partitions: parts, members: members([...ids, joiner], names), current: before });
        const moved = movedPartitions(before, after);
        const taken = after.get(joiner) ?? [];
        // Every move went to the joiner, and it took only its fair share.
        expect(moved).toEqual(taken);
        expect(taken.length).toBe(Math.floor(parts.length / (ids.length + 1)));
        const l = loads(after);
        expect(Math.max(...l) - Math.min(...l)).toBeLessThanOrEqual(1);
      }),
      RUNS,
    );
  });

  it("moves only the leaver's partitions when one member leaves", () => {
    fc.assert(
      fc.property(
        homogeneous.filter((g) => g.ids.length >= 2),
        fc.nat(),
        ({ ids, topics }, pick) => {
          const parts = partitionsOf(topics);
          const names = Object.keys(topics);
          const before = assign({ partitions: parts, members: members(ids, names), current: new Map() });
          const leaver = ids[pick % ids.length] as string;
          const rest = ids.filter((id) => id !== leaver);
          const after = assign({ partitions: parts, members: members(rest, names), current: before });
          const moved = movedPartitions(before, after);
          expect(moved).toEqual([...(before.get(leaver) ?? [])]);
          const l = loads(after);
          expect(Math.max(...l) - Math.min(...l)).toBeLessThanOrEqual(1);
          expect(owners(after).size).toBe(parts.length);
        },
      ),
      RUNS,
    );
  });

  it('is deterministic whatever the input order', () => {
    fc.assert(
      fc.property(homogeneous, fc.string({ minLength: 7, maxLength: 8 }), ({ ids, topics }, joiner) => {
        const parts = partitionsOf(topics);
        const names = Object.keys(topics);
        const base = assign({ partitions: parts, members: members(ids, names), current: new Map() });
        const forward = assign({ partitions: parts, members: members([...ids, joiner], names), current: base });
        const reversedCurrent = new Map([...base.entries()].reverse().map(([k, v]) => [k, [...v].reverse()]));
        const backward = assign({
          partitions: [...parts].reverse(),
          members: members([joiner, ...ids].reverse(), [...names].reverse()),
          current: reversedCurrent,
        });
        expect([...backward.entries()].sort()).toEqual([...forward.entries()].sort());
      }),
      RUNS,
    );
  });

  it('never assigns a partition to a member not subscribed to its topic, and covers every subscribed topic', () => {
    const subscription = fc.subarray(['a', 'b', 'c'], { minLength: 1 });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 4 }), subscription), {
          minLength: 1,
          maxLength: 7,
          selector: (t) => t[0],
        }),
        topicSizes,
        (group, topics) => {
          const parts = partitionsOf(topics);
          const ms = group.map(([id, t]) => ({ id, topics: t }));
          const result = assign({ partitions: parts, members: ms, current: new Map() });
          const subscribed = new Set(ms.flatMap((m) => m.topics));
          const o = owners(result);
          for (const tp of parts) {
            const list = o.get(`${tp.topic}/${tp.partition}`);
            if (subscribed.has(tp.topic)) expect(list).toHaveLength(1);
            else expect(list).toBeUndefined();
          }
          for (const m of ms) {
            for (const tp of result.get(m.id) ?? []) expect(m.topics).toContain(tp.topic);
          }
        },
      ),
      RUNS,
    );
  });

  it('drops partitions that no longer exist and keeps the rest where they were', () => {
    const parts = partitionsOf({ a: 6 });
    const before = assign({ partitions: parts, members: members(['m1', 'm2'], ['a']), current: new Map() });
    const after = assign({ partitions: parts.slice(0, 4), members: members(['m1', 'm2'], ['a']), current: before });
    expect(owners(after).size).toBe(4);
    expect(movedPartitions(before, after).length).toBeLessThanOrEqual(1);
  });

  it('never yields two owners even when the current map claims one partition twice', () => {
    const tp = { topic: 'a', partition: 0 };
    const result = assign({
      partitions: [tp],
      members: members(['x', 'y'], ['a']),
      current: new Map([
        ['y', [tp]],
        ['x', [tp]],
      ]),
    });
    expect(owners(result).get('a/0')).toEqual(['x']);
  });
});
