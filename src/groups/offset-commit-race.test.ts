// A commit that looked its topic up just before the topic was deleted (and re-created) must not
// write the old topic's offset under the name once it holds the group lock: that offset would
// apply to the new topic and skip its records.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { GroupsService } from './groups-service.js';
import { createGroupsKit, type GroupsKit } from './groups-test-kit.js';
import * as repo from './group-repository.js';
import { createGroupTopics } from './topic-adapter.js';
import type { GroupTopics } from './ports.js';

let kit: GroupsKit | undefined;
afterEach(async () => {
  await kit?.close();
  kit = undefined;
});

/** A topics port whose lookup answers, then lets `between` run before the caller goes on. */
function racingTopics(k: GroupsKit, between: () => Promise<void>): GroupTopics {
  const real = createGroupTopics({ lookup: (name) => k.topics.get(name) }, k.log);
  return {
    lookup: async (names) => {
      const found = await real.lookup(names);
      await between();
      return found;
    },
  };
}

async function recreate(k: GroupsKit, name: string): Promise<void> {
  const old = k.topics.get(name);
  if (!old) throw new Error(`no topic ${name}`);
  k.topics.delete(name);
  await repo.forgetTopic(k.db, name);
  const id = randomUUID();
  await k.log.createPartition(id, 0, { segmentBytes: 1 << 20, segmentMs: -1, retentionMs: -1, retentionBytes: -1 });
  k.topics.set(name, { ...old, id, partitions: 1 });
}

describe('a commit racing a topic delete', () => {
  it('an admin commit looked up before the delete writes nothing for the re-created topic', async () => {
    kit = await createGroupsKit();
    const k = kit;
    const topic = await k.createTopic(1);
    await k.produce(topic, 0, [1, 2, 3, 4, 5, 6, 7]);
    let raced = false;
    const service = new GroupsService({
      db: k.db,
      topics: racingTopics(k, async () => {
        if (raced) return;
        raced = true;
        await recreate(k, topic);
      }),
      settings: { rebalanceDelayMs: 0 },
    });
    try {
      const group = `g-${randomUUID()}`;
      const res = await service.commit(group, { offsets: [{ topic, partition: 0, offset: 5 }] });
      expect(raced).toBe(true);
      expect(res.ok).toBe(false);
      const committed = await repo.loadOffsets(k.db, group);
      expect(committed.filter((o) => o.topic === topic)).toEqual([]);
    } finally {
      await service.stop();
    }
  });
});
