// Dead-lettering an exhausted batch through the produce service: the records unchanged (key,
// value, headers, timestamp) plus headers naming where they came from and why they failed.
import { err, ok, type Result } from '../lib/result.js';
import type { ProduceError, ProduceRequest } from '../topics/produce-service.js';
import { renderRecord } from '../topics/record-codec.js';
import type { DeliveryBatch } from './webhook-batch.js';

/** The slice of the produce service dead-lettering needs. */
export interface DeadLetterProducer {
  produce(
    req: ProduceRequest,
  ): Promise<Result<{ offsets: Array<{ partition: number; offset: number }> }, ProduceError>>;
}

/** Headers added to each dead-lettered record (a source header of the same name is replaced). */
export const DEAD_LETTER_HEADERS = {
  sourceTopic: 'sluice-source-topic',
  sourcePartition: 'sluice-source-partition',
  sourceOffset: 'sluice-source-offset',
  webhookId: 'sluice-webhook-id',
  lastStatus: 'sluice-last-status',
  lastError: 'sluice-last-error',
} as const;

export interface DeadLetterInfo {
  webhookId: string;
  messageId: string;
  /** Last HTTP status, or null after a connection error or time-out. */
  lastStatus: number | null;
  lastError: string;
}

/**
 * Append the batch's records to `topic`. Idempotent per batch (Idempotency-Key derived from
 * the message id), so a dead-letter retried after a crash does not append twice.
 */
export async function deadLetter(
  producer: DeadLetterProducer,
  topic: string,
  batch: DeliveryBatch,
  info: DeadLetterInfo,
): Promise<Result<void, string>> {
  let addedBytes = 0;
  const records = batch.records
    .map((stored) => renderRecord(batch.topic.name, batch.partition, stored, batch.topic.format))
    .map((r) => {
      const added = {
        [DEAD_LETTER_HEADERS.sourceTopic]: r.topic,
        [DEAD_LETTER_HEADERS.sourcePartition]: String(r.partition),
        [DEAD_LETTER_HEADERS.sourceOffset]: String(r.offset),
        [DEAD_LETTER_HEADERS.webhookId]: info.webhookId,
        [DEAD_LETTER_HEADERS.lastStatus]: info.lastStatus === null ? 'none' : String(info.lastStatus),
        [DEAD_LETTER_HEADERS.lastError]: info.lastError.slice(0, 1024),
      };
      let bytes = 0;
      for (const [name, value] of Object.entries(added)) bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
      addedBytes = Math.max(addedBytes, bytes);
      return { key: r.key, value: r.value, timestamp: r.timestamp, headers: { ...r.headers, ...added } };
    });
  let body: string;
  try {
    body = JSON.stringify({ records });
  } catch (e) {
    // A value nested too deep for JSON.stringify (produce would refuse it as well).
    return err(`dead-letter append to ${JSON.stringify(topic)} failed: a record cannot be re-produced: ${String(e)}`);
  }
  const result = await producer.produce({
    topic,
    format: 'json',
    body: new Response(body).body,
    idempotencyKey: `webhook-dead-letter:${info.messageId}`.slice(0, 255),
    // The source took each record as it is: the provenance headers never make one too large.
    recordBytesAllowance: addedBytes,
  });
  if (!result.ok)
    return err(`dead-letter append to ${JSON.stringify(topic)} failed: ${result.error.code}: ${result.error.message}`);
  return ok(undefined);
}
