// The rebalance step every group operation runs under the group row lock: expire members past
// their session deadline, run a due (coalesced) rebalance, and repair stale assignments.
import type {
  ConsumerGroupRow,
  GroupMemberRow,
  StoredPosition,
  StoredTopicPartition,
} from '../metadata/schema/groups.js';
import { assign, compareTopicPartition, type TopicPartition } from './assignor.js';
import * as repo from './group-repository.js';
import type { GroupTopicHandle } from './ports.js';

/**
 * Topics looked up before the transaction: which names were asked for, and which exist (inside
 * `inGroupTx`, only those still current once the group is locked).
 */
export interface TopicView {
  requested: ReadonlySet<string>;
  found: ReadonlyMap<string, GroupTopicHandle>;
}

export interface GroupSnapshot {
  group: ConsumerGroupRow;
  /** Live members, sorted by id, with their current-generation assignments. */
  members: GroupMemberRow[];
  /** Whether this call bumped the generation. */
  rebalanced: boolean;
}

/** Thrown when a member subscribes to a topic the caller did not look up (a concurrent join). */
export class TopicViewStale extends Error {
  constructor() {
    super('group subscriptions changed since the topic lookup');
  }
}

export const tpKey = (tp: StoredTopicPartition): string => `${tp.topic}\u0000${tp.partition}`;

/** Group state as the API names it. */
export function groupState(group: ConsumerGroupRow, memberCount: number): 'empty' | 'rebalancing' | 'stable' {
  if (memberCount === 0) return 'empty';
  return group.rebalanceDueAt !== null ? 'rebalancing' : 'stable';
}

/**
 * Bring a locked group up to date at time `now`. Rebalances (bumping the generation) when a
 * member expired, a coalesced rebalance is due, `force` is set (a leave), or — with no
 * rebalance pending — the assignment no longer covers exactly the subscribed partitions
 * (a topic grew or was deleted). Must run inside the transaction that locked `group`;
 * `members`, if given, are the group's member rows read under that lock.
 */
export async function settle(
  tx: repo.Db,
  group: ConsumerGroupRow,
  topics: TopicView,
  now: number,
  options: { force?: boolean; members?: GroupMemberRow[] } = {},
): Promise<GroupSnapshot> {
  const all = options.members ?? (await repo.loadMembers(tx, group.name));
  const expired = all.filter((m) => m.deadline < now);
  const live = all.filter((m) => m.deadline >= now);
  for (const m of live) for (const t of m.topics) if (!topics.requested.has(t)) throw new TopicViewStale();

  const due = group.rebalanceDueAt !== null && group.rebalanceDueAt <= now;
  const pending = group.rebalanceDueAt !== null && !due;
  const partitions = subscribedPartitions(live, topics.found);
  const needed = options.force === true || expired.length > 0 || due || (!pending && !coversExactly(live, partitions));
  if (!needed) return { group, members: live, rebalanced: false };

  await repo.deleteMembers(
    tx,
    group.name,
    expired.map((m) => m.memberId),
  );
  const members = await rebalance(tx, group.name, live, partitions, topics.found);
  const generation = group.generation + 1;
  await repo.updateGroup(tx, group.name, { generation, rebalanceDueAt: null, updatedAt: now });
  return { group: { ...group, generation, rebalanceDueAt: null, updatedAt: now }, members, rebalanced: true };
}

function subscribedPartitions(
  members: GroupMemberRow[],
  found: ReadonlyMap<string, GroupTopicHandle>,
): TopicPartition[] {
  const names = [...new Set(members.flatMap((m) => m.topics))].sort();
  const out: TopicPartition[] = [];
  for (const topic of names) {
    const handle = found.get(topic);
    if (!handle) continue;
    for (let partition = 0; partition < handle.partitions; partition++) out.push({ topic, partition });
  }
  return out;
}

/** True when members own every partition exactly once, nothing else, and only subscribed topics. */
function coversExactly(members: GroupMemberRow[], partitions: TopicPartition[]): boolean {
  if (members.length === 0) return true;
  const wanted = new Set(partitions.map(tpKey));
  const seen = new Set<string>();
  for (const m of members) {
    for (const tp of m.assignment) {
      const k = tpKey(tp);
      if (!wanted.has(k) || seen.has(k) || !m.topics.includes(tp.topic)) return false;
      seen.add(k);
    }
  }
  return seen.size === wanted.size;
}

async function rebalance(
  tx: repo.Db,
  group: string,
  live: GroupMemberRow[],
  partitions: TopicPartition[],
  found: ReadonlyMap<string, GroupTopicHandle>,
): Promise<GroupMemberRow[]> {
  if (live.length === 0) return [];
  const next = assign({
    partitions,
    members: live.map((m) => ({ id: m.memberId, topics: m.topics })),
    current: new Map(live.map((m) => [m.memberId, m.assignment])),
  });
  const committed = new Map((await repo.loadOffsets(tx, group)).map((o) => [tpKey(o), o.offset]));
  const out: GroupMemberRow[] = [];
  for (const m of live) {
    const assignment = (next.get(m.memberId) ?? []).sort(compareTopicPartition);
    const positions = nextPositions(m, assignment, committed, found);
    const changed =
      JSON.stringify(assignment) !== JSON.stringify(m.assignment) ||
      JSON.stringify(positions) !== JSON.stringify(m.positions);
    if (changed) await repo.updateMember(tx, group, m.memberId, { assignment, positions });
    out.push({ ...m, assignment, positions });
  }
  return out;
}

/**
 * Positions for a member's new assignment: kept partitions keep their in-progress position
 * (that is what makes the rebalance cooperative); gained ones start at the committed offset,
 * else per auto_offset_reset — resolved now, so `latest` means "from when I got it". With
 * `none` and no committed offset the position stays unset and the fetch reports it.
 */
export function nextPositions(
  member: Pick<GroupMemberRow, 'positions' | 'autoOffsetReset'>,
  assignment: StoredTopicPartition[],
  committed: ReadonlyMap<string, number>,
  found: ReadonlyMap<string, GroupTopicHandle>,
): StoredPosition[] {
  const had = new Map(member.positions.map((p) => [tpKey(p), p.offset]));
  const out: StoredPosition[] = [];
  for (const tp of assignment) {
    const k = tpKey(tp);
    let offset = had.get(k) ?? committed.get(k);
    if (offset === undefined) {
      const range = found.get(tp.topic)?.offsets(tp.partition);
      if (range && member.autoOffsetReset === 'earliest') offset = range.start;
      if (range && member.autoOffsetReset === 'latest') offset = range.end;
    }
    if (offset !== undefined) out.push({ topic: tp.topic, partition: tp.partition, offset });
  }
  return out;
}
