// One segment of a partition: its files (<20-digit base>.log/.index/.timeindex), in-memory
// summary, lazily loaded index, and a reference-counted read handle that survives deletion.
import type { LogFileHandle, LogFs } from './log-fs.js';
import { readSmallFile, writeAt, writeFileAtomic } from './log-fs.js';
import { scanBatches } from './batch-scanner.js';
import { SegmentIndex, type IndexMark } from './segment-index.js';
import type { HandlePool, PooledFile } from './handle-pool.js';

export const segmentName = (baseOffset: number): string => String(baseOffset).padStart(20, '0');
export const SEGMENT_FILE_RE = /^(\d{20})\.log$/;

export class Segment implements PooledFile {
  /** Valid (visible) bytes of the .log file. */
  size = 0;
  /** Offset after the segment's last batch (= baseOffset when empty). */
  endOffset: number;
  /** Largest record timestamp (-1 when empty). */
  maxTimestamp = -1;
  /** Append time of the newest batch (-1 when empty): what retention_ms measures. */
  lastAppendTime = -1;
  /** Clock time the segment received its first batch (for segmentMs). */
  createdAt: number;
  /** Loaded index; always present for the active segment. */
  index: SegmentIndex | undefined;
  /**
   * How much of `index` the files on disk hold for sure: offset entries [0, entries) and
   * time entries [0, timeEntries - 1) (the newest may have been raised in place since).
   * Undefined: nothing is known, the next flush writes the files whole.
   */
  indexOnDisk: { entries: number; timeEntries: number } | undefined;
  private handle: LogFileHandle | undefined;
  private opening: Promise<LogFileHandle> | undefined;
  private refs = 0;
  private deleted = false;

  constructor(
    private readonly fs: LogFs,
    readonly dir: string,
    readonly baseOffset: number,
    createdAt: number,
    /** The store's bound on open descriptors (absent: this segment is not counted). */
    private readonly pool?: HandlePool,
  ) {
    this.endOffset = baseOffset;
    this.createdAt = createdAt;
  }

  /** The .log file's name, without its directory: what error messages may show. */
  get fileName(): string {
    return `${segmentName(this.baseOffset)}.log`;
  }

  get logPath(): string {
    return `${this.dir}/${segmentName(this.baseOffset)}.log`;
  }
  get indexPath(): string {
    return `${this.dir}/${segmentName(this.baseOffset)}.index`;
  }
  get timeIndexPath(): string {
    return `${this.dir}/${segmentName(this.baseOffset)}.timeindex`;
  }

  get isOpen(): boolean {
    return this.handle !== undefined;
  }

  get idle(): boolean {
    return this.refs === 0;
  }

  private async acquire(): Promise<LogFileHandle> {
    this.refs++;
    try {
      if (!this.opening && this.pool) await this.pool.makeRoom(1);
      this.opening ??= this.handle ? Promise.resolve(this.handle) : this.fs.open(this.logPath, 'r+');
      this.handle = await this.opening;
      this.pool?.touch(this);
      return this.handle;
    } catch (e) {
      this.opening = undefined;
      await this.unref();
      throw e;
    }
  }

  private async unref(): Promise<void> {
    this.refs--;
    if (this.refs > 0) return;
    if (this.deleted) await this.release();
    else if (this.pool && this.pool.size > this.pool.max) await this.pool.makeRoom();
  }

  /** Runs `fn` with the open file, keeping it open until `fn` settles even if deleted meanwhile. */
  async use<T>(fn: (handle: LogFileHandle) => Promise<T>): Promise<T> {
    const handle = await this.acquire();
    try {
      return await fn(handle);
    } finally {
      await this.unref();
    }
  }

  /** Closes the handle if nobody uses it (LRU eviction and shutdown). */
  async release(): Promise<void> {
    await this.closeIfIdle();
  }

