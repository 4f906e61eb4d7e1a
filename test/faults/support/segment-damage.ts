// Damage done to a stopped server's segment files, the way crashes and bad disks do it:
// torn unacknowledged writes, garbage and zero runs, flipped bits; plus the crash state (no marker, old checkpoint).
import fs from 'node:fs/promises';
import path from 'node:path';
import { CLEAN_SHUTDOWN_MARKER } from '../../../src/log/index.js';
import { between } from './random.js';

/** Where one record batch sits in a `.log` file (Kafka record batch v2 header fields). */
export interface BatchSpan {
  file: string;
  position: number;
  size: number;
  baseOffset: number;
  /** Offset after the batch's last record. */
  endOffset: number;
}

/** Walks a segment's batches by their headers only (baseOffset@0, batchLength@8, lastOffsetDelta@23). */
export async function batchSpans(file: string): Promise<BatchSpan[]> {
  const buf = await fs.readFile(file);
  const spans: BatchSpan[] = [];
  for (let pos = 0; pos + 61 <= buf.length;) {
    const baseOffset = Number(buf.readBigInt64BE(pos));
    const size = 12 + buf.readInt32BE(pos + 8);
    const endOffset = baseOffset + buf.readInt32BE(pos + 23) + 1;
    spans.push({ file, position: pos, size, baseOffset, endOffset });
    pos += size;
  }
  return spans;
}

/** Simulate a crash after a stop: remove the clean-shutdown marker from DATA_DIR. */
export async function forgetCleanShutdown(dataDir: string): Promise<void> {
  await fs.rm(path.join(dataDir, CLEAN_SHUTDOWN_MARKER), { force: true });
}

/** Rewrite a partition's checkpoint as older versions wrote it: no resume position, only offsets below `recoveryPoint` trusted as fsynced. */
export async function setRecoveryPoint(
  partitionDir: string,
  startOffset: number,
  recoveryPoint: number,
): Promise<void> {
  await fs.writeFile(
    path.join(partitionDir, 'partition.checkpoint'),
    JSON.stringify({ version: 1, startOffset, recoveryPoint }),
  );
}

export type TailDamage = 'truncate' | 'garbage' | 'zeros' | 'flip-last' | 'overwrite-last';
export const TAIL_DAMAGES: TailDamage[] = ['truncate', 'garbage', 'zeros', 'flip-last', 'overwrite-last'];

/** Bytes of a batch the CRC32C does not cover and that carry no record data (partition leader epoch). */
const OUTSIDE_CRC = (rel: number): boolean => rel >= 12 && rel < 16;

/**
 * Leaves at the end of `file` (the partition's last segment) what a crash in the middle of an
 * unacknowledged write does, after the acknowledged batches `spans` (all files, in order):
 * `truncate` a batch cut short (headers included), `garbage` or `zeros` runs, `flip-last` a
 * whole batch with one CRC-covered bit flipped, `overwrite-last` one with a range of random
 * bytes. The unacknowledged batch is the last acknowledged one re-based to the next offset
 * (the base offset is outside the CRC, so the copy itself would verify). Returns the bytes
 * appended: recovery must cut exactly those.
 */
export async function tearUnacknowledged(
  file: string,
  spans: BatchSpan[],
  kind: TailDamage,
  rnd: () => number,
): Promise<{ bytes: number; detail: string }> {
  const last = spans[spans.length - 1]!;
  const size = (await fs.stat(file)).size;
  let tail: Buffer;
  let detail: string;
  if (kind === 'garbage' || kind === 'zeros') {
    const n = between(rnd, 1, 300);
    tail = kind === 'zeros' ? Buffer.alloc(n) : Buffer.from(Array.from({ length: n }, () => between(rnd, 0, 255)));
    detail = `${n} ${kind} bytes`;
  } else {
    const fh = await fs.open(last.file, 'r');
    const batch = Buffer.alloc(last.size);
    try {
      await fh.read(batch, 0, last.size, last.position);
    } finally {
      await fh.close();
    }
    batch.writeBigInt64BE(BigInt(last.endOffset), 0);
    if (kind === 'truncate') {
      tail = batch.subarray(0, between(rnd, 1, batch.length - 1));
      detail = `${tail.length} of ${batch.length} bytes of an unacknowledged batch`;
    } else if (kind === 'flip-last') {
      let rel = between(rnd, 0, batch.length - 1);
      while (OUTSIDE_CRC(rel)) rel = between(rnd, 0, batch.length - 1);
      batch[rel] = batch[rel]! ^ (1 << between(rnd, 0, 7));
      tail = batch;
      detail = `an unacknowledged batch with a bit flipped at its byte ${rel}`;
    } else {
      const from = between(rnd, 16, batch.length - 1);
      const len = between(rnd, 1, batch.length - from);
      // XOR with non-zero bytes: every byte in the range really changes.
      for (let i = from; i < from + len; i++) batch[i] = batch[i]! ^ between(rnd, 1, 255);
      tail = batch;
      detail = `an unacknowledged batch with ${len} random bytes at its byte ${from}`;
    }
  }
  await fs.appendFile(file, tail);
  return { bytes: tail.length, detail: `${detail} after byte ${size} of ${path.basename(file)}` };
}

/** Flips one bit inside a record's value bytes region of `span` (CRC-covered), returning the byte position. */
export async function flipBitIn(span: BatchSpan, rnd: () => number): Promise<number> {
  const at = span.position + between(rnd, 61, span.size - 1);
  const fh = await fs.open(span.file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = b[0]! ^ (1 << between(rnd, 0, 7));
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
  return at;
}
