// Damage done to a stopped server's segment files, the way crashes and bad disks do it:
// torn tails, garbage and zero runs, flipped bits; plus the crash state (no marker, old recovery point).
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

/** Rewrite a partition's checkpoint so recovery trusts only offsets below `recoveryPoint` as fsynced. */
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
 * Damages the tail of a partition whose batches are `spans` (all files, in order) and returns
 * the offset the log must be cut back to: the end of the last batch left intact.
 */
export async function damageTail(
  spans: BatchSpan[],
  kind: TailDamage,
  rnd: () => number,
): Promise<{ validEnd: number; detail: string }> {
  const last = spans[spans.length - 1]!;
  const lastFileSize = last.position + last.size;
  switch (kind) {
    case 'truncate': {
      // Anywhere inside the last few batches, headers included.
      const from = spans[Math.max(0, spans.length - 3)]!;
      const victimFile = from.file === last.file ? last.file : rnd() < 0.5 ? from.file : last.file;
      const inFile = spans.filter((s) => s.file === victimFile);
      const lo = victimFile === from.file ? from.position : 0;
      const hi = inFile[inFile.length - 1]!.position + inFile[inFile.length - 1]!.size - 1;
      const cut = between(rnd, lo, hi);
      await fs.truncate(victimFile, cut);
      // Later segment files are beyond the tear: recovery must drop them too.
      const lastKept = inFile.filter((s) => s.position + s.size <= cut).pop();
      const before = spans.filter((s) => s.file < victimFile).pop();
      return {
        validEnd: lastKept?.endOffset ?? before?.endOffset ?? spans[0]!.baseOffset,
        detail: `cut ${path.basename(victimFile)} at ${cut}`,
      };
    }
    case 'garbage':
    case 'zeros': {
      const n = between(rnd, 1, 300);
      const bytes =
        kind === 'zeros' ? Buffer.alloc(n) : Buffer.from(Array.from({ length: n }, () => between(rnd, 0, 255)));
      await fs.appendFile(last.file, bytes);
      return { validEnd: last.endOffset, detail: `${n} ${kind} bytes after ${lastFileSize}` };
    }
    case 'flip-last': {
      let rel = between(rnd, 0, last.size - 1);
      while (OUTSIDE_CRC(rel)) rel = between(rnd, 0, last.size - 1);
      const fh = await fs.open(last.file, 'r+');
      try {
        const b = Buffer.alloc(1);
        await fh.read(b, 0, 1, last.position + rel);
        b[0] = b[0]! ^ (1 << between(rnd, 0, 7));
        await fh.write(b, 0, 1, last.position + rel);
      } finally {
        await fh.close();
      }
      return { validEnd: last.baseOffset, detail: `bit flipped at byte ${rel} of the last batch` };
    }
    case 'overwrite-last': {
      const from = between(rnd, 16, last.size - 1);
      const len = between(rnd, 1, last.size - from);
      const fh = await fs.open(last.file, 'r+');
      try {
        // XOR with non-zero bytes: every byte in the range really changes.
        const b = Buffer.alloc(len);
        await fh.read(b, 0, len, last.position + from);
        for (let i = 0; i < len; i++) b[i] = b[i]! ^ between(rnd, 1, 255);
        await fh.write(b, 0, len, last.position + from);
      } finally {
        await fh.close();
      }
      return { validEnd: last.baseOffset, detail: `${len} random bytes over the last batch at ${from}` };
    }
  }
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
