// What one delivery carries: records read from a partition, filtered by key/headers, and the
// `{topic, partition, records}` body rendered as text by the shared Record JSON renderer.
import type { StoredRecord } from '../log/index.js';
import type { StoredWebhookFilter } from '../metadata/schema/webhooks.js';
import type { ValueFormat } from '../topics/record-codec.js';
import { recordJsonRenderer } from '../topics/record-json-text.js';

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
  topic: { name: string; format: ValueFormat };
  partition: number;
  /** First and last offset of the range read (filtered-out records included). */
  firstOffset: number;
  lastOffset: number;
  /** Offset to commit once delivered. */
  nextOffset: number;
  /** The records sent (the filter applied), as stored. */
  records: StoredRecord[];
  /** The JSON body, rendered once and re-sent byte-identical on every retry. */
  body: string;
}

/**
 * Build a delivery. Records are rendered straight to JSON text (no parse and re-serialise),
 * so a value of any depth is sent as stored and one odd record never fails its neighbours.
 */
export function buildBatch(
  topic: { name: string; format: ValueFormat },
  partition: number,
  range: { firstOffset: number; nextOffset: number },
  stored: StoredRecord[],
  filter: StoredWebhookFilter | null | undefined,
): DeliveryBatch {
  const records = stored.filter((r) => matchesFilter(r, filter));
  const render = recordJsonRenderer(topic.name, partition, topic.format);
  return {
    topic,
    partition,
    firstOffset: range.firstOffset,
    lastOffset: range.nextOffset - 1,
    nextOffset: range.nextOffset,
    records,
    body: `{"topic":${JSON.stringify(topic.name)},"partition":${partition},"records":[${records.map(render).join(',')}]}`,
  };
}
