// Exactly-once appends for retried produce requests: Idempotency-Key and Kafka-style
// producer id/epoch/seq state, kept in memory and rebuilt from the tags stored in the log.
import { err, ok, type Result } from '../lib/result.js';
import type { PartitionLog } from '../log/index.js';
import { decodeTag, encodeTag, type DecodedTag, type IdempotencyIdentity } from './idempotency-tag.js';

export interface OffsetRef {
  partition: number;
  offset: number;
}

/** The largest Producer-Seq: Kafka's int32 base sequence. It never wraps (a new epoch starts at 0). */
export const MAX_PRODUCER_SEQ = 2 ** 31 - 1;
/** The largest Producer-Epoch: Kafka's int16 producer epoch. */
export const MAX_PRODUCER_EPOCH = 32767;

/** Why a request carrying idempotency headers was refused. */
export type IdempotencyError =
  | { code: 'invalid_record'; message: string }
  | {
      code: 'conflict';
      message: string;
      /** A gap: the sequence the producer must send next. */
      expectedSeq?: number;
      /** `producer_seq_exhausted`: the epoch used its last sequence (MAX_PRODUCER_SEQ); only a new epoch goes on. */
      reason?: 'producer_seq_exhausted';
      currentEpoch?: number;
    }
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
  /** Requests holding or waiting for the lock: while > 0 the state is never dropped or replaced. */
  active: number;
}

interface TopicState {
  topicId: string;
  keys: Map<string, KeySlot>;
  producers: Map<string, ProducerState>;
  /** Shared logs: per partition, the offset below which every tag is applied here. */
  scanned: Map<number, number>;
  /** The catch-up scan running, and the one queued behind it (joined by later callers). */
  scanning: Promise<void> | undefined;
  queuedScan: Promise<void> | undefined;
}

/** Limits of the whole tracker (every topic). */
export interface IdempotencyOptions {
  /** Most keys + producers remembered (default 100,000); past it the least recently used go. */
  maxEntries?: number;
  /** Estimated bytes of state (default 64 MiB); past it the least recently used go. */
  maxBytes?: number;
  /** How often expired state is swept (default: a quarter of the window, at most 60 s); 0 = never. */
  sweepIntervalMs?: number;
}

export interface IdempotencyStats {
  /** Idempotency keys and producer ids remembered. */
  entries: number;
  /** Estimated memory they hold. */
  bytes: number;
  /** Entries dropped before their window ended because a bound was reached. */
  evicted: number;
}

/** One key or producer in the tracker-wide recency order. */
interface Tracked {
  state: TopicState;
  kind: 'key' | 'producer';
  id: string;
  bytes: number;
}

const entryBytes = (e: Entry | undefined): number => (e ? 96 + e.batches.length * 64 : 0);

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
const DEFAULT_MAX_ENTRIES = 100_000;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

function responseOf(entry: Entry): OffsetRef[] | undefined {
  if (entry.covered < entry.requestRecords) return undefined;
  const out = new Array<OffsetRef>(entry.requestRecords);
  for (const b of entry.batches) {
    const idx = b.indexes();
    for (let k = 0; k < idx.length; k++) out[idx[k]!] = { partition: b.partition, offset: b.baseOffset + k };
  }
  return out;
}

/** Adds a batch to an entry once (a catch-up scan may meet a batch this node recorded itself). */
function addBatch(entry: Entry, batch: BatchRef): void {
  for (const b of entry.batches) if (b.partition === batch.partition && b.baseOffset === batch.baseOffset) return;
  entry.batches.push(batch);
  entry.covered += batch.count;
}

/**
 * Idempotency state for every topic (scoped by topic id). Each request's batches carry a
 * tag (identity, body hash, request indexes); after a restart `load` rebuilds the state of
 * the last `windowMs` from the partitions' recent tags, so a retry is answered from the
 * log instead of appending again.
 */
