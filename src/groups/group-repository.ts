// Drizzle queries over the group tables. Writes happen inside a transaction that holds the
// group row lock (`lockGroup`), so every member/offset change of one group is serialised.
import { and, asc, eq, gte, inArray, lt, lte, sql } from 'drizzle-orm';
import type { MetadataDb } from '../metadata/connection.js';
import {
  consumerGroups,
  groupMembers,
  groupOffsets,
  type ConsumerGroupRow,
  type GroupMemberRow,
  type GroupOffsetRow,
  type StoredPosition,
  type StoredTopicPartition,
} from '../metadata/schema/groups.js';

/** A database handle or an open transaction (a transaction is a MetadataDb too). */
export type Db = MetadataDb;

/** Lock the group row for the rest of the transaction; undefined if the group does not exist. */
export async function lockGroup(tx: Db, name: string): Promise<ConsumerGroupRow | undefined> {
  const rows = await tx.select().from(consumerGroups).where(eq(consumerGroups.name, name)).for('update');
  return rows[0];
}

/**
 * `lockGroup` and `loadMembers` in one statement. Only for a sole writer (the embedded database
 * runs one transaction at a time): on a shared Postgres a lock that waited re-reads the group row
 * but not the joined member rows, which could then miss a member a concurrent join committed.
 */
export async function lockGroupWithMembers(
  tx: Db,
  name: string,
): Promise<{ row: ConsumerGroupRow; members: GroupMemberRow[] } | undefined> {
  const rows = await tx
    .select({ group: consumerGroups, member: groupMembers })
    .from(consumerGroups)
    .leftJoin(groupMembers, eq(groupMembers.groupName, consumerGroups.name))
    .where(eq(consumerGroups.name, name))
    .orderBy(asc(groupMembers.memberId))
    .for('update', { of: consumerGroups });
  const first = rows[0];
  if (!first) return undefined;
  return { row: first.group, members: rows.flatMap((r) => (r.member ? [r.member] : [])) };
}

/** Create the group row if missing, then lock it. */
export async function lockOrCreateGroup(tx: Db, name: string, now: number): Promise<ConsumerGroupRow> {
  await tx
    .insert(consumerGroups)
    .values({ name, generation: 0, createdAt: now, updatedAt: now })
    .onConflictDoNothing({ target: consumerGroups.name });
  const row = await lockGroup(tx, name);
  if (!row) throw new Error(`group row "${name}" vanished after insert`);
  return row;
}

/** The group's committed generation, read without a lock; undefined if the group does not exist. */
export async function groupGeneration(db: Db, name: string): Promise<number | undefined> {
  const rows = await db
    .select({ generation: consumerGroups.generation })
    .from(consumerGroups)
    .where(eq(consumerGroups.name, name));
  return rows[0]?.generation;
}

export async function updateGroup(
  tx: Db,
  name: string,
  fields: Partial<Pick<ConsumerGroupRow, 'generation' | 'rebalanceDueAt' | 'updatedAt'>>,
): Promise<void> {
  await tx.update(consumerGroups).set(fields).where(eq(consumerGroups.name, name));
}

export async function deleteGroup(tx: Db, name: string): Promise<void> {
  await tx.delete(consumerGroups).where(eq(consumerGroups.name, name));
}

export async function listGroups(db: Db): Promise<ConsumerGroupRow[]> {
  return db.select().from(consumerGroups).orderBy(asc(consumerGroups.name));
}

export async function getGroup(db: Db, name: string): Promise<ConsumerGroupRow | undefined> {
  const rows = await db.select().from(consumerGroups).where(eq(consumerGroups.name, name));
  return rows[0];
}

/** Live (unexpired at `now`) members per group. */
export async function memberCounts(db: Db, now: number): Promise<Map<string, number>> {
  const rows = await db
    .select({ group: groupMembers.groupName, count: sql<number>`count(*)::int` })
    .from(groupMembers)
    .where(gte(groupMembers.deadline, now))
    .groupBy(groupMembers.groupName);
  return new Map(rows.map((r) => [r.group, Number(r.count)]));
}

export async function loadMembers(tx: Db, group: string): Promise<GroupMemberRow[]> {
  return tx.select().from(groupMembers).where(eq(groupMembers.groupName, group)).orderBy(asc(groupMembers.memberId));
}

/** Topics any member of the group subscribes to (read without locks, to look them up first). */
export async function subscribedTopics(db: Db, group: string): Promise<string[]> {
  const rows = await db
    .select({ topics: groupMembers.topics })
    .from(groupMembers)
    .where(eq(groupMembers.groupName, group));
  return [...new Set(rows.flatMap((r) => r.topics))].sort();
}

export async function insertMember(tx: Db, row: typeof groupMembers.$inferInsert): Promise<void> {
  await tx.insert(groupMembers).values(row);
}

export async function updateMember(
  tx: Db,
  group: string,
  memberId: string,
  fields: Partial<Pick<GroupMemberRow, 'assignment' | 'positions' | 'deadline' | 'notifiedGeneration'>>,
): Promise<void> {
  await tx
    .update(groupMembers)
    .set(fields)
    .where(and(eq(groupMembers.groupName, group), eq(groupMembers.memberId, memberId)));
}

