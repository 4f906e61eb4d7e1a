// Per-subscriber record filters for SSE (?key= and ?header.<name>=). Filtered-out records
// are still consumed: the stream's cursor moves past them so a resume never re-examines a gap.
import type { StoredRecord } from '../log/index.js';

/** All given conditions must hold; several values for one header name are alternatives. */
export interface RecordFilter {
  key: Buffer | null;
  headers: Array<{ name: string; values: Buffer[] }>;
}

/** Query prefix for header filters: `?header.trace-id=abc`. */
export const HEADER_FILTER_PREFIX = 'header.';

/**
 * Build a filter from query parameters (all values of every name); null when none is given,
 * so unfiltered subscribers can take the shared, pre-encoded frames.
 */
export function parseRecordFilter(query: Record<string, string[]>): RecordFilter | null {
  const keyValues = query['key'];
  const key = keyValues && keyValues.length > 0 ? Buffer.from(keyValues[keyValues.length - 1] ?? '', 'utf8') : null;
  const headers: RecordFilter['headers'] = [];
  for (const [param, values] of Object.entries(query)) {
    if (!param.startsWith(HEADER_FILTER_PREFIX) || param.length === HEADER_FILTER_PREFIX.length) continue;
    headers.push({
      name: param.slice(HEADER_FILTER_PREFIX.length),
      values: values.map((v) => Buffer.from(v, 'utf8')),
    });
  }
  return key === null && headers.length === 0 ? null : { key, headers };
}

/** Keys and header values compare as exact bytes (the UTF-8 of the query value). */
export function matchesFilter(filter: RecordFilter, record: StoredRecord): boolean {
  if (filter.key !== null && (record.key === null || !filter.key.equals(record.key))) return false;
  for (const condition of filter.headers) {
    const found = record.headers.some(
      (h) => h.key === condition.name && h.value !== null && condition.values.some((v) => v.equals(h.value as Buffer)),
    );
    if (!found) return false;
  }
  return true;
}
