// Shared per-tail delivery: the tail appends each live frame once to a feed the sinks of its
// unfiltered partition streams read (real HTTP connections), with the old guarantees kept.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryLogStore, type LogStore, type PartitionLog, type StoredRecord } from '../log/index.js';
import { decodePartitionCursor, encodePartitionCursor, topicCursorTag } from './cursor.js';
import { EncodedBatch } from './encoded-batch.js';
import { parseRecordFilter } from './record-filter.js';
import { SseFeed } from './sse-feed.js';
import { SseService } from './sse-service.js';
import { nodeResponseSink } from './sse-sink.js';
import type { SseStream } from './sse-stream.js';
import { createStreamRegistry, type StreamRegistry } from './stream-registry.js';

const config = { segmentBytes: 1024 * 1024, segmentMs: -1, retentionMs: -1, retentionBytes: -1 };
const MAX_BUFFERED = 256 * 1024;

let store: LogStore;
let registry: StreamRegistry;
let service: SseService;
let topicId: string;
let server: http.Server | undefined;
const streams: SseStream[] = [];

beforeEach(async () => {
  store = createMemoryLogStore({ retentionCheckIntervalMs: 0 });
  await store.open();
  registry = createStreamRegistry();
  service = new SseService({
    registry,
    keepaliveMs: 60_000,
    maxBufferedBytes: MAX_BUFFERED,
    readLimits: { maxRecords: 100, maxBytes: 64 * 1024 },
    tailReadLimits: { maxRecords: 100, maxBytes: 64 * 1024 },
  });
  topicId = `t-${randomUUID()}`;
  streams.length = 0;
});

afterEach(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
  }
  service.dispose();
  await store.close();
});

const encoder = (r: StoredRecord) =>
  JSON.stringify({ offset: r.offset, key: r.key?.toString() ?? null, value: r.value?.toString() ?? null });
const pc = (next: number) => encodePartitionCursor(next, topicCursorTag(topicId));

async function append(log: PartitionLog, values: string[], key: string | null = null): Promise<void> {
  const records = values.map((v) => ({
    key: key === null ? null : Buffer.from(key),
    value: Buffer.from(v),
    headers: [],
  }));
  const result = await log.append(
    records.map((r) => ({ ...r, timestamp: Date.now() })),
    { durability: 'write' },
  );
  if (!result.ok) throw new Error(result.error.reason);
}

/** A server whose requests open partition streams on `log`: `?from=N`, `?key=K` (a filter), `?batch=true`. */
let finishSlow = (): void => {};

async function serve(log: PartitionLog): Promise<string> {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/slow') {
      // A response that takes its time: a stream pipelined behind it has no socket until it ends.
      finishSlow = () => res.end('first');
      return;
    }
    const { sink, body } = nodeResponseSink(res);
    setImmediate(() => res.writeHead(200, { 'content-type': 'text/event-stream' }));
    void body
      .getReader()
      .read()
      .then(() => res.end());
    const key = url.searchParams.get('key');
    streams.push(
      service.open({
        kind: 'partition',
        topic: topicId,
        description: 'test',
        partitions: [{ log, encoder, nextOffset: Number(url.searchParams.get('from') ?? log.endOffset()) }],
        filter: key === null ? null : parseRecordFilter({ key: [key] }),
        batchMode: url.searchParams.get('batch') === 'true',
        sink,
        topicId,
      }),
    );
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

interface Client {
  events: EventSourceMessage[];
  res: http.IncomingMessage;
  ended: boolean;
  records(): Array<{ offset: number; key: string | null; value: string }>;
}

