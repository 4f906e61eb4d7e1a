// The official @durable-streams/client against Sluice: append, read from an offset, live tail
// (SSE and long-poll), resume, idempotent producer; the same records read back via /v1/topics.
import { DurableStream, IdempotentProducer, stream } from '@durable-streams/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIsolatedServer, type TestServer } from './support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startIsolatedServer({ SLUICE_STREAM_LONG_POLL_MS: '1000' });
});
afterAll(async () => {
  await server?.stop();
});

interface Msg {
  n: number;
  text: string;
}

/** The stream's tail offset, from HEAD through the client. */
async function tailOf(handle: DurableStream): Promise<string> {
  const head = await handle.head();
  if (!head.exists || head.offset === undefined) throw new Error('HEAD found no stream');
  return head.offset;
}

/** Wait (with a deadline) until `check` holds. */
async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('@durable-streams/client against Sluice', () => {
  it('appends, reads from an offset, tails live, resumes, and the records are the topic’s', async () => {
    const id = `client-${Date.now().toString(36)}`;
    const url = `${server.url}/v1/stream/apps/${id}/events`;
    const handle = await DurableStream.create({ url, contentType: 'application/json' });
    for (let n = 0; n < 3; n++) await handle.append(JSON.stringify({ n, text: `m${n}` }));
    const afterThree = await tailOf(handle);
    for (let n = 3; n < 5; n++) await handle.append(JSON.stringify({ n, text: `m${n}` }));

    // Catch-up from the start, then from a saved offset: exactly the later messages.
    const all = await (await stream<Msg>({ url, live: false })).json();
    expect(all.map((m) => m.n)).toEqual([0, 1, 2, 3, 4]);
    const later = await (await stream<Msg>({ url, offset: afterThree, live: false })).json();
    expect(later.map((m) => m.n)).toEqual([3, 4]);

    // Live tail over SSE and long-poll from the tail: both see an append made after they started.
    for (const live of ['sse', 'long-poll'] as const) {
      const tail = await tailOf(handle);
      const res = await stream<Msg>({ url, offset: tail, live });
      const seen: Msg[] = [];
      let savedOffset = tail;
      const unsubscribe = res.subscribeJson((batch) => {
        seen.push(...batch.items);
        savedOffset = batch.offset;
      });
      const n = live === 'sse' ? 100 : 200;
      await handle.append(JSON.stringify({ n, text: live }));
      await until(() => seen.some((m) => m.n === n), `${live} to deliver message ${n}`);
      unsubscribe();
      res.cancel();
      // Resume from the offset the subscriber saved: nothing again, only what came after.
      await handle.append(JSON.stringify({ n: n + 1, text: 'after' }));
      const resumed = await (await stream<Msg>({ url, offset: savedOffset, live: false })).json();
      expect(resumed.map((m) => m.n)).toEqual([n + 1]);
    }

    // An idempotent producer's batches land once each.
    const producer = new IdempotentProducer(handle, 'writer-1', { autoClaim: true });
    for (let n = 300; n < 310; n++) producer.append(JSON.stringify({ n, text: 'p' }));
    await producer.flush();
    await producer.close();

    // The same messages, in order, as records of the stream's topic.
    const topic = `apps__${id}__events`;
    const topics = (await (await fetch(`${server.url}/v1/topics`)).json()) as { topics: Array<{ name: string }> };
    expect(topics.topics.map((t) => t.name)).toContain(topic);
    const read = (await (
      await fetch(`${server.url}/v1/topics/${topic}/partitions/0/records?offset=0&max_records=100`)
    ).json()) as { records: Array<{ offset: number; value: Msg }> };
    const everything = await (await stream<Msg>({ url, live: false })).json();
    expect(read.records.map((r) => r.value)).toEqual(everything);
    expect(everything.map((m) => m.n)).toEqual([
      0, 1, 2, 3, 4, 100, 101, 200, 201, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309,
    ]);
  });
});
