// Runs one active webhook: a PartitionWorker per partition of its topic (started from the
// committed offsets, more as the topic grows), all stopped together by one abort signal.
import type { LogStore } from '../log/index.js';
import type { MetadataDb } from '../metadata/connection.js';
import type { ValueFormat } from '../topics/record-codec.js';
import { sleep } from './backoff.js';
import type { DeadLetterProducer } from './dead-letter.js';
import type { WebhookSender } from './http-sender.js';
import { PartitionWorker, type PartitionStatus, type WebhookSettings, type WorkerLogger } from './partition-worker.js';
import type { Semaphore } from './semaphore.js';
import type { PartitionProgress, WebhookRepository } from './webhook-repository.js';

/** A live topic as webhooks see it. */
export interface WebhookTopic {
  id: string;
  name: string;
  partitions: number;
  config: { value_format: ValueFormat };
}

export interface WebhookTopics {
  lookup(name: string): WebhookTopic | undefined;
}

export interface RunnerDeps {
  repo: Pick<WebhookRepository, 'loadProgress' | 'saveProgress' | 'recordAttempt' | 'recordFailure'>;
  topics: WebhookTopics;
  log: Pick<LogStore, 'getPartition'>;
  sender: WebhookSender;
  limiter: Semaphore;
  producer: DeadLetterProducer;
  logger: WorkerLogger & { error(obj: object, msg: string): void };
  now: () => number;
  random?: () => number;
  /** The endpoint answered 410 Gone. */
  onGone(webhookId: string, reason: string): void;
  /** Records retention deleted before delivery (counted once their skip is committed). */
  countExpired?(count: number): void;
}

/** The lease a runner works under (webhooks run on one node at a time). */
export interface RunnerLease {
  /** Inside the progress transaction: whether this node still holds the lease (share-locks it). */
  fence(tx: MetadataDb): Promise<boolean>;
  /** A commit was fenced: the runner has stopped itself; the owner forgets it. */
  onLost(): void;
}

export class WebhookRunner {
  private readonly controller = new AbortController();
  private readonly workers = new Map<number, { worker: PartitionWorker; done: Promise<void> }>();
  /** Committed progress, loaded once; partitions without an entry start at the log start. */
  private progress: Promise<Map<number, PartitionProgress> | undefined> | undefined;

  constructor(
    private readonly deps: RunnerDeps,
    readonly settings: WebhookSettings,
    /** The topic incarnation it delivers; a topic re-created under the name is not it. */
    private readonly topic: { name: string; id: string },
    private readonly lease?: RunnerLease,
  ) {}

  get topicName(): string {
    return this.topic.name;
  }

  get stopped(): boolean {
    return this.controller.signal.aborted;
  }

  /** Start workers for every partition not running yet (at start, and when the topic grows). */
  async sync(): Promise<void> {
    if (this.stopped) return;
    const topic = this.deps.topics.lookup(this.topic.name);
    // Deleted (the service ends the webhook), or already another topic of the same name.
    if (topic?.id !== this.topic.id) return;
    this.progress ??= this.loadProgress();
    const progress = await this.progress;
    if (!progress || this.stopped) return;
    for (let p = 0; p < topic.partitions; p++) {
      if (this.workers.has(p)) continue;
      const log = this.deps.log.getPartition(topic.id, p);
      if (!log) continue;
      const start = progress.get(p) ?? { offset: log.startOffset(), pendingEnd: undefined };
      const worker = new PartitionWorker(
        {
          settings: this.settings,
          topic: { name: topic.name, format: topic.config.value_format },
          partition: p,
          log,
          saveProgress: async (partition, pr, expired = 0) => {
            const { id } = this.settings;
            const fence = this.lease?.fence;
            if (!(await this.deps.repo.saveProgress(id, topic.name, partition, pr, this.deps.now(), expired, fence))) {
              // Another node owns the webhook now: stop here and let it deliver from what it loaded.
              this.controller.abort();
              this.lease?.onLost();
              throw new Error(`webhook ${id}: lease lost; progress not committed`);
            }
            if (expired > 0) this.deps.countExpired?.(expired);
          },
          recordAttempt: (a) => this.deps.repo.recordAttempt({ ...a, webhookId: this.settings.id }),
          sender: this.deps.sender,
          limiter: this.deps.limiter,
          producer: this.deps.producer,
          onGone: (reason) => this.deps.onGone(this.settings.id, reason),
          logger: this.deps.logger,
          signal: this.controller.signal,
          now: this.deps.now,
          ...(this.deps.random ? { random: this.deps.random } : {}),
        },
        start,
      );
      this.workers.set(p, { worker, done: this.supervise(worker, p) });
    }
  }

  /** Load committed offsets, retrying while Postgres is unreachable; undefined if stopped first. */
  private async loadProgress(): Promise<Map<number, PartitionProgress> | undefined> {
    for (let failures = 0; !this.stopped; failures++) {
      try {
        return await this.deps.repo.loadProgress(this.settings.id, this.topicName);
      } catch (e) {
        this.deps.logger.warn({ err: e, webhook_id: this.settings.id }, 'webhook offsets not loaded; retrying');
        await sleep(Math.min(30_000, 200 * 2 ** Math.min(failures, 8)), this.controller.signal);
      }
    }
    return undefined;
  }

  /**
   * Keep a worker running through failures (a failing disk, a batch that cannot be built):
   * each shows in the webhook's state (failing, `last_error`), never a silent loop, and the
   * worker runs again after a growing pause, from the same position.
   */
  private async supervise(worker: PartitionWorker, partition: number): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const started = this.deps.now();
      try {
        await worker.run();
        return;
      } catch (e) {
        if (this.stopped) return;
        if (this.deps.now() - started > 60_000) failures = 0; // it ran well for a while
        const message = e instanceof Error ? e.message : String(e);
        this.deps.logger.error({ err: e, webhook_id: this.settings.id, partition }, 'webhook worker failed; retrying');
        try {
          await this.deps.repo.recordFailure(this.settings.id, message.slice(0, 1_000), this.deps.now());
        } catch (dbError) {
          this.deps.logger.warn({ err: dbError, webhook_id: this.settings.id }, 'webhook failure not recorded');
        }
        await sleep(Math.min(30_000, 1_000 * 2 ** Math.min(failures++, 5)), this.controller.signal);
      }
    }
  }

  /** Per-partition positions and in-flight batches, for status. */
  status(): PartitionStatus[] {
    return [...this.workers.values()].map((w) => w.worker.status()).sort((a, b) => a.partition - b.partition);
  }

  /** Abort in-flight requests and waits; resolves when every worker has returned (nothing more is committed). */
  async stop(): Promise<void> {
    this.controller.abort();
    await Promise.all([...this.workers.values()].map((w) => w.done));
  }
}
