// A member's fetch: apply what the member confirmed and plan positions under the group lock,
// read (long-polling) without it, then deliver only records of partitions the member still owns
// in the generation current at the end. Sending records never moves a position: only the
// member's confirmation does (its next fetch naming this answer's cursor, a commit, a leave).
import { err, ok, type Result } from '../lib/result.js';
import type { GroupMemberRow, StoredPosition, StoredTopicPartition } from '../metadata/schema/groups.js';
import type { CursorEntry } from './group-cursor.js';
import { tpKey } from './group-coordinator.js';
import { inGroupTx, type GroupContext } from './group-context.js';
import { unknownMember, type GroupError } from './group-errors.js';
import * as repo from './group-repository.js';
import type { GroupRecordJson, GroupTopicHandle } from './ports.js';

export interface FetchRequest {
  maxRecords: number;
  maxBytes: number;
  waitMs: number;
  signal?: AbortSignal;
  /** Positions the member confirms it received (the cursor of an earlier answer). */
  confirm?: readonly CursorEntry[] | undefined;
  /**
   * The caller's refusal to read a topic the member consumes, if any: checked on every fetch
   * before anything moves, as the member id is no credential (group:describe shows it).
   */
  refuseTopic?: ((topic: string) => GroupError | undefined) | undefined;
}

/** Offsets [fromOffset, toOffset) of a partition the member skips: retention deleted them first. */
export interface PositionGap {
  topic: string;
  partition: number;
  fromOffset: number;
  toOffset: number;
}

/** The records of one partition in an answer. */
export interface DeliveredBatch {
  topic: string;
  topicId: string;
  partition: number;
  /** How many records (in offset order). */
  count: number;
  /** Their Record JSON, written to bytes when the answer is sent. */
  json: GroupRecordJson;
  /** The offset after the last record (what the answer's cursor names for this partition). */
  nextOffset: number;
}

export interface FetchResult {
  generation: number;
  assignment: StoredTopicPartition[];
  batches: DeliveredBatch[];
  /** Positions moved forward past records retention deleted before they were delivered. */
  gaps: PositionGap[];
}

interface Plan {
  positions: StoredPosition[];
  generation: number;
  assignment: StoredTopicPartition[];
  gaps: PositionGap[];
  /** The member has not been told about this generation yet: answer without waiting. */
  news: boolean;
  /** The topics the positions were worked out from. */
  found: ReadonlyMap<string, GroupTopicHandle>;
}

let rotation = 0;

/**
 * Fetch records across the member's partitions; counts as a heartbeat. Positions first take
 * what `confirm` names; with auto_commit the confirmed positions are then committed (Kafka's
 * poll loop, where the next poll says the previous one was processed). The records read are
 * not a confirmation: a retry without `confirm` gets them again.
 */
export async function fetchRecords(
  ctx: GroupContext,
  group: string,
  memberId: string,
  req: FetchRequest,
): Promise<Result<FetchResult, GroupError>> {
  const waitMs = Math.max(0, Math.min(req.waitMs, ctx.settings.longPollMaxMs));
  // Before the plan reads the generation: a rebalance notified after this is never missed.
  const seen = ctx.signals.version(group);
  const planned = await inGroupTx(ctx, group, {}, (s) =>
    plan(s, group, memberId, waitMs, req.confirm ?? [], req.refuseTopic),
  );
  if (!planned) return err(unknownMember(group, memberId, null));
  if (!planned.value.ok) return planned.value;
  const { positions, news, gaps, found } = planned.value.value;

  // Read the topics the positions were planned on: a lookup now could find a topic created again
  // under a name since, and read it from the old topic's offsets.
  const { batches: records, rebalanced } = await readWithWait(
    ctx,
    group,
    seen,
    found,
    positions,
    req,
    news ? 0 : waitMs,
  );
  // Nothing to deliver and no rebalance seen while waiting: the plan's view is the answer
  // (the plan already extended the session), so skip the second transaction.
  if (records.size === 0 && !rebalanced) {
    const { generation, assignment } = planned.value.value;
    return ok({ generation, assignment, batches: [], gaps });
  }
  // Records read and the generation the plan saw is still the committed one: no rebalance has
  // run since (only a rebalance changes owners, and it bumps the generation; a member that left
  // or expired went in one), so the member owns exactly what it was planned with, and the plan's
  // session deadline already covers the wait (to within the read's milliseconds): answer without
  // a second transaction. A rebalance committing after this read orders after the answer, as one
  // committing after the second transaction would.
  if (!rebalanced && (await generationUnchanged(ctx, group, seen, planned.value.value.generation))) {
    const { generation, assignment } = planned.value.value;
    return ok({ generation, assignment, batches: [...records.values()], gaps });
  }

  const answered = await inGroupTx(ctx, group, {}, async (s) => {
    const member = s.snapshot.members.find((m) => m.memberId === memberId);
    if (!member) return err(unknownMember(group, memberId, s.snapshot.group.generation));
    // Deliver a partition's records only if the member still owns it.
    const owned = new Set(member.assignment.map(tpKey));
    const batches = [...records].filter(([key]) => owned.has(key)).map(([, batch]) => batch);
    await repo.updateMember(s.tx, group, memberId, {
      deadline: s.now + member.sessionTimeoutMs,
      notifiedGeneration: s.snapshot.group.generation,
    });
    return ok({
      generation: s.snapshot.group.generation,
      assignment: member.assignment,
      batches,
      gaps,
    });
  });
  return answered?.value ?? err(unknownMember(group, memberId, null));
}

