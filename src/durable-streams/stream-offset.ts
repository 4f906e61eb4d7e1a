// Opaque Durable Streams offsets ↔ Sluice record offsets. A token is the 16-digit
// zero-padded next offset plus the stream's incarnation tag, so it sorts and survives restarts.
import { topicCursorTag } from '../delivery/cursor.js';
import { err, ok, type Result } from '../lib/result.js';

/**
 * `0000000000000042_AbC12x`: the Sluice offset of the next record (dense, from 0, never
 * reused) padded to 16 digits so tokens of one stream sort lexicographically, then `_` and
 * the 6-character tag of the topic id (`topicCursorTag`, the one SSE topic cursors carry),
 * so an offset of a deleted stream is never taken for a position in a new stream at the same
 * path. No `,` `&` `=` `?` `/`; never `-1` or `now`.
 */
export function encodeStreamOffset(offset: number, tag: string): string {
  return `${String(offset).padStart(16, '0')}_${tag}`;
}

export type ParsedOffset = { kind: 'start' } | { kind: 'now' } | { kind: 'at'; offset: number; tag: string };

const TOKEN = /^([0-9]{16})_([A-Za-z0-9_-]{6})$/;

/** Parse the `offset` query value (absent = start). A malformed token is a 400. */
export function parseStreamOffset(raw: string | undefined): Result<ParsedOffset, string> {
  if (raw === undefined || raw === '-1') return ok({ kind: 'start' });
  if (raw === 'now') return ok({ kind: 'now' });
  const m = TOKEN.exec(raw);
  const offset = m ? Number(m[1]) : NaN;
  if (!m || !Number.isSafeInteger(offset)) {
    return err(
      `offset ${JSON.stringify(raw.length > 64 ? `${raw.slice(0, 64)}…` : raw)} is not an offset this server issued (use -1, now, or a Stream-Next-Offset value)`,
    );
  }
  return ok({ kind: 'at', offset, tag: m[2]! });
}

export { topicCursorTag as streamTag };