  async closeIfIdle(): Promise<boolean> {
    if (this.refs > 0) return false;
    if (!this.opening) return true;
    const opening = this.opening;
    this.opening = undefined;
    this.handle = undefined;
    this.pool?.closed(this);
    await (await opening.catch(() => undefined))?.close().catch(() => undefined);
    return true;
  }

  /** Removes the segment's files; open readers finish on the unlinked inode. */
  async deleteFiles(): Promise<void> {
    this.deleted = true;
    for (const path of [this.logPath, this.indexPath, this.timeIndexPath]) {
      await this.fs.unlink(path).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
    }
    if (this.refs === 0) await this.release();
  }

  /** Writes both index files and fsyncs them (closed segments and clean shutdown). */
  async writeIndexFiles(): Promise<void> {
    if (!this.index) return;
    const { index, timeIndex } = this.index.serialize();
    for (const [path, data] of [
      [this.indexPath, index],
      [this.timeIndexPath, timeIndex],
    ] as const) {
      const h = await this.fs.open(path, 'w');
      try {
        await writeAt(h, data, 0);
        await h.sync();
      } finally {
        await h.close();
      }
    }
    this.indexOnDisk = { entries: this.index.entries, timeEntries: this.index.mark().timeEntries };
  }

  /**
   * Makes the index files durable up to the index as it is now, writing only what changed
   * since the last flush (entries are appended; the newest time entry may have been raised
   * in place) and cutting whatever a flush whose checkpoint never landed left past it.
   * Returns the mark a checkpoint may then record.
   */
  async flushIndexFiles(): Promise<IndexMark> {
    const index = this.index!;
    const mark = index.mark();
    const done = this.indexOnDisk ?? { entries: 0, timeEntries: 0 };
    const fromTime = Math.max(0, done.timeEntries - 1);
    const tail = index.serialize(done.entries, fromTime);
    let created = false;
    for (const [path, data, at, length] of [
      [this.indexPath, tail.index, done.entries * 8, mark.entries * 8],
      [this.timeIndexPath, tail.timeIndex, fromTime * 12, mark.timeEntries * 12],
    ] as const) {
      let h: LogFileHandle;
      try {
        h = await this.fs.open(path, 'r+');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        h = await this.fs.open(path, 'w');
        created = true;
      }
      try {
        if (data.length > 0) await writeAt(h, data, at);
        await h.truncate(length);
        await h.datasync();
      } finally {
        await h.close();
      }
    }
    if (created) await this.fs.syncDir(this.dir);
    this.indexOnDisk = { entries: mark.entries, timeEntries: mark.timeEntries };
    return mark;
  }

  /**
   * The index a flush recorded in the checkpoint (see `SegmentIndex.restore`), or undefined
   * when the files do not hold it. Entries past the checkpointed position are ignored here
   * and overwritten by the next flush.
   */
  async restoreIndex(
    mark: IndexMark,
    endPosition: number,
    endOffset: number,
    maxEntries: number,
  ): Promise<SegmentIndex | undefined> {
    const [idx, time] = await Promise.all([
      readSmallFile(this.fs, this.indexPath),
      readSmallFile(this.fs, this.timeIndexPath),
    ]);
    const restored = SegmentIndex.restore(
      idx ?? Buffer.alloc(0),
      time ?? Buffer.alloc(0),
      mark,
      endPosition,
      endOffset - this.baseOffset,
      maxEntries,
    );
    if (restored) this.indexOnDisk = { entries: mark.entries, timeEntries: mark.timeEntries };
    return restored;
  }

  /** Index from the files if they are plausible, else rebuilt by scanning the segment. */
  async loadIndex(maxEntries: number): Promise<SegmentIndex> {
    if (this.index) return this.index;
    return (await this.readIndexFiles(maxEntries)) ?? (await this.rebuildIndex(maxEntries));
  }