export class IdempotencyTracker {
  private readonly topics = new Map<string, Promise<TopicState>>();
  /** Every key and producer, least recently used first (re-inserted on use). */
  private readonly tracked = new Map<string, Tracked>();
  private bytes = 0;
  private evicted = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly windowMs: number,
    private readonly clock: () => number = Date.now,
    options: IdempotencyOptions = {},
  ) {
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    const every = options.sweepIntervalMs ?? Math.min(60_000, Math.max(1000, Math.floor(windowMs / 4)));
    if (every > 0) {
      this.timer = setInterval(() => this.sweep(), every);
      this.timer.unref();
    }
  }

  /** Stops the sweep timer (state stays readable). */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  stats(): IdempotencyStats {
    return { entries: this.tracked.size, bytes: this.bytes, evicted: this.evicted };
  }

  /** Drop a deleted topic's state. */
  forget(topicId: string): void {
    this.topics.delete(topicId);
    for (const [k, t] of [...this.tracked]) if (t.state.topicId === topicId) this.untrack(k, t);
  }

  /** Drops expired keys and producers that no request is using (runs on the timer). */
  sweep(): void {
    for (const [k, t] of this.tracked) {
      if (this.expiredItem(t)) this.drop(k, t);
    }
  }

  private trackKeyOf(t: Pick<Tracked, 'state' | 'kind' | 'id'>): string {
    return `${t.state.topicId}\u0000${t.kind}\u0000${t.id}`;
  }

  /** Records use of a key or producer: most recent now, size re-estimated, bounds enforced. */
  private touch(state: TopicState, kind: Tracked['kind'], id: string): void {
    const k = this.trackKeyOf({ state, kind, id });
    const item = this.tracked.get(k) ?? { state, kind, id, bytes: 0 };
    this.tracked.delete(k);
    this.bytes -= item.bytes;
    item.bytes = this.sizeOf(item);
    this.bytes += item.bytes;
    this.tracked.set(k, item);
    this.enforceBounds();
  }

  private sizeOf(t: Tracked): number {
    if (t.kind === 'key') return 80 + 2 * t.id.length + entryBytes(t.state.keys.get(t.id)?.entry);
    const p = t.state.producers.get(t.id);
    let n = 128 + 2 * t.id.length;
    for (const e of p?.requests.values() ?? []) n += 16 + entryBytes(e);
    return n;
  }

  private untrack(k: string, t: Tracked): void {
    if (this.tracked.delete(k)) this.bytes -= t.bytes;
  }

  private busy(t: Tracked): boolean {
    if (t.kind === 'key') return t.state.keys.get(t.id)?.pending !== undefined;
    return (t.state.producers.get(t.id)?.active ?? 0) > 0;
  }

  private expiredItem(t: Tracked): boolean {
    if (this.busy(t)) return false;
    if (t.kind === 'key') {
      const e = t.state.keys.get(t.id)?.entry;
      return !e || this.expired(e.appendedAt);
    }
    const p = t.state.producers.get(t.id);
    return !p || this.expired(p.lastUsed);
  }

  /** Removes a key or producer from its topic and from the tracker (callers check it is idle). */
  private drop(k: string, t: Tracked): void {
    if (t.kind === 'key') t.state.keys.delete(t.id);
    else t.state.producers.delete(t.id);
    this.untrack(k, t);
  }

  private enforceBounds(): void {
    if (this.tracked.size <= this.maxEntries && this.bytes <= this.maxBytes) return;
    // Deleting the visited entry while iterating a Map is safe; no copy of a large map per request.
    for (const [k, t] of this.tracked) {
      if (this.tracked.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      if (this.busy(t)) continue;
      this.drop(k, t);
      this.evicted++;
    }
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
      s = this.rebuild(topicId, partitions());
      this.topics.set(topicId, s);
      s.catch(() => this.topics.delete(topicId));
    }
    return s;
  }

  private async rebuild(topicId: string, logs: PartitionLog[]): Promise<TopicState> {
    const state: TopicState = {
      topicId,
      keys: new Map(),
      producers: new Map(),
      scanned: new Map(),
      scanning: undefined,
      queuedScan: undefined,
    };
    const since = this.clock() - this.windowMs;
    const found: Array<{ partition: number; baseOffset: number; count: number; tag: DecodedTag }> = [];
    for (const log of logs) {
      let tags;
      if (log.tagsFrom) {
        // A shared log: remember where the scan ended, so catch-ups read only what follows.
        const r = await log.tagsFrom(log.startOffset());
        state.scanned.set(log.partition, r.end);
        tags = r.tags;
      } else {
        tags = await log.recentTags(since);
      }
      for (const t of tags) {
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
    for (const f of found) this.apply(state, f.partition, f.baseOffset, f.count, f.tag);
    // Oldest first, so the bounds keep the newest if the log holds more than they allow.
    for (const key of state.keys.keys()) this.touch(state, 'key', key);
    for (const [pid] of [...state.producers].sort((a, b) => a[1].lastUsed - b[1].lastUsed))
      this.touch(state, 'producer', pid);
    return state;
  }

  /**
   * Applies one tagged batch found in the log to the topic's state. Returns what it changed
   * (for the recency order), or undefined when the tag is stale (an older epoch, another body).
   */
  private apply(
    state: TopicState,
    partition: number,
    baseOffset: number,
    count: number,
    tag: DecodedTag,
  ): Pick<Tracked, 'kind' | 'id'> | undefined {
    const { identity, bodyHash, requestRecords, appendedAt } = tag;
    let entry: Entry | undefined;
    let changed: Pick<Tracked, 'kind' | 'id'>;
    if (identity.kind === 'key') {
      const slot = state.keys.get(identity.key);
      entry = slot?.entry;
      // A key reused after its window ended starts a new entry (unless a request here holds it).
      if (!entry || (!slot?.pending && entry.appendedAt + this.windowMs < appendedAt)) {
        entry = { bodyHash, requestRecords, appendedAt, batches: [], covered: 0 };
        if (slot) state.keys.delete(identity.key); // re-insert: keep the map in append order
        state.keys.set(identity.key, { entry, pending: undefined });
      }
      changed = { kind: 'key', id: identity.key };
    } else {
      const pid = String(identity.id);
      let p = state.producers.get(pid);
      if (p && identity.epoch < p.epoch) return undefined;
      if (!p) {
        p = {
          epoch: identity.epoch,
          lastSeq: undefined,
          requests: new Map(),
          lastUsed: appendedAt,
          lock: Promise.resolve(),
          active: 0,
        };
        state.producers.set(pid, p);
      } else if (identity.epoch > p.epoch) {
        // In place: a request of this producer may hold a reference to the state.
        p.epoch = identity.epoch;
        p.lastSeq = undefined;
        p.requests.clear();
      }
      p.lastSeq = Math.max(p.lastSeq ?? identity.seq, identity.seq);
      p.lastUsed = Math.max(p.lastUsed, appendedAt);
      entry = p.requests.get(identity.seq);
      if (!entry) {
        entry = { bodyHash, requestRecords, appendedAt, batches: [], covered: 0 };
        p.requests.set(identity.seq, entry);
        for (const seq of p.requests.keys()) {
          if (p.requests.size <= PRODUCER_REQUESTS_KEPT) break;
          p.requests.delete(seq);
        }
      }
      changed = { kind: 'producer', id: pid };
    }
    if (!entry.bodyHash.equals(bodyHash)) return undefined;
    addBatch(entry, { partition, baseOffset, count, indexes: tag.indexes });
    return changed;
  }

  /**
   * For logs other processes append to: applies the tags appended since this node last looked,
   * so the next decision sees them. Resolves once a scan that started after this call is done;
   * concurrent callers share scans. A no-op for logs without `tagsFrom` (the file store).
   */
  async catchUp(topicId: string, partitions: () => PartitionLog[]): Promise<void> {
    const state = await this.state(topicId, partitions);
    if (state.queuedScan) return state.queuedScan;
    const prev = state.scanning ?? Promise.resolve();
    const next: Promise<void> = prev
      .catch(() => {})
      .then(() => {
        state.queuedScan = undefined;
        state.scanning = next;
        return this.scan(state, partitions());
      })
      .finally(() => {
        if (state.scanning === next) state.scanning = undefined;
      });
    state.queuedScan = next;
    return next;
  }

  private async scan(state: TopicState, logs: PartitionLog[]): Promise<void> {
    // One partition after another: the Kafka client keeps one fetch session per broker, and two
    // Fetches in flight to one broker spoil each other's session (the loser retries ~1 s later).
    for (const log of logs) {
      if (!log.tagsFrom) continue;
      const from = state.scanned.get(log.partition) ?? log.startOffset();
      const { tags, end } = await log.tagsFrom(from);
      const since = this.clock() - this.windowMs;
      for (const t of tags) {
        const tag = decodeTag(t.tag);
        if (!tag || tag.appendedAt < since) continue;
        const changed = this.apply(state, log.partition, t.baseOffset, t.lastOffset - t.baseOffset + 1, tag);
        if (changed) this.touch(state, changed.kind, changed.id);
      }
      state.scanned.set(log.partition, Math.max(end, state.scanned.get(log.partition) ?? 0));
    }
  }

  private expired(appendedAt: number): boolean {
    return appendedAt + this.windowMs < this.clock();
  }

  /** Drop expired keys (oldest first: the map is in append order). */
  private sweepKeys(state: TopicState): void {
    for (const [key, slot] of state.keys) {
      if (slot.pending || !slot.entry || !this.expired(slot.entry.appendedAt)) break;
      state.keys.delete(key);
      const k = this.trackKeyOf({ state, kind: 'key', id: key });
      const t = this.tracked.get(k);
      if (t) this.untrack(k, t);
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
        addBatch(entry, { partition, baseOffset, count: copy.length, indexes: () => copy });
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
            // The key as the client sent it, without the principal scope the route puts before it.
            message: `Idempotency-Key "${identity.key.slice(identity.key.indexOf(' ') + 1)}" was already used with a different request body`,
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
      this.touch(state, 'key', identity.key);
      const claimed = entry;
      return ok({
        kind: 'append',
        claim: this.claim(claimed, identity, undefined, () => {
          current.pending = undefined;
          // Nothing appended: forget the key so a retry (even with another body) starts afresh.
          if (claimed.batches.length === 0) {
            if (state.keys.get(identity.key) === current) state.keys.delete(identity.key);
            const k = this.trackKeyOf({ state, kind: 'key', id: identity.key });
            const t = this.tracked.get(k);
            if (t && !state.keys.has(identity.key)) this.untrack(k, t);
          } else if (state.keys.get(identity.key) === current) {
            this.touch(state, 'key', identity.key);
          }
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
    if (!p) {
      p = {
        epoch: identity.epoch,
        lastSeq: undefined,
        requests: new Map(),
        lastUsed: this.clock(),
        lock: Promise.resolve(),
        active: 0,
      };
      state.producers.set(pid, p);
    }
    // Serialise this producer's requests: wait for the previous one, hold the lock until
    // release. While any request holds or awaits it, the state is never dropped or replaced.
    const producer = p;
    producer.active++;
    this.touch(state, 'producer', pid);
    const prev = producer.lock;
    let release!: () => void;
    producer.lock = new Promise<void>((r) => (release = r));
    await prev;
    const unlock = (): void => {
      producer.active--;
      if (state.producers.get(pid) === producer) this.touch(state, 'producer', pid);
      release();
    };
    // Expired while idle (or while waiting for the lock): start afresh, in place.
    if (this.expired(producer.lastUsed) && producer.requests.size > 0) {
      producer.epoch = identity.epoch;
      producer.lastSeq = undefined;
      producer.requests.clear();
      producer.lastUsed = this.clock();
    }

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
      // Sequences do not wrap: after the last one, anything but a retained repeat is a client
      // that wrapped (as Kafka's would) — say so, rather than "already appended".
      if (last === MAX_PRODUCER_SEQ && !entry) {
        return refuse({
          code: 'conflict',
          reason: 'producer_seq_exhausted',
          currentEpoch: producer.epoch,
          message:
            `producer ${pid} used the last Producer-Seq (${MAX_PRODUCER_SEQ}) of Producer-Epoch ${producer.epoch}; ` +
            `Producer-Seq does not wrap: ` +
            (producer.epoch < MAX_PRODUCER_EPOCH
              ? `send Producer-Epoch ${producer.epoch + 1} with Producer-Seq 0`
              : `the epoch is also at its maximum (${MAX_PRODUCER_EPOCH}): choose a new Producer-Id and start at Producer-Seq 0`),
        });
      }
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
