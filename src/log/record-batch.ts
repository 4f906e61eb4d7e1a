// Kafka record batch v2 ("magic 2") encode/decode, byte for byte as DefaultRecordBatch.java
// and DefaultRecord.java lay it out, so segment files stay readable by Kafka's own tools.
import { crc32c } from '@node-rs/crc32';
import { APPEND_TIME_HEADER_KEY, MAX_BATCH_BYTES, TAG_HEADER_KEY } from './append-input.js';
import { PackedRecords } from './packed-records.js';
import type { AppendRecords, RecordInput, StoredRecord } from './types.js';
import { VarReader, varintSize, writeVarint } from './varint.js';

/** Size of the fixed batch header (through the record count). */
export const BATCH_HEADER_BYTES = 61;
/** baseOffset (8) + batchLength (4): the part not counted in batchLength. */
export const LOG_OVERHEAD = 12;
export const MAGIC = 2;
export { MAX_BATCH_BYTES };

// Field positions inside the header.
const LENGTH_POS = 8;
const EPOCH_POS = 12;
const MAGIC_POS = 16;
const CRC_POS = 17;
const ATTRIBUTES_POS = 21;
const LAST_OFFSET_DELTA_POS = 23;
const BASE_TIMESTAMP_POS = 27;
const MAX_TIMESTAMP_POS = 35;
const PRODUCER_ID_POS = 43;
const PRODUCER_EPOCH_POS = 51;
const BASE_SEQUENCE_POS = 53;
const RECORDS_COUNT_POS = 57;

const TAG_KEY_BYTES = Buffer.from(TAG_HEADER_KEY, 'utf8');
const APPEND_TIME_KEY_BYTES = Buffer.from(APPEND_TIME_HEADER_KEY, 'utf8');
const APPEND_TIME_BYTES = 8;

