// Opening one partition directory (DESIGN §4): find segments, finish an interrupted
// retention, scan from the recovery point, truncate a torn tail or quarantine corruption.
import type { LogFs } from './log-fs.js';
import type { LogLogger } from './logger.js';
import type { LogObserver } from './types.js';
import { readCheckpoint, writeCheckpoint, type RecoveryPosition } from './partition-checkpoint.js';
import { readAt } from './log-fs.js';
import { BATCH_HEADER_BYTES, MAGIC, batchAppendTime, readBatchHeader } from './record-batch.js';
import { LogCorruptionError, SEGMENT_FILE_RE, Segment } from './segment.js';
import { SegmentIndex } from './segment-index.js';
import type { HandlePool } from './handle-pool.js';
import {
  QUARANTINE_FILE,
  findMarkedDamage,
  readQuarantineMarker,
  recordQuarantine,
  removeQuarantineMarker,
} from './partition-quarantine.js';

export interface RecoveryContext {
  fs: LogFs;
  dir: string;
  topicId: string;
  partition: number;
  /** Whether the store found its clean-shutdown marker. */
  clean: boolean;
  now: number;
  maxIndexEntries: number;
  logger: LogLogger;
  /** The store's bound on open segment descriptors. */
  pool?: HandlePool;
  observer?: LogObserver | undefined;
}

export interface RecoveredPartition {
  segments: Segment[];
  startOffset: number;
  /** Offsets below this are known fsynced. */
  recoveryPoint: number;
  truncatedBytes: number;
  quarantineReason: string | undefined;
  /** Bytes read and CRC-checked by this recovery. */
  scannedBytes: number;
  /** The resume point the checkpoint holds now (a crash before the next flush resumes there). */
  recoveryPosition: RecoveryPosition | undefined;
}

/** Creates an empty segment file and makes its directory entry durable. */
export async function createSegmentFile(
  fs: LogFs,
  dir: string,
  base: number,
  now: number,
  maxIndexEntries: number,
  pool?: HandlePool,
): Promise<Segment> {
  const seg = new Segment(fs, dir, base, now, pool);
  await (await fs.open(seg.logPath, 'w')).close();
  await fs.syncDir(dir);
  seg.index = new SegmentIndex(maxIndexEntries);
  return seg;
}

/**
 * Makes a closed segment's index files hold `index`, which this start built from its
 * batches, where they do not already: the next read or start loads them instead of
 * rebuilding, and the scrub finds nothing to fix. Index files are hints: a failed rewrite
 * is logged, and they are checked again when next used.
 */
async function keepIndexFiles(seg: Segment, index: SegmentIndex, ctx: RecoveryContext, why: string): Promise<void> {
  const { topicId, partition, logger } = ctx;
  try {
    const files = await seg.readIndexFileBytes();
    const want = index.serialize();
    if (files.index?.equals(want.index) && files.timeIndex?.equals(want.timeIndex)) return;
    ctx.observer?.indexRebuilt?.();
    logger.warn(
      { topicId, partition, segment: seg.fileName, foundBy: 'recovery', entries: index.entries },
      `${why}: index files rewritten from the log`,
    );
    await seg.replaceIndexFiles(index);
  } catch (e) {
    logger.warn(
      { topicId, partition, segment: seg.fileName, err: e },
      'rewriting index files built at start failed: they are checked again when used',
    );
  }
}

interface SegmentScan {
  /** Failure position/offset, or undefined when the whole segment verified. */
  failure: { position: number; offset: number; reason: string } | undefined;
  /** Bytes read and verified. */
  scanned: number;
}

/** Where a resumed scan must pass: the checkpointed batch boundary. */
interface ScanThrough {
  position: number;
  offset: number;
  /** The scan starts at an index entry: a first batch that does not parse means the index is wrong, not the log. */
  fromIndexEntry: boolean;
}

/**
 * Scans `seg` from (position, offset) to its file size, feeding its index and summary.
 * With `through`, undefined when the batches do not meet the checkpointed boundary (the
 * index or the checkpoint does not describe this log: the caller scans the segment whole).
 */