/**
 * Whether the group's committed generation is still `generation` (what the plan saw, with the
 * signal count `seen` read before it). A sole writer answers from its signals: every rebalance
 * notifies them once committed, and no one outside this process learns of a rebalance before
 * that notify (its answers come after it), so an unmoved count orders this answer before any
 * rebalance since. A moved count (a rebalance, the plan's own, or another group sharing the
 * slot) answers false: the caller then looks inside a transaction. Others ask the database.
 */
async function generationUnchanged(ctx: GroupContext, group: string, seen: number, generation: number) {
  if (ctx.settings.soleWriter) return ctx.signals.version(group) === seen;
  return (await repo.groupGeneration(ctx.db, group)) === generation;
}

/**
 * Positions after applying confirmed entries: a confirmation only moves a position forward,
 * only for a partition the member owns, and never past the partition's end.
 */
export function confirmPositions(
  member: Pick<GroupMemberRow, 'positions' | 'assignment'>,
  confirm: readonly CursorEntry[],
  found: ReadonlyMap<string, GroupTopicHandle>,
): Map<string, number> {
  const had = new Map(member.positions.map((p) => [tpKey(p), p.offset]));
  if (confirm.length === 0) return had;
  const owned = new Map<string, StoredTopicPartition>();
  for (const tp of member.assignment) {
    const id = found.get(tp.topic)?.id;
    if (id !== undefined) owned.set(`${id}/${tp.partition}`, tp);
  }
  for (const e of confirm) {
    const tp = owned.get(`${e.topicId}/${e.partition}`);
    const handle = tp && found.get(tp.topic);
    // Not (or no longer) this member's partition, or its topic deleted since the lookup: nothing to confirm.
    if (!tp || !handle || !handle.isCurrent()) continue;
    const offset = Math.min(e.offset, handle.offsets(tp.partition).end);
    const current = had.get(tpKey(tp));
    if (current === undefined || current < offset) had.set(tpKey(tp), offset);
  }
  return had;
}

async function plan(
  s: Parameters<Parameters<typeof inGroupTx>[3]>[0],
  group: string,
  memberId: string,
  waitMs: number,
  confirm: readonly CursorEntry[],
  refuseTopic: FetchRequest['refuseTopic'],
): Promise<Result<Plan, GroupError>> {
  const member = s.snapshot.members.find((m) => m.memberId === memberId);
  if (!member) return err(unknownMember(group, memberId, s.snapshot.group.generation));
  if (refuseTopic) {
    for (const topic of member.topics) {
      const refused = refuseTopic(topic);
      if (refused) return err(refused);
    }
  }
  const had = confirmPositions(member, confirm, s.topics.found);
  // SSE members' positions are what was written to their socket: never committed for them.
  const autoCommit = member.autoCommit && member.kind !== 'sse';
  // Committed offsets matter only for partitions without a position yet (auto-commit leaves
  // unmoved ones to the database's comparison).
  const needCommitted = member.assignment.some((tp) => !had.has(tpKey(tp)));
  const committedRows = needCommitted ? await repo.loadOffsets(s.tx, group) : [];
  const committed = new Map(committedRows.map((o) => [tpKey(o), o.offset]));

  const positions: StoredPosition[] = [];
  const gaps: PositionGap[] = [];
  for (const tp of member.assignment) {
    const handle = s.topics.found.get(tp.topic);
    if (!handle) continue; // deleted under us; the next settle drops it
    const { start, end } = handle.offsets(tp.partition);
    let offset = had.get(tpKey(tp)) ?? committed.get(tpKey(tp));
    if (offset === undefined && member.autoOffsetReset === 'none') {
      return err({
        code: 'conflict',
        message: `no committed offset for ${tp.topic}/${tp.partition} and auto_offset_reset is none; commit or reset an offset for the group`,
        topic: tp.topic,
        partition: tp.partition,
      });
    }
    if (offset !== undefined && (offset < start || offset > end) && member.autoOffsetReset === 'none') {
      return err({
        code: 'offset_out_of_range',
        message: `position ${offset} of ${tp.topic}/${tp.partition} is outside [${start}, ${end}] and auto_offset_reset is none`,
        topic: tp.topic,
        partition: tp.partition,
        start_offset: start,
        end_offset: end,
      });
    }
    if (offset === undefined || offset < start || offset > end) {
      const reset = member.autoOffsetReset === 'latest' ? end : start;
      if (offset !== undefined && offset < start) {
        gaps.push({ topic: tp.topic, partition: tp.partition, fromOffset: offset, toOffset: reset });
      }
      offset = reset;
    }
    positions.push({ topic: tp.topic, partition: tp.partition, offset });
  }

  // Committed offsets are known here only if loaded above; otherwise every position the member
  // holds is offered and the database skips those already committed as they are.
  const due = autoCommit ? positions.filter((p) => committed.get(tpKey(p)) !== p.offset && had.has(tpKey(p))) : [];
  const generation = s.snapshot.group.generation;
  await repo.updateMemberCommittingMoved(
    s.tx,
    group,
    memberId,
    { positions, deadline: s.now + waitMs + member.sessionTimeoutMs, notifiedGeneration: generation },
    due,
    s.now,
  );
  return ok({
    positions,
    generation,
    assignment: member.assignment,
    gaps,
    news: member.notifiedGeneration !== generation,
    found: s.topics.found,
  });
}

