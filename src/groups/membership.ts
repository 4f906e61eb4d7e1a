// Membership operations: join (with coalesced rebalances), heartbeat and leave. Each runs in
// one Postgres transaction on the locked group row; nothing about a member lives in memory.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { err, ok, type Result } from '../lib/result.js';
import type { StoredTopicPartition } from '../metadata/schema/groups.js';
import { groupState, tpKey } from './group-coordinator.js';
import type { CursorEntry } from './group-cursor.js';
import { confirmPositions, type FetchRequest } from './member-fetch.js';
import { inGroupTx, type GroupContext } from './group-context.js';
import { groupNotFound, topicNotFound, unknownMember, type GroupError } from './group-errors.js';
import * as repo from './group-repository.js';

export type AutoOffsetReset = 'earliest' | 'latest' | 'none';

export interface JoinRequest {
  topics: string[];
  sessionTimeoutMs: number;
  autoOffsetReset: AutoOffsetReset;
  autoCommit: boolean;
  /** `sse` members are kept alive by their open stream rather than by fetches. */
  kind?: 'poll' | 'sse';
}

export interface MemberView {
  memberId: string;
  generation: number;
  assignment: StoredTopicPartition[];
  state: 'empty' | 'rebalancing' | 'stable';
}

/**
 * Join a group (created on first join). The member is stored at once; the rebalance that
 * gives it partitions runs `rebalanceDelayMs` after the first of a burst of joins, so a burst
 * bumps the generation once. Resolves with the member's settled assignment.
 */
export async function join(
  ctx: GroupContext,
  group: string,
  req: JoinRequest,
): Promise<Result<MemberView, GroupError>> {
  const topics = [...new Set(req.topics)].sort();
  const found = await ctx.topics.lookup(topics);
  const missing = topics.find((t) => !found.has(t));
  if (missing !== undefined) return err(topicNotFound(missing));

  const memberId = randomUUID();
  const delay = ctx.settings.rebalanceDelayMs;
  const joined = await inGroupTx(ctx, group, { create: true, extraTopics: topics }, async (s) => {
    await repo.insertMember(s.tx, {
      groupName: group,
      memberId,
      kind: req.kind ?? 'poll',
      topics,
      sessionTimeoutMs: req.sessionTimeoutMs,
      // Cover the coalescing window, so a short session cannot expire before the first rebalance.
      deadline: s.now + req.sessionTimeoutMs + Math.max(0, delay),
      autoOffsetReset: req.autoOffsetReset,
      autoCommit: req.autoCommit,
      assignment: [],
      positions: [],
      joinedAt: s.now,
    });
    const insertedAt = s.snapshot.group.generation;
    if (delay <= 0) {
      await s.resettle(true);
      return { dueAt: null, insertedAt };
    }
    const due = s.snapshot.group.rebalanceDueAt;
    if (due !== null) return { dueAt: due, insertedAt };
    await repo.updateGroup(s.tx, group, { rebalanceDueAt: s.now + delay, updatedAt: s.now });
    return { dueAt: s.now + delay, insertedAt };
  });
  if (!joined) throw new Error(`group "${group}" missing after create`);

  // Wait out the coalescing window, then settle (whoever settles first rebalances for all).
  // Done once a rebalance after our insert has run, i.e. the generation moved past it.
  const { insertedAt } = joined.value;
  for (let dueAt = joined.value.dueAt, round = 0; ; round++) {
    if (dueAt !== null) await sleep(Math.max(0, dueAt - ctx.now()) + 1);
    const out = await inGroupTx(ctx, group, {}, async (s) => {
      const member = s.snapshot.members.find((m) => m.memberId === memberId);
      const generation = s.snapshot.group.generation;
      if (member && generation > insertedAt) {
        await repo.updateMember(s.tx, group, memberId, { notifiedGeneration: generation });
      }
      return {
        member,
        dueAt: s.snapshot.group.rebalanceDueAt,
        generation,
        state: groupState(s.snapshot.group, s.snapshot.members.length),
      };
    });
    const v = out?.value;
    if (!v?.member) return err(unknownMember(group, memberId, v?.generation ?? null));
    // (The round cap only guards against a clock that never reaches dueAt.)
    if (v.generation > insertedAt || v.dueAt === null || round >= 20) {
      return ok({ memberId, generation: v.generation, assignment: v.member.assignment, state: v.state });
    }
    dueAt = v.dueAt;
  }
}

/** Keep a member's session alive; answers with the current generation and its assignment. */
export async function heartbeat(
  ctx: GroupContext,
  group: string,
  memberId: string,
): Promise<Result<MemberView, GroupError>> {
  const out = await inGroupTx(ctx, group, {}, async (s) => {
    const member = s.snapshot.members.find((m) => m.memberId === memberId);
    if (!member) return err(unknownMember(group, memberId, s.snapshot.group.generation));
    await repo.updateMember(s.tx, group, memberId, {
      deadline: s.now + member.sessionTimeoutMs,
      notifiedGeneration: s.snapshot.group.generation,
    });
    return ok({
      memberId,
      generation: s.snapshot.group.generation,
      assignment: member.assignment,
      state: groupState(s.snapshot.group, s.snapshot.members.length),
    });
  });
  return out?.value ?? err(unknownMember(group, memberId, null));
}

/**
 * Leave at once (no session wait): with auto_commit the member's confirmed positions (after
 * `confirm`) are committed first, as Kafka's consumer does on close; then the rest rebalance.
 * An SSE member's positions are only what was written to its socket: never committed here.
 */
export async function leave(
  ctx: GroupContext,
  group: string,
  memberId: string,
  options: { confirm?: readonly CursorEntry[] | undefined; refuseTopic?: FetchRequest['refuseTopic'] } = {},
): Promise<Result<void, GroupError>> {
  const out = await inGroupTx(ctx, group, {}, async (s) => {
    const member = s.snapshot.members.find((m) => m.memberId === memberId);
    if (!member) {
      return err<GroupError>({ code: 'member_not_found', message: `member "${memberId}" is not in group "${group}"` });
    }
    // A cursor confirms (and with auto_commit commits) positions in the member's topics: as a
    // fetch, it needs the caller to read them.
    if (options.confirm !== undefined && options.confirm.length > 0 && options.refuseTopic) {
      for (const topic of member.topics) {
        const refused = options.refuseTopic(topic);
        if (refused) return err(refused);
      }
    }
    if (member.autoCommit && member.kind !== 'sse') {
      const confirmed = confirmPositions(member, options.confirm ?? [], s.topics.found);
      const positions = member.assignment.flatMap((tp) => {
        const offset = confirmed.get(tpKey(tp));
        return offset === undefined ? [] : [{ topic: tp.topic, partition: tp.partition, offset }];
      });
      await repo.commitPositions(s.tx, group, positions, s.now);
    }
    await repo.deleteMembers(s.tx, group, [memberId]);
    await s.resettle(true);
    return ok(undefined);
  });
  return out?.value ?? err(groupNotFound(group));
}
