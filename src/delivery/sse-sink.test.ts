// The Node response sink against a real HTTP server and client: bytes go out through the
// public ServerResponse API as a close-delimited HTTP body, corked per tick, with real backpressure.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeResponseSink, type SseSink } from './sse-sink.js';

let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

/** A server whose one response is an SSE sink. */
async function serve(): Promise<{ url: string; opened: Promise<{ sink: SseSink; res: http.ServerResponse }> }> {
  let resolve!: (v: { sink: SseSink; res: http.ServerResponse }) => void;
  const opened = new Promise<{ sink: SseSink; res: http.ServerResponse }>((r) => (resolve = r));
  server = http.createServer((_req, res) => {
    // As under @hono/node-server: the route makes the sink, then the framework writes the head.
    const { sink, body } = nodeResponseSink(res);
    setImmediate(() => res.writeHead(200, { 'content-type': 'text/event-stream' }));
    // The framework pumps `body`; when the sink closes it, the response ends.
    void body
      .getReader()
      .read()
      .then(() => res.end());
    resolve({ sink, res });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}/`, opened };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('nodeResponseSink', () => {
  it('writes every frame with res.write, corked for the tick, as one close-delimited body the client reads byte for byte', async () => {
    const { url, opened } = await serve();
    const response = fetch(url);
    const { sink, res } = await opened;
    const writes: unknown[] = [];
    const write = res.write.bind(res);
    res.write = ((chunk: unknown, ...rest: never[]) => {
      writes.push(chunk);
      return write(chunk as Buffer, ...rest);
    }) as typeof res.write;
    const shared = Buffer.from('event: record\ndata: {"n":1}\nid: 1\n\n');
    sink.write(Buffer.from('retry: 100\n\n'));
    await tick();
    await tick();
    for (let i = 0; i < 5; i++) sink.write(shared);
    expect(res.socket?.writableCorked).toBeGreaterThan(0);
    await tick();
    expect(res.socket?.writableCorked).toBe(0);
    // The very same Buffer went to res.write each time: encoded once, never copied by the sink.
    expect(writes.filter((w) => w === shared)).toHaveLength(5);
    sink.end();
    const answer = await response;
    expect([answer.headers.get('transfer-encoding'), answer.headers.get('connection')]).toEqual([null, 'close']);
    const text = await answer.text();
    expect(text).toBe(`retry: 100\n\n${shared.toString().repeat(5)}`);
    expect(sink.closed).toBe(true);
  });

  it('reports backpressure from res.write once the client stops reading, and drains when it reads again', async () => {
    const { url, opened } = await serve();
    const { port } = new URL(url);
    const client = net.connect(Number(port), '127.0.0.1');
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const { sink, res } = await opened;
    client.pause();
    // Until the head is stored the sink only holds writes (the retry: line); wait for that.
    while (!res.headersSent) await tick();
    await tick();
    const frame = Buffer.alloc(64 * 1024, 0x61);
    let drains = 0;
    let onDrain = (): void => {};
    sink.onDrain(() => {
      drains++;
      onDrain();
    });
    // Write until res.write says stop and no 'drain' follows: the kernel buffers are full too.
    for (let written = 0; ;) {
      while (sink.write(frame)) if (++written > 10_000) throw new Error('no backpressure after 640 MB');
      const before = drains;
      await new Promise<void>((resolve) => {
        onDrain = resolve;
        setTimeout(resolve, 300);
      });
      if (drains === before) break;
    }
    expect(sink.bufferedBytes()).toBeGreaterThan(0);
    const drained = new Promise<void>((resolve) => (onDrain = resolve));
    let read = 0;
    client.on('data', (chunk: Buffer) => (read += chunk.length));
    client.resume();
    await drained;
    expect(read).toBeGreaterThan(0);
    client.destroy();
  });
});
