// Stored records rendered straight to Record JSON text (reads, SSE): a json value is spliced in
// as the producer's own JSON text instead of being JSON.parsed and re-serialised per record.
import { isUtf8 } from 'node:buffer';
import type { RecordRun, StoredRecord } from '../log/index.js';
import { renderRecord, UNRENDERABLE_VALUE_ENCODING, type ValueFormat } from './record-codec.js';
import { compactJsonText, isJsonText, SPLICE_ASCII, SPLICE_NO, spliceableJson } from './record-json-scan.js';

const LF = 0x0a;
const CR = 0x0d;

/**
 * The JSON text of a stored json value, as sent to readers, or undefined when the bytes are
 * not JSON text (never written by produce; the record is then served in the fallback form).
 * Valid text is spliced as is; one holding a line break (a pretty-printed value) loses its
 * insignificant whitespace, so a record's JSON is always one line (SSE `data:`, NDJSON-minded
 * clients). Nothing here recurses: a value of any depth renders. Invalid UTF-8 decodes to
 * U+FFFD exactly as produce parsed it.
 */
function jsonValueText(value: Buffer): string | undefined {
  if (!isJsonText(value)) return undefined;
  if (value.indexOf(LF) >= 0 || value.indexOf(CR) >= 0) return compactJsonText(value).toString('utf8');
  return value.toString('utf8');
}

function valueText(value: Buffer | null, format: ValueFormat): string | undefined {
  if (value === null) return 'null';
  switch (format) {
    case 'json':
      return jsonValueText(value);
    case 'string':
      return JSON.stringify(value.toString('utf8'));
    case 'binary':
      return `"${value.toString('base64')}"`; // the base64 alphabet needs no escaping
  }
}

/** The headers object text, in renderRecord's semantics (null values skipped, last repeat wins). */
function headersText(topic: string, partition: number, rec: StoredRecord): string {
  if (rec.headers.length === 0) return '{}';
  return JSON.stringify(renderRecord(topic, partition, { ...rec, value: null }, 'binary').headers);
}

const FALLBACK_TAIL = `,"value_encoding":${JSON.stringify(UNRENDERABLE_VALUE_ENCODING)}}`;

/**
 * Renders records of one partition as Record JSON strings, the same fields in the same
 * order as `JSON.stringify(renderRecord(...))`: topic, partition, offset, timestamp, key,
 * value, headers. Only json values differ in bytes (the producer's spacing and number
 * spelling are kept); they parse to the same value. Never throws: a stored json value that
 * is not JSON text is served as base64 with `"value_encoding":"base64"` after the headers,
 * as renderRecord does.
 */
export function recordJsonRenderer(topic: string, partition: number, format: ValueFormat): RecordJsonRenderer {
  const render = stringRenderer(topic, partition, format);
  return Object.assign(render, { writer: recordJsonWriter(topic, partition, format, render) });
}

/** Record JSON of one record as a string, with a writer of many records as bytes (`writer`). */
export type RecordJsonRenderer = ((rec: StoredRecord) => string) & { readonly writer: RecordJsonWriter };

/** Where a writer puts its bytes: a buffer of at least `size` bytes. */
export type AllocBuffer = (size: number) => Buffer<ArrayBuffer>;

const allocUnsafe: AllocBuffer = (size) => Buffer.allocUnsafe(size);

/** Records in the slices of `joinRunSlices`: the first slice's, and the most any slice holds. */
export interface SliceSizes {
  first: number;
  max: number;
}

/** Many records of one partition written straight into one UTF-8 buffer. */
export interface RecordJsonWriter {
  /** `prefix` + the Record JSON of each record, joined by commas, + `suffix` (a read response). */
  join(records: readonly StoredRecord[], prefix: string, suffix: string): Buffer<ArrayBuffer>;
  /** For each record: `head` + its Record JSON + `tail(record)` (SSE events). */
  frames(records: readonly StoredRecord[], head: string, tail: (rec: StoredRecord) => string): Buffer<ArrayBuffer>;
  /**
   * `join` of a RecordRun's records: a packed run is written from the log's bytes. `alloc`
   * gives the buffer written into (at least the size asked; the answer is a view of its start),
   * by default a new one.
   */
  joinRun(run: RecordRun, prefix: string, suffix: string, alloc?: AllocBuffer): Buffer<ArrayBuffer>;
  /**
   * For each record of `run`: `head` + its Record JSON + `idHead` + (its offset + 1) + `idTail`
   * (SSE events whose `id:` is the next offset, with whatever follows it in `idTail`).
   */
  framesRun(run: RecordRun, head: string, idHead: string, idTail: string): Buffer<ArrayBuffer>;
  /**
   * `joinRun` in slices, each written only when the iterator is asked for it: their
   * concatenation is exactly `joinRun`'s bytes. A response can send one slice while the next is
   * written. The first slice holds `sizes.first` records, each next one twice as many as the one
   * before, up to `sizes.max`. Always at least one slice (the prefix and suffix of an empty run).
   */
  joinRunSlices(run: RecordRun, prefix: string, suffix: string, sizes: SliceSizes): Iterator<Buffer<ArrayBuffer>>;
}

