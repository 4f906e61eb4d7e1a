// Byte layout of the idempotency tag stored with each produced batch (AppendOptions.tag):
// who sent it, a hash of the request body, and which request records the batch holds.
import { MAX_TAG_BYTES } from '../log/index.js';

/** Who made a request idempotent: an Idempotency-Key, or a Kafka-style producer id/epoch/seq. */
export type IdempotencyIdentity =
  { kind: 'key'; key: string } | { kind: 'producer'; id: bigint; epoch: number; seq: number };

export interface DecodedTag {
  identity: IdempotencyIdentity;
  /** First 16 bytes of the SHA-256 of the request body. */
  bodyHash: Buffer;
  /** Records in the whole request (across every partition). */
  requestRecords: number;
  /** Wall-clock ms when the batch was appended. */
  appendedAt: number;
  /** Request indexes of the batch's records, in offset order. */
  indexes(): number[];
}

export const BODY_HASH_BYTES = 16;
const VERSION = 1;
const KIND_KEY = 1;
const KIND_PRODUCER = 2;
const INDEX_ALL = 0; // the batch holds request records 0..n-1 (the whole request)
const INDEX_RUNS = 1; // varint pairs (start, length)
const INDEX_BITMAP = 2; // one bit per request record

/** Largest request (records) whose batches' tags always fit: the bitmap form must fit 4 KiB. */
export const MAX_TAGGED_REQUEST_RECORDS = (MAX_TAG_BYTES - 300 - 64) * 8;

function uvarintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeUvarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

function readUvarint(buf: Buffer, at: { pos: number }): number {
  let n = 0;
  let mul = 1;
  for (let i = 0; i < 8; i++) {
    if (at.pos >= buf.length) throw new RangeError('idempotency tag truncated');
    const b = buf[at.pos++]!;
    n += (b & 0x7f) * mul;
    if (b < 0x80) return n;
    mul *= 128;
  }
  throw new RangeError('idempotency tag varint too long');
}

function runsOf(indexes: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const i of indexes) {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === i) last[1] += 1;
    else runs.push([i, 1]);
  }
  return runs;
}

/**
 * Encode a batch's tag. `indexes` are the request indexes of the batch's records in the
 * order they are appended (ascending). Chooses the smallest index form; throws if the tag
 * would pass the log's limit (callers cap requests at MAX_TAGGED_REQUEST_RECORDS).
 */
export function encodeTag(
  identity: IdempotencyIdentity,
  bodyHash: Buffer,
  requestRecords: number,
  appendedAt: number,
  indexes: readonly number[],
): Buffer {
  const keyBytes = identity.kind === 'key' ? Buffer.from(identity.key, 'utf8') : undefined;
  const head = 2 + (keyBytes ? 2 + keyBytes.length : 8 + 2 + 4) + BODY_HASH_BYTES + 4 + 8 + 1;

  let form = INDEX_BITMAP;
  let body = Math.ceil(requestRecords / 8);
  let runs: Array<[number, number]> | undefined;
  if (indexes.length === requestRecords) {
    form = INDEX_ALL;
    body = 0;
  } else {
    runs = runsOf(indexes);
    let runsSize = uvarintSize(runs.length);
    for (const [s, l] of runs) runsSize += uvarintSize(s) + uvarintSize(l);
    if (runsSize <= body) {
      form = INDEX_RUNS;
      body = runsSize;
    }
  }
  const buf = Buffer.alloc(head + body);
  let pos = buf.writeUInt8(VERSION, 0);
  if (keyBytes) {
    pos = buf.writeUInt8(KIND_KEY, pos);
    pos = buf.writeUInt16BE(keyBytes.length, pos);
    pos += keyBytes.copy(buf, pos);
  } else if (identity.kind === 'producer') {
    pos = buf.writeUInt8(KIND_PRODUCER, pos);
    pos = buf.writeBigInt64BE(identity.id, pos);
    pos = buf.writeUInt16BE(identity.epoch, pos);
    pos = buf.writeUInt32BE(identity.seq, pos);
  }
  pos += bodyHash.copy(buf, pos, 0, BODY_HASH_BYTES);
  pos = buf.writeUInt32BE(requestRecords, pos);
  pos = buf.writeDoubleBE(appendedAt, pos);
  pos = buf.writeUInt8(form, pos);
  if (form === INDEX_RUNS && runs) {
    pos = writeUvarint(buf, pos, runs.length);
    for (const [s, l] of runs) pos = writeUvarint(buf, writeUvarint(buf, pos, s), l);
  } else if (form === INDEX_BITMAP) {
    for (const i of indexes) buf[pos + (i >> 3)]! |= 1 << (i & 7);
  }
  if (buf.length > MAX_TAG_BYTES)
    throw new RangeError(`idempotency tag of ${buf.length} bytes exceeds ${MAX_TAG_BYTES}`);
  return buf;
}

/** Decode a tag written by encodeTag; undefined for bytes it does not recognise. */
export function decodeTag(tag: Buffer): DecodedTag | undefined {
  try {
    if (tag.length < 2 || tag[0] !== VERSION) return undefined;
    let pos = 1;
    const kind = tag.readUInt8(pos++);
    let identity: IdempotencyIdentity;
    if (kind === KIND_KEY) {
      const len = tag.readUInt16BE(pos);
      identity = { kind: 'key', key: tag.toString('utf8', pos + 2, pos + 2 + len) };
      pos += 2 + len;
    } else if (kind === KIND_PRODUCER) {
      identity = {
        kind: 'producer',
        id: tag.readBigInt64BE(pos),
        epoch: tag.readUInt16BE(pos + 8),
        seq: tag.readUInt32BE(pos + 10),
      };
      pos += 14;
    } else return undefined;
    const bodyHash = Buffer.from(tag.subarray(pos, pos + BODY_HASH_BYTES));
    pos += BODY_HASH_BYTES;
    const requestRecords = tag.readUInt32BE(pos);
    const appendedAt = tag.readDoubleBE(pos + 4);
    const form = tag.readUInt8(pos + 12);
    const start = pos + 13;
    if (form !== INDEX_ALL && form !== INDEX_RUNS && form !== INDEX_BITMAP) return undefined;
    if (start > tag.length) return undefined;
    const indexes = (): number[] => {
      const out: number[] = [];
      if (form === INDEX_ALL) {
        for (let i = 0; i < requestRecords; i++) out.push(i);
      } else if (form === INDEX_RUNS) {
        const at = { pos: start };
        const n = readUvarint(tag, at);
        for (let r = 0; r < n; r++) {
          const s = readUvarint(tag, at);
          const l = readUvarint(tag, at);
          for (let i = 0; i < l; i++) out.push(s + i);
        }
      } else {
        for (let i = 0; i < requestRecords; i++) if ((tag[start + (i >> 3)]! >> (i & 7)) & 1) out.push(i);
      }
      return out;
    };
    return { identity, bodyHash, requestRecords, appendedAt, indexes };
  } catch {
    return undefined;
  }
}
