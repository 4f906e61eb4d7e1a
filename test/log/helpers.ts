// Shared helpers of the file-store black-box tests: temp data dirs, stores with timers off,
// deterministic batches, and reading a whole partition back.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createFileLogStore,
  type FileLogStoreOptions,
  type LogStore,
  type PartitionConfig,
  type PartitionLog,
  type RecordInput,
  type StoredRecord,
} from '../../src/log/index.js';

export const config: PartitionConfig = {
  segmentBytes: 1024 * 1024,
  segmentMs: -1,
  retentionMs: -1,
  retentionBytes: -1,
};

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-logtest-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function openStore(dataDir: string, extra: Partial<FileLogStoreOptions> = {}): Promise<LogStore> {
  const store = createFileLogStore({ dataDir, retentionCheckIntervalMs: 0, flushIntervalMs: 0, ...extra });
  await store.open();
  return store;
}

export const newTopic = (): string => randomUUID();

/** Batch `i` of a test: `n` records whose values name (i, j), so reads can be checked. */
export function batch(i: number, n = 3, pad = 0): RecordInput[] {
  return Array.from({ length: n }, (_, j) => ({
    key: Buffer.from(`k${i}`),
    value: Buffer.from(`b${i}r${j}${'.'.repeat(pad)}`),
    headers: [{ key: 'i', value: Buffer.from(String(i)) }],
    timestamp: 1_000_000 + i,
  }));
}

export async function readAll(log: PartitionLog): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  let offset = log.startOffset();
  while (offset < log.endOffset()) {
    const r = await log.read(offset, { maxRecords: 500, maxBytes: 1 << 20 });
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    if (r.value.records.length === 0) break;
    out.push(...r.value.records);
    offset = r.value.nextOffset;
  }
  return out;
}

export async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.log')).sort();
}
