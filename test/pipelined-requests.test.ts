// Requests pipelined on one connection behind a response still being written: Node hands their
// responses the socket only when the one before has finished. A client that hangs up meanwhile
// must free everything they hold (stream slots, SSE streams, long-polls), as any disconnect does.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawConnect } from './support/raw-http.js';
import { startIsolatedServer, type TestServer } from './support/server.js';
import { createTopic } from './sse-support.js';

async function openStreams(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('sluice_open_streams '));
  return Number(line?.split(' ')[1]);
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('pipelined requests behind a long-poll, then the client hangs up', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startIsolatedServer({ SLUICE_MAX_STREAMS: '4' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it.each([
    ['an SSE stream', (t: string) => `/v1/topics/${t}/partitions/0/events?from=earliest`],
    ['a second long-poll', (t: string) => `/v1/topics/${t}/partitions/0/records?offset=0&wait_ms=20000`],
  ])('%s queued behind it gives back its stream slot', async (_, path) => {
    const topic = `t-${randomUUID()}`;
    await createTopic(server.url, topic, 1);
    const before = await openStreams(server.url);
    const streamsBefore = server.services.sse.stats().open;
    const conn = await rawConnect(server.url);
    conn.write(
      `GET /v1/topics/${topic}/partitions/0/records?offset=0&wait_ms=20000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n` +
        `GET ${path(topic)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
    );
    await until(async () => (await openStreams(server.url)) === before + 2, 'both requests hold a stream slot');
    conn.destroy();
    await until(
      async () => (await openStreams(server.url)) === before,
      'every slot given back after the hang-up',
      5_000,
    );
    expect(server.services.sse.stats().open).toBe(streamsBefore);
  });
});
