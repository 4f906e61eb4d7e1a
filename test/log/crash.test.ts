// kill -9 crash test: a child appends with fsync and prints acknowledged offsets; the parent
// kills it at random moments, reopens, and checks every acknowledged batch is there, intact.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  afterTest,
  batch,
  cleanUpAfterEach,
  crashableStore,
  newTopic,
  openStore,
  readAll,
  scratchDir,
  waitFor,
} from './helpers.js';

const child = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
cleanUpAfterEach();

interface Ack {
  base: number;
  last: number;
  id: string;
}

/** Runs the child until it has acknowledged at least `minAcks` batches, then SIGKILLs it. */
function runAndKill(
  dataDir: string,
  topic: string,
  minAcks: number,
  extraMs: number,
  env: Record<string, string> = {},
): Promise<Ack[]> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dataDir, topic, '8'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    const acks: Ack[] = [];
    let out = '';
    let err = '';
    let killing = false;
    const deadline = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const m = /^ACK (\d+) (\d+) (\S+)$/.exec(line);
        if (m) acks.push({ base: Number(m[1]), last: Number(m[2]), id: m[3]! });
      }
      if (!killing && acks.length >= minAcks) {
        killing = true;
        setTimeout(() => proc.kill('SIGKILL'), extraMs);
      }
    });
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    proc.on('exit', (_code, signal) => {
      clearTimeout(deadline);
      if (signal === 'SIGKILL' && killing) resolve(acks);
      else reject(new Error(`child exited unexpectedly (${signal}): ${err}`));
    });
  });
}

describe('file store under kill -9', () => {
  it('keeps every acknowledged append across repeated crashes; offsets continue without gaps', async () => {
    const dir = await scratchDir();
    const topic = newTopic();
    const acked: Ack[] = [];
    let seed = 12345;
    const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    for (let round = 0; round < 4; round++) {
      acked.push(...(await runAndKill(dir, topic, 20 + rand(200), rand(40))));
      const store = await openStore(dir);
      const log = store.getPartition(topic, 0)!;
      const records = await readAll(log);
      // Dense offsets from 0, and every acknowledged batch present with its own content.
      expect(records.map((r) => r.offset)).toEqual(Array.from({ length: log.endOffset() }, (_, i) => i));
      for (const a of acked) {
        for (let o = a.base; o <= a.last; o++) {
          const r = records[o];
          expect(r?.key?.toString()).toBe(a.id);
          expect(r?.value?.toString().startsWith(`${a.id}.${o - a.base}:`)).toBe(true);
        }
      }
      await store.close();
    }
    expect(acked.length).toBeGreaterThan(80);
    // After the last crash the log still accepts appends right after its end.
    const store = await openStore(dir);
    afterTest(() => store.close());
    const log = store.getPartition(topic, 0)!;
    const end = log.endOffset();
    expect(await log.append(batch(1), { durability: 'fsync' })).toEqual({
      ok: true,
      value: { baseOffset: end, lastOffset: end + 2 },
    });
  }, 60_000);

  it('write durability, rolls, retention and flushes every few ms, and the checking start crashing too: nothing acknowledged lost, no offset reused', async () => {
    const dir = await scratchDir();
    const topic = newTopic();
    const acked: Ack[] = [];
    let seed = 777;
    const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const env = {
      CRASH_DURABILITY: 'write',
      CRASH_FLUSH_MS: '7',
      CRASH_RETENTION_MS: '11',
      CRASH_SEGMENT_BYTES: '16384',
      CRASH_RETENTION_BYTES: '65536',
    };
    let lastEnd = 0;
    for (let round = 0; round < 4; round++) {
      acked.push(...(await runAndKill(dir, topic, 20 + rand(200), rand(40), env)));
      // The checking start never closes: the next child starts after a crash as well; every
      // other round it also crashes before its first flush.
      let scrubbed = false;
      const { store } = await crashableStore(
        {
          flushIntervalMs: round % 2 ? 3_600_000 : 0,
          scrubBytesPerSec: 1 << 30,
          observer: { scrubFinished: () => (scrubbed = true) },
        },
        { dataDir: dir },
      );
      await waitFor('the scrub', () => (scrubbed ? true : undefined));
      expect(store.quarantined()).toEqual([]);
      const log = store.getPartition(topic, 0)!;
      const start = log.startOffset();
      const records = await readAll(log);
      expect(records.map((r) => r.offset)).toEqual(
        Array.from({ length: log.endOffset() - start }, (_, i) => start + i),
      );
      expect(log.endOffset()).toBeGreaterThanOrEqual(lastEnd);
      lastEnd = log.endOffset();
      for (const a of acked) {
        for (let o = Math.max(a.base, start); o <= a.last; o++) {
          const r = records[o - start];
          expect(r?.key?.toString()).toBe(a.id);
          expect(r?.value?.toString().startsWith(`${a.id}.${o - a.base}:`)).toBe(true);
        }
      }
      const maxAck = Math.max(...acked.map((a) => a.last));
      expect(log.endOffset()).toBeGreaterThan(maxAck);
      // (Retention ran in the child: the start moved.)
      if (round === 3) expect(start).toBeGreaterThan(0);
    }
  }, 90_000);
});
