// Postgres access for webhooks: subscription rows, the bounded deliveries log, and delivery
// progress stored as committed offsets of an internal consumer group (`__webhook.<id>`).
import { and, asc, desc, eq, lt, sql } from 'drizzle-orm';
import * as groupRepo from '../groups/group-repository.js';
import type { MetadataDb } from '../metadata/connection.js';
import {
  webhookDeliveries,
  webhooks,
  type DeliveryOutcome,
  type WebhookDeliveryRow,
  type WebhookRow,
} from '../metadata/schema/webhooks.js';

/** The internal consumer group holding a webhook's committed offsets (visible in GET /v1/groups). */
export const progressGroup = (webhookId: string): string => `__webhook.${webhookId}`;

/** Where a partition's delivery stands: the next offset to deliver, and the batch in flight if any. */
export interface PartitionProgress {
  offset: number;
  /** End (exclusive) of the batch being delivered when last saved: a restart re-sends exactly it. */
  pendingEnd: number | undefined;
}

export interface AttemptRecord {
  webhookId: string;
  messageId: string;
  partition: number;
  firstOffset: number;
  lastOffset: number;
  recordCount: number;
  attempt: number;
  outcome: DeliveryOutcome;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  at: number;
}

function encodeMetadata(pendingEnd: number | undefined): string | null {
  return pendingEnd === undefined ? null : JSON.stringify({ pending_end: pendingEnd });
}

function decodeMetadata(metadata: string | null): number | undefined {
  if (metadata === null) return undefined;
  try {
    const parsed = JSON.parse(metadata) as { pending_end?: unknown };
    return typeof parsed.pending_end === 'number' ? parsed.pending_end : undefined;
  } catch {
    return undefined;
  }
}

export class WebhookRepository {
  constructor(
    private readonly db: MetadataDb,
    /** Attempts kept per webhook in the deliveries log. */
    private readonly deliveriesKept: number,
  ) {}