function stringRenderer(topic: string, partition: number, format: ValueFormat): (rec: StoredRecord) => string {
  const head = `{"topic":${JSON.stringify(topic)},"partition":${partition},"offset":`;
  return (rec) => {
    const value = valueText(rec.value, format);
    return `${head}${rec.offset},"timestamp":${rec.timestamp},"key":${
      rec.key === null ? 'null' : JSON.stringify(rec.key.toString('utf8'))
    },"value":${value ?? `"${rec.value!.toString('base64')}"`},"headers":${headersText(topic, partition, rec)}${
      value === undefined ? FALLBACK_TAIL : '}'
    }`;
  };
}

const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const EMPTY_HEADERS_TAIL = ',"headers":{}}';

/** A key JSON.stringify leaves as it is between quotes: printable ASCII without `"` or `\`. */
function plainAsciiKey(key: Buffer): boolean {
  for (let i = 0; i < key.length; i++) {
    const c = key[i]!;
    if (c < 0x20 || c > 0x7e || c === QUOTE || c === BACKSLASH) return false;
  }
  return true;
}

/** A stored json value that goes out as its stored bytes: valid one-line JSON text in valid UTF-8. */
function plainJsonValue(value: Buffer): boolean {
  return value.indexOf(LF) < 0 && value.indexOf(CR) < 0 && isJsonText(value) && isUtf8(value);
}

/**
 * Writes records of one partition straight into one UTF-8 buffer, byte-identical to joining
 * the strings of `render` (the same partition's string renderer) and encoding the result. A json
 * value that is valid one-line JSON text in valid UTF-8 is copied as stored — never decoded to a
 * string and encoded back, which was most of a catch-up read's cost. Anything else (headers, a
 * key needing escapes, another format, a value that must be compacted or is not valid UTF-8)
 * takes the string renderer for that record.
 */
