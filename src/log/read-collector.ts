// Applies ReadOptions limits record by record, identically for the memory and file stores:
// skip records below the requested offset, stop at maxRecords or maxBytes (one record minimum).
import { recordDataBytes } from './append-input.js';
import { decodeBatch } from './record-batch.js';
import type { ReadBatch, ReadOptions, StoredRecord } from './types.js';

/** What a store feeds the batches of a read to: ReadCollector, or RunCollector (record-run.ts). */
export interface BatchCollector {
  /** Whether limits are reached and no more batches need to be read. */
  readonly done: boolean;
  /** Offers the verified batch at `at` of `buf`; returns `done`. */
  addBatch(buf: Buffer, at: number): boolean;
}

export class ReadCollector implements BatchCollector {
  private readonly records: StoredRecord[] = [];
  private bytes = 0;
  private full = false;

  constructor(
    private readonly offset: number,
    private readonly options: ReadOptions,
  ) {}

  /** Whether limits are reached and no more batches need to be read. */
  get done(): boolean {
    return this.full;
  }

  /** Offers a batch's records in offset order; returns `done`. */
  add(batch: StoredRecord[]): boolean {
    for (const record of batch) {
      if (this.full) break;
      if (record.offset < this.offset) continue;
      const size = recordDataBytes(record);
      if (this.records.length > 0 && this.bytes + size > this.options.maxBytes) {
        this.full = true;
        break;
      }
      this.records.push(record);
      this.bytes += size;
      if (this.records.length >= this.options.maxRecords || this.bytes >= this.options.maxBytes) this.full = true;
    }
    return this.full;
  }

  /** Offers the verified batch at `at` of `buf` (RunCollector's counterpart); returns `done`. */
  addBatch(buf: Buffer, at: number): boolean {
    return this.full || this.add(decodeBatch(buf, at).records);
  }

  result(): ReadBatch {
    const last = this.records[this.records.length - 1];
    return { records: this.records, nextOffset: last ? last.offset + 1 : this.offset };
  }
}
