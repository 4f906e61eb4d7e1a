// In-process wake-ups for group changes: a rebalance on this node ends the long-polls and
// SSE waits of that group's members early. Other nodes notice on their next transaction.

/** Per-group listeners, woken when the group's generation or membership changes. */
export class GroupSignals {
  private readonly listeners = new Map<string, Set<() => void>>();
  /**
   * Notifications so far, counted per slot of a fixed table a group name hashes to: a waiter
   * compares the count with what it saw before it subscribed. Two groups sharing a slot only
   * wake each other's waiters early (they look again); a change is never missed, and nothing is
   * kept per group, however many groups come and go.
   */
  private readonly versions = new Uint32Array(VERSION_SLOTS);

  /**
   * The notification count of `group`'s slot. Read before looking at the group and compared
   * after subscribing with `once`, it tells a waiter about a change it would otherwise miss.
   */
  version(group: string): number {
    return this.versions[slotOf(group)] ?? 0;
  }

  /** Wake everything waiting on `group`. */
  notify(group: string): void {
    const slot = slotOf(group);
    this.versions[slot] = (this.versions[slot] ?? 0) + 1; // wraps at 2^32: still a change
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

const VERSION_SLOTS = 1 << 16;

/** FNV-1a over the UTF-16 code units, folded to a slot. */
function slotOf(group: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < group.length; i++) {
    h ^= group.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) & (VERSION_SLOTS - 1);
}