export interface BatchHeader {
  baseOffset: number;
  /** Whole batch size in bytes, LOG_OVERHEAD included. */
  sizeBytes: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

export interface EncodeBatchInput {
  baseOffset: number;
  records: AppendRecords;
  /** Stored as a reserved header on the first record. */
  tag?: Buffer | undefined;
  /** When the log appended the batch (Unix ms); stored as a reserved header on the first record. */
  appendTime?: number | undefined;
  producer?: { id: bigint; epoch: number; baseSequence: number } | undefined;
}

/** Bytes of a length-prefixed field (-1 length for null). */
function fieldSize(len: number): number {
  return len < 0 ? 1 : varintSize(len) + len;
}

/** Record body size (everything after its length varint); header key bytes via byteLength, not a copy. */
function recordBodySize(
  r: RecordInput,
  timestampDelta: number,
  offsetDelta: number,
  tag: Buffer | undefined,
  appendTime: boolean,
): number {
  const headers = r.headers;
  let size = 1 + varintSize(timestampDelta) + varintSize(offsetDelta);
  size += fieldSize(r.key ? r.key.length : -1) + fieldSize(r.value ? r.value.length : -1);
  size += varintSize(headers.length + (tag ? 1 : 0) + (appendTime ? 1 : 0));
  if (tag) size += fieldSize(TAG_KEY_BYTES.length) + fieldSize(tag.length);
  if (appendTime) size += fieldSize(APPEND_TIME_KEY_BYTES.length) + fieldSize(APPEND_TIME_BYTES);
  for (let j = 0; j < headers.length; j++) {
    const h = headers[j]!;
    size += fieldSize(Buffer.byteLength(h.key, 'utf8')) + fieldSize(h.value ? h.value.length : -1);
  }
  return size;
}

function writeBytes(buf: Buffer, pos: number, bytes: Uint8Array | null): number {
  if (bytes === null) {
    buf[pos] = 1; // zigzag(-1)
    return pos + 1;
  }
  pos = writeVarint(buf, pos, bytes.length);
  buf.set(bytes, pos);
  return pos + bytes.length;
}

function writeString(buf: Buffer, pos: number, text: string): number {
  pos = writeVarint(buf, pos, Buffer.byteLength(text, 'utf8'));
  return pos + buf.write(text, pos, 'utf8');
}

/**
 * Encodes one uncompressed v2 batch (CreateTime timestamps) with a valid CRC32C. One
 * sizing pass, then every record is written into the one buffer (no per-record copies).
 */
export function encodeBatch(input: EncodeBatchInput): Buffer {
  if (input.records instanceof PackedRecords) {
    return input.records.encode(input.baseOffset, input.tag, input.appendTime, input.producer);
  }
  const { records, tag } = input;
  const appendTime = input.appendTime;
  let appendTimeBytes: Buffer | undefined;
  if (appendTime !== undefined) {
    appendTimeBytes = Buffer.allocUnsafe(APPEND_TIME_BYTES);
    appendTimeBytes.writeBigInt64BE(BigInt(appendTime));
  }
  const count = records.length;
  if (count === 0) throw new TypeError('encodeBatch: empty batch');
  const baseTimestamp = records[0]!.timestamp;
  let maxTimestamp = baseTimestamp;
  const bodySizes = new Array<number>(count);
  let total = BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const r = records[i]!;
    if (r.timestamp > maxTimestamp) maxTimestamp = r.timestamp;
    const size = recordBodySize(
      r,
      r.timestamp - baseTimestamp,
      i,
      i === 0 ? tag : undefined,
      i === 0 && appendTimeBytes !== undefined,
    );
    bodySizes[i] = size;
    total += varintSize(size) + size;
  }
  const buf = Buffer.allocUnsafe(total);
  buf.writeBigInt64BE(BigInt(input.baseOffset), 0);
  buf.writeInt32BE(total - LOG_OVERHEAD, LENGTH_POS);
  buf.writeInt32BE(-1, EPOCH_POS);
  buf.writeInt8(MAGIC, MAGIC_POS);
  buf.writeInt16BE(0, ATTRIBUTES_POS);
  buf.writeInt32BE(count - 1, LAST_OFFSET_DELTA_POS);
  buf.writeBigInt64BE(BigInt(baseTimestamp), BASE_TIMESTAMP_POS);
  buf.writeBigInt64BE(BigInt(maxTimestamp), MAX_TIMESTAMP_POS);
  buf.writeBigInt64BE(input.producer?.id ?? -1n, PRODUCER_ID_POS);
  buf.writeInt16BE(input.producer?.epoch ?? -1, PRODUCER_EPOCH_POS);
  buf.writeInt32BE(input.producer?.baseSequence ?? -1, BASE_SEQUENCE_POS);
  buf.writeInt32BE(count, RECORDS_COUNT_POS);
  let pos = BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const r = records[i]!;
    pos = writeVarint(buf, pos, bodySizes[i]!);
    buf[pos++] = 0; // record attributes: unused in v2
    pos = writeVarint(buf, pos, r.timestamp - baseTimestamp);
    pos = writeVarint(buf, pos, i);
    pos = writeBytes(buf, pos, r.key);
    pos = writeBytes(buf, pos, r.value);
    const firstTag = i === 0 ? tag : undefined;
    const firstTime = i === 0 ? appendTimeBytes : undefined;
    const headers = r.headers;
    pos = writeVarint(buf, pos, headers.length + (firstTag ? 1 : 0) + (firstTime ? 1 : 0));
    if (firstTag) {
      pos = writeBytes(buf, pos, TAG_KEY_BYTES);
      pos = writeBytes(buf, pos, firstTag);
    }
    if (firstTime) {
      pos = writeBytes(buf, pos, APPEND_TIME_KEY_BYTES);
      pos = writeBytes(buf, pos, firstTime);
    }
    for (let j = 0; j < headers.length; j++) {
      const h = headers[j]!;
      pos = writeString(buf, pos, h.key);
      pos = writeBytes(buf, pos, h.value);
    }
  }
  if (pos !== total) throw new Error(`encodeBatch: wrote ${pos} bytes, sized ${total}`);
  buf.writeUInt32BE(crc32c(buf.subarray(ATTRIBUTES_POS)), CRC_POS);
  return buf;
}

/** The largest record timestamp of a batch to append (-1 for none). */
export function maxTimestampOf(records: AppendRecords): number {
  if (records instanceof PackedRecords) return records.maxTimestamp;
  let max = -1;
  for (const r of records) if (r.timestamp > max) max = r.timestamp;
  return max;
}

/** Parses the 61-byte header at `pos` (no validation beyond bounds). */
export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  return {
    baseOffset: Number(buf.readBigInt64BE(pos)),
    sizeBytes: buf.readInt32BE(pos + LENGTH_POS) + LOG_OVERHEAD,
    partitionLeaderEpoch: buf.readInt32BE(pos + EPOCH_POS),
    magic: buf.readInt8(pos + MAGIC_POS),
    crc: buf.readUInt32BE(pos + CRC_POS),
    attributes: buf.readInt16BE(pos + ATTRIBUTES_POS),
    lastOffsetDelta: buf.readInt32BE(pos + LAST_OFFSET_DELTA_POS),
    baseTimestamp: Number(buf.readBigInt64BE(pos + BASE_TIMESTAMP_POS)),
    maxTimestamp: Number(buf.readBigInt64BE(pos + MAX_TIMESTAMP_POS)),
    producerId: buf.readBigInt64BE(pos + PRODUCER_ID_POS),
    producerEpoch: buf.readInt16BE(pos + PRODUCER_EPOCH_POS),
    baseSequence: buf.readInt32BE(pos + BASE_SEQUENCE_POS),
    recordCount: buf.readInt32BE(pos + RECORDS_COUNT_POS),
  };
}

