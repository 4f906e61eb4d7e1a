// Wakes readers when a partition's end offset moves: waitForData and onAppend for both stores.
// Waiters are resolved by appends, deletion or close — never by polling the disk.

interface Waiter {
  offset: number;
  resolve: (value: boolean) => void;
}

/** Per-partition registry of long-poll waiters and append listeners. */
export class AppendNotifier {
  private readonly waiters = new Set<Waiter>();
  private readonly listeners = new Set<(endOffset: number) => void>();
  private closed = false;

  constructor(private readonly currentEnd: () => number) {}

  /** See PartitionLog.waitForData. */
  waitForData(offset: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.currentEnd() > offset) return Promise.resolve(true);
    if (this.closed || signal?.aborted || timeoutMs <= 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const onAbort = (): void => finish(false);
      const waiter: Waiter = { offset, resolve: (v) => finish(v) };
      const finish = (value: boolean): void => {
        if (!this.waiters.delete(waiter)) return;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      };
      this.waiters.add(waiter);
      const timer = setTimeout(() => finish(false), Math.min(timeoutMs, 2 ** 31 - 1)); // setTimeout's limit
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** See PartitionLog.onAppend. */
  onAppend(listener: (endOffset: number) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Called after an append became visible. A throwing listener never breaks the append. */
  notify(endOffset: number): void {
    for (const waiter of [...this.waiters]) {
      if (endOffset > waiter.offset) waiter.resolve(true);
    }
    for (const listener of [...this.listeners]) {
      try {
        listener(endOffset);
      } catch {
        // A listener's bug must not turn a durable append into a failure.
      }
    }
  }

  /** Partition closed or deleted: wake every waiter with false and drop listeners. */
  close(): void {
    this.closed = true;
    for (const waiter of [...this.waiters]) waiter.resolve(false);
    this.listeners.clear();
  }
}
