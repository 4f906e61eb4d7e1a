// Topic settings: the zod schema the API validates (ranges, defaults as DESIGN §3 says)
// and the mapping to the log's PartitionConfig.
import { z } from '@hono/zod-openapi';
import type { PartitionConfig } from '../log/index.js';
import type { StoredTopicConfig } from '../metadata/schema.js';

const MiB = 1024 * 1024;
const DAY_MS = 24 * 60 * 60 * 1000;

export const TOPIC_CONFIG_DEFAULTS: StoredTopicConfig = {
  retention_ms: 7 * DAY_MS,
  retention_bytes: -1,
  segment_bytes: 128 * MiB,
  segment_ms: 7 * DAY_MS,
  durability: 'fsync',
  value_format: 'json',
  max_record_bytes: 1 * MiB,
};

export const TOPIC_CONFIG_LIMITS = {
  segmentBytes: { min: 1024, max: 1024 * MiB },
  maxRecordBytes: { min: 1, max: 64 * MiB },
} as const;

/** -1 (no limit) or a positive integer. */
const limitOrForever = (what: string) =>
  z
    .number()
    .int(`${what} must be an integer`)
    .refine((v) => v === -1 || (v >= 1 && v <= Number.MAX_SAFE_INTEGER), `${what} must be -1 (no limit) or ≥ 1`)
    // The same rule in the OpenAPI document: an integer from -1 up, but not 0.
    .openapi({ minimum: -1, maximum: Number.MAX_SAFE_INTEGER, not: { const: 0 } });

const fields = {
  retention_ms: limitOrForever('retention_ms').openapi({
    description:
      'Delete closed segments whose last record was appended longer ago than this (ms), whatever timestamps producers gave their records. -1 keeps data forever.',
    example: 604800000,
  }),
  retention_bytes: limitOrForever('retention_bytes').openapi({
    description:
      'Per partition: delete oldest closed segments while the partition exceeds this many bytes. -1 = no limit.',
    example: -1,
  }),
  segment_bytes: z
    .number()
    .int()
    .min(TOPIC_CONFIG_LIMITS.segmentBytes.min)
    .max(TOPIC_CONFIG_LIMITS.segmentBytes.max)
    .openapi({ description: 'Roll to a new segment file at this size (1 KiB … 1 GiB).', example: 134217728 }),
  segment_ms: limitOrForever('segment_ms').openapi({
    description:
      'Roll the active segment once its first record is this old (ms), so time retention can apply. -1 = never.',
    example: 604800000,
  }),
  durability: z.enum(['fsync', 'write']).openapi({
    description: '`fsync`: acknowledge after fdatasync (group commit). `write`: after the OS has the bytes.',
  }),
  value_format: z.enum(['json', 'string', 'binary']).openapi({
    description:
      'How record values appear in JSON bodies: any JSON value, a string, or base64 bytes. Fixed at creation.',
  }),
  max_record_bytes: z
    .number()
    .int()
    .min(TOPIC_CONFIG_LIMITS.maxRecordBytes.min)
    .max(TOPIC_CONFIG_LIMITS.maxRecordBytes.max)
    .openapi({
      description: 'Largest accepted record (key + value + headers), in bytes (≤ 64 MiB).',
      example: 1048576,
    }),
};

/** Full config as the API shows it (every field present). */
export const TopicConfig = z.object(fields).openapi('TopicConfig');
export type TopicConfig = z.infer<typeof TopicConfig>;

/** Config in a create request: every field optional, unknown fields rejected. */
export const TopicConfigInput = z
  .strictObject({
    retention_ms: fields.retention_ms.optional(),
    retention_bytes: fields.retention_bytes.optional(),
    segment_bytes: fields.segment_bytes.optional(),
    segment_ms: fields.segment_ms.optional(),
    durability: fields.durability.optional(),
    value_format: fields.value_format.optional(),
    max_record_bytes: fields.max_record_bytes.optional(),
  })
  .openapi('TopicConfigInput', { description: 'Omitted fields take their defaults.' });
export type TopicConfigInput = z.infer<typeof TopicConfigInput>;

/** Fill defaults (on create) or overlay a patch on the current config (on PATCH). */
export function mergeTopicConfig(base: StoredTopicConfig, input: TopicConfigInput | undefined): StoredTopicConfig {
  const out: StoredTopicConfig = { ...base };
  for (const [key, value] of Object.entries(input ?? {})) {
    if (value !== undefined) (out as unknown as Record<string, unknown>)[key] = value;
  }
  return out;
}

/** Older rows may lack fields added later: always read config through this. */
export function normaliseStoredConfig(stored: Partial<StoredTopicConfig>): StoredTopicConfig {
  return { ...TOPIC_CONFIG_DEFAULTS, ...stored };
}

export function toPartitionConfig(config: StoredTopicConfig): PartitionConfig {
  return {
    segmentBytes: config.segment_bytes,
    segmentMs: config.segment_ms,
    retentionMs: config.retention_ms,
    retentionBytes: config.retention_bytes,
  };
}
