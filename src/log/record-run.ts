// A read's records left where the log holds them: per record, where its fields lie in the
// verified batch bytes, so encoders write answers straight from them (no object per record).
import { isUtf8 } from 'node:buffer';
import { APPEND_TIME_HEADER_KEY, ONE_LINE_JSON_VALUES, TAG_HEADER_KEY } from './append-input.js';
import { BATCH_HEADER_BYTES, readBatchHeader } from './record-batch.js';
import type { BatchCollector } from './read-collector.js';
import type { ReadOptions, RecordHeader, StoredRecord } from './types.js';
import { VarReader } from './varint.js';

// One row of numbers per record (a Float64Array: offsets and timestamps need 53 bits).
const OFFSET = 0;
const TIMESTAMP = 1;
/** Index into `bufs` of the buffer the record's bytes are in. */
const BUF = 2;
const KEY_AT = 3;
/** -1 for a null key; likewise VALUE_LEN. */
const KEY_LEN = 4;
const VALUE_AT = 5;
const VALUE_LEN = 6;
/** Position of the record's first header (reserved ones included) and their count. */
const HEADERS_AT = 7;
const HEADERS_ALL = 8;
/** Headers a reader sees (the log's reserved ones on a batch's first record left out). */
const HEADERS_SEEN = 9;
/** 1 on the first record of its batch (where the log's reserved headers live). */
const FIRST = 10;
/** Bytes the record counts for against maxBytes: recordDataBytes of its decoded form. */
const DATA_BYTES = 11;
/** 1 when the record's batch carries ONE_LINE_JSON_VALUES and the store honours it. */
const ONE_LINE_JSON = 12;
const STRIDE = 13;

const TAG_KEY = Buffer.from(TAG_HEADER_KEY, 'utf8');
const APPEND_TIME_KEY = Buffer.from(APPEND_TIME_HEADER_KEY, 'utf8');
const APPEND_TIME_BYTES = 8;
/** Rows a collector reserves for one batch at once (more grow by doubling). */
const RESERVE_ROWS = 16_384;

/**
 * Records of one read, in offset order. Either packed (positions into the batch buffers the
 * log read, from `RunCollector`) or a plain array of decoded records (stores that decode
 * their batches elsewhere). `record(i)` decodes one on demand, exactly as `decodeBatch` would.
 */
export class RecordRun {
  private decoded: StoredRecord[] | undefined;

  private constructor(
    /** Number of records. */
    readonly length: number,
    private readonly rows: Float64Array | null,
    /** Buffers the packed rows point into (views of them are what `record(i)` returns). */
    readonly bufs: readonly Buffer[],
    private readonly objects: readonly StoredRecord[] | null,
  ) {}

  static readonly EMPTY = new RecordRun(0, null, [], []);

  static fromRecords(records: readonly StoredRecord[]): RecordRun {
    return new RecordRun(records.length, null, [], records);
  }

  /** @internal RunCollector's result. */
  static packed(length: number, rows: Float64Array, bufs: Buffer[]): RecordRun {
    return new RecordRun(length, rows, bufs, null);
  }

  /** Whether fields can be read in place (`bufferOf`, `keyAt`…); else only `record(i)`. */
  get isPacked(): boolean {
    return this.rows !== null;
  }

  offset(i: number): number {
    return this.rows ? this.rows[i * STRIDE + OFFSET]! : this.objects![i]!.offset;
  }

  timestamp(i: number): number {
    return this.rows ? this.rows[i * STRIDE + TIMESTAMP]! : this.objects![i]!.timestamp;
  }

  // Packed runs only (isPacked):
  bufferOf(i: number): Buffer {
    return this.bufs[this.rows![i * STRIDE + BUF]!]!;
  }
  /** Index into `bufs` of the buffer holding record `i`. */
  bufferIndex(i: number): number {
    return this.rows![i * STRIDE + BUF]!;
  }
  keyAt(i: number): number {
    return this.rows![i * STRIDE + KEY_AT]!;
  }
  /** -1: null key. */
  keyLength(i: number): number {
    return this.rows![i * STRIDE + KEY_LEN]!;
  }
  valueAt(i: number): number {
    return this.rows![i * STRIDE + VALUE_AT]!;
  }
  /** -1: null value (a tombstone). */
  valueLength(i: number): number {
    return this.rows![i * STRIDE + VALUE_LEN]!;
  }
  /**
   * Whether the value is known to be null or one-line JSON text in valid UTF-8 (its batch carries
   * ONE_LINE_JSON_VALUES, read by a store that trusts its own writes): spliceable unchecked.
   * False says nothing (check the value).
   */
  oneLineJson(i: number): boolean {
    return this.rows !== null && this.rows[i * STRIDE + ONE_LINE_JSON] === 1;
  }
  /** Headers the record has for readers. */
  headerCount(i: number): number {
    return this.rows ? this.rows[i * STRIDE + HEADERS_SEEN]! : this.objects![i]!.headers.length;
  }

