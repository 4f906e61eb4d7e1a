// One queue partition's lease state as this node last wrote it, and the receives and acks
// waiting to change it: concurrent requests are applied in arrival order and written together.
//
// Group commit: while one write is in flight, later requests queue up; the next flush applies
// them all to the state in order and writes the result with ONE compare-and-set UPDATE (the
// row's version must still be the one the state was computed from). Nobody is answered
// before that UPDATE has committed, so a crash loses nothing that was confirmed. A version
// that moved (another node, the sweeper, a dead-letter flush) means the cached state is
// stale: reload and apply the same requests again. A batch that changes nothing re-reads the
// row instead of trusting the cache, so an answer never rests on a state another node replaced.
import { addTally, emptyTally, type PartitionState, type Tally } from './partition-state.js';

/** What a transition made of the state: the next state, the caller's answer, records delivered. */
export interface Transitioned<T> {
  state: PartitionState;
  value: T;
  delivered?: number;
}

/** A change to the partition state; pure except for reads of the log (ordered_by_key). */
export type Transition<T> = (
  state: PartitionState,
  now: number,
  tally: Tally,
) => Transitioned<T> | Promise<Transitioned<T>>;

export interface Versioned {
  state: PartitionState;
  /** Opaque: changes with every committed write of the row. */
  version: string;
}

/** The storage a cell needs (the queue_partitions row of one queue partition). */
export interface CellStore {
  /** The stored state and its version, creating the row if it is missing. */
  load(now: number): Promise<Versioned>;
  /** Write `state` if the row is still at `version`; the new version, or undefined if it moved. */
  write(
    version: string,
    state: PartitionState,
    tally: Tally,
    delivered: number,
    now: number,
  ): Promise<string | undefined>;
}

/** What one request gets back: its answer, its own counters, and the state after its batch. */
export interface CellResult<T> {
  value: T;
  tally: Tally;
  state: PartitionState;
}

interface Pending {
  fn: Transition<unknown>;
  resolve(r: CellResult<unknown>): void;
  reject(e: unknown): void;
}

/** Attempts before a batch gives up because other writers keep moving the row. */
const MAX_ATTEMPTS = 50;

/**
 * `promise`, or a rejection the HTTP layer answers 503 `unavailable` once `ms` pass. A database
 * that stopped answering (a stalled connection) would otherwise hold this partition's every
 * receive and ack behind one write for as long as TCP takes to notice.
 */
function answeredWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  if (!Number.isFinite(ms)) return promise;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the database within ${ms} ms (${what})`)), ms);
  });
  // The abandoned call may still settle: its outcome is nobody's now.
  promise.catch(() => {});
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class PartitionCell {
  private cached: Versioned | undefined;
  private pending: Pending[] = [];
  private flushing = false;

  /**
   * @param storeTimeoutMs How long a load or write of the row may take. Past it the batch fails
   *   (503) and the cell moves on with its cached state dropped: a write that still commits later
   *   moved the version, so the next batch's compare-and-set re-reads instead of overwriting it.
   */
  constructor(
    private readonly store: CellStore,
    private readonly clock: () => number,
    private readonly storeTimeoutMs = Infinity,
  ) {}

  /** A write is in flight (a request now waits for it and then for its own batch). */
  get busy(): boolean {
    return this.flushing;
  }

  /** Forget the cached state (the next batch reads the row). */
  invalidate(): void {
    this.cached = undefined;
  }

  /** Apply `fn` in arrival order with whatever else is waiting; resolves once it is committed. */
  run<T>(fn: Transition<T>): Promise<CellResult<T>> {
    return new Promise<CellResult<T>>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (r: CellResult<unknown>) => void, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        try {
          const results = await this.commit(batch);
          batch.forEach((p, i) => p.resolve(results[i]!));
        } catch (e) {
          this.cached = undefined;
          for (const p of batch) p.reject(e);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async commit(batch: Pending[]): Promise<Array<CellResult<unknown>>> {
    let fresh = false;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (!this.cached) {
        this.cached = await answeredWithin(this.store.load(this.clock()), this.storeTimeoutMs, 'queue state read');
        fresh = true;
      }
      const base = this.cached;
      const now = this.clock();
      let state = base.state;
      let delivered = 0;
      const total = emptyTally();
      const outs: Array<{ value: unknown; tally: Tally }> = [];
      for (const p of batch) {
        const tally = emptyTally();
        const r = await p.fn(state, now, tally);
        state = r.state;
        delivered += r.delivered ?? 0;
        addTally(total, tally);
        outs.push({ value: r.value, tally });
      }
      if (state === base.state) {
        // Nothing to write: the answers stand only if they were computed from the stored state.
        if (fresh) return outs.map((o) => ({ ...o, state }));
        this.cached = undefined;
        continue;
      }
      const version = await answeredWithin(
        this.store.write(base.version, state, total, delivered, now),
        this.storeTimeoutMs,
        'queue state write',
      );
      if (version !== undefined) {
        this.cached = { state, version };
        return outs.map((o) => ({ ...o, state }));
      }
      this.cached = undefined;
    }
    throw new Error(`queue partition state kept changing under ${MAX_ATTEMPTS} attempts to write it`);
  }
}
