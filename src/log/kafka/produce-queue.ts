// Appends to one Kafka partition: one produce request in flight at a time, and the appends that
// arrive meanwhile sent together as the next request's batch (what Kafka's own producer does).
//
// Why: the idempotent client allows one request in flight per broker connection, so appends sent
// one request each queue behind every slow acknowledgement (at 100 appends/s with a ~10 ms
// acks=all round trip the queue hardly ever drains: the tail latency is that queue). Coalesced,
// everything that waited goes in the one request after it, and the queue is gone in one round trip.

/** One append: its records, and whether it must be a batch of its own. */
export interface QueuedAppend<R> {
  records: R[];
  /** Estimated bytes, to bound a merged batch. */
  bytes: number;
  /**
   * Sent as its own batch, never merged: a tagged batch (idempotent produce) carries its tag on
   * its first record, where the catch-up of other nodes reads it.
   */
  alone: boolean;
}

export interface ProduceQueueOptions<R> {
  /** Sends one batch; resolves to its base offset once acknowledged. */
  send(records: R[]): Promise<number>;
  /** Merged batches stay under this many estimated bytes (a larger append goes alone). */
  maxBatchBytes: number;
  /**
   * Whether a failed merged batch was refused for its size (the topic's max.message.bytes): its
   * appends are then sent one batch each, as they would have been alone.
   */
  tooLarge(e: unknown): boolean;
}

interface Pending<R> extends QueuedAppend<R> {
  resolve(baseOffset: number): void;
  reject(e: unknown): void;
}

export class ProduceQueue<R> {
  private readonly waiting: Array<Pending<R>> = [];
  private sending = false;

  constructor(private readonly o: ProduceQueueOptions<R>) {}

  /**
   * Resolves to the append's base offset once acknowledged. Appends are sent in the order they
   * are queued; one arriving while nothing is in flight is sent at once.
   */
  produce(append: QueuedAppend<R>): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.waiting.push({ ...append, resolve, reject });
      if (!this.sending) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.sending = true;
    try {
      while (this.waiting.length > 0) await this.sendGroup(this.take());
    } finally {
      this.sending = false;
    }
  }

  /** The next batch: the first waiting append and those after it that fit with it. */
  private take(): Array<Pending<R>> {
    const first = this.waiting.shift()!;
    const group = [first];
    if (first.alone) return group;
    let bytes = first.bytes;
    for (;;) {
      const next = this.waiting[0];
      if (!next || next.alone || bytes + next.bytes > this.o.maxBatchBytes) return group;
      bytes += next.bytes;
      group.push(this.waiting.shift()!);
    }
  }

  private async sendGroup(group: Array<Pending<R>>): Promise<void> {
    if (group.length === 1) return this.sendOne(group[0]!);
    let base: number;
    try {
      base = await this.o.send(group.flatMap((a) => a.records));
    } catch (e) {
      if (!this.o.tooLarge(e)) {
        for (const a of group) a.reject(e);
        return;
      }
      for (const a of group) await this.sendOne(a);
      return;
    }
    // One batch: Kafka gives its records consecutive offsets, in the order sent.
    for (const a of group) {
      a.resolve(base);
      base += a.records.length;
    }
  }

  private async sendOne(a: Pending<R>): Promise<void> {
    try {
      a.resolve(await this.o.send(a.records));
    } catch (e) {
      a.reject(e);
    }
  }
}
