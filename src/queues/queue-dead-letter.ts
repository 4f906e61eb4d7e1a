// Dead-lettering for queues: records that were rejected or ran out of deliveries are appended
// unchanged to the queue's dead_letter_topic, with headers naming where they came from and why.
import type { Result } from '../lib/result.js';
import type { PartitionLog } from '../log/index.js';
import type { QueueRow } from '../metadata/schema.js';
import { renderRecord } from '../topics/record-codec.js';
import type { ProduceError, ProduceRequest } from '../topics/produce-service.js';
import type { Topic } from '../topics/topics-service.js';
import { deadRecords, emptyTally, finishDead, type Tally } from './partition-state.js';
import { readRecords } from './queue-reads.js';
import { lockPartition, savePartition, toState, type Db } from './queue-repository.js';
import { loadPartitions } from './queue-repository.js';

/** The slice of the produce service dead-lettering needs. */
export interface DeadLetterProducer {
  produce(
    req: ProduceRequest,
  ): Promise<Result<{ offsets: Array<{ partition: number; offset: number }> }, ProduceError>>;
}

/** Headers added to each dead-lettered record (a source header of the same name is replaced). */
export const QUEUE_DEAD_LETTER_HEADERS = {
  sourceTopic: 'sluice-source-topic',
  sourcePartition: 'sluice-source-partition',
  sourceOffset: 'sluice-source-offset',
  queue: 'sluice-queue',
  deliveryCount: 'sluice-delivery-count',
  lastAction: 'sluice-last-action',
} as const;

/** Refusals of the record itself: appending it again can never succeed. */
const REFUSES_THE_RECORD = new Set(['invalid_record', 'payload_too_large', 'bad_request']);

/** The bytes headers add to a record, as max_record_bytes counts them. */
function addedHeaderBytes(headers: Record<string, string>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(headers)) bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  return bytes;
}

/** Most records appended per flush; the sweeper picks up the rest. */
const FLUSH_MAX = 500;

/**
 * Append the partition's dead records to the dead-letter topic one by one (each with an
 * Idempotency-Key naming queue, partition, offset and delivery, so a retry after a crash or
 * a concurrent flush appends nothing twice), then mark those appended as finished. Without a
 * dead-letter topic (removed since) they are archived. Records gone to retention stay for the
 * retention pass, which counts them as skipped.
 */
export async function flushDeadLetters(o: {
  db: Db;
  producer: DeadLetterProducer;
  queue: QueueRow;
  topic: Topic;
  partition: number;
  log: PartitionLog;
  now: () => number;
  /** A record the dead-letter topic refused for good (it is archived instead), with why. */
  onRefused?: (offset: number, reason: string) => void;
  /** After `topic_not_found`: whether the dead-letter topic is really gone (not just unknown here yet). */
  deadLetterTopicGone?: () => Promise<boolean>;
}): Promise<Tally> {
  const { queue, topic, partition: p } = o;
  const row = (await loadPartitions(o.db, queue.id)).find((r) => r.partition === p);
  const tally = emptyTally();
  if (!row) return tally;
  const dead = deadRecords(toState(row)).slice(0, FLUSH_MAX);
  if (dead.length === 0) return tally;
  const done: number[] = [];
  /** Refused by the dead-letter topic for what the record is: archived. */
  const refused: number[] = [];
  let failure: string | undefined;
  if (queue.deadLetterTopic === null) done.push(...dead.map((d) => d.offset));
  else {
    const records = await readRecords(
      o.log,
      dead.map((d) => d.offset),
    );
    let gone = false;
    for (const d of dead) {
      const rec = records.get(d.offset);
      if (!rec) continue;
      if (gone) {
        refused.push(d.offset);
        continue;
      }
      const json = renderRecord(topic.name, p, rec, topic.config.value_format);
      const H = QUEUE_DEAD_LETTER_HEADERS;
      const added = {
        [H.sourceTopic]: topic.name,
        [H.sourcePartition]: String(p),
        [H.sourceOffset]: String(d.offset),
        [H.queue]: queue.name,
        [H.deliveryCount]: String(d.deliveries),
        [H.lastAction]: d.action,
      };
      const body = {
        records: [
          { key: json.key, value: json.value, timestamp: json.timestamp, headers: { ...json.headers, ...added } },
        ],
      };
      const result = await o.producer.produce({
        topic: queue.deadLetterTopic,
        format: 'json',
        body: Buffer.from(JSON.stringify(body)),
        idempotencyKey: `queue-dead-letter:${queue.id}:${p}:${d.offset}:${d.deliveries}`,
        // The source took the record as it is: the provenance headers never make it too large.
        recordBytesAllowance: addedHeaderBytes(added),
      });
      if (!result.ok) {
        // Deleted since the queue named it: as without a dead-letter topic, archived.
        if (result.error.code === 'topic_not_found' && (await o.deadLetterTopicGone?.())) {
          gone = true;
          refused.push(d.offset);
          o.onRefused?.(d.offset, `${result.error.code}: ${result.error.message}`);
          continue;
        }
        if (
          REFUSES_THE_RECORD.has(result.error.code) ||
          (result.error.code === 'conflict' && result.error.details.reason === 'stream_closed')
        ) {
          // The dead-letter topic will never take this record (e.g. its max_record_bytes is
          // smaller, or it is a closed Durable Stream's): give it up as a queue without one
          // would, rather than retry it forever and hold the partition's window.
          refused.push(d.offset);
          o.onRefused?.(d.offset, `${result.error.code}: ${result.error.message}`);
          continue;
        }
        failure = `${result.error.code}: ${result.error.message}`;
        break;
      }
      done.push(d.offset);
    }
  }
  if (done.length > 0 || refused.length > 0) {
    await o.db.transaction(async (tx) => {
      const now = o.now();
      const locked = await lockPartition(tx, queue.id, p, { skipLocked: false, startIfNew: 0, now });
      if (!locked) return;
      let state = finishDead(locked.state, done, tally);
      if (queue.deadLetterTopic === null) {
        tally.archived += tally.deadLettered;
        tally.deadLettered = 0;
      }
      const archived = emptyTally();
      state = finishDead(state, refused, archived);
      tally.archived += archived.deadLettered;
      await savePartition(tx, queue.id, p, state, tally, 0, now);
    });
  }
  if (failure !== undefined)
    throw new Error(`dead-letter append to ${JSON.stringify(queue.deadLetterTopic)} failed: ${failure}`);
  return tally;
}
