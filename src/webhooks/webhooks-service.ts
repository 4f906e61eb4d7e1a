// The webhooks service: create/update/delete/rotate subscriptions in Postgres and run each active
// webhook on the one node holding its lease, taking free leases periodically (failover) and
// stopping (in-flight aborted) when a lease is lost or the service closes.
import { randomUUID } from 'node:crypto';
import type { HeldLease, Leases } from '../cluster/leases.js';
import { err, ok, type Result } from '../lib/result.js';
import type { LogStore } from '../log/index.js';
import type { MetadataDb } from '../metadata/connection.js';
import type { WebhookDeliveryRow, WebhookRow } from '../metadata/schema/webhooks.js';
import type { DeadLetterProducer } from './dead-letter.js';
import { HttpSender, type WebhookSender } from './http-sender.js';
import type { PartitionStatus } from './partition-worker.js';
import { Semaphore } from './semaphore.js';
import { generateSecret } from './signing.js';
import type { UrlPolicy } from './url-policy.js';
import {
  checkDeadLetterTopic,
  mergeSettings,
  settingsOf,
  WEBHOOK_LIMITS,
  type CreateWebhookInput,
  type UpdateWebhookInput,
} from './webhook-input.js';
import { WebhookRepository } from './webhook-repository.js';
import { WebhookRunner, type RunnerDeps, type WebhookTopic } from './webhook-runner.js';

export type WebhookErrorCode = 'bad_request' | 'conflict' | 'topic_not_found' | 'webhook_not_found';
export interface WebhookError {
  code: WebhookErrorCode;
  message: string;
}

/**
 * `failing`: active, but the last attempt(s) failed and the batch is being retried (a batch moved to
 * the dead-letter topic is not: delivery goes on past it, and the state is `active` again).
 * `topic_deleted`: terminal, its topic was deleted (a new topic of the same name is another topic).
 */
export type WebhookStatusState = 'active' | 'failing' | 'paused' | 'disabled' | 'topic_deleted';

export interface WebhookPartitionView {
  partition: number;
  nextOffset: number;
  endOffset: number;
  lag: number;
  inFlight: PartitionStatus['inFlight'];
}

/** The node running a webhook (holding its lease). */
export interface WebhookOwner {
  node: string;
  /** Whether that is the node answering. */
  thisNode: boolean;
}

export interface WebhookView {
  row: WebhookRow;
  /** Null while no node runs it (not active, or its lease expired and not taken yet). */
  owner: WebhookOwner | null;
  state: WebhookStatusState;
  lag: number;
  partitions: WebhookPartitionView[];
}

/** What the service needs from the topics service. */
export interface WebhookTopicsPort {
  lookup(name: string): WebhookTopic | undefined;
  onChange(
    listener: (change: { type: 'created' | 'updated' | 'deleted'; topic: { name: string } }) => void,
  ): () => void;
  /** Awaited before the topic's data goes and before its name can be created again. */
  onTopicDeleted(listener: (topic: { id: string; name: string }) => Promise<void>): () => void;
}

export interface WebhooksServiceOptions {
  db: MetadataDb;
  topics: WebhookTopicsPort;
  log: Pick<LogStore, 'getPartition'>;
  producer: DeadLetterProducer;
  policy: UrlPolicy;
  maxConcurrency: number;
  deliveriesKept: number;
  logger: RunnerDeps['logger'] & { info(obj: object, msg: string): void };
  /** Webhook ownership across nodes (a single node holds every lease). */
  leases: Leases;
  sender?: WebhookSender;
  /** Counts records retention deleted before delivery (a Prometheus counter). */
  expiredCounter?: { inc(value: number): void };
  /** Told of every delivery attempt's outcome and duration (seconds), for metrics. */
  onAttempt?: (outcome: string, seconds: number) => void;
  now?: () => number;
  random?: () => number;
}

const notFound = (id: string): WebhookError => ({
  code: 'webhook_not_found',
  message: `webhook ${JSON.stringify(id)} does not exist`,
});
/** The lease a webhook's runner needs. */
export const webhookLease = (id: string): string => `webhook:${id}`;

