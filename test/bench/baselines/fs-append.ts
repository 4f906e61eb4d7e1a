// Baseline: the disk itself — append a produce-sized buffer to a file and fdatasync it, one
// batch after another, in the same temp filesystem Sluice writes to.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { newHistogram, recordMs, summarize, type LatencySummary } from '../lib/histogram.js';
import { tempDir } from '../lib/processes.js';

export interface FsAppendResult {
  batches: number;
  recordsPerBatch: number;
  bytesPerBatch: number;
  recPerSec: number;
  mbPerSec: number;
  syncLatency: LatencySummary;
}

export async function fsAppendBaseline(
  batches: number,
  recordsPerBatch: number,
  bytesPerBatch: number,
  sync: boolean,
): Promise<FsAppendResult> {
  const dir = await tempDir('fs');
  const file = await fsp.open(path.join(dir, 'append.log'), 'a');
  const buf = Buffer.alloc(bytesPerBatch, 0x61);
  const h = newHistogram();
  try {
    const started = performance.now();
    for (let i = 0; i < batches; i++) {
      const t0 = performance.now();
      await file.write(buf);
      if (sync) await file.datasync();
      recordMs(h, performance.now() - t0);
    }
    const secs = (performance.now() - started) / 1000;
    return {
      batches,
      recordsPerBatch,
      bytesPerBatch,
      recPerSec: (batches * recordsPerBatch) / secs,
      mbPerSec: (batches * bytesPerBatch) / secs / 1e6,
      syncLatency: summarize(h),
    };
  } finally {
    await file.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
}
