// The Node response sink against a real HTTP server and client: after the head, bytes go to the
// socket as a close-delimited HTTP body, flushed in rounds (once per loop turn, held after a long
// round), with real backpressure.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SseFeed } from './sse-feed.js';
import { nodeResponseSink, urgentBacklogBytes, type SseSink } from './sse-sink.js';

let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

interface Opened {
  sink: SseSink;
  res: http.ServerResponse;
}

/** A server whose responses are SSE sinks: `opened` is the first, `all` every one so far. */
async function serve(): Promise<{ url: string; opened: Promise<Opened>; all: Opened[] }> {
  let resolve!: (v: Opened) => void;
  const opened = new Promise<Opened>((r) => (resolve = r));
  const all: Opened[] = [];
  server = http.createServer((_req, res) => {
    // As under @hono/node-server: the route makes the sink, then the framework writes the head.
    const { sink, body } = nodeResponseSink(res);
    setImmediate(() => res.writeHead(200, { 'content-type': 'text/event-stream' }));
    // The framework pumps `body`; when the sink closes it, the response ends.
    void body
      .getReader()
      .read()
      .then(() => res.end());
    all.push({ sink, res });
    resolve({ sink, res });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}/`, opened, all };
}

/**
 * Opens `n` more subscribers on bare sockets (their bytes are read and dropped) and resolves once
 * each one's `retry:` line is on its socket: a fan-out round then writes to all of them.
 */
async function crowd(url: string, all: Opened[], n: number): Promise<void> {
  const { port } = new URL(url);
  const target = all.length + n;
  for (let i = 0; i < n; i++) {
    const client = net.connect(Number(port), '127.0.0.1');
    client.on('data', () => {});
    client.on('error', () => {});
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  }
  const deadline = Date.now() + 10_000;
  while (all.length < target) {
    if (Date.now() > deadline) throw new Error(`only ${all.length} of ${target} subscribers`);
    await tick();
  }
  for (const { sink } of all.slice(target - n)) sink.write(Buffer.from('retry: 100\n\n'));
  while (all.some(({ sink }) => sink.bufferedBytes() > 0)) {
    if (Date.now() > deadline) throw new Error('retry: not flushed to every subscriber');
    await tick();
  }
}

const tick = () => new Promise((r) => setImmediate(r));

interface SocketWrite {
  text: string;
  at: number;
  corked: boolean;
}

/**
 * Records every socket write of `res` (its text, when, whether corked); `slow(ms)` makes the next
 * write take that long, as a flush round of thousands of socket writes does.
 */
function watchWrites(res: http.ServerResponse): { writes: SocketWrite[]; slow(ms: number): void } {
  const socket = res.socket!;
  const writes: SocketWrite[] = [];
  let slowMs = 0;
  const write = socket.write.bind(socket);
  socket.write = ((chunk: unknown, ...rest: never[]) => {
    const at = performance.now();
    if (slowMs > 0) {
      const until = at + slowMs;
      slowMs = 0;
      while (performance.now() < until);
    }
    writes.push({ text: String(chunk), at, corked: socket.writableCorked > 0 });
    return write(chunk as Buffer, ...rest);
  }) as typeof socket.write;
  return { writes, slow: (ms) => (slowMs = ms) };
}

/** Writes `retry:` and waits until it went out after the head; returns the number of writes so far. */
async function retryWritten(sink: SseSink, writes: SocketWrite[]): Promise<number> {
  sink.write(Buffer.from('retry: 100\n\n'));
  const deadline = Date.now() + 10_000;
  while (!writes.some((w) => w.text.startsWith('retry:'))) {
    if (Date.now() > deadline) throw new Error('retry: never written');
    await tick();
  }
  return writes.length;
}

/** Waits until `writes` has `n` entries (or fails after 10 s). */
async function writesReach(writes: SocketWrite[], n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (writes.length < n) {
    if (Date.now() > deadline) throw new Error(`only ${writes.length} of ${n} socket writes`);
    await tick();
  }
}

const frame = (n: number) => Buffer.from(`event: record\ndata: {"n":${n}}\nid: ${n}\n\n`);

describe('nodeResponseSink', () => {
  it('hands the frames to the socket at the end of their tick in one write (a lone frame as the same Buffer), as one close-delimited body the client reads byte for byte', async () => {
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
    // The head goes out first, then (on the next loop turn) the held `retry:` line.
    while (!writes.some((w) => String(w).startsWith('retry:'))) await tick();
    writes.length = 0;
    for (let i = 0; i < 5; i++) sink.write(shared);
    // Held for the loop turn, then written together: joined, one plain socket write for all five.
    expect(writes).toHaveLength(0);
    expect(sink.bufferedBytes()).toBe(5 * shared.length);
    await tick();
    expect(writes).toHaveLength(1);
    expect(String(writes[0])).toBe(shared.toString().repeat(5));
    // A lone frame goes as it is: the very same Buffer, encoded once, never copied by the sink.
    sink.write(shared);
    await tick();
    expect(writes).toHaveLength(2);
    expect(writes[1]).toBe(shared);
    expect(corkedWrites).toBe(0);
    expect(socket.writableCorked).toBe(0);
    sink.end();
    const answer = await response;
    expect([answer.headers.get('transfer-encoding'), answer.headers.get('connection')]).toEqual([null, 'close']);
    const text = await answer.text();
    expect(text).toBe(`retry: 100\n\n${shared.toString().repeat(6)}`);
    expect(sink.closed).toBe(true);
  });

  it('holds the round after a long one for half its length, then sends everything that arrived meanwhile in one write, in order', async () => {
    const { url, opened, all } = await serve();
    const response = fetch(url);
    const { sink, res } = await opened;
    const { writes, slow } = watchWrites(res);
    writes.splice(0, await retryWritten(sink, writes));
    await crowd(url, all, 100);
    // A round to 101 subscribers that takes 200 ms (as 10k subscribers' socket writes do).
    slow(200);
    for (const other of all) other.sink.write(frame(0));
    await writesReach(writes, 1);
    const roundEnd = (writes[0] as SocketWrite).at + 200;
    // Events arriving over the next loop turns wait for the hold: no round per event.
    for (let n = 1; n <= 3; n++) {
      sink.write(frame(n));
      await tick();
    }
    expect(writes).toHaveLength(1);
    expect(sink.bufferedBytes()).toBe(3 * frame(1).length);
    await writesReach(writes, 2);
    // One round ~100 ms after the long one ended: one socket write carrying all three.
    expect((writes[1] as SocketWrite).at - roundEnd).toBeGreaterThanOrEqual(90);
    expect((writes[1] as SocketWrite).text).toBe([1, 2, 3].map((n) => frame(n).toString()).join(''));
    // A round of a few subscribers holds nothing, however long: the next write leaves on the next turn.
    slow(200);
    sink.write(frame(4));
    await writesReach(writes, 3);
    sink.write(frame(5));
    await tick();
    expect(writes).toHaveLength(4);
    sink.end();
    const text = await (await response).text();
    expect(text).toBe(`retry: 100\n\n${[0, 1, 2, 3, 4, 5].map((n) => frame(n).toString()).join('')}`);
  });

  it('writes a long round in slices: an event arriving meanwhile reaches the subscribers the round has not reached yet in this round', async () => {
    const { url, opened, all } = await serve();
    const response = fetch(url);
    const { sink, res } = await opened;
    const { writes, slow } = watchWrites(res);
    writes.splice(0, await retryWritten(sink, writes));
    await crowd(url, all, 100);
    const last = watchWrites((all[all.length - 1] as Opened).res).writes;
    // The round's first write takes 200 ms: the round yields to the loop after its first slice.
    slow(200);
    for (const other of all) other.sink.write(frame(0));
    await writesReach(writes, 1);
    const roundStart = (writes[0] as SocketWrite).at;
    expect(last).toHaveLength(0);
    // An event delivered before the round reaches the last subscriber leaves with frame 0, in
    // the same socket write; the first subscriber (already written) gets it in the next round,
    // after the hold (half the round's 200 ms of writing).
    for (const other of all) other.sink.write(frame(1));
    await writesReach(last, 1);
    expect(last.map((w) => w.text)).toEqual([`${frame(0).toString()}${frame(1).toString()}`]);
    await writesReach(writes, 2);
    expect((writes[1] as SocketWrite).at - roundStart).toBeGreaterThanOrEqual(290);
    expect((last[0] as SocketWrite).at).toBeLessThan((writes[1] as SocketWrite).at);
    sink.end();
    const text = await (await response).text();
    expect(text).toBe(`retry: 100\n\n${frame(0).toString()}${frame(1).toString()}`);
  });

  it('joins the frames held by subscribers at the same position once: their sockets get the same Buffer', async () => {
    const { url, opened, all } = await serve();
    const response = fetch(url);
    const { sink, res } = await opened;
    const { writes } = watchWrites(res);
    writes.splice(0, await retryWritten(sink, writes));
    await crowd(url, all, 2);
    const seen = all.map(({ res: r }) => {
      const socket = r.socket!;
      const got: unknown[] = [];
      const write = socket.write.bind(socket);
      socket.write = ((chunk: unknown, ...rest: never[]) => {
        got.push(chunk);
        return write(chunk as Buffer, ...rest);
      }) as typeof socket.write;
      return got;
    });
    const frames = [frame(0), frame(1), frame(2)];
    for (const f of frames) for (const { sink: s } of all) s.write(f);
    while (seen.some((got) => got.length < 1)) await tick();
    expect(seen.map((got) => got.length)).toEqual([1, 1, 1]);
    expect(seen[1]?.[0]).toBe(seen[0]?.[0]);
    expect(seen[2]?.[0]).toBe(seen[0]?.[0]);
    expect(String(seen[0]?.[0])).toBe(frames.join(''));
    // The same first frame, then different ones: each subscriber gets its own frames.
    const [a, b] = [all[0] as Opened, all[1] as Opened];
    for (const f of [frame(3), frame(4)]) a.sink.write(f);
    for (const f of [frame(3), frame(5)]) b.sink.write(f);
    while (seen[0]!.length < 2 || seen[1]!.length < 2) await tick();
    expect([String(seen[0]?.[1]), String(seen[1]?.[1])]).toEqual([
      `${frame(3).toString()}${frame(4).toString()}`,
      `${frame(3).toString()}${frame(5).toString()}`,
    ]);
    sink.end();
    const text = await (await response).text();
    expect(text).toBe(`retry: 100\n\n${[0, 1, 2, 3, 4].map((n) => frame(n).toString()).join('')}`);
  });

  it('during a hold, sends a large backlog (a catch-up batch) on the next loop turn when the socket is empty, and drains', async () => {
    const { url, opened, all } = await serve();
    const response = fetch(url);
    const { sink, res } = await opened;
    const { writes, slow } = watchWrites(res);
    writes.splice(0, await retryWritten(sink, writes));
    await crowd(url, all, 100);
    // A 400 ms round (held 200 ms after): a wide margin for the early flush on a loaded machine.
    slow(400);
    for (const other of all) other.sink.write(frame(0));
    await writesReach(writes, 1);
    const holdEnd = (writes[0] as SocketWrite).at + 600;
    let drains = 0;
    sink.onDrain(() => drains++);
    // Past the socket's high-water mark (16 KiB on Node 20, 64 KiB from Node 22) but below the
    // urgent backlog: backpressure, yet held for the round.
    const mark = (res.socket as net.Socket).writableHighWaterMark;
    const small = Buffer.alloc(mark + 4 * 1024, 0x62);
    expect(sink.write(small)).toBe(false);
    await tick();
    await tick();
    expect(writes).toHaveLength(1);
    // A catch-up read's batch: not held for the round.
    const big = Buffer.alloc(urgentBacklogBytes(mark), 0x61);
    expect(sink.write(big)).toBe(false);
    await writesReach(writes, 2);
    expect((writes[1] as SocketWrite).at).toBeLessThan(holdEnd - 50);
    const deadline = Date.now() + 10_000;
    while (drains === 0 && Date.now() < deadline) await tick();
    expect(drains).toBe(1);
    sink.end();
    const text = await (await response).text();
    expect(text).toBe(`retry: 100\n\n${frame(0).toString()}${small.toString()}${big.toString()}`);
  });

  it('during a hold, sends a feed’s large backlog (a client replaying on its own tail) on the next loop turn when the socket is empty', async () => {
    const { url, opened, all } = await serve();
    const response = fetch(url);
    const { sink, res } = await opened;
    const { writes, slow } = watchWrites(res);
    writes.splice(0, await retryWritten(sink, writes));
    await crowd(url, all, 100);
    slow(400);
    for (const other of all) other.sink.write(frame(0));
    await writesReach(writes, 1);
    const holdEnd = (writes[0] as SocketWrite).at + 600;
    const feed = new SseFeed(0);
    sink.follow?.(feed, 1024 * 1024, () => sink.unfollow?.());
    // Below the urgent backlog: held for the round.
    const mark = (res.socket as net.Socket).writableHighWaterMark;
    const small = Buffer.alloc(mark + 4 * 1024, 0x62);
    feed.append(small, 1);
    await tick();
    await tick();
    expect(writes).toHaveLength(1);
    const big = Buffer.alloc(urgentBacklogBytes(mark), 0x61);
    feed.append(big, 2);
    await writesReach(writes, 2);
    expect((writes[1] as SocketWrite).at).toBeLessThan(holdEnd - 50);
    sink.unfollow?.();
    sink.end();
    const text = await (await response).text();
    expect(text).toBe(`retry: 100\n\n${frame(0).toString()}${small.toString()}${big.toString()}`);
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
