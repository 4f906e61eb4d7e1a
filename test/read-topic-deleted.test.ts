// A read of a partition whose topic is deleted while the read walks its segments: the files go
// from under it. A read answers 404 topic_not_found (as for a long-poll the delete wakes), a
// group member's read is empty (as for a handle whose topic is gone), a Durable Streams read is
// 404 not_found, an SSE stream ends with topic_not_found, a queue receive answers 404; never the file system's ENOENT as a
// 500 or an internal error.
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
import { SseService } from '../src/delivery/sse-service.js';
import type { SseSink } from '../src/delivery/sse-sink.js';
import { createStreamRegistry } from '../src/delivery/stream-registry.js';
import { createFileLogStore, createMemoryLogStore, type PartitionLog } from '../src/log/index.js';
import { createTestEnv, startTestServer } from './support/server.js';
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

/** A socket stand-in that takes every byte at once. */
class Sink implements SseSink {
  readonly chunks: Buffer[] = [];
  closed = false;
  private closeListeners: Array<() => void> = [];
  write(chunk: Buffer): boolean {
    if (!this.closed) this.chunks.push(chunk);
    return true;
  }
  bufferedBytes(): number {
    return 0;
  }
  onDrain(): void {}
  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }
  end(): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.closeListeners.splice(0)) l();
  }
  /** The `event: error` bodies sent. */
  errors(): Array<{ code: string; message: string }> {
    return [
      ...Buffer.concat(this.chunks)
        .toString()
        .matchAll(/event: error\ndata: (.*)\n/g),
    ].map((m) => JSON.parse(m[1] as string));
  }
}

function openSse(log: PartitionLog, nextOffset: number, isGone: () => boolean) {
  const sse = new SseService({
    registry: createStreamRegistry(),
    keepaliveMs: 60_000,
    maxBufferedBytes: 64 << 20,
    readLimits: { maxRecords: 10_000, maxBytes: 64 << 20 },
  });
  afterTest(async () => sse.dispose());
  const sink = new Sink();
  const stream = sse.open({
    kind: 'partition',
    topic: 'doomed',
    description: 'test',
    partitions: [{ log, encoder: (r) => JSON.stringify({ offset: r.offset }), nextOffset }],
    filter: null,
    batchMode: true,
    sink,
    isGone,
  });
  return { sink, stream };
}

describe('an SSE stream whose topic is deleted under its read', () => {
  // The route's isGone: the topic no longer maps to this log. The delete unregisters the topic
  // before it removes the files, so a read that fails on them finds it gone.
  it('catching up from the log: ends with topic_not_found, as a deleted topic’s stream does, not an io error', async () => {
    const store = await openStore(await scratchDir(), { recentCacheBytes: 0, readAheadBytes: 0 });
    afterTest(() => store.close());
    const id = newTopic();
    const log = await store.createPartition(id, 0, { ...config, segmentBytes: 1024 });
    for (let i = 0; i < 60; i++) await log.append(batch(i, 5, 20), { durability: 'write' });
    let gone = false;
    const { sink, stream } = openSse(log, 0, () => gone);
    gone = true;
    await store.deleteTopic(id);
    await until(() => stream.isClosed);
    expect(sink.errors()).toEqual([expect.objectContaining({ code: 'topic_not_found' })]);
  });

  it('live on its partition’s tail: ends with topic_not_found when the tail’s read fails on the removed files', async () => {
    const store = createMemoryLogStore({ retentionCheckIntervalMs: 0 });
    await store.open();
    afterTest(() => store.close());
    const log = await store.createPartition(newTopic(), 0, config);
    let gone = false;
    const { sink, stream } = openSse(log, 0, () => gone);
    await until(() => stream.isLive);
    // What the file log's read does once the delete removed the segment under it.
    log.readRun = () => Promise.reject(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' }));
    gone = true;
    await log.append(batch(0, 1, 20), { durability: 'write' });
    await until(() => stream.isClosed);
    expect(sink.errors()).toEqual([expect.objectContaining({ code: 'topic_not_found' })]);
  });

  it('a read fault while the topic is still there stays an internal error', async () => {
    const store = createMemoryLogStore({ retentionCheckIntervalMs: 0 });
    await store.open();
    afterTest(() => store.close());
    const log = await store.createPartition(newTopic(), 0, config);
    const { sink, stream } = openSse(log, 0, () => false);
    await until(() => stream.isLive);
    log.readRun = () => Promise.reject(new Error('EIO: i/o error'));
    await log.append(batch(0, 1, 20), { durability: 'write' });
    await until(() => stream.isClosed);
    expect(sink.errors()).toEqual([expect.objectContaining({ code: 'internal' })]);
  });
});

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('a queue receive whose topic is deleted under its read', () => {
  it('answers 404 topic_not_found, as for a topic gone before the request, not ENOENT as a 500', async () => {
    const env = await createTestEnv();
    afterTest(() => env.cleanup());
    // No recent-batch cache: the receive reads the leased records from the segment files.
    const log = createFileLogStore({ dataDir: `${env.dataDir}/log`, recentCacheBytes: 0, readAheadBytes: 0 });
    const server = await startTestServer(env, { overrides: { log } });
    afterTest(() => server.stop());
    const post = (path: string, body?: unknown) =>
      fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
      });
    expect((await post('/v1/topics', { name: 'doomed', partitions: 1, config: { segment_bytes: 1024 } })).status).toBe(
      201,
    );
    for (let i = 0; i < 20; i++)
      expect((await post('/v1/topics/doomed/records', { records: [{ value: 'x'.repeat(600) }] })).status).toBe(200);
    // The receive's log read waits here until the topic has been deleted, then reads on.
    const topicId = server.services.topics.lookup('doomed')!.id;
    const partition = log.getPartition(topicId, 0)!;
    const held = holdAt(partition, 'read');
    const receiving = post('/v1/topics/doomed/queues/q/receive?max_records=20');
    await held.arrived;
    expect((await fetch(`${server.url}/v1/topics/doomed`, { method: 'DELETE' })).status).toBe(204);
    held.release();
    const res = await receiving;
    expect({ status: res.status, body: await res.json() }).toMatchObject({
      status: 404,
      body: { error: { code: 'topic_not_found' } },
    });
  });
});

