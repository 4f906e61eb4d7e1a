// Unit tests of the queue SSE receiver's loop with a fake queues port and a fake sink: how it
// waits after a refused write, so a slow reader never stalls the stream.
import { describe, expect, it } from 'vitest';
import type { SseSink } from '../delivery/sse-sink.js';
import { createStreamRegistry } from '../delivery/stream-registry.js';
import { ok } from '../lib/result.js';
import { SseQueueReceiver, type SseQueuePort } from './sse-receiver.js';

/** A sink whose socket holds `buffered` bytes; the test decides when it drains and by how much. */
function fakeSink() {
  const writes: string[] = [];
  const drain: Array<() => void> = [];
  const close: Array<() => void> = [];
  let closed = false;
  const sink = {
    buffered: 0,
    accept: true,
    write(chunk: Buffer): boolean {
      writes.push(chunk.toString());
      this.buffered += chunk.length;
      return this.accept;
    },
    bufferedBytes() {
      return this.buffered;
    },
    onDrain: (l: () => void) => void drain.push(l),
    onClose: (l: () => void) => void (closed ? l() : close.push(l)),
    get closed() {
      return closed;
    },
    end() {
      closed = true;
      for (const l of close.splice(0)) l();
    },
  };
  const drained = () => {
    for (const l of drain) l();
  };
  return { sink: sink satisfies SseSink, writes, drained };
}

function fakeQueues(): SseQueuePort {
  let n = 0;
  return {
    receive: async (_t, _q, req) => {
      const value = Array.from({ length: Math.min(req.maxRecords, 2) }, () => {
        const lease = `l${n++}`;
        return { json: `{"lease":"${lease}"}`, lease, expiresAt: Date.now() + 60_000 };
      });
      return ok(value);
    },
    onSettled: () => () => undefined,
    onDeleted: () => () => undefined,
  };
}

const until = async (cond: () => boolean, what: string) => {
  const deadline = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('SseQueueReceiver after a refused write', () => {
  it('resumes on a drain that leaves bytes in the socket (below its mark, without a socket drain)', async () => {
    const { sink, writes, drained } = fakeSink();
    const registry = createStreamRegistry();
    const receiver = new SseQueueReceiver({
      queues: fakeQueues(),
      registry,
      topic: 't',
      queue: 'q',
      queueId: 'id1',
      maxInFlight: 1000,
      retryMs: 1000,
      keepaliveMs: 60_000,
    });
    sink.accept = false;
    const done = receiver.run(sink);
    await until(() => writes.some((w) => w.includes('event: records')), 'the first batch');
    const batches = () => writes.filter((w) => w.includes('event: records')).length;
    await new Promise((r) => setTimeout(r, 50));
    expect(batches()).toBe(1); // refused: it waits
    // The sink's flush round handed the bytes to the socket, which took them without needing a
    // drain (below its high-water mark) but has not sent them all: bytes remain buffered.
    sink.buffered = 10;
    sink.accept = true;
    drained();
    await until(() => batches() >= 3, 'more batches after the drain');
    sink.end();
    await done;
  });
});
