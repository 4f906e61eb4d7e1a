// In-process wake-ups for receivers waiting on a queue: a release, an expiry or a config
// change on this node wakes them at once (other nodes' changes are seen by polling).
export class QueueSignals {
  private readonly waiters = new Map<string, Set<() => void>>();

  /** Call `listener` on the next wake of `queueId`; returns the function that stops listening. */
  on(queueId: string, listener: () => void): () => void {
    let set = this.waiters.get(queueId);
    if (!set) this.waiters.set(queueId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.waiters.get(queueId) === set) this.waiters.delete(queueId);
    };
  }

  /** How many listeners wait on `queueId` (tests: a receive is known to be waiting). */
  waiting(queueId: string): number {
    return this.waiters.get(queueId)?.size ?? 0;
  }

  wake(queueId: string): void {
    const set = this.waiters.get(queueId);
    if (set) for (const listener of [...set]) listener();
  }

  wakeAll(): void {
    for (const set of [...this.waiters.values()]) for (const listener of [...set]) listener();
  }
}
