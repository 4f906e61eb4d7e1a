// Checks shared by both stores on what callers hand to append/read, and the record-size
// measure used by read limits, so the memory and file stores agree byte for byte.
import type { AppendOptions, AppendRecords, PartitionConfig, ReadOptions, RecordInput } from './types.js';

/** Header key under which a batch's tag is stored (first record). Callers must not use it. */
export const TAG_HEADER_KEY = '__sluice.tag';
/**
 * Header key under which the log stores a batch's append time (first record, 8-byte
 * big-endian Unix ms): retention and idempotency windows run on it, while record
 * timestamps stay what the producer sent (Kafka's CreateTime). Older batches lack it.
 */
export const APPEND_TIME_HEADER_KEY = '__sluice.at';
/** Header keys starting with this are reserved for the log; the produce path should reject them. */
export const RESERVED_HEADER_PREFIX = '__sluice.';
/** Largest tag accepted by append. */
export const MAX_TAG_BYTES = 4096;
/** Largest encoded batch (recovery rejects longer length fields as torn). */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;
/**
 * Record batch attribute bit 8 (Kafka uses bits 0-6 and ignores 7-15): every non-null record
 * value of the batch is one-line JSON text (no CR or LF) in valid UTF-8, which the read path
 * may splice into an answer unchanged. Set only by writers that proved it for every value (the
 * produce scan); honoured only by the file and memory stores (a Kafka producer could set it).
 */
export const ONE_LINE_JSON_VALUES = 0x0100;
/** Segment positions are 32-bit in the offset index, as in Kafka. */
export const MAX_SEGMENT_BYTES = 2 ** 31 - 1;

/**
 * Bytes of record data counted against `ReadOptions.maxBytes`: key + value + header keys
 * (UTF-8) + header values. Framing overhead is not counted, so both stores agree.
 */
export function recordDataBytes(record: RecordInput): number {
  let n = (record.key?.length ?? 0) + (record.value?.length ?? 0);
  for (const h of record.headers) n += Buffer.byteLength(h.key) + (h.value?.length ?? 0);
  return n;
}

/** Throws for caller bugs (empty batch, reserved header, oversized tag, bad timestamp). */
export function assertAppendInput(records: AppendRecords, options: AppendOptions): void {
  if (records.length === 0) throw new TypeError('append: batch must not be empty');
  if (options.tag && options.tag.length > MAX_TAG_BYTES) {
    throw new RangeError(`append: tag is ${options.tag.length} bytes (max ${MAX_TAG_BYTES})`);
  }
  if (!Array.isArray(records)) {
    // Timestamps and header names were checked as the records were packed; the records section is
    // as long as it will be written, plus the first record's reserved headers.
    const bound = 61 + 32 + (options.tag ? options.tag.length + 32 : 0) + records.byteLength;
    if (bound > MAX_BATCH_BYTES) throw new RangeError(`append: batch of ~${bound} bytes exceeds ${MAX_BATCH_BYTES}`);
    return;
  }
  // Upper bound of the encoded batch: recovery treats longer batches as garbage, so they
  // must never be written. Per record ≤ 40 bytes of varints/attributes, ≤ 10 per header.
  let bound = 61 + (options.tag ? options.tag.length + 32 : 0);
  for (const r of records) bound += recordDataBytes(r) + 40 + 10 * r.headers.length;
  if (bound > MAX_BATCH_BYTES) throw new RangeError(`append: batch of ~${bound} bytes exceeds ${MAX_BATCH_BYTES}`);
  for (const r of records) {
    if (!Number.isSafeInteger(r.timestamp) || r.timestamp < 0) {
      throw new RangeError(`append: invalid timestamp ${r.timestamp}`);
    }
    for (const h of r.headers) {
      if (h.key.startsWith(RESERVED_HEADER_PREFIX)) {
        throw new TypeError(`append: header key "${h.key}" uses the reserved prefix ${RESERVED_HEADER_PREFIX}`);
      }
    }
  }
}

/** Throws for a non-integer offset; clamps limits to at least one record. */
export function normaliseReadOptions(offset: number, options: ReadOptions): ReadOptions {
  if (!Number.isSafeInteger(offset)) throw new RangeError(`read: invalid offset ${offset}`);
  return { maxRecords: Math.max(1, Math.floor(options.maxRecords)), maxBytes: Math.max(0, options.maxBytes) };
}

/** Throws for settings no topic could legitimately have. */
export function assertPartitionConfig(config: PartitionConfig): void {
  if (!(config.segmentBytes >= 1024 && config.segmentBytes <= MAX_SEGMENT_BYTES)) {
    throw new RangeError(`segmentBytes must be in [1024, ${MAX_SEGMENT_BYTES}], got ${config.segmentBytes}`);
  }
  for (const [name, v] of [
    ['segmentMs', config.segmentMs],
    ['retentionMs', config.retentionMs],
    ['retentionBytes', config.retentionBytes],
  ] as const) {
    if (!(v === -1 || v >= 0)) throw new RangeError(`${name} must be -1 or ≥ 0, got ${v}`);
  }
}
