// Stored records rendered straight to Record JSON text (reads, SSE): a json value is spliced in
// as the producer's own JSON text instead of being JSON.parsed and re-serialised per record.
import { isUtf8 } from 'node:buffer';
import type { StoredRecord } from '../log/index.js';
import { renderRecord, UNRENDERABLE_VALUE_ENCODING, type ValueFormat } from './record-codec.js';
import { compactJsonText, isJsonText } from './record-json-scan.js';

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

/** Many records of one partition written straight into one UTF-8 buffer. */
export interface RecordJsonWriter {
  /** `prefix` + the Record JSON of each record, joined by commas, + `suffix` (a read response). */
  join(records: readonly StoredRecord[], prefix: string, suffix: string): Buffer<ArrayBuffer>;
  /** For each record: `head` + its Record JSON + `tail(record)` (SSE events). */
  frames(records: readonly StoredRecord[], head: string, tail: (rec: StoredRecord) => string): Buffer<ArrayBuffer>;
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
    const out = Buffer.allocUnsafe(size);
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
  return {
    join: (records, prefix, suffix) => write(records, prefix, suffix, undefined),
    frames: (records, frameHead, tail) => write(records, '', '', { head: frameHead, tail }),
  };
}
