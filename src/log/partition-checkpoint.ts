// The per-partition checkpoint file: start offset (advanced by retention) and recovery
// point (every offset below it was fsynced), written tmp → fsync → rename → fsync dir.
import { readSmallFile, writeFileAtomic, type LogFs } from './log-fs.js';

export const CHECKPOINT_FILE = 'partition.checkpoint';

export interface PartitionCheckpoint {
  startOffset: number;
  recoveryPoint: number;
}

export async function readCheckpoint(fs: LogFs, dir: string): Promise<PartitionCheckpoint | undefined> {
  const data = await readSmallFile(fs, `${dir}/${CHECKPOINT_FILE}`);
  if (!data) return undefined;
  try {
    const parsed = JSON.parse(data.toString('utf8')) as Partial<PartitionCheckpoint>;
    if (Number.isSafeInteger(parsed.startOffset) && Number.isSafeInteger(parsed.recoveryPoint)) {
      return { startOffset: parsed.startOffset!, recoveryPoint: parsed.recoveryPoint! };
    }
  } catch {
    // An unreadable checkpoint only costs a longer recovery scan.
  }
  return undefined;
}

export function writeCheckpoint(fs: LogFs, dir: string, cp: PartitionCheckpoint): Promise<void> {
  return writeFileAtomic(fs, dir, CHECKPOINT_FILE, Buffer.from(JSON.stringify({ version: 1, ...cp })));
}
