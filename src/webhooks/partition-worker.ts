// Delivers one partition of one webhook: read one batch, persist its range, POST it until it
// is accepted (or dead-lettered), commit, repeat — woken by appends, one batch in memory at a time.
import type { PartitionLog } from '../log/index.js';
import type { StoredWebhookFilter } from '../metadata/schema/webhooks.js';
import type { ValueFormat } from '../topics/record-codec.js';
import { nextDelayMs, sleep, type RetryPolicy } from './backoff.js';
import { deadLetter, type DeadLetterProducer } from './dead-letter.js';
import type { WebhookSender } from './http-sender.js';
import type { Semaphore } from './semaphore.js';
import { messageId, signedHeaders, type SigningSecrets } from './signing.js';
import { buildBatch, type DeliveryBatch } from './webhook-batch.js';
import type { AttemptRecord, PartitionProgress } from './webhook-repository.js';

/** Bytes of record data read into one batch (at least one record is always read). */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** How long one idle wait lasts before the loop looks around again (it wakes on appends). */
const IDLE_WAIT_MS = 30_000;

/** A webhook's delivery settings as the workers use them. */
export interface WebhookSettings {
  id: string;
  url: string;
  batch: { maxRecords: number; maxWaitMs: number };
  retry: RetryPolicy;
  timeoutMs: number;
  deadLetterTopic: string | null;
  filter: StoredWebhookFilter | null;
  secrets: SigningSecrets;
}

export interface WorkerLogger {
  warn(obj: object, msg: string): void;
}

export interface PartitionWorkerDeps {
  settings: WebhookSettings;
  topic: { name: string; format: ValueFormat };
  partition: number;
  log: PartitionLog;
  /** Commit progress; `expired` records (deleted by retention before delivery) are counted with it. */
  saveProgress(partition: number, progress: PartitionProgress, expired?: number): Promise<void>;
  recordAttempt(attempt: Omit<AttemptRecord, 'webhookId'>): Promise<void>;
  sender: WebhookSender;
  limiter: Semaphore;
  producer: DeadLetterProducer;
  /** The endpoint answered 410: the runner disables the webhook (must not await this worker). */
  onGone(reason: string): void;
  logger: WorkerLogger;
  signal: AbortSignal;
  now: () => number;
  random?: () => number;
}

/** What GET /v1/webhooks/{id} shows about a partition. */
export interface PartitionStatus {
  partition: number;
  nextOffset: number;
  inFlight: {
    messageId: string;
    firstOffset: number;
    lastOffset: number;
    attempt: number;
    nextAttemptAt: number | null;
  } | null;
}

type Outcome = 'done' | 'gone' | 'aborted';

export class PartitionWorker {
  private position: number;
  private pendingEnd: number | undefined;
  private inFlight: PartitionStatus['inFlight'] = null;

  constructor(
    private readonly d: PartitionWorkerDeps,
    start: PartitionProgress,
  ) {
    this.position = start.offset;
    this.pendingEnd = start.pendingEnd;
  }

  status(): PartitionStatus {
    return {
      partition: this.d.partition,
      nextOffset: this.position,
      inFlight: this.inFlight ? { ...this.inFlight } : null,
    };
  }

  /**
   * Run until the signal aborts or the endpoint answers 410. Throws only when a batch cannot
   * be read or built (the runner records it and runs this again; the position is kept).
   */
  async run(): Promise<void> {
    const { log, signal } = this.d;
    const { maxRecords, maxWaitMs } = this.d.settings.batch;
    while (!signal.aborted) {
      const start = log.startOffset();
      const end = log.endOffset();
      if (this.position < start) {
        // Retention deleted undelivered records: nothing older exists. Counted, then skipped.
        const expired = start - this.position;
        this.d.logger.warn(
          { partition: this.d.partition, next_offset: this.position, start_offset: start, expired },
          'records deleted by retention before webhook delivery; continuing from the start offset',
        );
        if (!(await this.persist({ offset: start, pendingEnd: undefined }, expired))) return;
        this.position = start;
        this.pendingEnd = undefined;
      } else if (this.position > end) {
        // Past the end (e.g. a quarantine lowered the visible end): everything below was
        // delivered, so wait at the end — restarting from the start would resend it all.
        this.d.logger.warn(
          { partition: this.d.partition, next_offset: this.position, end_offset: end },
          'webhook position is past the end of the log; resuming at the end',
        );
        this.position = end;
        this.pendingEnd = undefined;
      }
      if (log.endOffset() <= this.position) {
        const since = this.d.now();
        const woke = await log.waitForData(this.position, IDLE_WAIT_MS, signal);
        // A closed partition (topic deleted) answers false at once: don't spin until the runner stops us.
        if (!woke && !signal.aborted && this.d.now() - since < IDLE_WAIT_MS / 2) await sleep(1_000, signal);
        continue;
      }
      if (this.pendingEnd === undefined && maxWaitMs > 0 && log.endOffset() - this.position < maxRecords) {
        // Let the batch fill up to max_records for at most max_wait_ms (woken by appends).
        const deadline = this.d.now() + maxWaitMs;
        while (!signal.aborted && log.endOffset() - this.position < maxRecords && this.d.now() < deadline) {
          await log.waitForData(this.position + maxRecords - 1, deadline - this.d.now(), signal);
        }
        if (signal.aborted) return;
      }
      const batch = await this.nextBatch(maxRecords);
      if (!batch) continue; // Retention moved the start meanwhile: handled at the top.

      if (batch.records.length > 0 && this.pendingEnd !== batch.nextOffset) {
        // Persist the range before the first attempt: after a crash the same records are
        // re-sent under the same webhook-id, so receivers can dedupe.
        if (!(await this.persist({ offset: this.position, pendingEnd: batch.nextOffset }))) return;
        this.pendingEnd = batch.nextOffset;
      }
      const outcome = batch.records.length > 0 ? await this.deliver(batch) : 'done';
      this.inFlight = null;
      if (outcome !== 'done') return;
      if (!(await this.persist({ offset: batch.nextOffset, pendingEnd: undefined }))) return;
      this.position = batch.nextOffset;
      this.pendingEnd = undefined;
    }
  }

