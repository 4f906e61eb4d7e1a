// One read batch turned into SSE bytes once and shared: every unfiltered subscriber at the
// live edge of a partition gets the very same Buffer, so fan-out costs bytes, not encodes.
import { RecordRun, type StoredRecord } from '../log/index.js';
import { encodePartitionCursor, encodeTopicCursor, partitionCursorSuffix } from './cursor.js';
import { idTail, recordHead, recordsHead } from './sse-frame.js';

/**
 * Record → Record JSON (topic, partition, offset, timestamp, key, value, headers). With a
 * `writer` (recordJsonRenderer has one), shared partition frames are written straight to
 * bytes by it, from the log's bytes where the read left the records there; the result is the
 * same bytes.
 */
export type RecordEncoder = ((record: StoredRecord) => string) & {
  readonly writer?: {
    joinRun(run: RecordRun, prefix: string, suffix: string): Buffer;
    framesRun(run: RecordRun, head: string, idHead: string, idTail: string): Buffer;
  };
};

const RECORD_EVENT_HEAD = 'event: record\ndata: ';
const RECORDS_EVENT_HEAD = 'event: records\ndata: [';

/**
 * Sharing strategy (why the cache is shaped like this):
 * - Partition streams: the `id:` is the record's next offset, identical for every
 *   subscriber, so the whole batch is one Buffer built on first use.
 * - Topic streams: the `id:` encodes the next offset of *every* partition, which in general
 *   differs per subscriber. But a topic subscriber that is live on all of its partitions is
 *   at each partition tail's position, so all such subscribers share one offset vector:
 *   the first of them builds the frame and the rest reuse it (cached per vector length).
 *   Subscribers that are filtered or still catching up on some partition get their own
 *   frame from the pre-encoded record JSON (no re-encoding of records, only their ids).
 */
export class EncodedBatch {
  private partitionFrames?: Buffer;
  private partitionBatchFrame?: Buffer;
  /** The cursor tag the shared partition frames carry (one partition: one topic incarnation). */
  private partitionTag = '';
  private readonly topicFrames = new Map<string, Buffer>();

  private encoded?: readonly string[];

  constructor(
    readonly partition: number,
    /** The batch's records, as the log read them. */
    readonly run: RecordRun,
    private readonly encoder: RecordEncoder,
    /** Offset the read started at. */
    readonly firstOffset: number,
    /** Offset after this batch (a reader's next position). */
    readonly nextOffset: number,
  ) {}

  static encode(
    partition: number,
    records: RecordRun | readonly StoredRecord[],
    firstOffset: number,
    nextOffset: number,
    encoder: RecordEncoder,
  ): EncodedBatch {
    const run = records instanceof RecordRun ? records : RecordRun.fromRecords(records);
    return new EncodedBatch(partition, run, encoder, firstOffset, nextOffset);
  }

  /** The records decoded (on first use: shared frames of unfiltered streams never need them). */
  get records(): readonly StoredRecord[] {
    return this.run.toRecords();
  }

  /** Each record's JSON, encoded once on first use and shared by every per-subscriber frame. */
  get jsons(): readonly string[] {
    this.encoded ??= this.records.map(this.encoder);
    return this.encoded;
  }

  /**
   * All records as events with partition cursors (or one `records` event); shared. `cursorTag`
   * names the topic in the cursors (`topicCursorTag`); every reader of a partition has the same.
   */
  sharedPartitionFrame(batchMode: boolean, cursorTag = ''): Buffer | null {
    if (this.run.length === 0) return null;
    if (cursorTag !== this.partitionTag) {
      this.partitionTag = cursorTag;
      this.partitionFrames = undefined;
      this.partitionBatchFrame = undefined;
    }
    const writer = this.encoder.writer;
    if (batchMode) {
      const tail = `]\n${idTail(encodePartitionCursor(this.nextOffset, cursorTag))}`;
      this.partitionBatchFrame ??= writer
        ? writer.joinRun(this.run, RECORDS_EVENT_HEAD, tail)
        : Buffer.from(recordsHead(this.jsons) + idTail(encodePartitionCursor(this.nextOffset, cursorTag)));
      return this.partitionBatchFrame;
    }
    if (!this.partitionFrames) {
      if (writer) {
        // Straight to bytes: no per-record strings (catch-up replay and every live batch). Each
        // event's id is encodePartitionCursor(offset + 1, cursorTag), written as digits + suffix.
        this.partitionFrames = writer.framesRun(
          this.run,
          RECORD_EVENT_HEAD,
          '\nid: ',
          `${partitionCursorSuffix(cursorTag)}\n\n`,
        );
      } else {
        let text = '';
        for (let i = 0; i < this.records.length; i++) {
          text +=
            recordHead(this.jsons[i] as string) +
            idTail(encodePartitionCursor((this.records[i] as StoredRecord).offset + 1, cursorTag));
        }
        this.partitionFrames = Buffer.from(text);
      }
    }
    return this.partitionFrames;
  }

  /**
   * All records with topic cursors for a subscriber that is live on every partition, whose
   * offset vector is `vector` (not modified). Shared by all such subscribers.
   */
  sharedTopicFrame(vector: readonly number[], batchMode: boolean, cursorTag: string): Buffer | null {
    if (this.run.length === 0) return null;
    const cacheKey = `${batchMode ? 'b' : 'r'}${vector.length}${cursorTag}`;
    const cached = this.topicFrames.get(cacheKey);
    if (cached) return cached;
    const frame = this.frameFor(null, batchMode, [...vector], cursorTag);
    if (frame) this.topicFrames.set(cacheKey, frame);
    return frame;
  }

  /**
   * A frame for one subscriber: only the records `keep` selects (all when null), each with
   * its own cursor. `vector` is the subscriber's topic offset vector, advanced in place to
   * this batch's end; undefined for a partition stream. `cursorTag` names the topic in
   * the cursors (`topicCursorTag`).
   */
  frameFor(
    keep: ((record: StoredRecord) => boolean) | null,
    batchMode: boolean,
    vector?: number[],
    cursorTag = '',
  ): Buffer | null {
    const cursorAfter = (next: number): string => {
      if (!vector) return encodePartitionCursor(next, cursorTag);
      vector[this.partition] = next;
      return encodeTopicCursor(vector, cursorTag);
    };
    let text = '';
    const kept: string[] = [];
    for (let i = 0; i < this.records.length; i++) {
      const record = this.records[i] as StoredRecord;
      if (keep && !keep(record)) continue;
      if (batchMode) kept.push(this.jsons[i] as string);
      else text += recordHead(this.jsons[i] as string) + idTail(cursorAfter(record.offset + 1));
    }
    if (batchMode && kept.length > 0) text = recordsHead(kept) + idTail(cursorAfter(this.nextOffset));
    if (vector) vector[this.partition] = this.nextOffset;
    return text.length > 0 ? Buffer.from(text) : null;
  }
}
