// Stored records rendered straight to Record JSON text (reads, SSE): a json value is spliced in
// as the producer's own JSON text instead of being JSON.parsed and re-serialised per record.
import type { StoredRecord } from '../log/index.js';
import { renderRecord, type ValueFormat } from './record-codec.js';

const LF = 0x0a;
const CR = 0x0d;

/**
 * The JSON text of a stored json value, as sent to readers. Produce stores only text
 * JSON.parse accepted, so it is spliced as is; one holding a line break (a pretty-printed
 * value) is re-serialised instead, so a record's JSON is always one line (SSE `data:`,
 * NDJSON-minded clients). Invalid UTF-8 decodes to U+FFFD exactly as produce parsed it.
 */
function jsonValueText(value: Buffer): string {
  if (value.indexOf(LF) >= 0 || value.indexOf(CR) >= 0) {
    return JSON.stringify(JSON.parse(value.toString('utf8')) as unknown);
  }
  return value.toString('utf8');
}

function valueText(value: Buffer | null, format: ValueFormat): string {
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

/**
 * Renders records of one partition as Record JSON strings, the same fields in the same
 * order as `JSON.stringify(renderRecord(...))`: topic, partition, offset, timestamp, key,
 * value, headers. Only json values differ in bytes (the producer's spacing and number
 * spelling are kept); they parse to the same value.
 */
export function recordJsonRenderer(
  topic: string,
  partition: number,
  format: ValueFormat,
): (rec: StoredRecord) => string {
  const head = `{"topic":${JSON.stringify(topic)},"partition":${partition},"offset":`;
  return (rec) =>
    `${head}${rec.offset},"timestamp":${rec.timestamp},"key":${
      rec.key === null ? 'null' : JSON.stringify(rec.key.toString('utf8'))
    },"value":${valueText(rec.value, format)},"headers":${headersText(topic, partition, rec)}}`;
}