function recordJsonWriter(
  topic: string,
  partition: number,
  format: ValueFormat,
  render: (rec: StoredRecord) => string,
): RecordJsonWriter {
  const headText = `{"topic":${JSON.stringify(topic)},"partition":${partition},"offset":`;
  const head = Buffer.from(headText, 'utf8');
  const write = (
    records: readonly StoredRecord[],
    prefix: string,
    suffix: string,
    frame: { head: string; tail: (rec: StoredRecord) => string } | undefined,
    alloc: AllocBuffer = allocUnsafe,
  ): Buffer<ArrayBuffer> => {
    // Pass 1: which records take the plain path, their frame tails, and an upper bound of the size.
    const slow = new Array<Buffer | undefined>(records.length);
    const tails = frame ? new Array<string>(records.length) : undefined;
    const frameHead = frame ? Buffer.from(frame.head, 'utf8') : undefined;
    let size = Buffer.byteLength(prefix) + Buffer.byteLength(suffix) + records.length;
    for (let i = 0; i < records.length; i++) {
      const rec = records[i]!;
      if (tails) {
        const tail = frame!.tail(rec);
        tails[i] = tail;
        size += frameHead!.length + Buffer.byteLength(tail);
      }
      const plain =
        format === 'json' &&
        rec.headers.length === 0 &&
        (rec.key === null || plainAsciiKey(rec.key)) &&
        (rec.value === null || plainJsonValue(rec.value));
      if (plain) {
        // head + offset + timestamp (each ≤ 21 characters) + the fixed field names + key + value.
        size += head.length + 96 + (rec.key?.length ?? 0) + (rec.value?.length ?? 0);
      } else {
        const bytes = Buffer.from(render(rec), 'utf8');
        slow[i] = bytes;
        size += bytes.length;
      }
    }
    // Pass 2: write.
    const out = alloc(size);
    let p = out.write(prefix, 0, 'utf8');
    const lead = frame ? frame.head : '';
    for (let i = 0; i < records.length; i++) {
      if (!frame && i > 0) out[p++] = COMMA;
      const bytes = slow[i];
      if (bytes) {
        if (frameHead) p += frameHead.copy(out, p);
        p += bytes.copy(out, p);
        if (tails) p += out.write(tails[i]!, p, 'utf8');
        continue;
      }
      // Three writes per record (native calls dominate at ~100 B a record): everything up to the
      // value (a plain key is printable ASCII, so its latin1 text is its JSON), the value's
      // bytes, and the rest.
      const rec = records[i]!;
      const key = rec.key === null ? 'null' : `"${rec.key.toString('latin1')}"`;
      p += out.write(`${lead}${headText}${rec.offset},"timestamp":${rec.timestamp},"key":${key},"value":`, p, 'utf8');
      if (rec.value === null) p += out.write('null', p, 'latin1');
      else p += rec.value.copy(out, p);
      p += out.write(tails ? EMPTY_HEADERS_TAIL + tails[i]! : EMPTY_HEADERS_TAIL, p, 'utf8');
    }
    p += out.write(suffix, p, 'utf8');
    return out.subarray(0, p);
  };
  const join = (records: readonly StoredRecord[], prefix: string, suffix: string) =>
    write(records, prefix, suffix, undefined);
  const frames = (records: readonly StoredRecord[], frameHead: string, tail: (rec: StoredRecord) => string) =>
    write(records, '', '', { head: frameHead, tail });
  const runs = runWriter(headText, format, render);
  const joinRun = (run: RecordRun, prefix: string, suffix: string, alloc?: AllocBuffer) =>
    run.isPacked && format === 'json'
      ? runs(run, prefix, suffix, undefined, alloc)
      : write(run.toRecords(), prefix, suffix, undefined, alloc);
  return {
    join,
    frames,
    joinRun,
    joinRunSlices: (run, prefix, suffix, sizes) => {
      const packed = run.isPacked && format === 'json';
      const records = packed ? undefined : run.toRecords();
      // A slice after the first opens with the comma that joins it to the one before.
      return slices(run.length, sizes.first, sizes.max, prefix, suffix, (from, to, before, after) =>
        records
          ? write(records.slice(from, to), before, after, undefined)
          : runs(run, before, after, undefined, allocUnsafe, from, to),
      );
    },
    framesRun: (run, frameHead, idHead, idTail) =>
      run.isPacked && format === 'json'
        ? runs(run, '', '', { head: frameHead, idHead, idTail })
        : frames(run.toRecords(), frameHead, (rec) => `${idHead}${rec.offset + 1}${idTail}`),
  };
}

/**
 * Records [0, n) in slices of `first` records, each the double of the one before up to `max`,
 * each written by `write` when the iterator reaches it.
 */
function* slices(
  n: number,
  first: number,
  max: number,
  prefix: string,
  suffix: string,
  write: (from: number, to: number, before: string, after: string) => Buffer<ArrayBuffer>,
): Generator<Buffer<ArrayBuffer>, undefined, undefined> {
  let step = Math.min(first, max);
  let from = 0;
  do {
    const to = Math.min(n, from + step);
    yield write(from, to, from === 0 ? prefix : ',', to === n ? suffix : '');
    from = to;
    step = Math.min(max, step * 2);
  } while (from < n);
  return undefined;
}

/**
 * Copies `len` bytes from `src` at `from` to `dst` at `to`, four at a time through DataViews:
 * for the ~100-byte fields of a record this beats both a byte loop and a native copy (whose
 * call costs more than the copy). Sixteen bytes a turn (four loads, then four stores) and
 * little-endian words (no byte swaps): ~40% less than a word a turn for 100 bytes.
 */
function copyBytes(dst: DataView, to: number, src: DataView, from: number, len: number): void {
  let k = 0;
  for (; k + 16 <= len; k += 16) {
    const a = src.getUint32(from + k, true);
    const b = src.getUint32(from + k + 4, true);
    const c = src.getUint32(from + k + 8, true);
    const d = src.getUint32(from + k + 12, true);
    dst.setUint32(to + k, a, true);
    dst.setUint32(to + k + 4, b, true);
    dst.setUint32(to + k + 8, c, true);
    dst.setUint32(to + k + 12, d, true);
  }
  for (; k + 4 <= len; k += 4) dst.setUint32(to + k, src.getUint32(from + k, true), true);
  for (; k < len; k++) dst.setUint8(to + k, src.getUint8(from + k));
}

/** Constant text as bytes, with a view to copy it from. */
interface Text {
  view: DataView;
  length: number;
}

function text(t: string): Text {
  const bytes = Buffer.from(t, 'utf8');
  return { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.length), length: bytes.length };
}

function put(out: DataView, p: number, t: Text): number {
  copyBytes(out, p, t.view, 0, t.length);
  return p + t.length;
}

/** Reversed digits of putInt. */
const DIGIT_SCRATCH = new Uint8Array(24);

