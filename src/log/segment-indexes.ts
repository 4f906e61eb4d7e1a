// The segment indexes one partition reads through: closed segments' loaded on demand and kept
// LRU-bounded, and any found to disagree with the log rebuilt from it (DESIGN §4: only a hint).
import type { LogLogger } from './logger.js';
import { SegmentIndex } from './segment-index.js';
import type { Segment } from './segment.js';
import type { LogObserver } from './types.js';

/** What the indexes need of their partition (FilePartitionLog). */
export interface IndexedPartition {
  readonly topicId: string;
  readonly partition: number;
  readonly maxIndexEntries: number;
  /** Closed segments whose index is kept in memory. */
  readonly openSegments: number;
  readonly logger: LogLogger;
  readonly observer?: LogObserver | undefined;
  isActive(seg: Segment): boolean;
  /** Whether `seg` is still part of the log (retention did not delete it). */
  holds(seg: Segment): boolean;
  /** Whether index files may be rewritten (not read-only, not closed). */
  writable(): boolean;
  /** Runs `run` on the writer, in order with appends, rolls and retention. */
  onWriter(run: () => Promise<void>): Promise<void>;
  /** Quarantines the partition for an invalid batch and throws. */
  corrupt(seg: Segment, position: number, reason: string): never;
}

export class SegmentIndexes {
  /** Closed segments whose index is loaded, least recently used first. */
  private readonly loaded: Segment[] = [];
  /** Rebuilds under way, one per segment, shared by the callers that found it wrong. */
  private readonly rebuilding = new Map<Segment, Promise<SegmentIndex>>();
  /** Segments whose rebuild found an invalid batch: an index mismatch there is the log's. */
  private readonly unreadable = new WeakMap<Segment, { position: number; reason: string }>();

  constructor(private readonly p: IndexedPartition) {}

  /** `seg`'s index: the active one's is always loaded, a closed one's from its files or the log. */
  async of(seg: Segment): Promise<SegmentIndex> {
    const index =
      seg.index ??
      (await seg.readIndexFiles(this.p.maxIndexEntries)) ??
      (await this.rebuild(seg, 'index files missing or not plausible for the segment', 'read'));
    if (!this.p.isActive(seg)) this.keep(seg, index);
    return index;
  }

  /** Whether a closed segment's index (and so its handle) is kept open. */
  keeps(seg: Segment): boolean {
    return this.loaded.includes(seg);
  }

  /** Drops a segment retention deleted. */
  forget(seg: Segment): void {
    const at = this.loaded.indexOf(seg);
    if (at >= 0) this.loaded.splice(at, 1);
  }

  private keep(seg: Segment, index: SegmentIndex): void {
    seg.index = index;
    this.forget(seg);
    this.loaded.push(seg);
    while (this.loaded.length > this.p.openSegments) {
      const evicted = this.loaded.shift()!;
      evicted.index = undefined;
      void evicted.release();
    }
  }

  /**
   * An index entry (relative offset, position) did not name the batch found at its position
   * (`found`). The index is only a hint: it is rebuilt from the log and the caller seeks
   * again (`attempt` counts the seeks). If a rebuild already found an invalid batch, or a
   * rebuilt index still disagrees, the log itself is bad: quarantine.
   */
  async mismatch(seg: Segment, attempt: number, entry: [number, number], found: string): Promise<void> {
    const bad = this.unreadable.get(seg);
    if (bad) this.p.corrupt(seg, bad.position, bad.reason);
    const [rel, pos] = entry;
    const what = `index entry (offset ${seg.baseOffset + rel} at byte ${pos}) ${found}`;
    if (attempt > 0) this.p.corrupt(seg, pos, `${what} after a rebuild`);
    await this.rebuild(seg, what, 'read');
  }

  /**
   * Compares `seg`'s index with `fresh`, built by the scrub from its batches below `end`:
   * the one in memory (for the part scanned) and, for a closed segment scanned whole, the
   * files a restart would load. Rebuilds where they differ (from `fresh` when it is whole).
   */
  async check(seg: Segment, fresh: SegmentIndex, end: number): Promise<void> {
    const whole = !this.p.isActive(seg) && end === seg.size;
    let wrong: string | undefined;
    if (seg.index && !seg.index.agreesWith(fresh, end, whole)) wrong = 'index in memory';
    else if (whole) {
      const files = await seg.readIndexFileBytes();
      const want = fresh.serialize();
      if (!files.index?.equals(want.index) || !files.timeIndex?.equals(want.timeIndex)) wrong = 'index files';
    }
    if (wrong) {
      const why = `the background scrub found the ${wrong} disagree with the log`;
      await this.rebuild(seg, why, 'scrub', whole ? fresh : undefined);
    }
  }

  /**
   * Rebuilds `seg`'s index from the log (a CRC scan of the segment, or `fresh` when the
   * caller scanned it whole), replaces the one in memory and, while the partition is
   * writable, its files. Concurrent callers share one rebuild. Throws (quarantining) if the
   * scan finds an invalid batch.
   */
  private rebuild(seg: Segment, why: string, foundBy: 'read' | 'scrub', fresh?: SegmentIndex): Promise<SegmentIndex> {
    let pending = this.rebuilding.get(seg);
    if (!pending) {
      pending = this.runRebuild(seg, why, foundBy, fresh).finally(() => this.rebuilding.delete(seg));
      this.rebuilding.set(seg, pending);
    }
    return pending;
  }

  private async runRebuild(
    seg: Segment,
    why: string,
    foundBy: 'read' | 'scrub',
    fresh?: SegmentIndex,
  ): Promise<SegmentIndex> {
    const index = fresh ?? new SegmentIndex(this.p.maxIndexEntries);
    let scanned = fresh ? seg.size : 0;
    let next = fresh ? seg.endOffset : seg.baseOffset;
    const scan = async (): Promise<void> => {
      const r = await seg.indexRange(index, scanned, seg.size, next);
      if (!r.ok) {
        this.unreadable.set(seg, r);
        this.p.corrupt(seg, r.position, r.reason);
      }
      scanned = seg.size;
      next = r.next;
    };
    if (!fresh) await scan(); // off the writer: appends go on meanwhile
    // On the writer, so no append, roll or retention interleaves: catch up with what the
    // active segment received meanwhile, then swap the index in.
    await this.p.onWriter(async () => {
      // Retention deleted it meanwhile: a reader of it is out of range now.
      if (!this.p.holds(seg)) throw new Error(`segment ${seg.fileName} was deleted by retention`);
      if (scanned < seg.size) await scan();
      seg.maxTimestamp = index.runningMax;
      if (this.p.isActive(seg)) {
        seg.index = index;
        seg.indexOnDisk = undefined; // the next flush writes the files whole
      } else this.keep(seg, index);
      const { topicId, partition, logger } = this.p;
      this.p.observer?.indexRebuilt?.();
      logger.warn(
        { topicId, partition, segment: seg.fileName, foundBy, entries: index.entries },
        `${why}: index rebuilt from the log`,
      );
      // Index files are hints: rewriting them may fail without failing the read. A read-only
      // partition is left as found.
      if (!this.p.writable()) return;
      await seg
        .replaceIndexFiles(index)
        .catch((e: unknown) =>
          logger.warn(
            { topicId, partition, segment: seg.fileName, err: e },
            'rewriting rebuilt index files failed: the next start checks them again',
          ),
        );
    });
    return index;
  }
}
