// The quarantine marker of a partition directory: corruption found (by a read, the background
// scrub or the scan at start) is recorded, so a restart keeps the partition read-only until it is gone.
import { readSmallFile, writeFileAtomic, type LogFs } from './log-fs.js';
import type { LogLogger } from './logger.js';
import type { Segment } from './segment.js';

export const QUARANTINE_FILE = 'partition.quarantine';

export interface QuarantineMarker {
  /** The reason as the run that found the damage reported it. */
  reason: string;
  /** Base offset of the damaged segment; undefined when the marker does not say (every segment is checked). */
  segment: number | undefined;
}

export function writeQuarantineMarker(fs: LogFs, dir: string, marker: QuarantineMarker): Promise<void> {
  return writeFileAtomic(fs, dir, QUARANTINE_FILE, Buffer.from(JSON.stringify({ version: 1, ...marker })));
}

/**
 * Records a quarantine in the partition's marker; never rejects. A failed write is logged and
 * changes nothing now: the partition stays quarantined for this run either way.
 */
export async function recordQuarantine(
  fs: LogFs,
  dir: string,
  marker: QuarantineMarker,
  log: { logger: LogLogger; topicId: string; partition: number },
): Promise<void> {
  try {
    await writeQuarantineMarker(fs, dir, marker);
  } catch (e) {
    log.logger.error(
      { topicId: log.topicId, partition: log.partition, err: e },
      'writing the quarantine marker failed: a restart serves the partition until the damage is found again',
    );
  }
}

/** The marker, if the directory holds one; an unreadable one still counts (it names no segment). */
export async function readQuarantineMarker(fs: LogFs, dir: string): Promise<QuarantineMarker | undefined> {
  const data = await readSmallFile(fs, `${dir}/${QUARANTINE_FILE}`);
  if (!data) return undefined;
  try {
    const m = JSON.parse(data.toString('utf8')) as Partial<QuarantineMarker>;
    if (typeof m.reason === 'string')
      return { reason: m.reason, segment: Number.isSafeInteger(m.segment) ? m.segment : undefined };
  } catch {
    // Fall through: damaged marker, the partition is still checked whole.
  }
  return { reason: 'quarantine marker unreadable', segment: undefined };
}

export async function removeQuarantineMarker(fs: LogFs, dir: string): Promise<void> {
  await fs.unlink(`${dir}/${QUARANTINE_FILE}`);
  await fs.syncDir(dir);
}

/**
 * The first invalid batch of the segment the marker names (CRC-checked whole, offsets dense
 * from its base), or of every segment when it names none; undefined when the damage is gone
 * (the bytes verify, or the segment no longer exists).
 */
export async function findMarkedDamage(
  segments: Segment[],
  marker: QuarantineMarker,
): Promise<{ segment: Segment; position: number; reason: string } | undefined> {
  for (const seg of segments) {
    if (marker.segment !== undefined && seg.baseOffset !== marker.segment) continue;
    let failure: { segment: Segment; position: number; reason: string } | undefined;
    for await (const b of seg.scan(0, seg.size, seg.baseOffset, 1024 * 1024)) {
      if (!b.ok) failure = { segment: seg, position: b.position, reason: b.reason };
    }
    // Closed segments are reopened on demand: do not keep a descriptor for this check.
    if (seg !== segments[segments.length - 1]) await seg.release();
    if (failure) return failure;
  }
  return undefined;
}
