// Walks the record batches of one segment file with positional reads in bounded chunks:
// the one loop behind reads, recovery scans, index rebuilds, timestamp and tag lookups.
import { readAt, type LogFileHandle } from './log-fs.js';
import {
  BATCH_HEADER_BYTES,
  LOG_OVERHEAD,
  MAX_BATCH_BYTES,
  batchSizeAt,
  checkBatch,
  type BatchCheck,
  type BatchHeader,
} from './record-batch.js';

export interface ScannedBatch {
  ok: true;
  /** File position of the batch. */
  position: number;
  header: BatchHeader;
  /** Buffer holding the batch at `at` (a chunk shared with neighbouring batches). */
  buf: Buffer;
  at: number;
}

export interface ScanFailure {
  ok: false;
  position: number;
  /** Offset the failed batch should have started at (when known). */
  expectedOffset: number | undefined;
  reason: Exclude<BatchCheck, { ok: true }>['reason'];
}

export interface ScanOptions {
  /** Base offset the first batch must have; later ones must follow densely. */
  expectedBase?: number | undefined;
  /** Read size per I/O (a larger batch is read whole). */
  chunkBytes?: number;
}

/**
 * Yields every batch from `start` to `end` (exclusive), each verified (length, magic,
 * CRC32C, continuity). Stops after yielding the first failure.
 */
export async function* scanBatches(
  handle: LogFileHandle,
  start: number,
  end: number,
  options: ScanOptions = {},
): AsyncGenerator<ScannedBatch | ScanFailure> {
  const chunkBytes = options.chunkBytes ?? 256 * 1024;
  let expected = options.expectedBase;
  let pos = start;
  while (pos < end) {
    let buf = await readAt(handle, pos, Math.min(chunkBytes, end - pos));
    if (buf.length >= LOG_OVERHEAD) {
      const size = batchSizeAt(buf, 0);
      if (size > buf.length && size <= MAX_BATCH_BYTES && size <= end - pos) buf = await readAt(handle, pos, size);
    }
    let at = 0;
    for (;;) {
      const remainingInFile = end - (pos + at);
      if (remainingInFile === 0) break;
      const avail = buf.length - at;
      // A batch straddling the chunk boundary is re-read in the next chunk, unless it
      // is the chunk's first batch (then the file itself is short: a torn tail).
      if (at > 0 && (avail < BATCH_HEADER_BYTES || batchSizeAt(buf, at) > avail)) {
        if (avail < LOG_OVERHEAD || batchSizeAt(buf, at) <= remainingInFile) break;
      }
      const check = checkBatch(buf, at, buf.length, expected);
      if (!check.ok) {
        yield { ok: false, position: pos + at, expectedOffset: expected, reason: check.reason };
        return;
      }
      yield { ok: true, position: pos + at, header: check.header, buf, at };
      expected = check.header.baseOffset + check.header.lastOffsetDelta + 1;
      at += check.header.sizeBytes;
    }
    if (at === 0) return; // unreachable: the first batch always yields or fails
    pos += at;
  }
}
