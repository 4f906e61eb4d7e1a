// The Node response sink against a real HTTP server and client: after the head, bytes go to the
// socket as a close-delimited HTTP body, flushed once per tick, with real backpressure.
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
  it('hands every frame to the socket at the end of its tick, the same Buffer, as one close-delimited body the client reads byte for byte', async () => {
    const { url, opened } = await serve();
    const response = fetch(url);
    const { sink, res } = await opened;
    const socket = res.socket!;
    const writes: unknown[] = [];
    let corkedWrites = 0;
    const write = socket.write.bind(socket);
    socket.write = ((chunk: unknown, ...rest: never[]) => {
      writes.push(chunk);
      if (socket.writableCorked > 0) corkedWrites++;
      return write(chunk as Buffer, ...rest);
    }) as typeof socket.write;
    const shared = Buffer.from('event: record\ndata: {"n":1}\nid: 1\n\n');
    sink.write(Buffer.from('retry: 100\n\n'));
    while (writes.length === 0) await tick();
    writes.length = 0;
    for (let i = 0; i < 5; i++) sink.write(shared);
    // Held for the tick, then written together (corked: one socket write for all five).
    expect(writes).toHaveLength(0);
    expect(sink.bufferedBytes()).toBe(5 * shared.length);
    await tick();
    expect(writes).toHaveLength(5);
    expect(corkedWrites).toBe(5);
    expect(socket.writableCorked).toBe(0);
    // The very same Buffer each time: encoded once, never copied by the sink.
    expect(writes.every((w) => w === shared)).toBe(true);
    sink.end();
    const answer = await response;
    expect([answer.headers.get('transfer-encoding'), answer.headers.get('connection')]).toEqual([null, 'close']);
    const text = await answer.text();
    expect(text).toBe(`retry: 100\n\n${shared.toString().repeat(5)}`);
    expect(sink.closed).toBe(true);
  });

  it('writes nothing after the head of a HEAD request, and closes', async () => {
    const { url, opened } = await serve();
    const { port } = new URL(url);
    const client = net.connect(Number(port), '127.0.0.1');
    let received = '';
    client.on('data', (chunk: Buffer) => (received += chunk.toString()));
    client.write('HEAD / HTTP/1.1\r\nHost: x\r\n\r\n');
    const { sink } = await opened;
    sink.write(Buffer.from('retry: 100\n\n'));
    const deadline = Date.now() + 10_000;
    while (!sink.closed && Date.now() < deadline) await tick();
    expect(sink.closed).toBe(true);
    sink.write(Buffer.from('event: record\ndata: {}\n\n'));
    await new Promise((r) => setTimeout(r, 50));
    expect(received).toMatch(/^HTTP\/1\.1 200/);
    expect(received).not.toContain('retry:');
    expect(received).not.toContain('event:');
    client.destroy();
  });

  it('reports backpressure from the socket once the client stops reading, and drains when it reads again', async () => {
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
    // Write until the sink says stop and no 'drain' follows: the kernel buffers are full too.
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