async function scanSegment(
  seg: Segment,
  fromPos: number,
  fromOffset: number,
  now: number,
  through?: ScanThrough,
): Promise<SegmentScan | undefined> {
  const index = seg.index!;
  seg.endOffset = fromOffset;
  let good = fromPos;
  let first = true;
  for await (const b of seg.scan(fromPos, seg.size, fromOffset, 1024 * 1024)) {
    if (!b.ok) {
      if (first && through?.fromIndexEntry) return undefined;
      return {
        failure: { position: b.position, offset: seg.endOffset, reason: b.reason },
        scanned: b.position - fromPos,
      };
    }
    first = false;
    const end = b.position + b.header.sizeBytes;
    if (through) {
      if (b.position < through.position && end > through.position) return undefined;
      if (b.position === through.position && b.header.baseOffset !== through.offset) return undefined;
    }
    index.onBatch(b.header.baseOffset - seg.baseOffset, b.position, b.header.maxTimestamp);
    seg.endOffset = b.header.baseOffset + b.header.lastOffsetDelta + 1;
    seg.maxTimestamp = Math.max(seg.maxTimestamp, b.header.maxTimestamp);
    seg.lastAppendTime = Math.max(seg.lastAppendTime, batchAppendTime(b.buf, b.at, now));
    good = end;
  }
  if (through && good === through.position && seg.endOffset !== through.offset) return undefined;
  return {
    failure: good === seg.size ? undefined : { position: good, offset: seg.endOffset, reason: 'short_batch' },
    scanned: good - fromPos,
  };
}

/**
 * Resumes the scan of `seg` at a checkpointed position: the index as the flush made it
 * durable, checked cheaply at its last entry (the batch header there names the offset the
 * entry says and ends by the position), then CRC-checked batches from the position to the
 * end of the file. What lies below the position is re-read by the background scrub.
 * Undefined when the index files or the position do not fit the log; the caller then scans
 * the segment whole.
 */
async function resumeScan(seg: Segment, at: RecoveryPosition, ctx: RecoveryContext): Promise<SegmentScan | undefined> {
  const index = await seg.restoreIndex(at.index, at.position, at.offset, ctx.maxIndexEntries);
  if (!index) return undefined;
  const [rel, pos] = index.lastEntry();
  if (at.appendTime === undefined) {
    // A checkpoint that does not hold the newest append time: read it from the batches since the last entry.
    seg.index = index;
    seg.maxTimestamp = index.runningMax;
    const through = { position: at.position, offset: at.offset, fromIndexEntry: pos > 0 };
    return scanSegment(seg, pos, seg.baseOffset + rel, ctx.now, through);
  }
  if (at.position > 0) {
    const buf = await seg.use((h) => readAt(h, pos, BATCH_HEADER_BYTES));
    if (buf.length < BATCH_HEADER_BYTES) return undefined;
    const h = readBatchHeader(buf);
    const fits = h.sizeBytes >= BATCH_HEADER_BYTES && pos + h.sizeBytes <= at.position;
    if (h.magic !== MAGIC || h.baseOffset !== seg.baseOffset + rel || !fits) return undefined;
  }
  seg.index = index;
  seg.maxTimestamp = index.runningMax;
  seg.lastAppendTime = at.appendTime;
  return scanSegment(seg, at.position, at.offset, ctx.now);
}

