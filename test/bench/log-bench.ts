// Log append benchmark (`npm run bench:log`): appends/s and MB/s of the file store for 1 KiB and
// 64 KiB batches, fsync vs write, 1 vs 16 appenders, beside plain-fs baselines on the same disk.
import { randomUUID } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileLogStore, type Durability, type RecordInput } from '../../src/log/index.js';

const CASE_MS = Number(process.env.BENCH_CASE_MS ?? 1500);
const MiB = 1024 * 1024;
const config = { segmentBytes: 128 * MiB, segmentMs: -1, retentionMs: -1, retentionBytes: -1 };

interface Row {
  name: string;
  appends: number;
  bytes: number;
  ms: number;
}

function makeBatch(batchBytes: number): RecordInput[] {
  const recordBytes = batchBytes >= 64 * 1024 ? 1024 : 128;
  return Array.from({ length: batchBytes / recordBytes }, (_, i) => ({
    key: null,
    value: Buffer.alloc(recordBytes, 97 + (i % 26)),
    headers: [],
    timestamp: Date.now(),
  }));
}

async function logCase(batchBytes: number, durability: Durability, appenders: number): Promise<Row> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-bench-'));
  const store = createFileLogStore({ dataDir, retentionCheckIntervalMs: 0, flushIntervalMs: 0 });
  await store.open();
  const log = await store.createPartition(randomUUID(), 0, config);
  const records = makeBatch(batchBytes);
  let appends = 0;
  const began = performance.now();
  const until = began + CASE_MS;
  await Promise.all(
    Array.from({ length: appenders }, async () => {
      while (performance.now() < until) {
        const r = await log.append(records, { durability });
        if (!r.ok) throw new Error(JSON.stringify(r.error));
        appends++;
      }
    }),
  );
  const ms = performance.now() - began;
  await store.close();
  await rm(dataDir, { recursive: true, force: true });
  return {
    name: `log  ${batchBytes / 1024} KiB ${durability.padEnd(5)} x${appenders}`,
    appends,
    bytes: appends * batchBytes,
    ms,
  };
}

/** Plain sequential appends to one file, fdatasync every `syncEvery` bytes. */
async function baselineCase(batchBytes: number, syncEvery: number, label: string): Promise<Row> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-'));
  const fh = await open(join(dir, 'plain.log'), 'w');
  const buf = Buffer.alloc(batchBytes, 98);
  let appends = 0;
  let pos = 0;
  let unsynced = 0;
  const began = performance.now();
  while (performance.now() - began < CASE_MS) {
    await fh.write(buf, 0, buf.length, pos);
    pos += buf.length;
    unsynced += buf.length;
    appends++;
    if (unsynced >= syncEvery) {
      await fh.datasync();
      unsynced = 0;
    }
  }
  await fh.datasync();
  const ms = performance.now() - began;
  await fh.close();
  await rm(dir, { recursive: true, force: true });
  return { name: `plain ${batchBytes / 1024} KiB ${label}`, appends, bytes: appends * batchBytes, ms };
}

const fmt = (r: Row): string => {
  const perSec = (r.appends / r.ms) * 1000;
  const mbs = (r.bytes / MiB / r.ms) * 1000;
  return `${r.name.padEnd(34)} ${perSec.toFixed(0).padStart(9)} appends/s ${mbs.toFixed(1).padStart(8)} MB/s`;
};

const run = async (p: Promise<Row>): Promise<Row> => {
  const r = await p;
  console.log(fmt(r));
  return r;
};

console.log(`log bench: ${CASE_MS} ms per case, temp dir under ${tmpdir()} (shared disk: numbers are noisy;`);
console.log('the fsync x16 case alternates with its baseline twice, and the ratio uses both pairs)');
for (const size of [1024, 64 * 1024]) {
  const perWrite = await run(baselineCase(size, 1, 'fdatasync/write'));
  let logBytesPerMs = 0;
  let baseBytesPerMs = 0;
  for (let pair = 0; pair < 2; pair++) {
    const base = await run(baselineCase(size, MiB, 'fdatasync/1 MiB'));
    const grouped = await run(logCase(size, 'fsync', 16));
    baseBytesPerMs += base.bytes / base.ms;
    logBytesPerMs += grouped.bytes / grouped.ms;
  }
  await run(logCase(size, 'fsync', 1));
  await run(logCase(size, 'fsync', 64));
  await run(logCase(size, 'write', 1));
  await run(logCase(size, 'write', 16));
  const pct = (x: number): string => `${((x / baseBytesPerMs) * 100).toFixed(0)}%`;
  console.log(
    `  → ${size / 1024} KiB: log fsync x16 = ${pct(logBytesPerMs)} of the fdatasync-per-1-MiB baseline (goal ≥ 80%);` +
      ` plain fdatasync-per-write = ${pct((2 * perWrite.bytes) / perWrite.ms)}`,
  );
}
