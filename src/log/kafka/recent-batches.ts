// The newest batches of a Kafka partition, kept in memory while someone tails the partition, so
// the tail hands them to its subscribers without fetching them again from the leader: batches this
// node appended (once acknowledged: acks=all, so Kafka's high watermark is past them) and batches
// the node's shared tail fetched anyway. A miss simply reads from Kafka.
import { recordDataBytes } from '../append-input.js';
import type { RecordInput, StoredRecord } from '../types.js';

interface Entry {
  baseOffset: number;
  lastOffset: number;
  records: StoredRecord[];
  bytes: number;
}

export class RecentBatches {
  /** In insertion order (the order appends were acknowledged, not always offset order). */
  private readonly entries: Entry[] = [];
  private bytes = 0;

  /** `maxBytes` bounds the record bytes kept; the oldest batches go first. */
  constructor(private readonly maxBytes: number) {}

  get size(): number {
    return this.entries.length;
  }

  /** Keeps an acknowledged batch appended at `baseOffset` (dense offsets). */
  add(baseOffset: number, input: readonly RecordInput[]): void {
    this.keep(input.map((r, i) => ({ ...r, offset: baseOffset + i })));
  }

  /**
   * Keeps a batch as the records a read returns (offset order; offsets may have gaps). Its
   * buffers are copied into one allocation, so the request body or fetch answer they came from is
   * not held. Larger than the budget, or a batch already kept: not kept again.
   */
  keep(input: readonly StoredRecord[]): void {
    const first = input[0];
    if (first === undefined || this.entries.some((e) => e.baseOffset === first.offset)) return;
    let bytes = 0;
    for (const r of input) bytes += recordDataBytes(r);
    if (bytes > this.maxBytes) return;
    const copy = Buffer.allocUnsafeSlow(bytes);
    let at = 0;
    const own = (b: Buffer | null): Buffer | null => {
      if (b === null) return null;
      b.copy(copy, at);
      const out = copy.subarray(at, at + b.length);
      at += b.length;
      return out;
    };
    const records = input.map((r): StoredRecord => ({
      offset: r.offset,
      timestamp: r.timestamp,
      key: own(r.key),
      value: own(r.value),
      headers: r.headers.map((h) => ({ key: h.key, value: own(h.value) })),
    }));
    this.entries.push({ baseOffset: first.offset, lastOffset: input[input.length - 1]!.offset, records, bytes });
    this.bytes += bytes;
    while (this.bytes > this.maxBytes) this.bytes -= this.entries.shift()!.bytes;
  }

  /** The kept batch holding `offset` (whole: readers skip what lies below), or undefined. */
  batchAt(offset: number): StoredRecord[] | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      if (e.baseOffset <= offset && offset <= e.lastOffset) return e.records;
    }
    return undefined;
  }

  /** Forgets batches that end below `offset` (retention moved the log start past them). */
  dropBelow(offset: number): void {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      if (e.lastOffset < offset) {
        this.entries.splice(i, 1);
        this.bytes -= e.bytes;
      }
    }
  }

  clear(): void {
    this.entries.length = 0;
    this.bytes = 0;
  }
}
