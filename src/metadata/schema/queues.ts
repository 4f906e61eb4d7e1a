// Drizzle tables for queues: one row per queue (owned by a topic incarnation's id, so a
// deleted topic takes its queues with it) and one row per queue partition holding the lease state.
import {
  bigint,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import type { StoredRange } from '../../queues/partition-state.js';
import { topics } from './topics.js';

export const queues = pgTable(
  'queues',
  {
    id: uuid('id').primaryKey(),
    /** The topic incarnation; deleting the topic row deletes its queues (and their state). */
    topicId: uuid('topic_id')
      .notNull()
      .references(() => topics.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    start: text('start').$type<'earliest' | 'latest'>().notNull(),
    lockMs: integer('lock_ms').notNull(),
    maxDeliveries: integer('max_deliveries').notNull(),
    deadLetterTopic: text('dead_letter_topic'),
    orderedByKey: boolean('ordered_by_key').notNull().default(false),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
  },
  (t) => [uniqueIndex('queues_topic_name_idx').on(t.topicId, t.name)],
);

/**
 * One row per queue partition: every receive and ack locks it (`FOR UPDATE`), so leases of
 * one partition change one transaction at a time, across connections and Sluice nodes.
 */
export const queuePartitions = pgTable(
  'queue_partitions',
  {
    queueId: uuid('queue_id')
      .notNull()
      .references(() => queues.id, { onDelete: 'cascade' }),
    partition: integer('partition').notNull(),
    /** Every record below this offset is finished (accepted, dead-lettered, archived or skipped). */
    startOffset: bigint('start_offset', { mode: 'number' }).notNull(),
    /** Records at or above this offset were never delivered. */
    endOffset: bigint('end_offset', { mode: 'number' }).notNull(),
    /** The window [start_offset, end_offset) as ranges (see src/queues/partition-state.ts). */
    ranges: jsonb('ranges').$type<StoredRange[]>().notNull(),
    /** When the sweeper next has work here (a lease running out, dead letters to append); null: none. */
    sweepAt: bigint('sweep_at', { mode: 'number' }),
    accepted: bigint('accepted', { mode: 'number' }).notNull().default(0),
    deadLettered: bigint('dead_lettered', { mode: 'number' }).notNull().default(0),
    archived: bigint('archived', { mode: 'number' }).notNull().default(0),
    skipped: bigint('skipped', { mode: 'number' }).notNull().default(0),
    deliveries: bigint('deliveries', { mode: 'number' }).notNull().default(0),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.queueId, t.partition] }), index('queue_partitions_sweep_idx').on(t.sweepAt)],
);

export type QueueRow = typeof queues.$inferSelect;
export type QueuePartitionRow = typeof queuePartitions.$inferSelect;
