// Which whole segments retention removes, shared by both stores so they agree: closed
// segments whose last append is past retention_ms, then oldest closed ones over retention_bytes.
// Append time, not record timestamps: producers choose those, and one stamped far ahead would
// hold its whole partition (deletion is prefix-only), one stamped in the past would go at once.
import type { PartitionConfig } from './types.js';

export interface SegmentSummary {
  sizeBytes: number;
  /** When the segment's last batch was appended (Unix ms); -1 when empty. */
  lastAppendTime: number;
  empty: boolean;
}

export interface RetentionPlan {
  /** Roll the active segment first, because every record in it has expired. */
  rollActive: boolean;
  /** Number of leading segments to delete (after the roll, if any). */
  deleteCount: number;
}

/**
 * Plans retention for segments in offset order (last = active). The active segment is
 * never deleted; when it too has expired by time it is rolled so it can be, and the new
 * empty active segment keeps the next offset so offsets are never reused.
 */
export function planRetention(segments: SegmentSummary[], config: PartitionConfig, now: number): RetentionPlan {
  const expired = (s: SegmentSummary): boolean =>
    config.retentionMs >= 0 && !s.empty && s.lastAppendTime < now - config.retentionMs;
  const active = segments[segments.length - 1];
  const rollActive = active !== undefined && expired(active) && segments.slice(0, -1).every(expired);
  const closed = rollActive ? segments.length : segments.length - 1;
  let deleteCount = 0;
  while (deleteCount < closed && expired(segments[deleteCount]!)) deleteCount++;
  if (config.retentionBytes >= 0) {
    let total = 0;
    for (const s of segments) total += s.sizeBytes;
    for (let i = 0; i < deleteCount; i++) total -= segments[i]!.sizeBytes;
    while (deleteCount < segments.length - 1 && total > config.retentionBytes) {
      total -= segments[deleteCount]!.sizeBytes;
      deleteCount++;
    }
  }
  return { rollActive, deleteCount };
}
