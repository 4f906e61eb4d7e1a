// In-process wake-ups for group changes: a rebalance on this node ends the long-polls and
// SSE waits of that group's members early. Other nodes notice on their next transaction.

/** Per-group listeners, woken when the group's generation or membership changes. */
export class GroupSignals {
  private readonly listeners = new Map<string, Set<() => void>>();

  /** Wake everything waiting on `group`. */
  notify(group: string): void {
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
