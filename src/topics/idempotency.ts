// Exactly-once appends for retried produce requests: Idempotency-Key and Kafka-style
// producer id/epoch/seq state, kept in memory and rebuilt from the tags stored in the log.
import { err, ok, type Result } from '../lib/result.js';
import type { PartitionLog } from '../log/index.js';
import { decodeTag, encodeTag, type IdempotencyIdentity } from './idempotency-tag.js';

export interface OffsetRef {
  partition: number;
  offset: number;
}

/** Why a request carrying idempotency headers was refused. */
export type IdempotencyError =
  | { code: 'invalid_record'; message: string }
  | { code: 'conflict'; message: string; expectedSeq?: number }
  | { code: 'fenced'; message: string; currentEpoch: number };

interface BatchRef {
  partition: number;
  baseOffset: number;
  count: number;
  indexes: () => number[];
}

/** One request's appended batches (possibly not all of them, after a partial failure). */
interface Entry {
  bodyHash: Buffer;
  requestRecords: number;
  appendedAt: number;
  batches: BatchRef[];
  covered: number;
}

interface KeySlot {
  entry: Entry | undefined;
  pending: Promise<void> | undefined;
}

interface ProducerState {
  epoch: number;
  /** Highest sequence appended in this epoch; undefined until the first one. */
  lastSeq: number | undefined;
  requests: Map<number, Entry>;
  lastUsed: number;
  lock: Promise<void>;
}

interface TopicState {
  keys: Map<string, KeySlot>;
  producers: Map<string, ProducerState>;
}

/** A claim to append (part of) a request; `release` must be called whatever happens. */
export interface IdempotencyClaim {
  /** Request indexes an earlier, partly failed attempt already appended: skip them. */
  readonly alreadyAppended: ReadonlySet<number>;
  /** Kafka producer fields for the batch header, for producer-id requests. */
  readonly producer: { id: bigint; epoch: number; baseSequence: number } | undefined;
  /** The tag for a batch holding these request indexes (ascending). */
  tag(indexes: number[]): Buffer;
  /** Note a batch that was appended. */
  recorded(partition: number, baseOffset: number, indexes: number[]): void;
  /** Offsets of the whole request in request order, once every record is appended. */
  offsets(): OffsetRef[] | undefined;
  release(): void;
}

export type IdempotencyBegin = { kind: 'replay'; offsets: OffsetRef[] } | { kind: 'append'; claim: IdempotencyClaim };

/** How many recent requests per producer keep their responses for duplicate detection. */
const PRODUCER_REQUESTS_KEPT = 32;

function responseOf(entry: Entry): OffsetRef[] | undefined {
  if (entry.covered < entry.requestRecords) return undefined;
  const out = new Array<OffsetRef>(entry.requestRecords);
  for (const b of entry.batches) {
    const idx = b.indexes();
    for (let k = 0; k < idx.length; k++) out[idx[k]!] = { partition: b.partition, offset: b.baseOffset + k };
  }
  return out;
}

/**
 * Idempotency state for every topic (scoped by topic id). Each request's batches carry a
 * tag (identity, body hash, request indexes); after a restart `load` rebuilds the state of
 * the last `windowMs` from the partitions' recent tags, so a retry is answered from the
 * log instead of appending again.
 */
export class IdempotencyTracker {
  private readonly topics = new Map<string, Promise<TopicState>>();

