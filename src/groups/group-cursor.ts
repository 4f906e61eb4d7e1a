// Group cursors: what a member shows to confirm the records it received. A fetch answer's
// `cursor` and a group SSE event's `id:` name, per partition, the next offset after the records
// delivered; the member's next fetch (or an SSE reconnect's Last-Event-ID) sends it back.
import { err, ok, type Result } from '../lib/result.js';
import { pushUvarint, readUvarint } from '../lib/uvarint.js';

/** One confirmed position: the next offset to read of a partition of the topic with this id. */
export interface CursorEntry {
  topicId: string;
  partition: number;
  offset: number;
}

/** Version prefix; a future layout gets `g2.` and g1 stays decodable. */
const PREFIX = 'g1.';
/** Bounds the work a hostile cursor can cause (more partitions than any member owns). */
const MAX_ENTRIES = 100_000;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const UUID_HEX = /^[0-9a-f]{32}$/;

/**
 * `g1.` + base64url(varint topic count, per topic: 16-byte topic id, varint entry count, per
 * entry: varint partition, varint offset). Topic ids, not names, so a cursor of a deleted
 * topic never confirms anything on a re-created one of the same name.
 */
export function encodeGroupCursor(entries: readonly CursorEntry[]): string {
  const byTopic = new Map<string, CursorEntry[]>();
  for (const e of entries) {
    const list = byTopic.get(e.topicId);
    if (list) list.push(e);
    else byTopic.set(e.topicId, [e]);
  }
  const bytes: number[] = [];
  pushUvarint(bytes, byTopic.size);
  for (const [topicId, list] of byTopic) {
    const hex = topicId.replaceAll('-', '').toLowerCase();
    if (!UUID_HEX.test(hex)) throw new RangeError(`topic id ${topicId} is not a UUID`);
    bytes.push(...Buffer.from(hex, 'hex'));
    pushUvarint(bytes, list.length);
    for (const e of list) {
      pushUvarint(bytes, e.partition);
      pushUvarint(bytes, e.offset);
    }
  }
  return PREFIX + Buffer.from(bytes).toString('base64url');
}

export function decodeGroupCursor(cursor: string): Result<CursorEntry[], { message: string }> {
  const malformed = (why: string): Result<never, { message: string }> =>
    err({ message: `cursor ${quote(cursor)} is not a group cursor (${why}); send back a cursor exactly as received` });
  if (!cursor.startsWith(PREFIX)) return malformed(`expected the prefix "${PREFIX}"`);
  const body = cursor.slice(PREFIX.length);
  if (!BASE64URL.test(body)) return malformed('not base64url');
  const bytes = Buffer.from(body, 'base64url');
  if (bytes.length === 0 || bytes.toString('base64url') !== body) return malformed('not canonical base64url');
  const reader = { bytes, pos: 0 };
  const topics = readUvarint(reader);
  if (topics === undefined || topics > MAX_ENTRIES) return malformed('bad topic count');
  const out: CursorEntry[] = [];
  for (let t = 0; t < topics; t++) {
    if (reader.pos + 16 > bytes.length) return malformed('truncated');
    const hex = bytes.subarray(reader.pos, reader.pos + 16).toString('hex');
    reader.pos += 16;
    const topicId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    const count = readUvarint(reader);
    if (count === undefined || out.length + count > MAX_ENTRIES) return malformed('bad entry count');
    for (let i = 0; i < count; i++) {
      const partition = readUvarint(reader);
      const offset = readUvarint(reader);
      if (partition === undefined || offset === undefined) return malformed('truncated');
      out.push({ topicId, partition, offset });
    }
  }
  if (reader.pos !== bytes.length) return malformed('trailing bytes');
  return ok(out);
}

function quote(cursor: string): string {
  return JSON.stringify(cursor.length > 64 ? `${cursor.slice(0, 64)}…` : cursor);
}
