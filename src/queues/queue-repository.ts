// Drizzle queries over the queue tables. Lease state changes happen in a transaction that
// holds the queue partition's row lock (`lockPartition`), one partition at a time.
import { and, asc, eq, inArray, isNotNull, lte, ne, sql } from 'drizzle-orm';
import type { MetadataDb } from '../metadata/connection.js';
import { queuePartitions, queues, topics, type QueuePartitionRow, type QueueRow } from '../metadata/schema.js';
import { decodeRanges, encodeRanges, nextSweepAt, type PartitionState, type Tally } from './partition-state.js';

export type Db = MetadataDb;

export interface QueueSettings {
  start: 'earliest' | 'latest';
  lockMs: number;
  maxDeliveries: number;
  deadLetterTopic: string | null;
  orderedByKey: boolean;
}

export async function findQueue(db: Db, topicId: string, name: string): Promise<QueueRow | undefined> {
  const rows = await db
    .select()
    .from(queues)
    .where(and(eq(queues.topicId, topicId), eq(queues.name, name)));
  return rows[0];
}

export async function listQueues(db: Db, topicId: string): Promise<QueueRow[]> {
  return db.select().from(queues).where(eq(queues.topicId, topicId)).orderBy(asc(queues.name));
}

/**
 * Insert the queue with its partitions' starting offsets unless it exists; returns the row
 * and whether this call created it.
 */
export async function insertQueue(
  db: Db,
  q: { id: string; topicId: string; name: string; settings: QueueSettings; starts: number[]; now: number },
): Promise<{ row: QueueRow; created: boolean }> {
  return db.transaction(async (tx) => {
    const inserted = await tx
      .insert(queues)
      .values({ id: q.id, topicId: q.topicId, name: q.name, ...q.settings, createdAt: q.now, updatedAt: q.now })
      .onConflictDoNothing({ target: [queues.topicId, queues.name] })
      .returning();
    if (inserted[0]) {
      if (q.starts.length > 0)
        await tx.insert(queuePartitions).values(
          q.starts.map((offset, partition) => ({
            queueId: q.id,
            partition,
            startOffset: offset,
            endOffset: offset,
            ranges: [],
            updatedAt: q.now,
          })),
        );
      return { row: inserted[0], created: true };
    }
    const existing = await findQueue(tx, q.topicId, q.name);
    if (!existing) throw new Error(`queue ${q.name} vanished after insert conflict`);
    return { row: existing, created: false };
  });
}

export async function updateQueue(
  db: Db,
  id: string,
  fields: Partial<Omit<QueueSettings, 'start'>>,
  now: number,
): Promise<QueueRow | undefined> {
  const rows = await db
    .update(queues)
    .set({ ...fields, updatedAt: now })
    .where(eq(queues.id, id))
    .returning();
  return rows[0];
}

export async function deleteQueue(db: Db, id: string): Promise<boolean> {
  const rows = await db.delete(queues).where(eq(queues.id, id)).returning({ id: queues.id });
  return rows.length > 0;
}

/** Returns the ids of the queues deleted. */
export async function deleteQueuesOfTopic(db: Db, topicId: string): Promise<string[]> {
  const rows = await db.delete(queues).where(eq(queues.topicId, topicId)).returning({ id: queues.id });
  return rows.map((r) => r.id);
}

export async function loadPartitions(db: Db, queueId: string): Promise<QueuePartitionRow[]> {
  return db
    .select()
    .from(queuePartitions)
    .where(eq(queuePartitions.queueId, queueId))
    .orderBy(asc(queuePartitions.partition));
}

export interface LockedPartition {
  row: QueuePartitionRow;
  state: PartitionState;
}

/**
 * Lock one queue partition row for the rest of the transaction, creating it at `startIfNew`
 * when missing (a partition added to the topic later). With `skipLocked`, undefined if another
 * transaction holds it.
 */
export async function lockPartition(
  tx: Db,
  queueId: string,
  partition: number,
  opts: { skipLocked: boolean; startIfNew: number; now: number },
): Promise<LockedPartition | undefined> {
  const select = () =>
    tx
      .select()
      .from(queuePartitions)
      .where(and(eq(queuePartitions.queueId, queueId), eq(queuePartitions.partition, partition)))
      .for('update', opts.skipLocked ? { skipLocked: true } : {});
  let rows = await select();
  if (!rows[0]) {
    await insertPartitionRow(tx, queueId, partition, opts);
    rows = await select();
  }
  const row = rows[0];
  if (!row) return undefined;
  return { row, state: toState(row) };
}

/** The queue was deleted (by DELETE or with its topic) while a request was working on it. */
export class QueueGoneError extends Error {
  constructor(readonly queueId: string) {
    super(`queue ${queueId} was deleted`);
    this.name = 'QueueGoneError';
  }
}

async function insertPartitionRow(
  tx: Db,
  queueId: string,
  partition: number,
  opts: { startIfNew: number; now: number },
): Promise<void> {
  try {
    await tx
      .insert(queuePartitions)
      .values({
        queueId,
        partition,
        startOffset: opts.startIfNew,
        endOffset: opts.startIfNew,
        ranges: [],
        updatedAt: opts.now,
      })
      .onConflictDoNothing();
  } catch (e) {
    if (isForeignKeyViolation(e)) throw new QueueGoneError(queueId);
    throw e;
  }
}

