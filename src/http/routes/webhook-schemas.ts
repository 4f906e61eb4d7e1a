// OpenAPI/zod schemas of the webhook endpoints and the mapping from the domain view (row +
// live status) to the wire shape (snake_case, Unix ms).
import { z } from '@hono/zod-openapi';
import type { WebhookDeliveryRow } from '../../metadata/schema/webhooks.js';
import { WEBHOOK_LIMITS as L } from '../../webhooks/webhook-input.js';
import type { WebhookView } from '../../webhooks/webhooks-service.js';
import { TOPIC_NAME_PATTERN } from '../../topics/topics-service.js';
import { NO_NUL_MESSAGE, storedText } from './stored-text.js';

const ms = (description: string) => z.number().int().openapi({ description });

export const WebhookIdParam = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: '0b7c8d4e-2f7a-4f53-9a55-3c1f6a0e8a11' }),
});

const Batch = z
  .strictObject({
    max_records: z
      .number()
      .int()
      .min(L.maxRecords.min)
      .max(L.maxRecords.max)
      .optional()
      .openapi({
        description: `Most records per POST (default ${L.maxRecords.default}). A batch also stops at 4 MiB of record data.`,
      }),
    max_wait_ms: z
      .number()
      .int()
      .min(L.maxWaitMs.min)
      .max(L.maxWaitMs.max)
      .optional()
      .openapi({
        description: `How long to wait for a batch to fill to max_records before sending what there is (default ${L.maxWaitMs.default}: send at once).`,
      }),
  })
  .openapi('WebhookBatch');

const Retry = z
  .strictObject({
    max_attempts: z
      .number()
      .int()
      .min(L.maxAttempts.min)
      .max(L.maxAttempts.max)
      .optional()
      .openapi({
        description: `Attempts per batch before it is dead-lettered (default ${L.maxAttempts.default}). Without a dead_letter_topic the webhook keeps retrying every max_backoff_ms; a record is never skipped.`,
      }),
    initial_backoff_ms: z
      .number()
      .int()
      .min(L.initialBackoffMs.min)
      .max(L.initialBackoffMs.max)
      .optional()
      .openapi({
        description: `First backoff (default ${L.initialBackoffMs.default}); doubles per attempt, with full jitter. A Retry-After answer (seconds or HTTP date, up to 1 hour) is waited out in full.`,
      }),
    max_backoff_ms: z
      .number()
      .int()
      .min(L.maxBackoffMs.min)
      .max(L.maxBackoffMs.max)
      .optional()
      .openapi({
        description: `Backoff ceiling (default ${L.maxBackoffMs.default}); at least initial_backoff_ms.`,
      }),
  })
  .openapi('WebhookRetry');

const FilterText = storedText();

const Filter = z
  .strictObject({
    key: FilterText.optional().openapi({
      description: 'Deliver only records with exactly this key. No U+0000 (the filter is stored in PostgreSQL).',
    }),
    headers: z
      .record(FilterText, FilterText, {
        error: (issue) => (issue.code === 'invalid_key' ? `header names ${NO_NUL_MESSAGE}` : undefined),
      })
      .optional()
      .openapi({
        description:
          'Deliver only records carrying every one of these headers with exactly these values. No U+0000 in names or values.',
      }),
  })
  .openapi('WebhookFilter', {
    description:
      'Records that do not match are skipped (committed without a request); batches count offsets, not matches.',
  });

const Url = z.string().min(1).openapi({
  format: 'uri',
  description:
    'http or https. Link-local (169.254.0.0/16, fe80::/10), multicast, 240.0.0.0/4 and cloud-metadata addresses are always refused, also when a host name resolves to them (checked at creation and again at each connection). Loopback, private and other not globally reachable special-purpose addresses (100.64.0.0/10, 192.0.0.0/24, documentation and benchmarking ranges, fc00::/7, …; also inside ::ffff:… or 64:ff9b::… addresses) need SLUICE_WEBHOOK_ALLOW_PRIVATE=true or an entry in SLUICE_WEBHOOK_ALLOW_HOSTS. No credentials in the URL; redirects are not followed.',
  example: 'https://hooks.example.com/sluice',
});

const DeadLetterTopic = z.string().regex(TOPIC_NAME_PATTERN, 'a topic name').nullable().optional().openapi({
  description:
    'Exhausted batches are appended here (records unchanged plus headers sluice-source-topic, sluice-source-partition, sluice-source-offset, sluice-webhook-id, sluice-last-status, sluice-last-error) and delivery continues. Must exist, differ from topic and have the same value_format.',
});

