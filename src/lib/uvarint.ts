// Unsigned LEB128 varints for the opaque cursors (SSE topic cursors, group cursors): one
// implementation, with arithmetic rather than bit operators, which would truncate to 32 bits.

/** Offsets are JSON numbers, so they stay within 2^53: more than 8 varint bytes is garbage. */
const MAX_UVARINT_BYTES = 8;

/** A position in bytes being decoded. */
export interface UvarintReader {
  bytes: Uint8Array;
  pos: number;
}

/** Appends `value` (a safe non-negative integer, else RangeError naming `what`). */
export function pushUvarint(out: number[], value: number, what = 'cursor value'): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError(`${what} ${value} is not a safe non-negative integer`);
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) + 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

/** The next varint, or undefined if truncated, padded (non-canonical), too long or beyond 2^53. */
export function readUvarint(reader: UvarintReader): number | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < MAX_UVARINT_BYTES; i++) {
    const byte = reader.bytes[reader.pos++];
    if (byte === undefined) return undefined;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      // A zero final byte after others is a non-canonical (padded) encoding.
      if (byte === 0 && i > 0) return undefined;
      return Number.isSafeInteger(value) ? value : undefined;
    }
    scale *= 0x80;
  }
  return undefined;
}
