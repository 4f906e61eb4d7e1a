// Streaming request-body readers for produce: a size-limited reader for JSON bodies and an
// NDJSON parser that decodes each line as it arrives, never holding the body as one string.
import { isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import { err, ok, type Result } from '../lib/result.js';
import type { RecordProblem } from './record-codec.js';

const NEWLINE = 0x0a;
const CR = 0x0d;
/** A line of JSON whitespace only, which is skipped: RFC 8259's four characters, nothing else. */
const JSON_BLANK = /^[ \t\r\n]*$/;

export interface BodyLimits {
  /** Largest body accepted, in bytes (413 `max_body_bytes` above it). */
  maxBodyBytes: number;
  /** Called with every chunk as it arrives (e.g. to hash the body for idempotency). */
  onChunk?: (chunk: Uint8Array) => void;
}

function bodyTooLarge(maxBodyBytes: number): RecordProblem {
  return {
    code: 'payload_too_large',
    message: `request body exceeds max_body_bytes (${maxBodyBytes} bytes)`,
    limit: { name: 'max_body_bytes', value: maxBodyBytes },
  };
}

/**
 * A request body as it arrives: a web stream, or a Node stream (the HTTP server's request,
 * read without the two web streams and the Request object a web body costs per request).
 */
export type BodySource = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

interface Chunk {
  done?: boolean;
  value?: Uint8Array;
}

interface ChunkReader {
  read(): Promise<Chunk>;
  /** Stops reading. */
  cancel(): Promise<unknown>;
}

function readerOf(body: BodySource): ChunkReader {
  if (body instanceof ReadableStream) return body.getReader();
  // A Node stream is left unread, not destroyed, when reading stops early: the HTTP request's
  // socket must stay open for the answer (a 413 found while streaming), as with its web body.
  const chunks = body instanceof Readable ? body.iterator({ destroyOnReturn: false }) : body[Symbol.asyncIterator]();
  return { read: () => chunks.next(), cancel: async () => chunks.return?.() };
}

/** One read; a failing stream (client gone, an outer body limit) becomes a 400, not a throw. */
async function readChunk(reader: ChunkReader): Promise<Result<Chunk, RecordProblem>> {
  try {
    return ok(await reader.read());
  } catch (e) {
    return err({ code: 'bad_request', message: `request body could not be read (${(e as Error).message})` });
  }
}

/**
 * Read a whole body into one Buffer, refusing it as soon as it passes the limit. A body the
 * HTTP layer already read (bytes) is held to the same limit and passed to onChunk once.
 */
export async function readLimitedBody(
  body: BodySource | Uint8Array | null,
  limits: BodyLimits,
): Promise<Result<Buffer, RecordProblem>> {
  if (body === null) return ok(Buffer.alloc(0));
  if (body instanceof Uint8Array) {
    if (body.length > limits.maxBodyBytes) return err(bodyTooLarge(limits.maxBodyBytes));
    limits.onChunk?.(body);
    return ok(Buffer.from(body.buffer, body.byteOffset, body.length));
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = readerOf(body);
  for (;;) {
    const next = await readChunk(reader);
    if (!next.ok) return err(next.error);
    const { done, value } = next.value;
    if (done || value === undefined) break;
    total += value.length;
    if (total > limits.maxBodyBytes) {
      await reader.cancel().catch(() => undefined);
      return err(bodyTooLarge(limits.maxBodyBytes));
    }
    limits.onChunk?.(value);
    parts.push(value);
  }
  return ok(
    parts.length === 1
      ? Buffer.from(parts[0]!.buffer, parts[0]!.byteOffset, parts[0]!.length)
      : Buffer.concat(parts, total),
  );
}

export interface NdjsonLimits extends BodyLimits {
  /** Most records (non-blank lines) accepted (413 `max_records_per_request` above it). */
  maxRecords: number;
  /**
   * Tried first on each line: bytes [start, end) of `buf` (no newline), `view` a DataView of
   * `buf`, `utf8` true when those bytes are known to be UTF-8. True when it took the line as
   * record `index` by itself; false leaves the line to JSON.parse and `onRecord`.
   */
  fastLine?: (buf: Buffer, view: DataView, start: number, end: number, index: number, utf8: boolean) => boolean;
}

/**
 * Parse an NDJSON body line by line as it streams in. `onRecord` receives each parsed
 * line's value with its record index (blank lines are skipped and not counted) and may
 * refuse it (with the line's bytes, e.g. to keep raw JSON); the first problem stops reading and is returned with its 1-based line number.
 * Resolves with the number of records.
 */
export async function readNdjson(
  body: BodySource | null,
  limits: NdjsonLimits,
  /** `line` holds the line's bytes (without the newline), valid until the request ends. */
  onRecord: (value: unknown, index: number, line: Buffer) => RecordProblem | undefined,
): Promise<Result<number, RecordProblem>> {
  if (body === null) return ok(0);
  const reader = readerOf(body);
  let pending: Buffer[] = [];
  let total = 0;
  let line = 0;
  let records = 0;

  const handleLine = (
    buf: Buffer,
    view: DataView | undefined,
    start: number,
    end: number,
    utf8: boolean,
  ): RecordProblem | undefined => {
    line += 1;
    if (end > start && buf[end - 1] === CR) end -= 1;
    if (records < limits.maxRecords && limits.fastLine) {
      view ??= new DataView(buf.buffer, buf.byteOffset, buf.length);
      if (limits.fastLine(buf, view, start, end, records, utf8)) {
        records += 1;
        return undefined;
      }
    }
    const text = buf.toString('utf8', start, end);
    // Blank is JSON whitespace only (String.trim would also drop Unicode spaces JSON.parse refuses).
    if (JSON_BLANK.test(text)) return undefined;
    if (records >= limits.maxRecords) {
      return {
        code: 'payload_too_large',
        message: `line ${line}: more than max_records_per_request (${limits.maxRecords}) records`,
        line,
        limit: { name: 'max_records_per_request', value: limits.maxRecords },
      };
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      return {
        code: 'bad_request',
        message: `line ${line}: not valid JSON (${(e as Error).message})`,
        line,
        recordIndex: records,
      };
    }
    const problem = onRecord(value, records, buf.subarray(start, end));
    records += 1;
    return problem && { ...problem, line, message: `line ${line}: ${problem.message}` };
  };

  const fail = async (problem: RecordProblem) => {
    await reader.cancel().catch(() => undefined);
    return err(problem);
  };

  for (;;) {
    const next = await readChunk(reader);
    if (!next.ok) return err(next.error);
    const { done, value } = next.value;
    if (done || value === undefined) break;
    total += value.length;
    if (total > limits.maxBodyBytes) return fail(bodyTooLarge(limits.maxBodyBytes));
    limits.onChunk?.(value);
    const chunk = Buffer.from(value.buffer, value.byteOffset, value.length);
    let start = 0;
    let nl = chunk.indexOf(NEWLINE);
    if (nl !== -1 && pending.length > 0) {
      // The line begun in earlier chunks ends here.
      const joined = Buffer.concat([...pending, chunk.subarray(0, nl)]);
      pending = [];
      const problem = handleLine(joined, undefined, 0, joined.length, isUtf8(joined));
      if (problem) return fail(problem);
      start = nl + 1;
      nl = chunk.indexOf(NEWLINE, start);
    }
    if (nl !== -1) {
      // Whole lines of this chunk: one UTF-8 check and one view for all of them.
      const last = chunk.lastIndexOf(NEWLINE);
      const utf8 = isUtf8(chunk.subarray(start, last));
      const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.length);
      for (; nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
        const problem = handleLine(chunk, view, start, nl, utf8);
        if (problem) return fail(problem);
        start = nl + 1;
      }
    }
    // Copy the partial line: the stream may reuse the chunk's memory.
    if (start < chunk.length) pending.push(Buffer.from(chunk.subarray(start)));
  }
  if (pending.length > 0) {
    const rest = Buffer.concat(pending);
    const problem = handleLine(rest, undefined, 0, rest.length, isUtf8(rest));
    if (problem) return err(problem);
  }
  return ok(records);
}