  /** Sum of the records' data bytes (key, value, headers), as ReadOptions.maxBytes counts them. */
  dataBytes(): number {
    let n = 0;
    if (this.rows) for (let i = 0; i < this.length; i++) n += this.rows[i * STRIDE + DATA_BYTES]!;
    else for (const r of this.objects!) n += recordBytes(r);
    return n;
  }

  /** The first `count` records. */
  slice(count: number): RecordRun {
    if (count >= this.length) return this;
    if (this.rows) return new RecordRun(count, this.rows, this.bufs, null);
    return new RecordRun(count, null, [], this.objects!.slice(0, count));
  }

  /** Number of leading records whose offset is below `bound`. */
  countBelow(bound: number): number {
    let n = 0;
    while (n < this.length && this.offset(n) < bound) n++;
    return n;
  }

  /** Record `i` decoded: key, value and header values are views into the log's bytes. */
  record(i: number): StoredRecord {
    if (!this.rows) return this.objects![i]!;
    if (this.decoded) return this.decoded[i]!;
    const r = this.rows;
    const o = i * STRIDE;
    const buf = this.bufs[r[o + BUF]!]!;
    return {
      offset: r[o + OFFSET]!,
      timestamp: r[o + TIMESTAMP]!,
      key: slice(buf, r[o + KEY_AT]!, r[o + KEY_LEN]!),
      value: slice(buf, r[o + VALUE_AT]!, r[o + VALUE_LEN]!),
      headers:
        r[o + HEADERS_SEEN] === 0 ? [] : readHeaders(buf, r[o + HEADERS_AT]!, r[o + HEADERS_ALL]!, r[o + FIRST] === 1),
    };
  }

  /** Every record decoded (once; later calls return the same array). */
  toRecords(): readonly StoredRecord[] {
    if (!this.rows) return this.objects!;
    if (!this.decoded) {
      const out = new Array<StoredRecord>(this.length);
      for (let i = 0; i < this.length; i++) out[i] = this.record(i);
      this.decoded = out;
    }
    return this.decoded;
  }
}

function slice(buf: Buffer, at: number, len: number): Buffer | null {
  return len < 0 ? null : buf.subarray(at, at + len);
}

function recordBytes(r: StoredRecord): number {
  let n = (r.key?.length ?? 0) + (r.value?.length ?? 0);
  for (const h of r.headers) n += Buffer.byteLength(h.key) + (h.value?.length ?? 0);
  return n;
}

/** Whether the header key at [at, at+len) is one of the log's own (first record of a batch only). */
function reservedKey(buf: Buffer, at: number, len: number, valueLen: number): boolean {
  if (len === TAG_KEY.length && buf.compare(TAG_KEY, 0, len, at, at + len) === 0) return true;
  return (
    len === APPEND_TIME_KEY.length &&
    valueLen === APPEND_TIME_BYTES &&
    buf.compare(APPEND_TIME_KEY, 0, len, at, at + len) === 0
  );
}

/** The reader-visible headers of a record, as decodeBatch builds them. */
function readHeaders(buf: Buffer, at: number, count: number, first: boolean): RecordHeader[] {
  const v = new VarReader(buf, at, buf.length);
  const out: RecordHeader[] = [];
  for (let j = 0; j < count; j++) {
    const kLen = v.varint();
    const kAt = v.pos;
    v.skip(kLen);
    const vLen = v.varint();
    const vAt = v.pos;
    v.skip(vLen);
    if (first && reservedKey(buf, kAt, kLen, vLen)) continue;
    out.push({ key: buf.toString('utf8', kAt, kAt + kLen), value: slice(buf, vAt, vLen) });
  }
  return out;
}

/**
 * ReadCollector's limits (skip records below the requested offset, stop at maxRecords or
 * maxBytes, one record minimum) applied to batch bytes without decoding them into objects.
 * Batches must be verified (CRC) already, as for decodeBatch.
 */
export class RunCollector implements BatchCollector {
  private rows: Float64Array;
  private readonly bufs: Buffer[] = [];
  private count = 0;
  private bytes = 0;
  private full = false;

  /**
   * `trustOneLineJson`: honour batches' ONE_LINE_JSON_VALUES (RecordRun.oneLineJson). Only for
   * stores whose every batch this process's own writers wrote (file, memory); never for batches
   * another producer could have written (Kafka).
   */
  constructor(
    private readonly offset: number,
    private readonly options: ReadOptions,
    private readonly trustOneLineJson = false,
  ) {
    this.rows = new Float64Array(Math.min(Math.max(options.maxRecords, 1), 64) * STRIDE);
  }

  get done(): boolean {
    return this.full;
  }