/** Read up to the limits across partitions, rotating the start so none starves; long-poll if empty. */
async function readWithWait(
  ctx: GroupContext,
  group: string,
  seen: number,
  found: ReadonlyMap<string, GroupTopicHandle>,
  positions: StoredPosition[],
  req: FetchRequest,
  waitMs: number,
): Promise<{ batches: Map<string, DeliveredBatch>; rebalanced: boolean }> {
  const deadline = Date.now() + waitMs;
  let out = await readOnce(found, positions, req);
  while (out.size === 0 && !req.signal?.aborted) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    // With no partitions (a rebalance pending) this waits for the rebalance, to report it.
    const woke = await waitForAny(ctx, group, seen, found, positions, remaining, req.signal);
    if (woke === 'rebalance') return { batches: out, rebalanced: true };
    out = await readOnce(found, positions, req);
    if (woke === 'timeout') break;
  }
  return { batches: out, rebalanced: false };
}

async function readOnce(
  found: ReadonlyMap<string, GroupTopicHandle>,
  positions: StoredPosition[],
  req: FetchRequest,
): Promise<Map<string, DeliveredBatch>> {
  const out = new Map<string, DeliveredBatch>();
  let recordsLeft = req.maxRecords;
  let bytesLeft = req.maxBytes;
  const n = positions.length;
  const first = n === 0 ? 0 : rotation++ % n;
  for (let i = 0; i < n && recordsLeft > 0 && bytesLeft > 0; i++) {
    const p = positions[(first + i) % n] as StoredPosition;
    const handle = found.get(p.topic);
    if (!handle) continue;
    const read = await handle.read(p.partition, p.offset, { maxRecords: recordsLeft, maxBytes: bytesLeft });
    if (!read.ok || read.value.count === 0) continue; // out of range: the next plan resets it
    out.set(tpKey(p), {
      topic: p.topic,
      topicId: handle.id,
      partition: p.partition,
      count: read.value.count,
      json: read.value.json,
      nextOffset: read.value.nextOffset,
    });
    recordsLeft -= read.value.count;
    bytesLeft -= read.value.bytes;
  }
  return out;
}

/**
 * Wait for data on any position, a rebalance of the group, the timeout or the abort. A rebalance
 * notified since `seen` (before the plan) ends the wait at once: it may have come before this
 * subscribed.
 */
async function waitForAny(
  ctx: GroupContext,
  group: string,
  seen: number,
  found: ReadonlyMap<string, GroupTopicHandle>,
  positions: StoredPosition[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<'data' | 'rebalance' | 'timeout'> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  let unsubscribe: () => void = () => undefined;
  try {
    const rebalance = new Promise<'rebalance'>((resolve) => {
      unsubscribe = ctx.signals.once(group, () => resolve('rebalance'));
      if (ctx.signals.version(group) !== seen) resolve('rebalance');
    });
    const waits = positions.map(async (p) => {
      const handle = found.get(p.topic);
      const got = handle ? await handle.waitForData(p.partition, p.offset, timeoutMs, stop.signal) : false;
      if (!got)
        await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
      return 'data' as const;
    });
    const timeout = new Promise<'timeout'>((resolve) => {
      const t = setTimeout(() => resolve('timeout'), timeoutMs);
      stop.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve('timeout');
      });
    });
    return await Promise.race([rebalance, timeout, ...waits]);
  } finally {
    unsubscribe();
    signal?.removeEventListener('abort', onAbort);
    stop.abort();
  }
}
