// Leases in Postgres: each singleton background worker (a webhook, the queue sweeper) is owned by one Sluice node
// at a time, taken, renewed and released with one atomic statement each, timed by the database clock.
import { randomUUID } from 'node:crypto';
import { and, eq, inArray, like, sql } from 'drizzle-orm';
import type { MetadataDb } from '../metadata/connection.js';
import { leases } from '../metadata/schema/leases.js';

/** A lease this node holds: the epoch fences writes made under it. */
export interface HeldLease {
  name: string;
  epoch: number;
}

export interface LeasesOptions {
  /** How long a lease lasts without renewal (webhook holders renew every third of it, the queue sweeper at half). */
  ttlMs: number;
  /**
   * This node is the only one by construction (the file or memory log store): take every lease
   * at once, even one a previous process left unexpired, so a restart never waits out a lease.
   */
  exclusive: boolean;
  /** This node's id; random per process by default. */
  nodeId?: string;
}

export class Leases {
  /** This process, as lease holder. */
  readonly nodeId: string;
  readonly ttlMs: number;
  readonly exclusive: boolean;

  constructor(
    private readonly db: MetadataDb,
    o: LeasesOptions,
  ) {
    this.nodeId = o.nodeId ?? randomUUID();
    this.ttlMs = o.ttlMs;
    this.exclusive = o.exclusive;
  }

  /**
   * Take `name` if it is free, expired or already ours, or renew it; undefined if another node
   * holds it. The epoch is bumped whenever the holder changes. One statement, so two nodes
   * racing for a lease cannot both win.
   */
  async acquire(name: string): Promise<HeldLease | undefined> {
    const expiresAt = sql`now() + ${this.ttlMs}::integer * interval '1 millisecond'`;
    const rows = await this.db
      .insert(leases)
      .values({ name, holder: this.nodeId, epoch: 1, expiresAt })
      .onConflictDoUpdate({
        target: leases.name,
        set: {
          holder: this.nodeId,
          epoch: sql`case when ${leases.holder} = ${this.nodeId} then ${leases.epoch} else ${leases.epoch} + 1 end`,
          expiresAt,
        },
        ...(this.exclusive ? {} : { setWhere: sql`${leases.holder} = ${this.nodeId} or ${leases.expiresAt} < now()` }),
      })
      .returning({ epoch: leases.epoch });
    const epoch = rows[0]?.epoch;
    return epoch === undefined ? undefined : { name, epoch };
  }

  /**
   * Renew the leases among `names` this node still holds (expired ones too, if nobody took
   * them), in one statement; returns name → epoch for those it holds. A missing name is lost.
   */
  async renew(names: string[]): Promise<Map<string, number>> {
    if (names.length === 0) return new Map();
    const rows = await this.db
      .update(leases)
      .set({ expiresAt: sql`now() + ${this.ttlMs}::integer * interval '1 millisecond'` })
      .where(and(eq(leases.holder, this.nodeId), inArray(leases.name, names)))
      .returning({ name: leases.name, epoch: leases.epoch });
    return new Map(rows.map((r) => [r.name, r.epoch]));
  }

  /** Give `name` up now (if ours), so another node can take it without waiting for expiry. */
  async release(name: string): Promise<void> {
    await this.db
      .update(leases)
      .set({ expiresAt: sql`'-infinity'::timestamptz` })
      .where(and(eq(leases.name, name), eq(leases.holder, this.nodeId)));
  }

  /** The thing `name` guarded is gone: drop its row (whoever holds it). */
  async forget(name: string): Promise<void> {
    await this.db.delete(leases).where(eq(leases.name, name));
  }

  /**
   * Inside a transaction: whether this node still holds `lease` at its epoch. The row stays
   * share-locked until the transaction ends, so no other node can take the lease meanwhile and
   * whatever the transaction writes is visible to the next holder when it loads its state.
   */
  async holds(tx: MetadataDb, lease: HeldLease): Promise<boolean> {
    const rows = await tx
      .select({ holder: leases.holder, epoch: leases.epoch })
      .from(leases)
      .where(eq(leases.name, lease.name))
      .for('share');
    const row = rows[0];
    return row !== undefined && row.holder === this.nodeId && row.epoch === lease.epoch;
  }

  /** Unexpired holders of the leases whose name starts with `prefix` (name → node id). */
  async holders(prefix: string): Promise<Map<string, string>> {
    const rows = await this.db
      .select({ name: leases.name, holder: leases.holder })
      .from(leases)
      .where(and(like(leases.name, `${prefix}%`), sql`${leases.expiresAt} >= now()`));
    return new Map(rows.map((r) => [r.name, r.holder]));
  }
}
