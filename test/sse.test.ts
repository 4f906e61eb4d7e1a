// Black-box tests of the SSE endpoints (DESIGN §3 Live) with the `eventsource` client against
// a real server: framing and headers, resume by header/query, topic merge, filters, errors.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeTopicCursor, topicCursorTag } from '../src/delivery/cursor.js';
import { startIsolatedServer, usingKafka, type TestServer } from './support/server.js';
import { createTopic, listen, produce, startProxy, until, type Listener } from './sse-support.js';
import { appendOddRecords, DEEP, depthOf, notJsonBytes } from './support/odd-records.js';

let server: TestServer;
const open: Listener[] = [];
const watch = (l: Listener): Listener => {
  open.push(l);
  return l;
};

beforeAll(async () => {
  server = await startIsolatedServer({
    SLUICE_SSE_RETRY_MS: '100',
    SLUICE_SSE_KEEPALIVE_MS: '300',
    SLUICE_CORS_ORIGINS: 'https://dashboard.example',
  });
});
afterAll(async () => {
  for (const l of open) l.close();
  await server?.stop();
});

const name = () => `t-${randomUUID()}`;
const partitionUrl = (topic: string, p: number, query = '') =>
  `${server.url}/v1/topics/${topic}/partitions/${p}/events${query}`;
const topicUrl = (topic: string, query = '') => `${server.url}/v1/topics/${topic}/events${query}`;

/** Read the raw stream until `done(text)` holds, then abort. */
async function rawStream(url: string, headers: Record<string, string>, done: (text: string) => boolean) {
  const controller = new AbortController();
  const res = await fetch(url, { headers, signal: controller.signal });
  let text = '';
  if (res.body) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const deadline = Date.now() + 5_000;
    while (!done(text) && Date.now() < deadline) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += decoder.decode(chunk.value, { stream: true });
    }
  }
  controller.abort();
  return { res, text };
}

