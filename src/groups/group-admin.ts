// Group administration: list, describe (members, committed/end offsets, lag), delete, and
// reset offsets — the last two only while the group has no members, like Kafka's tools.
import { eq } from 'drizzle-orm';
import { err, ok, type Result } from '../lib/result.js';
import { groupOffsets, type GroupMemberRow, type StoredTopicPartition } from '../metadata/schema/groups.js';
import { groupState, tpKey } from './group-coordinator.js';
import { inGroupTx, type GroupContext } from './group-context.js';
import { groupNotFound, topicNotFound, type GroupError } from './group-errors.js';
import * as repo from './group-repository.js';
import type { GroupTopicHandle } from './ports.js';

export interface GroupSummary {
  name: string;
  state: 'empty' | 'rebalancing' | 'stable';
  generation: number;
  members: number;
}

export interface GroupMemberDescription {
  memberId: string;
  kind: string;
  topics: string[];
  sessionTimeoutMs: number;
  sessionExpiresAt: number;
  autoOffsetReset: string;
  autoCommit: boolean;
  joinedAt: number;
  assignment: StoredTopicPartition[];
}

export interface GroupPartitionLag {
  topic: string;
  partition: number;
  /** Committed offset (next record to read), or null when none was committed. */
  committedOffset: number | null;
  metadata: string | null;
  /** Null when the topic no longer exists. */
  endOffset: number | null;
  /**
   * end − committed; without a committed offset, end − where the group would start (the
   * owner's position, else its auto_offset_reset); null when that is unknown (`none`).
   */
  lag: number | null;
  owner: string | null;
}

export interface GroupDescription extends GroupSummary {
  protocol: string;
  memberList: GroupMemberDescription[];
  partitions: GroupPartitionLag[];
  totalLag: number;
}

export async function listGroups(ctx: GroupContext): Promise<GroupSummary[]> {
  const now = ctx.now();
  const [rows, counts] = await Promise.all([repo.listGroups(ctx.db), repo.memberCounts(ctx.db, now)]);
  // Internal groups (`__webhook.<id>`: a webhook's progress) are reported by their own API.
  return rows
    .filter((g) => !g.name.startsWith('__'))
    .map((g) => {
      const members = counts.get(g.name) ?? 0;
      return { name: g.name, state: groupState(g, members), generation: g.generation, members };
    });
}

export async function describeGroup(ctx: GroupContext, group: string): Promise<Result<GroupDescription, GroupError>> {
  const committedTopics = await ctx.db
    .selectDistinct({ topic: groupOffsets.topic })
    .from(groupOffsets)
    .where(eq(groupOffsets.groupName, group));
  const out = await inGroupTx(ctx, group, { extraTopics: committedTopics.map((r) => r.topic) }, async (s) => {
    const offsets = await repo.loadOffsets(s.tx, group);
    return { offsets, snapshot: s.snapshot, found: s.topics.found };
  });
  if (!out) return err(groupNotFound(group));
  const { offsets, snapshot, found } = out.value;

  const owner = new Map<string, string>();
  for (const m of snapshot.members) for (const tp of m.assignment) owner.set(tpKey(tp), m.memberId);
  const members = new Map(snapshot.members.map((m) => [m.memberId, m]));
  const committed = new Map(offsets.map((o) => [tpKey(o), o]));
  const keys = new Map<string, StoredTopicPartition>();
  const topics = new Set([...snapshot.members.flatMap((m) => m.topics), ...offsets.map((o) => o.topic)]);
  for (const topic of topics) {
    const handle = found.get(topic);
    for (let partition = 0; partition < (handle?.partitions ?? 0); partition++) {
      keys.set(tpKey({ topic, partition }), { topic, partition });
    }
  }
  for (const o of offsets) keys.set(tpKey(o), { topic: o.topic, partition: o.partition });

  const partitions: GroupPartitionLag[] = [...keys.values()]
    .sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1))
    .map((tp) => {
      const handle = found.get(tp.topic);
      const endOffset = handle && tp.partition < handle.partitions ? handle.offsets(tp.partition).end : null;
      const c = committed.get(tpKey(tp));
      const committedOffset = c?.offset ?? null;
      const ownerId = owner.get(tpKey(tp)) ?? null;
      const from =
        committedOffset ??
        startingOffset(tp, ownerId === null ? undefined : members.get(ownerId), snapshot.members, found);
      return {
        topic: tp.topic,
        partition: tp.partition,
        committedOffset,
        metadata: c?.metadata ?? null,
        endOffset,
        lag: from !== null && endOffset !== null ? Math.max(0, endOffset - from) : null,
        owner: ownerId,
      };
    });

  return ok({
    name: group,
    state: groupState(snapshot.group, snapshot.members.length),
    generation: snapshot.group.generation,
    protocol: snapshot.group.protocol,
    members: snapshot.members.length,
    memberList: snapshot.members.map((m) => ({
      memberId: m.memberId,
      kind: m.kind,
      topics: m.topics,
      sessionTimeoutMs: m.sessionTimeoutMs,
      sessionExpiresAt: m.deadline,
      autoOffsetReset: m.autoOffsetReset,
      autoCommit: m.autoCommit,
      joinedAt: m.joinedAt,
      assignment: m.assignment,
    })),
    partitions,
    totalLag: partitions.reduce((sum, p) => sum + (p.lag ?? 0), 0),
  });
}

