// OpenAPI/zod schemas of topic requests and responses, and the mapping from the domain
// Topic to the wire shape (snake_case, Unix ms).
import { z } from '@hono/zod-openapi';
import { TopicConfig, TopicConfigInput } from '../../topics/topic-config.js';
import {
  TOPIC_NAME_PATTERN,
  TOPIC_NAME_RULE,
  type PartitionStats,
  type Topic as DomainTopic,
} from '../../topics/topics-service.js';

export const TopicNameParam = z.object({
  topic: z.string().openapi({ param: { name: 'topic', in: 'path' }, example: 'orders' }),
});

export const PartitionInfo = z
  .object({
    partition: z.number().int(),
    start_offset: z.number().int().openapi({ description: 'First offset still readable (advances with retention).' }),
    end_offset: z.number().int().openapi({ description: 'Offset the next record will get (last offset + 1).' }),
    size_bytes: z.number().int().openapi({
      description:
        'Bytes of log segments on disk. On the Kafka store: what Kafka reported for the largest replica at its last read (every 30 s), plus what this node appended since.',
    }),
    writable: z
      .boolean()
      .openapi({ description: 'False if the partition refuses writes (I/O failure or corruption).' }),
    read_only_reason: z.string().optional(),
  })
  .openapi('PartitionInfo');

export const Topic = z
  .object({
    id: z.uuid().openapi({ description: 'Unique per incarnation: a deleted and recreated topic gets a new id.' }),
    name: z.string(),
    partition_count: z.number().int(),
    partitions: z
      .array(PartitionInfo)
      .openapi({ description: 'Per-partition offsets and sizes, by partition number.' }),
    config: TopicConfig,
    kafka_topic: z.string().optional().openapi({
      description:
        'Present when the topic exposes an existing Kafka topic (created with `kafka_topic`): the Kafka topic it reads and appends. Deleting the topic leaves that Kafka topic and its data in place.',
      example: 'orders',
    }),
    created_at: z.number().int().openapi({ description: 'Unix ms.' }),
    updated_at: z.number().int().openapi({ description: 'Unix ms.' }),
  })
  .openapi('Topic');
export type TopicJson = z.infer<typeof Topic>;

export const CreateTopicBody = z
  .strictObject({
    name: z.string().regex(TOPIC_NAME_PATTERN, TOPIC_NAME_RULE).openapi({ example: 'orders' }),
    partitions: z
      .number()
      .int()
      .min(1)
      .optional()
      .openapi({ description: 'Default 1; at most SLUICE_MAX_PARTITIONS.', example: 3 }),
    config: TopicConfigInput.optional(),
    kafka_topic: z.string().regex(TOPIC_NAME_PATTERN, TOPIC_NAME_RULE).optional().openapi({
      description:
        'Kafka store only (SLUICE_LOG_STORE=kafka; elsewhere 400): expose this existing Kafka topic under `name` instead of creating a new one. Its partition count and its retention.ms, retention.bytes, segment.bytes and segment.ms are read from Kafka (so `partitions`, if given, must match, and those config fields may not be given); `value_format` defaults to `binary` (foreign bytes need not be JSON; with `json`, only produce is validated and a stored value that is not JSON reads back as base64 with `value_encoding`). Records produced natively before and after are readable with their keys, headers and timestamps. Deleting the topic never deletes the Kafka topic. 404 if the Kafka topic does not exist; 409 if another topic already exposes it.',
      example: 'orders',
    }),
  })
  .openapi('CreateTopic');

export const UpdateTopicBody = z
  .strictObject({
    partitions: z.number().int().min(1).optional().openapi({
      description: 'New partition count; may only grow (keys may map to different partitions afterwards, as in Kafka).',
    }),
    config: TopicConfigInput.optional().openapi({
      description: 'Fields to change; omitted fields keep their value. value_format cannot change.',
    }),
  })
  .openapi('UpdateTopic');

export function topicJson(topic: DomainTopic, stats: PartitionStats[]): TopicJson {
  return {
    id: topic.id,
    name: topic.name,
    partition_count: topic.partitions,
    partitions: stats.map((s) => ({
      partition: s.partition,
      start_offset: s.startOffset,
      end_offset: s.endOffset,
      size_bytes: s.sizeBytes,
      writable: s.writable,
      ...(s.reason !== undefined ? { read_only_reason: s.reason } : {}),
    })),
    config: { ...topic.config },
    ...(topic.kafkaTopic !== undefined ? { kafka_topic: topic.kafkaTopic } : {}),
    created_at: topic.createdAt,
    updated_at: topic.updatedAt,
  };
}
