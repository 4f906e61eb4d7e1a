// A queue receiver over Server-Sent Events: the open connection receives records with their
// leases (`event: records`); the client acknowledges by POST /ack. At most `maxInFlight`
// leases are outstanding per stream, so a slow worker never hoards the queue.
import { errorFrame, KEEPALIVE_FRAME, retryFrame, shutdownFrame } from '../delivery/sse-frame.js';
import type { SseSink } from '../delivery/sse-sink.js';
import type { StreamRegistry } from '../delivery/stream-registry.js';
import type { Result } from '../lib/result.js';
import type { QueueDeletedCause, QueueError, ReceivedRecord, ReceiveRequest } from './queues-service.js';

/** What the stream needs from the queues service. */
export interface SseQueuePort {
  receive(topic: string, queue: string, req: ReceiveRequest): Promise<Result<ReceivedRecord[], QueueError>>;
  /** Be told of leases acknowledged on this node (any action, any result): they no longer count. */
  onSettled(listener: (leases: readonly string[]) => void): () => void;
  /** Be told of queues deleted on this node, by themselves or with their topic: their streams end. */
  onDeleted(listener: (queueId: string, cause: QueueDeletedCause) => void): () => void;
}

export interface SseReceiverOptions {
  queues: SseQueuePort;
  registry: StreamRegistry;
  topic: string;
  queue: string;
  /** Sent as every event's `id:`, so an EventSource's reconnect carries `Last-Event-ID`. */
  queueId: string;
  maxInFlight: number;
  lockMs?: number;
  retryMs: number;
  keepaliveMs: number;
  logger?: { warn(obj: object, msg: string): void };
  clock?: () => number;
}

export class SseQueueReceiver {
  private readonly stop = new AbortController();
  private shuttingDown = false;
  /** Leases handed to this client and not yet settled → when they run out. */
  private readonly outstanding = new Map<string, number>();
  private wake: (() => void) | undefined;

  constructor(private readonly o: SseReceiverOptions) {}

  private now(): number {
    return (this.o.clock ?? Date.now)();
  }

  /** Stream until the client disconnects or the server shuts down. */
  async run(sink: SseSink): Promise<void> {
    const { registry, topic, queue } = this.o;
    let unregister: () => void = () => undefined;
    try {
      unregister = registry.register({
        description: `sse queue ${topic}/${queue}`,
        close: () => {
          this.shuttingDown = true;
          this.stop.abort();
          this.wake?.();
        },
      });
    } catch {
      this.shuttingDown = true;
    }
    sink.onClose(() => {
      this.stop.abort();
      this.wake?.();
    });
    sink.onDrain(() => this.wake?.());
    let deleted: QueueDeletedCause | undefined;
    const offDeleted = this.o.queues.onDeleted((id, cause) => {
      if (id !== this.o.queueId) return;
      deleted = cause;
      this.wake?.();
    });
    const offSettled = this.o.queues.onSettled((leases) => {
      let freed = false;
      for (const l of leases) freed = this.outstanding.delete(l) || freed;
      if (freed) this.wake?.();
    });
    try {
      const idLine = `id: ${this.o.queueId}\n`;
      const error = (body: Parameters<typeof errorFrame>[0]) => Buffer.concat([Buffer.from(idLine), errorFrame(body)]);
      sink.write(Buffer.concat([Buffer.from(idLine), retryFrame(this.o.retryMs)]));
      while (!this.stop.signal.aborted && !this.shuttingDown) {
        if (deleted) {
          // Not re-created by this stream's next receive (which would start again at the log's start).
          sink.write(
            error(
              deleted === 'topic'
                ? { code: 'topic_not_found', message: `topic ${JSON.stringify(topic)} was deleted` }
                : { code: 'queue_not_found', message: `queue ${JSON.stringify(queue)} was deleted` },
            ),
          );
          break;
        }
        const now = this.now();
        for (const [lease, until] of this.outstanding) if (until <= now) this.outstanding.delete(lease);
        const credit = this.o.maxInFlight - this.outstanding.size;
        if (credit <= 0) {
          const next = Math.min(...this.outstanding.values());
          if (!(await this.pause(Math.min(this.o.keepaliveMs, next - now + 5)))) sink.write(KEEPALIVE_FRAME);
          continue;
        }
        const r = await this.o.queues.receive(topic, queue, {
          maxRecords: credit,
          waitMs: this.o.keepaliveMs,
          ...(this.o.lockMs !== undefined ? { lockMs: this.o.lockMs } : {}),
          signal: this.stop.signal,
          // The route created the queue before the stream opened: once deleted, the stream ends,
          // and one created again under its name (say by another node) is not this stream's.
          create: false,
          queueId: this.o.queueId,
        });
        if (!r.ok) {
          sink.write(error({ ...r.error }));
          break;
        }
        if (r.value.length === 0) {
          if (!this.stop.signal.aborted) sink.write(KEEPALIVE_FRAME);
          continue;
        }
        for (const rec of r.value) this.outstanding.set(rec.lease, rec.expiresAt);
        const text = `${idLine}event: records\ndata: {"records":[${r.value.map((x) => x.json).join(',')}]}\n\n`;
        if (!sink.write(Buffer.from(text))) await this.pause(Infinity, () => sink.closed || sink.bufferedBytes() === 0);
      }
      if (this.shuttingDown && !sink.closed) sink.write(shutdownFrame(this.o.retryMs));
    } catch (error) {
      this.o.logger?.warn({ err: error, topic, queue }, 'sse queue receiver failed');
      if (!sink.closed) sink.write(errorFrame({ code: 'unavailable', message: 'queue receive failed; reconnect' }));
    } finally {
      offSettled();
      offDeleted();
      sink.end();
      unregister();
    }
  }

  /** Wait for a wake-up (ack, drain, close) or `ms`; true if woken. */
  private pause(ms: number, done?: () => boolean): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.stop.signal.aborted || done?.()) return resolve(true);
      const timer = Number.isFinite(ms) ? setTimeout(() => finish(false), Math.max(0, ms)) : undefined;
      const finish = (woken: boolean) => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(woken);
      };
      this.wake = () => finish(true);
    });
  }
}
