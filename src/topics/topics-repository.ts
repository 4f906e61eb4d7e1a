// Postgres access for topic rows (drizzle). No business rules here: the topics service
// decides the order of row and log changes that keeps create/delete crash-safe.
import { and, asc, eq, lt, ne } from 'drizzle-orm';
import type { MetadataDb } from '../metadata/connection.js';
import { topics, type StoredTopicConfig, type TopicRow, type TopicState } from '../metadata/schema.js';

export class TopicsRepository {
  constructor(private readonly db: MetadataDb) {}

  /** Insert a row in state 'creating'; throws a unique violation if the name is live. */
  async insertCreating(row: {
    id: string;
    name: string;
    partitions: number;
    config: StoredTopicConfig;
    kafkaTopic?: string;
    now: number;
  }) {
    await this.db.insert(topics).values({
      id: row.id,
      name: row.name,
      state: 'creating',
      partitions: row.partitions,
      config: row.config,
      kafkaTopic: row.kafkaTopic ?? null,
      createdAt: row.now,
      updatedAt: row.now,
    });
  }

  async setState(id: string, from: TopicState, to: TopicState, now: number): Promise<boolean> {
    const rows = await this.db
      .update(topics)
      .set({ state: to, updatedAt: now })
      .where(and(eq(topics.id, id), eq(topics.state, from)))
      .returning({ id: topics.id });
    return rows.length === 1;
  }

  async remove(id: string): Promise<void> {
    await this.db.delete(topics).where(eq(topics.id, id));
  }

  async findActive(name: string): Promise<TopicRow | undefined> {
    if (!/^[a-zA-Z0-9._-]{1,249}$/.test(name)) return undefined; // no such topic can exist; Postgres would reject a NUL byte (500)
    const rows = await this.db
      .select()
      .from(topics)
      .where(and(eq(topics.name, name), eq(topics.state, 'active')))
      .limit(1);
    return rows[0];
  }

  async findLive(name: string): Promise<TopicRow | undefined> {
    const rows = await this.db
      .select()
      .from(topics)
      .where(and(eq(topics.name, name), ne(topics.state, 'deleting')))
      .limit(1);
    return rows[0];
  }

  /** The live topic exposing the Kafka topic `kafkaTopic`, if any. */
  async findLiveByKafkaTopic(kafkaTopic: string): Promise<TopicRow | undefined> {
    const rows = await this.db
      .select()
      .from(topics)
      .where(and(eq(topics.kafkaTopic, kafkaTopic), ne(topics.state, 'deleting')))
      .limit(1);
    return rows[0];
  }

  /** Rows of `name` whose delete has not finished (a listener failed, or the process died). */
  async listDeleting(name: string): Promise<TopicRow[]> {
    return this.db
      .select()
      .from(topics)
      .where(and(eq(topics.name, name), eq(topics.state, 'deleting')));
  }

  async listActive(): Promise<TopicRow[]> {
    return this.db.select().from(topics).where(eq(topics.state, 'active')).orderBy(asc(topics.name));
  }

  async listAll(): Promise<TopicRow[]> {
    return this.db.select().from(topics).orderBy(asc(topics.name));
  }

  /**
   * Raise the partition count (never lowers it: the row only changes while still below
   * `partitions`) and/or replace the config. Returns the row after the change.
   */
  async update(
    id: string,
    change: { partitions?: number; config?: StoredTopicConfig },
    now: number,
  ): Promise<TopicRow | undefined> {
    const set: Partial<typeof topics.$inferInsert> = { updatedAt: now };
    if (change.config) set.config = change.config;
    const conditions = [eq(topics.id, id), eq(topics.state, 'active')];
    if (change.partitions !== undefined) {
      set.partitions = change.partitions;
      conditions.push(lt(topics.partitions, change.partitions));
    }
    const rows = await this.db
      .update(topics)
      .set(set)
      .where(and(...conditions))
      .returning();
    return rows[0];
  }
}