/** A runner this node owns, under `lease`. */
interface Owned {
  runner: WebhookRunner;
  lease: HeldLease;
  /** Local time the lease was last renewed (taken). */
  renewedAt: number;
  /** The row version it runs with: another node's PATCH shows as a newer `updatedAt`. */
  updatedAt: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class WebhooksService {
  private readonly repo: WebhookRepository;
  private readonly sender: WebhookSender;
  private readonly runners = new Map<string, Owned>();
  private readonly leases: Leases;
  private claimTimer: NodeJS.Timeout | undefined;
  private claiming = false;
  private readonly deps: RunnerDeps;
  private readonly now: () => number;
  /** Admin changes and runner (re)starts happen one at a time: simple, and rare. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly unsubscribe: Array<() => void> = [];
  private closed = false;

  constructor(private readonly o: WebhooksServiceOptions) {
    this.repo = new WebhookRepository(o.db, o.deliveriesKept);
    this.sender = o.sender ?? new HttpSender(o.policy);
    this.now = o.now ?? Date.now;
    this.leases = o.leases;
    const onAttempt = o.onAttempt;
    this.deps = {
      repo: onAttempt
        ? {
            loadProgress: (...a) => this.repo.loadProgress(...a),
            saveProgress: (...a) => this.repo.saveProgress(...a),
            recordFailure: (...a) => this.repo.recordFailure(...a),
            recordAttempt: (attempt) => {
              onAttempt(attempt.outcome, attempt.durationMs / 1000);
              return this.repo.recordAttempt(attempt);
            },
          }
        : this.repo,
      topics: o.topics,
      log: o.log,
      sender: this.sender,
      limiter: new Semaphore(o.maxConcurrency),
      producer: o.producer,
      logger: o.logger,
      now: this.now,
      ...(o.random ? { random: o.random } : {}),
      onGone: (id, reason) => void this.serial(() => this.disable(id, reason)),
      ...(o.expiredCounter ? { countExpired: (n: number) => o.expiredCounter?.inc(n) } : {}),
    };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Start a runner for every active webhook and follow topic changes. A webhook whose topic
   * (by id) no longer exists — deleted while this process was down — ends as `topic_deleted`.
   */
  async start(): Promise<void> {
    this.unsubscribe.push(
      this.o.topics.onChange((change) => {
        if (change.type === 'deleted') return; // onTopicDeleted below
        void this.serial(async () => {
          // Collect first, then act: never iterate `runners` while acting on it (#12.1).
          const affected = [...this.runners.values()].filter((o) => o.runner.topicName === change.topic.name);
          for (const owned of affected) await owned.runner.sync();
        });
      }),
      this.o.topics.onTopicDeleted((topic) => this.serial(() => this.endWebhooksOf(topic))),
    );
    await this.serial(async () => {
      for (let row of await this.repo.list()) {
        if (row.state === 'topic_deleted') continue;
        const topic = this.o.topics.lookup(row.topic);
        // Rows from before topic ids were stored adopt the live topic of their name, once.
        if (row.topicId === null && topic) row = (await this.repo.update(row.id, { topicId: topic.id })) ?? row;
        if (!topic || topic.id !== row.topicId) {
          await this.endWithTopic(row, `topic ${JSON.stringify(row.topic)} was deleted while the server was down`);
          continue;
        }
      }
      await this.claim();
    });
    this.o.logger.info(
      { node: this.leases.nodeId, lease_ms: this.leases.ttlMs, webhooks: this.runners.size },
      'webhook leases: running the webhooks this node holds',
    );
    // Renew what this node runs and take over what nobody holds, every third of the lease time.
    const every = Math.max(50, Math.floor(this.leases.ttlMs / 3));
    this.claimTimer = setInterval(() => {
      if (this.claiming || this.closed) return;
      this.claiming = true;
      void this.serial(() => this.claim())
        .catch((e: unknown) => this.o.logger.warn({ err: e }, 'webhook leases not renewed; retrying'))
        .finally(() => (this.claiming = false));
    }, every);
    this.claimTimer.unref();
  }

  /**
   * One round of ownership (serialised with admin changes): renew the leases of the webhooks
   * running here and stop those whose lease was lost, deleted, paused or changed elsewhere;
   * then take the free or expired leases of active webhooks and start them.
   */
  private async claim(): Promise<void> {
    if (this.closed) return;
    // Collect first, then act (#12.1).
    const owned = [...this.runners.entries()];
    const renewedAt = this.now();
    let rows: Map<string, WebhookRow>;
    let renewed: Map<string, number>;
    try {
      rows = new Map((await this.repo.list()).map((r) => [r.id, r]));
      renewed = await this.leases.renew(owned.map(([id]) => webhookLease(id)));
    } catch (e) {
      // Postgres unreachable: once a lease may have expired, another node may run its webhook.
      for (const [id, o] of owned) {
        if (!this.leases.exclusive && this.now() - o.renewedAt >= this.leases.ttlMs) {
          this.o.logger.warn({ webhook_id: id }, 'webhook lease not renewed in time; stopped here');
          await this.stopRunner(id, { release: false });
        }
      }
      throw e;
    }
    for (const [id, o] of owned) {
      const row = rows.get(id);
      if (!row || row.state !== 'active' || !this.liveTopic(row)) {
        await this.stopRunner(id, { release: true });
        continue;
      }
      const epoch = renewed.get(webhookLease(id));
      if (epoch !== o.lease.epoch) {
        this.o.logger.warn({ webhook_id: id, node: this.leases.nodeId }, 'webhook lease lost; stopped here');
        await this.stopRunner(id, { release: false });
        continue;
      }
      o.renewedAt = renewedAt;
      if (row.updatedAt !== o.updatedAt) {
        // Changed through another node: run it with the new settings, under the same lease.
        await this.stopRunner(id, { release: false });
        await this.startRunner(row, o.lease, renewedAt);
      }
    }
    const free = [...rows.values()].filter((r) => r.state === 'active' && !this.runners.has(r.id) && this.liveTopic(r));
    if (free.length === 0) return;
    const held = this.leases.exclusive ? new Map<string, string>() : await this.leases.holders('webhook:');
    for (const row of free) {
      if (this.closed) return;
      const holder = held.get(webhookLease(row.id));
      if (holder !== undefined && holder !== this.leases.nodeId) continue;
      await this.claimAndStart(row);
    }
  }

  /** Take the webhook's lease if nobody else holds it and start it here; false if another node runs it. */
  private async claimAndStart(row: WebhookRow): Promise<boolean> {
    if (this.closed || row.state !== 'active' || !this.liveTopic(row)) return false;
    const at = this.now();
    const lease = await this.leases.acquire(webhookLease(row.id));
    if (!lease) return false;
    this.o.logger.info({ webhook_id: row.id, node: this.leases.nodeId, epoch: lease.epoch }, 'webhook lease taken');
    await this.startRunner(row, lease, at);
    return true;
  }

  /** The topic was deleted: its webhooks stop for good (never delivering a new topic of that name). */
  private async endWebhooksOf(topic: { id: string; name: string }): Promise<void> {
    const rows = (await this.repo.listByTopic(topic.name)).filter(
      (r) => r.state !== 'topic_deleted' && (r.topicId === topic.id || r.topicId === null),
    );
    for (const row of rows) await this.endWithTopic(row, `topic ${JSON.stringify(topic.name)} was deleted`);
  }

  private async endWithTopic(row: WebhookRow, reason: string): Promise<void> {
    await this.stopRunner(row.id, { release: false });
    await this.repo.endWithTopic(row.id, `${reason}; the webhook cannot deliver again: delete it`, this.now());
    await this.leases.forget(webhookLease(row.id));
    this.o.logger.warn({ webhook_id: row.id, topic: row.topic, topic_id: row.topicId }, 'webhook ended: topic deleted');
  }

  private async startRunner(row: WebhookRow, lease: HeldLease, renewedAt: number): Promise<void> {
    if (this.closed || row.topicId === null) return;
    const runner: WebhookRunner = new WebhookRunner(
      this.deps,
      settingsOf(row),
      { name: row.topic, id: row.topicId },
      {
        fence: (tx) => this.leases.holds(tx, lease),
        onLost: () => {
          this.o.logger.warn({ webhook_id: row.id, node: this.leases.nodeId }, 'webhook lease lost; stopped here');
          void this.serial(async () => {
            if (this.runners.get(row.id)?.runner === runner) await this.stopRunner(row.id, { release: false });
          });
        },
      },
    );
    this.runners.set(row.id, { runner, lease, renewedAt, updatedAt: row.updatedAt });
    await runner.sync();
  }

  /**
   * Stop the webhook here (in-flight requests aborted, nothing more committed). With `release`,
   * give its lease up so another node takes over at once rather than after it expires.
   */
  private async stopRunner(id: string, o: { release: boolean }): Promise<void> {
    const owned = this.runners.get(id);
    if (!owned) return;
    this.runners.delete(id);
    await owned.runner.stop();
    if (o.release) {
      await this.leases
        .release(webhookLease(id))
        .catch((e: unknown) => this.o.logger.warn({ err: e, webhook_id: id }, 'webhook lease not released'));
    }
  }

  /** Webhook leases this node holds (its running webhooks), for /metrics. */
  leasesHeld(): number {
    return this.runners.size;
  }

  /** This node's id as lease holder. */
  get nodeId(): string {
    return this.leases.nodeId;
  }

  private async disable(id: string, reason: string): Promise<void> {
    await this.stopRunner(id, { release: true });
    await this.repo.update(id, { state: 'disabled', stateReason: reason, updatedAt: this.now() });
    this.o.logger.warn({ webhook_id: id, reason }, 'webhook disabled');
  }

  async create(input: CreateWebhookInput): Promise<Result<{ view: WebhookView; secret: string }, WebhookError>> {
    const topic = this.o.topics.lookup(input.topic);
    if (!topic) return err({ code: 'topic_not_found', message: `topic ${JSON.stringify(input.topic)} does not exist` });
    const url = await this.checkUrl(input.url);
    if (!url.ok) return url;
    const settings = mergeSettings(undefined, input);
    if (!settings.ok) return err({ code: 'bad_request', message: settings.error });
    const dlt = checkDeadLetterTopic(topic, settings.value.deadLetterTopic, (n) => this.o.topics.lookup(n));
    if (!dlt.ok) return dlt;

    const now = this.now();
    const from = input.from ?? 'latest';
    const row: WebhookRow = {
      id: randomUUID(),
      topic: topic.name,
      topicId: topic.id,
      url: input.url,
      startFrom: from,
      ...settings.value,
      state: 'active',
      stateReason: null,
      secret: generateSecret(),
      previousSecret: null,
      previousSecretExpiresAt: null,
      lastSuccessAt: null,
      lastErrorAt: null,
      lastError: null,
      consecutiveFailures: 0,
      recordsExpired: 0,
      recordsDeadLettered: 0,
      createdAt: now,
      updatedAt: now,
    };
    // `latest` means "from now": the end offsets at creation are committed with the row, so a
    // restart before the first delivery does not skip what arrived meanwhile.
    const start: Array<{ partition: number; offset: number }> = [];
    if (from === 'latest') {
      for (let p = 0; p < topic.partitions; p++)
        start.push({ partition: p, offset: this.o.log.getPartition(topic.id, p)?.endOffset() ?? 0 });
    }
    return this.serial(async () => {
      // Deleted meanwhile? Its deleted-topic handler ran before us (or runs after us and ends this row).
      if (this.o.topics.lookup(topic.name)?.id !== topic.id)
        return err({ code: 'topic_not_found', message: `topic ${JSON.stringify(input.topic)} does not exist` });
      await this.repo.insert(row, start);
      await this.claimAndStart(row);
      return ok({ view: await this.view(row), secret: row.secret });
    });
  }

  async list(): Promise<WebhookView[]> {
    const rows = await this.repo.list();
    const holders = await this.holders('webhook:');
    return Promise.all(rows.map((r) => this.view(r, holders)));
  }

  /** Other nodes' unexpired webhook leases (none when this node is the only one). */
  private async holders(prefix: string): Promise<Map<string, string>> {
    return this.leases.exclusive ? new Map() : this.leases.holders(prefix);
  }

  async get(id: string): Promise<Result<WebhookView, WebhookError>> {
    const row = UUID.test(id) ? await this.repo.get(id) : undefined;
    if (!row) return err(notFound(id));
    return ok(await this.view(row));
  }

  async update(id: string, input: UpdateWebhookInput): Promise<Result<WebhookView, WebhookError>> {
    if (!UUID.test(id)) return err(notFound(id));
    if (input.url !== undefined) {
      // An unknown id answers 404 at once, not after resolving the new URL's host name.
      if (!(await this.repo.get(id))) return err(notFound(id));
      const url = await this.checkUrl(input.url);
      if (!url.ok) return url;
    }
    return this.serial(async () => {
      const row = await this.repo.get(id);
      if (!row) return err(notFound(id));
      if (row.state === 'topic_deleted') {
        return err({
          code: 'conflict',
          message: `webhook ${id} ended when its topic ${JSON.stringify(row.topic)} was deleted; delete it (and create a new one for a new topic)`,
        });
      }
      const settings = mergeSettings(row, input);
      if (!settings.ok) return err({ code: 'bad_request', message: settings.error });
      if (input.dead_letter_topic !== undefined) {
        const source = this.liveTopic(row);
        if (source) {
          const dlt = checkDeadLetterTopic(source, settings.value.deadLetterTopic, (n) => this.o.topics.lookup(n));
          if (!dlt.ok) return dlt;
        }
      }
      const fields: Partial<WebhookRow> = { ...settings.value, updatedAt: this.now() };
      if (input.url !== undefined) fields.url = input.url;
      if (input.state !== undefined && input.state !== row.state) {
        fields.state = input.state;
        fields.stateReason = null;
        // Resuming starts with a clean slate; the deliveries log keeps the history.
        if (input.state === 'active') fields.consecutiveFailures = 0;
      }
      // Stop first so no attempt with the old settings is still in flight after we answer (on this
      // node; a webhook another node runs restarts there at its next lease renewal).
      await this.stopRunner(id, { release: false });
      const updated = await this.repo.update(id, fields);
      if (!updated) return err(notFound(id));
      if (updated.state === 'active') await this.claimAndStart(updated);
      else await this.leases.release(webhookLease(id));
      return ok(await this.view(updated));
    });
  }

  async delete(id: string): Promise<Result<void, WebhookError>> {
    if (!UUID.test(id)) return err(notFound(id));
    return this.serial(async () => {
      await this.stopRunner(id, { release: false });
      const deleted = await this.repo.delete(id);
      await this.leases.forget(webhookLease(id));
      return deleted ? ok(undefined) : err(notFound(id));
    });
  }

  /**
   * Replace the signing secret. The old one keeps signing (a second signature in
   * `webhook-signature`) for `graceMs`, so receivers can switch without rejecting anything.
   */
  async rotateSecret(
    id: string,
    graceMs: number = WEBHOOK_LIMITS.graceMs.default,
  ): Promise<Result<{ view: WebhookView; secret: string }, WebhookError>> {
    if (!UUID.test(id)) return err(notFound(id));
    return this.serial(async () => {
      const row = await this.repo.get(id);
      if (!row) return err(notFound(id));
      const now = this.now();
      const secret = generateSecret();
      await this.stopRunner(id, { release: false });
      const updated = await this.repo.update(id, {
        secret,
        previousSecret: graceMs > 0 ? row.secret : null,
        previousSecretExpiresAt: graceMs > 0 ? now + graceMs : null,
        updatedAt: now,
      });
      if (!updated) return err(notFound(id));
      if (updated.state === 'active') await this.claimAndStart(updated);
      return ok({ view: await this.view(updated), secret });
    });
  }

  async deliveries(id: string, limit: number): Promise<Result<WebhookDeliveryRow[], WebhookError>> {
    if (!UUID.test(id) || !(await this.repo.get(id))) return err(notFound(id));
    return ok(await this.repo.deliveries(id, limit));
  }

  /** Stop every runner: in-flight requests are aborted and their batches stay uncommitted. */
  async stop(): Promise<void> {
    this.closed = true;
    clearInterval(this.claimTimer);
    for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe();
    await this.serial(async () => {
      // Released, so the other nodes take these webhooks over now rather than after the lease time.
      await Promise.all([...this.runners.keys()].map((id) => this.stopRunner(id, { release: true })));
    });
    this.sender.close();
  }

  private async checkUrl(raw: string): Promise<Result<URL, WebhookError>> {
    const url = this.o.policy.checkUrl(raw);
    if (!url.ok) return err({ code: 'bad_request', message: `url: ${url.error}` });
    const resolved = await this.o.policy.checkResolved(url.value);
    if (!resolved.ok) return err({ code: 'bad_request', message: `url: ${resolved.error}` });
    return url;
  }

  /** The webhook's own topic, if it still exists (not merely a topic of the same name). */
  private liveTopic(row: WebhookRow): WebhookTopic | undefined {
    const topic = this.o.topics.lookup(row.topic);
    return topic && row.state !== 'topic_deleted' && topic.id === row.topicId ? topic : undefined;
  }

  private async view(row: WebhookRow, holders?: Map<string, string>): Promise<WebhookView> {
    const topic = this.liveTopic(row);
    let owner: WebhookOwner | null = null;
    if (this.runners.has(row.id)) owner = { node: this.leases.nodeId, thisNode: true };
    else if (row.state === 'active') {
      const node = (holders ?? (await this.holders(webhookLease(row.id)))).get(webhookLease(row.id));
      if (node !== undefined) owner = { node, thisNode: node === this.leases.nodeId };
    }
    const running = new Map((this.runners.get(row.id)?.runner.status() ?? []).map((s) => [s.partition, s]));
    const committed = running.size > 0 || !topic ? new Map() : await this.repo.loadProgress(row.id, row.topic);
    const partitions: WebhookPartitionView[] = [];
    for (let p = 0; topic && p < topic.partitions; p++) {
      const log = this.o.log.getPartition(topic.id, p);
      const end = log?.endOffset() ?? 0;
      const next = running.get(p)?.nextOffset ?? committed.get(p)?.offset ?? log?.startOffset() ?? 0;
      partitions.push({
        partition: p,
        nextOffset: next,
        endOffset: end,
        lag: Math.max(0, end - next),
        inFlight: running.get(p)?.inFlight ?? null,
      });
    }
    const state: WebhookStatusState = row.state === 'active' && row.consecutiveFailures > 0 ? 'failing' : row.state;
    return { row, owner, state, lag: partitions.reduce((s, p) => s + p.lag, 0), partitions };
  }
}
