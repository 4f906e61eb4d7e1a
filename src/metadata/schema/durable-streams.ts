// Drizzle schema for Durable Streams: what the protocol knows about a stream that a topic
// does not (its path, content type, expiry, closed state). One row per stream topic.
import { bigint, boolean, index, integer, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { topics } from './topics.js';

export const durableStreams = pgTable(
  'durable_streams',
  {
    /** The topic incarnation that holds the stream's data; deleting the topic deletes the stream. */
    topicId: uuid('topic_id')
      .primaryKey()
      .references(() => topics.id, { onDelete: 'cascade' }),
    /** The stream path as the client wrote it after /v1/stream/ (decoded). */
    path: text('path').notNull(),
    /** The content type given at creation, lower-cased media type plus parameters. */
    contentType: text('content_type').notNull(),
    /** Stream-TTL in seconds (sliding: reads and writes renew it); null = none. */
    ttlSeconds: integer('ttl_seconds'),
    /** Stream-Expires-At as Unix ms; null = none. */
    expiresAt: bigint('expires_at', { mode: 'number' }),
    /** Last read or write known to Postgres (Unix ms), flushed periodically for TTL streams. */
    lastAccessAt: bigint('last_access_at', { mode: 'number' }).notNull(),
    /** Closed streams accept no more appends (durable, monotonic). */
    closed: boolean('closed').notNull().default(false),
    /** `["producerId", epoch, seq]` (JSON) of the idempotent append that closed the stream, if any. */
    closedBy: text('closed_by'),
    /** Unix ms. */
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    /**
     * The offset tag; null = derived from the topic id. Forks made before `fork_tag` existed share
     * their source's here; later forks carry their own and keep the source's in `fork_tag`.
     */
    tag: text('tag'),
    /**
     * A fork: its source's offset tag, taken for offsets up to the fork point (the records there
     * are the source's), so a fork made again at a path never takes the earlier fork's offsets.
     */
    forkTag: text('fork_tag'),
    /** A fork: the topic id of the stream it was forked from (its data was copied up to the fork point). */
    forkedFrom: uuid('forked_from'),
    /** A fork: the source path as given, the fork offset and sub-offset (for idempotent re-creation). */
    forkSource: text('fork_source'),
    forkOffset: bigint('fork_offset', { mode: 'number' }),
    forkSubOffset: integer('fork_sub_offset'),
    /** Deleted while forks of it exist: answers 410 and blocks its path until the last fork goes. */
    softDeleted: boolean('soft_deleted').notNull().default(false),
    /**
     * A create with more to do after this row (a fork's copy, its initial body, its close): Unix ms
     * of its start or last progress; null once it is done. A pending stream is never answered as
     * existing, and one whose create died is rolled back (see StreamsService.rollBackPending).
     */
    pendingAt: bigint('pending_at', { mode: 'number' }),
  },
  (t) => [index('durable_streams_forked_from_idx').on(t.forkedFrom)],
);

export type DurableStreamRow = typeof durableStreams.$inferSelect;
