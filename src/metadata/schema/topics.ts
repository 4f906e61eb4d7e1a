// Drizzle schema for topics: one row per topic incarnation, with its state so that a
// create or delete interrupted by a crash can be finished or rolled back at start-up.
import { sql } from 'drizzle-orm';
import { bigint, check, integer, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

/** Lifecycle of a topic row: 'creating' → 'active' → 'deleting' → (row removed). */
export type TopicState = 'creating' | 'active' | 'deleting';

/** Topic settings as stored (snake_case, the same shape the API shows). */
export interface StoredTopicConfig {
  retention_ms: number;
  retention_bytes: number;
  segment_bytes: number;
  segment_ms: number;
  durability: 'fsync' | 'write';
  value_format: 'json' | 'string' | 'binary';
  max_record_bytes: number;
}

export const topics = pgTable(
  'topics',
  {
    /** A fresh UUID per incarnation: names the data directory, so delete-then-recreate never mixes data. */
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    state: text('state').$type<TopicState>().notNull(),
    partitions: integer('partitions').notNull(),
    config: jsonb('config').$type<StoredTopicConfig>().notNull(),
    /** Set when the topic exposes an existing Kafka topic (Kafka store) instead of one Sluice created. */
    kafkaTopic: text('kafka_topic'),
    /** Unix ms. */
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    /** Unix ms. */
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
  },
  (t) => [
    // A name is taken by at most one live topic; a topic being deleted frees its name at once.
    uniqueIndex('topics_live_name_idx')
      .on(t.name)
      .where(sql`${t.state} <> 'deleting'`),
    // A Kafka topic is exposed by at most one live topic.
    uniqueIndex('topics_live_kafka_topic_idx')
      .on(t.kafkaTopic)
      .where(sql`${t.state} <> 'deleting' and ${t.kafkaTopic} is not null`),
    check('topics_state_check', sql`${t.state} in ('creating', 'active', 'deleting')`),
    check('topics_partitions_check', sql`${t.partitions} >= 1`),
  ],
);

export type TopicRow = typeof topics.$inferSelect;