export async function recoverPartition(ctx: RecoveryContext): Promise<RecoveredPartition> {
  const { fs, dir, logger } = ctx;
  const names = await fs.readdir(dir);
  for (const n of names.filter((n) => n.endsWith('.tmp'))) await fs.unlink(`${dir}/${n}`);
  // A marker is written by a run (or by this start, at its end): the listing says whether one is here.
  const marked = names.includes(QUARANTINE_FILE);
  const bases = names
    .map((n) => SEGMENT_FILE_RE.exec(n)?.[1])
    .filter((b): b is string => b !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  const cp = await readCheckpoint(fs, dir);
  if (bases.length === 0) {
    // Crashed between mkdir and the first segment, or every file was removed by hand:
    // continue after the last offset the checkpoint knows, never reusing one.
    const base = Math.max(cp?.startOffset ?? 0, cp?.recoveryPoint ?? 0);
    const seg = await createSegmentFile(fs, dir, base, ctx.now, ctx.maxIndexEntries, ctx.pool);
    await writeCheckpoint(fs, dir, { startOffset: base, recoveryPoint: base });
    if (marked) await removeQuarantineMarker(fs, dir); // no bytes, no damage
    return {
      segments: [seg],
      startOffset: base,
      recoveryPoint: base,
      truncatedBytes: 0,
      quarantineReason: undefined,
      scannedBytes: 0,
      recoveryPosition: undefined,
    };
  }
  let segments = bases.map((b) => new Segment(fs, dir, b, ctx.now, ctx.pool));
  for (const seg of segments) seg.size = (await fs.stat(seg.logPath)).size;

  let checkpointed = cp?.recoveryPosition;
  // A write failed and its truncate failed too: cut the unacknowledged bytes now.
  const fence = cp?.discard;
  const fenced = fence && segments.findIndex((s) => s.baseOffset === fence.segment);
  if (fence && fenced !== undefined && fenced >= 0) {
    const seg = segments[fenced]!;
    let dropped = 0;
    if (seg.size > fence.position) {
      dropped += seg.size - fence.position;
      await seg.use(async (h) => {
        await h.truncate(fence.position);
        await h.datasync();
      });
      seg.size = fence.position;
    }
    for (const later of segments.slice(fenced + 1)) {
      dropped += later.size;
      await later.deleteFiles();
    }
    segments = segments.slice(0, fenced + 1);
    await fs.syncDir(dir);
    // The fence follows what was fsynced; a resume point past it would not describe this log.
    const past = (p: RecoveryPosition): boolean =>
      p.segment > fence.segment || (p.segment === fence.segment && p.position > fence.position);
    if (checkpointed && past(checkpointed)) checkpointed = undefined;
    await writeCheckpoint(fs, dir, {
      startOffset: cp.startOffset,
      recoveryPoint: cp.recoveryPoint,
      recoveryPosition: checkpointed,
    });
    logger.warn(
      { topicId: ctx.topicId, partition: ctx.partition, position: fence.position, bytesDropped: dropped },
      'cut an unacknowledged write fenced by the checkpoint',
    );
  }

  // Retention checkpoints the new start before unlinking: finish what a crash interrupted.
  let startOffset = Math.max(cp?.startOffset ?? 0, segments[0]!.baseOffset);
  while (segments.length > 1 && segments[1]!.baseOffset <= startOffset) {
    await segments.shift()!.deleteFiles();
    await fs.syncDir(dir);
  }
  startOffset = segments[0]!.baseOffset;
  segments.forEach((seg, i) => {
    const next = segments[i + 1];
    if (next) seg.endOffset = next.baseOffset;
  });

  const recoveryPoint = Math.max(cp?.recoveryPoint ?? 0, startOffset);
  const last = segments.length - 1;
  let scanFrom = last;
  if (!ctx.clean) {
    scanFrom = 0;
    for (let i = 0; i < segments.length; i++) if (segments[i]!.baseOffset <= recoveryPoint) scanFrom = i;
  }

  let quarantineReason: string | undefined;
  /** Base offset of the segment where this start found the damage it quarantines for. */
  let damaged: number | undefined;
  let scannedBytes = 0;
  // Closed segments below the scan start were fsynced at roll: trust the log, load the
  // index only to learn their newest timestamp, rebuilding it (and its files) if the files
  // are unusable.
  for (let i = 0; i < scanFrom; i++) {
    const seg = segments[i]!;
    try {
      let index = await seg.readIndexFiles(ctx.maxIndexEntries);
      if (!index) {
        index = await seg.rebuildIndex(ctx.maxIndexEntries);
        if (!quarantineReason) await keepIndexFiles(seg, index, ctx, 'index files missing or not plausible');
      }
      seg.maxTimestamp = index.runningMax;
      // Cheap tail check: from the last index entry the batches must reach exactly the end
      // of the file and the next segment's base offset.
      const [rel, pos] = index.lastEntry();
      let end = pos;
      let next = seg.baseOffset + rel;
      let tailMax = -1;
      scannedBytes += seg.size - pos;
      for await (const b of seg.scan(pos, seg.size, next, 64 * 1024)) {
        if (!b.ok) break;
        // Append times grow with offsets: the tail's batches hold the segment's newest.
        seg.lastAppendTime = Math.max(seg.lastAppendTime, batchAppendTime(b.buf, b.at, ctx.now));
        tailMax = Math.max(tailMax, b.header.maxTimestamp);
        end = b.position + b.header.sizeBytes;
        next = b.header.baseOffset + b.header.lastOffsetDelta + 1;
      }
      // A time index whose newest timestamp is below the tail's is not this log's: a lookup by
      // time would skip the segment. Its newest timestamp comes from the log instead.
      if (tailMax > index.runningMax) {
        logger.warn(
          { topicId: ctx.topicId, partition: ctx.partition, segment: seg.fileName },
          'time index disagrees with the log: rebuilt from the log',
        );
        const rebuilt = await seg.rebuildIndex(ctx.maxIndexEntries);
        seg.maxTimestamp = rebuilt.runningMax;
        if (!quarantineReason) await keepIndexFiles(seg, rebuilt, ctx, 'time index disagrees with the log');
      }
      if (end !== seg.size || next !== seg.endOffset) {
        throw new LogCorruptionError(
          `segment ${seg.fileName}: closed segment ends at byte ${end}, offset ${next}; expected ${seg.size}, ${seg.endOffset}`,
        );
      }
    } catch (e) {
      if (!(e instanceof LogCorruptionError)) throw e;
      damaged ??= seg.baseOffset;
      quarantineReason ??= `${e.message} (below the recovery point ${recoveryPoint})`;
      logger.error(
        { topicId: ctx.topicId, partition: ctx.partition, err: e },
        'log corruption below the recovery point: partition quarantined read-only',
      );
    }
    seg.index = undefined;
    await seg.release();
  }

  let truncatedBytes = 0;
  let resumedAt: RecoveryPosition | undefined;
  for (let i = scanFrom; i < segments.length && !quarantineReason; i++) {
    const seg = segments[i]!;
    const prevEnd = i > 0 ? segments[i - 1]!.endOffset : seg.baseOffset;
    let scan: SegmentScan | undefined;
    let short: string | undefined;
    if (seg.baseOffset !== prevEnd) {
      scan = {
        failure: { position: 0, offset: prevEnd, reason: `segment base ${seg.baseOffset} does not follow ${prevEnd}` },
        scanned: 0,
      };
    } else {
      const at = !ctx.clean && checkpointed?.segment === seg.baseOffset ? checkpointed : undefined;
      if (at && seg.size < at.position) {
        // Bytes fsynced before the checkpoint are gone: corruption below the recovery point.
        short = `segment ${seg.fileName}: ${seg.size} bytes, shorter than the ${at.position} bytes (up to offset ${at.offset}) checkpointed as fsynced`;
      } else if (at) {
        scan = await resumeScan(seg, at, ctx);
        if (scan) resumedAt = at;
        else
          logger.warn(
            { topicId: ctx.topicId, partition: ctx.partition, segment: seg.fileName, position: at.position },
            'index files do not match the checkpointed recovery position: scanning the segment whole',
          );
      }
      if (!scan) {
        // A clean shutdown left a valid index for the active segment: verify only its tail.
        const loaded =
          ctx.clean && i === last ? await seg.readIndexFiles(ctx.maxIndexEntries, Number.MAX_SAFE_INTEGER) : undefined;
        const [rel, pos] = loaded ? loaded.lastEntry() : [0, 0];
        seg.index = loaded ?? new SegmentIndex(ctx.maxIndexEntries);
        if (!loaded) seg.indexOnDisk = undefined;
        seg.maxTimestamp = loaded ? loaded.runningMax : -1;
        seg.lastAppendTime = -1;
        scan = (await scanSegment(seg, pos, seg.baseOffset + rel, ctx.now))!;
      }
    }
    scannedBytes += scan.scanned;
    if (short) {
      damaged = seg.baseOffset;
      quarantineReason = `${short} (below the recovery point ${recoveryPoint})`;
      logger.error(
        { topicId: ctx.topicId, partition: ctx.partition, size: seg.size, position: checkpointed?.position },
        'log corruption below the recovery point: partition quarantined read-only',
      );
      if (scan.failure) {
        seg.size = scan.failure.position;
        seg.endOffset = scan.failure.offset;
      }
      segments = segments.slice(0, i + 1);
      break;
    }
    if (!scan.failure) {
      if (i < last) {
        // A closed segment scanned whole or from the checkpoint: its index is complete.
        await keepIndexFiles(seg, seg.index!, ctx, 'index files of a closed segment scanned at start differ');
        seg.index = undefined;
      }
      continue;
    }
    const { position, offset, reason } = scan.failure;
    if (offset < recoveryPoint) {
      damaged = seg.baseOffset;
      quarantineReason = `segment ${seg.fileName}: invalid batch (${reason}) at byte ${position}, offset ${offset}, below the recovery point ${recoveryPoint}`;
      logger.error(
        { topicId: ctx.topicId, partition: ctx.partition, offset, position, reason },
        'log corruption below the recovery point: partition quarantined read-only',
      );
      seg.size = position;
      seg.endOffset = offset;
      segments = segments.slice(0, i + 1);
      break;
    }
    // A torn tail: cut at the last valid batch, drop everything after it.
    const later = segments.slice(i + 1);
    const dropped = seg.size - position + later.reduce((n, s) => n + s.size, 0);
    const dropWhole = position === 0 && i > 0;
    if (dropWhole) {
      await seg.deleteFiles();
    } else {
      await seg.use(async (h) => {
        await h.truncate(position);
        await h.datasync();
      });
      seg.size = position;
      seg.endOffset = offset;
    }
    for (const s of later) await s.deleteFiles();
    await fs.syncDir(dir);
    segments = segments.slice(0, dropWhole ? i : i + 1);
    truncatedBytes = dropped;
    logger.warn(
      { topicId: ctx.topicId, partition: ctx.partition, offset, position, reason, bytesDropped: dropped },
      'truncated torn log tail',
    );
    break;
  }

  // Corruption a read or the scrub found in an earlier run is not where this start scans:
  // the marker it left keeps the partition quarantined until those bytes verify again.
  const marker = marked && !quarantineReason ? await readQuarantineMarker(fs, dir) : undefined;
  if (quarantineReason && !marked) {
    // Recorded as a read or the scrub records it, so a start that does not scan there (a clean
    // one) keeps the quarantine too. A marker already there keeps naming the damage it found.
    const log = { logger, topicId: ctx.topicId, partition: ctx.partition };
    await recordQuarantine(fs, dir, { reason: quarantineReason, segment: damaged }, log);
  } else if (marker) {
    const damage = await findMarkedDamage(segments, marker);
    if (damage) {
      quarantineReason = `${marker.reason} (still invalid at this start: ${damage.reason} at byte ${damage.position} of segment ${damage.segment.fileName})`;
      logger.error(
        { topicId: ctx.topicId, partition: ctx.partition, position: damage.position, reason: damage.reason },
        'log corruption recorded by an earlier run is still there: partition quarantined read-only',
      );
    } else {
      await removeQuarantineMarker(fs, dir);
      logger.warn(
        { topicId: ctx.topicId, partition: ctx.partition, quarantined: marker.reason },
        'the corruption a quarantine marker recorded is gone: partition served again',
      );
    }
  }

  const active = segments[segments.length - 1]!;
  if (!active.index) {
    active.index = quarantineReason
      ? new SegmentIndex(ctx.maxIndexEntries)
      : await active.loadIndex(ctx.maxIndexEntries);
  }
  let recoveryPosition: RecoveryPosition | undefined;
  let durable = recoveryPoint;
  if (!quarantineReason) {
    // The resume point stays valid while its bytes and index files do (a tail cut after it
    // keeps them); the first flush after open moves it, with the recovery point, to the end.
    // Until then the tail the scan read counts as unflushed, as it was before the crash: the
    // start itself writes nothing when nothing was cut.
    const keep = resumedAt ?? (ctx.clean ? checkpointed : undefined);
    if (keep && keep.segment === active.baseOffset && keep.position <= active.size) recoveryPosition = keep;
    durable = Math.min(recoveryPoint, active.endOffset);
    const stale = !cp || cp.recoveryPoint !== durable || cp.startOffset !== startOffset;
    if (stale || recoveryPosition !== checkpointed)
      await writeCheckpoint(fs, dir, { startOffset, recoveryPoint: durable, recoveryPosition });
  }
  return {
    segments,
    startOffset,
    recoveryPoint: durable,
    truncatedBytes,
    quarantineReason,
    scannedBytes,
    recoveryPosition,
  };
}