  /**
   * The index files, if structurally plausible for this segment and the last offset entry
   * points at the batch it names; undefined otherwise. `maxRel` bounds relative offsets.
   */
  async readIndexFiles(
    maxEntries: number,
    maxRel = this.endOffset - this.baseOffset - 1,
  ): Promise<SegmentIndex | undefined> {
    const [idx, time] = await Promise.all([
      readSmallFile(this.fs, this.indexPath),
      readSmallFile(this.fs, this.timeIndexPath),
    ]);
    const parsed = idx && time ? SegmentIndex.parse(idx, time, this.size, maxRel, maxEntries) : undefined;
    if (!parsed) return undefined;
    const [rel, pos] = parsed.lastEntry();
    let found = pos === 0;
    if (!found) {
      for await (const b of this.scan(pos, this.size, undefined, 64 * 1024)) {
        found = b.ok && b.header.baseOffset === this.baseOffset + rel;
        break;
      }
    }
    if (!found) return undefined;
    this.indexOnDisk = { entries: parsed.entries, timeEntries: parsed.mark().timeEntries };
    return parsed;
  }

  /** Scans the whole segment (CRC-checked) into a fresh index; throws if the segment is corrupt. */
  async rebuildIndex(maxEntries: number): Promise<SegmentIndex> {
    const index = new SegmentIndex(maxEntries);
    const r = await this.indexRange(index, 0, this.size, this.baseOffset);
    if (!r.ok) throw new LogCorruptionError(`segment ${this.fileName} is corrupt at byte ${r.position} (${r.reason})`);
    return index;
  }

  /**
   * Feeds `index` the batches of [start, end) (a batch boundary, offsets dense from
   * `expectedBase`), CRC-checked: a rebuild from the log, in as many steps as the segment
   * grows. A failure is the log's own: where, and why.
   */
  async indexRange(
    index: SegmentIndex,
    start: number,
    end: number,
    expectedBase: number,
  ): Promise<{ ok: true; next: number } | { ok: false; position: number; reason: string }> {
    let next = expectedBase;
    for await (const b of this.scan(start, end, expectedBase, 1024 * 1024)) {
      if (!b.ok) return { ok: false, position: b.position, reason: b.reason };
      index.onBatch(b.header.baseOffset - this.baseOffset, b.position, b.header.maxTimestamp);
      next = b.header.baseOffset + b.header.lastOffsetDelta + 1;
    }
    return { ok: true, next };
  }

  /** The index files' bytes as they are on disk (undefined: missing). */
  async readIndexFileBytes(): Promise<{ index: Buffer | undefined; timeIndex: Buffer | undefined }> {
    const [index, timeIndex] = await Promise.all([
      readSmallFile(this.fs, this.indexPath),
      readSmallFile(this.fs, this.timeIndexPath),
    ]);
    return { index, timeIndex };
  }

  /**
   * Replaces both index files with `index` (rebuilt from the log), each written tmp → fsync →
   * rename → fsync dir, so a crash leaves the old file or the new one, never a short one.
   */
  async replaceIndexFiles(index: SegmentIndex): Promise<void> {
    const data = index.serialize();
    const name = segmentName(this.baseOffset);
    await writeFileAtomic(this.fs, this.dir, `${name}.index`, data.index);
    await writeFileAtomic(this.fs, this.dir, `${name}.timeindex`, data.timeIndex);
    this.indexOnDisk = { entries: index.entries, timeEntries: index.mark().timeEntries };
  }

  /** Verified batches from `start` (a batch boundary) up to `end` of this segment's file. */
  async *scan(start: number, end: number, expectedBase?: number, chunkBytes?: number): ReturnType<typeof scanBatches> {
    const handle = await this.acquire();
    try {
      yield* scanBatches(handle, start, end, { expectedBase, chunkBytes: chunkBytes ?? 256 * 1024 });
    } finally {
      await this.unref();
    }
  }
}

/** A checksum or structure failure found where the log was trusted; never served. */
export class LogCorruptionError extends Error {
  override name = 'LogCorruptionError';
}
