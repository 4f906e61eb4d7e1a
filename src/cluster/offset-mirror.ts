// Group offsets mirrored to Kafka (the Kafka log store): every interval, one node — the holder of
// a lease in Postgres — copies the offsets HTTP consumer groups committed in Postgres to Kafka
// consumer groups named `<SLUICE_KAFKA_TOPIC_PREFIX><group>`, so Kafka tooling
// (`kafka-consumer-groups.sh --describe`, lag exporters) sees their position and lag.
//
// Postgres stays the source of truth and the only thing fencing checks: the mirror is written after
// the commit, may lag it by an interval, and is never read back. Kafka refuses the write while a
// Kafka group of that name has members of its own; that group is then left alone (logged once).
//
// A pass reads only the offsets committed since the last one (by `committed_at`, with an overlap
// for commits that become visible late or come from a node whose clock is behind); a node that
// takes the lease (at start, or from another node) reads everything once, and every
// FULL_SCAN_EVERY_MS it does again, so whatever an overlap missed is still mirrored.
import { and, eq, gte, inArray, or } from 'drizzle-orm';
import { groupOffsets } from '../metadata/schema/groups.js';
import { topics } from '../metadata/schema/topics.js';
import type { MetadataDb } from '../metadata/connection.js';
import type { HeldLease, Leases } from './leases.js';

export const OFFSET_MIRROR_LEASE = 'kafka-offset-mirror';

/**
 * How far before the newest `committed_at` already read a pass reads again. A commit's
 * `committed_at` is its node's clock when the transaction began, so one can become visible after
 * a later one was read: by the transaction's length, or by clock skew between nodes.
 */
export const OVERLAP_MS = 30_000;
/** How often a pass reads every committed offset again, for what an overlap could not cover. */
export const FULL_SCAN_EVERY_MS = 5 * 60_000;

export interface OffsetMirrorOptions {
  db: MetadataDb;
  leases: Leases;
  /** The Sluice topic id of a topic name as this node knows it, if the topic exists. */
  topicId(name: string): string | undefined;
  mirror(group: string, offsets: Array<{ topicId: string; partition: number; offset: number }>): Promise<void>;
  /** Kafka group id = prefix + Sluice group name. */
  groupPrefix: string;
  intervalMs: number;
  logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** Unix ms; tests move it. */
  clock?: () => number;
}

interface Change {
  topicId: string;
  partition: number;
  offset: number;
  key: string;
}

export class OffsetMirror {
  /** What was last written to Kafka: `group\0topicId\0partition` → offset. */
  private readonly written = new Map<string, number>();
  private readonly refused = new Set<string>();
  /** The newest `committed_at` read, or undefined: the next pass reads everything. */
  private watermark: number | undefined;
  private fullScanAt = 0;
  /** When the lease was last taken or renewed (this node's clock). */
  private renewedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private held: HeldLease | undefined;
  private readonly clock: () => number;

  constructor(private readonly o: OffsetMirrorOptions) {
    this.clock = o.clock ?? Date.now;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.o.intervalMs);
    this.timer.unref();
  }

  /** One pass (also what the timer runs); resolves when it is done. Never throws. */
  tick(): Promise<void> {
    this.running ??= this.pass()
      .catch((e: unknown) => this.o.logger.warn({ err: e }, 'group offset mirror to Kafka failed'))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /** Forget what was written: the next pass (as lease holder) reads and writes everything once. */
  private reset(): void {
    this.written.clear();
    this.watermark = undefined;
  }

  /**
   * Take or renew the lease: `same` while this node has held it all along, `new` when it has just
   * taken it (at start, or from another node: everything is written once, the holder before may
   * have written anything), `lost` when another node holds it.
   */
  private async holdLease(): Promise<'same' | 'new' | 'lost'> {
    const held = await this.o.leases.acquire(OFFSET_MIRROR_LEASE);
    const same = held !== undefined && this.held?.epoch === held.epoch;
    if (!same) this.reset();
    this.held = held;
    this.renewedAt = this.clock();
    return same ? 'same' : held ? 'new' : 'lost';
  }

  private async pass(): Promise<void> {
    if ((await this.holdLease()) === 'lost') return;
    const startedAt = this.clock();
    const full = this.watermark === undefined || startedAt - this.fullScanAt >= FULL_SCAN_EVERY_MS;
    const since = full ? undefined : this.watermark! - OVERLAP_MS;
    // Each offset with the topic its name meant in the same snapshot: a topic deleted and created
    // again under the name has a new id, and the old topic's offsets are gone before it exists.
    const rows = await this.o.db
      .select({
        group: groupOffsets.groupName,
        topic: groupOffsets.topic,
        topicId: topics.id,
        partition: groupOffsets.partition,
        offset: groupOffsets.offset,
        committedAt: groupOffsets.committedAt,
      })
      .from(groupOffsets)
      .innerJoin(topics, and(eq(topics.name, groupOffsets.topic), eq(topics.state, 'active')))
      .where(
        since === undefined
          ? undefined
          : or(
              gte(groupOffsets.committedAt, since),
              // Refused groups are tried whole again each pass, however old their offsets.
              ...(this.refused.size > 0 ? [inArray(groupOffsets.groupName, [...this.refused])] : []),
            ),
      );
    let newest = this.watermark ?? Number.NEGATIVE_INFINITY;
    let lagging = false;
    const changed = new Map<string, Change[]>();
    for (const r of rows) {
      newest = Math.max(newest, r.committedAt);
      // This node's topic cache may not know a topic created (or re-created) on another node yet:
      // skip it now, and read everything next pass.
      if (this.o.topicId(r.topic) !== r.topicId) {
        lagging = true;
        continue;
      }
      const key = `${r.group}\0${r.topicId}\0${r.partition}`;
      if (this.written.get(key) === r.offset) continue;
      let list = changed.get(r.group);
      if (!list) changed.set(r.group, (list = []));
      list.push({ topicId: r.topicId, partition: r.partition, offset: r.offset, key });
    }
    for (const [group, offsets] of changed) {
      // Renewed as a holder does (every third of its time): a node that lost the lease while this
      // pass ran writes nothing more, so what it read earlier never overwrites what the new holder
      // wrote since. (Kafka's offset commit has no fencing of its own.)
      if (this.clock() - this.renewedAt >= this.o.leases.ttlMs / 3 && (await this.holdLease()) !== 'same') return;
      await this.write(group, offsets);
    }
    if (full) this.fullScanAt = startedAt;
    // Nothing read yet (no offsets): the next pass reads everything again, which costs nothing.
    this.watermark = lagging || newest === Number.NEGATIVE_INFINITY ? undefined : newest;
  }

  private async write(group: string, offsets: Change[]): Promise<void> {
    const kafkaGroup = `${this.o.groupPrefix}${group}`;
    try {
      await this.o.mirror(kafkaGroup, offsets);
      for (const x of offsets) this.written.set(x.key, x.offset);
      if (this.refused.delete(group))
        this.o.logger.info({ group, kafka_group: kafkaGroup }, 'group offsets mirrored to Kafka again');
    } catch (e) {
      if (!this.refused.has(group)) {
        this.refused.add(group);
        this.o.logger.warn(
          { err: e, group, kafka_group: kafkaGroup },
          'Kafka refused the mirrored offsets of this group (does a Kafka consumer group of that name have members?); retrying each interval',
        );
      }
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    if (this.held) await this.o.leases.release(OFFSET_MIRROR_LEASE).catch(() => undefined);
    this.held = undefined;
  }
}