/** Decimal digits of 0 ≤ m < 2^31. */
function digitCount(m: number): number {
  if (m < 100_000) return m < 100 ? (m < 10 ? 1 : 2) : m < 1000 ? 3 : m < 10_000 ? 4 : 5;
  return m < 10_000_000 ? (m < 1_000_000 ? 6 : 7) : m < 100_000_000 ? 8 : m < 1_000_000_000 ? 9 : 10;
}

/** `String(n)` of a safe integer, as ASCII bytes. */
function putInt(out: DataView, p: number, n: number): number {
  if (n < 0) {
    out.setUint8(p++, 0x2d);
    n = -n;
  }
  // Offsets mostly fit 31 bits: integer division by 10 compiles to a multiply, not a float divide,
  // and the digits are written in place from the last (their count known first).
  if (n <= 0x7fffffff) {
    let m = n | 0;
    const end = p + digitCount(m);
    let at = end;
    while (m >= 10) {
      const q = (m / 10) | 0;
      out.setUint8(--at, 0x30 + m - q * 10);
      m = q;
    }
    out.setUint8(at - 1, 0x30 + m);
    return end;
  }
  let k = 0;
  while (n >= 10) {
    const q = Math.floor(n / 10);
    DIGIT_SCRATCH[k++] = n - q * 10;
    n = q;
  }
  out.setUint8(p++, 0x30 + n);
  while (k > 0) out.setUint8(p++, 0x30 + DIGIT_SCRATCH[--k]!);
  return p;
}

/** A key JSON.stringify leaves as it is between quotes (printable ASCII without `"` or `\`), in place. */
function plainAsciiKeyIn(buf: Buffer, at: number, len: number): boolean {
  for (let i = at; i < at + len; i++) {
    const c = buf[i]!;
    if (c < 0x20 || c > 0x7e || c === QUOTE || c === BACKSLASH) return false;
  }
  return true;
}

/** Longest digits of a safe integer (with a sign). */
const INT_CHARS = 17;
const TIMESTAMP_FIELD = text(',"timestamp":');
const KEY_FIELD = text(',"key":');
const VALUE_FIELD = text(',"value":');
const NULL_TEXT = text('null');
const QUOTE_TEXT = text('"');
const EMPTY_HEADERS_TAIL_TEXT = text(EMPTY_HEADERS_TAIL);

const viewOf = (b: Buffer): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/**
 * A packed RecordRun of a json topic written straight from the log's bytes, byte-identical to
 * joining `render` of each record: a record without headers whose key is plain ASCII and whose
 * value is spliceable JSON text is written field by field (numbers as digits, key and value
 * copied from the batch); any other record is rendered by `render` and copied. A value whose
 * batch the produce path proved one-line JSON (RecordRun.oneLineJson) is not checked again.
 */
