// Bounded in-memory copy of a partition's newest batches: tailing readers (long-poll, SSE)
// are served without disk reads, and memory stays flat however long the log grows.
import type { BatchCollector } from './read-collector.js';

export class RecentBatches {
  private readonly batches: Array<{ base: number; last: number; bytes: Buffer }> = [];
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Adds the newest visible batch; the cache always ends at the partition's end offset. */
  push(base: number, last: number, bytes: Buffer): void {
    this.batches.push({ base, last, bytes });
    this.bytes += bytes.length;
    while (this.bytes > this.maxBytes && this.batches.length > 1) this.bytes -= this.batches.shift()!.bytes.length;
  }

  /** Drops cached batches at or past `end` (a failed write that never became visible). */
  truncate(end: number): void {
    while (this.batches.length > 0 && this.batches[this.batches.length - 1]!.last >= end)
      this.bytes -= this.batches.pop()!.bytes.length;
  }

  /** Feeds `collector` from the cache; false when `offset` is older than the cache holds. */
  read(offset: number, collector: BatchCollector): boolean {
    const first = this.batches[0];
    if (!first || offset < first.base) return false;
    for (const b of [...this.batches]) if (b.last >= offset && collector.addBatch(b.bytes, 0)) break;
    return true;
  }
}
