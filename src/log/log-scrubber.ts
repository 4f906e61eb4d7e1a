// Background verification after start-up: re-reads every partition's log below the recovery
// point at a bounded rate, so corruption the start no longer scans for is still found.
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import type { LogLogger } from './logger.js';
import type { LogObserver } from './types.js';

/** What the scrubber needs of a partition (FilePartitionLog.scrub). */
export interface ScrubbedPartition {
  readonly topicId: string;
  readonly partition: number;
  readonly quarantineReason: string | undefined;
  scrub(pace: (bytes: number) => Promise<boolean>): Promise<number>;
}

export interface ScrubOptions {
  /** Read rate bound over the whole pass. */
  bytesPerSec: number;
  logger: LogLogger;
  observer?: LogObserver | undefined;
  /** How often a long pass logs its progress (default 60 s). */
  progressEveryMs?: number;
}

export interface Scrub {
  /** Settles when the pass ends (finished or stopped); never rejects. */
  readonly done: Promise<void>;
  /** Stops the pass at its next chunk and waits for it. */
  stop(): Promise<void>;
}

/** Starts one pass over `partitions`, one partition at a time, CRC-checking at most `bytesPerSec`. */
export function startScrub(partitions: ScrubbedPartition[], options: ScrubOptions): Scrub {
  const { logger, observer, bytesPerSec } = options;
  const progressEveryMs = options.progressEveryMs ?? 60_000;
  const abort = new AbortController();
  const began = performance.now();
  let read = 0;
  let lastProgress = began;
  let done = 0;

  const pace = async (bytes: number): Promise<boolean> => {
    read += bytes;
    observer?.scrubbed?.(bytes);
    const now = performance.now();
    if (now - lastProgress >= progressEveryMs) {
      lastProgress = now;
      logger.info({ scrubbedBytes: read, partitionsDone: done, partitions: partitions.length }, 'log scrub progress');
    }
    const wait = began + (read / bytesPerSec) * 1000 - now;
    // Never hold the event loop: yield between chunks even when ahead of the budget.
    if (wait > 0) await sleep(wait, undefined, { signal: abort.signal }).catch(() => undefined);
    else await yieldToLoop();
    return !abort.signal.aborted;
  };

  const run = async (): Promise<void> => {
    let quarantined = 0;
    logger.info({ partitions: partitions.length, bytesPerSec }, 'log scrub started');
    for (const p of partitions) {
      if (abort.signal.aborted) break;
      if (p.quarantineReason) continue;
      try {
        await p.scrub(pace);
      } catch (e) {
        // An I/O error is not corruption: it is logged, the partition keeps serving.
        logger.warn({ topicId: p.topicId, partition: p.partition, err: e }, 'log scrub could not read a partition');
      }
      if (p.quarantineReason) quarantined++;
      done++;
    }
    const seconds = (performance.now() - began) / 1000;
    if (abort.signal.aborted) {
      logger.info({ scrubbedBytes: read, partitionsDone: done, seconds }, 'log scrub stopped');
      return;
    }
    observer?.scrubFinished?.(seconds);
    logger.info({ scrubbedBytes: read, partitions: done, quarantined, seconds }, 'log scrub finished');
  };

  const finished = run().catch((e: unknown) => logger.error({ err: e }, 'log scrub failed'));
  return {
    done: finished,
    async stop() {
      abort.abort();
      await finished;
    },
  };
}