export const CreateWebhookBody = z
  .strictObject({
    topic: z.string().regex(TOPIC_NAME_PATTERN, 'a topic name').openapi({ example: 'orders' }),
    url: Url,
    from: z.enum(['latest', 'earliest']).optional().openapi({
      description:
        'latest (default): records appended after creation; earliest: everything still retained. Partitions added later start at their beginning.',
    }),
    batch: Batch.optional(),
    retry: Retry.optional(),
    timeout_ms: z
      .number()
      .int()
      .min(L.timeoutMs.min)
      .max(L.timeoutMs.max)
      .optional()
      .openapi({
        description: `Time allowed for the whole answer, per attempt (default ${L.timeoutMs.default}).`,
      }),
    dead_letter_topic: DeadLetterTopic,
    filter: Filter.nullable().optional(),
  })
  .openapi('CreateWebhook');

export const UpdateWebhookBody = z
  .strictObject({
    url: Url.optional(),
    state: z.enum(['active', 'paused']).optional().openapi({
      description:
        'paused stops delivery (an in-flight request is aborted and re-sent with the same webhook-id on resume); active resumes, also a webhook disabled by a 410.',
    }),
    batch: Batch.optional(),
    retry: Retry.optional(),
    timeout_ms: z.number().int().min(L.timeoutMs.min).max(L.timeoutMs.max).optional(),
    dead_letter_topic: DeadLetterTopic.openapi({ description: 'A topic name, or null to remove it.' }),
    filter: Filter.nullable().optional().openapi({ description: 'A filter, or null to deliver every record.' }),
  })
  .openapi('UpdateWebhook');

export const RotateSecretBody = z
  .strictObject({
    grace_period_ms: z
      .number()
      .int()
      .min(L.graceMs.min)
      .max(L.graceMs.max)
      .optional()
      .openapi({
        description: `How long the old secret keeps signing as a second signature (default ${L.graceMs.default}, one day; 0 = stop at once).`,
      }),
  })
  .openapi('RotateWebhookSecret');

const WebhookPartition = z
  .object({
    partition: z.number().int(),
    next_offset: z
      .number()
      .int()
      .openapi({ description: 'Next offset to deliver (committed, or in memory while running).' }),
    end_offset: z.number().int(),
    lag: z.number().int(),
    in_flight: z
      .object({
        webhook_id: z.string().openapi({ description: 'The webhook-id header of the batch.' }),
        first_offset: z.number().int(),
        last_offset: z.number().int(),
        attempt: z.number().int(),
        next_attempt_at: z
          .number()
          .int()
          .nullable()
          .openapi({ description: 'Unix ms of the next retry, while waiting.' }),
      })
      .nullable(),
  })
  .openapi('WebhookPartition');

export const Webhook = z
  .object({
    id: z.uuid(),
    topic: z.string(),
    topic_id: z.uuid().nullable().openapi({
      description:
        'The id of the topic it delivers (a topic re-created under the same name has another id). Null only for a webhook that ended with a topic deleted before ids were recorded.',
    }),
    url: z.string(),
    from: z.enum(['latest', 'earliest']),
    batch: z.object({ max_records: z.number().int(), max_wait_ms: z.number().int() }),
    retry: z.object({
      max_attempts: z.number().int(),
      initial_backoff_ms: z.number().int(),
      max_backoff_ms: z.number().int(),
    }),
    timeout_ms: z.number().int(),
    dead_letter_topic: z.string().nullable(),
    filter: z.object({ key: z.string().optional(), headers: z.record(z.string(), z.string()).optional() }).nullable(),
    state: z.enum(['active', 'failing', 'paused', 'disabled', 'topic_deleted']).openapi({
      description:
        'active; failing (active, but recent attempts failed and are being retried; a batch moved to the dead-letter topic ends that: delivery goes on, so the state is active again, with `last_error` kept); paused; disabled (the endpoint answered 410 — PATCH state=active to resume); ' +
        'topic_deleted (terminal: its topic was deleted. It never delivers again — not even records of a topic created later under the same name, which is another topic — ' +
        'its progress is removed, PATCH answers 409, and it stays visible until DELETEd).',
    }),
    state_reason: z.string().nullable(),
    owner: z
      .object({
        node: z
          .string()
          .openapi({ description: 'The id of the Sluice node (process) running it; logged by that node.' }),
        this_node: z.boolean().openapi({
          description:
            'Whether the node answering runs it. Only that node shows batches in flight; others show committed progress.',
        }),
      })
      .nullable()
      .openapi({
        description:
          'The node delivering this webhook: the holder of its lease (one node at a time; see SLUICE_LEASE_MS). Null while no node runs it: not active, or its node died, the lease expired and no node has taken it yet (a dead node shows here until its lease expires).',
      }),
    lag: z.number().int().openapi({ description: 'Records not yet delivered, over all partitions.' }),
    consecutive_failures: z.number().int().openapi({
      description: 'Failed attempts since the last success or the last batch moved to the dead-letter topic.',
    }),
    records_expired: z.number().int().openapi({
      description:
        'Records retention deleted before they were delivered: skipped (they no longer exist), counted here and in the metric sluice_webhook_records_expired_total.',
    }),
    records_dead_lettered: z.number().int().openapi({
      description:
        'Records appended to the dead-letter topic after their batch used up retry.max_attempts (each such batch is also a `dead_lettered` entry in the deliveries log, which keeps only recent attempts).',
    }),
    last_success_at: ms('Unix ms of the last 2xx answer.').nullable(),
    last_error_at: ms('Unix ms of the last failed attempt.').nullable(),
    last_error: z.string().nullable(),
    previous_secret_expires_at: ms('Until when the rotated-out secret still signs (Unix ms).').nullable(),
    partitions: z.array(WebhookPartition),
    created_at: ms('Unix ms.'),
    updated_at: ms('Unix ms.'),
  })
  .openapi('Webhook');
