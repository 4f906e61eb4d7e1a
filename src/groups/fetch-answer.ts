// The JSON answer of a member's fetch, written as bytes: the membership, the records of every
// delivered partition (straight from the log by each batch's writer) and the confirming cursor.
import { encodeGroupCursor } from './group-cursor.js';
import type { FetchResult } from './member-fetch.js';

/**
 * `{"member_id","generation","assignment","records":[…],"cursor"}` — the GroupFetchResponse
 * schema. Records are never strings or objects on the way: one buffer per partition batch.
 */
export function fetchAnswerJson(memberId: string, result: FetchResult): Buffer<ArrayBuffer> {
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
  if (last === 0) return batches[0]!.json.join(head, tail);
  return Buffer.concat(batches.map((b, i) => b.json.join(i === 0 ? head : ',', i === last ? tail : '')));
}
