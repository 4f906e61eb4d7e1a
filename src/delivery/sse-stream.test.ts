// SSE streams against the in-memory log and a fake socket: ordering, resume without gap or
// repeat, filters, shared encoding, backpressure bounds, retention gaps, shutdown, release.
import { randomUUID } from 'node:crypto';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createMemoryLogStore,
  type LogStore,
  type PartitionLog,
  type RecordInput,
  type StoredRecord,
} from '../log/index.js';
import { decodeTopicCursor, encodePartitionCursor, encodeTopicCursor, topicCursorTag } from './cursor.js';
import { parseRecordFilter } from './record-filter.js';
import { SseService } from './sse-service.js';
import type { SseSink } from './sse-sink.js';
import { createStreamRegistry, type StreamRegistry } from './stream-registry.js';

const config = {
  segmentBytes: 1024 * 1024,
  segmentMs: -1,
  retentionMs: -1,
  retentionBytes: -1,
};
const HWM = 16 * 1024;

/** A socket stand-in: consumes instantly unless stalled, then buffers and reports pressure like Node. */
class FakeSink implements SseSink {
  readonly chunks: Buffer[] = [];
  buffered = 0;
  maxBuffered = 0;
  stalled = false;
  ended = false;
  private drainListeners: Array<() => void> = [];
  private closeListeners: Array<() => void> = [];
  get closed(): boolean {
    return this.ended;
  }
  write(chunk: Buffer): boolean {
    if (this.ended) return false;
    this.chunks.push(chunk);
    if (!this.stalled) return true;
    this.buffered += chunk.length;
    this.maxBuffered = Math.max(this.maxBuffered, this.buffered);
    return this.buffered < HWM;
  }
  bufferedBytes(): number {
    return this.buffered;
  }
  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }
  onClose(listener: () => void): void {
    if (this.ended) listener();
    else this.closeListeners.push(listener);
  }
  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const l of this.closeListeners.splice(0)) l();
  }
  /** The client reads everything: buffer empties and 'drain' fires. */
  release(): void {
    this.stalled = false;
    this.buffered = 0;
    for (const l of this.drainListeners) l();
  }
  /** The client hangs up. */
  disconnect(): void {
    this.end();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
  events(): EventSourceMessage[] {
    const out: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (e) => out.push(e) });
    parser.feed(this.text());
    return out;
  }
  records(): Array<{
    partition: number;
    offset: number;
    key: string | null;
    value: string;
  }> {
    return this.events().flatMap((e) =>
      e.event === 'record' ? [JSON.parse(e.data)] : e.event === 'records' ? JSON.parse(e.data) : [],
    );
  }
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const encodeCalls = { n: 0 };
const encoderFor = (topic: string, partition: number) => (r: StoredRecord) => {
  encodeCalls.n++;
  return JSON.stringify({
    topic,
    partition,
    offset: r.offset,
    key: r.key?.toString() ?? null,
    value: r.value?.toString() ?? null,
    headers: Object.fromEntries(r.headers.map((h) => [h.key, h.value?.toString()])),
  });
};

const rec = (value: string, key: string | null = null, headers: Record<string, string> = {}): RecordInput => ({
  key: key === null ? null : Buffer.from(key),
  value: Buffer.from(value),
  headers: Object.entries(headers).map(([k, v]) => ({
    key: k,
    value: Buffer.from(v),
  })),
  timestamp: Date.now(),
});

async function append(log: PartitionLog, ...records: RecordInput[]): Promise<void> {
  const result = await log.append(records, { durability: 'write' });
  if (!result.ok) throw new Error(result.error.reason);
}

let store: LogStore;
let registry: StreamRegistry;
let service: SseService;
let topicId: string;

beforeEach(async () => {
  store = createMemoryLogStore({ retentionCheckIntervalMs: 0 });
  await store.open();
  registry = createStreamRegistry();
  service = new SseService({
    registry,
    keepaliveMs: 60_000,
    maxBufferedBytes: 64 * 1024,
    readLimits: { maxRecords: 100, maxBytes: 16 * 1024 },
  });
  topicId = `t-${randomUUID()}`;
});

afterEach(async () => {
  service.dispose();
  await store.close();
});

/** The partition cursor this test's topic issues for `next`. */
const pc = (next: number) => encodePartitionCursor(next, topicCursorTag(topicId));

