// OpenAPI/zod schemas shared by the queue routes, and the mapping from a queues service error
// to the API's error envelope.
import { z } from '@hono/zod-openapi';
import type { QueueError } from '../../queues/queues-service.js';
import { LEASE_FORMAT } from '../../queues/lease.js';
import { ApiError } from '../errors.js';
import { RESERVED_GROUP_PREFIX } from './group-schemas.js';
import { RecordSchema } from './records-read.js';

const NAME_PATTERN = /^[a-zA-Z0-9._-]{1,249}$/;
const NAME_RULE = 'must be 1–249 characters of a-z, A-Z, 0-9, ".", "_" or "-"';

export const TopicQueuesParam = z.object({
  topic: z
    .string()
    .regex(NAME_PATTERN, NAME_RULE)
    .openapi({ param: { name: 'topic', in: 'path' }, example: 'jobs' }),
});

/**
 * Queue names: Kafka's name characters, but not "." or ".." (URL clients normalise those
 * away, as for topics) and not starting with the reserved "__" (a queue is named as a group
 * in grants, and "__" names are Sluice's own groups). Without a lookahead, so every OpenAPI
 * tool's regex engine can use it.
 */
export const QUEUE_NAME_PATTERN =
  /^(?:[a-zA-Z0-9-][a-zA-Z0-9._-]{0,248}|\.[a-zA-Z0-9_-][a-zA-Z0-9._-]{0,247}|\.\.[a-zA-Z0-9._-]{1,247}|_[a-zA-Z0-9.-][a-zA-Z0-9._-]{0,247}|_)$/;
const QUEUE_NAME_RULE = `${NAME_RULE}, not "." or "..", and not starting with "${RESERVED_GROUP_PREFIX}" (reserved for Sluice's own names)`;

export const QueueParam = TopicQueuesParam.extend({
  queue: z
    .string()
    .regex(QUEUE_NAME_PATTERN, QUEUE_NAME_RULE)
    .openapi({
      param: { name: 'queue', in: 'path' },
      example: 'workers',
      description: `Queue name; "." and ".." and names starting with \`${RESERVED_GROUP_PREFIX}\` are refused (400).`,
    }),
});

export const LOCK_MS_MIN = 100;
export const LOCK_MS_MAX = 43_200_000;
export const MAX_DELIVERIES_MAX = 1_000;
export const RECEIVE_MAX_RECORDS = 1_000;

export const QueueSettingsBody = z
  .strictObject({
    start: z.enum(['earliest', 'latest']).optional().openapi({
      description:
        'Where a new queue begins in each partition: `earliest` (default, everything retained) or `latest` (only records produced from now on). Fixed at creation: a different value for an existing queue is 409.',
    }),
    lock_ms: z
      .number()
      .int()
      .min(LOCK_MS_MIN)
      .max(LOCK_MS_MAX)
      .optional()
      .openapi({
        description: `How long a receive holds a record before it returns to the queue; default 30000 (${LOCK_MS_MIN} … ${LOCK_MS_MAX}).`,
      }),
    max_deliveries: z.number().int().min(1).max(MAX_DELIVERIES_MAX).optional().openapi({
      description: 'Deliveries after which a record whose lease expires or is released is dead-lettered; default 5.',
    }),
    dead_letter_topic: z.string().regex(NAME_PATTERN, NAME_RULE).nullable().optional().openapi({
      description:
        'Topic (existing, same value_format) that rejected and exhausted records are appended to, unchanged plus `sluice-source-topic`, `sluice-source-partition`, `sluice-source-offset`, `sluice-queue`, `sluice-delivery-count` and `sluice-last-action` headers. Without one they are archived and counted.',
    }),
    ordered_by_key: z.boolean().optional().openapi({
      description:
        'Never have two records with the same key in flight at once; records of one key go out in offset order.',
    }),
  })
  .openapi('QueueSettings');

export const QueueJson = z
  .object({
    topic: z.string(),
    name: z.string(),
    start: z.enum(['earliest', 'latest']),
    lock_ms: z.number().int(),
    max_deliveries: z.number().int(),
    dead_letter_topic: z.string().nullable(),
    ordered_by_key: z.boolean(),
    created_at: z.number().int(),
    updated_at: z.number().int(),
    available: z
      .number()
      .int()
      .openapi({ description: 'Records ready to be received (including ones not yet leased once).' }),
    in_flight: z.number().int().openapi({ description: 'Records held by a lease right now.' }),
    accepted: z.number().int(),
    dead_lettered: z.number().int().openapi({ description: 'Records appended to the dead-letter topic.' }),
    dead_letter_pending: z
      .number()
      .int()
      .openapi({ description: 'Records waiting to be appended to the dead-letter topic.' }),
    archived: z.number().int().openapi({ description: 'Records given up without a dead-letter topic.' }),
    skipped: z.number().int().openapi({ description: 'Records removed by retention before they were accepted.' }),
    deliveries: z.number().int().openapi({ description: 'Records handed to receivers, redeliveries included.' }),
    oldest_unacked_age_ms: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'Age of the oldest record not yet finished; null when none.' }),
    partitions: z.array(
      z.object({
        partition: z.number().int(),
        start_offset: z.number().int().openapi({ description: 'Every record below is finished.' }),
        window_end_offset: z.number().int().openapi({ description: 'Records from here on were never delivered.' }),
        end_offset: z.number().int().openapi({ description: 'The partition log’s end offset.' }),
        available: z.number().int(),
        in_flight: z.number().int(),
      }),
    ),
  })
  .openapi('Queue');

export const QueueRecordSchema = RecordSchema.extend({
  lease: z.string().openapi({ description: `Hand it back to /ack (${LEASE_FORMAT}).` }),
  delivery_count: z.number().int().openapi({ description: '1 on the first delivery, higher on redeliveries.' }),
  lock_expires_at: z.number().int().openapi({ description: 'When the lease runs out (Unix ms) unless renewed.' }),
}).openapi('QueueRecord');

export const ReceiveResponse = z.object({ records: z.array(QueueRecordSchema) }).openapi('QueueReceiveResponse');

export function throwQueueError(error: QueueError): never {
  throw new ApiError(error.code, error.message);
}
