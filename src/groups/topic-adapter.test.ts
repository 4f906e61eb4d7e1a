// A group's topic handle outliving its topic (deleted during a long-poll fetch) reads as empty
// and never wakes, instead of throwing (which answered the fetch with a 500).
import { describe, expect, it } from 'vitest';
import { createMemoryLogStore } from '../log/index.js';
import type { Topic } from '../topics/topics-service.js';
import { TOPIC_CONFIG_DEFAULTS } from '../topics/topic-config.js';
import { createGroupTopics } from './topic-adapter.js';

describe('group topic adapter', () => {
  it('serves a deleted topic’s handle as empty, never throwing', async () => {
    const store = createMemoryLogStore({ retentionCheckIntervalMs: 0 });
    await store.open();
    const topic: Topic = {
      id: '0b9c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3',
      name: 't',
      partitions: 1,
      config: TOPIC_CONFIG_DEFAULTS,
      createdAt: 0,
      updatedAt: 0,
    };
    await store.createPartition(topic.id, 0, {
      segmentBytes: 1 << 20,
      segmentMs: -1,
      retentionMs: -1,
      retentionBytes: -1,
    });
    const handle = (await createGroupTopics({ lookup: () => topic }, store).lookup(['t'])).get('t')!;
    await store.deleteTopic(topic.id);
    const read = await handle.read(0, 0, { maxRecords: 10, maxBytes: 1024 });
    expect(read).toMatchObject({ ok: true, value: { count: 0, nextOffset: 0, bytes: 0 } });
    expect(read.ok && read.value.json.join('[', ']').toString()).toBe('[]');
    expect(await handle.waitForData(0, 0, 10_000)).toBe(false);
    expect(handle.offsets(0)).toEqual({ start: 0, end: 0 });
    await store.close();
  });
});