function openPartition(
  log: PartitionLog,
  nextOffset: number,
  query: Record<string, string[]> = {},
  batchMode = false,
  via: SseService = service,
) {
  const sink = new FakeSink();
  const stream = via.open({
    kind: 'partition',
    topic: topicId,
    description: 'test',
    partitions: [{ log, encoder: encoderFor(topicId, log.partition), nextOffset }],
    filter: parseRecordFilter(query),
    batchMode,
    sink,
  });
  return { sink, stream };
}

function openTopic(logs: PartitionLog[], offsets: number[], query: Record<string, string[]> = {}) {
  const sink = new FakeSink();
  const stream = service.open({
    kind: 'topic',
    topic: topicId,
    description: 'test',
    partitions: logs.map((log, i) => ({
      log,
      encoder: encoderFor(topicId, i),
      nextOffset: offsets[i] as number,
    })),
    filter: parseRecordFilter(query),
    batchMode: false,
    sink,
  });
  return { sink, stream };
}

describe('partition stream', () => {
  it('sends retry first, then history and live records in order with next-offset ids', async () => {
    const log = await store.createPartition(topicId, 0, config);
    await append(log, rec('a'), rec('b'));
    const { sink, stream } = openPartition(log, 0);
    await until(() => stream.isLive, 'live');
    await append(log, rec('c'));
    await append(log, rec('d'), rec('e'));
    await until(() => sink.records().length === 5, 'five records');
    expect(sink.text().startsWith('retry: 2000\n\n')).toBe(true);
    const events = sink.events().filter((e) => e.event === 'record');
    expect(events.map((e) => JSON.parse(e.data).value)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(events.map((e) => e.id)).toEqual([1, 2, 3, 4, 5].map(pc));
  });

  it('encodes a live batch once and writes the same Buffer to every subscriber, woken only by appends', async () => {
    const log = await store.createPartition(topicId, 0, config);
    let reads = 0;
    const realRead = log.readRun.bind(log);
    log.readRun = (offset, options) => {
      reads++;
      return realRead(offset, options);
    };
    const subs = Array.from({ length: 50 }, () => openPartition(log, 0));
    await until(() => subs.every((s) => s.stream.isLive), 'all live');
    const readsBefore = reads;
    // Idle: nothing is read however long we wait (no polling).
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(reads).toBe(readsBefore);
    encodeCalls.n = 0;
    await append(log, rec('x'), rec('y'));
    await until(() => subs.every((s) => s.sink.records().length === 2), 'fan-out');
    expect(encodeCalls.n).toBe(2); // two records, fifty subscribers, two encodes
    expect(reads - readsBefore).toBe(1); // one shared read
    const firstLive = subs.map((s) => s.sink.chunks[s.sink.chunks.length - 1]);
    expect(new Set(firstLive).size).toBe(1);
    expect(service.hub.size).toBe(1);
  });

  it('applies ?key= and ?header.<name>= filters; skipped records still advance the cursor', async () => {
    const log = await store.createPartition(topicId, 0, config);
    await append(log, rec('1', 'k1', { src: 'x' }), rec('2', 'k2', { src: 'x' }), rec('3', 'k1', { src: 'y' }));
    const { sink, stream } = openPartition(log, 0, {
      key: ['k1'],
      'header.src': ['x', 'z'],
    });
    await until(() => stream.isLive, 'live');
    await append(log, rec('4', 'k2'), rec('5', 'k1', { src: 'z' }));
    await until(() => sink.records().length === 2, 'two matches');
    expect(
      sink
        .events()
        .filter((e) => e.event === 'record')
        .map((e) => [JSON.parse(e.data).value, e.id]),
    ).toEqual([
      ['1', pc(1)],
      ['5', pc(5)],
    ]);
    expect(stream.nextOffsets).toEqual([5]);
  });

  it('?batch=true sends one records event per batch with the cursor after it', async () => {
    const log = await store.createPartition(topicId, 0, config);
    const { sink, stream } = openPartition(log, 0, {}, true);
    await until(() => stream.isLive, 'live');
    await append(log, rec('a'), rec('b'), rec('c'));
    await until(() => sink.events().some((e) => e.event === 'records'), 'batch');
    const batch = sink.events().find((e) => e.event === 'records');
    expect(JSON.parse(batch?.data ?? '[]').map((r: { value: string }) => r.value)).toEqual(['a', 'b', 'c']);
    expect(batch?.id).toBe(pc(3));
  });

  it('a stalled client leaves the fan-out with bounded buffering, then catches up from the log in order', async () => {
    const log = await store.createPartition(topicId, 0, config);
    const slow = openPartition(log, 0);
    const fast = openPartition(log, 0);
    await until(() => slow.stream.isLive && fast.stream.isLive, 'live');
    slow.sink.stalled = true;
    const value = 'v'.repeat(1000);
    for (let i = 0; i < 400; i++) await append(log, rec(`${i}:${value}`));
    await until(() => fast.sink.records().length === 400, 'fast client has everything');
    expect(slow.stream.isLive).toBe(false);
    // 400 KB were produced; the slow client holds at most the bound plus one batch.
    expect(slow.sink.maxBuffered).toBeLessThan(64 * 1024 + 20 * 1024);
    slow.sink.release();
    await until(() => slow.sink.records().length === 400 && slow.stream.isLive, 'slow client caught up and rejoined');
    expect(slow.sink.records().map((r) => Number(r.value.split(':')[0]))).toEqual([...Array(400).keys()]);
    await append(log, rec('after'));
    await until(() => slow.sink.records().length === 401, 'live again');
  });

  it('a slow client that falls behind the retention start gets event: gap naming the lost range, then goes on', async () => {
    const log = await store.createPartition(topicId, 0, {
      ...config,
      segmentBytes: 2_000,
      retentionBytes: 4_000,
    });
    const { sink, stream } = openPartition(log, 0);
    await until(() => stream.isLive, 'live');
    sink.stalled = true;
    for (let i = 0; i < 200; i++) await append(log, rec(`${i}:${'x'.repeat(500)}`));
    await until(() => !stream.isLive, 'detached');
    await store.enforceRetention();
    const start = log.startOffset();
    expect(start).toBeGreaterThan(0);
    const delivered = sink.records().length;
    expect(delivered).toBeLessThan(start);
    sink.release();
    await until(() => sink.records().length === delivered + 200 - start && stream.isLive, 'the rest, then live');
    expect(sink.ended).toBe(false);
    const events = sink.events();
    const gaps = events.filter((e) => e.event === 'gap');
    expect(gaps.map((e) => [JSON.parse(e.data), e.id])).toEqual([
      [{ topic: topicId, partition: 0, from_offset: delivered, to_offset: start }, pc(start)],
    ]);
    // Records before the gap event, the gap, then every retained record from the start, in order.
    const gapAt = events.findIndex((e) => e.event === 'gap');
    expect(events.slice(gapAt + 1).map((e) => JSON.parse(e.data).offset)).toEqual(
      Array.from({ length: 200 - start }, (_, i) => start + i),
    );
    await append(log, rec('after'));
    await until(() => sink.records().at(-1)?.value === 'after', 'live again');
  });

  it('from an offset already deleted: event gap with the cursor past it, then every retained record', async () => {
    const log = await store.createPartition(topicId, 0, {
      ...config,
      segmentBytes: 1024,
      retentionBytes: 1024,
    });
    for (let i = 0; i < 10; i++) await append(log, rec('y'.repeat(300)));
    await store.enforceRetention();
    const start = log.startOffset();
    const { sink } = openPartition(log, 1);
    await until(() => sink.records().length === 10 - start, 'retained records');
    const [first, ...rest] = sink.events();
    expect([first?.event, JSON.parse(first?.data ?? '{}'), first?.id]).toEqual([
      'gap',
      { topic: topicId, partition: 0, from_offset: 1, to_offset: start },
      pc(start),
    ]);
    expect(rest.map((e) => e.event)).toEqual(Array(10 - start).fill('record'));
  });

  it('a live tail that finds its position deleted hands its subscribers a gap, not an error', async () => {
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
    const { sink, stream } = openPartition(log, 0);
    await until(() => stream.isLive, 'live');
    gate = new Promise((resolve) => (open = resolve));
    for (let i = 0; i < 10; i++) await append(real, rec(`${i}:${'z'.repeat(300)}`));
    await store.enforceRetention();
    const start = real.startOffset();
    expect(start).toBeGreaterThan(0);
    gate = null;
    open();
    await until(() => sink.records().length === 10 - start, 'retained records');
    expect(sink.ended).toBe(false);
    expect(sink.events()[0]).toMatchObject({ event: 'gap', id: pc(start) });
    expect(JSON.parse(sink.events()[0]?.data ?? '{}')).toEqual({
      topic: topicId,
      partition: 0,
      from_offset: 0,
      to_offset: start,
    });
  });

  it('releases its tail and registration on client disconnect', async () => {
    const log = await store.createPartition(topicId, 0, config);
    const { sink, stream } = openPartition(log, 0);
    await until(() => stream.isLive, 'live');
    expect(service.hub.size).toBe(1);
    expect(registry.size).toBe(1);
    sink.disconnect();
    expect(service.hub.size).toBe(0);
    expect(registry.size).toBe(0);
    expect(service.openStreams).toBe(0);
    await append(log, rec('nobody listens'));
  });

  it('on shutdown sends a final shutdown event and closes', async () => {
    const log = await store.createPartition(topicId, 0, config);
    const a = openPartition(log, 0);
    const b = openPartition(log, 0);
    await until(() => a.stream.isLive && b.stream.isLive, 'live');
    expect(await registry.drain(1_000)).toEqual([]);
    for (const s of [a, b]) {
      expect(s.sink.ended).toBe(true);
      expect(s.sink.events().at(-1)?.event).toBe('shutdown');
    }
    expect(service.hub.size).toBe(0);
  });

  it('sends : keepalive on the shared timer', async () => {
    const ticking = new SseService({ registry, keepaliveMs: 20 });
    const log = await store.createPartition(topicId, 0, config);
    const { sink } = openPartition(log, 0, {}, false, ticking);
    await until(() => sink.text().includes(': keepalive\n\n'), 'keepalive');
    ticking.dispose();
    sink.disconnect();
  });

  it('sends : keepalive only to a stream that sent nothing since the last tick', async () => {
    const log = await store.createPartition(topicId, 0, config);
    const { sink, stream } = openPartition(log, 0);
    const keepalives = () => sink.text().split(': keepalive\n\n').length - 1;
    await until(() => stream.isLive, 'live');
    // The tick right after `retry:` went out: nothing needed.
    stream.keepalive();
    expect(keepalives()).toBe(0);
    // Idle for a whole tick: one keepalive per tick.
    stream.keepalive();
    stream.keepalive();
    expect(keepalives()).toBe(2);
    // Events went out since the last tick: no keepalive; idle again: one.
    await append(log, rec('a'));
    await until(() => sink.records().length === 1, 'the record');
    stream.keepalive();
    expect(keepalives()).toBe(2);
    stream.keepalive();
    expect(keepalives()).toBe(3);
    sink.disconnect();
  });
});

describe('topic stream', () => {
  async function threePartitions(): Promise<PartitionLog[]> {
    return Promise.all([0, 1, 2].map((p) => store.createPartition(topicId, p, config)));
  }

  it('a topic cursor below one partition’s start: event gap with a topic cursor past it, the others untouched', async () => {
    const logs = await Promise.all(
      [0, 1].map((p) => store.createPartition(topicId, p, { ...config, segmentBytes: 1024, retentionBytes: 1024 })),
    );
    for (let i = 0; i < 10; i++) await append(logs[0]!, rec('y'.repeat(300)));
    await append(logs[1]!, rec('p1-0'), rec('p1-1'));
    await store.enforceRetention();
    const start = logs[0]!.startOffset();
    expect(start).toBeGreaterThan(0);
    const { sink } = openTopic(logs, [0, 1]);
    await until(() => sink.records().length === 10 - start + 1, 'retained records');
    const gap = sink.events().find((e) => e.event === 'gap');
    expect(JSON.parse(gap?.data ?? '{}')).toEqual({ topic: topicId, partition: 0, from_offset: 0, to_offset: start });
    const cursor = decodeTopicCursor(gap?.id ?? '', 2, topicCursorTag(topicId));
    expect(cursor.ok && cursor.value).toEqual([start, 1]);
    expect(
      sink
        .records()
        .filter((r) => r.partition === 1)
        .map((r) => r.offset),
    ).toEqual([1]);
  });

  it('merges all partitions, each in order, with topic cursors of every partition', async () => {
    const logs = await threePartitions();
    await append(logs[0]!, rec('p0-0'));
    await append(logs[2]!, rec('p2-0'), rec('p2-1'));
    const { sink, stream } = openTopic(logs, [0, 0, 0]);
    await until(() => stream.isLive, 'live');
    await append(logs[1]!, rec('p1-0'));
    await append(logs[0]!, rec('p0-1'));
    await until(() => sink.records().length === 5, 'all');
    const events = sink.events().filter((e) => e.event === 'record');
    for (const p of [0, 1, 2]) {
      const offsets = sink
        .records()
        .filter((r) => r.partition === p)
        .map((r) => r.offset);
      expect(offsets).toEqual([...offsets].sort((x, y) => x - y));
    }
    // Each id is the cursor after that record: this record's partition advanced past it.
    let seen = [0, 0, 0];
    for (const e of events) {
      const r = JSON.parse(e.data);
      seen = [...seen];
      seen[r.partition] = r.offset + 1;
      const decoded = decodeTopicCursor(e.id ?? '', 3, topicCursorTag(topicId));
      expect(decoded.ok && decoded.value).toEqual(seen);
    }
    expect(stream.nextOffsets).toEqual([2, 1, 2]);
  });

  it('resuming from any event id delivers exactly the records after it (no gap, no repeat), with filters', async () => {
    const logs = await threePartitions();
    for (let i = 0; i < 30; i++) await append(logs[i % 3]!, rec(`v${i}`, i % 2 ? 'odd' : 'even'));
    for (const query of [{}, { key: ['odd'] }] as Array<Record<string, string[]>>) {
      const first = openTopic(logs, [0, 0, 0], query);
      await until(() => first.stream.isLive, 'live');
      const all = first.sink.events().filter((e) => e.event === 'record');
      expect(all.length).toBe(query['key'] ? 15 : 30);
      first.sink.disconnect();
      for (const cut of [0, 7, all.length - 1]) {
        const cursor = decodeTopicCursor(all[cut]?.id ?? '', 3, topicCursorTag(topicId));
        if (!cursor.ok) throw new Error('bad cursor');
        const resumed = openTopic(logs, cursor.value as number[], query);
        await until(() => resumed.stream.isLive, 'resumed live');
        const expected = all
          .slice(cut + 1)
          .map((e) => JSON.parse(e.data).value)
          .sort();
        expect(
          resumed.sink
            .records()
            .map((r) => r.value)
            .sort(),
        ).toEqual(expected);
        resumed.sink.disconnect();
      }
    }
  });

  it('live subscribers share one frame per batch; one that lags catches up with exact ids', async () => {
    const logs = await threePartitions();
    const a = openTopic(logs, [0, 0, 0]);
    const b = openTopic(logs, [0, 0, 0]);
    await until(() => a.stream.isLive && b.stream.isLive, 'live');
    await append(logs[1]!, rec('one'));
    await until(() => a.sink.records().length === 1 && b.sink.records().length === 1, 'delivered');
    expect(a.sink.chunks.at(-1)).toBe(b.sink.chunks.at(-1));
    expect(a.sink.events().at(-1)?.id).toBe(encodeTopicCursor([0, 1, 0], topicCursorTag(topicId)));
    // b stalls and falls off the fan-out while partition 0 moves on; its ids stay exact.
    b.sink.stalled = true;
    for (let i = 0; i < 100; i++) await append(logs[0]!, rec('z'.repeat(1000)));
    await until(() => !b.stream.isLive, 'b detached');
    await append(logs[2]!, rec('two'));
    b.sink.release();
    await until(() => b.stream.isLive && b.sink.records().length === 102, 'b caught up');
    const ids = (s: FakeSink) =>
      s
        .events()
        .filter((e) => e.event === 'record')
        .map((e) => e.id);
    await until(() => a.sink.records().length === 102, 'a has all');
    expect(
      b.sink
        .records()
        .map((r) => `${r.partition}/${r.offset}`)
        .sort(),
    ).toEqual(
      a.sink
        .records()
        .map((r) => `${r.partition}/${r.offset}`)
        .sort(),
    );
    const last = decodeTopicCursor(ids(b.sink).at(-1) ?? '', 3, topicCursorTag(topicId));
    expect(last.ok && last.value).toEqual([100, 1, 1]);
  });
});
