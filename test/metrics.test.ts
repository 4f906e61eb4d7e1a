// The traffic and state series of /metrics move with traffic: appends (latency, fsync, records and
// bytes in), reads (records read, bytes out), SSE streams, group lag, webhook outcomes and backlog,
// retention deletions; queue series leave with their queue or topic.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIsolatedServer, type TestServer } from './support/server.js';

/** `name{labels} value` lines of a scrape, as a map from series (with labels) to value. */
async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

const value = (m: Map<string, number>, series: string): number => m.get(series) ?? 0;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('/metrics traffic and state series', () => {
  let server: TestServer;
  let receiver: http.Server;
  let receiverUrl: string;
  let received = 0;

  beforeAll(async () => {
    server = await startIsolatedServer({ SLUICE_WEBHOOK_ALLOW_PRIVATE: 'true' });
    receiver = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received++;
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  });

  const call = async (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(`${server.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('appends, reads and SSE streams move their series', async () => {
    const topic = `t-${randomUUID()}`;
    expect((await call('POST', '/v1/topics', { name: topic })).status).toBe(201);
    const before = await scrape(server.url);
    const records = Array.from({ length: 10 }, (_, i) => ({ value: { i, pad: 'x'.repeat(100) } }));
    expect((await call('POST', `/v1/topics/${topic}/records`, { records })).status).toBe(200);
    const afterProduce = await scrape(server.url);
    expect(value(afterProduce, 'sluice_records_in_total') - value(before, 'sluice_records_in_total')).toBe(10);
    expect(value(afterProduce, 'sluice_bytes_in_total') - value(before, 'sluice_bytes_in_total')).toBeGreaterThan(1000);
    expect(
      value(afterProduce, 'sluice_log_append_seconds_count') - value(before, 'sluice_log_append_seconds_count'),
    ).toBe(1);
    expect(
      value(afterProduce, 'sluice_log_fsync_seconds_count') - value(before, 'sluice_log_fsync_seconds_count'),
    ).toBe(1);
    expect(value(afterProduce, 'sluice_log_write_seconds_count')).toBeGreaterThan(
      value(before, 'sluice_log_write_seconds_count'),
    );

    const read = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`);
    expect(read.status).toBe(200);
    const readBytes = (await read.arrayBuffer()).byteLength;
    const afterRead = await scrape(server.url);
    expect(value(afterRead, 'sluice_records_read_total') - value(afterProduce, 'sluice_records_read_total')).toBe(10);
    const out = 'sluice_bytes_out_total{operation="readRecords"}';
    expect(value(afterRead, out) - value(afterProduce, out)).toBeGreaterThanOrEqual(readBytes);

    // An SSE stream is counted while open, its bytes while it runs, and uncounted once closed.
    const abort = new AbortController();
    const stream = await fetch(`${server.url}/v1/topics/${topic}/events?from=earliest`, { signal: abort.signal });
    const reader = stream.body!.getReader();
    let seen = '';
    while (!seen.includes('"i":9')) seen += new TextDecoder().decode((await reader.read()).value);
    const open = 'sluice_sse_streams_open{operation="streamTopicEvents"}';
    const sseOut = 'sluice_bytes_out_total{operation="streamTopicEvents"}';
    const during = await scrape(server.url);
    expect(value(during, open)).toBe(1);
    expect(value(during, sseOut)).toBeGreaterThan(1000);
    abort.abort();
    await until('the stream to be uncounted', async () =>
      value(await scrape(server.url), open) === 0 ? true : undefined,
    );
  }, 60_000);

  it('every SSE stream is counted open: the overview and a Durable Stream too, as on the dashboard', async () => {
    const path = `m-${randomUUID()}`;
    expect(
      (await fetch(`${server.url}/v1/stream/${path}`, { method: 'PUT', headers: { 'content-type': 'text/plain' } }))
        .status,
    ).toBe(201);
    const abort = new AbortController();
    const overview = await fetch(`${server.url}/v1/overview/events`, { signal: abort.signal });
    const durable = await fetch(`${server.url}/v1/stream/${path}?offset=-1&live=sse`, { signal: abort.signal });
    expect(overview.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(durable.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const m = await until('both streams counted', async () => {
      const s = await scrape(server.url);
      return value(s, 'sluice_sse_streams_open{operation="streamOverview"}') === 1 &&
        value(s, 'sluice_sse_streams_open{operation="readStream"}') === 1
        ? s
        : undefined;
    });
    // The dashboard's tile is the same sum, in a snapshot built since both streams opened.
    const sum = [...m.entries()]
      .filter(([k]) => k.startsWith('sluice_sse_streams_open{'))
      .reduce((n, [, v]) => n + v, 0);
    expect(sum).toBeGreaterThanOrEqual(2);
    const reader = overview.body!.getReader();
    let text = '';
    const shown = (): number[] => [...text.matchAll(/"sse_streams":(\d+)/g)].map((x) => Number(x[1]));
    const deadline = Date.now() + 15_000;
    while (!shown().includes(sum) && Date.now() < deadline) {
      text += new TextDecoder().decode((await reader.read()).value);
    }
    expect(shown()).toContain(sum);
    abort.abort();
    await until('the streams to be uncounted', async () => {
      const s = await scrape(server.url);
      return value(s, 'sluice_sse_streams_open{operation="streamOverview"}') +
        value(s, 'sluice_sse_streams_open{operation="readStream"}') ===
        0
        ? true
        : undefined;
    });
  }, 60_000);

  it('group lag rises with records and falls with commits', async () => {
    const topic = `t-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    expect((await call('POST', '/v1/topics', { name: topic })).status).toBe(201);
    expect(
      (await call('POST', `/v1/groups/${group}/offsets`, { offsets: [{ topic, partition: 0, offset: 0 }] })).status,
    ).toBe(204);
    const series = `sluice_group_lag{group="${group}"}`;
    expect(value(await scrape(server.url), series)).toBe(0);
    const records = Array.from({ length: 7 }, (_, i) => ({ value: i }));
    expect((await call('POST', `/v1/topics/${topic}/records`, { records })).status).toBe(200);
    expect(value(await scrape(server.url), series)).toBe(7);
    expect(
      (await call('POST', `/v1/groups/${group}/offsets`, { offsets: [{ topic, partition: 0, offset: 5 }] })).status,
    ).toBe(204);
    expect(value(await scrape(server.url), series)).toBe(2);
  }, 60_000);

  it('queue series go with their queue, and with their topic', async () => {
    const queueSeries = (m: Map<string, number>, topic: string, queue: string): string[] =>
      [...m.keys()].filter((k) => k.startsWith('sluice_queue_') && k.includes(`topic="${topic}",queue="${queue}"`));
    const topic = `t-${randomUUID()}`;
    expect((await call('POST', '/v1/topics', { name: topic })).status).toBe(201);
    expect((await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 1 }, { value: 2 }] })).status).toBe(
      200,
    );
    // Each queue gets a delivery, an ack and a transition: every kind of queue series.
    for (const queue of ['a', 'b']) {
      expect((await call('PUT', `/v1/topics/${topic}/queues/${queue}`, { start: 'earliest' })).status).toBe(201);
      const received = await call('POST', `/v1/topics/${topic}/queues/${queue}/receive?max_records=1`);
      const { records } = (await received.json()) as { records: Array<{ lease: string }> };
      expect(records).toHaveLength(1);
      const acked = await call('POST', `/v1/topics/${topic}/queues/${queue}/ack`, {
        acks: [{ lease: records[0]!.lease, action: 'accept' }],
      });
      expect(acked.status).toBe(200);
    }
    const before = await scrape(server.url);
    expect(queueSeries(before, topic, 'a').length).toBeGreaterThanOrEqual(3);
    expect(queueSeries(before, topic, 'b').length).toBeGreaterThanOrEqual(3);

    expect((await call('DELETE', `/v1/topics/${topic}/queues/a`)).status).toBe(204);
    const afterQueue = await scrape(server.url);
    expect(queueSeries(afterQueue, topic, 'a')).toEqual([]);
    expect(queueSeries(afterQueue, topic, 'b').length).toBeGreaterThanOrEqual(3);

    expect((await call('DELETE', `/v1/topics/${topic}`)).status).toBe(204);
    expect(queueSeries(await scrape(server.url), topic, 'b')).toEqual([]);
  }, 60_000);

  it('webhook attempts are counted by outcome and the backlog drains', async () => {
    const topic = `t-${randomUUID()}`;
    expect((await call('POST', '/v1/topics', { name: topic })).status).toBe(201);
    const before = await scrape(server.url);
    const delivered = 'sluice_webhook_deliveries_total{outcome="delivered"}';
    const created = await call('POST', '/v1/webhooks', {
      topic,
      url: receiverUrl,
      from: 'earliest',
      batch: { max_records: 1, max_wait_ms: 0 },
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect(
      (await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 1 }, { value: 2 }, { value: 3 }] }))
        .status,
    ).toBe(200);
    await until('three deliveries', async () => {
      const m = await scrape(server.url);
      return value(m, delivered) - value(before, delivered) >= 3 ? m : undefined;
    });
    expect(received).toBeGreaterThanOrEqual(3);
    const after = await scrape(server.url);
    expect(value(after, 'sluice_webhook_delivery_seconds_count')).toBeGreaterThanOrEqual(3);
    // The delivered counter moves before the webhook's progress is committed: the backlog follows.
    await until('the backlog drains', async () => {
      const m = await scrape(server.url);
      return m.get(`sluice_webhook_backlog_records{webhook="${id}",topic="${topic}",state="active"}`) === 0
        ? m
        : undefined;
    });
    // Paused, the backlog grows with what is produced.
    expect((await call('PATCH', `/v1/webhooks/${id}`, { state: 'paused' })).status).toBe(200);
    expect((await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 4 }, { value: 5 }] })).status).toBe(
      200,
    );
    expect(
      value(
        await scrape(server.url),
        `sluice_webhook_backlog_records{webhook="${id}",topic="${topic}",state="paused"}`,
      ),
    ).toBe(2);
  }, 60_000);

  it('retention deletions are counted', async () => {
    const topic = `t-${randomUUID()}`;
    const created = await call('POST', '/v1/topics', {
      name: topic,
      config: { segment_bytes: 1024, retention_bytes: 1024 },
    });
    expect(created.status).toBe(201);
    for (let i = 0; i < 6; i++) {
      expect(
        (await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'x'.repeat(600) }] })).status,
      ).toBe(200);
    }
    const before = await scrape(server.url);
    await server.services.log.enforceRetention();
    const after = await scrape(server.url);
    const segments =
      value(after, 'sluice_retention_deleted_segments_total') -
      value(before, 'sluice_retention_deleted_segments_total');
    expect(segments).toBeGreaterThan(0);
    expect(
      value(after, 'sluice_retention_deleted_bytes_total') - value(before, 'sluice_retention_deleted_bytes_total'),
    ).toBeGreaterThan(600 * segments);
  }, 60_000);
});
