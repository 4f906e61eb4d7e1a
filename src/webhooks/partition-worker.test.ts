// Unit tests of one partition's delivery loop against the in-memory log and a fake sender:
// the persisted batch range keeps the webhook-id stable across a restart, and batching waits.
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryLogStore, type LogStore, type PartitionLog } from '../log/index.js';
import type { AttemptResult, SendRequest, WebhookSender } from './http-sender.js';
import { PartitionWorker, type PartitionWorkerDeps } from './partition-worker.js';
import { Semaphore } from './semaphore.js';
import type { PartitionProgress } from './webhook-repository.js';

const stores: LogStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

async function partition(): Promise<PartitionLog> {
  const store = createMemoryLogStore({ retentionCheckIntervalMs: 0 });
  stores.push(store);
  await store.open();
  return store.createPartition('topic-id', 0, {
    segmentBytes: 1 << 20,
    segmentMs: -1,
    retentionMs: -1,
    retentionBytes: -1,
  });
}

async function append(log: PartitionLog, n: number): Promise<void> {
  const records = Array.from({ length: n }, (_, i) => ({
    key: null,
    value: Buffer.from(JSON.stringify(i)),
    headers: [],
    timestamp: 1,
  }));
  const r = await log.append(records, { durability: 'write' });
  if (!r.ok) throw new Error(r.error.reason);
}

/** A sender whose answers the test controls; every request is recorded. */
class FakeSender implements WebhookSender {
  readonly sent: SendRequest[] = [];
  answer: (req: SendRequest) => Promise<AttemptResult> = async () => ({
    kind: 'response',
    status: 200,
    retryAfterMs: undefined,
    snippet: '',
  });
  private waiters: Array<() => void> = [];
  async send(req: SendRequest): Promise<AttemptResult> {
    this.sent.push(req);
    for (const w of this.waiters.splice(0)) w();
    return this.answer(req);
  }
  close(): void {}
  async waitForSends(n: number): Promise<void> {
    while (this.sent.length < n) await new Promise<void>((r) => this.waiters.push(r));
  }
}

function worker(
  log: PartitionLog,
  sender: FakeSender,
  saved: PartitionProgress[],
  start: PartitionProgress,
  controller: AbortController,
  batch = { maxRecords: 10, maxWaitMs: 0 },
  expired: number[] = [],
) {
  const deps: PartitionWorkerDeps = {
    settings: {
      id: '00000000-0000-0000-0000-000000000001',
      url: 'http://example.invalid/',
      batch,
      retry: { maxAttempts: 3, initialBackoffMs: 1, maxBackoffMs: 2 },
      timeoutMs: 1000,
      deadLetterTopic: null,
      filter: null,
      secrets: { current: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' },
    },
    topic: { name: 't', format: 'json' },
    partition: 0,
    log,
    saveProgress: async (_p, pr, n = 0) => {
      saved.push(pr);
      if (n > 0) expired.push(n);
    },
    recordAttempt: async () => {},
    sender,
    limiter: new Semaphore(4),
    producer: { produce: async () => ({ ok: true, value: { offsets: [] } }) },
    onGone: () => {},
    logger: { warn: () => {} },
    signal: controller.signal,
    now: Date.now,
  };
  return new PartitionWorker(deps, start);
}

const hang = (req: SendRequest) =>
  new Promise<AttemptResult>((resolve) =>
    req.signal.addEventListener('abort', () =>
      resolve({ kind: 'error', message: 'stopped', timedOut: false, aborted: true }),
    ),
  );

describe('PartitionWorker', () => {
  it('re-sends exactly the interrupted batch (same webhook-id and body) after a restart, though more records arrived', async () => {
    const log = await partition();
    await append(log, 3);
    const saved: PartitionProgress[] = [];
    const sender = new FakeSender();
    sender.answer = hang;
    const first = new AbortController();
    const running = worker(log, sender, saved, { offset: 0, pendingEnd: undefined }, first).run();
    await sender.waitForSends(1);
    first.abort();
    await running;
    expect(saved).toEqual([{ offset: 0, pendingEnd: 3 }]);

    await append(log, 5);
    const again = new FakeSender();
    const second = new AbortController();
    const resumed = worker(log, again, saved, saved.at(-1)!, second).run();
    await again.waitForSends(2);
    second.abort();
    await resumed;
    expect(again.sent[0]!.headers['webhook-id']).toBe(sender.sent[0]!.headers['webhook-id']);
    expect(again.sent[0]!.body).toBe(sender.sent[0]!.body);
    expect(JSON.parse(again.sent[1]!.body).records.map((r: { offset: number }) => r.offset)).toEqual([3, 4, 5, 6, 7]);
    expect(saved).toContainEqual({ offset: 3, pendingEnd: undefined });
  });

  it('holds a batch up to max_wait_ms for it to fill, woken by appends', async () => {
    const log = await partition();
    const sender = new FakeSender();
    const controller = new AbortController();
    const running = worker(log, sender, [], { offset: 0, pendingEnd: undefined }, controller, {
      maxRecords: 4,
      maxWaitMs: 5_000,
    }).run();
    await append(log, 1);
    await append(log, 3);
    await sender.waitForSends(1);
    controller.abort();
    await running;
    expect(JSON.parse(sender.sent[0]!.body).records).toHaveLength(4);
  });

  it('resumes at the end when its position is past the end (e.g. a quarantine lowered it), never from the start', async () => {
    const log = await partition();
    await append(log, 5);
    const sender = new FakeSender();
    const controller = new AbortController();
    const w = worker(log, sender, [], { offset: 9, pendingEnd: undefined }, controller);
    const running = w.run();
    await until(() => w.status().nextOffset === 5);
    await append(log, 2);
    await sender.waitForSends(1);
    controller.abort();
    await running;
    expect(sender.sent.flatMap((q) => JSON.parse(q.body).records.map((r: { offset: number }) => r.offset))).toEqual([
      5, 6,
    ]);
  });

  it('counts records retention deleted before delivery (committed with the skip) and goes on from the start offset', async () => {
    const real = await partition();
    await append(real, 5);
    // Retention has deleted offsets 0-2 (the memory store trims whole segments only).
    const log = new Proxy(real, {
      get(target, key) {
        if (key === 'startOffset') return () => 3;
        const v = Reflect.get(target, key) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const saved: PartitionProgress[] = [];
    const expired: number[] = [];
    const sender = new FakeSender();
    const controller = new AbortController();
    const running = worker(
      log,
      sender,
      saved,
      { offset: 0, pendingEnd: undefined },
      controller,
      undefined,
      expired,
    ).run();
    await sender.waitForSends(1);
    await until(() => saved.some((p) => p.offset === 5));
    controller.abort();
    await running;
    expect(expired).toEqual([3]);
    expect(saved[0]).toEqual({ offset: 3, pendingEnd: undefined });
    expect(JSON.parse(sender.sent[0]!.body).records.map((r: { offset: number }) => r.offset)).toEqual([3, 4]);
  });
});

async function until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}