function isForeignKeyViolation(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 8; depth++) {
    if ((e as { code?: unknown }).code === '23503') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

export function toState(row: QueuePartitionRow): PartitionState {
  return { startOffset: Number(row.startOffset), endOffset: Number(row.endOffset), ranges: decodeRanges(row.ranges) };
}

/** The columns a partition write sets: the new state, and the tally added to its counters. */
function partitionUpdate(change: { state: PartitionState; tally: Tally; delivered: number; now: number }) {
  const { state, tally, delivered, now } = change;
  return {
    startOffset: state.startOffset,
    endOffset: state.endOffset,
    ranges: encodeRanges(state.ranges),
    sweepAt: nextSweepAt(state, now),
    accepted: sql`${queuePartitions.accepted} + ${tally.accepted}`,
    deadLettered: sql`${queuePartitions.deadLettered} + ${tally.deadLettered}`,
    archived: sql`${queuePartitions.archived} + ${tally.archived}`,
    skipped: sql`${queuePartitions.skipped} + ${tally.skipped}`,
    deliveries: sql`${queuePartitions.deliveries} + ${delivered}`,
    updatedAt: now,
  };
}

/** Write a partition's new state and add the tally to its counters (in the locking transaction). */
export async function savePartition(
  tx: Db,
  queueId: string,
  partition: number,
  state: PartitionState,
  tally: Tally,
  delivered: number,
  now: number,
): Promise<void> {
  await tx
    .update(queuePartitions)
    .set(partitionUpdate({ state, tally, delivered, now }))
    .where(and(eq(queuePartitions.queueId, queueId), eq(queuePartitions.partition, partition)));
}

/**
 * The row's version for compare-and-set writes: Postgres' `xmin`, the id of the transaction
 * that last wrote the row, which every committed UPDATE changes (the "xmin as concurrency
 * token" pattern). A row lock taken without writing leaves it alone, as it should.
 */
const rowVersion = sql<string>`${queuePartitions}.xmin::text`;

/** A queue partition's state and version, inserting its row at `startIfNew` when missing. */
export async function loadVersioned(
  db: Db,
  queueId: string,
  partition: number,
  opts: { startIfNew: number; now: number },
): Promise<{ state: PartitionState; version: string }> {
  const select = () =>
    db
      .select({
        startOffset: queuePartitions.startOffset,
        endOffset: queuePartitions.endOffset,
        ranges: queuePartitions.ranges,
        version: rowVersion,
      })
      .from(queuePartitions)
      .where(and(eq(queuePartitions.queueId, queueId), eq(queuePartitions.partition, partition)));
  let rows = await select();
  if (!rows[0]) {
    await insertPartitionRow(db, queueId, partition, opts);
    rows = await select();
  }
  const row = rows[0];
  if (!row) throw new QueueGoneError(queueId);
  return {
    state: { startOffset: Number(row.startOffset), endOffset: Number(row.endOffset), ranges: decodeRanges(row.ranges) },
    version: row.version,
  };
}

/**
 * One statement: write the partition's new state and add the counters, if the row is still
 * at `version`. The new version, or undefined if another writer got there first (or the row is gone).
 */
export async function writeIfVersion(
  db: Db,
  queueId: string,
  partition: number,
  version: string,
  change: { state: PartitionState; tally: Tally; delivered: number; now: number },
): Promise<string | undefined> {
  const rows = await db
    .update(queuePartitions)
    .set(partitionUpdate(change))
    .where(
      and(
        eq(queuePartitions.queueId, queueId),
        eq(queuePartitions.partition, partition),
        sql`${queuePartitions}.xmin = ${version}::xid`,
      ),
    )
    .returning({ version: rowVersion });
  return rows[0]?.version;
}

/** Queue partitions with sweeper work due by `now` (oldest first). */
export async function partitionsDue(
  db: Db,
  now: number,
  limit: number,
): Promise<Array<{ queueId: string; partition: number }>> {
  return db
    .select({ queueId: queuePartitions.queueId, partition: queuePartitions.partition })
    .from(queuePartitions)
    .where(and(isNotNull(queuePartitions.sweepAt), lte(queuePartitions.sweepAt, now)))
    .orderBy(asc(queuePartitions.sweepAt))
    .limit(limit);
}

export async function queuesByIds(db: Db, ids: string[]): Promise<QueueRow[]> {
  if (ids.length === 0) return [];
  return db.select().from(queues).where(inArray(queues.id, ids));
}

/**
 * Whether a topic of this name exists (or is being created) in the database — the shared truth,
 * where a node's topic cache may not yet know one another node just created.
 */
export async function liveTopicExists(db: Db, name: string): Promise<boolean> {
  const rows = await db
    .select({ id: topics.id })
    .from(topics)
    .where(and(eq(topics.name, name), ne(topics.state, 'deleting')))
    .limit(1);
  return rows.length > 0;
}