describe('framing and headers', () => {
  it('opens with retry:, sends SSE headers and CORS for an allowed origin, no compression, keepalives', async () => {
    const topic = name();
    await createTopic(server.url, topic);
    const { res, text } = await rawStream(
      partitionUrl(topic, 0),
      { origin: 'https://dashboard.example', 'accept-encoding': 'gzip, br' },
      (t) => t.includes(': keepalive'),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    expect(res.headers.get('content-encoding')).toBeNull();
    expect(res.headers.get('access-control-allow-origin')).toBe('https://dashboard.example');
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect(text.startsWith('retry: 100\n\n')).toBe(true);
    expect(text).toContain(': keepalive\n\n');
  });

  it('answers the CORS preflight for Last-Event-ID', async () => {
    const topic = name();
    await createTopic(server.url, topic);
    const res = await fetch(topicUrl(topic), {
      method: 'OPTIONS',
      headers: {
        origin: 'https://dashboard.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'last-event-id',
      },
    });
    expect(res.status).toBeLessThan(300);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://dashboard.example');
    expect((res.headers.get('access-control-allow-headers') ?? '').toLowerCase()).toContain('last-event-id');
  });
});

describe('partition stream', () => {
  it('delivers history and live records as Record JSON with next-offset ids', async () => {
    const topic = name();
    await createTopic(server.url, topic);
    await produce(server.url, topic, [{ value: { n: 0 }, key: 'a', headers: { h: '1' } }, { value: { n: 1 } }]);
    const l = watch(listen(partitionUrl(topic, 0, '?from=earliest')));
    await until(() => l.records().length === 2, 'history');
    await produce(server.url, topic, [{ value: { n: 2 } }]);
    await until(() => l.records().length === 3, 'live record');
    l.close();
    expect(l.records()[0]).toEqual({
      topic,
      partition: 0,
      offset: 0,
      timestamp: expect.any(Number),
      key: 'a',
      value: { n: 0 },
      headers: { h: '1' },
    });
    expect(l.records().map((r) => r.value)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    // `<next offset>.<tag>`: the tag names this topic (see topic-identity.test.ts).
    expect(l.events.map((e) => e.id.split('.')[0])).toEqual(['1', '2', '3']);
    expect(l.events.every((e) => /^\d+\.[A-Za-z0-9_-]{6}$/.test(e.id))).toBe(true);
  });

  it('from=latest (the default) sends only new records; from=<offset> and timestamp= pick the start', async () => {
    const topic = name();
    await createTopic(server.url, topic);
    await produce(server.url, topic, [
      { value: 'old', timestamp: 1_000 },
      { value: 'mid', timestamp: 2_000 },
      { value: 'new', timestamp: 3_000 },
    ]);
    const latest = watch(listen(partitionUrl(topic, 0)));
    const fromOffset = watch(listen(partitionUrl(topic, 0, '?from=1')));
    const fromTime = watch(listen(partitionUrl(topic, 0, '?timestamp=2500')));
    await until(
      () => latest.opens === 1 && fromOffset.records().length === 2 && fromTime.records().length === 1,
      'starts',
    );
    await produce(server.url, topic, [{ value: 'live' }]);
    await until(() => latest.records().length === 1 && fromTime.records().length === 2, 'live');
    expect(latest.records().map((r) => r.value)).toEqual(['live']);
    expect(
      fromOffset
        .records()
        .map((r) => r.value)
        .slice(0, 2),
    ).toEqual(['mid', 'new']);
    expect(fromTime.records().map((r) => r.value)).toEqual(['new', 'live']);
  });

  it('resumes exactly after Last-Event-ID (header) or ?last_event_id=, and the header wins', async () => {
    const topic = name();
    await createTopic(server.url, topic);
    await produce(
      server.url,
      topic,
      Array.from({ length: 10 }, (_, i) => ({ value: i })),
    );
    const byHeader = watch(listen(partitionUrl(topic, 0, '?from=earliest'), { lastEventId: '4' }));
    const byQuery = watch(listen(partitionUrl(topic, 0, '?from=earliest&last_event_id=7')));
    const both = watch(listen(partitionUrl(topic, 0, '?last_event_id=9'), { lastEventId: '2' }));
    await until(
      () => byHeader.records().length === 6 && byQuery.records().length === 3 && both.records().length === 8,
      'resumed',
    );
    expect(byHeader.records().map((r) => r.offset)).toEqual([4, 5, 6, 7, 8, 9]);
    expect(byQuery.records().map((r) => r.offset)).toEqual([7, 8, 9]);
    expect(both.records().map((r) => r.offset)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('EventSource reconnects after a dropped connection and continues with no gap and no repeat', async () => {
    const topic = name();
    await createTopic(server.url, topic);
    const proxy = await startProxy(
      server.services.config.port === 0 ? Number(new URL(server.url).port) : server.services.config.port,
    );
    try {
      const l = watch(listen(`http://127.0.0.1:${proxy.port}/v1/topics/${topic}/partitions/0/events?from=earliest`));
      await produce(server.url, topic, [{ value: 'a' }, { value: 'b' }]);
      await until(() => l.records().length === 2, 'before the cut');
      proxy.cut();
      await produce(server.url, topic, [{ value: 'c' }, { value: 'd' }]);
      await until(() => l.opens === 2 && l.records().length === 4, 'after reconnect');
      await produce(server.url, topic, [{ value: 'e' }]);
      await until(() => l.records().length === 5, 'live after reconnect');
      expect(l.records().map((r) => r.value)).toEqual(['a', 'b', 'c', 'd', 'e']);
      l.close();
    } finally {
      await proxy.close();
    }
  });

  it('filters by ?key= and ?header.<name>=; resuming after a filtered event skips nothing and repeats nothing', async () => {
    const topic = name();
    await createTopic(server.url, topic);
    await produce(server.url, topic, [
      { value: 1, key: 'k1', headers: { env: 'prod' } },
      { value: 2, key: 'k2', headers: { env: 'prod' } },
      { value: 3, key: 'k1', headers: { env: 'dev' } },
      { value: 4, key: 'k1', headers: { env: 'prod' } },
      { value: 5, key: 'k2' },
    ]);
    const byKey = watch(listen(partitionUrl(topic, 0, '?from=earliest&key=k1')));
    const byBoth = watch(listen(partitionUrl(topic, 0, '?from=earliest&key=k1&header.env=prod')));
    const byHeader = watch(listen(partitionUrl(topic, 0, '?from=earliest&header.env=dev&header.env=prod')));
    await until(
      () => byKey.records().length === 3 && byBoth.records().length === 2 && byHeader.records().length === 4,
      'filtered',
    );
    expect(byKey.records().map((r) => r.value)).toEqual([1, 3, 4]);
    expect(byBoth.records().map((r) => r.value)).toEqual([1, 4]);
    expect(byHeader.records().map((r) => r.value)).toEqual([1, 2, 3, 4]);
    const resumed = watch(
      listen(partitionUrl(topic, 0, '?from=earliest&key=k1'), { lastEventId: byKey.events[0]?.id ?? '' }),
    );
    await produce(server.url, topic, [{ value: 6, key: 'k1' }]);
    await until(() => resumed.records().length === 3, 'resumed filtered');
    expect(resumed.records().map((r) => r.value)).toEqual([3, 4, 6]);
  });

  it('?batch=true sends records events with a JSON array', async () => {
    const topic = name();
    await createTopic(server.url, topic);
    await produce(server.url, topic, [{ value: 'x' }, { value: 'y' }]);
    const l = watch(listen(partitionUrl(topic, 0, '?from=earliest&batch=true')));
    await until(() => l.records().length === 2, 'batch');
    expect(l.events[0]).toMatchObject({ type: 'records', id: expect.stringMatching(/^2\./) });
    expect(l.records().map((r) => r.value)).toEqual(['x', 'y']);
  });
});

describe('records already in the log that produce would refuse', () => {
  it('partition and topic streams deliver a deep value and a non-JSON value with their neighbours, live and replayed', async () => {
    const topic = name();
    await createTopic(server.url, topic, 2);
    const live = watch(listen(partitionUrl(topic, 0, '?from=earliest')));
    const liveTopic = watch(listen(topicUrl(topic, '?from=earliest')));
    await until(() => live.opens === 1 && liveTopic.opens === 1, 'streams open');
    await produce(server.url, topic, [{ value: 'before', partition: 0 }]);
    await appendOddRecords(server.services, topic, 0);
    await produce(server.url, topic, [{ value: 'after', partition: 0 }]);
    const replay = watch(listen(partitionUrl(topic, 0, '?from=earliest')));
    const replayTopic = watch(listen(topicUrl(topic, '?from=earliest&batch=true')));
    for (const [what, l] of Object.entries({ live, liveTopic, replay, replayTopic })) {
      await until(() => l.records().length === 4 || l.events.some((e) => e.type === 'error'), `4 records (${what})`);
      expect(
        l.events.filter((e) => e.type === 'error'),
        what,
      ).toEqual([]);
      const records = l.records();
      expect(
        records.map((r) => r.offset),
        what,
      ).toEqual([0, 1, 2, 3]);
      expect([records[0]?.value, records[3]?.value], what).toEqual(['before', 'after']);
      expect(depthOf(records[1]?.value), what).toBe(DEEP);
      expect(records[2], what).toMatchObject({ value: notJsonBytes.toString('base64'), value_encoding: 'base64' });
      l.close();
    }
  });
});

describe('topic stream', () => {
  it('merges every partition in order and resumes from a topic cursor with no gap or repeat', async () => {
    const topic = name();
    await createTopic(server.url, topic, 3);
    const produced = [];
    for (let i = 0; i < 12; i++) produced.push({ value: i, partition: i % 3 });
    await produce(server.url, topic, produced);
    const l = watch(listen(topicUrl(topic, '?from=earliest')));
    await until(() => l.records().length === 12, 'all partitions');
    await produce(server.url, topic, [{ value: 12, partition: 1 }]);
    await until(() => l.records().length === 13, 'live');
    for (const p of [0, 1, 2]) {
      const offsets = l
        .records()
        .filter((r) => r.partition === p)
        .map((r) => r.offset);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    }
    expect(l.events.every((e) => /^v2\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]+$/.test(e.id))).toBe(true);
    const cut = 5;
    const resumed = watch(listen(topicUrl(topic), { lastEventId: l.events[cut]?.id ?? '' }));
    await until(() => resumed.records().length === 13 - cut - 1, 'resumed');
    const key = (r: { partition: number; offset: number }) => `${r.partition}/${r.offset}`;
    expect(resumed.records().map(key).sort()).toEqual(
      l
        .records()
        .slice(cut + 1)
        .map(key)
        .sort(),
    );
  });
  it('an open topic stream takes in partitions added while it runs, from their first record', async () => {
    const topic = name();
    await createTopic(server.url, topic, 2);
    const l = watch(listen(topicUrl(topic, '?from=latest')));
    // Attached: a record produced now arrives (the stream started at the end).
    await until(() => l.opens === 1, 'open');
    await produce(server.url, topic, [{ value: 'before', partition: 1 }]);
    await until(() => l.records().length === 1, 'first record');
    const grown = await fetch(`${server.url}/v1/topics/${topic}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ partitions: 4 }),
    });
    expect(grown.status).toBe(200);
    await produce(server.url, topic, [
      { value: 'new-3', partition: 3 },
      { value: 'new-2', partition: 2 },
      { value: 'old-0', partition: 0 },
    ]);
    await until(() => l.records().length === 4, 'records of the added partitions');
    expect(
      l
        .records()
        .map((r) => `${r.partition}:${String(r.value)}`)
        .sort(),
    ).toEqual(['0:old-0', '1:before', '2:new-2', '3:new-3'].sort());
    // The last cursor covers the added partitions: resuming from it repeats nothing.
    const last = l.events.at(-1)?.id ?? '';
    const resumed = watch(listen(topicUrl(topic), { lastEventId: last }));
    await produce(server.url, topic, [{ value: 'after', partition: 3 }]);
    await until(() => resumed.records().length >= 1, 'resumed');
    expect(resumed.records().map((r) => r.value)).toEqual(['after']);
  });
});

describe('errors', () => {
  it('400 for a malformed cursor, bad from/timestamp; 404 for an unknown topic or partition', async () => {
    const topic = name();
    await createTopic(server.url, topic, 2);
    const status = async (url: string, headers: Record<string, string> = {}) => {
      const res = await fetch(url, { headers });
      const body = (await res.json()) as { error: { code: string } };
      return [res.status, body.error.code];
    };
    expect(await status(partitionUrl(topic, 0), { 'last-event-id': 'v1.garbage' })).toEqual([400, 'bad_request']);
    expect(await status(partitionUrl(topic, 0, '?last_event_id=-3'))).toEqual([400, 'bad_request']);
    expect(await status(topicUrl(topic), { 'last-event-id': '17' })).toEqual([400, 'bad_request']);
    expect(await status(topicUrl(topic, '?last_event_id=v1.AwEBAQ'))).toEqual([400, 'bad_request']); // 3 partitions
    expect(await status(partitionUrl(topic, 0, '?from=soon'))).toEqual([400, 'bad_request']);
    expect(await status(topicUrl(topic, '?from=5'))).toEqual([400, 'bad_request']);
    expect(await status(partitionUrl(topic, 0, '?from=earliest&timestamp=5'))).toEqual([400, 'bad_request']);
    expect(await status(partitionUrl(topic, 0, '?batch=maybe'))).toEqual([400, 'bad_request']);
    // Past 2^53 a number is not exact: refused (as /records does), never rounded to another one.
    expect(await status(partitionUrl(topic, 0, '?from=9007199254740993'))).toEqual([400, 'bad_request']);
    expect(await status(partitionUrl(topic, 0, '?timestamp=9999999999999999'))).toEqual([400, 'bad_request']);
    expect(await status(topicUrl(topic, '?timestamp=9007199254740993'))).toEqual([400, 'bad_request']);
    expect(await status(partitionUrl(topic, 0, '?last_event_id=9007199254740993'))).toEqual([400, 'bad_request']);
    expect(await status(partitionUrl(topic, 0, '?from=9007199254740991'))).toEqual([416, 'offset_out_of_range']);
    expect(await status(partitionUrl(topic, 2))).toEqual([404, 'partition_not_found']);
    expect(await status(partitionUrl(name(), 0))).toEqual([404, 'topic_not_found']);
    expect(await status(topicUrl(name()))).toEqual([404, 'topic_not_found']);
  });

  it('a position past the end is a 416 with the readable range before the stream opens, as on /records', async () => {
    const topic = name();
    await createTopic(server.url, topic, 2);
    await produce(
      server.url,
      topic,
      [0, 1, 2, 3].map((n) => ({ value: n, partition: 0 })),
    );
    const refused = async (url: string, headers: Record<string, string> = {}) => {
      const res = await fetch(url, { headers });
      expect(res.headers.get('content-type'), url).toContain('application/json');
      return [res.status, (await res.json()) as { error: Record<string, unknown> }] as const;
    };
    const range = { code: 'offset_out_of_range', start_offset: 0, end_offset: 4 };
    for (const [url, headers] of [
      [partitionUrl(topic, 0), { 'last-event-id': '99999' }],
      [partitionUrl(topic, 0, '?from=99999'), {}],
      [partitionUrl(topic, 0, '?last_event_id=5'), {}],
    ] as const) {
      const [status, body] = await refused(url, headers);
      expect(status, url).toBe(416);
      expect(body.error, url).toMatchObject({ ...range, partition: 0 });
    }
    // A topic cursor past the end of one partition: partition 1 holds nothing, the cursor says 7.
    const described = (await (await fetch(`${server.url}/v1/topics/${topic}`)).json()) as { id: string };
    const tag = topicCursorTag(described.id);
    const [status, body] = await refused(topicUrl(topic), { 'last-event-id': encodeTopicCursor([4, 7], tag) });
    expect(status).toBe(416);
    expect(body.error).toMatchObject({ code: 'offset_out_of_range', partition: 1, start_offset: 0, end_offset: 0 });
    // EventSource stops on the 416 instead of waiting forever for offsets that do not exist yet.
    const l = watch(listen(partitionUrl(topic, 0), { lastEventId: '99999' }));
    await until(() => l.es.readyState === l.es.CLOSED, 'EventSource to give up');
    expect(l.opens).toBe(0);
    // At the end exactly is fine: the next record (offset 4) arrives.
    const atEnd = watch(listen(partitionUrl(topic, 0, '?from=4')));
    const atEndTopic = watch(listen(topicUrl(topic), { lastEventId: encodeTopicCursor([4, 0], tag) }));
    await until(() => atEnd.opens === 1 && atEndTopic.opens === 1, 'streams at the end open');
    await produce(server.url, topic, [{ value: 4, partition: 0 }]);
    await until(() => atEnd.records().length === 1 && atEndTopic.records().length === 1, 'record 4');
    expect(atEnd.records()[0]?.offset).toBe(4);
    expect(atEndTopic.records()[0]?.offset).toBe(4);
  });

  // Needs retention on the test's schedule; on Kafka the brokers retain on their own clock.
  it.skipIf(usingKafka())(
    'a cursor below the retention start gets event: gap naming the lost range, then the retained records; reconnects never repeat it',
    async () => {
      const topic = name();
      await createTopic(server.url, topic, 2, { segment_bytes: 1024, retention_bytes: 1024 });
      for (let i = 0; i < 10; i++) await produce(server.url, topic, [{ value: 'z'.repeat(400), partition: 0 }]);
      await produce(server.url, topic, [{ value: 'p1', partition: 1 }]);
      await server.services.log.enforceRetention();
      const found = server.services.topics.partitionLog(topic, 0);
      if (!found.ok) throw new Error(found.error.message);
      const start = found.value.log.startOffset();
      expect(start).toBeGreaterThan(1);
      const described = (await (await fetch(`${server.url}/v1/topics/${topic}`)).json()) as { id: string };
      const proxy = await startProxy(Number(new URL(server.url).port));
      try {
        const via = `http://127.0.0.1:${proxy.port}/v1/topics/${topic}`;
        // ?last_event_id= so that EventSource's own Last-Event-ID header takes over on reconnect.
        const part = watch(listen(`${via}/partitions/0/events?last_event_id=1`));
        const all = watch(
          listen(`${via}/events?last_event_id=${encodeTopicCursor([1, 0], topicCursorTag(described.id))}`),
        );
        const retained = Array.from({ length: 10 - start }, (_, i) => start + i);
        const offsetsOf = (l: Listener, p: number) =>
          l
            .records()
            .filter((r) => r.partition === p)
            .map((r) => r.offset);
        await until(() => offsetsOf(part, 0).length === retained.length, 'partition stream: retained records');
        await until(() => offsetsOf(all, 0).length === retained.length && offsetsOf(all, 1).length === 1, 'topic');
        const gap = { topic, partition: 0, from_offset: 1, to_offset: start };
        for (const l of [part, all]) {
          expect(l.events.filter((e) => e.type === 'gap').map((e) => JSON.parse(e.data))).toEqual([gap]);
          expect(l.events.filter((e) => e.type === 'error')).toEqual([]);
        }
        expect(part.events[0]).toMatchObject({ type: 'gap', id: expect.stringMatching(new RegExp(`^${start}\\.`)) });
        // A real reconnect: EventSource resumes from its last id, past the gap.
        proxy.cut();
        await until(() => part.opens === 2 && all.opens === 2, 'both reconnected');
        await produce(server.url, topic, [{ value: 'after', partition: 0 }]);
        await until(() => offsetsOf(part, 0).includes(10) && offsetsOf(all, 0).includes(10), 'the next record');
        for (const l of [part, all]) {
          expect(l.events.filter((e) => e.type === 'gap')).toHaveLength(1);
          expect(offsetsOf(l, 0)).toEqual([...retained, 10]);
          expect(l.opens).toBe(2);
        }
        expect(offsetsOf(all, 1)).toEqual([0]);
      } finally {
        await proxy.close();
      }
    },
  );
});
