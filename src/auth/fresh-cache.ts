// A small read-through cache whose answers are never older than `maxAgeMs`: entries past half
// that age are refreshed in the background, entries past it are awaited. Bounded in size.

/** peek()'s answer when get() would have to wait for the source. */
export const NOT_READY: unique symbol = Symbol('not ready');

export interface FreshCacheOptions<V> {
  load: (key: string) => Promise<V>;
  /** Oldest answer ever served while the source answers (revocation bound). */
  maxAgeMs: number;
  maxEntries: number;
  now?: () => number;
  /** Called when a refresh fails and the last known value is served instead. */
  onStaleServed?: (key: string, error: unknown) => void;
}

interface Entry<V> {
  value: V;
  loadedAt: number;
  refreshing: Promise<V> | null;
}

export class FreshCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly pending = new Map<string, Promise<V>>();
  private readonly now: () => number;

  constructor(private readonly options: FreshCacheOptions<V>) {
    this.now = options.now ?? Date.now;
  }

  /**
   * The value for `key`, at most maxAgeMs old. If the source fails and a value is known, the
   * last known value is served (the source is down, so nothing can have changed through it).
   */
  async get(key: string): Promise<V> {
    const entry = this.entries.get(key);
    if (entry) {
      if (this.fresh(key, entry)) return entry.value;
      try {
        return await (entry.refreshing ?? this.fetch(key));
      } catch (e) {
        this.options.onStaleServed?.(key, e);
        return entry.value;
      }
    }
    return this.fetch(key);
  }

  /**
   * What get() would answer without waiting, if it would not wait: the value while it is young
   * enough (refreshing it in the background past half its age, as get() does), else NOT_READY.
   */
  peek(key: string): V | typeof NOT_READY {
    const entry = this.entries.get(key);
    return entry && this.fresh(key, entry) ? entry.value : NOT_READY;
  }

  /** Whether `entry` may be served as it is; past half its age this starts a background refresh. */
  private fresh(key: string, entry: Entry<V>): boolean {
    const age = this.now() - entry.loadedAt;
    if (age < this.options.maxAgeMs / 2) return true;
    if (age >= this.options.maxAgeMs) return false;
    if (!entry.refreshing) {
      entry.refreshing = this.fetch(key).finally(() => {
        entry.refreshing = null;
      });
      entry.refreshing.catch(() => undefined);
    }
    return true;
  }

  /** Replace the cached value now (a local change, e.g. a revocation on this node). */
  set(key: string, value: V): void {
    this.store(key, value);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  private fetch(key: string): Promise<V> {
    const inflight = this.pending.get(key);
    if (inflight) return inflight;
    const started = this.now();
    const p = this.options.load(key).then(
      (value) => {
        this.pending.delete(key);
        const current = this.entries.get(key);
        // A local set() after this load started wins over what the load saw.
        if (!current || current.loadedAt <= started) this.store(key, value, started);
        return value;
      },
      (e: unknown) => {
        this.pending.delete(key);
        throw e;
      },
    );
    this.pending.set(key, p);
    return p;
  }

  private store(key: string, value: V, loadedAt = this.now()): void {
    this.entries.delete(key);
    if (this.entries.size >= this.options.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, loadedAt, refreshing: null });
  }
}
