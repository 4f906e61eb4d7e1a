// An SSE response pipelined behind another on one connection: Node gives it the socket only
// when the response before it has finished. Until then the sink must hold a bounded amount
// (backpressure), and once it has the socket the client must get the head and every frame.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { nodeResponseSink, type SseSink } from './sse-sink.js';

let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

const tick = () => new Promise((r) => setImmediate(r));

it('a stream pipelined behind a slow response holds a bounded amount, then gets the socket and sends everything', async () => {
  let finishFirst!: () => void;
  let resolveSink!: (s: SseSink) => void;
  const opened = new Promise<SseSink>((r) => (resolveSink = r));
  server = http.createServer((req, res) => {
    if (req.url === '/slow') {
      finishFirst = () => res.end('first');
      return;
    }
    // As under @hono/node-server: the route makes the sink, then the framework writes the head.
    const { sink, body } = nodeResponseSink(res);
    setImmediate(() => res.writeHead(200, { 'content-type': 'text/event-stream' }));
    void body
      .getReader()
      .read()
      .then(() => res.end());
    resolveSink(sink);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const client = net.connect(port, '127.0.0.1');
  let received = '';
  client.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  client.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /events HTTP/1.1\r\nHost: x\r\n\r\n');
  const sink = await opened;
  for (let i = 0; i < 10; i++) await tick();

  // Nothing can leave yet: after a few frames write() must say stop, not hold without bound.
  const frame = Buffer.from(`event: record\ndata: ${'x'.repeat(1000)}\n\n`);
  let accepted = 0;
  while (sink.write(frame)) if (++accepted > 1000) break;
  expect(accepted, 'frames accepted while the response has no socket').toBeLessThan(1000);
  expect(sink.bufferedBytes()).toBeLessThan(1024 * 1024);
  let drained = false;
  sink.onDrain(() => (drained = true));

  finishFirst();
  const deadline = Date.now() + 10_000;
  while (!drained && Date.now() < deadline) await tick();
  expect(drained, "'drain' once the stream has its socket").toBe(true);
  sink.write(Buffer.from('event: last\ndata: {}\n\n'));
  while (!received.includes('event: last') && Date.now() < deadline) await tick();
  const second = received.slice(received.indexOf('first') + 'first'.length);
  expect(second).toMatch(/^HTTP\/1\.1 200/);
  const bodyText = second.slice(second.indexOf('\r\n\r\n') + 4);
  expect(bodyText).toBe(frame.toString('latin1').repeat(accepted + 1) + 'event: last\ndata: {}\n\n');
  client.destroy();
});
