// The node's shared tail over Kafka: one long-poll Fetch loop per leader broker covering every
// partition someone waits on, moving each partition's end as its high watermark moves and handing
// it the new batches that came with the answer.
import type { KafkaDriver } from './kafka-driver.js';
import type { KafkaPartitionLog } from './kafka-partition-log.js';

export interface KafkaTailOptions {
  driver: () => KafkaDriver;
  route(kafkaTopic: string, partition: number, force: boolean): Promise<{ leader: number; topicId: string }>;
  /** How long one Fetch waits at the broker for new data (default 500 ms). */
  waitMs: number;
}

/** Per partition per tail fetch: new batches come with the offsets, so readers need not fetch them. */
const TAIL_PARTITION_BYTES = 64 << 10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class KafkaTail {
  private readonly watched = new Set<KafkaPartitionLog>();
  /** Leader broker per watched partition, as last routed. */
  private readonly leaders = new Map<KafkaPartitionLog, number>();
  private readonly loops = new Set<number>();
  private closed = false;

  constructor(private readonly o: KafkaTailOptions) {}

  watch(log: KafkaPartitionLog): void {
    if (this.closed || this.watched.has(log)) return;
    this.watched.add(log);
    void this.place(log, false);
  }

  unwatch(log: KafkaPartitionLog): void {
    this.watched.delete(log);
    this.leaders.delete(log);
  }

  close(): void {
    this.closed = true;
    this.watched.clear();
    this.leaders.clear();
  }

  /** Finds the partition's leader and makes sure that broker's loop runs. */
  private async place(log: KafkaPartitionLog, force: boolean): Promise<void> {
    for (let attempt = 0; !this.closed && this.watched.has(log); attempt++) {
      try {
        const { leader } = await this.o.route(log.kafkaTopic, log.partition, force || attempt > 0);
        if (leader >= 0) {
          this.leaders.set(log, leader);
          this.startLoop(leader);
          return;
        }
      } catch {
        // No metadata yet (leader election under way): try again below.
      }
      await sleep(Math.min(2000, 100 * 2 ** attempt));
    }
  }

  private startLoop(leader: number): void {
    if (this.loops.has(leader)) return;
    this.loops.add(leader);
    void this.loop(leader).finally(() => this.loops.delete(leader));
  }

  private async loop(leader: number): Promise<void> {
    while (!this.closed) {
      const logs = [...this.leaders].filter(([, l]) => l === leader).map(([log]) => log);
      if (logs.length === 0) return;
      const requests: Array<{ log: KafkaPartitionLog; topicId: string }> = [];
      for (const log of logs) {
        try {
          requests.push({ log, topicId: (await this.o.route(log.kafkaTopic, log.partition, false)).topicId });
        } catch {
          this.leaders.delete(log);
          void this.place(log, true);
        }
      }
      try {
        const answers = await this.o.driver().tailFetch(
          leader,
          requests.map((r) => ({ topicId: r.topicId, partition: r.log.partition, offset: r.log.endOffset() })),
          this.o.waitMs,
          TAIL_PARTITION_BYTES,
        );
        for (const a of answers) {
          const req = requests.find((r) => r.topicId === a.topicId && r.log.partition === a.partition);
          if (!req) continue;
          if (a.errorCode === 0 || a.errorCode === 1 /* OFFSET_OUT_OF_RANGE: moved below start */) {
            if (a.highWatermark >= 0)
              req.log.observe(a.highWatermark, a.logStartOffset, a.errorCode === 0 ? a.batches : []);
          } else if (this.leaders.get(req.log) === leader) {
            // Leadership moved (or the topic went): route the partition again.
            this.leaders.delete(req.log);
            void this.place(req.log, true);
          }
        }
      } catch {
        // The broker is unreachable: re-route everything it led, then carry on.
        for (const r of requests) {
          if (this.leaders.get(r.log) === leader) {
            this.leaders.delete(r.log);
            void this.place(r.log, true);
          }
        }
        await sleep(250);
      }
    }
  }
}
