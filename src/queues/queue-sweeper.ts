// The queue sweeper: once per cluster (it holds the `queue-sweeper` lease, timed by the database's
// clock, with an epoch), returns expired leases to their queues and appends dead letters nobody else did.
import type { HeldLease, Leases } from '../cluster/leases.js';
import { partitionsDue, queuesByIds, QueueGoneError, type Db } from './queue-repository.js';
import type { QueuesService } from './queues-service.js';

export const QUEUE_SWEEPER_LEASE = 'queue-sweeper';
const BATCH = 200;

export class QueueSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastWarn = 0;
  /** The lease as last taken or renewed: renewed once half of it has run out, not on every tick. */
  private held: { lease: HeldLease; renewAt: number } | undefined;

  constructor(
    private readonly o: {
      db: Db;
      queues: QueuesService;
      /** The sweeper's lease lives as long as `leases.ttlMs`; `exclusive` on single-node stores. */
      leases: Leases;
      intervalMs: number;
      logger: { warn(obj: object, msg: string): void };
      /** This node's clock: when partitions are due, and how long ago the lease was renewed. */
      clock?: () => number;
    },
  ) {}

  private now(): number {
    return (this.o.clock ?? Date.now)();
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.sweepOnce()
        .then(() => undefined)
        .catch((error: unknown) => {
          // Postgres down or similar: say so at most every 30 s, retry next tick.
          if (this.now() - this.lastWarn > 30_000) {
            this.lastWarn = this.now();
            this.o.logger.warn({ err: error }, 'queue sweep failed; will retry');
          }
        })
        .finally(() => {
          this.running = undefined;
        });
    }, this.o.intervalMs);
    this.timer.unref();
  }

  /**
   * The lease if this node holds it, taking or renewing it once half of it has run out. Expiry is
   * the database's business (another node takes the lease only once it has expired by the
   * database's clock); this node's clock only measures how long ago it renewed.
   */
  private async lease(): Promise<HeldLease | undefined> {
    const now = this.now();
    if (this.held && now < this.held.renewAt) return this.held.lease;
    const lease = await this.o.leases.acquire(QUEUE_SWEEPER_LEASE);
    this.held = lease && { lease, renewAt: now + this.o.leases.ttlMs / 2 };
    return lease;
  }

  /** One sweep if this node holds (or can take) the lease; returns the partitions swept. */
  async sweepOnce(): Promise<number> {
    const lease = await this.lease();
    if (!lease) return 0;
    const due = await partitionsDue(this.o.db, this.now(), BATCH);
    if (due.length === 0) return 0;
    const rows = new Map((await queuesByIds(this.o.db, [...new Set(due.map((d) => d.queueId))])).map((q) => [q.id, q]));
    // Inside each sweep's transaction: the lease row stays share-locked until it commits, so no
    // other node takes the lease between this check and the sweep's writes.
    const fence = async (tx: Db) => {
      const ok = await this.o.leases.holds(tx, lease);
      if (!ok && this.held?.lease === lease) this.held = undefined; // taken meanwhile: claim again next tick
      return ok;
    };
    let swept = 0;
    for (const d of due) {
      const queue = rows.get(d.queueId);
      const topic = queue && this.o.queues.topicById(queue.topicId);
      if (!queue || !topic) continue;
      try {
        await this.o.queues.sweepPartition(queue, topic, d.partition, fence);
      } catch (e) {
        if (!(e instanceof QueueGoneError)) throw e; // deleted meanwhile: nothing left to sweep
      }
      swept++;
    }
    return swept;
  }

  /** Stop the timer, wait for a sweep in progress, and hand the lease back. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    this.held = undefined;
    await this.o.leases.release(QUEUE_SWEEPER_LEASE).catch(() => undefined);
  }
}
