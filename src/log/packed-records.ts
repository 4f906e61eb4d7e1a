// Records handed to append already laid out as a v2 batch's records section, written by the
// produce path as it scans a request: the batch is then a header, the first record again
// (with the log's reserved headers) and these bytes, in place, with no object per record.
import { crc32c } from '@node-rs/crc32';
import {
  APPEND_TIME_HEADER_KEY,
  ONE_LINE_JSON_VALUES,
  RESERVED_HEADER_PREFIX,
  TAG_HEADER_KEY,
} from './append-input.js';
import type { RecordInput } from './types.js';
import { VarReader, varintSize, writeVarint } from './varint.js';

// Batch header layout (as record-batch.ts writes it).
const BATCH_HEADER_BYTES = 61;
const LOG_OVERHEAD = 12;
const ATTRIBUTES_POS = 21;
const CRC_POS = 17;

/** Room kept before the records for the batch header and the first record's reserved headers. */
const HEAD_ROOM = BATCH_HEADER_BYTES + 64;

const TAG_KEY_BYTES = Buffer.from(TAG_HEADER_KEY, 'utf8');
const APPEND_TIME_KEY_BYTES = Buffer.from(APPEND_TIME_HEADER_KEY, 'utf8');
const RESERVED = Buffer.from(RESERVED_HEADER_PREFIX, 'utf8');
const APPEND_TIME_BYTES = 8;
const NO_HEADERS = new Int32Array(0);

/**
 * Bytes between the records written and a source copied whole after them: a record's encoding
 * may be a few bytes longer than its text at first (only while it is not, fields move in place).
 */
function shadowGap(sourceBytes: number): number {
  return 64 + (sourceBytes >> 5);
}

/** Bytes of a length-prefixed field (-1 length for null). */
function fieldSize(len: number): number {
  return len < 0 ? 1 : varintSize(len) + len;
}

function startsWithReserved(src: Buffer, at: number, len: number): boolean {
  if (len < RESERVED.length) return false;
  for (let k = 0; k < RESERVED.length; k++) if (src[at + k] !== RESERVED[k]) return false;
  return true;
}

/**
 * Records of one batch as its encoded records section: offset deltas from 0, timestamp
 * deltas from the first record, no reserved headers. `encode` turns them into the batch
 * encodeBatch would write for the same RecordInput[] (byte for byte).
 */
export class PackedRecords {
  /** Number of records. */
  length = 0;
  firstTimestamp = 0;
  maxTimestamp = -1;
  /** recordDataBytes summed over the records. */
  dataBytes = 0;
  /** Headers summed over the records. */
  headerCount = 0;
  /** Every value added was proven one-line JSON in valid UTF-8 (add's `oneLineJson`): the batch gets ONE_LINE_JSON_VALUES. */
  private jsonValues = true;
  private buf: Buffer;
  private pos = HEAD_ROOM;
  private firstEnd = HEAD_ROOM;
  /** Record 0's bytes, saved before the first batch written over them. */
  private first: Buffer | undefined;
  /**
   * The source `add` last copied whole into `buf` (at `shadowAt`), so fields move within one
   * buffer (copyWithin: no view object per field, about 3× cheaper than a copy per field).
   */
  private shadowSrc: Buffer | undefined;
  private shadowAt = 0;
  /** Lowest source position a later record from `shadowSrc` can have its fields at. */
  private lowWater = 0;

  /**
   * `capacity`: bytes of records expected (it grows as needed). `shadow`: copy each source
   * buffer in whole before taking records from it, worth it when most of its records come here.
   */
  constructor(
    capacity = 1024,
    private shadow = false,
  ) {
    this.buf = Buffer.allocUnsafe(HEAD_ROOM + capacity + (shadow ? shadowGap(capacity) : 0));
  }

  /** Bytes of the records section. */
  get byteLength(): number {
    return this.pos - HEAD_ROOM;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
    // The copy of the source past `pos` is gone: fields come from their source from now on.
    this.shadowSrc = undefined;
    this.shadow = false;
  }