  /** Offers the verified batch at `at` of `buf`; returns `done`. */
  addBatch(buf: Buffer, at: number): boolean {
    if (this.full) return true;
    const header = readBatchHeader(buf, at);
    const end = at + header.sizeBytes;
    if (header.attributes & 0x07) throw new RangeError('compressed batches are not supported');
    const oneLineJson = this.trustOneLineJson && (header.attributes & ONE_LINE_JSON_VALUES) !== 0 ? 1 : 0;
    let bufIndex = this.bufs.length - 1;
    if (bufIndex < 0 || this.bufs[bufIndex] !== buf) {
      this.bufs.push(buf);
      bufIndex++;
    }
    const c = new VarReader(buf, at + BATCH_HEADER_BYTES, end);
    const { maxRecords, maxBytes } = this.options;
    // Room for the records this batch can add, in one allocation (doubling row by row grew and
    // zero-filled the table ~8 times for a 10,000-record read); capped, the loop grows past it.
    const wanted = Math.min(header.recordCount, maxRecords - this.count, RESERVE_ROWS);
    if ((this.count + wanted) * STRIDE > this.rows.length) this.grow((this.count + wanted) * STRIDE);
    for (let i = 0; i < header.recordCount; i++) {
      const length = c.varint();
      const recordEnd = c.pos + length;
      if (length < 0 || recordEnd > end) throw new RangeError('record length runs past the batch');
      const next = c.pos + length;
      c.end = recordEnd;
      if (c.pos >= c.end) throw new RangeError('record truncated');
      c.pos++; // attributes
      const timestamp = header.baseTimestamp + c.varint();
      const offset = header.baseOffset + c.varint();
      if (offset < this.offset) {
        c.pos = next;
        c.end = end;
        continue;
      }
      const keyLen = c.varint();
      const keyAt = c.pos;
      c.skip(keyLen);
      const valueLen = c.varint();
      const valueAt = c.pos;
      c.skip(valueLen);
      const headersAll = c.varint();
      const headersAt = c.pos;
      let size = Math.max(keyLen, 0) + Math.max(valueLen, 0);
      let seen = 0;
      for (let j = 0; j < headersAll; j++) {
        const kLen = c.varint();
        if (kLen < 0) throw new RangeError('null header key');
        const kAt = c.pos;
        c.skip(kLen);
        const vLen = c.varint();
        c.skip(vLen);
        if (i === 0 && reservedKey(buf, kAt, kLen, vLen)) continue;
        seen++;
        // A key's bytes count as its decoded text's UTF-8 (invalid sequences become U+FFFD).
        const kBytes = asciiOnly(buf, kAt, kLen)
          ? kLen
          : isUtf8(buf.subarray(kAt, kAt + kLen))
            ? kLen
            : Buffer.byteLength(buf.toString('utf8', kAt, kAt + kLen));
        size += kBytes + Math.max(vLen, 0);
      }
      c.pos = next;
      c.end = end;
      if (this.count > 0 && this.bytes + size > maxBytes) {
        this.full = true;
        break;
      }
      if ((this.count + 1) * STRIDE > this.rows.length) this.grow(this.rows.length * 2);
      const o = this.count * STRIDE;
      const r = this.rows;
      r[o + OFFSET] = offset;
      r[o + TIMESTAMP] = timestamp;
      r[o + BUF] = bufIndex;
      r[o + KEY_AT] = keyAt;
      r[o + KEY_LEN] = keyLen < 0 ? -1 : keyLen;
      r[o + VALUE_AT] = valueAt;
      r[o + VALUE_LEN] = valueLen < 0 ? -1 : valueLen;
      r[o + HEADERS_AT] = headersAt;
      r[o + HEADERS_ALL] = headersAll;
      r[o + HEADERS_SEEN] = seen;
      r[o + FIRST] = i === 0 ? 1 : 0;
      r[o + DATA_BYTES] = size;
      r[o + ONE_LINE_JSON] = oneLineJson;
      this.count++;
      this.bytes += size;
      if (this.count >= maxRecords || this.bytes >= maxBytes) {
        this.full = true;
        break;
      }
    }
    return this.full;
  }

  private grow(length: number): void {
    const grown = new Float64Array(length);
    grown.set(this.rows.subarray(0, this.count * STRIDE));
    this.rows = grown;
  }

  /** Bytes this collector holds: the buffers its records are in, and its table. */
  heldBytes(): number {
    const seen = new Set<ArrayBufferLike>();
    let bytes = this.rows.byteLength;
    for (const b of this.bufs) {
      if (seen.has(b.buffer)) continue;
      seen.add(b.buffer);
      bytes += b.buffer.byteLength;
    }
    return bytes;
  }

  result(): { run: RecordRun; nextOffset: number } {
    if (this.count === 0) return { run: RecordRun.EMPTY, nextOffset: this.offset };
    const run = RecordRun.packed(this.count, this.rows, this.bufs);
    return { run, nextOffset: run.offset(this.count - 1) + 1 };
  }
}

function asciiOnly(buf: Buffer, at: number, len: number): boolean {
  for (let k = at; k < at + len; k++) if (buf[k]! >= 0x80) return false;
  return true;
}
