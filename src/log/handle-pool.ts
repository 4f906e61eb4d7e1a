// One store-wide bound on open segment descriptors: an LRU of open segment handles that
// closes idle ones past the bound, and a file-system seam that frees some on EMFILE/ENFILE.
import type { LogFs } from './log-fs.js';

/** A file kept open across calls (a segment's .log); closes only when nobody is using it. */
export interface PooledFile {
  /** No operation is using the descriptor. */
  readonly idle: boolean;
  /** Closes the descriptor if it is idle (leaving the pool at once); false when it is in use. */
  closeIfIdle(): Promise<boolean>;
}

/** Whether `e` says the process or system ran out of descriptors (never a fault of the data). */
export function isDescriptorExhaustion(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/**
 * Least-recently-used set of open segment files. `touch` on every use; past `max` the
 * idlest files are closed (they reopen on demand). Files in use are skipped, so the
 * count can pass `max` by the number of concurrent operations, never by the partition count.
 */
export class HandlePool {
  private readonly open = new Map<PooledFile, true>();

  constructor(readonly max: number) {
    if (!(Number.isSafeInteger(max) && max >= 1)) throw new RangeError(`maxOpenFiles must be ≥ 1, got ${max}`);
  }

  /** Open descriptors tracked (segment files only). */
  get size(): number {
    return this.open.size;
  }

  /** Marks `file` most recently used (and open). */
  touch(file: PooledFile): void {
    this.open.delete(file);
    this.open.set(file, true);
  }

  /** `file` closed its descriptor. */
  closed(file: PooledFile): void {
    this.open.delete(file);
  }

  /**
   * Closes the least recently used idle files until `reserve` more fit under the bound
   * (or every open file is in use). Called before an open and when an operation ends,
   * so closing keeps pace with opening however many partitions are busy.
   */
  async makeRoom(reserve = 0): Promise<void> {
    while (this.open.size + reserve > this.max) {
      let victim: PooledFile | undefined;
      for (const file of this.open.keys()) {
        if (file.idle) {
          victim = file;
          break;
        }
      }
      if (!victim) return;
      await victim.closeIfIdle();
    }
  }

  /** Closes idle files, oldest first, until at most `target` stay open (or all left are in use). */
  async shrink(target: number): Promise<void> {
    for (const file of [...this.open.keys()]) {
      if (this.open.size <= target) break;
      if (this.open.has(file)) await file.closeIfIdle();
    }
  }

  /**
   * Wraps `fs` so an open (or directory sync) that fails with EMFILE/ENFILE closes idle
   * segment files and tries again, a few times, before the error reaches the caller.
   */
  wrap(fs: LogFs): LogFs {
    const retry = async <T>(op: () => Promise<T>): Promise<T> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await op();
        } catch (e) {
          if (!isDescriptorExhaustion(e) || attempt >= 3 || this.open.size === 0) throw e;
          await this.shrink(Math.floor(this.open.size / 2));
        }
      }
    };
    return {
      ...fs,
      open: (path, flags) => retry(() => fs.open(path, flags)),
      syncDir: (path) => retry(() => fs.syncDir(path)),
    };
  }
}
