// Test kit for the groups service: in-memory PGlite with the real migrations, an in-memory
// log store, and a tiny topic table — enough to drive the service without HTTP.
import { randomUUID } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { createMemoryLogStore, type LogStore } from '../log/index.js';
import type { MetadataDb } from '../metadata/connection.js';
import { migrate } from '../metadata/migrate.js';
import * as schema from '../metadata/schema.js';
import type { RecordJson } from '../topics/record-codec.js';
import type { Topic } from '../topics/topics-service.js';
import type { CursorEntry } from './group-cursor.js';
import type { FetchResult } from './member-fetch.js';
import type { GroupsSettings } from './group-context.js';
import { GroupsService } from './groups-service.js';
import { createGroupTopics } from './topic-adapter.js';

export interface GroupsKit {
  service: GroupsService;
  db: MetadataDb;
  log: LogStore;
  clock: { now: number | null };
  /** The topic table the services look names up in (tests delete and re-create through it). */
  topics: Map<string, Topic>;
  createTopic(partitions: number): Promise<string>;
  produce(topic: string, partition: number, values: unknown[]): Promise<void>;
  /** A second service over the same database and log (another node, or after a restart). */
  restart(settings?: Partial<GroupsSettings>): GroupsService;
  close(): Promise<void>;
}

export async function createGroupsKit(settings: Partial<GroupsSettings> = {}): Promise<GroupsKit> {
  const client = new PGlite();
  await client.waitReady;
  const db = drizzle({ client, schema }) as unknown as MetadataDb;
  await migrate(db);
  const log = createMemoryLogStore({ retentionCheckIntervalMs: 0 });
  await log.open();
  const topics = new Map<string, Topic>();
  const lookup = { lookup: (name: string) => topics.get(name) };
  const clock: { now: number | null } = { now: null };
  const make = (overrides: Partial<GroupsSettings> = {}): GroupsService =>
    new GroupsService({
      db,
      topics: createGroupTopics(lookup, log),
      settings: { rebalanceDelayMs: 0, ...settings, ...overrides },
      now: () => clock.now ?? Date.now(),
    });
  const services = [make()];
  return {
    service: services[0] as GroupsService,
    db,
    log,
    clock,
    topics,
    async createTopic(partitions) {
      const name = `t-${randomUUID()}`;
      const id = randomUUID();
      for (let p = 0; p < partitions; p++) {
        await log.createPartition(id, p, { segmentBytes: 1 << 20, segmentMs: -1, retentionMs: -1, retentionBytes: -1 });
      }
      topics.set(name, {
        id,
        name,
        partitions,
        config: {
          retention_ms: -1,
          retention_bytes: -1,
          segment_bytes: 1 << 20,
          segment_ms: -1,
          durability: 'write',
          value_format: 'json',
          max_record_bytes: 1 << 20,
        },
        createdAt: Date.now(),
        updatedAt: Date.now(),
      });
      return name;
    },
    async produce(topic, partition, values) {
      const t = topics.get(topic);
      const p = t && log.getPartition(t.id, partition);
      if (!p) throw new Error(`no partition ${topic}/${partition}`);
      const res = await p.append(
        values.map((v) => ({ key: null, value: Buffer.from(JSON.stringify(v)), headers: [], timestamp: Date.now() })),
        { durability: 'write' },
      );
      if (!res.ok) throw new Error(res.error.reason);
    },
    restart(overrides) {
      const s = make(overrides);
      services.push(s);
      return s;
    },
    async close() {
      for (const s of services) await s.stop();
      await log.close();
      await client.close();
    },
  };
}

/** Poll `check` until it returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 5_000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A fetch answer's records as objects (the service hands out Record JSON writers). */
export function parsedRecords(r: FetchResult): RecordJson[] {
  return r.batches.flatMap((b) => JSON.parse(b.json.join('[', ']').toString('utf8')) as RecordJson[]);
}

/** What a client confirms by naming this answer's cursor on its next fetch. */
export function confirmOf(r: FetchResult): CursorEntry[] {
  return r.batches.map((b) => ({ topicId: b.topicId, partition: b.partition, offset: b.nextOffset }));
}