  /** Copies `src` into `buf` past the records written so far. */
  private shadowOf(src: Buffer): void {
    const at = this.pos + shadowGap(src.length);
    if (at + src.length > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, at + src.length + 1024));
      this.buf.copy(grown, 0, 0, this.pos);
      this.buf = grown;
    }
    src.copy(this.buf, at);
    this.shadowSrc = src;
    this.shadowAt = at;
    this.lowWater = 0;
  }

  /**
   * Appends a record whose key, value and headers lie in `src`: lengths -1 for null; `headers`
   * holds [nameAt, nameLen, valueAt, valueLen] per header (names UTF-8, valueLen -1 for null).
   * The caller has checked them (no reserved names, a safe timestamp ≥ 0). `oneLineJson`: the
   * caller proved the value null or one-line JSON text in valid UTF-8 (see ONE_LINE_JSON_VALUES).
   */
  add(
    src: Buffer,
    keyAt: number,
    keyLen: number,
    valueAt: number,
    valueLen: number,
    headers: Int32Array,
    headerCount: number,
    timestamp: number,
    oneLineJson = false,
  ): void {
    const i = this.length;
    if (!oneLineJson) this.jsonValues = false;
    if (i === 0) this.firstTimestamp = timestamp;
    if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
    const delta = timestamp - this.firstTimestamp;
    let size =
      1 + varintSize(delta) + varintSize(i) + fieldSize(keyLen) + fieldSize(valueLen) + varintSize(headerCount);
    let data = (keyLen > 0 ? keyLen : 0) + (valueLen > 0 ? valueLen : 0);
    for (let h = 0; h < headerCount; h++) {
      const nameLen = headers[4 * h + 1]!;
      const len = headers[4 * h + 3]!;
      size += fieldSize(nameLen) + fieldSize(len);
      data += nameLen + (len > 0 ? len : 0);
    }
    const total = varintSize(size) + size;
    if (this.shadow && src !== this.shadowSrc) this.shadowOf(src);
    this.reserve(total);
    // Fields move within buf when their copy lies past everything this record writes (later
    // records' fields lie past this one's: sources are taken in order).
    let low = this.lowWater;
    if (src === this.shadowSrc) {
      low = keyLen >= 0 ? keyAt : 0x7fffffff;
      if (valueLen >= 0 && valueAt < low) low = valueAt;
      for (let h = 0; h < headerCount; h++) if (headers[4 * h]! < low) low = headers[4 * h]!;
      if (low === 0x7fffffff) low = this.lowWater;
      else this.lowWater = low;
    }
    const base = src === this.shadowSrc && this.pos + total <= this.shadowAt + low ? this.shadowAt : -1;
    const buf = this.buf;
    let pos = writeVarint(buf, this.pos, size);
    buf[pos++] = 0; // record attributes: unused in v2
    pos = writeVarint(buf, pos, delta);
    pos = writeVarint(buf, pos, i);
    if (base < 0) {
      pos = putField(buf, pos, src, keyAt, keyLen);
      pos = putField(buf, pos, src, valueAt, valueLen);
      pos = writeVarint(buf, pos, headerCount);
      for (let h = 0; h < headerCount; h++) {
        pos = putField(buf, pos, src, headers[4 * h]!, headers[4 * h + 1]!);
        pos = putField(buf, pos, src, headers[4 * h + 2]!, headers[4 * h + 3]!);
      }
    } else {
      pos = moveField(buf, pos, base + keyAt, keyLen);
      pos = moveField(buf, pos, base + valueAt, valueLen);
      pos = writeVarint(buf, pos, headerCount);
      for (let h = 0; h < headerCount; h++) {
        pos = moveField(buf, pos, base + headers[4 * h]!, headers[4 * h + 1]!);
        pos = moveField(buf, pos, base + headers[4 * h + 2]!, headers[4 * h + 3]!);
      }
    }
    this.pos = pos;
    if (i === 0) this.firstEnd = pos;
    this.length = i + 1;
    this.dataBytes += data;
    this.headerCount += headerCount;
  }

  /** Whether the batch will carry ONE_LINE_JSON_VALUES: every value added was proven one-line JSON. */
  get oneLineJson(): boolean {
    return this.length > 0 && this.jsonValues;
  }

  /** Appends a record given as an object; throws (as assertAppendInput) for reserved header names. */
  addRecord(r: RecordInput): void {
    if (!Number.isSafeInteger(r.timestamp) || r.timestamp < 0) {
      throw new RangeError(`append: invalid timestamp ${r.timestamp}`);
    }
    const key = r.key;
    const value = r.value;
    const n = r.headers.length;
    if (n === 0) {
      this.addParts(key, value, NO_HEADERS, [], r.timestamp);
      return;
    }
    const spans = new Int32Array(4 * n);
    const parts: Array<Buffer | null> = [];
    for (let h = 0; h < n; h++) {
      const header = r.headers[h]!;
      const name = Buffer.from(header.key, 'utf8');
      if (startsWithReserved(name, 0, name.length)) {
        throw new TypeError(`append: header key "${header.key}" uses the reserved prefix ${RESERVED_HEADER_PREFIX}`);
      }
      parts.push(name, header.value);
    }
    this.addParts(key, value, spans, parts, r.timestamp);
  }

  /** add() with each field its own buffer: a scratch copy keeps one source. */
  private addParts(
    key: Buffer | null,
    value: Buffer | null,
    spans: Int32Array,
    headerParts: Array<Buffer | null>,
    timestamp: number,
  ): void {
    let total = (key?.length ?? 0) + (value?.length ?? 0);
    for (const p of headerParts) total += p?.length ?? 0;
    const src = Buffer.allocUnsafe(total);
    let at = 0;
    const place = (b: Buffer | null): [number, number] => {
      if (b === null) return [0, -1];
      b.copy(src, at);
      at += b.length;
      return [at - b.length, b.length];
    };
    const [keyAt, keyLen] = place(key);
    const [valueAt, valueLen] = place(value);
    for (let h = 0; h < headerParts.length / 2; h++) {
      const [na, nl] = place(headerParts[2 * h]!);
      const [va, vl] = place(headerParts[2 * h + 1]!);
      spans[4 * h] = na;
      spans[4 * h + 1] = nl;
      spans[4 * h + 2] = va;
      spans[4 * h + 3] = vl;
    }
    const shadow = this.shadow;
    this.shadow = false; // a buffer per record: not worth copying whole
    this.add(src, keyAt, keyLen, valueAt, valueLen, spans, headerParts.length / 2, timestamp);
    this.shadow = shadow;
  }

  /**
   * The batch encodeBatch would write for these records. Written in place before the records
   * when the header and first record fit the room kept for them (so the result shares memory
   * with this object, and a later encode rewrites it).
   */
  encode(
    baseOffset: number,
    tag: Buffer | undefined,
    appendTime: number | undefined,
    producer: { id: bigint; epoch: number; baseSequence: number } | undefined,
  ): Buffer {
    if (this.length === 0) throw new TypeError('encodeBatch: empty batch');
    const first = (this.first ??= Buffer.from(this.buf.subarray(HEAD_ROOM, this.firstEnd)));
    // Record 0: [length][attributes][timestamp delta 0][offset delta 0][key][value][count][headers].
    const r = new VarReader(first, 0, first.length);
    r.varint();
    const kvAt = r.pos + 3;
    r.pos = kvAt;
    r.skip(r.varint());
    r.skip(r.varint());
    const kvEnd = r.pos;
    const userHeaders = r.varint();
    const userAt = r.pos;
    const extra = (tag ? 1 : 0) + (appendTime !== undefined ? 1 : 0);
    let size = 3 + (kvEnd - kvAt) + varintSize(userHeaders + extra) + (first.length - userAt);
    if (tag) size += fieldSize(TAG_KEY_BYTES.length) + fieldSize(tag.length);
    if (appendTime !== undefined) size += fieldSize(APPEND_TIME_KEY_BYTES.length) + fieldSize(APPEND_TIME_BYTES);
    const recordBytes = varintSize(size) + size;
    const restBytes = this.pos - this.firstEnd;
    const total = BATCH_HEADER_BYTES + recordBytes + restBytes;
    let out: Buffer;
    let start = this.firstEnd - recordBytes - BATCH_HEADER_BYTES;
    // In place, unless the head does not fit, or the buffer has so much room to spare that the
    // batch (kept by the log's caches) should not hold on to it.
    if (start >= 0 && this.buf.length - this.pos <= this.pos / 4) out = this.buf;
    else {
      out = Buffer.allocUnsafe(total);
      this.buf.copy(out, BATCH_HEADER_BYTES + recordBytes, this.firstEnd, this.pos);
      start = 0;
    }
    out.writeBigInt64BE(BigInt(baseOffset), start);
    out.writeInt32BE(total - LOG_OVERHEAD, start + 8);
    out.writeInt32BE(-1, start + 12); // partition leader epoch
    out.writeInt8(2, start + 16); // magic
    out.writeInt16BE(this.jsonValues ? ONE_LINE_JSON_VALUES : 0, start + ATTRIBUTES_POS);
    out.writeInt32BE(this.length - 1, start + 23);
    out.writeBigInt64BE(BigInt(this.firstTimestamp), start + 27);
    out.writeBigInt64BE(BigInt(this.maxTimestamp), start + 35);
    out.writeBigInt64BE(producer?.id ?? -1n, start + 43);
    out.writeInt16BE(producer?.epoch ?? -1, start + 51);
    out.writeInt32BE(producer?.baseSequence ?? -1, start + 53);
    out.writeInt32BE(this.length, start + 57);
    let pos = writeVarint(out, start + BATCH_HEADER_BYTES, size);
    out[pos++] = 0;
    out[pos++] = 0;
    out[pos++] = 0;
    pos += first.copy(out, pos, kvAt, kvEnd);
    pos = writeVarint(out, pos, userHeaders + extra);
    if (tag) {
      pos = putBytes(out, pos, TAG_KEY_BYTES);
      pos = putBytes(out, pos, tag);
    }
    if (appendTime !== undefined) {
      pos = putBytes(out, pos, APPEND_TIME_KEY_BYTES);
      pos = writeVarint(out, pos, APPEND_TIME_BYTES);
      out.writeBigInt64BE(BigInt(appendTime), pos);
      pos += APPEND_TIME_BYTES;
    }
    pos += first.copy(out, pos, userAt);
    const end = start + total;
    if (pos !== end - restBytes)
      throw new Error(`encodeBatch: wrote ${pos - start} bytes of the head, sized ${total - restBytes}`);
    out.writeUInt32BE(crc32c(out.subarray(start + ATTRIBUTES_POS, end)), start + CRC_POS);
    return out.subarray(start, end);
  }

  /** The records as objects (keys, values and header values are views, valid while this is). */
  toInputs(): RecordInput[] {
    const out: RecordInput[] = [];
    const first = this.first ?? this.buf.subarray(HEAD_ROOM, this.firstEnd);
    for (let i = 0, at = HEAD_ROOM; i < this.length; i++) {
      const buf = i === 0 ? first : this.buf;
      const reader = new VarReader(buf, i === 0 ? 0 : at, i === 0 ? first.length : this.pos);
      const length = reader.varint();
      const r = new VarReader(buf, reader.pos, reader.pos + length);
      r.int8();
      const timestamp = this.firstTimestamp + r.varint();
      r.varint();
      const key = r.bytes();
      const value = r.bytes();
      const headerCount = r.varint();
      const headers: RecordInput['headers'] = [];
      for (let h = 0; h < headerCount; h++) {
        const k = r.bytes()!;
        headers.push({ key: k.toString('utf8'), value: r.bytes() });
      }
      out.push({ key, value, headers, timestamp });
      at = i === 0 ? this.firstEnd : reader.pos + length;
    }
    return out;
  }
}

function putField(buf: Buffer, pos: number, src: Buffer, at: number, len: number): number {
  if (len < 0) {
    buf[pos] = 1; // zigzag(-1)
    return pos + 1;
  }
  pos = writeVarint(buf, pos, len);
  if (len < 16) for (let k = 0; k < len; k++) buf[pos + k] = src[at + k]!;
  else src.copy(buf, pos, at, at + len); // no view object, unlike set(subarray())
  return pos + len;
}

/** putField for a field whose bytes lie in `buf` itself, at `at`, past everything written. */
function moveField(buf: Buffer, pos: number, at: number, len: number): number {
  if (len < 0) {
    buf[pos] = 1; // zigzag(-1)
    return pos + 1;
  }
  pos = writeVarint(buf, pos, len);
  if (len < 16) for (let k = 0; k < len; k++) buf[pos + k] = buf[at + k]!;
  else buf.copyWithin(pos, at, at + len);
  return pos + len;
}

function putBytes(buf: Buffer, pos: number, bytes: Buffer): number {
  pos = writeVarint(buf, pos, bytes.length);
  return pos + bytes.copy(buf, pos);
}
