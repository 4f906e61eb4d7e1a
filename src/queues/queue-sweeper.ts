// The queue sweeper: once per cluster (it holds the `queue-sweeper` worker lease with an
// epoch), returns expired leases to their queues and appends dead letters nobody else did.
import { randomUUID } from 'node:crypto';
import {
  claimWorkerLease,
  holdsWorkerLease,
  partitionsDue,
  queuesByIds,
  QueueGoneError,
  releaseWorkerLease,
  type Db,
} from './queue-repository.js';
import type { QueuesService } from './queues-service.js';

const LEASE_NAME = 'queue-sweeper';
const BATCH = 200;

export class QueueSweeper {
  /** This process, as the lease holder. */
  readonly holder = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastWarn = 0;
  /** The lease as last taken or renewed: renewed once half of it has run out, not on every tick. */
  private held: { epoch: number; renewAt: number } | undefined;

  constructor(
    private readonly o: {
      db: Db;
      queues: QueuesService;
      intervalMs: number;
      logger: { warn(obj: object, msg: string): void };
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

  /** One sweep if this node holds (or can take) the lease; returns the partitions swept. */
  async sweepOnce(): Promise<number> {
    const ttl = Math.max(5_000, this.o.intervalMs * 10);
    const now = this.now();
    let epoch = this.held && now < this.held.renewAt ? this.held.epoch : undefined;
    if (epoch === undefined) {
      epoch = await claimWorkerLease(this.o.db, LEASE_NAME, this.holder, now, ttl);
      this.held = epoch === undefined ? undefined : { epoch, renewAt: now + ttl / 2 };
      if (epoch === undefined) return 0;
    }
    const due = await partitionsDue(this.o.db, this.now(), BATCH);
    if (due.length === 0) return 0;
    const rows = new Map((await queuesByIds(this.o.db, [...new Set(due.map((d) => d.queueId))])).map((q) => [q.id, q]));
    const held = epoch;
    const fence = async (tx: Db) => {
      const ok = await holdsWorkerLease(tx, LEASE_NAME, this.holder, held, this.now());
      if (!ok) this.held = undefined; // taken meanwhile (e.g. clocks apart): claim again next tick
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
    await releaseWorkerLease(this.o.db, LEASE_NAME, this.holder).catch(() => undefined);
  }
}
