// Drizzle tables for consumer groups: the group row (generation, pending rebalance), its
// members (session deadline, assignment, positions) and committed offsets.
import { sql } from 'drizzle-orm';
import { bigint, boolean, index, integer, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';

/** A topic partition as stored in assignment and position columns. */
export interface StoredTopicPartition {
  topic: string;
  partition: number;
}

/** A member's next offset to fetch for one partition (what auto-commit commits). */
export interface StoredPosition extends StoredTopicPartition {
  offset: number;
}

/**
 * One row per group. Every coordination step locks this row (`SELECT … FOR UPDATE`) so that
 * joins, leaves, expiries and fenced commits serialise across connections and nodes.
 */
export const consumerGroups = pgTable('consumer_groups', {
  name: text('name').primaryKey(),
  /** Bumped by every rebalance; commits and fetches carry it for fencing. */
  generation: integer('generation').notNull().default(0),
  /** Assignment strategy; only the sticky (cooperative) assignor exists today. */
  protocol: text('protocol').notNull().default('sticky'),
  /** When a coalesced rebalance is due (Unix ms), or null when the assignment is settled. */
  rebalanceDueAt: bigint('rebalance_due_at', { mode: 'number' }),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
});

export const groupMembers = pgTable(
  'group_members',
  {
    groupName: text('group_name')
      .notNull()
      .references(() => consumerGroups.name, { onDelete: 'cascade' }),
    memberId: text('member_id').notNull(),
    /** `poll` members fetch over HTTP; `sse` members are held by an open event stream. */
    kind: text('kind').notNull().default('poll'),
    topics: jsonb('topics').$type<string[]>().notNull(),
    sessionTimeoutMs: integer('session_timeout_ms').notNull(),
    /** The member is expired once now passes this (Unix ms). */
    deadline: bigint('deadline', { mode: 'number' }).notNull(),
    autoOffsetReset: text('auto_offset_reset').notNull(),
    autoCommit: boolean('auto_commit').notNull().default(false),
    /** Partitions owned in the group's current generation. */
    assignment: jsonb('assignment')
      .$type<StoredTopicPartition[]>()
      .notNull()
      .default(sql`'[]'::jsonb`),
    /** In-progress positions: the next offset to fetch per owned partition. */
    positions: jsonb('positions')
      .$type<StoredPosition[]>()
      .notNull()
      .default(sql`'[]'::jsonb`),
    joinedAt: bigint('joined_at', { mode: 'number' }).notNull(),
    /** The generation last reported to this member: a fetch returns at once when it is behind. */
    notifiedGeneration: integer('notified_generation').notNull().default(-1),
  },
  (t) => [primaryKey({ columns: [t.groupName, t.memberId] }), index('group_members_deadline_idx').on(t.deadline)],
);

export const groupOffsets = pgTable(
  'group_offsets',
  {
    groupName: text('group_name')
      .notNull()
      .references(() => consumerGroups.name, { onDelete: 'cascade' }),
    topic: text('topic').notNull(),
    partition: integer('partition').notNull(),
    /** The next record to read (Kafka's convention). */
    offset: bigint('offset', { mode: 'number' }).notNull(),
    metadata: text('metadata'),
    committedAt: bigint('committed_at', { mode: 'number' }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.groupName, t.topic, t.partition] }),
    // The Kafka offset mirror reads what was committed since its last pass (`committed_at >= …`).
    index('group_offsets_committed_at_idx').on(t.committedAt),
  ],
);

export type ConsumerGroupRow = typeof consumerGroups.$inferSelect;
export type GroupMemberRow = typeof groupMembers.$inferSelect;
export type GroupOffsetRow = typeof groupOffsets.$inferSelect;