  constructor(
    private readonly windowMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Drop a deleted topic's state. */
  forget(topicId: string): void {
    this.topics.delete(topicId);
  }

  /**
   * Start an idempotent request. Resolves with the original response for a complete
   * duplicate, a claim to append otherwise, or a refusal. Concurrent requests with the
   * same key wait for the first; one producer's requests run one at a time.
   */
  async begin(
    topicId: string,
    partitions: () => PartitionLog[],
    identity: IdempotencyIdentity,
    bodyHash: Buffer,
    requestRecords: number,
  ): Promise<Result<IdempotencyBegin, IdempotencyError>> {
    const state = await this.state(topicId, partitions);
    return identity.kind === 'key'
      ? this.beginKey(state, identity, bodyHash, requestRecords)
      : this.beginProducer(state, identity, bodyHash, requestRecords);
  }

  private state(topicId: string, partitions: () => PartitionLog[]): Promise<TopicState> {
    let s = this.topics.get(topicId);
    if (!s) {
      s = this.rebuild(partitions());
      this.topics.set(topicId, s);
      s.catch(() => this.topics.delete(topicId));
    }
    return s;
  }

  private async rebuild(logs: PartitionLog[]): Promise<TopicState> {
    const state: TopicState = { keys: new Map(), producers: new Map() };
    const since = this.clock() - this.windowMs;
    const found: Array<{
      partition: number;
      baseOffset: number;
      count: number;
      tag: NonNullable<ReturnType<typeof decodeTag>>;
    }> = [];
    for (const log of logs) {
      for (const t of await log.recentTags(since)) {
        const tag = decodeTag(t.tag);
        if (tag && tag.appendedAt >= since) {
          found.push({
            partition: log.partition,
            baseOffset: t.baseOffset,
            count: t.lastOffset - t.baseOffset + 1,
            tag,
          });
        }
      }
    }
    found.sort((a, b) => a.tag.appendedAt - b.tag.appendedAt);
    for (const f of found) {
      const { identity, bodyHash, requestRecords, appendedAt } = f.tag;
      let entry: Entry | undefined;
      if (identity.kind === 'key') {
        const slot = state.keys.get(identity.key);
        entry = slot?.entry;
        if (!entry) {
          entry = { bodyHash, requestRecords, appendedAt, batches: [], covered: 0 };
          state.keys.set(identity.key, { entry, pending: undefined });
        }
      } else {
        const pid = String(identity.id);
        let p = state.producers.get(pid);
        if (p && identity.epoch < p.epoch) continue;
        if (!p || identity.epoch > p.epoch) {
          p = {
            epoch: identity.epoch,
            lastSeq: undefined,
            requests: new Map(),
            lastUsed: appendedAt,
            lock: Promise.resolve(),
          };
          state.producers.set(pid, p);
        }
        p.lastSeq = Math.max(p.lastSeq ?? identity.seq, identity.seq);
        p.lastUsed = Math.max(p.lastUsed, appendedAt);
        entry = p.requests.get(identity.seq);
        if (!entry) {
          entry = { bodyHash, requestRecords, appendedAt, batches: [], covered: 0 };
          p.requests.set(identity.seq, entry);
        }
      }
      if (!entry.bodyHash.equals(bodyHash)) continue;
      entry.batches.push({ partition: f.partition, baseOffset: f.baseOffset, count: f.count, indexes: f.tag.indexes });
      entry.covered += f.count;
    }
    return state;
  }

  private expired(appendedAt: number): boolean {
    return appendedAt + this.windowMs < this.clock();
  }

  /** Drop expired keys (oldest first: the map is in append order). */
  private sweepKeys(state: TopicState): void {
    for (const [key, slot] of state.keys) {
      if (slot.pending || !slot.entry || !this.expired(slot.entry.appendedAt)) break;
      state.keys.delete(key);
    }
  }

  private claim(
    entry: Entry,
    identity: IdempotencyIdentity,
    producer: IdempotencyClaim['producer'],
    release: () => void,
  ): IdempotencyClaim {
    const already = new Set<number>();
    for (const b of entry.batches) for (const i of b.indexes()) already.add(i);
    let released = false;
    return {
      alreadyAppended: already,
      producer,
      tag: (indexes) => encodeTag(identity, entry.bodyHash, entry.requestRecords, this.clock(), indexes),
      recorded: (partition, baseOffset, indexes) => {
        const copy = indexes.slice();
        entry.batches.push({ partition, baseOffset, count: copy.length, indexes: () => copy });
        entry.covered += copy.length;
      },
      offsets: () => responseOf(entry),
      release: () => {
        if (!released) {
          released = true;
          release();
        }
      },
    };
  }

  private async beginKey(
    state: TopicState,
    identity: Extract<IdempotencyIdentity, { kind: 'key' }>,
    bodyHash: Buffer,
    requestRecords: number,
  ): Promise<Result<IdempotencyBegin, IdempotencyError>> {
    this.sweepKeys(state);
    for (;;) {
      const slot = state.keys.get(identity.key);
      if (slot?.pending) {
        await slot.pending;
        continue;
      }
      let entry = slot?.entry && !this.expired(slot.entry.appendedAt) ? slot.entry : undefined;
      if (entry) {
        if (!entry.bodyHash.equals(bodyHash)) {
          return err({
            code: 'invalid_record',
            message: `Idempotency-Key "${identity.key}" was already used with a different request body`,
          });
        }
        const done = responseOf(entry);
        if (done) return ok({ kind: 'replay', offsets: done });
      } else {
        entry = { bodyHash, requestRecords, appendedAt: this.clock(), batches: [], covered: 0 };
      }
      let resolve!: () => void;
      const current: KeySlot = { entry, pending: new Promise<void>((r) => (resolve = r)) };
      if (slot) state.keys.delete(identity.key); // re-insert: keep the map in append order
      state.keys.set(identity.key, current);
      const claimed = entry;
      return ok({
        kind: 'append',
        claim: this.claim(claimed, identity, undefined, () => {
          current.pending = undefined;
          // Nothing appended: forget the key so a retry (even with another body) starts afresh.
          if (claimed.batches.length === 0) state.keys.delete(identity.key);
          resolve();
        }),
      });
    }
  }

  private async beginProducer(
    state: TopicState,
    identity: Extract<IdempotencyIdentity, { kind: 'producer' }>,
    bodyHash: Buffer,
    requestRecords: number,
  ): Promise<Result<IdempotencyBegin, IdempotencyError>> {
    const pid = String(identity.id);
    let p = state.producers.get(pid);
    if (p && this.expired(p.lastUsed) && p.requests.size > 0) {
      state.producers.delete(pid);
      p = undefined;
    }
    if (!p) {
      p = {
        epoch: identity.epoch,
        lastSeq: undefined,
        requests: new Map(),
        lastUsed: this.clock(),
        lock: Promise.resolve(),
      };
      state.producers.set(pid, p);
    }
    // Serialise this producer's requests: wait for the previous one, hold the lock until release.
    const prev = p.lock;
    let unlock!: () => void;
    p.lock = new Promise<void>((r) => (unlock = r));
    await prev;
    const producer = p;

    const refuse = (e: IdempotencyError) => {
      unlock();
      return err(e);
    };
    if (identity.epoch < producer.epoch) {
      return refuse({
        code: 'fenced',
        message: `Producer-Epoch ${identity.epoch} is stale: producer ${pid} is at epoch ${producer.epoch}`,
        currentEpoch: producer.epoch,
      });
    }
    if (identity.epoch > producer.epoch) {
      producer.epoch = identity.epoch;
      producer.lastSeq = undefined;
      producer.requests.clear();
    }
    let entry: Entry | undefined;
    const last = producer.lastSeq;
    if (last !== undefined && identity.seq <= last) {
      entry = producer.requests.get(identity.seq);
      if (!entry) {
        return refuse({
          code: 'conflict',
          message: `Producer-Seq ${identity.seq} was already appended but its response is no longer retained (last sequence ${last})`,
          expectedSeq: last + 1,
        });
      }
      if (!entry.bodyHash.equals(bodyHash)) {
        return refuse({
          code: 'invalid_record',
          message: `Producer-Seq ${identity.seq} was already used with a different request body`,
        });
      }
      const done = responseOf(entry);
      if (done) {
        unlock();
        return ok({ kind: 'replay', offsets: done });
      }
    } else if (last !== undefined && identity.seq !== last + 1) {
      return refuse({
        code: 'conflict',
        message: `Producer-Seq ${identity.seq} is out of order: expected ${last + 1}`,
        expectedSeq: last + 1,
      });
    }
    const claimed = entry ?? { bodyHash, requestRecords, appendedAt: this.clock(), batches: [], covered: 0 };
    return ok({
      kind: 'append',
      claim: this.claim(
        claimed,
        identity,
        { id: identity.id, epoch: identity.epoch, baseSequence: identity.seq },
        () => {
          if (claimed.batches.length > 0) {
            producer.lastSeq = Math.max(producer.lastSeq ?? identity.seq, identity.seq);
            producer.requests.set(identity.seq, claimed);
            producer.lastUsed = this.clock();
            for (const seq of producer.requests.keys()) {
              if (producer.requests.size <= PRODUCER_REQUESTS_KEPT) break;
              producer.requests.delete(seq);
            }
          }
          unlock();
        },
      ),
    });
  }
}
