// A process of SSE subscribers for the fan-out scenario: the subscribers are spread over several
// of these (each its own event loop), so the load generator is not what bounds the latency
// measured. Driven over IPC by scenarios/sse-fanout.ts; reports its deliveries as a histogram.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { newHistogram, recordMs } from '../lib/histogram.js';
import { subscribeSse, type Subscription } from '../lib/subscribers.js';

export type SubscriberCommand =
  | { cmd: 'connect'; url: string; count: number; wave: number; deadlineMs: number }
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

async function connect(url: string, count: number, wave: number, deadlineMs: number): Promise<void> {
  let connected = 0;
  let timedOut = false;
  for (let i = 0; i < count && !timedOut; i += wave) {
    const batch = Array.from({ length: Math.min(wave, count - i) }, () =>
      subscribeSse(url, (sent, at) => {
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
      void connect(m.url, m.count, m.wave, m.deadlineMs);
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
