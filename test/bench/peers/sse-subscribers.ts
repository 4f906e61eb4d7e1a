// A process of SSE subscribers for the fan-out scenario: the subscribers are spread over several
// of these (each its own event loop), so the load generator is not what bounds the latency
// measured. Driven over IPC by scenarios/sse-fanout.ts; reports its deliveries as a histogram.
import net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { newHistogram, nowMs, recordMs } from '../lib/histogram.js';
import { DeliveryLines, subscribeSse, type OnDelivered, type Subscription } from '../lib/subscribers.js';

export type SubscriberCommand =
  | {
      cmd: 'connect';
      url: string;
      count: number;
      wave: number;
      deadlineMs: number;
      /** The stream's body is close-delimited (not chunked): read it from the socket, see subscribeRaw. */
      raw: boolean;
    }
  | { cmd: 'measure'; fromMs: number }
  | { cmd: 'report' }
  | { cmd: 'close' };

export type SubscriberReply =
  | { reply: 'connected'; connected: number; timedOut: boolean }
  | { reply: 'report'; deliveries: number; histogram: string; loopDelayP99Ms: number };

const send = (m: SubscriberReply) => process.send?.(m);
const subs: Subscription[] = [];
const h = newHistogram();
const loop = monitorEventLoopDelay({ resolution: 10 });
let recordFrom = Infinity;
let deliveries = 0;

/**
 * An SSE subscriber on a bare socket, for a server whose event-stream body is close-delimited
 * (Sluice's): after the response head the socket's bytes are the events, so it scans them as
 * they come without an HTTP client's per-chunk stream machinery — 10k of these in two processes
 * must cost the shared cores less than the server they measure. Same timing as subscribeSse.
 */
function subscribeRaw(url: string, onDelivered: OnDelivered): Subscription {
  const { hostname, port, pathname, search } = new URL(url);
  const lines = new DeliveryLines(onDelivered);
  let closed = false;
  const socket = net.connect(Number(port), hostname);
  socket.setNoDelay(true);
  const ready = new Promise<void>((resolve, reject) => {
    let head: string | null = '';
    socket.on('connect', () =>
      socket.write(
        `GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: text/event-stream\r\n\r\n`,
      ),
    );
    socket.on('data', (chunk: Buffer) => {
      const at = nowMs();
      let text = chunk.toString('latin1');
      if (head !== null) {
        head += text;
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = head.slice(0, head.indexOf('\r\n'));
        const headers = head.slice(0, end).toLowerCase();
        text = head.slice(end + 4);
        head = null;
        if (!/^HTTP\/1\.[01] 200 /.test(status) || headers.includes('transfer-encoding: chunked')) {
          reject(new Error(`SSE ${url} → ${status} (a raw subscriber needs a close-delimited 200)`));
          socket.destroy();
          return;
        }
        resolve();
      }
      lines.push(text, at);
    });
    socket.on('error', (e) => (closed ? resolve() : reject(e)));
  });
  ready.catch(() => undefined);
  return {
    ready,
    events: () => lines.events,
    close: () => {
      closed = true;
      socket.destroy();
    },
  };
}

async function connect(url: string, count: number, wave: number, deadlineMs: number, raw: boolean): Promise<void> {
  const subscribe = raw ? subscribeRaw : subscribeSse;
  let connected = 0;
  let timedOut = false;
  for (let i = 0; i < count && !timedOut; i += wave) {
    const batch = Array.from({ length: Math.min(wave, count - i) }, () =>
      subscribe(url, (sent, at) => {
        for (const ts of sent) {
          if (ts < recordFrom) continue;
          deliveries++;
          recordMs(h, at - ts);
        }
      }),
    );
    subs.push(...batch);
    let timer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      Promise.allSettled(batch.map((s) => s.ready)).then((r) => r.filter((x) => x.status === 'fulfilled').length),
      new Promise<null>((r) => (timer = setTimeout(() => r(null), Math.max(0, deadlineMs - Date.now())))),
    ]);
    clearTimeout(timer);
    if (settled === null) timedOut = true;
    else connected += settled;
  }
  send({ reply: 'connected', connected, timedOut });
}

process.on('message', (m: SubscriberCommand) => {
  switch (m.cmd) {
    case 'connect':
      void connect(m.url, m.count, m.wave, m.deadlineMs, m.raw);
      break;
    case 'measure':
      recordFrom = m.fromMs;
      loop.reset();
      loop.enable();
      break;
    case 'report':
      send({
        reply: 'report',
        deliveries,
        histogram: hdr.encodeIntoCompressedBase64(h),
        loopDelayP99Ms: loop.percentile(99) / 1e6,
      });
      break;
    case 'close':
      for (const s of subs) s.close();
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