export type WebhookJson = z.infer<typeof Webhook>;

export const WebhookWithSecret = Webhook.extend({
  secret: z.string().openapi({
    description: 'Standard Webhooks signing secret (whsec_…). Shown only in this response: store it now.',
  }),
}).openapi('WebhookWithSecret');

export const WebhookDelivery = z
  .object({
    webhook_id: z.string().openapi({ description: 'The webhook-id header sent (stable across retries of a batch).' }),
    partition: z.number().int(),
    first_offset: z.number().int(),
    last_offset: z.number().int(),
    record_count: z.number().int(),
    attempt: z.number().int(),
    outcome: z.enum(['delivered', 'failed', 'gone', 'dead_lettered']),
    status_code: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'HTTP status, or null after a connection error or time-out.' }),
    error: z.string().nullable(),
    duration_ms: z.number().int(),
    at: ms('Unix ms the attempt started.'),
  })
  .openapi('WebhookDelivery');

export function webhookJson(v: WebhookView): WebhookJson {
  const r = v.row;
  return {
    id: r.id,
    topic: r.topic,
    topic_id: r.topicId,
    url: r.url,
    from: r.startFrom === 'earliest' ? 'earliest' : 'latest',
    batch: { max_records: r.batchMaxRecords, max_wait_ms: r.batchMaxWaitMs },
    retry: {
      max_attempts: r.retryMaxAttempts,
      initial_backoff_ms: r.retryInitialBackoffMs,
      max_backoff_ms: r.retryMaxBackoffMs,
    },
    timeout_ms: r.timeoutMs,
    dead_letter_topic: r.deadLetterTopic,
    filter: r.filter,
    state: v.state,
    state_reason: r.stateReason,
    owner: v.owner ? { node: v.owner.node, this_node: v.owner.thisNode } : null,
    lag: v.lag,
    consecutive_failures: r.consecutiveFailures,
    records_expired: r.recordsExpired,
    records_dead_lettered: r.recordsDeadLettered,
    last_success_at: r.lastSuccessAt,
    last_error_at: r.lastErrorAt,
    last_error: r.lastError,
    previous_secret_expires_at: r.previousSecret !== null ? r.previousSecretExpiresAt : null,
    partitions: v.partitions.map((p) => ({
      partition: p.partition,
      next_offset: p.nextOffset,
      end_offset: p.endOffset,
      lag: p.lag,
      in_flight: p.inFlight
        ? {
            webhook_id: p.inFlight.messageId,
            first_offset: p.inFlight.firstOffset,
            last_offset: p.inFlight.lastOffset,
            attempt: p.inFlight.attempt,
            next_attempt_at: p.inFlight.nextAttemptAt,
          }
        : null,
    })),
    created_at: r.createdAt,
    updated_at: r.updatedAt,
  };
}

export function deliveryJson(d: WebhookDeliveryRow): z.infer<typeof WebhookDelivery> {
  return {
    webhook_id: d.messageId,
    partition: d.partition,
    first_offset: d.firstOffset,
    last_offset: d.lastOffset,
    record_count: d.recordCount,
    attempt: d.attempt,
    outcome: d.outcome,
    status_code: d.statusCode,
    error: d.error,
    duration_ms: d.durationMs,
    at: d.at,
  };
}
