// Start-up reconcile when several nodes share one log and one database (the Kafka store): a
// create or delete in flight may be a live node's. A node starting then must not roll back a
// create another node is finishing, nor take its log for an orphan.
import { afterEach, describe, expect, it } from 'vitest';
import { openMigratedTestDb } from '../../test/support/database.js';
import { createMemoryLogStore, type LogStore } from '../log/index.js';
import type { MetadataDb } from '../metadata/connection.js';
import { TOPIC_CONFIG_DEFAULTS } from './topic-config.js';
import { TopicsRepository } from './topics-repository.js';
import { TopicsService } from './topics-service.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ db: MetadataDb; log: LogStore }> {
  const { db } = await openMigratedTestDb();
  const log = createMemoryLogStore({ retentionCheckIntervalMs: 0 });
  await log.open();
  cleanups.push(() => log.close());
  return { db, log };
}

const quiet = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} } as never;
const partitionConfig = { segmentBytes: 1 << 20, segmentMs: -1, retentionMs: -1, retentionBytes: -1 };

/** Another node half-way through creating `name`: its row is `creating`, its log exists. */
async function createInFlight(repo: TopicsRepository, log: LogStore, id: string, name: string, at: number) {
  await repo.insertCreating({ id, name, partitions: 1, config: { ...TOPIC_CONFIG_DEFAULTS }, now: at });
  await log.createPartition(id, 0, partitionConfig);
}

describe('reconcile with a shared log', () => {
  it('keeps a create another node started moments ago; rolls back one abandoned long ago', async () => {
    const { db, log } = await setup();
    const repo = new TopicsRepository(db);
    const now = Date.now();
    await createInFlight(repo, log, '00000000-0000-4000-8000-000000000001', 'fresh', now - 1_000);
    await createInFlight(repo, log, '00000000-0000-4000-8000-000000000002', 'stale', now - 10 * 60_000);
    const starting = new TopicsService({ repo, log, logger: quiet, maxPartitions: 100, sharedLog: true });
    const report = await starting.reconcile({ removeOrphans: true });
    expect(report.rolledBackCreates).toEqual(['stale']);
    expect((await repo.listAll()).map((r) => [r.name, r.state])).toEqual([['fresh', 'creating']]);
    expect(log.topicIds()).toEqual(['00000000-0000-4000-8000-000000000001']);
  });

  it('does not take for an orphan the log of a topic created while it listed the rows', async () => {
    const { db, log } = await setup();
    const repo = new TopicsRepository(db);
    // The other node inserts its row right after this node listed the rows, then creates the log.
    const racing = Object.create(repo) as TopicsRepository;
    let first = true;
    racing.listAll = async () => {
      const rows = await repo.listAll();
      if (first) {
        first = false;
        await createInFlight(repo, log, '00000000-0000-4000-8000-000000000003', 'racing', Date.now());
      }
      return rows;
    };
    const starting = new TopicsService({ repo: racing, log, logger: quiet, maxPartitions: 100, sharedLog: true });
    const report = await starting.reconcile({ removeOrphans: true });
    expect(report.orphansRemoved).toEqual([]);
    expect(log.topicIds()).toEqual(['00000000-0000-4000-8000-000000000003']);
  });

  it('alone (file store), a create left half-done is rolled back at once, as before', async () => {
    const { db, log } = await setup();
    const repo = new TopicsRepository(db);
    await createInFlight(repo, log, '00000000-0000-4000-8000-000000000004', 'mine', Date.now() - 1_000);
    const starting = new TopicsService({ repo, log, logger: quiet, maxPartitions: 100 });
    expect((await starting.reconcile({ removeOrphans: true })).rolledBackCreates).toEqual(['mine']);
    expect(log.topicIds()).toEqual([]);
  });
});