  /**
   * Read and render the next batch; undefined if retention moved the start meanwhile. A
   * failure (an I/O error, a record that cannot be rendered) throws with the offsets it
   * concerns: the runner shows it in the webhook's state and retries.
   */
  private async nextBatch(maxRecords: number): Promise<DeliveryBatch | undefined> {
    const want = this.pendingEnd !== undefined ? Math.max(1, this.pendingEnd - this.position) : maxRecords;
    try {
      const read = await this.d.log.read(this.position, { maxRecords: want, maxBytes: MAX_BATCH_BYTES });
      if (!read.ok) return undefined;
      const range = { firstOffset: this.position, nextOffset: read.value.nextOffset };
      return buildBatch(this.d.topic, this.d.partition, range, read.value.records, this.d.settings.filter);
    } catch (e) {
      throw new Error(
        `could not build the batch at offset ${this.position} of partition ${this.d.partition}: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
  }

  /** Commit progress, retrying while Postgres is unreachable; false if stopped first. */
  private async persist(progress: PartitionProgress, expired = 0): Promise<boolean> {
    for (let failures = 0; !this.d.signal.aborted; failures++) {
      try {
        await this.d.saveProgress(this.d.partition, progress, expired);
        return true;
      } catch (e) {
        this.d.logger.warn({ err: e, partition: this.d.partition }, 'webhook progress not saved; retrying');
        await sleep(Math.min(30_000, 100 * 2 ** Math.min(failures, 9)), this.d.signal);
      }
    }
    return false;
  }

  private async record(a: Omit<AttemptRecord, 'webhookId'>): Promise<void> {
    try {
      await this.d.recordAttempt(a);
    } catch (e) {
      // The log and counters are for people; delivery goes on without them.
      this.d.logger.warn({ err: e, partition: this.d.partition }, 'webhook attempt not recorded');
    }
  }

  /** POST the batch until it is accepted, dead-lettered, refused with 410, or stopped. */
  private async deliver(batch: DeliveryBatch): Promise<Outcome> {
    const { settings, signal, now } = this.d;
    const msgId = messageId(settings.id, batch.partition, batch.firstOffset, batch.lastOffset);
    const base = {
      messageId: msgId,
      partition: batch.partition,
      firstOffset: batch.firstOffset,
      lastOffset: batch.lastOffset,
      recordCount: batch.records.length,
    };
    for (let attempt = 1; ; attempt++) {
      this.inFlight = {
        messageId: msgId,
        firstOffset: batch.firstOffset,
        lastOffset: batch.lastOffset,
        attempt,
        nextAttemptAt: null,
      };
      if (!(await this.d.limiter.acquire(signal))) return 'aborted';
      const at = now();
      let result;
      try {
        result = await this.d.sender.send({
          url: settings.url,
          body: batch.body,
          headers: signedHeaders(settings.secrets, msgId, batch.body, at),
          timeoutMs: settings.timeoutMs,
          signal,
        });
      } finally {
        this.d.limiter.release();
      }
      if (result.kind === 'error' && result.aborted) return 'aborted';
      const durationMs = now() - at;
      const status = result.kind === 'response' ? result.status : null;
      if (status !== null && status >= 200 && status < 300) {
        await this.record({ ...base, attempt, outcome: 'delivered', statusCode: status, error: null, durationMs, at });
        return 'done';
      }
      const error =
        result.kind === 'response'
          ? `HTTP ${result.status}${result.snippet ? `: ${result.snippet.slice(0, 200)}` : ''}`
          : result.message;
      if (status === 410) {
        await this.record({ ...base, attempt, outcome: 'gone', statusCode: status, error, durationMs, at });
        this.d.onGone(`the endpoint answered 410 Gone for ${msgId}`);
        return 'gone';
      }
      await this.record({ ...base, attempt, outcome: 'failed', statusCode: status, error, durationMs, at });

      if (attempt >= settings.retry.maxAttempts && settings.deadLetterTopic !== null) {
        const dl = await deadLetter(this.d.producer, settings.deadLetterTopic, batch, {
          webhookId: settings.id,
          messageId: msgId,
          lastStatus: status,
          lastError: error,
        });
        const dlAt = now();
        if (dl.ok) {
          await this.record({
            ...base,
            attempt,
            outcome: 'dead_lettered',
            statusCode: status,
            error,
            durationMs: 0,
            at: dlAt,
          });
          return 'done';
        }
        // The dead-letter topic refused too: keep trying both, never skip the records.
        await this.record({
          ...base,
          attempt,
          outcome: 'failed',
          statusCode: null,
          error: dl.error,
          durationMs: 0,
          at: dlAt,
        });
      }
      const delay = nextDelayMs(
        attempt,
        settings.retry,
        result.kind === 'response' ? result.retryAfterMs : undefined,
        this.d.random,
      );
      this.inFlight.nextAttemptAt = now() + delay;
      if (!(await sleep(delay, signal))) return 'aborted';
    }
  }
}
