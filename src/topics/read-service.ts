// Stateless reads of one partition: from an offset, a timestamp or the log start, bounded by
// record and byte limits, optionally long-polling (woken by appends) until records exist.
import { err, ok, type Result } from '../lib/result.js';
import type { PartitionLog, RecordRun, StoredRecord } from '../log/index.js';
import { renderRecord, type RecordJson, type ValueFormat } from './record-codec.js';
import { recordJsonRenderer, type SliceSizes } from './record-json-text.js';

/** Narrow port onto the topics service. */
export interface ReadTopics {
  partitionLog(
    name: string,
    partition: number,
  ): Result<
    { topic: { id: string; name: string; config: { value_format: ValueFormat } }; log: PartitionLog },
    { code: 'topic_not_found' | 'partition_not_found'; message: string }
  >;
}

export interface ReadRequest {
  topic: string;
  partition: number;
  /** Start here; else at the first record with timestamp ≥ `timestamp`; else at the log start. */
  offset?: number;
  timestamp?: number;
  maxRecords: number;
  maxBytes: number;
  /** Long-poll: wait up to this long for a record when none is available (0 = answer now). */
  waitMs: number;
  /** Aborted when the client disconnects or the server shuts down. */
  signal?: AbortSignal;
}

export interface ReadResponse {
  records: RecordJson[];
  next_offset: number;
  end_offset: number;
}

interface Fetched<R> {
  topicName: string;
  format: ValueFormat;
  records: R;
  nextOffset: number;
  endOffset: number;
}

/** One partition read: decoded records (`read`) or a run of them in the log's bytes (`readRun`). */
type ReadFrom<R> = (
  log: PartitionLog,
  offset: number,
  limits: { maxRecords: number; maxBytes: number },
) => Promise<Result<{ records: R; nextOffset: number }, unknown>>;

const readRecords: ReadFrom<readonly StoredRecord[]> = (log, offset, limits) => log.read(offset, limits);
const readRun: ReadFrom<RecordRun> = async (log, offset, limits) => {
  const r = await log.readRun(offset, limits);
  return r.ok ? ok({ records: r.value.run, nextOffset: r.value.nextOffset }) : r;
};

/**
 * How a read answer is sliced (bench records are ~140 bytes). A page of up to `whole` records
 * is one buffer. A larger one starts with a small slice, so its first bytes leave soon after the
 * read, and doubles each next slice (the client takes longer to receive a slice than the server
 * to write the next), up to `max`: a slice's write and the stream's turn cost little per record.
 */
export const JSON_SLICES: Readonly<JsonSlicing> = { whole: 1024, first: 256, max: 4096 };

/** Pages of up to `whole` records are one buffer; larger ones come in slices (SliceSizes). */
export interface JsonSlicing extends SliceSizes {
  whole: number;
}

/** A read answer's JSON bytes: one buffer, or slices written one by one as they are asked for. */
export type JsonAnswer = { whole: Buffer<ArrayBuffer> } | { slices: Iterator<Buffer<ArrayBuffer>> };

export type ReadServiceError =
  | { code: 'topic_not_found' | 'partition_not_found'; message: string }
  | { code: 'offset_out_of_range'; message: string; startOffset: number; endOffset: number };

export class ReadService {
  constructor(private readonly topics: ReadTopics) {}

  async read(req: ReadRequest): Promise<Result<ReadResponse, ReadServiceError>> {
    const found = await this.fetch(req, readRecords);
    if (!found.ok) return found;
    const { topicName, format, records, nextOffset, endOffset } = found.value;
    return ok({
      records: records.map((r) => renderRecord(topicName, req.partition, r, format)),
      next_offset: nextOffset,
      end_offset: endOffset,
    });
  }

  /**
   * The same read as `read`, answered as the response's JSON bytes: records are written
   * straight from the log's bytes (json values copied as stored), never built as objects first.
   * The page is read whole first, so every way a read can fail is known before an answer
   * starts. A page of more than `slicing.whole` records comes as slices (JSON_SLICES), each
   * written when asked for (a response sends one while the next is written); a smaller one as
   * one buffer.
   */
  async readJson(req: ReadRequest, slicing: JsonSlicing = JSON_SLICES): Promise<Result<JsonAnswer, ReadServiceError>> {
    const found = await this.fetch(req, readRun);
    if (!found.ok) return found;
    const { topicName, format, records, nextOffset, endOffset } = found.value;
    const { writer } = recordJsonRenderer(topicName, req.partition, format);
    const prefix = '{"records":[';
    const suffix = `],"next_offset":${nextOffset},"end_offset":${endOffset}}`;
    if (records.length <= slicing.whole) return ok({ whole: writer.joinRun(records, prefix, suffix) });
    return ok({ slices: writer.joinRunSlices(records, prefix, suffix, slicing) });
  }

  private async fetch<R>(req: ReadRequest, readFrom: ReadFrom<R>): Promise<Result<Fetched<R>, ReadServiceError>> {
    const found = this.topics.partitionLog(req.topic, req.partition);
    if (!found.ok) return found;
    const { topic, log } = found.value;

    let offset: number;
    if (req.offset !== undefined) offset = req.offset;
    else if (req.timestamp !== undefined) offset = await log.offsetForTimestamp(req.timestamp);
    else offset = log.startOffset();

    const outOfRange = (): Result<never, ReadServiceError> => {
      const start = log.startOffset();
      const end = log.endOffset();
      return err({
        code: 'offset_out_of_range',
        message: `offset ${offset} is outside partition ${req.partition}'s readable range [${start}, ${end}]`,
        startOffset: start,
        endOffset: end,
      });
    };
    if (offset < log.startOffset() || offset > log.endOffset()) return outOfRange();

    /** The topic was deleted (or replaced) since the read began. */
    const deleted = (): boolean => {
      const still = this.topics.partitionLog(req.topic, req.partition);
      return !still.ok || still.value.topic.id !== topic.id;
    };
    const gone = (what: string): Result<never, ReadServiceError> =>
      err({
        code: 'topic_not_found',
        message: `topic ${JSON.stringify(req.topic)} was deleted while the request ${what}`,
      });

    if (offset === log.endOffset() && req.waitMs > 0 && !req.signal?.aborted) {
      await log.waitForData(offset, req.waitMs, req.signal);
      // Deleting the topic wakes the wait: answering 200 with the dead topic's end offset would
      // send the client on from there into whatever topic takes the name next.
      if (deleted()) return gone('waited');
    }
    let batch: Awaited<ReturnType<ReadFrom<R>>>;
    try {
      batch = await readFrom(log, offset, { maxRecords: req.maxRecords, maxBytes: req.maxBytes });
    } catch (e) {
      // Deleting the topic removes its files under a read walking them (ENOENT): that is a 404,
      // as for a wait the delete ends. Anything else is a fault.
      if (deleted()) return gone('read it');
      throw e;
    }
    if (!batch.ok) return outOfRange();
    return ok({
      topicName: topic.name,
      format: topic.config.value_format,
      records: batch.value.records,
      nextOffset: batch.value.nextOffset,
      endOffset: log.endOffset(),
    });
  }
}
