// Stored records rendered straight to Record JSON text (reads, SSE): a json value is spliced in
// as the producer's own JSON text instead of being JSON.parsed and re-serialised per record.
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
export function recordJsonRenderer(
  topic: string,
  partition: number,
  format: ValueFormat,
): (rec: StoredRecord) => string {
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
