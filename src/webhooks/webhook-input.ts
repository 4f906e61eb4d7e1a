// Webhook settings as the API takes them (snake_case), their defaults and limits, and the
// checks that need more than a schema: retry bounds, filters, the dead-letter topic.
import { err, ok, type Result } from '../lib/result.js';
import type { StoredWebhookFilter, WebhookRow } from '../metadata/schema/webhooks.js';
import type { WebhookSettings } from './partition-worker.js';
import type { WebhookTopic } from './webhook-runner.js';

/** Defaults and bounds, shared with the OpenAPI schema so docs and behaviour agree. */
export const WEBHOOK_LIMITS = {
  maxRecords: { min: 1, max: 1000, default: 100 },
  maxWaitMs: { min: 0, max: 60_000, default: 0 },
  maxAttempts: { min: 1, max: 100, default: 10 },
  initialBackoffMs: { min: 1, max: 3_600_000, default: 1_000 },
  maxBackoffMs: { min: 1, max: 3_600_000, default: 60_000 },
  timeoutMs: { min: 10, max: 120_000, default: 10_000 },
  filterKeyChars: 1024,
  filterHeaders: 32,
  /** How long a rotated-out secret keeps signing (default one day, at most a week). */
  graceMs: { min: 0, max: 7 * 24 * 3_600_000, default: 24 * 3_600_000 },
} as const;

export interface BatchInput {
  max_records?: number | undefined;
  max_wait_ms?: number | undefined;
}
export interface RetryInput {
  max_attempts?: number | undefined;
  initial_backoff_ms?: number | undefined;
  max_backoff_ms?: number | undefined;
}
export interface FilterInput {
  key?: string | undefined;
  headers?: Record<string, string> | undefined;
}

export interface CreateWebhookInput {
  topic: string;
  url: string;
  from?: 'latest' | 'earliest' | undefined;
  batch?: BatchInput | undefined;
  retry?: RetryInput | undefined;
  timeout_ms?: number | undefined;
  dead_letter_topic?: string | null | undefined;
  filter?: FilterInput | null | undefined;
}

export interface UpdateWebhookInput {
  url?: string | undefined;
  state?: 'active' | 'paused' | undefined;
  batch?: BatchInput | undefined;
  retry?: RetryInput | undefined;
  timeout_ms?: number | undefined;
  dead_letter_topic?: string | null | undefined;
  filter?: FilterInput | null | undefined;
}

export type SettingsFields = Pick<
  WebhookRow,
  | 'batchMaxRecords'
  | 'batchMaxWaitMs'
  | 'retryMaxAttempts'
  | 'retryInitialBackoffMs'
  | 'retryMaxBackoffMs'
  | 'timeoutMs'
  | 'deadLetterTopic'
  | 'filter'
>;

const L = WEBHOOK_LIMITS;

/** Merge a create/patch input over `base` (defaults for a create) and check the result as a whole. */
export function mergeSettings(
  base: SettingsFields | undefined,
  input: CreateWebhookInput | UpdateWebhookInput,
): Result<SettingsFields, string> {
  const merged: SettingsFields = {
    batchMaxRecords: input.batch?.max_records ?? base?.batchMaxRecords ?? L.maxRecords.default,
    batchMaxWaitMs: input.batch?.max_wait_ms ?? base?.batchMaxWaitMs ?? L.maxWaitMs.default,
    retryMaxAttempts: input.retry?.max_attempts ?? base?.retryMaxAttempts ?? L.maxAttempts.default,
    retryInitialBackoffMs: input.retry?.initial_backoff_ms ?? base?.retryInitialBackoffMs ?? L.initialBackoffMs.default,
    retryMaxBackoffMs: input.retry?.max_backoff_ms ?? base?.retryMaxBackoffMs ?? L.maxBackoffMs.default,
    timeoutMs: input.timeout_ms ?? base?.timeoutMs ?? L.timeoutMs.default,
    deadLetterTopic: input.dead_letter_topic !== undefined ? input.dead_letter_topic : (base?.deadLetterTopic ?? null),
    filter: input.filter !== undefined ? normaliseFilter(input.filter) : (base?.filter ?? null),
  };
  if (merged.retryMaxBackoffMs < merged.retryInitialBackoffMs) {
    return err(
      `retry.max_backoff_ms (${merged.retryMaxBackoffMs}) must be at least retry.initial_backoff_ms (${merged.retryInitialBackoffMs})`,
    );
  }
  const f = merged.filter;
  if (f?.key !== undefined && f.key.length > L.filterKeyChars)
    return err(`filter.key is longer than ${L.filterKeyChars} characters`);
  if (f?.headers && Object.keys(f.headers).length > L.filterHeaders)
    return err(`filter.headers has more than ${L.filterHeaders} entries`);
  return ok(merged);
}

function normaliseFilter(filter: FilterInput | null): StoredWebhookFilter | null {
  if (filter === null) return null;
  const out: StoredWebhookFilter = {};
  if (filter.key !== undefined) out.key = filter.key;
  if (filter.headers !== undefined && Object.keys(filter.headers).length > 0) out.headers = { ...filter.headers };
  return out.key === undefined && out.headers === undefined ? null : out;
}

export type DeadLetterProblem = { code: 'bad_request' | 'topic_not_found'; message: string };

/**
 * The dead-letter topic must exist, differ from the source, and share its value_format, so
 * records are re-appended unchanged.
 */
export function checkDeadLetterTopic(
  source: WebhookTopic,
  name: string | null,
  lookup: (name: string) => WebhookTopic | undefined,
): Result<void, DeadLetterProblem> {
  if (name === null) return ok(undefined);
  if (name === source.name) return err({ code: 'bad_request', message: 'dead_letter_topic must differ from topic' });
  const dlt = lookup(name);
  if (!dlt)
    return err({
      code: 'topic_not_found',
      message: `dead_letter_topic ${JSON.stringify(name)} does not exist; create it first`,
    });
  if (dlt.config.value_format !== source.config.value_format) {
    return err({
      code: 'bad_request',
      message: `dead_letter_topic ${JSON.stringify(name)} has value_format "${dlt.config.value_format}" but ${JSON.stringify(source.name)} has "${source.config.value_format}"; they must match so records move unchanged`,
    });
  }
  return ok(undefined);
}

/** What the workers run with, from the stored row. */
export function settingsOf(row: WebhookRow): WebhookSettings {
  return {
    id: row.id,
    url: row.url,
    batch: { maxRecords: row.batchMaxRecords, maxWaitMs: row.batchMaxWaitMs },
    retry: {
      maxAttempts: row.retryMaxAttempts,
      initialBackoffMs: row.retryInitialBackoffMs,
      maxBackoffMs: row.retryMaxBackoffMs,
    },
    timeoutMs: row.timeoutMs,
    deadLetterTopic: row.deadLetterTopic,
    filter: row.filter,
    secrets: {
      current: row.secret,
      previous:
        row.previousSecret !== null && row.previousSecretExpiresAt !== null
          ? { secret: row.previousSecret, expiresAt: row.previousSecretExpiresAt }
          : undefined,
    },
  };
}
