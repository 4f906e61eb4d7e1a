// What one delivery carries: records read from a partition, filtered by key/headers,
// rendered with the shared record codec into the `{topic, partition, records}` body.
import type { StoredRecord } from '../log/index.js';
import type { StoredWebhookFilter } from '../metadata/schema/webhooks.js';
import { renderRecord, type RecordJson, type ValueFormat } from '../topics/record-codec.js';

/** Whether a record passes the webhook's filter (exact key; every listed header equal). */
export function matchesFilter(rec: StoredRecord, filter: StoredWebhookFilter | null | undefined): boolean {
  if (!filter) return true;
  if (filter.key !== undefined && (rec.key === null || rec.key.toString('utf8') !== filter.key)) return false;
  if (filter.headers) {
    for (const [name, want] of Object.entries(filter.headers)) {
      let found: string | undefined;
      for (const h of rec.headers) if (h.key === name && h.value !== null) found = h.value.toString('utf8');
      if (found !== want) return false;
    }
  }
  return true;
}

export interface DeliveryBatch {
  partition: number;
  /** First and last offset of the range read (filtered-out records included). */
  firstOffset: number;
  lastOffset: number;
  /** Offset to commit once delivered. */
  nextOffset: number;
  records: RecordJson[];
  /** The JSON body, serialised once and re-sent byte-identical on every retry. */
  body: string;
}

export function buildBatch(
  topic: { name: string; format: ValueFormat },
  partition: number,
  range: { firstOffset: number; nextOffset: number },
  stored: StoredRecord[],
  filter: StoredWebhookFilter | null | undefined,
): DeliveryBatch {
  const records = stored
    .filter((r) => matchesFilter(r, filter))
    .map((r) => renderRecord(topic.name, partition, r, topic.format));
  return {
    partition,
    firstOffset: range.firstOffset,
    lastOffset: range.nextOffset - 1,
    nextOffset: range.nextOffset,
    records,
    body: JSON.stringify({ topic: topic.name, partition, records }),
  };
}
