// Shared helpers of the file-store black-box tests: per-test cleanup, temp data dirs, stores
// with timers off (and ones that can "crash"), deterministic batches, reading a partition back.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { afterEach, expect } from 'vitest';
import { Segment } from '../../src/log/segment.js';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  createFileLogStore,
  nodeLogFs,
  type LogFileHandle,
  type LogFs,
  type FileLogStoreOptions,
  type LogStore,
  type PartitionConfig,
  type PartitionLog,
  type RecordInput,
  type RecoveryReport,
  type StoredRecord,
} from '../../src/log/index.js';

export const config: PartitionConfig = {
  segmentBytes: 1024 * 1024,
  segmentMs: -1,
  retentionMs: -1,
  retentionBytes: -1,
};

/** What the current test left to undo; run after it newest first, so stores close before their directory goes. */
const pending: Array<() => Promise<void>> = [];
let hooked = false;

/** Call once at the top of a test file: after each test, runs what `afterTest` collected. */
export function cleanUpAfterEach(): void {
  hooked = true;
  afterEach(async () => {
    for (const c of pending.splice(0).reverse()) await c();
  });
}

/** Runs `fn` after the current test. */
export function afterTest(fn: () => Promise<void>): void {
  if (!hooked) throw new Error('afterTest: call cleanUpAfterEach() at the top of the test file');
  pending.push(fn);
}

/** A fresh temp data dir, removed after the test. */
export async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-logtest-'));
  afterTest(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A file store on `dataDir` with the retention and flush timers off; the caller closes it (or leaves it crashed). */
export async function openStore(dataDir: string, extra: Partial<FileLogStoreOptions> = {}): Promise<LogStore> {
  return (await openReporting(dataDir, extra)).store;
}

async function openReporting(
  dataDir: string,
  extra: Partial<FileLogStoreOptions>,
): Promise<{ store: LogStore; report: RecoveryReport }> {
  const store = createFileLogStore({ dataDir, retentionCheckIntervalMs: 0, flushIntervalMs: 0, ...extra });
  const report = await store.open();
  return { store, report };
}

/** `openStore` on an existing data dir, closed after the test, with what its recovery reported. */
export async function reopenStore(
  dataDir: string,
  extra: Partial<FileLogStoreOptions> = {},
): Promise<{ store: LogStore; report: RecoveryReport }> {
  const opened = await openReporting(dataDir, extra);
  afterTest(() => opened.store.close());
  return opened;
}

/**
 * A store that can "crash": `openStore` over `crashableFs` (wrapped by `wrapFs`, e.g. to inject
 * faults) on `dataDir` or a fresh scratch dir. Leave it unclosed to crash it: its descriptors
 * are released after the test, as a dying process's would be. `powerLoss` also drops the
 * directory entries no directory fsync made durable.
 */
export async function crashableStore(
  extra: Partial<FileLogStoreOptions> = {},
  where: { dataDir?: string | undefined; wrapFs?: (fs: LogFs) => LogFs } = {},
): Promise<{ dir: string; store: LogStore; report: RecoveryReport; powerLoss: () => Promise<string[]> }> {
  const dir = where.dataDir ?? (await scratchDir());
  const files = crashableFs();
  afterTest(files.releaseAll);
  const fs = where.wrapFs ? where.wrapFs(files.fs) : files.fs;
  return { dir, ...(await openReporting(dir, { fs, ...extra })), powerLoss: files.powerLoss };
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

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The records from the start up to (not including) `end`, read page by page. */
export async function readUpTo(log: PartitionLog, end: number): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  let offset = log.startOffset();
  while (offset < end) {
    const r = await log.read(offset, { maxRecords: Math.min(500, end - offset), maxBytes: 1 << 20 });
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    const page = r.value.records.filter((x) => x.offset < end);
    if (page.length === 0) break;
    out.push(...page);
    offset = page[page.length - 1]!.offset + 1;
  }
  return out;
}

/**
 * node's file system, remembering every file it opens so the test can close them all at the
 * end as a dying process would: a store left unclosed ("a crash") leaks no descriptor to GC.
 * It also tracks the directory entries created (files, renamed-to names, directories) that no
 * fsync of their directory has made durable yet: `powerLoss` releases the descriptors and
 * removes those entries, as a power cut may. (Only new entries are modelled: an unlink or a
 * rename over an existing name is taken as durable at once.)
 */
export function crashableFs(): {
  fs: LogFs;
  releaseAll: () => Promise<void>;
  /** The entries (paths) a power cut now would lose. */
  unsynced: () => string[];
  /** Releases every descriptor, then removes the unsynced entries; returns them. */
  powerLoss: () => Promise<string[]>;
} {
  const opened: LogFileHandle[] = [];
  const unsynced = new Set<string>();
  const exists = (path: string): Promise<boolean> =>
    stat(path).then(
      () => true,
      () => false,
    );
  const releaseAll = async (): Promise<void> => {
    for (const h of opened.splice(0)) await h.close().catch(() => {});
  };
  return {
    fs: {
      ...nodeLogFs,
      open: async (path, flags) => {
        const created = /[wax]/.test(flags) && !(await exists(path));
        const handle = await nodeLogFs.open(path, flags);
        opened.push(handle);
        if (created) unsynced.add(path);
        return handle;
      },
      mkdir: async (path) => {
        const missing: string[] = [];
        for (let p = path; !(await exists(p)); p = dirname(p)) missing.push(p);
        await nodeLogFs.mkdir(path);
        for (const p of missing) unsynced.add(p);
      },
      rename: async (from, to) => {
        const created = !(await exists(to));
        await nodeLogFs.rename(from, to);
        unsynced.delete(from);
        if (created) unsynced.add(to);
      },
      unlink: async (path) => {
        await nodeLogFs.unlink(path);
        unsynced.delete(path);
      },
      rmTree: async (path) => {
        await nodeLogFs.rmTree(path);
        for (const p of [...unsynced]) if (p === path || p.startsWith(`${path}/`)) unsynced.delete(p);
      },
      syncDir: async (path) => {
        await nodeLogFs.syncDir(path);
        for (const p of [...unsynced]) if (dirname(p) === path) unsynced.delete(p);
      },
    },
    releaseAll,
    unsynced: () => [...unsynced].sort(),
    powerLoss: async () => {
      await releaseAll();
      const lost = [...unsynced].sort();
      unsynced.clear();
      for (const p of lost) await rm(p, { recursive: true, force: true });
      return lost;
    },
  };
}

/** Index files (of every segment, or of the `.log` files `names`) must equal an index rebuilt from the log alone. */
export async function expectIndexesMatchRebuild(pdir: string, names?: string[]): Promise<void> {
  for (const name of names ?? (await segmentFiles(pdir))) {
    const base = Number(name.slice(0, 20));
    const seg = new Segment(nodeLogFs, pdir, base, 0);
    seg.size = (await stat(`${pdir}/${name}`)).size;
    const fresh = (await seg.rebuildIndex(1 << 20)).serialize();
    await seg.release();
    expect((await readFile(`${pdir}/${name.replace('.log', '.index')}`)).equals(fresh.index)).toBe(true);
    expect((await readFile(`${pdir}/${name.replace('.log', '.timeindex')}`)).equals(fresh.timeIndex)).toBe(true);
  }
}
