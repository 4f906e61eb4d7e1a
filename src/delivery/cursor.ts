// SSE resume cursors: the `id:` of every event and what `Last-Event-ID` brings back.
// A partition cursor is the next offset in decimal with a tag naming the topic incarnation;
// a topic cursor is a versioned token that names it too.
import { createHash } from 'node:crypto';
import { err, ok, type Result } from '../lib/result.js';
import { pushUvarint, readUvarint } from '../lib/uvarint.js';

/**
 * Why a cursor could not be used. `malformed` is a syntax error; `partition_mismatch` is a
 * well-formed topic cursor naming more partitions than the topic has; `topic_mismatch` is a
 * topic cursor issued for another topic id (a deleted topic whose name was reused).
 */
export type CursorError =
  | { code: 'malformed'; message: string }
  | { code: 'partition_mismatch'; message: string }
  | { code: 'topic_mismatch'; message: string };

/**
 * Topic cursors: `v2.<tag>.<offsets>`, the tag naming the topic id. `v1.<offsets>` cursors
 * (issued before tags) still decode, unchecked; a future layout gets `v3.`.
 */
const TOPIC_CURSOR_PREFIX = 'v2.';
const LEGACY_TOPIC_CURSOR_PREFIX = 'v1.';
const TAG = /^[A-Za-z0-9_-]{6}$/;
/** Enough for any real topic; bounds the work a hostile cursor can cause. */
const MAX_CURSOR_PARTITIONS = 100_000;
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Encode the next offset of one partition as `<offset>.<tag>`: the decimal offset a person
 * expects to read, and the tag (`topicCursorTag`) of the topic incarnation it belongs to, so a
 * cursor of a deleted topic is refused rather than resumed at that offset in its successor.
 * Without a tag, the plain decimal.
 */
export function encodePartitionCursor(nextOffset: number, tag = ''): string {
  return `${nextOffset}${partitionCursorSuffix(tag)}`;
}

/** What follows the offset's digits in a partition cursor for `tag` (for writers of many cursors). */
export function partitionCursorSuffix(tag = ''): string {
  return tag === '' ? '' : `.${tag}`;
}

/**
 * Decode a partition cursor for the topic whose tag is `tag`: `<offset>.<tag>` as issued, or a
 * bare decimal offset as a person types it (accepted unchecked). Another topic's tag is
 * `topic_mismatch`.
 */
export function decodePartitionCursor(cursor: string, tag = ''): Result<number, CursorError> {
  const dot = cursor.indexOf('.');
  const digits = dot < 0 ? cursor : cursor.slice(0, dot);
  const value = DECIMAL.test(digits) ? Number(digits) : NaN;
  const cursorTag = dot < 0 ? undefined : cursor.slice(dot + 1);
  if (!Number.isSafeInteger(value) || (cursorTag !== undefined && !TAG.test(cursorTag))) {
    return err({
      code: 'malformed',
      message: `cursor ${quote(cursor)} is not a partition cursor (\`<offset>.<tag>\` as issued, or a decimal offset ≥ 0)`,
    });
  }
  if (cursorTag !== undefined && tag !== '' && cursorTag !== tag) {
    return err({
      code: 'topic_mismatch',
      message: `cursor ${quote(cursor)} belongs to a deleted topic of this name; reconnect without it`,
    });
  }
  return ok(value);
}

/**
 * The identity a topic cursor carries: 6 base64url characters (36 bits) of SHA-256 of the
 * topic id. Not a secret, just enough that a cursor of a deleted topic never fits its
 * successor by accident. Compute once per stream, not per event.
 */
export function topicCursorTag(topicId: string): string {
  return createHash('sha256').update(topicId).digest('base64url').slice(0, 6);
}

/**
 * Encode the next offset of every partition of a topic (index = partition) as
 * `v2.<tag>.` + base64url(varint count, varint offset…): URL-safe without escaping, about
 * one or two bytes per partition for small offsets, and opaque so the layout can evolve.
 * `tag` is `topicCursorTag(topic id)`.
 */
export function encodeTopicCursor(nextOffsets: readonly number[], tag: string): string {
  const bytes: number[] = [];
  pushUvarint(bytes, nextOffsets.length, 'cursor offset');
  for (const offset of nextOffsets) pushUvarint(bytes, offset, 'cursor offset');
  return `${TOPIC_CURSOR_PREFIX}${tag}.${Buffer.from(bytes).toString('base64url')}`;
}

/**
 * Decode a topic cursor for the topic whose tag is `tag` and that now has `partitionCount`
 * partitions. Partitions added after the cursor was issued are absent from it and come
 * back as `undefined` (the caller starts them from their first offset: all their records
 * are "after" it). A cursor of another topic id is refused (`topic_mismatch`).
 */
export function decodeTopicCursor(
  cursor: string,
  partitionCount: number,
  tag: string,
): Result<Array<number | undefined>, CursorError> {
  const malformed = (why: string): Result<never, CursorError> =>
    err({
      code: 'malformed',
      message: `cursor ${quote(cursor)} is not a topic cursor: ${why}`,
    });
  let body: string;
  let foreign = false;
  if (cursor.startsWith(TOPIC_CURSOR_PREFIX)) {
    const rest = cursor.slice(TOPIC_CURSOR_PREFIX.length);
    const dot = rest.indexOf('.');
    const cursorTag = dot < 0 ? '' : rest.slice(0, dot);
    if (!TAG.test(cursorTag)) return malformed('bad topic tag');
    body = rest.slice(dot + 1);
    foreign = cursorTag !== tag;
  } else if (cursor.startsWith(LEGACY_TOPIC_CURSOR_PREFIX)) {
    body = cursor.slice(LEGACY_TOPIC_CURSOR_PREFIX.length);
  } else {
    return malformed(`expected the prefix "${TOPIC_CURSOR_PREFIX}"`);
  }
  if (!BASE64URL.test(body)) return malformed('not base64url');
  const bytes = Buffer.from(body, 'base64url');
  // Node ignores trailing garbage bits; re-encoding catches truncated or padded tokens.
  if (bytes.toString('base64url') !== body) return malformed('not canonical base64url');
  const reader = { bytes, pos: 0 };
  const count = readUvarint(reader);
  if (count === undefined || count < 1 || count > MAX_CURSOR_PARTITIONS) return malformed('bad partition count');
  const offsets: Array<number | undefined> = [];
  for (let i = 0; i < count; i++) {
    const offset = readUvarint(reader);
    if (offset === undefined) return malformed('truncated');
    offsets.push(offset);
  }
  if (reader.pos !== bytes.length) return malformed('trailing bytes');
  if (foreign) {
    return err({
      code: 'topic_mismatch',
      message:
        `cursor ${quote(cursor)} was issued for an earlier topic of this name, since deleted (a topic created ` +
        'again under a name is another topic): open the stream again without Last-Event-ID / last_event_id',
    });
  }
  if (count > partitionCount) {
    return err({
      code: 'partition_mismatch',
      message: `cursor names ${count} partitions but the topic has ${partitionCount}; it belongs to another topic`,
    });
  }
  while (offsets.length < partitionCount) offsets.push(undefined);
  return ok(offsets);
}

function quote(cursor: string): string {
  return JSON.stringify(cursor.length > 64 ? `${cursor.slice(0, 64)}…` : cursor);
}