async function connect(url: string): Promise<Client> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(url, resolve).on('error', reject));
  const client: Client = {
    events: [],
    res,
    ended: false,
    records: () =>
      client.events.flatMap((e) =>
        e.event === 'record' ? [JSON.parse(e.data)] : e.event === 'records' ? JSON.parse(e.data) : [],
      ),
  };
  const parser = createParser({ onEvent: (e) => client.events.push(e) });
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => parser.feed(chunk));
  res.on('end', () => (client.ended = true));
  res.on('error', () => {});
  return client;
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('SseFeed', () => {
  it('keeps what its slowest reader has not written, joins once per position, and drops the rest', async () => {
    const feed = new SseFeed(10);
    const a = { feedPosition: feed.end };
    const b = { feedPosition: feed.end };
    feed.add(a);
    feed.add(b);
    feed.budget = 10;
    feed.append(Buffer.from('one\n'), 11);
    feed.append(null, 13); // a batch without records still moves the offset on
    feed.append(Buffer.from('two\n'), 14);
    expect(feed.endOffset).toBe(14);
    expect(feed.bytesFrom(a.feedPosition)).toBe(8);
    const joined = feed.joinedFrom(a.feedPosition);
    expect(joined?.toString()).toBe('one\ntwo\n');
    expect(feed.joinedFrom(b.feedPosition)).toBe(joined); // the same Buffer for every reader there
    let roomy = false;
    void feed.whenTrimmed().then(() => (roomy = true));
    a.feedPosition = feed.end - 1;
    feed.trim();
    expect(feed.heldBytes).toBe(8); // b still needs all of it
    await Promise.resolve();
    expect(roomy).toBe(true); // 8 ≤ budget
    b.feedPosition = feed.end - 1;
    feed.trim();
    expect(feed.heldBytes).toBe(4);
    expect(feed.framesFrom(b.feedPosition).map(String)).toEqual(['two\n']);
    feed.append(Buffer.from('three and more\n'), 15);
    let released = false;
    void feed.whenTrimmed().then(() => (released = true));
    await Promise.resolve();
    expect(released).toBe(false); // 19 bytes held > budget 10
    feed.remove(a);
    feed.remove(b);
    await Promise.resolve();
    expect(released).toBe(true); // no reader left: nothing to wait for
    expect(feed.heldBytes).toBe(0);
    expect(feed.endOffset).toBe(15);
  });
});

