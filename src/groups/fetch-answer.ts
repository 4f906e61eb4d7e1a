// The JSON answer of a member's fetch, written as bytes: the membership, the records of every
// delivered partition (straight from the log by each batch's writer) and the confirming cursor.
import { encodeGroupCursor } from './group-cursor.js';
import type { FetchResult } from './member-fetch.js';

/**
 * `{"member_id","generation","assignment","records":[…],"cursor"}` — the GroupFetchResponse
 * schema. Records are never strings or objects on the way: one buffer per partition batch.
 * With `alloc` the answer is written into `alloc(size)` (a view of its start is returned).
 */
export function fetchAnswerJson(
  memberId: string,
  result: FetchResult,
  alloc?: (size: number) => Buffer<ArrayBuffer>,
): Buffer<ArrayBuffer> {
  const { batches } = result;
  const head =
    `{"member_id":${JSON.stringify(memberId)},"generation":${result.generation},` +
    `"assignment":${JSON.stringify(result.assignment)},"records":[`;
  const cursor = encodeGroupCursor(
    batches.map((b) => ({ topicId: b.topicId, partition: b.partition, offset: b.nextOffset })),
  );
  const tail = `],"cursor":${JSON.stringify(cursor)}}`;
  const last = batches.length - 1;
  if (last < 0) return Buffer.from(head + tail, 'utf8');
  if (last === 0) return batches[0]!.json.join(head, tail, alloc);
  const parts = batches.map((b, i) => b.json.join(i === 0 ? head : ',', i === last ? tail : ''));
  if (!alloc) return Buffer.concat(parts);
  const out = alloc(parts.reduce((n, b) => n + b.length, 0));
  let p = 0;
  for (const b of parts) p += b.copy(out, p);
  return out.subarray(0, p);
}
