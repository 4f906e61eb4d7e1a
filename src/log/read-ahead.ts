// Read-ahead for a partition's sequential reader: a consumer paging through the log asks for the
// page after the last one, with the same limits, as soon as that one arrives. Reading that page
// while the last one is still being sent overlaps the log read with the answer and the client's
// own work, instead of starting it when the request comes.

/** Store-wide bound on the bytes of pages read ahead and not yet asked for. */
export const READ_AHEAD_BUDGET_BYTES = 64 * 1024 * 1024;
/** A page read ahead and not asked for within this long is dropped (its reader went away). */
export const READ_AHEAD_IDLE_MS = 2_000;
/** Reads with a larger byte limit are not read ahead (one such page would take the budget). */
export const READ_AHEAD_MAX_PAGE_BYTES = 8 * 1024 * 1024;

/** The store-wide budget pages read ahead are held against. */
export class ReadAheadBudget {
  private used = 0;

  constructor(readonly bytes = READ_AHEAD_BUDGET_BYTES) {}

  /** Reserves `n` bytes if they fit. */
  take(n: number): boolean {
    if (this.used + n > this.bytes) return false;
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }

  get inUse(): number {
    return this.used;
  }
}

/** One read's limits, as far as the page read depends on them. */
export interface PageShape {
  maxRecords: number;
  maxBytes: number;
}

/** A page read ahead: what the read resolves to, and the bytes it holds (for the budget). */
export interface AheadPage<T> {
  value: T;
  bytes: number;
}

interface Slot<T> {
  offset: number;
  shape: PageShape;
  page: Promise<AheadPage<T> | undefined>;
  reserved: number;
  timer: NodeJS.Timeout;
}

const sameShape = (a: PageShape, b: PageShape): boolean => a.maxRecords === b.maxRecords && a.maxBytes === b.maxBytes;

/**
 * One partition's read-ahead: at most one page. After a read that continues the one before it
 * (it starts where that one ended, with the same limits), the page after it is read in the
 * background. Readers at other offsets neither use nor drop it; unused, it goes after
 * READ_AHEAD_IDLE_MS. Interleaved readers never look sequential, so they cost no reads ahead.
 */
export class ReadAhead<T> {
  private slot: Slot<T> | undefined;
  /** Where the last read served ended, its limits, and when it was served. */
  private last: { next: number; shape: PageShape; at: number } | undefined;

  constructor(
    private readonly budget: ReadAheadBudget,
    private readonly unused: () => void = () => {},
    private readonly idleMs = READ_AHEAD_IDLE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * The page read ahead at `offset` with `shape`, if there is one; it is handed over (the slot
   * is emptied). Resolves undefined if reading it failed: the caller reads as usual.
   */
  take(offset: number, shape: PageShape): Promise<AheadPage<T> | undefined> | undefined {
    const s = this.slot;
    if (s === undefined || s.offset !== offset || !sameShape(s.shape, shape)) return undefined;
    this.release(s);
    return s.page;
  }

  /**
   * A read of `shape` from `offset` was served and ended at `next` (`end`: the log's end). If
   * it continued the last one, and came within READ_AHEAD_IDLE_MS of it (a reader slower than
   * that would find its page dropped), `read(next)` reads the page after it (in a later turn).
   * `estimate` bounds the bytes that page can hold; it is reserved until the page is read,
   * then the page's own `bytes` are.
   */
  served(
    offset: number,
    shape: PageShape,
    next: number,
    end: number,
    estimate: number,
    read: (offset: number) => Promise<AheadPage<T>>,
  ): void {
    const at = this.now();
    const last = this.last;
    const sequential =
      last !== undefined && last.next === offset && sameShape(last.shape, shape) && at - last.at < this.idleMs;
    this.last = { next, shape, at };
    if (!sequential || next >= end || next <= offset || shape.maxBytes > READ_AHEAD_MAX_PAGE_BYTES) return;
    if (this.slot !== undefined) this.drop();
    if (!this.budget.take(estimate)) return;
    // The callbacks below run in later turns, after `slot` is set.
    const slot: Slot<T> = {
      offset: next,
      shape,
      reserved: estimate,
      page: new Promise<AheadPage<T>>((resolve, reject) => {
        // A later turn: the page just served is answered first.
        setImmediate(() => read(next).then(resolve, reject));
      }).then(
        (page) => {
          // Now held: its own bytes count, not the estimate (unless it was already handed over).
          if (this.slot === slot) {
            this.budget.give(slot.reserved);
            slot.reserved = 0;
            if (this.budget.take(page.bytes)) slot.reserved = page.bytes;
            else this.drop();
          }
          return page;
        },
        () => {
          if (this.slot === slot) this.drop();
          return undefined;
        },
      ),
      timer: setTimeout(() => {
        if (this.slot === slot) this.drop();
      }, this.idleMs),
    };
    slot.timer.unref();
    this.slot = slot;
  }

  /** Drops the page read ahead, if any (the log closed, or its records went). */
  clear(): void {
    if (this.slot !== undefined) this.drop();
    this.last = undefined;
  }

  private drop(): void {
    this.release(this.slot!);
    this.unused();
  }

  private release(s: Slot<T>): void {
    clearTimeout(s.timer);
    this.budget.give(s.reserved);
    s.reserved = 0;
    if (this.slot === s) this.slot = undefined;
  }
}
