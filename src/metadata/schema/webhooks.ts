// Drizzle tables for webhooks: the subscription (target, batching, retry policy, signing
// secrets, pause/disable state, health counters) and its bounded log of delivery attempts.
import { sql } from 'drizzle-orm';
import { bigint, bigserial, check, index, integer, jsonb, pgTable, text, uuid } from 'drizzle-orm/pg-core';

/**
 * `active` delivers; `paused` was asked to stop; `disabled` stopped itself after a 410;
 * `topic_deleted` is terminal: its topic (by id) was deleted, so it never delivers again,
 * not even records of a new topic of the same name.
 */
export type WebhookState = 'active' | 'paused' | 'disabled' | 'topic_deleted';

/** Which records are delivered: all, or those whose key and/or headers match exactly. */
export interface StoredWebhookFilter {
  key?: string;
  headers?: Record<string, string>;
}

export const webhooks = pgTable(
  'webhooks',
  {
    id: uuid('id').primaryKey(),
    topic: text('topic').notNull(),
    /**
     * The id of the topic incarnation it delivers: a topic re-created under the same name is
     * another topic. Null only for rows created before ids were stored (adopted at start).
     */
    topicId: uuid('topic_id'),
    url: text('url').notNull(),
    /** Where delivery started for partitions that existed at creation ('latest' | 'earliest'). */
    startFrom: text('start_from').notNull(),
    batchMaxRecords: integer('batch_max_records').notNull(),
    batchMaxWaitMs: integer('batch_max_wait_ms').notNull(),
    retryMaxAttempts: integer('retry_max_attempts').notNull(),
    retryInitialBackoffMs: integer('retry_initial_backoff_ms').notNull(),
    retryMaxBackoffMs: integer('retry_max_backoff_ms').notNull(),
    timeoutMs: integer('timeout_ms').notNull(),
    deadLetterTopic: text('dead_letter_topic'),
    filter: jsonb('filter').$type<StoredWebhookFilter>(),
    state: text('state').$type<WebhookState>().notNull(),
    /** Why the webhook is disabled (e.g. the endpoint answered 410). */
    stateReason: text('state_reason'),
    /** Standard Webhooks secret (`whsec_…`); shown once, at creation or rotation. */
    secret: text('secret').notNull(),
    /** The secret before the last rotation: still signed with until `previousSecretExpiresAt`. */
    previousSecret: text('previous_secret'),
    previousSecretExpiresAt: bigint('previous_secret_expires_at', { mode: 'number' }),
    /** Unix ms of the last 2xx answer. */
    lastSuccessAt: bigint('last_success_at', { mode: 'number' }),
    lastErrorAt: bigint('last_error_at', { mode: 'number' }),
    lastError: text('last_error'),
    /** Records retention deleted before they were delivered (skipped: nothing older exists). */
    recordsExpired: bigint('records_expired', { mode: 'number' }).notNull().default(0),
    /** Records moved to the dead-letter topic after their batch ran out of attempts. */
    recordsDeadLettered: bigint('records_dead_lettered', { mode: 'number' }).notNull().default(0),
    /** Failed attempts since the last success (any partition). */
    consecutiveFailures: integer('consecutive_failures').notNull().default(0),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
  },
  (t) => [
    index('webhooks_topic_idx').on(t.topic),
    check('webhooks_state_check', sql`${t.state} in ('active', 'paused', 'disabled', 'topic_deleted')`),
  ],
);

/** What one attempt came to. */
export type DeliveryOutcome = 'delivered' | 'failed' | 'gone' | 'dead_lettered';

export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    webhookId: uuid('webhook_id')
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    /** The `webhook-id` header: stable across retries of one batch. */
    messageId: text('message_id').notNull(),
    partition: integer('partition').notNull(),
    firstOffset: bigint('first_offset', { mode: 'number' }).notNull(),
    lastOffset: bigint('last_offset', { mode: 'number' }).notNull(),
    recordCount: integer('record_count').notNull(),
    /** 1-based attempt number within the batch. */
    attempt: integer('attempt').notNull(),
    outcome: text('outcome').$type<DeliveryOutcome>().notNull(),
    /** HTTP status, or null for connection errors and time-outs. */
    statusCode: integer('status_code'),
    error: text('error'),
    durationMs: integer('duration_ms').notNull(),
    /** Unix ms the attempt started. */
    at: bigint('at', { mode: 'number' }).notNull(),
  },
  (t) => [index('webhook_deliveries_webhook_idx').on(t.webhookId, t.id)],
);

export type WebhookRow = typeof webhooks.$inferSelect;
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
