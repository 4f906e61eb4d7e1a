// The per-partition checkpoint file: start offset (advanced by retention) and recovery
// point (every offset below it was fsynced), written tmp → fsync → rename → fsync dir.
import { readSmallFile, writeFileAtomic, type LogFs } from './log-fs.js';

export const CHECKPOINT_FILE = 'partition.checkpoint';

export interface PartitionCheckpoint {
  startOffset: number;
  recoveryPoint: number;
  /**
   * A fence left when a failed write could not be truncated: recovery cuts the segment
   * with this base offset at `position` (and drops later segments) before it scans.
   */
  discard?: { segment: number; position: number };
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
      return { startOffset: parsed.startOffset!, recoveryPoint: parsed.recoveryPoint!, ...(discard && { discard }) };
    }
  } catch {
    // An unreadable checkpoint only costs a longer recovery scan.
  }
  return undefined;
}

export function writeCheckpoint(fs: LogFs, dir: string, cp: PartitionCheckpoint): Promise<void> {
  return writeFileAtomic(fs, dir, CHECKPOINT_FILE, Buffer.from(JSON.stringify({ version: 1, ...cp })));
}
