// A guard: the log's group commit (append, fsync, segment roll) never does synchronous file I/O
// on the event loop. 186b17f reverted an on-loop fs.writeSync that stalled delivery for 0.1–1 s.
import fs from 'node:fs';
import { readdir } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { describe, expect, it } from 'vitest';
import { batch, cleanUpAfterEach, config, newTopic, openStore, scratchDir, afterTest } from './helpers.js';

cleanUpAfterEach();

/** node:fs's blocking calls that take a descriptor or path to write, sync or resize a file. */
const SYNC_CALLS = [
  'writeSync',
  'writevSync',
  'fsyncSync',
  'fdatasyncSync',
  'ftruncateSync',
  'truncateSync',
  'writeFileSync',
  'appendFileSync',
  'openSync',
  'renameSync',
] as const;

/** Counts calls of SYNC_CALLS (named imports of node:fs included) until the returned undo. */
function countSyncFsCalls(): { calls: string[]; restore: () => void } {
  const calls: string[] = [];
  const fsObject = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
  const originals = SYNC_CALLS.map((name) => [name, fsObject[name]!] as const);
  for (const [name, original] of originals)
    fsObject[name] = function (this: unknown, ...args: unknown[]) {
      calls.push(name);
      return original.apply(this, args);
    };
  // ESM named imports of a builtin (`import { writeSync } from 'node:fs'`) follow the patched object.
  syncBuiltinESMExports();
  return {
    calls,
    restore: () => {
      for (const [name, original] of originals) fsObject[name] = original;
      syncBuiltinESMExports();
    },
  };
}

describe('the group commit on the event loop', () => {
  it('appends with fsync and write durability, across segment rolls, do no synchronous file I/O', async () => {
    const dir = await scratchDir();
    const store = await openStore(dir);
    afterTest(() => store.close());
    const log = await store.createPartition(newTopic(), 0, { ...config, segmentBytes: 4096 });
    const spy = countSyncFsCalls();
    try {
      const appends = [];
      for (let i = 0; i < 60; i++) {
        // Several appends in flight at once, so commits group.
        appends.push(log.append(batch(i, 3, 40), { durability: i % 2 === 0 ? 'fsync' : 'write' }));
        if (i % 10 === 9) for (const r of await Promise.all(appends.splice(0))) expect(r.ok).toBe(true);
      }
    } finally {
      spy.restore();
    }
    expect(log.endOffset()).toBe(180);
    // It did roll: several segments were written while counting.
    const segments = (await readdir(dir, { recursive: true })).filter((n) => n.endsWith('.log'));
    expect(segments.length).toBeGreaterThan(2);
    expect(spy.calls).toEqual([]);
  });

  it('the guard sees calls made through named imports of node:fs', async () => {
    const dir = await scratchDir();
    const spy = countSyncFsCalls();
    let fd: number | undefined;
    try {
      const { openSync, writeSync } = await import('node:fs');
      fd = openSync(`${dir}/probe`, 'w');
      writeSync(fd, Buffer.from('x'));
    } finally {
      spy.restore();
      if (fd !== undefined) fs.closeSync(fd);
    }
    expect(spy.calls).toEqual(['openSync', 'writeSync']);
  });
});
