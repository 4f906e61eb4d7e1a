// A read of a partition whose topic is deleted while the read walks its segments: the files go
// from under it. A read answers 404 topic_not_found (as for a long-poll the delete wakes), a
// group member's read is empty (as for a handle whose topic is gone), a Durable Streams read is
// 404 not_found, never the file system's ENOENT as a 500.
import { describe, expect, it } from 'vitest';
import { ok, err } from '../src/lib/result.js';
import {
  StreamsService,
  type StreamState,
  type StreamsServiceOptions,
} from '../src/durable-streams/streams-service.js';
import { createGroupTopics } from '../src/groups/topic-adapter.js';
import { TOPIC_CONFIG_DEFAULTS } from '../src/topics/topic-config.js';
import { ReadService } from '../src/topics/read-service.js';
import type { Topic } from '../src/topics/topics-service.js';
import { afterTest, batch, cleanUpAfterEach, config, newTopic, openStore, scratchDir } from './log/helpers.js';

cleanUpAfterEach();

async function setUp() {
  // No recent-batch cache and small segments: the read opens one segment file after another.
  const store = await openStore(await scratchDir(), { recentCacheBytes: 0, readAheadBytes: 0 });
  afterTest(() => store.close());
  const id = newTopic();
  const log = await store.createPartition(id, 0, { ...config, segmentBytes: 1024 });
  for (let i = 0; i < 60; i++) {
    const r = await log.append(batch(i, 5, 20), { durability: 'write' });
    if (!r.ok) throw new Error(JSON.stringify(r.error));
  }
  let deleted = false;
  const topic = { id, name: 'doomed', config: { value_format: 'binary' as const } };
  const service = new ReadService({
    partitionLog: (name) =>
      name === 'doomed' && !deleted ? ok({ topic, log }) : err({ code: 'topic_not_found', message: 'no topic' }),
  });
  const remove = () => {
    deleted = true;
    return store.deleteTopic(id);
  };
  return { service, remove };
}

const request = { topic: 'doomed', partition: 0, offset: 0, maxRecords: 10_000, maxBytes: 64 << 20, waitMs: 0 };

describe('a read racing its topic’s deletion', () => {
  for (const how of ['read', 'readJson'] as const) {
    it(`${how}: answers topic_not_found`, async () => {
      const { service, remove } = await setUp();
      const reading = service[how](request);
      await remove();
      const r = await reading;
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('topic_not_found');
    });
  }
});

describe('a group member’s read racing its topic’s deletion', () => {
  it('reads as empty, as a handle whose topic is gone does, instead of throwing ENOENT', async () => {
    const store = await openStore(await scratchDir(), { recentCacheBytes: 0, readAheadBytes: 0 });
    afterTest(() => store.close());
    const topic: Topic = {
      id: newTopic(),
      name: 'doomed',
      partitions: 1,
      config: TOPIC_CONFIG_DEFAULTS,
      createdAt: 0,
      updatedAt: 0,
    };
    const log = await store.createPartition(topic.id, 0, { ...config, segmentBytes: 1024 });
    for (let i = 0; i < 60; i++) await log.append(batch(i, 5, 20), { durability: 'write' });
    const handle = (await createGroupTopics({ lookup: () => topic }, store).lookup(['doomed'])).get('doomed')!;
    const reading = handle.read(0, 0, { maxRecords: 10_000, maxBytes: 64 << 20 });
    await store.deleteTopic(topic.id);
    expect(await reading).toMatchObject({ ok: true, value: { count: 0, nextOffset: 0, bytes: 0 } });
  });
});

describe('a Durable Streams read racing its stream’s deletion', () => {
  it('answers not_found, as a read of a deleted stream does, instead of throwing ENOENT', async () => {
    const store = await openStore(await scratchDir(), { recentCacheBytes: 0, readAheadBytes: 0 });
    afterTest(() => store.close());
    const id = newTopic();
    const log = await store.createPartition(id, 0, { ...config, segmentBytes: 1024 });
    for (let i = 0; i < 60; i++) await log.append(batch(i, 5, 20), { durability: 'write' });
    // Only what readAt touches: the stream's log, its path and whether it was deleted.
    const service = new StreamsService({
      topics: { onTopicDeleted: () => () => undefined },
      sweepIntervalMs: 0,
      maxReadBytes: 64 << 20,
    } as unknown as StreamsServiceOptions);
    const state = { log, deleted: false, closed: false, row: { path: 'doomed' } } as unknown as StreamState;
    const reading = service.readAt(state, 0);
    // The delete tells the streams service first (it marks the stream deleted), then removes the data.
    state.deleted = true;
    await store.deleteTopic(id);
    expect(await reading).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });
});