  /** Insert a webhook and, for `from: latest`, its starting offsets, atomically. */
  async insert(row: WebhookRow, startOffsets: Array<{ partition: number; offset: number }>): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.insert(webhooks).values(row);
      if (startOffsets.length === 0) return;
      const group = progressGroup(row.id);
      await groupRepo.lockOrCreateGroup(tx, group, row.createdAt);
      await groupRepo.writeOffsets(
        tx,
        group,
        startOffsets.map((o) => ({ topic: row.topic, partition: o.partition, offset: o.offset, metadata: null })),
        row.createdAt,
      );
    });
  }

  async get(id: string): Promise<WebhookRow | undefined> {
    const rows = await this.db.select().from(webhooks).where(eq(webhooks.id, id));
    return rows[0];
  }

  async list(): Promise<WebhookRow[]> {
    return this.db.select().from(webhooks).orderBy(asc(webhooks.createdAt), asc(webhooks.id));
  }

  async listByTopic(topic: string): Promise<WebhookRow[]> {
    return this.db.select().from(webhooks).where(eq(webhooks.topic, topic));
  }

  /** Its topic was deleted: the webhook ends (terminal state) and its progress group goes. */
  async endWithTopic(id: string, reason: string, now: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx
        .update(webhooks)
        .set({ state: 'topic_deleted', stateReason: reason, updatedAt: now })
        .where(eq(webhooks.id, id));
      await groupRepo.deleteGroup(tx, progressGroup(id));
    });
  }

  async update(id: string, fields: Partial<Omit<WebhookRow, 'id' | 'createdAt'>>): Promise<WebhookRow | undefined> {
    const rows = await this.db.update(webhooks).set(fields).where(eq(webhooks.id, id)).returning();
    return rows[0];
  }

  /** Delete the webhook, its deliveries log and its progress group; false if it did not exist. */
  async delete(id: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.delete(webhooks).where(eq(webhooks.id, id)).returning({ id: webhooks.id });
      await groupRepo.deleteGroup(tx, progressGroup(id));
      return rows.length > 0;
    });
  }

  async loadProgress(id: string, topic: string): Promise<Map<number, PartitionProgress>> {
    const rows = await groupRepo.loadOffsets(this.db, progressGroup(id));
    const out = new Map<number, PartitionProgress>();
    for (const r of rows)
      if (r.topic === topic) out.set(r.partition, { offset: r.offset, pendingEnd: decodeMetadata(r.metadata) });
    return out;
  }

  /**
   * Commit a partition's progress (the offset is the next record to deliver), adding
   * `expired` (records retention deleted before delivery) to the webhook's count atomically.
   * With a `fence`, nothing is written (and false returned) unless it holds inside the
   * transaction: a node that lost the webhook's lease cannot move its progress.
   */
  async saveProgress(
    id: string,
    topic: string,
    partition: number,
    progress: PartitionProgress,
    now: number,
    expired = 0,
    fence?: (tx: MetadataDb) => Promise<boolean>,
  ): Promise<boolean> {
    const group = progressGroup(id);
    return this.db.transaction(async (tx) => {
      if (fence && !(await fence(tx))) return false;
      if (expired > 0) {
        await tx
          .update(webhooks)
          .set({ recordsExpired: sql`${webhooks.recordsExpired} + ${expired}` })
          .where(eq(webhooks.id, id));
      }
      await groupRepo.lockOrCreateGroup(tx, group, now);
      await groupRepo.writeOffsets(
        tx,
        group,
        [{ topic, partition, offset: progress.offset, metadata: encodeMetadata(progress.pendingEnd) }],
        now,
      );
      return true;
    });
  }

  /** Log one attempt, update the webhook's health counters, and trim the log to its bound. */
  async recordAttempt(a: AttemptRecord): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.insert(webhookDeliveries).values(a);
      if (a.outcome === 'delivered') {
        await tx
          .update(webhooks)
          .set({ lastSuccessAt: a.at, consecutiveFailures: 0 })
          .where(eq(webhooks.id, a.webhookId));
      } else if (a.outcome === 'dead_lettered') {
        // Delivery moved past the batch: nothing is being retried, so the webhook is not failing
        // (last_error keeps why; the deliveries log shows the dead letter).
        await tx
          .update(webhooks)
          .set({
            consecutiveFailures: 0,
            recordsDeadLettered: sql`${webhooks.recordsDeadLettered} + ${a.recordCount}`,
          })
          .where(eq(webhooks.id, a.webhookId));
      } else if (a.outcome === 'failed' || a.outcome === 'gone') {
        await tx
          .update(webhooks)
          .set({ lastErrorAt: a.at, lastError: a.error, consecutiveFailures: sql`${webhooks.consecutiveFailures} + 1` })
          .where(eq(webhooks.id, a.webhookId));
      }
      const cutoff = await tx
        .select({ id: webhookDeliveries.id })
        .from(webhookDeliveries)
        .where(eq(webhookDeliveries.webhookId, a.webhookId))
        .orderBy(desc(webhookDeliveries.id))
        .offset(this.deliveriesKept - 1)
        .limit(1);
      const oldestKept = cutoff[0]?.id;
      if (oldestKept !== undefined) {
        await tx
          .delete(webhookDeliveries)
          .where(and(eq(webhookDeliveries.webhookId, a.webhookId), lt(webhookDeliveries.id, oldestKept)));
      }
    });
  }

  /** A failure outside an HTTP attempt (a batch that cannot be read or built): the webhook shows failing. */
  async recordFailure(id: string, error: string, at: number): Promise<void> {
    await this.db
      .update(webhooks)
      .set({ lastErrorAt: at, lastError: error, consecutiveFailures: sql`${webhooks.consecutiveFailures} + 1` })
      .where(eq(webhooks.id, id));
  }

  /** Most recent attempts first. */
  async deliveries(id: string, limit: number): Promise<WebhookDeliveryRow[]> {
    return this.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.webhookId, id))
      .orderBy(desc(webhookDeliveries.id))
      .limit(limit);
  }
}
