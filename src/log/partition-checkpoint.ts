// The per-partition checkpoint file: start offset (advanced by retention), recovery point
// (every offset below it was fsynced) and where in the log a restart may resume its scan,
// written tmp → fsync → rename → fsync dir.
import { readSmallFile, writeFileAtomic, type LogFs } from './log-fs.js';
import type { IndexMark } from './segment-index.js';

export const CHECKPOINT_FILE = 'partition.checkpoint';

/**
 * A point in the log up to which the data was fsynced and the segment's index files were
 * made durable before the checkpoint was written: recovery after a crash loads that index
 * and CRC-scans only from `position` (offset `offset`) of segment `segment`. A checkpoint
 * without it (older versions) means a scan of the whole segment holding the recovery point.
 */
export interface RecoveryPosition {
  /** Base offset of the segment. */
  segment: number;
  /** Byte position of the first batch after the checkpointed part (a batch boundary). */
  position: number;
  /** Offset of the batch at `position`. */
  offset: number;
  index: IndexMark;
  /** Append time of the segment's newest batch before `position` (-1: none); absent in older checkpoints. */
  appendTime?: number;
}

export interface PartitionCheckpoint {
  startOffset: number;
  recoveryPoint: number;
  recoveryPosition?: RecoveryPosition | undefined;
  /**
   * A fence left when a failed write could not be truncated: recovery cuts the segment
   * with this base offset at `position` (and drops later segments) before it scans.
   */
  discard?: { segment: number; position: number };
}

const int = (v: unknown, min = 0): v is number => Number.isSafeInteger(v) && (v as number) >= min;

function parsePosition(v: unknown): RecoveryPosition | undefined {
  const p = v as Partial<RecoveryPosition> | undefined;
  const m = p?.index as Partial<IndexMark> | undefined;
  if (!p || !m || !int(p.segment) || !int(p.position) || !int(p.offset) || p.offset < p.segment) return undefined;
  if (!int(m.entries) || !int(m.timeEntries) || !int(m.lastTimestamp, Number.MIN_SAFE_INTEGER)) return undefined;
  if (!int(m.lastTimeRel) || !int(m.lastTimePosition)) return undefined;
  return {
    segment: p.segment,
    position: p.position,
    offset: p.offset,
    ...(int(p.appendTime, -1) && { appendTime: p.appendTime }),
    index: {
      entries: m.entries,
      timeEntries: m.timeEntries,
      lastTimestamp: m.lastTimestamp,
      lastTimeRel: m.lastTimeRel,
      lastTimePosition: m.lastTimePosition,
    },
  };
}

export async function readCheckpoint(fs: LogFs, dir: string): Promise<PartitionCheckpoint | undefined> {
  const data = await readSmallFile(fs, `${dir}/${CHECKPOINT_FILE}`);
  if (!data) return undefined;
  try {
    const parsed = JSON.parse(data.toString('utf8')) as Partial<PartitionCheckpoint>;
    if (Number.isSafeInteger(parsed.startOffset) && Number.isSafeInteger(parsed.recoveryPoint)) {
      const d = parsed.discard;
      const discard =
        d && Number.isSafeInteger(d.segment) && Number.isSafeInteger(d.position) && d.position >= 0
          ? { segment: d.segment, position: d.position }
          : undefined;
      const recoveryPosition = parsePosition(parsed.recoveryPosition);
      return {
        startOffset: parsed.startOffset!,
        recoveryPoint: parsed.recoveryPoint!,
        ...(recoveryPosition && { recoveryPosition }),
        ...(discard && { discard }),
      };
    }
  } catch {
    // An unreadable checkpoint only costs a longer recovery scan.
  }
  return undefined;
}

export function writeCheckpoint(fs: LogFs, dir: string, cp: PartitionCheckpoint): Promise<void> {
  return writeFileAtomic(fs, dir, CHECKPOINT_FILE, Buffer.from(JSON.stringify({ version: 1, ...cp })));
}