export async function deleteMembers(tx: Db, group: string, memberIds: string[]): Promise<void> {
  if (memberIds.length === 0) return;
  await tx
    .delete(groupMembers)
    .where(and(eq(groupMembers.groupName, group), inArray(groupMembers.memberId, memberIds)));
}

export async function loadOffsets(tx: Db, group: string): Promise<GroupOffsetRow[]> {
  return tx
    .select()
    .from(groupOffsets)
    .where(eq(groupOffsets.groupName, group))
    .orderBy(asc(groupOffsets.topic), asc(groupOffsets.partition));
}

/**
 * A topic was deleted: remove its committed offsets (as Kafka does) and every member's
 * position on it, one group at a time under the group's lock, so a topic created again under
 * the name starts each group at its `auto_offset_reset` position. Idempotent.
 */
export async function forgetTopic(db: Db, topic: string): Promise<void> {
  const withOffsets = await db
    .selectDistinct({ name: groupOffsets.groupName })
    .from(groupOffsets)
    .where(eq(groupOffsets.topic, topic));
  const withPositions = await db
    .selectDistinct({ name: groupMembers.groupName })
    .from(groupMembers)
    .where(sql`${groupMembers.positions} @> ${JSON.stringify([{ topic }])}::jsonb`);
  for (const group of new Set([...withOffsets, ...withPositions].map((r) => r.name))) {
    await db.transaction(async (tx) => {
      if (!(await lockGroup(tx, group))) return;
      await tx.delete(groupOffsets).where(and(eq(groupOffsets.groupName, group), eq(groupOffsets.topic, topic)));
      for (const m of await loadMembers(tx, group)) {
        const positions = m.positions.filter((p) => p.topic !== topic);
        if (positions.length !== m.positions.length) await updateMember(tx, group, m.memberId, { positions });
      }
    });
  }
}

export interface OffsetWrite extends StoredTopicPartition {
  offset: number;
  metadata: string | null;
}

export interface WriteOffsetsOptions {
  /**
   * Leave a committed offset that already equals the written one untouched (its metadata and
   * commit time kept), so a caller need not load the committed offsets first to skip those.
   */
  onlyMoved?: boolean;
}

/** Upsert committed offsets (the next record to read per partition). */
export async function writeOffsets(
  tx: Db,
  group: string,
  offsets: OffsetWrite[],
  now: number,
  options: WriteOffsetsOptions = {},
): Promise<void> {
  if (offsets.length === 0) return;
  await upsertOffsets(tx, group, offsets, now, options);
}

function upsertOffsets(tx: Db, group: string, offsets: OffsetWrite[], now: number, options: WriteOffsetsOptions) {
  return tx
    .insert(groupOffsets)
    .values(offsets.map((o) => ({ groupName: group, ...o, committedAt: now })))
    .onConflictDoUpdate({
      target: [groupOffsets.groupName, groupOffsets.topic, groupOffsets.partition],
      set: {
        offset: sql`excluded.offset`,
        metadata: sql`excluded.metadata`,
        committedAt: sql`excluded.committed_at`,
      },
      ...(options.onlyMoved ? { setWhere: sql`${groupOffsets.offset} <> excluded.offset` } : {}),
    });
}

function positionsAsOffsets(positions: StoredPosition[]): OffsetWrite[] {
  return positions.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.offset, metadata: null }));
}

/** Auto-commit: store a member's positions as committed offsets (metadata cleared). */
export async function commitPositions(tx: Db, group: string, positions: StoredPosition[], now: number): Promise<void> {
  await writeOffsets(tx, group, positionsAsOffsets(positions), now);
}

/**
 * A member's fetch in one statement: `updateMember`, and the auto-commit of `positions` as
 * committed offsets (metadata cleared), leaving a committed offset that already equals its
 * position untouched (its metadata and time kept). A data-modifying CTE runs once and to
 * completion whether or not the statement reads it; one round trip instead of two matters on
 * the embedded database, where each is a protocol exchange and the larger part of a fetch.
 */
export async function updateMemberCommittingMoved(
  tx: Db,
  group: string,
  memberId: string,
  fields: Parameters<typeof updateMember>[3],
  positions: StoredPosition[],
  now: number,
): Promise<void> {
  if (positions.length === 0) return updateMember(tx, group, memberId, fields);
  const update = tx
    .update(groupMembers)
    .set(fields)
    .where(and(eq(groupMembers.groupName, group), eq(groupMembers.memberId, memberId)));
  const commit = upsertOffsets(tx, group, positionsAsOffsets(positions), now, { onlyMoved: true });
  await tx.execute(sql`with member_update as (${update.getSQL()}) ${commit.getSQL()}`);
}

/** Groups that need attention now: a member past its deadline or a coalesced rebalance due. */
export async function groupsNeedingSettle(db: Db, now: number): Promise<string[]> {
  const expired = await db
    .selectDistinct({ name: groupMembers.groupName })
    .from(groupMembers)
    .where(lt(groupMembers.deadline, now));
  const due = await db
    .select({ name: consumerGroups.name })
    .from(consumerGroups)
    .where(lte(consumerGroups.rebalanceDueAt, now));
  return [...new Set([...expired, ...due].map((r) => r.name))].sort();
}