function runWriter(
  headText: string,
  format: ValueFormat,
  render: (rec: StoredRecord) => string,
): (
  run: RecordRun,
  prefix: string,
  suffix: string,
  frame: { head: string; idHead: string; idTail: string } | undefined,
  alloc?: AllocBuffer,
  from?: number,
  to?: number,
) => Buffer<ArrayBuffer> {
  const head = text(headText);
  // Records [from, to) of the run; the first of them is joined without a comma (`prefix` brings one).
  return (run, prefix, suffix, frame, alloc = allocUnsafe, from = 0, to = run.length) => {
    if (format !== 'json') throw new Error('runWriter: json topics only');
    const n = to - from;
    const frameHead = frame ? text(frame.head) : undefined;
    const idHead = frame ? text(frame.idHead) : undefined;
    const idTail = frame ? text(frame.idTail) : undefined;
    const frameBytes = frame ? frameHead!.length + idHead!.length + INT_CHARS + idTail!.length : 1;
    const fixed =
      head.length +
      INT_CHARS * 2 +
      TIMESTAMP_FIELD.length +
      KEY_FIELD.length +
      VALUE_FIELD.length +
      EMPTY_HEADERS_TAIL_TEXT.length +
      2 * NULL_TEXT.length;
    const views = run.bufs.map(viewOf);
    // Pass 1: which records are written in place, the rendered bytes of the others, the size.
    let slow: Array<Buffer | undefined> | undefined;
    let size = Buffer.byteLength(prefix) + Buffer.byteLength(suffix) + n * frameBytes;
    for (let i = from; i < to; i++) {
      const b = run.bufferIndex(i);
      const buf = run.bufs[b]!;
      const keyLen = run.keyLength(i);
      const valueLen = run.valueLength(i);
      let plain = run.headerCount(i) === 0 && Number.isSafeInteger(run.timestamp(i));
      if (plain && keyLen > 0) plain = plainAsciiKeyIn(buf, run.keyAt(i), keyLen);
      // A value its batch proved one-line JSON in valid UTF-8 when produce wrote it goes unchecked.
      if (plain && valueLen >= 0 && !run.oneLineJson(i)) {
        const at = run.valueAt(i);
        const splice = spliceableJson(buf, at, at + valueLen, views[b]);
        plain = splice === SPLICE_ASCII || (splice !== SPLICE_NO && isUtf8(buf.subarray(at, at + valueLen)));
      }
      if (plain) {
        size += fixed + Math.max(keyLen, 0) + Math.max(valueLen, 0) + 2;
      } else {
        const bytes = Buffer.from(render(run.record(i)), 'utf8');
        (slow ??= new Array<Buffer | undefined>(n))[i - from] = bytes;
        size += bytes.length;
      }
    }
    // Pass 2: write. Constant text between the variable fields is copied as one piece: what
    // leads a record (its frame head, a comma, the topic and partition), `,"timestamp":`,
    // `,"key":…,"value":`, and what ends it (empty headers, its id line's head).
    const out = alloc(size);
    const ov = viewOf(out);
    let p = out.write(prefix, 0, 'utf8');
    const lead = frame ? text(frame.head + headText) : text(`,${headText}`);
    const nullKey = text(',"key":null,"value":');
    const end = text(frame ? EMPTY_HEADERS_TAIL + frame.idHead : EMPTY_HEADERS_TAIL);
    // Records of one produce call share a timestamp: its digits are written once and copied.
    let lastTimestamp = NaN;
    let timestampAt = 0;
    let timestampLen = 0;
    // What lies between a null-key record's offset and its value (`,"timestamp":…,"key":null,
    // "value":`) is the same for the next with the same timestamp: copied as one piece.
    let midTimestamp = NaN;
    let midAt = 0;
    let midLen = 0;
    // An SSE event's id is the next offset: the next record's offset is its digits, copied.
    let lastId = NaN;
    let idAt = 0;
    let idLen = 0;
    for (let i = from; i < to; i++) {
      const bytes = slow?.[i - from];
      if (bytes) {
        if (frameHead) p = put(ov, p, frameHead);
        else if (i > from) ov.setUint8(p++, COMMA);
        p += bytes.copy(out, p);
        if (frame) p = put(ov, p, idHead!);
      } else {
        // The join's first record has no comma before it.
        if (frame || i > from) p = put(ov, p, lead);
        else {
          copyBytes(ov, p, lead.view, 1, lead.length - 1);
          p += lead.length - 1;
        }
        const src = views[run.bufferIndex(i)]!;
        const offset = run.offset(i);
        if (offset === lastId) {
          copyBytes(ov, p, ov, idAt, idLen);
          p += idLen;
        } else p = putInt(ov, p, offset);
        const ts = run.timestamp(i);
        const keyLen = run.keyLength(i);
        if (keyLen < 0 && ts === midTimestamp) {
          copyBytes(ov, p, ov, midAt, midLen);
          p += midLen;
        } else {
          const mid = p;
          p = put(ov, p, TIMESTAMP_FIELD);
          if (ts === lastTimestamp) {
            copyBytes(ov, p, ov, timestampAt, timestampLen);
            p += timestampLen;
          } else {
            const at = p;
            p = putInt(ov, p, ts);
            lastTimestamp = ts;
            timestampAt = at;
            timestampLen = p - at;
          }
          if (keyLen < 0) {
            p = put(ov, p, nullKey);
            midTimestamp = ts;
            midAt = mid;
            midLen = p - mid;
          }
        }
        if (keyLen >= 0) {
          p = put(ov, p, KEY_FIELD);
          p = put(ov, p, QUOTE_TEXT);
          copyBytes(ov, p, src, run.keyAt(i), keyLen);
          p = put(ov, p + keyLen, QUOTE_TEXT);
          p = put(ov, p, VALUE_FIELD);
        }
        const valueLen = run.valueLength(i);
        if (valueLen < 0) p = put(ov, p, NULL_TEXT);
        else {
          copyBytes(ov, p, src, run.valueAt(i), valueLen);
          p += valueLen;
        }
        p = put(ov, p, end);
      }
      if (frame) {
        lastId = run.offset(i) + 1;
        idAt = p;
        p = putInt(ov, p, lastId);
        idLen = p - idAt;
        p = put(ov, p, idTail!);
      }
    }
    p += out.write(suffix, p, 'utf8');
    return out.subarray(0, p);
  };
}
