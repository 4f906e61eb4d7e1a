// Durable Streams across two Sluice nodes on one Kafka cluster and one Postgres: a stream's writer
// state (idempotent producers, Stream-Seq) and its close hold whichever node a request reaches.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eventually, twoNodes, twoNodesPossible } from './support/kafka-nodes.js';
import type { TestServer } from './support/server.js';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function ds(node: TestServer, method: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(`${node.url}/v1/stream/${path}`, { method, ...init });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const text = { 'content-type': 'text/plain' };
const producer = (id: string, epoch: number, seq: number) => ({
  ...text,
  'producer-id': id,
  'producer-epoch': String(epoch),
  'producer-seq': String(seq),
});

describe.skipIf(!twoNodesPossible())('Durable Streams across two Sluice nodes on one Kafka cluster', () => {
  const nodes = twoNodes({ SLUICE_KAFKA_TOPIC_SYNC_MS: '100', SLUICE_STREAM_LONG_POLL_MS: '15000' });

  /** A stream made on A, known to B, where both nodes already appended (so each holds writer state). */
  const streamOnBoth = async (): Promise<string> => {
    const path = `nodes/s-${randomUUID().slice(0, 8)}`;
    expect((await ds(nodes.a, 'PUT', path, { headers: text })).status).toBe(201);
    await eventually('node B to know the stream', async () => (await ds(nodes.b, 'HEAD', path)).status === 200, 30_000);
    for (const node of [nodes.a, nodes.b]) {
      expect((await ds(node, 'POST', path, { headers: text, body: 'warm-up;' })).status).toBe(204);
    }
    return path;
  };

  /** The whole stream's bytes, read on `node`. */
  const content = async (node: TestServer, path: string): Promise<string> => {
    let offset = '-1';
    let out = '';
    for (let i = 0; i < 100; i++) {
      const r = await ds(node, 'GET', `${path}?offset=${offset}`);
      expect(r.status).toBe(200);
      out += r.text;
      offset = r.headers.get('stream-next-offset')!;
      if (r.headers.get('stream-up-to-date') === 'true') break;
    }
    return out.replaceAll('warm-up;', '');
  };

  it('an idempotent producer retried on the other node is a duplicate (204), not a second append', async () => {
    const path = await streamOnBoth();
    const id = `p-${randomUUID()}`;
    const first = await ds(nodes.a, 'POST', path, { headers: producer(id, 0, 0), body: 'one;' });
    expect(first.status).toBe(200);
    // The answer was lost; the client retries through the other node.
    const retry = await ds(nodes.b, 'POST', path, { headers: producer(id, 0, 0), body: 'one;' });
    expect(retry.status).toBe(204);
    // The next sequence number continues on B, and A knows it too.
    expect((await ds(nodes.b, 'POST', path, { headers: producer(id, 0, 1), body: 'two;' })).status).toBe(200);
    expect((await ds(nodes.a, 'POST', path, { headers: producer(id, 0, 1), body: 'two;' })).status).toBe(204);
    const gap = await ds(nodes.a, 'POST', path, { headers: producer(id, 0, 5), body: 'five;' });
    expect(gap.status).toBe(409);
    expect(gap.headers.get('producer-expected-seq')).toBe('2');
    // A new epoch on B fences the old one on A.
    expect((await ds(nodes.b, 'POST', path, { headers: producer(id, 1, 0), body: 'epoch1;' })).status).toBe(200);
    const stale = await ds(nodes.a, 'POST', path, { headers: producer(id, 0, 2), body: 'stale;' });
    expect(stale.status).toBe(403);
    expect(await content(nodes.a, path)).toBe('one;two;epoch1;');
  });

  it('Stream-Seq is compared with the last one appended through either node', async () => {
    const path = await streamOnBoth();
    expect((await ds(nodes.a, 'POST', path, { headers: { ...text, 'stream-seq': '002' }, body: 'a;' })).status).toBe(
      204,
    );
    const behind = await ds(nodes.b, 'POST', path, { headers: { ...text, 'stream-seq': '001' }, body: 'b;' });
    expect(behind.status).toBe(409);
    expect((await ds(nodes.b, 'POST', path, { headers: { ...text, 'stream-seq': '003' }, body: 'c;' })).status).toBe(
      204,
    );
    expect(await content(nodes.b, path)).toBe('a;c;');
  });

  it('a stream closed on one node refuses appends on the other, and its readers there see the end', async () => {
    const path = await streamOnBoth();
    const tail = (await ds(nodes.b, 'HEAD', path)).headers.get('stream-next-offset')!;
    const longPoll = ds(nodes.b, 'GET', `${path}?offset=${tail}&live=long-poll`);
    const sse = await fetch(`${nodes.b.url}/v1/stream/${path}?offset=${tail}&live=sse`);
    const events = (async () => {
      let all = '';
      const decoder = new TextDecoder();
      for await (const chunk of sse.body!) all += decoder.decode(chunk as Uint8Array, { stream: true });
      return all;
    })();
    const closed = await ds(nodes.a, 'POST', path, {
      headers: { ...text, 'stream-closed': 'true' },
      body: 'last;',
    });
    expect(closed.status).toBe(204);
    // B's long-poll, waiting at the old tail, gets the final append; the end of the stream comes
    // with it or with the next long-poll, within SLUICE_KAFKA_TOPIC_SYNC_MS — not after the
    // long-poll's 15 s timeout, and never as more data.
    const woke = await longPoll;
    expect(woke.status).toBe(200);
    expect(woke.text).toBe('last;');
    if (woke.headers.get('stream-closed') !== 'true') {
      const started = Date.now();
      const next = woke.headers.get('stream-next-offset')!;
      const end = await ds(nodes.b, 'GET', `${path}?offset=${next}&live=long-poll`);
      expect(end.text).toBe('');
      expect(end.headers.get('stream-closed')).toBe('true');
      expect(Date.now() - started).toBeLessThan(5_000);
    }
    // B's SSE reader gets the final append and a control event closing the stream, then the end.
    const seen = await Promise.race([
      events,
      new Promise<string>((_, reject) => setTimeout(() => reject(new Error('SSE on B did not end')), 10_000)),
    ]);
    expect(seen).toContain('data:last;');
    expect(seen).toMatch(/"streamClosed":true/);
    const late = await ds(nodes.b, 'POST', path, { headers: text, body: 'after-close;' });
    expect(late.status).toBe(409);
    expect(late.headers.get('stream-closed')).toBe('true');
    expect(await content(nodes.b, path)).toBe('last;');
    expect((await ds(nodes.b, 'HEAD', path)).headers.get('stream-closed')).toBe('true');
  });

  it('a topic produce on the other node to a stream closed on one node is refused (409), keyed or not', async () => {
    const path = await streamOnBoth();
    const topic = path.replaceAll('/', '__');
    const produce = (node: TestServer, value: string, headers: Record<string, string> = {}) =>
      fetch(`${node.url}/v1/topics/${topic}/records`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ records: [{ value }] }),
      });
    expect((await produce(nodes.b, 'open;')).status).toBe(200);
    const keyed = { 'idempotency-key': `k-${randomUUID()}` };
    expect((await produce(nodes.b, 'keyed;', keyed)).status).toBe(200);
    expect((await ds(nodes.a, 'POST', path, { headers: { ...text, 'stream-closed': 'true' } })).status).toBe(204);
    const late = await produce(nodes.b, 'late;');
    expect(late.status).toBe(409);
    expect(await late.text()).toContain('stream_closed');
    expect((await produce(nodes.b, 'late-keyed;', { 'idempotency-key': `k-${randomUUID()}` })).status).toBe(409);
    // A retry of the request acknowledged before the close answers as before, appending nothing.
    expect((await produce(nodes.b, 'keyed;', keyed)).status).toBe(200);
    expect(await content(nodes.a, path)).toBe('open;keyed;');
  });
});

describe.skipIf(!twoNodesPossible())('a Durable Stream made on another node, before the topic sync', () => {
  // No sync runs during the test: only the request itself can find the stream.
  const nodes = twoNodes({ SLUICE_KAFKA_TOPIC_SYNC_MS: '600000' });

  it('is served at its first request on the other node', async () => {
    const path = `nodes/first-${randomUUID().slice(0, 8)}`;
    expect((await ds(nodes.a, 'PUT', path, { headers: text, body: 'a;' })).status).toBe(201);
    expect((await ds(nodes.b, 'POST', path, { headers: text, body: 'b;' })).status).toBe(204);
    const read = await ds(nodes.b, 'GET', `${path}?offset=-1`);
    expect(read.status).toBe(200);
    expect(read.text).toBe('a;b;');
    // And a path nobody created stays 404 there.
    expect((await ds(nodes.b, 'GET', `nodes/none-${randomUUID().slice(0, 8)}?offset=-1`)).status).toBe(404);
  }, 60_000);
});
