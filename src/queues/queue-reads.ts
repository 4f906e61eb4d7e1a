// Log reads for queues: the records behind a set of leased offsets, and the key hashes an
// ordered_by_key queue needs to decide which records may be leased.
import { createHash } from 'node:crypto';
import type { PartitionLog, StoredRecord } from '../log/index.js';
import type { PartitionState } from './partition-state.js';

const READ_BYTES = 8 * 1024 * 1024;

/** The records at `offsets` (any order), read in contiguous runs; offsets gone to retention are absent. */
export async function readRecords(log: PartitionLog, offsets: number[]): Promise<Map<number, StoredRecord>> {
  const out = new Map<number, StoredRecord>();
  await visitRecords(log, offsets, (rec) => out.set(rec.offset, copy(rec)));
  return out;
}

/**
 * Call `visit` with each record at `offsets` (in offset order, read in contiguous runs). The
 * record's buffers are only valid during the call: render or copy them there.
 */
export async function visitRecords(
  log: PartitionLog,
  offsets: number[],
  visit: (rec: StoredRecord) => void,
): Promise<void> {
  const sorted = [...offsets].sort((a, b) => a - b);
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    let from = Math.max(sorted[i]!, log.startOffset());
    const last = sorted[j]!;
    while (from <= last) {
      const batch = await log.read(from, { maxRecords: last - from + 1, maxBytes: READ_BYTES });
      if (!batch.ok || batch.value.records.length === 0) break;
      for (const rec of batch.value.records) if (rec.offset <= last) visit(rec);
      from = batch.value.nextOffset;
    }
    i = j + 1;
  }
}

/** Buffers from a read may be views into a shared buffer: keep our own. */
function copy(rec: StoredRecord): StoredRecord {
  return {
    offset: rec.offset,
    timestamp: rec.timestamp,
    key: rec.key === null ? null : Buffer.from(rec.key),
    value: rec.value === null ? null : Buffer.from(rec.value),
    headers: rec.headers.map((h) => ({ key: h.key, value: h.value === null ? null : Buffer.from(h.value) })),
  };
}

/** A short, stable hash of a record key (null keys impose no order). */
export function keyHash(key: Buffer | null): string | null {
  return key === null ? null : createHash('sha256').update(key).digest('base64url').slice(0, 16);
}

/**
 * Key hashes of the records from the window start up to `limit` (exclusive); the returned
 * lookup answers undefined past what was read, which stops acquisition there.
 */
export async function keyHashesFor(
  log: PartitionLog,
  state: PartitionState,
  limit: number,
): Promise<(offset: number) => string | null | undefined> {
  const hashes = new Map<number, string | null>();
  let from = Math.max(state.startOffset, log.startOffset());
  while (from < limit) {
    const batch = await log.read(from, { maxRecords: Math.min(1000, limit - from), maxBytes: READ_BYTES });
    if (!batch.ok || batch.value.records.length === 0) break;
    for (const rec of batch.value.records) hashes.set(rec.offset, keyHash(rec.key));
    from = batch.value.nextOffset;
  }
  return (offset) => hashes.get(offset);
}