describe('shared delivery over real connections', () => {
  it('encodes and appends each live batch once for all unfiltered subscribers; ids, order and resume are exact; a filtered one keeps its own frames', async () => {
    const log = await store.createPartition(topicId, 0, config);
    const url = await serve(log);
    const shared = await Promise.all(Array.from({ length: 20 }, () => connect(url)));
    const batched = await connect(`${url}?batch=true`);
    const filtered = await connect(`${url}?key=k`);
    await until(() => service.stats().live === 22, 'all live');
    const frames = vi.spyOn(EncodedBatch.prototype, 'sharedPartitionFrame');
    try {
      for (let i = 0; i < 5; i++) await append(log, [`${i}a`, `${i}b`], i % 2 === 0 ? 'k' : null);
      await until(() => shared.every((c) => c.records().length === 10), 'shared clients got all');
      await until(() => batched.records().length === 10 && filtered.records().length === 6, 'others got theirs');
      // One frame per batch per kind (records / batch events) for 21 subscribers, not one per subscriber.
      expect(frames.mock.calls.length).toBeLessThanOrEqual(10);
    } finally {
      frames.mockRestore();
    }
    for (const c of shared) {
      const events = c.events.filter((e) => e.event === 'record');
      expect(events.map((e) => JSON.parse(e.data).offset)).toEqual([...Array(10).keys()]);
      expect(events.map((e) => e.id)).toEqual([...Array(10).keys()].map((o) => pc(o + 1)));
    }
    expect(batched.events.filter((e) => e.event === 'records').map((e) => e.id)).toEqual([2, 4, 6, 8, 10].map(pc));
    expect(filtered.records().map((r) => r.offset)).toEqual([0, 1, 4, 5, 8, 9]);
    // Resuming from any id a shared stream sent gives exactly the records after it.
    const id = shared[3]?.events.filter((e) => e.event === 'record')[6]?.id ?? '';
    const from = decodePartitionCursor(id, topicCursorTag(topicId));
    if (!from.ok) throw new Error('bad cursor');
    const resumed = await connect(`${url}?from=${from.value}`);
    await until(() => resumed.records().length === 3, 'resumed');
    expect(resumed.records().map((r) => r.offset)).toEqual([7, 8, 9]);
  });

  it('a stalled subscriber leaves the feed with bounded buffering while the others go on, then catches up in order', async () => {
    const log = await store.createPartition(topicId, 0, config);
    const url = await serve(log);
    const fast = await Promise.all(Array.from({ length: 3 }, () => connect(url)));
    const slow = await connect(url);
    slow.res.pause();
    await until(() => service.stats().live === 4, 'all live');
    const pad = 'p'.repeat(16 * 1024);
    let maxBuffered = 0;
    const batches = 80; // 80 × 4 × 16 KiB = 5 MiB for a client that reads nothing
    for (let b = 0; b < batches; b++) {
      await append(
        log,
        Array.from({ length: 4 }, (_, j) => `${b * 4 + j}:${pad}`),
      );
      maxBuffered = Math.max(maxBuffered, service.stats().maxBufferedBytes);
      await new Promise((r) => setImmediate(r));
    }
    await until(() => fast.every((c) => c.records().length === batches * 4), 'fast clients got all');
    expect(service.stats().live).toBe(3); // the stalled one left the live fan-out
    // The bound per client: its budget plus what one round hands it (at most one batch or two).
    expect(maxBuffered).toBeLessThanOrEqual(MAX_BUFFERED + 2 * 64 * 1024 + 16 * 1024);
    slow.res.resume();
    await until(() => slow.records().length === batches * 4, 'slow client caught up', 20_000);
    expect(slow.records().map((r) => r.offset)).toEqual([...Array(batches * 4).keys()]);
    await until(() => service.stats().live === 4, 'back on the live feed');
  });

  it('readers of a feed whose tail finds its position deleted get event: gap, then the retained records, and go live again', async () => {
    const real = await store.createPartition(topicId, 0, { ...config, segmentBytes: 1024, retentionBytes: 1024 });
    // Hold the tail's next read until retention has run, as a slow disk or a busy loop might.
    let gate: Promise<void> | null = null;
    let open = (): void => {};
    const log = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === 'readRun') {
          return async (...args: Parameters<PartitionLog['readRun']>) => {
            if (gate) await gate;
            return target.readRun(...args);
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const url = await serve(log);
    const clients = await Promise.all(Array.from({ length: 3 }, () => connect(url)));
    await until(() => service.stats().live === 3, 'all live');
    gate = new Promise((resolve) => (open = resolve));
    for (let i = 0; i < 10; i++) await append(real, [`${i}:${'z'.repeat(300)}`]);
    await store.enforceRetention();
    const start = real.startOffset();
    expect(start).toBeGreaterThan(0);
    gate = null;
    open();
    await until(() => clients.every((c) => c.records().length === 10 - start), 'retained records');
    await until(() => service.stats().live === 3, 'live again');
    await append(real, ['after']);
    await until(() => clients.every((c) => c.records().length === 11 - start), 'the next record');
    for (const c of clients) {
      expect(c.events[0]).toMatchObject({ event: 'gap', id: pc(start) });
      expect(JSON.parse(c.events[0]?.data ?? '{}')).toEqual({
        topic: topicId,
        partition: 0,
        from_offset: 0,
        to_offset: start,
      });
      expect(c.records().map((r) => r.offset)).toEqual([...Array(11 - start).keys()].map((i) => i + start));
      expect(c.ended).toBe(false);
    }
  });

  it('a tail whose feed holds its budget for a reader reads on only after a round has written it', async () => {
    const log = await store.createPartition(topicId, 0, config);
    const url = await serve(log);
    const slow = await connect(url);
    slow.res.pause();
    await until(() => service.stats().live === 1, 'live');
    // 4 MiB arrives at once: the tail's reads (64 KiB each) would take it all before a round runs.
    const pad = 'p'.repeat(16 * 1024);
    let held = 0;
    const watch = setInterval(() => (held = Math.max(held, service.stats().maxBufferedBytes)), 0);
    const appends = Array.from({ length: 64 }, (_, b) =>
      append(
        log,
        Array.from({ length: 4 }, (_, j) => `${b * 4 + j}:${pad}`),
      ),
    );
    await Promise.all(appends);
    for (let i = 0; i < 1000; i++) await Promise.resolve();
    held = Math.max(held, service.stats().maxBufferedBytes);
    await new Promise((r) => setTimeout(r, 200));
    clearInterval(watch);
    expect(held).toBeLessThanOrEqual(MAX_BUFFERED + 2 * 64 * 1024 + 16 * 1024);
    slow.res.resume();
    await until(() => slow.records().length === 256, 'everything, in the end', 20_000);
    expect(slow.records().map((r) => r.offset)).toEqual([...Array(256).keys()]);
  });

  it('a stream pipelined behind a slow response (no socket yet) leaves the feed at its budget instead of holding the tail for everyone, then gets every record', async () => {
    const log = await store.createPartition(topicId, 0, config);
    const url = await serve(log);
    const other = await connect(url);
    const { port } = new URL(url);
    const raw = net.connect(Number(port), '127.0.0.1');
    let received = '';
    raw.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    raw.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /?from=0 HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => service.stats().live === 2, 'both live');
    const pad = 'p'.repeat(16 * 1024);
    const batches = 40; // 40 × 4 × 16 KiB = 2.5 MiB, ten times the budget
    for (let b = 0; b < batches; b++) {
      await append(
        log,
        Array.from({ length: 4 }, (_, j) => `${b * 4 + j}:${pad}`),
      );
    }
    // The connected client is not held back by the one that cannot be written to yet.
    await until(() => other.records().length === batches * 4, 'the connected client got everything');
    expect(service.stats().live).toBe(1);
    expect(service.stats().maxBufferedBytes).toBeLessThanOrEqual(MAX_BUFFERED + 2 * 64 * 1024 + 16 * 1024);
    finishSlow();
    const count = () => received.split('event: record\n').length - 1;
    await until(() => count() === batches * 4, 'the pipelined stream got everything', 20_000);
    const offsets = [...received.matchAll(/"offset":(\d+)/g)].map((m) => Number(m[1]));
    expect(offsets).toEqual([...Array(batches * 4).keys()]);
    raw.destroy();
  });

  it('ends with the final event after every record the feed held for the client (topic deleted, shutdown)', async () => {
    const log = await store.createPartition(topicId, 0, config);
    const url = await serve(log);
    const clients = await Promise.all(Array.from({ length: 4 }, () => connect(url)));
    await until(() => service.stats().live === 4, 'all live');
    await append(log, ['a', 'b', 'c']);
    // The tail has appended the batch to the feed; no round has written it yet.
    expect(streams.map((s) => s.nextOffsets[0])).toEqual([3, 3, 3, 3]);
    expect(streams.every((s) => s.bufferedBytes > 0)).toBe(true);
    service.endTopic(topicId);
    await until(() => clients.every((c) => c.ended), 'streams closed');
    for (const c of clients) {
      expect(c.events.map((e) => e.event)).toEqual(['record', 'record', 'record', 'error']);
      expect(JSON.parse(c.events[3]?.data ?? '{}')).toMatchObject({ code: 'topic_not_found' });
    }

    const again = await Promise.all(Array.from({ length: 2 }, () => connect(url)));
    await until(() => service.stats().live === 2, 'live again');
    await append(log, ['d']);
    expect(streams.slice(-2).map((s) => s.nextOffsets[0])).toEqual([4, 4]);
    expect(await registry.drain(1_000)).toEqual([]);
    await until(() => again.every((c) => c.ended), 'closed on shutdown');
    for (const c of again) expect(c.events.map((e) => e.event)).toEqual(['record', 'shutdown']);
  });
});

describe('a sink reading a feed', () => {
  it('sends what the feed got before its head was out, with nothing written to it directly', async () => {
    const feed = new SseFeed(0);
    server = http.createServer((_req, res) => {
      const { sink, body } = nodeResponseSink(res);
      setImmediate(() => res.writeHead(200, { 'content-type': 'text/event-stream' }));
      void body
        .getReader()
        .read()
        .then(() => res.end());
      sink.follow?.(feed, MAX_BUFFERED, () => sink.unfollow?.());
      // Appended (and its round run) while the response has no socket yet.
      feed.append(Buffer.from('event: record\ndata: {"n":0}\nid: 1\n\n'), 1);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const client = await connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await until(() => client.events.length === 1, 'the frame');
    expect(client.events[0]).toMatchObject({ event: 'record', id: '1' });
  });
});
