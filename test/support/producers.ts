// Shared by the crash and shutdown tests: concurrent producer loops that run until stopped or
// until the server goes away, and reading a partition back whole after a restart.
import type { Client } from './client.js';
import { expectStatus } from './client.js';

/** What one produce attempt came to: `gone` ends that producer (the server died or closed). */
export type Attempt = 'acked' | 'refused' | 'gone';

export interface Producers {
  /** Acknowledged requests so far. */
  readonly acked: number;
  /** Resolve once `count` requests were acknowledged, or at the deadline (check `acked`). */
  untilAcked(count: number, timeoutMs: number): Promise<void>;
  /** Tell every producer to stop and wait for them (an error thrown by `attempt` surfaces here). */
  stop(): Promise<void>;
}

/** `workers` loops, each calling `attempt(worker, n)` for n = 0, 1, … until stopped or `gone`. */
export function startProducers(workers: number, attempt: (worker: number, n: number) => Promise<Attempt>): Producers {
  let stopped = false;
  let acked = 0;
  const loop = async (w: number) => {
    for (let n = 0; !stopped; n++) {
      const outcome = await attempt(w, n);
      if (outcome === 'gone') return;
      if (outcome === 'acked') acked++;
    }
  };
  const running = Array.from({ length: workers }, (_, w) => loop(w));
  return {
    get acked() {
      return acked;
    },
    untilAcked: async (count, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      while (acked < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    },
    stop: async () => {
      stopped = true;
      await Promise.all(running);
    },
  };
}

/** Every record of a partition, read page by page from offset 0. */
export async function readPartition(
  client: Client,
  topic: string,
  partition: number,
): Promise<Array<{ offset: number; value?: unknown }>> {
  const out: Array<{ offset: number; value?: unknown }> = [];
  let offset = 0;
  for (;;) {
    const page = expectStatus(
      await client.get('/v1/topics/{topic}/partitions/{partition}/records', {
        params: { topic, partition },
        query: { offset, max_records: 1000 },
      }),
      200,
    );
    out.push(...page.records);
    if (page.records.length === 0 || page.next_offset >= page.end_offset) return out;
    offset = page.next_offset;
  }
}
