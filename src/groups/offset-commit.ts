// Committing offsets with generation fencing: a member commits only partitions it owns in the
// current generation; a commit without member and generation is an admin write to an empty group.
import { err, ok, type Result } from '../lib/result.js';
import { tpKey } from './group-coordinator.js';
import { inGroupTx, type GroupContext } from './group-context.js';
import { topicNotFound, unknownMember, type GroupError } from './group-errors.js';
import type { CursorEntry } from './group-cursor.js';
import * as repo from './group-repository.js';
import type { GroupTopicHandle } from './ports.js';

/** Longest metadata string stored with a committed offset (Kafka's offset.metadata.max.bytes). */
export const MAX_OFFSET_METADATA_CHARS = 4096;

export interface CommitRequest {
  memberId?: string | undefined;
  generation?: number | undefined;
  offsets: Array<{ topic: string; partition: number; offset: number; metadata?: string | null | undefined }>;
}

/**
 * Validate every offset (topic, partition, not past the end) and, for a member, its generation
 * and ownership first; then write all of them in one transaction or none. `offset` is the next
 * record to read, so `end_offset` is allowed. A member's commit also confirms its positions.
 */
export async function commitOffsets(
  ctx: GroupContext,
  group: string,
  req: CommitRequest,
): Promise<Result<void, GroupError>> {
  if ((req.memberId === undefined) !== (req.generation === undefined)) {
    return err({ code: 'bad_request', message: 'member_id and generation go together: send both or neither' });
  }
  const seen = new Set<string>();
  for (const o of req.offsets) {
    if (seen.has(tpKey(o))) {
      return err({ code: 'bad_request', message: `partition ${o.topic}/${o.partition} appears twice in offsets` });
    }
    seen.add(tpKey(o));
  }
  const names = [...new Set(req.offsets.map((o) => o.topic))];
  const found = await ctx.topics.lookup(names);
  const invalid = validateOffsets(req, found);
  const admin = req.memberId === undefined;
  // An admin write is refused on bad offsets at once; a member's commit checks fencing first,
  // so a zombie of an old generation learns to rejoin whatever offsets it sends.
  if (invalid && admin) return err(invalid);
  const out = await inGroupTx(ctx, group, { create: admin, extraTopics: names }, async (s) => {
    // A topic deleted (and perhaps re-created) since the lookup had its offsets removed under
    // this lock; writing the old topic's offset now would apply it to the new topic.
    const gone = names.find((n) => found.get(n)?.isCurrent() === false);
    if (gone !== undefined) return err(topicNotFound(gone));
    const generation = s.snapshot.group.generation;
    if (admin) {
      if (s.snapshot.members.length > 0) {
        return err<GroupError>({
          code: 'conflict',
          message: `group "${group}" has ${s.snapshot.members.length} active member(s); commit with member_id and generation`,
        });
      }
    } else {
      const member = s.snapshot.members.find((m) => m.memberId === req.memberId);
      if (!member) return err(unknownMember(group, req.memberId ?? '', generation));
      if (req.generation !== generation) {
        return err<GroupError>({
          code: 'fenced',
          message: `generation ${req.generation} is stale; the group is at generation ${generation} — fetch or heartbeat for the new assignment`,
          generation,
        });
      }
      const owned = new Set(member.assignment.map(tpKey));
      const foreign = req.offsets.find((o) => !owned.has(tpKey(o)));
      if (foreign) {
        return err<GroupError>({
          code: 'fenced',
          message: `member does not own ${foreign.topic}/${foreign.partition} in generation ${generation}`,
          generation,
        });
      }
      if (invalid) return err(invalid);
      // A commit confirms: the member's positions move forward to what it committed.
      const positions = new Map(member.positions.map((p) => [tpKey(p), p]));
      for (const o of req.offsets) {
        const had = positions.get(tpKey(o));
        if (!had || had.offset < o.offset)
          positions.set(tpKey(o), { topic: o.topic, partition: o.partition, offset: o.offset });
      }
      await repo.updateMember(s.tx, group, member.memberId, { positions: [...positions.values()] });
    }
    await repo.writeOffsets(
      s.tx,
      group,
      req.offsets.map((o) => ({
        topic: o.topic,
        partition: o.partition,
        offset: o.offset,
        metadata: o.metadata ?? null,
      })),
      s.now,
    );
    return ok(undefined);
  });
  return out?.value ?? err(unknownMember(group, req.memberId ?? '', null));
}

/** Unknown topic or partition, or an offset past the partition's end; undefined when all are valid. */
function validateOffsets(req: CommitRequest, found: ReadonlyMap<string, GroupTopicHandle>): GroupError | undefined {
  for (const o of req.offsets) {
    const handle = found.get(o.topic);
    if (!handle) return topicNotFound(o.topic);
    if (o.partition >= handle.partitions) {
      return {
        code: 'partition_not_found',
        message: `topic "${o.topic}" has no partition ${o.partition} (it has ${handle.partitions})`,
        topic: o.topic,
        partition: o.partition,
      };
    }
    const { end } = handle.offsets(o.partition);
    if (o.offset > end) {
      return {
        code: 'invalid_record',
        message: `offset ${o.offset} is past the end of ${o.topic}/${o.partition} (end_offset ${end}); commit the next offset to read, at most end_offset`,
        topic: o.topic,
        partition: o.partition,
        end_offset: end,
      };
    }
  }
  return undefined;
}

/**
 * Commit the positions a cursor names (an SSE client's Last-Event-ID) for partitions of
 * `topics`: only forward, never past a partition's end; entries of other topics (or of a
 * deleted and re-created one, whose id differs) are ignored.
 */
export async function commitCursor(
  ctx: GroupContext,
  group: string,
  topics: readonly string[],
  entries: readonly CursorEntry[],
): Promise<void> {
  if (entries.length === 0) return;
  const found = await ctx.topics.lookup(topics);
  const byId = new Map([...found.values()].map((h) => [h.id, h]));
  const wanted = new Map<string, repo.OffsetWrite>();
  for (const e of entries) {
    const handle = byId.get(e.topicId);
    if (!handle || e.partition >= handle.partitions) continue;
    const offset = Math.min(e.offset, handle.offsets(e.partition).end);
    const tp = { topic: handle.name, partition: e.partition };
    const prior = wanted.get(tpKey(tp));
    if (!prior || prior.offset < offset) wanted.set(tpKey(tp), { ...tp, offset, metadata: null });
  }
  if (wanted.size === 0) return;
  await inGroupTx(ctx, group, { create: true, extraTopics: topics }, async (s) => {
    const committed = new Map((await repo.loadOffsets(s.tx, group)).map((o) => [tpKey(o), o.offset]));
    const forward = [...wanted.values()].filter(
      (w) => found.get(w.topic)?.isCurrent() === true && (committed.get(tpKey(w)) ?? -1) < w.offset,
    );
    await repo.writeOffsets(s.tx, group, forward, s.now);
  });
}
