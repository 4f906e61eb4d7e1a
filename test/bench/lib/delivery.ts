// Produce→delivery timing shared by the latency scenario and its peers: produce at a rate with
// the send time in every record, attach one consumer, histogram arrival − send time.
import { newHistogram, nowMs, recordMs, summarize, type Histogram, type LatencySummary } from './histogram.js';
import { pacedTasks } from './load.js';
import { sleep } from './processes.js';
import { values } from './records.js';
import type { OnDelivered } from './subscribers.js';

/** Producers send a request every 10 ms; the rate sets how many records each carries. */
export const REQUESTS_PER_SEC = 100;

export interface LatencyRun {
  rate: number;
  produced: number;
  delivered: number;
  produceErrors: number;
  latency: LatencySummary;
  /** Send → the producer's acknowledgement, for requests sent after warm-up. */
  ack: LatencySummary;
}

export interface Consumer {
  events(): number;
  stop(): Promise<void>;
}

/**
 * Produce at `rate` rec/s for warmup+duration with one consumer attached; time every record sent
 * after warm-up. The run's latency is its own; with `into`, latencies also go to that histogram
 * (rounds of one system merged).
 */
export async function measureDelivery(
  rate: number,
  durationMs: number,
  produce: (vals: string[]) => Promise<boolean>,
  startConsumer: (onDelivered: OnDelivered) => Promise<Consumer>,
  into?: Histogram,
  intoAck?: Histogram,
): Promise<LatencyRun> {
  const warmupMs = 500;
  const h = newHistogram();
  const ackH = newHistogram();
  let recordFrom = Infinity;
  const consumer = await startConsumer((sent, at) => {
    for (const ts of sent) {
      if (ts < recordFrom) continue;
      recordMs(h, at - ts);
      if (into) recordMs(into, at - ts);
    }
  });
  const perRequest = Math.max(1, Math.round(rate / REQUESTS_PER_SEC));
  let seq = 0;
  const t0 = nowMs();
  recordFrom = t0 + warmupMs;
  const load = await pacedTasks(REQUESTS_PER_SEC, warmupMs + durationMs, async () => {
    const vals = values(perRequest, seq);
    seq += perRequest;
    const sent = nowMs();
    const ok = await produce(vals);
    if (ok && sent >= recordFrom) {
      recordMs(ackH, nowMs() - sent);
      if (intoAck) recordMs(intoAck, nowMs() - sent);
    }
    return ok;
  });
  const produced = seq;
  const deadline = performance.now() + 2000;
  while (consumer.events() < produced && performance.now() < deadline) await sleep(20);
  const delivered = consumer.events();
  await consumer.stop();
  return { rate, produced, delivered, produceErrors: load.failed, latency: summarize(h), ack: summarize(ackH) };
}