/**
 * Where the group would start reading a partition that has no committed offset: the owner's
 * position (set when it got the partition, `latest` resolved then), else per the
 * auto_offset_reset of the owner or of a member subscribed to the topic; null with `none`.
 */
function startingOffset(
  tp: StoredTopicPartition,
  ownerRow: GroupMemberRow | undefined,
  all: readonly GroupMemberRow[],
  found: ReadonlyMap<string, GroupTopicHandle>,
): number | null {
  const position = ownerRow?.positions.find((p) => p.topic === tp.topic && p.partition === tp.partition);
  if (position) return position.offset;
  const handle = found.get(tp.topic);
  const reset = (ownerRow ?? all.find((m) => m.topics.includes(tp.topic)))?.autoOffsetReset;
  if (!handle || tp.partition >= handle.partitions) return null;
  if (reset === 'earliest') return handle.offsets(tp.partition).start;
  if (reset === 'latest') return handle.offsets(tp.partition).end;
  return null;
}

/** Delete a group and its committed offsets; refused while it has members. */
export async function deleteGroup(ctx: GroupContext, group: string): Promise<Result<void, GroupError>> {
  const out = await inGroupTx(ctx, group, {}, async (s) => {
    if (s.snapshot.members.length > 0) return err(hasMembers(group, s.snapshot.members.length));
    await repo.deleteGroup(s.tx, group);
    return ok(undefined);
  });
  return out?.value ?? err(groupNotFound(group));
}

export type ResetTarget = 'earliest' | 'latest' | { timestamp: number } | { offset: number };

export interface ResetRequest {
  topic: string;
  to: ResetTarget;
  /** Only these partitions; all of the topic's when absent. */
  partitions?: number[] | undefined;
}

/**
 * Set the group's committed offsets for a topic; refused while the group has members, and for
 * a group that does not exist (404: a typo must not create one). An explicit offset outside a
 * partition's range is refused whole.
 */
export async function resetOffsets(
  ctx: GroupContext,
  group: string,
  req: ResetRequest,
): Promise<Result<Array<{ topic: string; partition: number; offset: number }>, GroupError>> {
  const handle = (await ctx.topics.lookup([req.topic])).get(req.topic);
  if (!handle) return err(topicNotFound(req.topic));
  const all = Array.from({ length: handle.partitions }, (_, p) => p);
  const chosen = req.partitions ? [...new Set(req.partitions)].sort((a, b) => a - b) : all;
  const outside = chosen.find((p) => p >= handle.partitions);
  if (outside !== undefined) {
    return err({
      code: 'partition_not_found',
      message: `topic "${req.topic}" has no partition ${outside} (it has ${handle.partitions})`,
      topic: req.topic,
      partition: outside,
    });
  }
  const targets: Array<{ topic: string; partition: number; offset: number }> = [];
  for (const partition of chosen) {
    const { start, end } = handle.offsets(partition);
    const to = req.to;
    let offset: number;
    if (to === 'earliest') offset = start;
    else if (to === 'latest') offset = end;
    else if ('timestamp' in to) offset = await handle.offsetForTimestamp(partition, to.timestamp);
    else {
      offset = to.offset;
      if (offset < start || offset > end) {
        return err({
          code: 'offset_out_of_range',
          message: `offset ${offset} is outside ${req.topic}/${partition}'s range [${start}, ${end}]`,
          topic: req.topic,
          partition,
          start_offset: start,
          end_offset: end,
        });
      }
    }
    targets.push({ topic: req.topic, partition, offset });
  }
  const out = await inGroupTx(ctx, group, { extraTopics: [req.topic] }, async (s) => {
    // The offsets come from the topic looked up above: deleted (and perhaps re-created) since,
    // its offsets were removed under this lock, and writing them now would apply to the new topic.
    if (!handle.isCurrent()) return err(topicNotFound(req.topic));
    if (s.snapshot.members.length > 0) return err(hasMembers(group, s.snapshot.members.length));
    await repo.writeOffsets(
      s.tx,
      group,
      targets.map((t) => ({ ...t, metadata: null })),
      s.now,
    );
    return ok(targets);
  });
  return out?.value ?? err(groupNotFound(group));
}

function hasMembers(group: string, n: number): GroupError {
  return { code: 'conflict', message: `group "${group}" has ${n} active member(s); they must leave first` };
}
