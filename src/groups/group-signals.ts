// In-process wake-ups for group changes: a rebalance on this node ends the long-polls and
// SSE waits of that group's members early. Other nodes notice on their next transaction.

/** Per-group listeners, woken when the group's generation or membership changes. */
export class GroupSignals {
  private readonly listeners = new Map<string, Set<() => void>>();
  /** Notifications so far per group: a waiter compares it with what it saw before it subscribed. */
  private readonly versions = new Map<string, number>();

  /**
   * How many times `group` was notified. Read before looking at the group and compared after
   * subscribing with `once`, it tells a waiter about a change it would otherwise miss.
   */
  version(group: string): number {
    return this.versions.get(group) ?? 0;
  }

  /** Wake everything waiting on `group`. */
  notify(group: string): void {
    this.versions.set(group, this.version(group) + 1);
    const set = this.listeners.get(group);
    if (!set) return;
    this.listeners.delete(group);
    for (const fn of set) fn();
  }

  /** Call `fn` on the group's next change; returns an unsubscribe function. */
  once(group: string, fn: () => void): () => void {
    let set = this.listeners.get(group);
    if (!set) {
      set = new Set();
      this.listeners.set(group, set);
    }
    set.add(fn);
    return () => {
      const current = this.listeners.get(group);
      current?.delete(fn);
      if (current?.size === 0) this.listeners.delete(group);
    };
  }
}