/** Size of the batch starting at `pos` from its length field (needs LOG_OVERHEAD bytes). */
export function batchSizeAt(buf: Buffer, pos = 0): number {
  return buf.readInt32BE(pos + LENGTH_POS) + LOG_OVERHEAD;
}

export type BatchCheck =
  | { ok: true; header: BatchHeader }
  | { ok: false; reason: 'short_header' | 'bad_length' | 'short_batch' | 'bad_magic' | 'bad_crc' | 'bad_offset' };

/**
 * Validates the batch at `pos` of `buf` (whose valid bytes end at `end`) the way recovery
 * must: sane length inside the data, magic 2, CRC32C, and base offset = `expectedBase`.
 */
export function checkBatch(buf: Buffer, pos: number, end: number, expectedBase?: number): BatchCheck {
  if (end - pos < BATCH_HEADER_BYTES) return { ok: false, reason: 'short_header' };
  const size = batchSizeAt(buf, pos);
  if (size < BATCH_HEADER_BYTES || size > MAX_BATCH_BYTES) return { ok: false, reason: 'bad_length' };
  if (buf.readInt8(pos + MAGIC_POS) !== MAGIC) return { ok: false, reason: 'bad_magic' };
  if (end - pos < size) return { ok: false, reason: 'short_batch' };
  const header = readBatchHeader(buf, pos);
  if (crc32c(buf.subarray(pos + ATTRIBUTES_POS, pos + size)) !== header.crc) return { ok: false, reason: 'bad_crc' };
  if (header.recordCount < 1 || header.lastOffsetDelta !== header.recordCount - 1)
    return { ok: false, reason: 'bad_length' };
  if (expectedBase !== undefined && header.baseOffset !== expectedBase) return { ok: false, reason: 'bad_offset' };
  return { ok: true, header };
}

export interface DecodedBatch {
  header: BatchHeader;
  records: StoredRecord[];
  /** The batch's tag, stripped from the first record's headers. */
  tag: Buffer | undefined;
  /** When the log appended the batch, stripped likewise; undefined for batches written before it was stored. */
  appendTime: number | undefined;
}

/**
 * Decodes the records of the (already verified) batch at `pos` (only the first `maxRecords`:
 * the tag lives in the first). Keys, values and header values are views into `buf`.
 * Throws RangeError on a malformed body.
 */
export function decodeBatch(buf: Buffer, pos = 0, maxRecords = Infinity): DecodedBatch {
  const header = readBatchHeader(buf, pos);
  const end = pos + header.sizeBytes;
  if (header.attributes & 0x07) throw new RangeError('compressed batches are not supported');
  const reader = new VarReader(buf, pos + BATCH_HEADER_BYTES, end);
  const records: StoredRecord[] = [];
  let tag: Buffer | undefined;
  let appendTime: number | undefined;
  const count = Math.min(header.recordCount, maxRecords);
  for (let i = 0; i < count; i++) {
    const length = reader.varint();
    const recordEnd = reader.pos + length;
    if (length < 0 || recordEnd > end) throw new RangeError('record length runs past the batch');
    const r = new VarReader(buf, reader.pos, recordEnd);
    r.int8();
    const timestamp = header.baseTimestamp + r.varint();
    const offset = header.baseOffset + r.varint();
    const key = r.bytes();
    const value = r.bytes();
    const headerCount = r.varint();
    const headers: StoredRecord['headers'] = [];
    for (let j = 0; j < headerCount; j++) {
      const k = r.bytes();
      const v = r.bytes();
      if (k === null) throw new RangeError('null header key');
      if (i === 0 && k.equals(TAG_KEY_BYTES)) tag = v ?? Buffer.alloc(0);
      else if (i === 0 && k.equals(APPEND_TIME_KEY_BYTES) && v?.length === APPEND_TIME_BYTES)
        appendTime = Number(v.readBigInt64BE(0));
      else headers.push({ key: k.toString('utf8'), value: v });
    }
    records.push({ offset, timestamp, key, value, headers });
    reader.pos = recordEnd;
  }
  return { header, records, tag, appendTime };
}

/**
 * The append time of the verified batch at `pos`: its stored one, or for batches written
 * before append times were stored, its newest record timestamp — never later than `now`.
 */
export function batchAppendTime(buf: Buffer, pos: number, now: number): number {
  const { header, appendTime } = decodeBatch(buf, pos, 1);
  return appendTime ?? Math.min(header.maxTimestamp, now);
}