describe('a Durable Streams fork whose source is deleted while it copies the source’s records', () => {
  it('is not created with part of the prefix: 404 for the source, and the fork’s path stays free', async () => {
    const env = await createTestEnv();
    afterTest(() => env.cleanup());
    // No recent-batch cache: the fork copies the source's records from its segment files.
    const log = createFileLogStore({ dataDir: `${env.dataDir}/log`, recentCacheBytes: 0, readAheadBytes: 0 });
    const server = await startTestServer(env, { overrides: { log } });
    afterTest(() => server.stop());
    const ds = (method: string, path: string, init: RequestInit = {}) =>
      fetch(`${server.url}/v1/stream/${path}`, { method, ...init });
    const text = { 'content-type': 'text/plain' };
    expect((await ds('PUT', 'src', { headers: text })).status).toBe(201);
    for (let i = 0; i < 20; i++) expect((await ds('POST', 'src', { headers: text, body: `m${i}` })).status).toBe(204);
    const [sourceId] = log.topicIds();
    const source = log.getPartition(sourceId!, 0)!;

    // The delete finds no fork yet, then waits; the fork, registered meanwhile, copies until the
    // source's files are gone.
    const { topics } = server.services;
    const deleteHeld = holdAt(topics, 'delete');
    const readHeld = holdAt(source, 'read');
    const deleting = ds('DELETE', 'src');
    await deleteHeld.arrived;
    const forking = ds('PUT', 'fork', { headers: { 'stream-forked-from': '/v1/stream/src' } });
    await readHeld.arrived;
    deleteHeld.release();
    expect((await deleting).status).toBe(204);
    readHeld.release();
    const forked = await forking;
    expect({ status: forked.status, body: await forked.json() }).toMatchObject({
      status: 404,
      body: {
        error: { code: 'stream_not_found', message: expect.stringContaining('deleted while the fork copied it') },
      },
    });
    expect((await ds('HEAD', 'fork')).status).toBe(404);
    expect(log.topicIds()).toEqual([]);
  });
});

/**
 * Holds every call of `obj[method]` at a gate until `release()`: `arrived` resolves once the first
 * call has reached it. Released calls go on to the original method.
 */
function holdAt<T extends object, K extends keyof T>(obj: T, method: K) {
  const original = obj[method] as (...args: unknown[]) => Promise<unknown>;
  let reached!: () => void;
  let release!: () => void;
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  obj[method] = (async (...args: unknown[]) => {
    reached();
    await released;
    return original.apply(obj, args);
  }) as T[K];
  return { arrived, release };
}

describe('a produce whose topic is deleted before its append', () => {
  it('answers 404 topic_not_found, not 503 "retry" for a partition closed by the delete', async () => {
    const env = await createTestEnv();
    afterTest(() => env.cleanup());
    const server = await startTestServer(env);
    afterTest(() => server.stop());
    const post = (path: string, body: unknown) =>
      fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post('/v1/topics', { name: 'doomed', partitions: 1 })).status).toBe(201);
    // The produce's append waits here until the topic has been deleted, then goes on.
    const topicId = server.services.topics.lookup('doomed')!.id;
    const partition = server.services.log.getPartition(topicId, 0)!;
    const held = holdAt(partition, 'append');
    const producing = post('/v1/topics/doomed/records', { records: [{ value: 1 }] });
    await held.arrived;
    expect((await fetch(`${server.url}/v1/topics/doomed`, { method: 'DELETE' })).status).toBe(204);
    held.release();
    const res = await producing;
    expect({ status: res.status, body: await res.json() }).toMatchObject({
      status: 404,
      body: { error: { code: 'topic_not_found' } },
    });
  });
});

describe('a Durable Streams append whose stream is deleted before its append', () => {
  it('answers 404, not 503 "retry" for a partition closed by the delete', async () => {
    const env = await createTestEnv();
    afterTest(() => env.cleanup());
    const server = await startTestServer(env);
    afterTest(() => server.stop());
    const ds = (method: string, path: string, init: RequestInit = {}) =>
      fetch(`${server.url}/v1/stream/${path}`, { method, ...init });
    const text = { 'content-type': 'text/plain' };
    expect((await ds('PUT', 's', { headers: text })).status).toBe(201);
    const topicId = server.services.topics.lookup('s')!.id;
    const partition = server.services.log.getPartition(topicId, 0)!;
    const held = holdAt(partition, 'append');
    const appending = ds('POST', 's', { headers: text, body: 'late' });
    await held.arrived;
    expect((await ds('DELETE', 's')).status).toBe(204);
    held.release();
    const res = await appending;
    expect({ status: res.status, body: await res.json() }).toMatchObject({
      status: 404,
      body: { error: { code: 'stream_not_found' } },
    });
  });
});
